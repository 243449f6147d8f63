/**
 * Vacuum Graphile Worker's job table when it has churned.
 *
 * Every job is inserted, updated when a worker takes it and deleted when it
 * ends: three row versions, two of them dead. Autovacuum looks at a database
 * at most once a minute (and may be off), so under load the dead rows pile
 * up, and Graphile Worker's add_jobs (which looks for a locked job with the
 * same key, by a sequential scan while the table looks small) and its job
 * fetch read through them. Vacuuming past 1,000 dead rows took Postgres CPU per
 * buy from 4.1-4.3 to 3.7-3.9 ms in bench/create-media-buy.ts (4,000 calls, 32
 * clients, two rounds alternating with the code before it; calls/s +5 %, within
 * the noise). So each worker process checks the table's dead-row count every
 * second and vacuums it once that many more rows died than the last vacuum
 * left behind (rows an open snapshot still sees cannot go; counting from what
 * was left keeps the worker from vacuuming every second in vain).
 *
 * VACUUM takes no lock that inserts, updates or deletes wait for, except to cut
 * empty pages off the end of the table, which it could do almost every time
 * here (the queue empties often): a brief exclusive lock, which also cancels
 * queries on the table at replicas. So TRUNCATE false: later jobs reuse the
 * pages, and add_jobs is planned for each call, so a table left large after a
 * burst is read through its key index. SKIP_LOCKED makes a second worker (or
 * autovacuum) already at it a no-op instead of a wait.
 */
import type { Sql } from 'postgres';
import type { Logger } from '../logger.js';
import { every, type Repeating } from './every.js';

export const QUEUE_TABLE = 'graphile_worker._private_jobs';

export interface QueueVacuumOptions {
  /** How often to look at the dead-row count. */
  intervalMs?: number;
  /** Vacuum once this many more rows died than the last vacuum left. */
  deadRows?: number;
}

export const QUEUE_VACUUM_INTERVAL_MS = 1_000;
export const QUEUE_VACUUM_DEAD_ROWS = 1_000;

async function deadRowsOf(sql: Sql): Promise<number | null> {
  // The function behind pg_stat_user_tables.n_dead_tup: the view costs a millisecond to plan.
  const [row] = await sql<{ dead: string | null }[]>`select pg_stat_get_dead_tuples(to_regclass(${QUEUE_TABLE}))::text as dead`;
  return row?.dead == null ? null : Number(row.dead);
}

/** A check that vacuums the job table once `deadRows` more rows died than its last vacuum left; resolves to whether it vacuumed. */
export function queueVacuumCheck(sql: Sql, deadRows: number): () => Promise<boolean> {
  let left = 0;
  return async () => {
    const dead = await deadRowsOf(sql);
    if (dead == null) return false;
    left = Math.min(left, dead); // someone else (autovacuum, another worker) vacuumed since
    if (dead - left < deadRows) return false;
    await sql.unsafe(`vacuum (skip_locked, truncate false) ${QUEUE_TABLE}`);
    left = (await deadRowsOf(sql)) ?? 0;
    return true;
  };
}

/** Checks every intervalMs until stopped; stop() waits for a vacuum under way. */
export function startQueueVacuum(sql: Sql, logger: Logger, opts: QueueVacuumOptions = {}): Repeating {
  const check = queueVacuumCheck(sql, opts.deadRows ?? QUEUE_VACUUM_DEAD_ROWS);
  let stopping = false;
  let failing = false;
  const step = () =>
    check().then(
      (did) => {
        if (failing) logger.info('job queue vacuum works again', { table: QUEUE_TABLE });
        failing = false;
        if (did) logger.debug('vacuumed the job queue', { table: QUEUE_TABLE });
      },
      (err: unknown) => {
        // Once per outage (the database away, say), and not while stopping: the heartbeat reports outages too.
        if (failing || stopping) return logger.debug('could not vacuum the job queue', { table: QUEUE_TABLE, error: err });
        failing = true;
        logger.warn('could not vacuum the job queue', { table: QUEUE_TABLE, error: err });
      },
    );
  const loop = every(opts.intervalMs ?? QUEUE_VACUUM_INTERVAL_MS, step);
  return {
    runNow: loop.runNow,
    stop: () => {
      stopping = true;
      return loop.stop();
    },
  };
}
