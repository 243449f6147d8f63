/**
 * sync_media_buy_update: carry a buyer's update_media_buy (pause, resume, dates,
 * budgets, cancel) to every ad server that holds an order for the buy. It sends
 * the buy as it stands now, so updates converge even if they run out of order.
 * Waits (by retrying) while the buy's first booking is still under way.
 */
import { errorMessage } from '../../domain/errors.js';
import { loadFulfilmentView } from '../../db/queries/fulfilment.js';
import { getWorkflowStep, updateWorkflowStep } from '../../db/queries/workflow.js';
import { publishChange } from '../../db/notify.js';
import { AdapterError } from '../../adapters/port.js';
import { SyncMediaBuyUpdatePayload } from '../catalog.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';
import { queueTaskWebhook } from '../../services/webhooks.js';
import type { PushConfig } from '../../domain/webhooks.js';


export async function syncMediaBuyUpdate(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = SyncMediaBuyUpdatePayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('sync_media_buy_update: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId, step_id: stepId } = parsed.data;
  const log = deps.logger.child({ task: 'sync_media_buy_update', tenant_id: tenantId, media_buy_id: mediaBuyId, step_id: stepId });
  const step = await getWorkflowStep(deps.db, { tenantId, id: stepId });
  const v = await loadFulfilmentView(deps.db, { tenantId, mediaBuyId });
  if (!step || !v || step.status === 'completed' || step.status === 'failed') return;
  if (v.step && !['completed', 'failed', 'rejected', 'canceled'].includes(v.step.status) && v.status !== 'canceled') {
    // The order is still being booked; that booking will carry the current state, but we cannot know it has read it.
    throw new Error('the initial booking is still in progress');
  }
  const adapters = new Map(v.adapters.map((a) => [a.id, a]));
  const booked = v.orders.filter((o) => o.state === 'booked' && o.external_order_id);
  const status = v.status === 'canceled' ? 'canceled' : v.status === 'paused' ? 'paused' : 'active';
  const results = await Promise.allSettled(
    booked.map(async (o) => {
      const a = adapters.get(o.adapter_config_id);
      if (!a) throw new AdapterError(`adapter config ${o.adapter_config_id} no longer exists`, true);
      await deps.adapters({ id: a.id, adapterType: a.adapter_type, settings: a.settings }).updateOrder(
        {
          idempotencyKey: stepId,
          externalOrderId: o.external_order_id!,
          mediaBuyId,
          status,
          startTime: new Date(v.start_time),
          endTime: new Date(v.end_time),
          packages: v.packages
            .filter((p) => p.adapter_config_id === o.adapter_config_id)
            .map((p) => ({ packageId: p.id, productId: p.product_id, budget: p.budget, bidPrice: p.bid_price, rate: p.rate, pricingModel: p.pricing_model, impressions: p.impressions, targeting: p.targeting, formatIds: p.format_ids, status: p.status })),
        },
        job.signal,
      );
    }),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  const fatal = failed.find((f) => (f.reason instanceof AdapterError && f.reason.permanent) || job.attempts >= job.maxAttempts);
  if (failed.length && !fatal) {
    log.warn('ad server update failed; will retry', { errors: failed.map((f) => errorMessage(f.reason)) });
    throw new Error(`transient adapter failure: ${failed.map((f) => errorMessage(f.reason)).join('; ')}`);
  }
  await deps.db.transaction(async (tx) => {
    await updateWorkflowStep(tx, { tenantId, id: stepId }, fatal ? { status: 'failed', error: { code: 'ADAPTER_REJECTED', message: errorMessage(fatal.reason) } } : { status: 'completed', response: { media_buy_id: mediaBuyId, status: v.status } });
    await publishChange(tx, { tenant_id: tenantId, principal_id: v.principal_id, media_buy_id: mediaBuyId, task_id: stepId, status: v.status, summary: fatal ? `update failed at the ad server: ${errorMessage(fatal.reason)}` : 'update applied at the ad server' });
    await queueTaskWebhook(tx, {
      tenantId,
      principalId: v.principal_id,
      taskId: stepId,
      taskType: 'update_media_buy',
      mediaBuyId,
      status: fatal ? 'failed' : 'completed',
      result: fatal ? { errors: [{ code: 'ADAPTER_REJECTED', message: errorMessage(fatal.reason) }] } : { media_buy_id: mediaBuyId, status: v.status },
      push: step.pushNotificationConfig as PushConfig | null,
      allowPrivateNetwork: v.allow_private_webhooks,
    });
  });
}
