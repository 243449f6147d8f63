/**
 * fulfil_media_buy: the one entry point that books a media buy at its ad
 * servers, for the auto path and after a human approval alike. One read, the
 * adapter calls (parts on different ad servers in parallel), one write.
 * At-least-once: each adapter call carries an idempotency key made of our ids,
 * so a retry (or a crash between the adapter's answer and our commit) never
 * books twice. Throw to retry; return to finish. Permanent failures, and the
 * last attempt, are recorded and return.
 */
import { errorMessage } from '../../domain/errors.js';
import type { Database } from '../../db/client.js';
import { loadFulfilmentView, recordFulfilment, type AdapterOrderOutcome, type FulfilmentAdapter, type FulfilmentOutcome, type FulfilmentPackage, type FulfilmentView } from '../../db/queries/fulfilment.js';
import { mediaBuyEventPayload } from '../../db/notify.js';
import { newId } from '../../domain/ids.js';
import { updateWorkflowStep } from '../../db/queries/workflow.js';
import { AdapterError, type AdapterOrderResult } from '../../adapters/port.js';
import type { AdapterFactory } from '../../adapters/registry.js';
import type { Logger } from '../../logger.js';
import { FulfilMediaBuyPayload } from '../catalog.js';
import { queueTaskWebhook } from '../../services/webhooks.js';

export interface TaskDeps {
  db: Database['db'];
  adapters: AdapterFactory;
  logger: Logger;
}

export interface JobInfo {
  attempts: number;
  maxAttempts: number;
  signal?: AbortSignal;
}

const CLOSED = new Set(['rejected', 'canceled', 'completed', 'pending_approval']);

export const idempotencyKeyFor = (mediaBuyId: string, adapterConfigId: string) => `${mediaBuyId}/${adapterConfigId}`;

type PartResult = { adapter: FulfilmentAdapter; ok: true; order: AdapterOrderResult } | { adapter: FulfilmentAdapter; ok: false; error: unknown };

async function bookPart(deps: TaskDeps, v: FulfilmentView, adapter: FulfilmentAdapter, pkgs: FulfilmentPackage[], signal?: AbortSignal): Promise<PartResult> {
  try {
    const mapping = v.platform_mappings[adapter.adapter_type] as { advertiser_id?: string } | undefined;
    const impl = deps.adapters({ id: adapter.id, adapterType: adapter.adapter_type, settings: adapter.settings });
    const order = await impl.createOrder(
      {
        idempotencyKey: idempotencyKeyFor(v.id, adapter.id),
        mediaBuyId: v.id,
        advertiser: { principalId: v.principal_id, name: v.principal_name, externalId: mapping?.advertiser_id },
        currency: v.currency,
        totalBudget: v.total_budget,
        startTime: new Date(v.start_time),
        endTime: new Date(v.end_time),
        buyerRef: v.buyer_ref,
        packages: pkgs.map((p) => ({
          packageId: p.id,
          productId: p.product_id,
          budget: p.budget,
          bidPrice: p.bid_price,
          rate: p.rate,
          pricingModel: p.pricing_model,
          impressions: p.impressions,
          targeting: p.targeting,
          formatIds: p.format_ids,
        })),
      },
      signal,
    );
    return { adapter, ok: true, order };
  } catch (error) {
    return { adapter, ok: false, error };
  }
}


