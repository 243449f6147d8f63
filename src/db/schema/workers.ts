/**
 * Liveness of worker processes. Graphile Worker marks the jobs a worker pool
 * runs with the pool's id (jobs.locked_by) and only frees them by itself after
 * 4 hours; each pool beats here, so a live one can free the jobs of a pool that
 * stopped beating (killed, crashed, cut off) at once. See src/jobs/worker.ts.
 */
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const workerHeartbeats = pgTable('worker_heartbeats', {
  /** Graphile Worker's pool id: what it writes in jobs.locked_by. */
  poolId: text('pool_id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
});
