/**
 * fulfil_media_buy: the one entry point that books a media buy at its ad
 * servers, for the auto path and after a human approval alike. A buy is booked
 * in parts, one job per adapter its packages map to (src/jobs/fan-out.ts), so
 * the parts run in parallel; the buy is confirmed (its create step completes)
 * when the last part is booked. A part that fails for good (a permanent error,
 * or its last attempt) rejects the buy with the ad server's reason, and the
 * other parts are undone by cancel_adapter_order jobs (compensation).
 *
 * At-least-once: the adapter call carries an idempotency key made of our ids,
 * so a retry (or a crash between the ad server's answer and our commit) never
 * books twice. Throw to retry; return to finish. An invalid payload is dropped.
 */
import { releaseOf } from '../../domain/adcp-release.js';
import { errorMessage } from '../../domain/errors.js';
import { brokenDatabaseQuery, type Database, type Queryable } from '../../db/client.js';
import { loadPart, lockBuy, recordPartBooked, recordPartFailed, recordPartRetry, settlePart, type PartView } from '../../db/queries/fulfilment.js';
import { updateWorkflowStep } from '../../db/queries/workflow.js';
import { getMediaBuy } from '../../db/queries/media-buys.js';
import { toAdcpMediaBuy } from '../../domain/media-buy-view.js';
import { mediaBuyEventPayload, publishChange } from '../../db/notify.js';
import { sumAmounts } from '../../domain/money.js';
import { CLOSED_BUY, orderStatus, toAdcpMediaBuyStatus } from '../../domain/status.js';
import { AdapterError, type AdapterOrderResult } from '../../adapters/port.js';
import type { AdapterFactory } from '../../adapters/registry.js';
import type { Logger } from '../../logger.js';
import type { Retention } from '../../config.js';
import { FulfilMediaBuyPayload } from '../catalog.js';
import { enqueueJob } from '../enqueue.js';
import { addJobs, addJobsSql, enqueueFulfilment, jobKeys, jobSpec, orderKey } from '../fan-out.js';
import { queueTaskWebhook } from '../../services/webhooks.js';

export interface TaskDeps {
  db: Database['db'];
  adapters: AdapterFactory;
  logger: Logger;
  /** The seller's retention settings (prune_history); absent: the defaults. */
  retention?: Retention;
}

export interface JobInfo {
  attempts: number;
  maxAttempts: number;
  signal?: AbortSignal;
}

type Part = { tenantId: string; mediaBuyId: string; adapterConfigId: string };