export async function fulfilMediaBuy(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = FulfilMediaBuyPayload.safeParse(rawPayload);
  if (!parsed.success) {
    // A malformed payload will never get better: log and finish instead of retrying.
    deps.logger.error('fulfil_media_buy: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId } = parsed.data;
  const log = deps.logger.child({ task: 'fulfil_media_buy', tenant_id: tenantId, media_buy_id: mediaBuyId, attempt: job.attempts });
  const v = await loadFulfilmentView(deps.db, { tenantId, mediaBuyId });
  if (!v) {
    log.warn('media buy no longer exists; nothing to fulfil');
    return;
  }
  if (CLOSED.has(v.status)) {
    // Closed before it was booked (canceled, or forced by the seller): the fulfilment task ends with it.
    if (v.step && v.status !== 'pending_approval') {
      await updateWorkflowStep(deps.db, { tenantId, id: v.step.id, fromStatuses: ['pending', 'in_progress'] }, { status: 'canceled' });
    }
    log.info('media buy is not awaiting fulfilment; skipping', { status: v.status });
    return;
  }
  const adapters = new Map(v.adapters.map((a) => [a.id, a]));
  const groups = new Map<string, FulfilmentPackage[]>();
  for (const p of v.packages) {
    if (!p.adapter_config_id || p.status === 'canceled' || v.booked_adapter_ids.includes(p.adapter_config_id)) continue;
    groups.set(p.adapter_config_id, [...(groups.get(p.adapter_config_id) ?? []), p]);
  }

  const results = await Promise.all(
    [...groups].map(([adapterId, pkgs]) => {
      const adapter = adapters.get(adapterId);
      if (!adapter) {
        const gone = { id: adapterId, name: adapterId, adapter_type: 'unknown', settings: {} };
        return Promise.resolve<PartResult>({ adapter: gone, ok: false, error: new AdapterError(`adapter config ${adapterId} no longer exists`, true) });
      }
      return bookPart(deps, v, adapter, pkgs, job.signal);
    }),
  );
  const lastAttempt = job.attempts >= job.maxAttempts;
  const failures = results.filter((r): r is Extract<PartResult, { ok: false }> => !r.ok);
  const fatal = failures.find((f) => (f.error instanceof AdapterError && f.error.permanent) || lastAttempt);
  const orders: AdapterOrderOutcome[] = results.map((r) => ({
    id: newId('ao'),
    adapter_config_id: r.adapter.id,
    adapter_type: r.adapter.adapter_type,
    state: r.ok ? 'booked' : fatal ? 'failed' : 'queued',
    external_order_id: r.ok ? r.order.externalOrderId : null,
    external_line_item_ids: r.ok ? r.order.lineItemIds : null,
    idempotency_key: idempotencyKeyFor(mediaBuyId, r.adapter.id),
    attempts: job.attempts,
    error: r.ok ? null : errorMessage(r.error),
  }));
  const event = (status: string, summary: string) => mediaBuyEventPayload({ tenant_id: tenantId, principal_id: v.principal_id, media_buy_id: mediaBuyId, task_id: v.step?.id, status, summary });

  const record = async (o: Pick<FulfilmentOutcome, 'buyStatus' | 'rejectionReason' | 'confirm' | 'event'> & { step: { status: string; response?: Record<string, unknown>; error?: Record<string, unknown> } }) => {
    const outcome: FulfilmentOutcome = {
      tenantId,
      mediaBuyId,
      orders,
      ...o,
      step: v.step && { id: v.step.id, status: o.step.status, response: o.step.response ?? null, error: o.step.error ?? null },
    };
    const terminal = o.step.status === 'completed' || o.step.status === 'failed';
    if (!v.step?.push || !terminal) return recordFulfilment(deps.db, outcome);
    // The buyer asked to be told: the webhook is queued in the same transaction as the outcome.
    return deps.db.transaction(async (tx) => {
      const applied = await recordFulfilment(tx, outcome);
      if (applied) {
        await queueTaskWebhook(tx, {
          tenantId,
          principalId: v.principal_id,
          taskId: v.step!.id,
          taskType: 'create_media_buy',
          mediaBuyId,
          status: o.step.status,
          result: o.step.status === 'completed' ? { media_buy_id: mediaBuyId, status: v.status === 'pending_approval' ? 'pending_start' : v.status } : { errors: [{ code: 'ADAPTER_REJECTED', message: String(o.step.error?.message ?? 'rejected by the ad server') }] },
          push: v.step!.push,
          allowPrivateNetwork: v.allow_private_webhooks,
        });
      }
      return applied;
    });
  };

  if (fatal) {
    const reason = `${fatal.adapter.adapter_type} ad server: ${errorMessage(fatal.error)}`;
    await record({ buyStatus: 'rejected', rejectionReason: reason, confirm: false, step: { status: 'failed', error: { code: 'ADAPTER_REJECTED', message: reason } }, event: event('rejected', reason) });
    log.warn('media buy rejected by the ad server', { reason });
    return;
  }
  if (failures.length === 0) {
    await record({ buyStatus: null, rejectionReason: null, confirm: true, step: { status: 'completed', response: { media_buy_id: mediaBuyId, status: v.status } }, event: event(v.status, 'booked at the ad server') });
    return;
  }
  await record({ buyStatus: null, rejectionReason: null, confirm: false, step: { status: 'in_progress' }, event: null });
  const why = failures.map((f) => errorMessage(f.error)).join('; ');
  log.warn('ad server booking failed; will retry', { errors: why });
  throw new Error(`transient adapter failure: ${why}`);
}
