/** postgres.js + Drizzle. The one place connections are made for request handling. */
import { DrizzleQueryError, sql, type SQL } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
export type Db = PostgresJsDatabase<Schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Anything a query can run on: the pool or an open transaction. */
export type Queryable = Db | Tx;

/** Take a transaction-scoped advisory lock named `key` (held until the transaction ends): callers with the same key take turns. */
export async function advisoryXactLock(db: Queryable, key: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/**
 * Reads that must agree with each other (a buy, its packages, orders and steps) in one repeatable-read
 * snapshot; run separately on pooled connections they could straddle a worker's commit. Inside a
 * transaction already, in that one.
 */
export function inSnapshot<T>(db: Queryable, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return db instanceof PgTransaction ? fn(db) : db.transaction((tx) => fn(tx), { isolationLevel: 'repeatable read', accessMode: 'read only' });
}

/** A text[] of these values in raw SQL (drizzle sends a JS array as a row of parameters). */
export const textArray = (values: readonly string[]): SQL => sql`array[${sql.join(values.map((v) => sql`${v}`), sql`, `)}]::text[]`;

export interface Database {
  db: Db;
  sql: postgres.Sql;
  url: string;
  close(): Promise<void>;
}

type AnySql = postgres.Sql | postgres.TransactionSql;

/**
 * Drizzle sends its queries through postgres.js `unsafe()`, which skips
 * server-side prepared statements, so Postgres parses and plans every query
 * again (measured: ~0.85 ms vs ~0.5 ms for an indexed select, far more for the
 * create_media_buy statement). This makes them named prepared statements,
 * cached per connection by text, in transactions too. Not for use behind a
 * transaction-pooling PgBouncer.
 */
function preparing<T extends AnySql>(sql: T): T {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (query: string, args: unknown[] = [], options: Record<string, unknown> = {}) =>
          (target.unsafe as (q: string, a: unknown[], o: object) => unknown)(query, args, { ...options, prepare: true });
      }
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fnAt = args.findIndex((a) => typeof a === 'function');
          const fn = args[fnAt] as (tx: AnySql) => unknown;
          args[fnAt] = (tx: AnySql) => fn(preparing(tx));
          return (Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export interface ConnectOptions {
  max?: number;
  applicationName?: string;
  /**
   * Commit without waiting for the WAL flush (synchronous_commit = off). Only for
   * writes that a later synchronous commit makes durable anyway: job tasks, whose
   * completion Graphile Worker commits synchronously afterwards (flushing all WAL
   * before it); if Postgres crashes first, the job runs again, and tasks are idempotent.
   */
  asyncCommit?: boolean;
}

/**
 * libpq-style URLs name a Unix-socket directory as `?host=/dir` (node-postgres, and so Graphile
 * Worker, read it so); postgres.js takes it only as its `host` option. Over a Unix socket each
 * round trip costs the client and the server less than over TCP loopback.
 */
export function postgresTarget(url: string): { url: string; host?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  const host = u.searchParams.get('host');
  if (!host?.startsWith('/')) return { url };
  u.searchParams.delete('host');
  return { url: u.toString(), host };
}

/**
 * How long postgres.js waits before reconnecting, by the number of failed attempts in a row (shared by the pool).
 * Its default grows to 20 s, so after a Postgres restart queries waited up to that long on a database that was
 * back within two (measured: 9-17 s). Capped at 2 s, with jitter so that many processes do not reconnect in step.
 */
export const reconnectDelaySeconds = (failures: number): number => Math.min(0.05 * 2 ** failures, 2) * (0.5 + Math.random() / 2);

export function connect(url: string, opts: ConnectOptions = {}): Database {
  const target = postgresTarget(url);
  const sql = postgres(target.url, {
    ...(target.host && { host: target.host }),
    max: opts.max ?? 10,
    onnotice: () => {},
    idle_timeout: 30,
    backoff: reconnectDelaySeconds,
    connection: { application_name: opts.applicationName ?? 'sales-agent', ...(opts.asyncCommit && { synchronous_commit: 'off' }) },
  });
  const db = drizzle(preparing(sql), { schema });
  return { db, sql, url, close: () => sql.end({ timeout: 5 }) };
}

/** The code of the driver's error (SQLSTATE, or postgres.js's and the socket's own), which Drizzle wraps as the cause. */
function driverCode(err: unknown): string | undefined {
  const driver = err instanceof DrizzleQueryError ? err.cause : err;
  const code = (driver as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A query failed because its connection to Postgres broke, or no connection could be made: SQLSTATE class 08,
 * 57P01-57P03 (shut down, crashed, starting up), postgres.js's own connection codes, or a socket error. Read from the
 * driver's error (which Drizzle wraps as the cause), never from message text: an adapter's or a webhook's refused
 * connection is not the database's. One such error can outlive the outage: postgres.js 3.4.9 keeps the error of a
 * connection that broke mid-query and fails the first query of its reconnection with it (porsager/postgres#1223
 * reports the same for a break during start-up).
 */
const CONNECTION_CODE = /^(08[0-9A-Z]{3}|57P0[123]|CONNECTION_(CLOSED|ENDED|DESTROYED)|ECONNREFUSED|ECONNRESET|EPIPE)$/;
export function brokenDatabaseConnection(err: unknown): boolean {
  const code = driverCode(err);
  return code !== undefined && CONNECTION_CODE.test(code);
}

/**
 * The same, for a query made through Drizzle only: what an adapter's failure must be to be taken for our database's
 * (the mock keeps its orders in it) rather than the ad server's. A raw socket error from an adapter's own client is
 * the ad server's.
 */
export const brokenDatabaseQuery = (err: unknown): boolean => err instanceof DrizzleQueryError && brokenDatabaseConnection(err);

/**
 * Postgres refused a value a query carried (not the query, not the connection): a string too long, a number
 * out of range, a date it cannot read or hold, text it cannot store, a value too large for an index. Sending
 * the same value again fails the same way.
 */
const REFUSED_VALUE = new Set(['22001', '22003', '22007', '22008', '22021', '22025', '22P02', '22P05', '54000']);
export function refusedValue(err: unknown): boolean {
  const code = driverCode(err);
  return code !== undefined && REFUSED_VALUE.has(code);
}

/**
 * Run `fn`, and run it again while it fails on a broken database connection, up to three more times. Because of
 * the postgres.js quirk above, each connection that broke mid-query fails one more query after the database is back,
 * so a rerun can meet another such connection: hence more than one. `ready` (optional) is awaited before each rerun,
 * and false gives up with the error; `onRerun` is told of each.
 */
const RERUNS = 3;
export async function rerunOnBrokenConnection<T>(
  fn: (rerun: number) => Promise<T>,
  opts: { ready?: () => Promise<boolean>; onRerun?: (err: unknown, rerun: number) => void } = {},
): Promise<T> {
  for (let rerun = 0; ; rerun++) {
    try {
      return await fn(rerun);
    } catch (err) {
      if (rerun >= RERUNS || !brokenDatabaseConnection(err) || (opts.ready && !(await opts.ready()))) throw err;
      opts.onRerun?.(err, rerun + 1);
    }
  }
}
