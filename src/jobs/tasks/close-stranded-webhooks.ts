/**
 * close_stranded_webhooks (crontab, hourly): a webhook delivery still `pending`
 * whose job has stopped (its attempts ran out on an error the task could not
 * record, such as our own database failing during the last one, or the job was
 * dropped) would stay pending for ever, holding the buyer's sealed credentials.
 * Such deliveries are marked failed and their credentials dropped, in batches;
 * a delivery whose job is waiting for a retry or running is left to it. Likewise a
 * sync_accounts task (AdCP 3.1 notification_configs) whose prove_notification_configs
 * job has stopped: it ends failed, with its webhook, and its kept credentials go.
 */
import { strandedSyncTasks } from '../../db/queries/workflow.js';
import { closeStrandedDeliveries } from '../../db/queries/webhooks.js';
import { inBatches } from '../batches.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';
import { failSyncTask } from './prove-notification-configs.js';

export async function closeStrandedWebhooks(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<{ closed: number; tasksFailed: number }> {
  let tasksFailed = 0;
  for (const task of await strandedSyncTasks(deps.db, 1000)) {
    if (await failSyncTask(deps.db, { tenantId: task.tenantId, taskId: task.id })) tasksFailed++;
  }
  if (tasksFailed) deps.logger.warn('sync_accounts tasks whose prove_notification_configs job stopped without finishing them are failed', { count: tasksFailed });
  const closed = await inBatches(async (limit) => {
    const rows = await closeStrandedDeliveries(deps.db, limit);
    if (rows.length) {
      deps.logger.warn('webhook deliveries whose job stopped without sending them are marked failed', { count: rows.length, deliveries: rows.slice(0, 20).map((r) => r.id) });
    }
    return rows.length;
  }, { batch: 1000, maxBatches: 20 });
  return { closed, tasksFailed };
}
