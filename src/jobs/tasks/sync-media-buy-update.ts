/**
 * sync_media_buy_update: carry a buyer's update_media_buy (pause, resume, dates,
 * budgets, cancel) to one ad server holding a part of the buy; the update fans
 * out to one such job per ad server (src/jobs/fan-out.ts) and its step
 * completes when the last one has applied it (or fails with the reasons of
 * those that could not). Each job sends the buy as it stands now, and again if
 * it changed while the call was out (the later change's job may have been
 * answered first), so updates converge even if they run, or are answered, out
 * of order; it waits (by retrying) while its part is still being booked.
 */
import { releaseOf } from '../../domain/adcp-release.js';
import { errorMessage } from '../../domain/errors.js';
import { CLOSED_BUY, orderStatus, TERMINAL_WORKFLOW, toAdcpMediaBuyStatus } from '../../domain/status.js';
import type { PushConfig } from '../../domain/webhooks.js';
import { brokenDatabaseQuery } from '../../db/client.js';
import { loadPart, recordUpdatePartRetry, settleUpdatePart, type PartView } from '../../db/queries/fulfilment.js';
import { mediaBuyState } from '../../db/queries/media-buys.js';
import { getWorkflowStep, lockWorkflowStep, updateWorkflowStep } from '../../db/queries/workflow.js';
import { publishChange } from '../../db/notify.js';
import { AdapterError } from '../../adapters/port.js';
import { SyncMediaBuyUpdatePayload } from '../catalog.js';
import { enqueueMediaBuyUpdate } from '../fan-out.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';
import { queueTaskWebhook } from '../../services/webhooks.js';
import { restoreBeforeUpdate, type UpdateUndo } from '../../db/queries/update-undo.js';


/**
 * What became of the change at one ad server: applied; skipped (nothing there to change: the order is being
 * undone, or was never made for a closed buy); refused for good by the ad server; or failed, its outcome
 * unknown (the last retry of a transient error: the ad server may have applied it after all).
 */
type Outcome = { state: 'applied' | 'skipped'; error: null } | { state: 'refused' | 'failed'; error: string };

