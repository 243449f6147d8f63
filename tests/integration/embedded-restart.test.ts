/**
 * The embedded Postgres restarted on its data folder. A process that shared it (a `worker` beside `serve`) keeps its
 * URL: a restart listens on the same port, so that process reconnects. After a crash (kill -9 of the agent and its database, a power cut): the data folder keeps a
 * postmaster.pid saying "ready", whose process id may since have gone to another process. Start-up must not take
 * that for a running server to share; it starts Postgres, which judges the lock file itself.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { createLogger } from '../../src/logger.js';

let pg: EmbeddedDatabase | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await pg?.stop();
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function dataFolder(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sa-embedded-restart-'));
  await fs.chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

describe('embedded Postgres restarted', () => {
  it('listens on the port it had', async () => {
    const dir = await dataFolder();
    const logger = createLogger('silent');
    pg = await startEmbeddedPostgres(dir, logger);
    const before = new URL(pg.url).port;
    await pg.stop();
    pg = await startEmbeddedPostgres(dir, logger);
    expect(new URL(pg.url).port).toBe(before);
    await pg.stop();
    pg = undefined;
  }, 120_000);

  it('starts the server when the pid file names a live process that is not it', async () => {
    const dir = await dataFolder();
    const logger = createLogger('silent');
    pg = await startEmbeddedPostgres(dir, logger);
    const pidFile = path.join(dir, 'pg', 'postmaster.pid');
    const lines = (await fs.readFile(pidFile, 'utf8')).split('\n');
    await pg.stop();
    // As the crash left it, its process id now another's (pid 1: alive, and never a postmaster of ours).
    lines[0] = '1';
    await fs.writeFile(pidFile, lines.join('\n'));
    pg = await startEmbeddedPostgres(dir, logger);
    expect(pg.owned).toBe(true);
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
    } finally {
      await sql.end();
    }
  }, 120_000);
});
