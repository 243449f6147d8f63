/**
 * Delivery arithmetic and the get_media_buy_delivery wire shape, over the rows
 * of delivery_reports (one per package per day). Pure: money stays a decimal
 * string until it is put on the wire.
 */
import { sumAmounts } from './money.js';
import { windowEndAfter, windowFloor, type ReportingFrequency } from './reporting.js';
import { orderStatus, toAdcpMediaBuyStatus } from './status.js';

export interface DeliveryDay {
  day: string;
  impressions: number;
  clicks: number;
  video_completions: number;
  spend: string;
  source: string;
}

export interface DeliveryPackage {
  id: string;
  product_id: string;
  buyer_ref: string | null;
  pricing_model: string;
  status: string;
  /** Agreed rate: the bid for auction pricing, else the pricing option's fixed price. */
  rate: string | null;
  days: DeliveryDay[];
}

export interface DeliveryBuy {
  id: string;
  buyer_ref: string | null;
  status: string;
  /** Created paused (AdCP 3.1): goes paused rather than active once setup allows. */
  start_paused?: boolean;
  currency: string;
  start_time: string;
  /** When delivery stops: the flight's end, or the cancellation or rejection if earlier. */
  delivery_ends: string;
  packages: DeliveryPackage[];
}

/** Days back an ad server may restate its figures; delivery collection re-reads them (jobs/tasks/collect-delivery.ts). */
export const RESTATEMENT_DAYS = 2;
/** How long after a span ends its stored figures can still change: the restatement days, then one hourly collection. */
export const FINALITY_DELAY_MS = RESTATEMENT_DAYS * 86_400_000 + 3_600_000;

/**
 * AdCP 3.1 finality of figures for a span ending at `endExclusive` (a reporting period, a window): they are
 * final (no later read changes them; the seller would invoice on them) once the span, or the buy's delivery
 * if it stopped earlier, lies FINALITY_DELAY_MS behind, and none of them is simulated. finalized_at is that
 * moment.
 */
export function finality(b: DeliveryBuy, endExclusive: number, days: DeliveryDay[], now: Date): { is_final: boolean; finalized_at?: string } {
  const closes = Math.min(endExclusive, Date.parse(b.delivery_ends)) + FINALITY_DELAY_MS;
  const final = closes <= now.getTime() && days.every((d) => d.source !== 'simulated');
  return final ? { is_final: true, finalized_at: new Date(closes).toISOString() } : { is_final: false };
}

/** Split a non-negative integer total across weights in proportion; rounding leftovers go to the first parts. */
export function splitByWeights(total: bigint, weights: bigint[]): bigint[] {
  if (weights.length === 0) return [];
  const sum = weights.reduce((a, b) => a + b, 0n);
  const parts = sum > 0n ? weights.map((w) => (total * w) / sum) : weights.map(() => total / BigInt(weights.length));
  let rest = total - parts.reduce((a, b) => a + b, 0n);
  for (let i = 0; rest > 0n; i = (i + 1) % parts.length, rest -= 1n) parts[i] = parts[i]! + 1n;
  return parts;
}

interface Totals {
  impressions: number;
  clicks: number;
  completions: number;
  spend: string;
}

