/**
 * Vacuum Graphile Worker's job table when it has churned.
 *
 * Every job is inserted, updated when a worker takes it and deleted when it
 * ends: three row versions, two of them dead. Autovacuum looks at a database
 * at most once a minute (and may be off), so under load the dead rows pile
 * up, and Graphile Worker's add_jobs (which looks for a locked job with the
 * same key, by a sequential scan while the table looks small) and its job
 * fetch read through them. Vacuuming past 1,000 dead rows took Postgres CPU per
 * buy from 4.2-4.3 to 3.4-3.5 ms in bench/create-media-buy.ts (4,000 calls, 32
 * clients; calls/s +15 %). So each worker process checks
 * the table's dead-row count (kept by Postgres's statistics)
 * every second and vacuums it past a threshold. VACUUM neither blocks nor waits
 * for inserts, updates and deletes; SKIP_LOCKED makes a second worker (or
 * autovacuum) already at it a no-op instead of a wait.
 */
import type { Sql } from 'postgres';
import type { Logger } from '../logger.js';

export const QUEUE_TABLE = 'graphile_worker._private_jobs';

export interface QueueVacuumOptions {
  /** How often to look at the dead-row count. */
  intervalMs?: number;
  /** Vacuum once the table holds at least this many dead rows. */
  deadRows?: number;
}

export const QUEUE_VACUUM_INTERVAL_MS = 1_000;
export const QUEUE_VACUUM_DEAD_ROWS = 1_000;

/** Vacuums the job table if it holds at least `deadRows` dead rows; returns whether it did. */
export async function vacuumQueueIfChurned(sql: Sql, deadRows: number): Promise<boolean> {
  // The function behind pg_stat_user_tables.n_dead_tup: the view costs a millisecond to plan.
  const [row] = await sql<{ dead: string | null }[]>`select pg_stat_get_dead_tuples(to_regclass(${QUEUE_TABLE}))::text as dead`;
  if (!row || Number(row.dead ?? 0) < deadRows) return false;
  await sql.unsafe(`vacuum (skip_locked) ${QUEUE_TABLE}`);
  return true;
}

/** Checks every intervalMs until stopped; stop() waits for a vacuum under way. */
export function startQueueVacuum(sql: Sql, logger: Logger, opts: QueueVacuumOptions = {}): { stop(): Promise<void> } {
  const intervalMs = opts.intervalMs ?? QUEUE_VACUUM_INTERVAL_MS;
  const deadRows = opts.deadRows ?? QUEUE_VACUUM_DEAD_ROWS;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = vacuumQueueIfChurned(sql, deadRows)
      .then((did) => void (did && logger.debug('vacuumed the job queue', { table: QUEUE_TABLE })))
      .catch((err: unknown) => logger.warn('could not vacuum the job queue', { table: QUEUE_TABLE, error: err }))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, intervalMs).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