export async function fulfilMediaBuy(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = FulfilMediaBuyPayload.safeParse(rawPayload);
  if (!parsed.success) {
    // A malformed payload will never get better: log and finish instead of retrying.
    deps.logger.error('fulfil_media_buy: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: adapterConfigId } = parsed.data;
  const log = deps.logger.child({ task: 'fulfil_media_buy', tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: adapterConfigId, attempt: job.attempts });
  if (!adapterConfigId) {
    // Queued before orders fanned out: queue one job per part instead.
    const parts = await deps.db.transaction(async (tx) => {
      const status = await lockBuy(tx, { tenantId, mediaBuyId });
      return status && !CLOSED_BUY.has(status) && status !== 'pending_approval' ? enqueueFulfilment(tx, { tenantId, mediaBuyId }) : 0;
    });
    log.info('queued the parts of the media buy', { parts });
    return;
  }
  await fulfilPart({ tenantId, mediaBuyId, adapterConfigId }, job, deps, log);
}

async function fulfilPart(p: Part, job: JobInfo, deps: TaskDeps, log: Logger): Promise<void> {
  const v = await loadPart(deps.db, p);
  if (!v) {
    log.warn('media buy no longer exists; nothing to fulfil');
    return;
  }
  const state = v.part?.state;
  if (state === 'booked' || state === 'failed' || v.status === 'pending_approval') return;
  const ref = { ...p, adapterType: v.adapter?.adapter_type ?? 'unknown', idempotencyKey: orderKey(p.mediaBuyId, p.adapterConfigId), attempts: job.attempts };
  // A previous attempt may have reached the ad server (it failed, or its worker died before our commit).
  const mayHaveBooked = job.attempts > 1 || (v.part?.attempts ?? 0) > 0;
  const cancelJob = jobSpec('cancel_adapter_order', { v: 1, tenant_id: p.tenantId, media_buy_id: p.mediaBuyId, adapter_config_id: p.adapterConfigId }, jobKeys.cancel(p.mediaBuyId, p.adapterConfigId));

  if (CLOSED_BUY.has(v.status) || state === 'canceling' || state === 'canceled') {
    // Closed before this part was booked: book nothing, and undo whatever an earlier attempt may have made.
    await deps.db.transaction(async (tx) => {
      if (mayHaveBooked) {
        await settlePart(tx, { ...ref, state: 'canceling', error: null });
        await addJobs(tx, [cancelJob]);
      } else {
        await settlePart(tx, { ...ref, state: 'canceled', error: null });
      }
      if (v.step && CLOSED_BUY.has(v.status)) {
        await updateWorkflowStep(tx, { tenantId: p.tenantId, id: v.step.id, fromStatuses: ['pending', 'in_progress'] }, { status: 'canceled' });
      }
    });
    log.info('media buy is not awaiting fulfilment; skipping', { status: v.status, part: state });
    return;
  }

  const live = v.packages.filter((k) => k.status !== 'canceled');
  let order: AdapterOrderResult | null = null;
  if (live.length) {
    try {
      order = await book(deps, v, ref.idempotencyKey, live, job.signal);
    } catch (error) {
      // Our own database failing under an adapter that keeps its state there (the mock) is no verdict of the ad server's.
      if (brokenDatabaseQuery(error)) throw error;
      const permanent = error instanceof AdapterError && error.permanent;
      // Cut short by a worker shutdown: not the ad server's verdict, so never a reason to reject.
      const aborted = job.signal?.aborted === true;
      if (!aborted && (permanent || job.attempts >= job.maxAttempts)) return reject(deps, v, ref, error, log);
      await recordPartRetry(deps.db, { ...ref, stepId: v.step?.id ?? null, error: errorMessage(error) });
      log.warn('ad server booking failed; will retry', { error: errorMessage(error) });
      throw new Error(`transient adapter failure: ${errorMessage(error)}`);
    }
  }

  const event = (status: string, summary: string) =>
    mediaBuyEventPayload({ tenant_id: p.tenantId, principal_id: v.principal_id, media_buy_id: p.mediaBuyId, task_id: v.step?.id, status, summary });
  const total = new Set([...v.parts.map((x) => x.adapter_config_id), p.adapterConfigId]).size;
  const racing = v.parts.some((x) => x.adapter_config_id !== p.adapterConfigId && x.state === 'queued');
  const write = async (db: Queryable) => {
    // With other parts still in flight, the buy's lock orders the parts' commits: the last to commit sees every other booked.
    if (racing) await lockBuy(db, p);
    const out = await recordPartBooked(db, {
      ...ref,
      stepId: v.step?.id ?? null,
      externalOrderId: order?.externalOrderId ?? null,
      lineItemIds: order?.lineItemIds ?? {},
      response: { media_buy_id: p.mediaBuyId, status: toAdcpMediaBuyStatus(v.status) },
      events: { confirmed: event(v.status, total > 1 ? `booked at all ${total} ad servers` : 'booked at the ad server'), progress: event(v.status, `booked at ${v.adapter?.name ?? p.adapterConfigId}`) },
      onClosed: addJobsSql([cancelJob]),
      onBooked: addJobsSql([jobSpec('sync_adapter_creatives', { v: 1, tenant_id: p.tenantId, media_buy_id: p.mediaBuyId, adapter_config_id: p.adapterConfigId }, jobKeys.creatives(p.mediaBuyId, p.adapterConfigId))]),
    });
    if (out.confirmed && v.step?.push) {
      // The buyer asked to be told: the webhook is queued in the same transaction as the outcome.
      await queueTaskWebhook(db, {
        tenantId: p.tenantId,
        principalId: v.principal_id,
        taskId: v.step.id,
        taskType: 'create_media_buy',
        mediaBuyId: p.mediaBuyId,
        status: 'completed',
        // The buy as it now stands (this transaction's writes included), packages and the request's context.
        result: await completionResult(db, p, v.principal_id),
        release: releaseOf(v.step),
        push: v.step.push,
        allowPrivateNetwork: v.allow_private_webhooks,
      });
    }
    return out;
  };
  const out = racing || v.step?.push ? await deps.db.transaction(write) : await write(deps.db);
  if (!out.open && order) log.warn('media buy closed while its order was being booked; canceling the order', { external_order_id: order.externalOrderId });
  else log.debug('part booked', { booked: out.booked, total: out.total, confirmed: out.confirmed });
}

async function completionResult(db: Queryable, p: Part, principalId: string): Promise<Record<string, unknown>> {
  const detail = await getMediaBuy(db, { tenantId: p.tenantId, principalId, id: p.mediaBuyId });
  return detail ? toAdcpMediaBuy(detail) : { media_buy_id: p.mediaBuyId };
}

function book(deps: TaskDeps, v: PartView, idempotencyKey: string, pkgs: PartView['packages'], signal?: AbortSignal): Promise<AdapterOrderResult> {
  if (!v.adapter) throw new AdapterError('the adapter config of this part no longer exists', true);
  const mapping = v.platform_mappings[v.adapter.adapter_type] as { advertiser_id?: string } | undefined;
  const impl = deps.adapters({ id: v.adapter.id, adapterType: v.adapter.adapter_type, settings: v.adapter.settings });
  return impl.createOrder(
    {
      idempotencyKey,
      mediaBuyId: v.id,
      advertiser: { principalId: v.principal_id, name: v.principal_name, externalId: mapping?.advertiser_id },
      currency: v.currency,
      // This ad server's share of the buy.
      totalBudget: sumAmounts(pkgs.map((k) => k.budget)),
      startTime: new Date(v.start_time),
      endTime: new Date(v.end_time),
      buyerRef: v.buyer_ref,
      status: orderStatus(v.status, v.start_paused) === 'paused' ? 'paused' : 'active',
      packages: pkgs.map((k) => ({
        status: k.status === 'paused' ? 'paused' : 'active',
        packageId: k.id,
        productId: k.product_id,
        budget: k.budget,
        bidPrice: k.bid_price,
        rate: k.rate,
        pricingModel: k.pricing_model,
        impressions: k.impressions,
        targeting: k.targeting,
        formatIds: k.format_ids,
      })),
    },
    signal,
  );
}

/**
 * The part failed for good: reject the buy with the reason and undo the other
 * parts. Unless the buy closed already, or was confirmed before this part was
 * added (update_media_buy's new packages on another ad server): then only the
 * part fails, and the update waiting on it fails with its reason.
 */
async function reject(deps: TaskDeps, v: PartView, ref: Part & { adapterType: string; idempotencyKey: string; attempts: number }, error: unknown, log: Logger): Promise<void> {
  const message = errorMessage(error);
  const reason = `${v.adapter?.name ?? ref.adapterConfigId} (${ref.adapterType} ad server): ${message}`;
  const stepError = { code: 'ADAPTER_REJECTED', message: reason, recovery: 'correctable' };
  const rejected = await deps.db.transaction(async (tx) => {
    const status = await lockBuy(tx, ref);
    if (!status || CLOSED_BUY.has(status) || v.step?.status === 'completed') {
      await settlePart(tx, { ...ref, state: 'failed', error: message });
      if (status && !CLOSED_BUY.has(status)) {
        await publishChange(tx, { tenant_id: ref.tenantId, principal_id: v.principal_id, media_buy_id: ref.mediaBuyId, status, summary: `not booked at ${reason}` });
      }
      return false;
    }
    const { canceling } = await recordPartFailed(tx, {
      ...ref,
      stepId: v.step?.id ?? null,
      error: message,
      reason,
      stepError,
      event: mediaBuyEventPayload({ tenant_id: ref.tenantId, principal_id: v.principal_id, media_buy_id: ref.mediaBuyId, task_id: v.step?.id, status: 'rejected', summary: reason }),
    });
    // The seller's Slack hears of the failure (a no-op job when the tenant has no Slack).
    await enqueueJob(tx, 'notify_slack', { v: 1, tenant_id: ref.tenantId, event: 'fulfilment_failed', media_buy_id: ref.mediaBuyId }, { jobKey: `slack:fulfilment_failed:${ref.mediaBuyId}` });
    await addJobs(
      tx,
      canceling.map((id) => jobSpec('cancel_adapter_order', { v: 1, tenant_id: ref.tenantId, media_buy_id: ref.mediaBuyId, adapter_config_id: id }, jobKeys.cancel(ref.mediaBuyId, id))),
    );
    if (v.step?.push) {
      await queueTaskWebhook(tx, {
        tenantId: ref.tenantId,
        principalId: v.principal_id,
        taskId: v.step.id,
        taskType: 'create_media_buy',
        mediaBuyId: ref.mediaBuyId,
        status: 'failed',
        result: { errors: [stepError] },
        release: releaseOf(v.step),
        context: v.step.context,
        push: v.step.push,
        allowPrivateNetwork: v.allow_private_webhooks,
      });
    }
    return canceling;
  });
  if (rejected) log.warn('media buy rejected by the ad server', { reason, compensating: rejected });
  else log.warn('part failed; the media buy stays as it was', { error: message });
}