function totalsOf(days: DeliveryDay[]): Totals {
  return {
    impressions: days.reduce((a, d) => a + d.impressions, 0),
    clicks: days.reduce((a, d) => a + d.clicks, 0),
    completions: days.reduce((a, d) => a + d.video_completions, 0),
    spend: sumAmounts(days.map((d) => d.spend)),
  };
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

function wireMetrics(t: Totals): Record<string, number> {
  return {
    impressions: t.impressions,
    spend: Number(t.spend),
    clicks: t.clicks,
    ...(t.completions > 0 && { completed_views: t.completions }),
    ...(t.impressions > 0 && t.clicks <= t.impressions && { ctr: round4(t.clicks / t.impressions) }),
  };
}

function rateOf(p: DeliveryPackage, t: Totals): number {
  if (p.rate != null) return Number(p.rate);
  // No agreed rate: report the effective one.
  return p.pricing_model === 'cpm' && t.impressions > 0 ? round4((Number(t.spend) / t.impressions) * 1000) : 0;
}

/** Granularities a windowed pull may ask for: delivery is stored per day, so days and the months they make up. */
export const WINDOWED_PULL_GRANULARITIES: readonly ReportingFrequency[] = ['daily', 'monthly'];

/** At most this many windows per buy in one pull (a year and a month of days, ten years of months). */
export const MAX_WINDOWS: Record<ReportingFrequency, number> = { hourly: 0, daily: 400, monthly: 120 };

/** When a buy's delivery can begin: its start, or its first delivered day if earlier (ms since the epoch). */
export function firstActivity(b: DeliveryBuy): number {
  return Math.min(Date.parse(b.start_time), ...b.packages.flatMap((p) => p.days.map((d) => Date.parse(`${d.day}T00:00:00Z`))));
}

/**
 * The span a windowed pull covers for a buy: the reporting period, from no
 * earlier than the buy's start (or its first delivered day, if earlier) and to
 * no later than now (nothing is delivered outside that), so a pull over
 * 1900-9999 costs what the buy's life costs.
 */
export function windowSpan(b: DeliveryBuy, period: { start: string; end: string }, now: Date): { from: Date; to: Date } {
  const from = new Date(Math.max(Date.parse(period.start), firstActivity(b)));
  const to = new Date(Math.min(Date.parse(period.end), now.getTime()));
  return { from, to };
}

/** How many windows of this granularity the span touches. */
export function windowCount(freq: ReportingFrequency, span: { from: Date; to: Date }): number {
  let n = 0;
  for (let t = windowFloor(freq, span.from); t < span.to && n <= MAX_WINDOWS[freq]; t = windowEndAfter(freq, t)) n++;
  return n;
}

/**
 * AdCP 3.1 windowed pull: the buy's delivery in contiguous UTC windows at the
 * granularity asked for, partitioning its span (the first and last windows cut
 * to it), the same calendar windows a reporting webhook at that frequency
 * reports. A window is final once it has ended, the delay before its numbers
 * are complete has passed, and none of them is simulated.
 */
function windowsOf(b: DeliveryBuy, freq: ReportingFrequency, period: { start: string; end: string }, now: Date): Record<string, unknown>[] {
  const { from, to } = windowSpan(b, period, now);
  // Each stored day, once, into the window it falls in.
  const byWindow = new Map<number, Map<string, DeliveryDay[]>>();
  for (const p of b.packages) {
    for (const d of p.days) {
      const key = windowFloor(freq, new Date(`${d.day}T00:00:00Z`)).getTime();
      const perPackage = byWindow.get(key) ?? byWindow.set(key, new Map()).get(key)!;
      const days = perPackage.get(p.id) ?? perPackage.set(p.id, []).get(p.id)!;
      days.push(d);
    }
  }
  const out: Record<string, unknown>[] = [];
  for (let start = windowFloor(freq, from); start < to; start = windowEndAfter(freq, start)) {
    const next = windowEndAfter(freq, start);
    const perPackage = byWindow.get(start.getTime());
    const days = [...(perPackage?.values() ?? [])].flat();
    const end = next < to ? next : to;
    out.push({
      window_start: (start > from ? start : from).toISOString(),
      window_end: end.toISOString(),
      totals: wireMetrics(totalsOf(days)),
      by_package: b.packages.map((p) => ({ package_id: p.id, ...wireMetrics(totalsOf(perPackage?.get(p.id) ?? [])) })),
      is_final: finality(b, next.getTime(), days, now).is_final,
    });
  }
  return out;
}

export function deliveryResponse(
  buys: DeliveryBuy[],
  opts: {
    daily: boolean;
    period: { start: string; end: string };
    /** The report's currency; null when the buys are in several (then no aggregated totals: spend in different currencies does not add up). */
    currency: string | null;
    /** The currency named when the buys are in several (AdCP requires one). */
    fallbackCurrency?: string;
    now: Date;
    windows?: { granularity: ReportingFrequency };
    /** Say which figures are final (is_final, finalized_at); off, a reader treats them all as provisional. */
    finality?: boolean;
  },
): Record<string, unknown> {
  const all: Totals[] = [];
  // The period's end is inclusive (…T23:59:59.999Z): the span ends a millisecond later.
  const periodEnd = Date.parse(opts.period.end) + 1;
  const deliveries = buys.map((b) => {
    const final = opts.finality === false ? [] : b.packages.map((p) => finality(b, periodEnd, p.days, opts.now));
    // AdCP: whether the package is currently paused by the buyer, itself or with the whole buy (which holds
    // every package it runs); a canceled package is not paused, it is over.
    const buyPaused = orderStatus(b.status, !!b.start_paused) === 'paused';
    const byPackage = b.packages.map((p, i) => {
      const t = totalsOf(p.days);
      all.push(t);
      return {
        package_id: p.id,
        ...(p.buyer_ref && { buyer_ref: p.buyer_ref }),
        ...wireMetrics(t),
        pricing_model: p.pricing_model,
        rate: rateOf(p, t),
        currency: b.currency,
        paused: p.status === 'paused' || (buyPaused && p.status !== 'canceled'),
        ...(opts.daily && { daily_breakdown: p.days.map((d) => ({ date: d.day, impressions: d.impressions, spend: Number(d.spend) })) }),
        ...final[i],
      };
    });
    // The row is final when every package is; it became final when the last of them did.
    const rowFinal = final.length > 0 && final.every((f) => f.is_final);
    const models = new Set(b.packages.map((p) => p.pricing_model));
    return {
      media_buy_id: b.id,
      ...(b.buyer_ref && { buyer_ref: b.buyer_ref }),
      status: toAdcpMediaBuyStatus(b.status),
      ...(models.size === 1 && { pricing_model: [...models][0] }),
      totals: wireMetrics(totalsOf(b.packages.flatMap((p) => p.days))),
      by_package: byPackage,
      ...(opts.finality !== false && { is_final: rowFinal }),
      ...(rowFinal && { finalized_at: final.map((f) => f.finalized_at!).sort().at(-1) }),
      ...(opts.windows && { windows: windowsOf(b, opts.windows.granularity, opts.period, opts.now) }),
    };
  });
  const grand = {
    impressions: all.reduce((a, t) => a + t.impressions, 0),
    clicks: all.reduce((a, t) => a + t.clicks, 0),
    spend: sumAmounts(all.map((t) => t.spend)),
  };
  return {
    reporting_period: opts.period,
    currency: opts.currency ?? opts.fallbackCurrency ?? buys[0]?.currency ?? 'USD',
    ...(opts.currency !== null && { aggregated_totals: { impressions: grand.impressions, spend: Number(grand.spend), clicks: grand.clicks, media_buy_count: buys.length } }),
    media_buy_deliveries: deliveries,
    ...(buys.some((b) => b.packages.some((p) => p.days.some((d) => d.source === 'simulated'))) && { sandbox: true }),
  };
}
