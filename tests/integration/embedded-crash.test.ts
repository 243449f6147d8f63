/**
 * The embedded Postgres after a crash of the process that ran it, and what the CLI says when it will not come up:
 * in embedded mode a failure names the data folder, not DATABASE_URL, which is not set. Needs `npm run build`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { createLogger } from '../../src/logger.js';

const run = promisify(execFile);
const cli = path.resolve(import.meta.dirname, '../../dist/cli.js');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function dataFolder(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sa-embedded-crash-'));
  await fs.chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

describe('the CLI on an embedded database that will not come up', () => {
  const migrate = (dir: string) =>
    run('node', [cli, 'migrate'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, SALES_AGENT_DATA_DIR: dir, LOG_LEVEL: 'warn' }, timeout: 60_000 }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
  const saysPlainly = (err: { code?: number; stderr?: string } | undefined, dir: string, said: RegExp) => {
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(said);
    expect(err?.stderr).toContain(`data folder ${dir}`);
    expect(err?.stderr).not.toContain('DATABASE_URL');
    expect(err?.stderr).not.toContain('    at ');
  };

  it('names the data folder, in one line: a password that is not the database’s, files Postgres will not run, a server that does not answer', async () => {
    const dir = await dataFolder();
    const db = await startEmbeddedPostgres(dir, createLogger('silent'));
    const pidFile = path.join(dir, 'pg', 'postmaster.pid');
    const lockFile = await fs.readFile(pidFile, 'utf8');
    try {
      // The lock file of a live server of this folder, its port rewritten to one where nothing listens.
      const lines = lockFile.split('\n');
      lines[3] = '1';
      await fs.writeFile(pidFile, lines.join('\n'));
      saysPlainly(await migrate(dir), dir, /ECONNREFUSED.*\(ECONNREFUSED\)\. Check the embedded Postgres of the data folder/);
    } finally {
      await fs.writeFile(pidFile, lockFile);
      await db.stop();
    }

    const passwordFile = path.join(dir, 'embedded-postgres.json');
    const password = await fs.readFile(passwordFile, 'utf8');
    await fs.writeFile(passwordFile, JSON.stringify({ password: 'not-the-one' }));
    saysPlainly(await migrate(dir), dir, /password authentication failed.*\(28P01\)/);
    expect(existsSync(pidFile)).toBe(false); // the server it started for nothing is stopped
    await fs.writeFile(passwordFile, password);

    await fs.writeFile(path.join(dir, 'pg', 'PG_VERSION'), '9.6\n');
    saysPlainly(await migrate(dir), dir, /the embedded Postgres in \S+ did not start: FATAL: +database files are incompatible with server/);
  }, 120_000);
});
