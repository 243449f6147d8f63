/**
 * add_job inside the caller's transaction: the job exists if and only if the
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
  await db.execute(sql`select graphile_worker.add_job(
    identifier => ${name},
    payload => ${JSON.stringify(checked)}::json,
    run_at => ${opts.runAt ?? null}::timestamptz,
    max_attempts => ${opts.maxAttempts ?? JOBS[name].maxAttempts}::int,
    job_key => ${opts.jobKey ?? null}::text
  )`);
}