export async function syncMediaBuyUpdate(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = SyncMediaBuyUpdatePayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('sync_media_buy_update: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId, step_id: stepId, adapter_config_id: adapterConfigId } = parsed.data;
  const log = deps.logger.child({ task: 'sync_media_buy_update', tenant_id: tenantId, media_buy_id: mediaBuyId, step_id: stepId, adapter_config_id: adapterConfigId });
  if (!adapterConfigId) {
    // Queued before updates fanned out: queue one job per ad server instead.
    await deps.db.transaction(async (tx) => {
      const step = await lockWorkflowStep(tx, { tenantId, id: stepId });
      if (!step || TERMINAL_WORKFLOW.has(step.status)) return;
      if ((await enqueueMediaBuyUpdate(tx, { tenantId, mediaBuyId, stepId })) === 0) {
        await updateWorkflowStep(tx, { tenantId, id: stepId }, { status: 'completed', response: { media_buy_id: mediaBuyId } });
      }
    });
    return;
  }
  const step = await getWorkflowStep(deps.db, { tenantId, id: stepId });
  if (!step || TERMINAL_WORKFLOW.has(step.status)) return;
  const v = await loadPart(deps.db, { tenantId, mediaBuyId, adapterConfigId });
  if (!v) return;

  let outcome: Outcome;
  try {
    outcome = await apply(deps, tenantId, v, stepId, job);
  } catch (error) {
    if (brokenDatabaseQuery(error)) throw error; // our database, not the ad server: see fulfil_media_buy
    const permanent = error instanceof AdapterError && error.permanent;
    // Cut short by a worker shutdown: not the ad server's verdict, so retried whatever the attempt (see retryInterrupted).
    if (job.signal?.aborted || (!permanent && job.attempts < job.maxAttempts)) {
      await recordUpdatePartRetry(deps.db, { stepId, adapterConfigId, attempts: job.attempts, error: errorMessage(error) });
      log.warn('ad server update not applied yet; will retry', { error: errorMessage(error) });
      throw new Error(`transient adapter failure: ${errorMessage(error)}`);
    }
    outcome = { state: permanent ? 'refused' : 'failed', error: `${v.adapter?.name ?? adapterConfigId}: ${errorMessage(error)}` };
  }

  await deps.db.transaction(async (tx) => {
    const locked = await lockWorkflowStep(tx, { tenantId, id: stepId });
    if (!locked || TERMINAL_WORKFLOW.has(locked.status)) return;
    const parts = await settleUpdatePart(tx, { stepId, adapterConfigId, state: outcome.state, attempts: job.attempts, error: outcome.error });
    if (parts.some((x) => x.state === 'queued')) {
      if (locked.status === 'pending') await updateWorkflowStep(tx, { tenantId, id: stepId }, { status: 'in_progress' });
      return;
    }
    const failures = parts.flatMap((x) => ((x.state === 'failed' || x.state === 'refused') && x.error ? [x.error] : []));
    // Every ad server holding the buy refused the change for good: the buy goes back to what it was, so it shows what its
    // orders hold. Not when one applied it, or may have (a transient failure given up on).
    const refusedEverywhere = parts.some((x) => x.state === 'refused') && parts.every((x) => x.state === 'refused' || x.state === 'skipped');
    const undone = refusedEverywhere && locked.undo ? await restoreBeforeUpdate(tx, { tenantId, mediaBuyId, undo: locked.undo as unknown as UpdateUndo }) : null;
    // The buy as it now stands, not as this job first loaded it: a later update or a cancel may have moved it on meanwhile,
    // and the status told must be that of the revision told.
    const current = undone ?? (await mediaBuyState(tx, { tenantId, id: mediaBuyId }));
    const buyStatus = current?.status ?? v.status;
    const status = toAdcpMediaBuyStatus(buyStatus);
    // Not a standard AdCP code; recovery says what to do: another change may go through, retrying this one will not.
    const error = failures.length
      ? { code: 'ADAPTER_REJECTED', message: `${failures.join('; ')}${undone ? '. The change was undone: the media buy is as it was before this update (its reporting webhook and creative assignments aside).' : ''}`, recovery: 'correctable' }
      : null;
    // The completion artifact is an update_media_buy success: the buy's revision to send with the next update, as the call answered.
    const response = error ? null : { media_buy_id: mediaBuyId, status, revision: current?.revision };
    await updateWorkflowStep(tx, { tenantId, id: stepId }, response ? { status: 'completed', response } : { status: 'failed', error });
    await publishChange(tx, { tenant_id: tenantId, principal_id: v.principal_id, media_buy_id: mediaBuyId, task_id: stepId, status: buyStatus, summary: error ? `update failed at the ad server: ${error.message}` : 'update applied at the ad server' });
    await queueTaskWebhook(tx, {
      tenantId,
      principalId: v.principal_id,
      taskId: stepId,
      taskType: 'update_media_buy',
      mediaBuyId,
      status: error ? 'failed' : 'completed',
      result: response ?? { errors: [error] },
      release: releaseOf(locked.request),
      context: locked.request?.context,
      push: locked.pushNotificationConfig as PushConfig | null,
      allowPrivateNetwork: v.allow_private_webhooks,
    });
  });
  if (outcome.state === 'failed') log.warn('ad server update failed', { error: outcome.error });
}

/** What the ad server is told of the buy as `v` shows it: the order's status, flight and lines. */
const orderState = (v: PartView) => ({
  status: orderStatus(v.status, v.start_paused),
  startTime: new Date(v.start_time),
  endTime: new Date(v.end_time),
  packages: v.packages.map((k) => ({ packageId: k.id, productId: k.product_id, budget: k.budget, bidPrice: k.bid_price, rate: k.rate, pricingModel: k.pricing_model, impressions: k.impressions, targeting: k.targeting, formatIds: k.format_ids, status: k.status })),
});

/** Sends of one job when the buy keeps changing under them; then it retries (throws) like any transient failure. */
const MAX_RESENDS = 3;

/** Bring this ad server's order in line with the buy; throws to retry. */
async function apply(deps: TaskDeps, tenantId: string, v: PartView, stepId: string, job: JobInfo, resend = 0): Promise<Outcome> {
  const part = v.part;
  if (part?.state === 'failed') return { state: 'failed', error: `${v.adapter?.name ?? part.adapter_config_id}: not booked (${part.error ?? 'failed'})` };
  // No part here: nothing was ever sent to this ad server, so a closed buy needs nothing.
  if (!part && CLOSED_BUY.has(v.status)) return { state: 'skipped', error: null };
  // A booking in flight: wait for it. For a closed buy too: the order it lands is then canceled (by its fulfilment),
  // and this update (the cancel) is done only when that is.
  if (!part || part.state === 'queued') throw new Error('the booking at this ad server is still in progress');
  if (part.state === 'canceling' && CLOSED_BUY.has(v.status)) {
    if (part.error?.startsWith('cancel failed')) return { state: 'failed', error: `${v.adapter?.name ?? part.adapter_config_id}: the order could not be canceled (${part.error})` };
    throw new Error('the order at this ad server is still being canceled');
  }
  // Canceling (an open buy's part being undone, which no update can change) or canceled.
  if (part.state !== 'booked' || !part.external_order_id) return { state: 'skipped', error: null };
  if (!v.adapter) throw new AdapterError('the adapter config of this part no longer exists', true);
  const state = orderState(v);
  await deps.adapters({ id: v.adapter.id, adapterType: v.adapter.adapter_type, settings: v.adapter.settings }).updateOrder(
    {
      // Unique per change and ad server, so a retried update is applied once (and per resend below, so each is applied).
      idempotencyKey: resend === 0 ? `${stepId}/${v.adapter.id}` : `${stepId}/${v.adapter.id}/${resend}`,
      externalOrderId: part.external_order_id,
      mediaBuyId: v.id,
      ...state,
    },
    job.signal,
  );
  // The buy may have changed while the call was out, and the job of that later change may have been answered first:
  // then this call's older state landed last. Send the buy as it now stands, so the ad server's last word is the latest.
  const now = await loadPart(deps.db, { tenantId, mediaBuyId: v.id, adapterConfigId: v.adapter.id });
  if (!now || JSON.stringify(orderState(now)) === JSON.stringify(state)) return { state: 'applied', error: null };
  if (resend >= MAX_RESENDS) throw new Error('the media buy kept changing while its update was being sent');
  return apply(deps, tenantId, now, stepId, job, resend + 1);
}
