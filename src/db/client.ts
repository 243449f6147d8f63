/** postgres.js + Drizzle. The one place connections are made for request handling. */
import { sql, type SQL } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
export type Db = PostgresJsDatabase<Schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Anything a query can run on: the pool or an open transaction. */
export type Queryable = Db | Tx;

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
