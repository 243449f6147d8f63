/**
 * The embedded Postgres restarted on its data folder. A process that shared it (a `worker` beside `serve`) keeps its
 * URL: a restart listens on the same port, so that process reconnects. After a crash (kill -9 of the agent and its database, a power cut): the data folder keeps a
 * postmaster.pid saying "ready", whose process id may since have gone to another process. Start-up must not take
 * that for a running server to share, and must not leave it to Postgres, which refuses to start while the id names
 * any live process of its own user: it removes a lock file whose process is not this folder's Postgres.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { createLogger } from '../../src/logger.js';
import { waitFor } from '../helpers/app.js';

let pg: EmbeddedDatabase | undefined;
const dirs: string[] = [];
const sleepers: ChildProcess[] = [];
afterAll(async () => {
  await pg?.stop();
  for (const s of sleepers) s.kill('SIGKILL');
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

/** The user Postgres runs as ("postgres" when the tests run as root): its processes are the ones it cannot take for gone. */
function postgresUser(): { uid?: number; gid?: number } {
  if (os.userInfo().uid !== 0) return {};
  return { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) };
}

function sleeperOfPostgresUser(): ChildProcess {
  const child = spawn('sleep', ['600'], { stdio: 'ignore', ...postgresUser() });
  sleepers.push(child);
  return child;
}

/** A process of that user that has ended but is never reaped: its parent runs on without waiting for it. */
async function zombieOfPostgresUser(): Promise<number> {
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'], ...postgresUser() });
  sleepers.push(parent);
  const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  await waitFor(async () => (await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).includes(') Z'), 5000);
  return pid;
}

async function answers(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
  } finally {
    await sql.end();
  }
}

/** The data folder of a server run once and stopped, its postmaster.pid left behind as a crash leaves it, naming `pid`. */
async function lockFileNaming(dir: string, pid: () => Promise<number | string>): Promise<void> {
  const server = await startEmbeddedPostgres(dir, createLogger('silent'));
  const pidFile = path.join(dir, 'pg', 'postmaster.pid');
  const lines = (await fs.readFile(pidFile, 'utf8')).split('\n');
  await server.stop();
  lines[0] = String(await pid());
  await fs.writeFile(pidFile, lines.join('\n'));
}

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
    // As the crash left it, its process id now another's (pid 1: alive, and never a postmaster of ours).
    await lockFileNaming(dir, async () => 1);
    pg = await startEmbeddedPostgres(dir, createLogger('silent'));
    expect(pg.owned).toBe(true);
    await answers(pg.url);
  }, 120_000);

  it('removes a postmaster.pid whose process id has gone to another live process of its user (not a postgres), then starts', async () => {
    const dir = await dataFolder();
    // After a reboot: the lock file says "ready", and its id is now a process Postgres would take for a live owner.
    const sleeper = sleeperOfPostgresUser();
    await lockFileNaming(dir, async () => sleeper.pid!);
    pg = await startEmbeddedPostgres(dir, createLogger('silent'));
    expect(pg.owned).toBe(true);
    await answers(pg.url);
    expect(sleeper.exitCode).toBeNull(); // left alone
    expect(sleeper.signalCode).toBeNull();
    await pg.stop();
    pg = undefined;
  }, 120_000);

  it.runIf(process.platform === 'linux')('removes a postmaster.pid whose process died unreaped (a zombie, which Postgres takes for alive), then starts', async () => {
    const dir = await dataFolder();
    await lockFileNaming(dir, zombieOfPostgresUser);
    pg = await startEmbeddedPostgres(dir, createLogger('silent'));
    expect(pg.owned).toBe(true);
    await answers(pg.url);
    await pg.stop();
    pg = undefined;
  }, 120_000);

  it('starts its own server when the pid file names the live Postgres of another data folder', async () => {
    const [mine, theirs] = [await dataFolder(), await dataFolder()];
    const logger = createLogger('silent');
    const other = await startEmbeddedPostgres(theirs, logger);
    try {
      await lockFileNaming(mine, async () => (await fs.readFile(path.join(theirs, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]!);
      pg = await startEmbeddedPostgres(mine, logger);
      expect(pg.owned).toBe(true);
      expect(new URL(pg.url).port).not.toBe(new URL(other.url).port);
      await answers(pg.url);
      await answers(other.url); // the other folder's server runs on
      await pg.stop();
      pg = undefined;
    } finally {
      await other.stop();
    }
  }, 120_000);
});
