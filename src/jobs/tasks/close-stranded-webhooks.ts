/**
 * close_stranded_webhooks (crontab, hourly): a webhook delivery still `pending`
 * whose job has stopped (its attempts ran out on an error the task could not
 * record, such as our own database failing during the last one, or the job was
 * dropped) would stay pending for ever, holding the buyer's sealed credentials.
 * Such deliveries are marked failed and their credentials dropped, in batches;
 * a delivery whose job is waiting for a retry or running is left to it.
 */
import { closeStrandedDeliveries } from '../../db/queries/webhooks.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const BATCH = 1000;
/** Bounds one run; anything left is picked up an hour later. */
const MAX_BATCHES = 20;

export async function closeStrandedWebhooks(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<{ closed: number }> {
  let closed = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const rows = await closeStrandedDeliveries(deps.db, BATCH);
    closed += rows.length;
    if (rows.length) {
      deps.logger.warn('webhook deliveries whose job stopped without sending them are marked failed', { count: rows.length, deliveries: rows.slice(0, 20).map((r) => r.id) });
    }
    if (rows.length < BATCH) break;
  }
  return { closed };
}
