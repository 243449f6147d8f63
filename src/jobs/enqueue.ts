/**
 * A job queued inside the caller's transaction (graphile_worker.add_jobs): the job exists if and only if the
 * transaction that created its subject commits.
 */
import type { Queryable } from '../db/client.js';
import { JOBS, type JobName, type JobPayload } from './catalog.js';
import { addJobs } from './fan-out.js';

export async function enqueueJob<N extends JobName>(
  db: Queryable,
  name: N,
  payload: JobPayload<N>,
  opts: { jobKey?: string; runAt?: Date; maxAttempts?: number } = {},
): Promise<void> {
  await addJobs(db, [
    {
      identifier: name,
      payload: JOBS[name].payload.parse(payload),
      key: opts.jobKey ?? null,
      max_attempts: opts.maxAttempts ?? JOBS[name].maxAttempts,
      ...(opts.runAt && { run_at: opts.runAt.toISOString() }),
    },
  ]);
}
