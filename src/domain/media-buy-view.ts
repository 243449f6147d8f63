/** How a stored media buy looks on the wire (get_media_buys, create replies, the media-buy:// resource). */
import type { PackageTotals } from '../db/queries/delivery.js';
import type { CreativeApprovalRow, MediaBuyDetail, MediaBuyHistoryRow, MediaBuyListing, MediaBuyRow, PackageRow } from '../db/queries/media-buys.js';
import { toAdcpAccount } from './account-view.js';
import { amountToNumber, compareAmounts } from './money.js';
import { availableActions, toAdcpMediaBuyStatus, toAdcpTaskStatus, validActions } from './status.js';

/** AdCP's creative approval statuses for ours: processing is still pending review; an archived creative serves nowhere and is left out. */
const APPROVAL_STATUS: Record<string, string> = { processing: 'pending_review', pending_review: 'pending_review', approved: 'approved', rejected: 'rejected' };

function toAdcpPackage(p: PackageRow, assigned: CreativeApprovalRow[]): Record<string, unknown> {
  const cfg = p.packageConfig;
  const approvals = assigned.flatMap((a) => {
    const status = APPROVAL_STATUS[a.status];
    if (!status) return [];
    return [{ creative_id: a.creativeId, approval_status: status, ...(status === 'rejected' && a.rejectionReason && { rejection_reason: a.rejectionReason }) }];
  });
  return {
    package_id: p.id,
    product_id: p.productId,
    pricing_option_id: p.pricingOptionId,
    budget: amountToNumber(p.budget),
    ...(p.bidPrice != null && { bid_price: amountToNumber(p.bidPrice) }),
    ...(p.pacing && { pacing: p.pacing }),
    ...(p.impressions != null && { impressions: Number(p.impressions) }),
    ...(p.formatIds && { format_ids: p.formatIds }),
    ...(p.targeting && { targeting_overlay: p.targeting }),
    ...(p.buyerRef && { buyer_ref: p.buyerRef }),
    ...(cfg.context !== undefined && { context: cfg.context }),
    paused: p.status === 'paused',
    ...(p.status === 'canceled' && { canceled: true }),
    ...(approvals.length > 0 && { creative_approvals: approvals }),
  };
}

/** A buy's packages on the wire, each with its assigned creatives' approvals; `only` picks some by id. */
export function toAdcpPackages(d: MediaBuyListing, only?: ReadonlySet<string>): Record<string, unknown>[] {
  return d.packages
    .filter((p) => !only || only.has(p.id))
    .map((p) => toAdcpPackage(p, d.creativeApprovals.filter((a) => a.packageId === p.id)));
}

/**
 * A buy on the wire: get_media_buys, and the completion artifact of its
 * create_media_buy task (tasks/get result, completion webhook), so a buyer
 * answered "submitted" learns its package ids. The create request's context is
 * echoed, as AdCP asks of read surfaces.
 */
export function toAdcpMediaBuy(d: MediaBuyListing): Record<string, unknown> {
  const b = d.buy;
  const status = toAdcpMediaBuyStatus(b.status);
  const context: unknown = b.rawRequest?.context;
  return {
    media_buy_id: b.id,
    ...(b.buyerRef && { buyer_ref: b.buyerRef }),
    status,
    media_buy_status: status,
    ...(d.account && { account: toAdcpAccount(d.account) }),
    currency: b.currency,
    total_budget: amountToNumber(b.totalBudget),
    start_time: b.startTime.toISOString(),
    end_time: b.endTime.toISOString(),
    confirmed_at: b.confirmedAt ? b.confirmedAt.toISOString() : null,
    revision: b.revision,
    created_at: b.createdAt.toISOString(),
    updated_at: b.updatedAt.toISOString(),
    valid_actions: validActions(b.status, b.startPaused),
    available_actions: availableActions(b.status, b.startPaused),
    ...(b.status === 'rejected' && b.rejectionReason && { rejection_reason: b.rejectionReason }),
    ...(b.status === 'canceled' && {
      cancellation: {
        canceled_at: (b.canceledAt ?? b.updatedAt).toISOString(),
        canceled_by: b.canceledBy ?? 'seller',
        ...(b.cancellationReason && { reason: b.cancellationReason }),
      },
    }),
    packages: toAdcpPackages(d),
    ...(context !== null && typeof context === 'object' && !Array.isArray(context) ? { context } : {}),
  };
}

