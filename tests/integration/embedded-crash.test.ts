/**
 * The embedded Postgres after a crash of the process that ran it, and what the CLI says when it will not come up.
 * `serve` killed with kill -9 leaves its Postgres running (a separate process): the next process on the data folder
 * adopts it and stops it on exit, where it used to share it with no one left to stop it. A process sharing the
 * server of a live `serve` (a `worker`) must still never stop it. Failures in embedded mode name the data folder,
 * not DATABASE_URL, which is not set. Needs `npm run build`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { running } from '../../src/db/postmaster.js';
import { createLogger } from '../../src/logger.js';
import { waitFor } from '../helpers/app.js';
import { killAll, spawnCli, waitOn, type Proc } from '../helpers/processes.js';

const run = promisify(execFile);
const cli = path.resolve(import.meta.dirname, '../../dist/cli.js');
const dirs: string[] = [];
const postmasters = new Set<number>();
afterAll(async () => {
  await killAll();
  for (const pid of postmasters) if (running(pid)) process.kill(pid, 'SIGINT'); // leaked by a failing test
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function dataFolder(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sa-embedded-crash-'));
  await fs.chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

async function serve(name: string, dir: string): Promise<Proc> {
  const proc = spawnCli(name, ['serve', '--port', '0'], { SALES_AGENT_DATA_DIR: dir, LOG_LEVEL: 'info' });
  await waitOn(proc, async () => /serving MCP at/.test(proc.stdout()), 60_000);
  return proc;
}

async function postmasterOf(dir: string): Promise<number> {
  const pid = Number((await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  postmasters.add(pid);
  return pid;
}

/** The server has stopped: its process gone and its lock file removed. */
const stopped = (dir: string, pid: number) => waitFor(async () => !running(pid) && !existsSync(path.join(dir, 'pg', 'postmaster.pid')), 15_000);

describe('serve killed with kill -9', () => {
  it('leaves its Postgres running; the next serve adopts it and stops it on SIGINT', async () => {
    const dir = await dataFolder();
    const first = await serve('serve-1', dir);
    const pid = await postmasterOf(dir);
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await new Promise((r) => setTimeout(r, 500));
    expect(running(pid)).toBe(true); // orphaned, as a crash leaves it

    const second = await serve('serve-2', dir);
    expect(await postmasterOf(dir)).toBe(pid); // the same server, not a second one
    expect(second.stderr()).toContain('adopting the embedded Postgres left running on this data folder');
    expect(await second.stop('SIGINT', 30_000)).toEqual({ code: 0, signal: null });
    await stopped(dir, pid);
  }, 120_000);

  it('a worker sharing the server of a live serve neither adopts it nor stops it; after serve is killed, the next serve adopts it and stops it on SIGTERM', async () => {
    const dir = await dataFolder();
    const first = await serve('serve-1', dir);
    const pid = await postmasterOf(dir);
    const worker = spawnCli('worker', ['worker'], { SALES_AGENT_DATA_DIR: dir, LOG_LEVEL: 'info' });
    await waitOn(worker, async () => worker.stderr().includes('"worker started"'), 30_000);
    expect(worker.stderr()).toContain('using the embedded Postgres already running on this data folder');

    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const second = await serve('serve-2', dir); // the worker still runs, but it never owned the server
    expect(second.stderr()).toContain('adopting the embedded Postgres');
    expect(await postmasterOf(dir)).toBe(pid);

    expect(await worker.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    expect(running(pid)).toBe(true); // serve-2 still needs it
    expect(await second.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    await stopped(dir, pid);
  }, 150_000);
});

describe('a live serve holding no owner lock', () => {
  it('keeps its server: a process finding the lock free while serve runs shares the server and never stops it', async () => {
    const dir = await dataFolder();
    const first = await serve('serve-1', dir);
    const pid = await postmasterOf(dir);
    // The lock free while serve runs, as just after its server came up (before serve takes it), or once the
    // connection holding it is lost: here its backend is terminated.
    const lines = (await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n');
    const { password } = JSON.parse(await fs.readFile(path.join(dir, 'embedded-postgres.json'), 'utf8')) as { password: string };
    const admin = postgres(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${lines[3]}/postgres`, { max: 1, onnotice: () => {} });
    try {
      const ended = await admin`select pg_terminate_backend(pid) as ok from pg_locks where locktype = 'advisory' and objid = 727001043 and granted`;
      expect(ended).toEqual([{ ok: true }]);
      await waitFor(async () => (await admin`select 1 from pg_locks where locktype = 'advisory' and objid = 727001043`).length === 0, 5000);
    } finally {
      await admin.end();
    }

    const second = await startEmbeddedPostgres(dir, createLogger('silent'));
    expect(second.owned).toBe(false); // shared, not adopted: serve still runs it
    await second.stop();
    expect(running(pid)).toBe(true);
    expect(await first.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    await stopped(dir, pid);
  }, 120_000);
});

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
