/**
 * The embedded Postgres after a crash (kill -9 of the agent and its database, a power cut): the data folder keeps a
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

let dir: string | undefined;
let pg: EmbeddedDatabase | undefined;
afterAll(async () => {
  await pg?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('embedded Postgres with a stale postmaster.pid', () => {
  it('starts the server when the pid file names a live process that is not it', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sa-embedded-stale-'));
    await fs.chmod(dir, 0o755);
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