/**
 * get_media_buys' include_snapshot: a package's delivery to date from what has been collected (the hourly
 * collection, or a simulation), with its age. A live buy (active or paused) with nothing collected yet has no
 * snapshot (SNAPSHOT_TEMPORARILY_UNAVAILABLE: its first collection is due). Any other buy with nothing collected
 * has delivered nothing, as of now: not started, never booked or approved, rejected, or over (its collection
 * runs on for a day after it ends, so by then nothing means none). delivery_status is given only where the
 * stored figures tell it; not_delivering (which needs a full collection cycle of nothing) never.
 */
export function packageSnapshot(buy: MediaBuyRow, pkg: PackageRow, totals: PackageTotals | undefined, now: Date): Record<string, unknown> {
  const live = buy.status === 'active' || buy.status === 'paused';
  if (!totals && live) return { snapshot_unavailable_reason: 'SNAPSHOT_TEMPORARILY_UNAVAILABLE' };
  const t = totals ?? { impressions: 0, clicks: 0, spend: '0', asOf: now };
  const over = buy.status === 'canceled' || pkg.status === 'canceled';
  const deliveryStatus =
    buy.status === 'completed' ? 'completed'
    : over ? undefined
    : compareAmounts(t.spend, pkg.budget) >= 0 ? 'budget_exhausted'
    : buy.endTime <= now ? 'flight_ended'
    : buy.status === 'active' && pkg.status !== 'paused' && t.impressions > 0 ? 'delivering'
    : undefined;
  return {
    snapshot: {
      as_of: t.asOf.toISOString(),
      staleness_seconds: Math.max(0, Math.round((now.getTime() - t.asOf.getTime()) / 1000)),
      impressions: t.impressions,
      spend: Number(t.spend),
      clicks: t.clicks,
      currency: buy.currency,
      ...(deliveryStatus && { delivery_status: deliveryStatus }),
    },
  };
}

/**
 * get_media_buys' include_history: the buy's last `limit` revisions, newest first: the stored changes (one per
 * revision after the first), then, when the limit reaches it, revision 1, the buy's creation.
 */
export function buyHistory(buy: MediaBuyRow, changes: MediaBuyHistoryRow[], limit: number): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = changes.slice(0, limit).map((h) => ({
    revision: h.revision,
    timestamp: h.at.toISOString(),
    action: h.action,
    summary: h.summary,
    ...(h.actor && { actor: h.actor }),
  }));
  if (entries.length < limit && !changes.some((h) => h.revision === 1)) {
    entries.push({ revision: 1, timestamp: buy.createdAt.toISOString(), action: 'created', summary: `created: total budget ${amountToNumber(buy.totalBudget)} ${buy.currency}`, actor: 'buyer' });
  }
  return entries;
}

/** The media-buy:// resource: AdCP status, the workflow step, and fulfilment at each adapter. */
export function mediaBuyState(d: MediaBuyDetail, adapterNames: Map<string, { name: string; type: string }>): Record<string, unknown> {
  const step = d.steps.at(-1);
  const ordered = new Map(d.adapterOrders.map((o) => [o.adapterConfigId, o]));
  const adapterIds = [...new Set(d.packages.map((p) => p.adapterConfigId).filter((x): x is string => !!x))];
  const fulfilment = adapterIds.map((id) => {
    const o = ordered.get(id);
    const meta = adapterNames.get(id);
    const awaiting = step?.status === 'requires_approval';
    return {
      adapter: meta?.name ?? id,
      adapter_type: meta?.type ?? o?.adapterType ?? 'unknown',
      state: o?.state ?? (awaiting ? 'awaiting_approval' : isClosed(d) ? 'canceled' : 'queued'),
      ...(o?.externalOrderId && { external_order_id: o.externalOrderId }),
      ...(o?.error && { error: o.error }),
      attempts: o?.attempts ?? 0,
      updated_at: (o?.updatedAt ?? d.buy.createdAt).toISOString(),
    };
  });
  return {
    ...toAdcpMediaBuy(d),
    internal_status: d.buy.status,
    workflow_step: step && {
      task_id: step.id,
      task_type: step.stepType,
      status: step.status,
      task_status: toAdcpTaskStatus(step.status),
      owner: step.owner,
      ...(step.error && { error: step.error }),
      created_at: step.createdAt.toISOString(),
      updated_at: step.updatedAt.toISOString(),
    },
    fulfilment,
  };
}

function isClosed(d: MediaBuyDetail): boolean {
  return d.buy.status === 'canceled' || d.buy.status === 'rejected';
}
