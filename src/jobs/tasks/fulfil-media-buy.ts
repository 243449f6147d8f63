/**
 * fulfil_media_buy: the one entry point that books a media buy at its ad
 * servers, for the auto path and after a human approval alike. At-least-once:
 * the adapter call carries an idempotency key made from our ids, so a retry
 * (or a crash between the adapter's answer and our commit) never books twice.
 * Throw to retry; return to finish. Permanent failures are recorded and return.
 */
import type { Database } from '../../db/client.js';
import { listAdapterConfigs, type AdapterConfigRow } from '../../db/queries/adapters.js';
import { loadForFulfilment, lockMediaBuy, updateMediaBuy, upsertAdapterOrder, type MediaBuyDetail, type PackageRow } from '../../db/queries/media-buys.js';
import { latestStepForMediaBuy, updateWorkflowStep } from '../../db/queries/workflow.js';
import { getPrincipal } from '../../db/queries/principals.js';
import { publishChange } from '../../db/notify.js';
import { newId } from '../../domain/ids.js';
import { AdapterError, type AdapterOrderResult } from '../../adapters/port.js';
import type { AdapterFactory } from '../../adapters/registry.js';
import type { Logger } from '../../logger.js';
import { FulfilMediaBuyPayload } from '../catalog.js';

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

const FINAL_BUY_STATUSES = new Set(['rejected', 'canceled', 'completed']);

export const idempotencyKeyFor = (mediaBuyId: string, adapterConfigId: string) => `${mediaBuyId}/${adapterConfigId}`;

type PartResult = { adapter: AdapterConfigRow; ok: true; order: AdapterOrderResult } | { adapter: AdapterConfigRow; ok: false; error: unknown };

async function bookPart(deps: TaskDeps, d: MediaBuyDetail, adapter: AdapterConfigRow, pkgs: PackageRow[], advertiser: { name: string; externalId?: string }, signal?: AbortSignal): Promise<PartResult> {
  try {
    const impl = deps.adapters(adapter);
    const order = await impl.createOrder(
      {
        idempotencyKey: idempotencyKeyFor(d.buy.id, adapter.id),
        mediaBuyId: d.buy.id,
        advertiser: { principalId: d.buy.principalId, ...advertiser },
        currency: d.buy.currency,
        totalBudget: d.buy.totalBudget,
        startTime: d.buy.startTime,
        endTime: d.buy.endTime,
        buyerRef: d.buy.buyerRef,
        packages: pkgs.map((p) => ({
          packageId: p.id,
          productId: p.productId,
          budget: p.budget,
          bidPrice: p.bidPrice,
          pricingModel: p.pricingModel,
          impressions: p.impressions,
          targeting: p.targeting,
          formatIds: p.formatIds,
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
  const d = await loadForFulfilment(deps.db, { tenantId, id: mediaBuyId });
  if (!d) {
    log.warn('media buy no longer exists; nothing to fulfil');
    return;
  }
  if (FINAL_BUY_STATUSES.has(d.buy.status) || d.buy.status === 'pending_approval') {
    log.info('media buy is not awaiting fulfilment; skipping', { status: d.buy.status });
    return;
  }
  const adapters = await listAdapterConfigs(deps.db, tenantId);
  const byId = new Map(adapters.map((a) => [a.id, a]));
  const booked = new Set(d.adapterOrders.filter((o) => o.state === 'booked').map((o) => o.adapterConfigId));
  const groups = new Map<string, PackageRow[]>();
  for (const p of d.packages) {
    if (!p.adapterConfigId || booked.has(p.adapterConfigId)) continue;
    groups.set(p.adapterConfigId, [...(groups.get(p.adapterConfigId) ?? []), p]);
  }
  const principal = await getPrincipal(deps.db, { tenantId, id: d.buy.principalId });
  const advertiser = { name: principal?.name ?? d.buy.principalId };

  // One order may span several ad servers: book each part in parallel.
  const results = await Promise.all(
    [...groups].map(([adapterId, pkgs]) => {
      const adapter = byId.get(adapterId);
      if (!adapter) return Promise.resolve<PartResult>({ adapter: { id: adapterId, adapterType: 'unknown' } as AdapterConfigRow, ok: false, error: new AdapterError(`adapter config ${adapterId} no longer exists`, true) });
      const mapping = principal?.platformMappings[adapter.adapterType] as { advertiser_id?: string } | undefined;
      return bookPart(deps, d, adapter, pkgs, { ...advertiser, externalId: mapping?.advertiser_id }, job.signal);
    }),
  );
  const lastAttempt = job.attempts >= job.maxAttempts;
  const failures = results.filter((r): r is Extract<PartResult, { ok: false }> => !r.ok);
  const permanent = failures.find((f) => (f.error instanceof AdapterError && f.error.permanent) || lastAttempt);
  const step = await latestStepForMediaBuy(deps.db, { tenantId, mediaBuyId, stepType: 'create_media_buy' });

  await deps.db.transaction(async (tx) => {
    const buy = await lockMediaBuy(tx, { tenantId, id: mediaBuyId });
    if (!buy || FINAL_BUY_STATUSES.has(buy.status)) return;
    for (const r of results) {
      await upsertAdapterOrder(tx, {
        id: newId('ao'),
        tenantId,
        mediaBuyId,
        adapterConfigId: r.adapter.id,
        adapterType: r.adapter.adapterType,
        state: r.ok ? 'booked' : permanent ? 'failed' : 'queued',
        externalOrderId: r.ok ? r.order.externalOrderId : null,
        externalLineItemIds: r.ok ? r.order.lineItemIds : null,
        idempotencyKey: idempotencyKeyFor(mediaBuyId, r.adapter.id),
        attempts: job.attempts,
        error: r.ok ? null : errorMessage(r.error),
      });
    }
    if (permanent) {
      const reason = `${permanent.adapter.adapterType} ad server: ${errorMessage(permanent.error)}`;
      await updateMediaBuy(tx, { tenantId, id: mediaBuyId }, { status: 'rejected', rejectionReason: reason, revision: buy.revision + 1 });
      if (step) {
        await updateWorkflowStep(tx, { tenantId, id: step.id }, { status: 'failed', error: { code: 'ADAPTER_REJECTED', message: reason } });
      }
      await publishChange(tx, { tenant_id: tenantId, principal_id: buy.principalId, media_buy_id: mediaBuyId, task_id: step?.id, status: 'rejected', summary: reason });
      return;
    }
    if (failures.length === 0) {
      if (step) {
        await updateWorkflowStep(tx, { tenantId, id: step.id }, { status: 'completed', response: { media_buy_id: mediaBuyId, status: buy.status } });
      }
      await updateMediaBuy(tx, { tenantId, id: mediaBuyId }, { confirmedAt: buy.confirmedAt ?? new Date() });
      await publishChange(tx, { tenant_id: tenantId, principal_id: buy.principalId, media_buy_id: mediaBuyId, task_id: step?.id, status: buy.status, summary: 'booked at the ad server' });
    } else if (step && step.status !== 'in_progress') {
      await updateWorkflowStep(tx, { tenantId, id: step.id }, { status: 'in_progress' });
    }
  });
  if (failures.length > 0 && !permanent) {
    log.warn('ad server booking failed; will retry', { errors: failures.map((f) => errorMessage(f.error)) });
    throw new Error(`transient adapter failure: ${failures.map((f) => errorMessage(f.error)).join('; ')}`);
  }
  if (permanent) log.warn('media buy rejected by the ad server', { reason: errorMessage(permanent.error) });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
