/**
 * prune_idempotency_records (crontab, hourly): delete idempotency records past
 * their replay window (with an hour's margin), in batches. An expired record
 * replays nothing (its key may be used again), so this changes no answer; it
 * keeps the table at about one window of keyed writes instead of every one
 * ever made.
 */
import { IDEMPOTENCY_REPLAY_TTL_SECONDS, pruneIdempotencyRecords } from '../../db/queries/idempotency.js';
import { inBatches } from '../batches.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const PRUNE_AFTER_SECONDS = IDEMPOTENCY_REPLAY_TTL_SECONDS + 3600;

export async function pruneIdempotency(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<{ deleted: number }> {
  const deleted = await inBatches((limit) => pruneIdempotencyRecords(deps.db, { olderThanSeconds: PRUNE_AFTER_SECONDS, limit }), { batch: 5000, maxBatches: 40 });
  if (deleted) deps.logger.info('prune_idempotency_records: expired idempotency records deleted', { deleted });
  return { deleted };
}
