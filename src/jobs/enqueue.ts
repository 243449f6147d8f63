/**
 * A job queued inside the caller's transaction (graphile_worker.add_jobs): the job exists if and only if the
 * transaction that created its subject commits.
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.js';
import { JOBS, type JobName, type JobPayload } from './catalog.js';

export async function enqueueJob<N extends JobName>(
  db: Queryable,
  name: N,
  payload: JobPayload<N>,
  opts: { jobKey?: string; runAt?: Date; maxAttempts?: number } = {},
): Promise<void> {
  const checked = JOBS[name].payload.parse(payload);
  await db.execute(sql`select count(*) from graphile_worker.add_jobs(array[row(
    ${name}::text, ${JSON.stringify(checked)}::json, null, ${opts.runAt?.toISOString() ?? null}::timestamptz,
    ${opts.maxAttempts ?? JOBS[name].maxAttempts}::smallint, ${opts.jobKey ?? null}::text, null, null)::graphile_worker.job_spec])`);
}
