/**
 * close_stranded_webhooks (crontab, hourly): a webhook delivery still `pending`
 * whose job has stopped (its attempts ran out on an error the task could not
 * record, such as our own database failing during the last one, or the job was
 * dropped) would stay pending for ever, holding the buyer's sealed credentials.
 * Such deliveries are marked failed and their credentials dropped, in batches;
 * a delivery whose job is waiting for a retry or running is left to it.
 */
import { closeStrandedDeliveries } from '../../db/queries/webhooks.js';
import { inBatches } from '../batches.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

export async function closeStrandedWebhooks(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<{ closed: number }> {
  const closed = await inBatches(async (limit) => {
    const rows = await closeStrandedDeliveries(deps.db, limit);
    if (rows.length) {
      deps.logger.warn('webhook deliveries whose job stopped without sending them are marked failed', { count: rows.length, deliveries: rows.slice(0, 20).map((r) => r.id) });
    }
    return rows.length;
  }, { batch: 1000, maxBatches: 20 });
  return { closed };
}
