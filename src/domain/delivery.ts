/**
 * Delivery arithmetic and the get_media_buy_delivery wire shape, over the rows
 * of delivery_reports (one per package per day). Pure: money stays a decimal
 * string until it is put on the wire.
 */
import { sumAmounts } from './money.js';
import { windowEndAfter, windowFloor, type ReportingFrequency } from './reporting.js';
import { toAdcpMediaBuyStatus } from './status.js';

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
  currency: string;
  start_time: string;
  packages: DeliveryPackage[];
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

/**
 * AdCP 3.1 windowed pull: the buy's delivery in contiguous UTC windows at the
 * granularity asked for, partitioning the reporting period (the same windows a
 * reporting webhook at that frequency reports). Final once the window has
 * ended and the day's numbers are the ad server's, not a simulation.
 */
function windowsOf(b: DeliveryBuy, freq: ReportingFrequency, period: { start: string; end: string }, now: Date): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const end = new Date(period.end);
  for (let start = windowFloor(freq, new Date(period.start)); start < end; ) {
    const next = windowEndAfter(freq, start);
    const from = start.toISOString().slice(0, 10);
    const to = next.toISOString().slice(0, 10);
    const inWindow = (d: DeliveryDay) => d.day >= from && d.day < to;
    const byPackage = b.packages.map((p) => ({ package_id: p.id, ...wireMetrics(totalsOf(p.days.filter(inWindow))) }));
    const days = b.packages.flatMap((p) => p.days.filter(inWindow));
    out.push({
      window_start: start.toISOString(),
      window_end: next.toISOString(),
      totals: wireMetrics(totalsOf(days)),
      by_package: byPackage,
      is_final: next <= now && days.every((d) => d.source !== 'simulated'),
    });
    start = next;
  }
  return out;
}

export function deliveryResponse(
  buys: DeliveryBuy[],
  opts: { daily: boolean; period: { start: string; end: string }; currency: string; windows?: { granularity: ReportingFrequency; now: Date } },
): Record<string, unknown> {
  const all: Totals[] = [];
  const deliveries = buys.map((b) => {
    const byPackage = b.packages.map((p) => {
      const t = totalsOf(p.days);
      all.push(t);
      return {
        package_id: p.id,
        ...(p.buyer_ref && { buyer_ref: p.buyer_ref }),
        ...wireMetrics(t),
        pricing_model: p.pricing_model,
        rate: rateOf(p, t),
        currency: b.currency,
        paused: p.status === 'paused',
        ...(opts.daily && { daily_breakdown: p.days.map((d) => ({ date: d.day, impressions: d.impressions, spend: Number(d.spend) })) }),
      };
    });
    const models = new Set(b.packages.map((p) => p.pricing_model));
    return {
      media_buy_id: b.id,
      ...(b.buyer_ref && { buyer_ref: b.buyer_ref }),
      status: toAdcpMediaBuyStatus(b.status),
      ...(models.size === 1 && { pricing_model: [...models][0] }),
      totals: wireMetrics(totalsOf(b.packages.flatMap((p) => p.days))),
      by_package: byPackage,
      ...(opts.windows && { windows: windowsOf(b, opts.windows.granularity, opts.period, opts.windows.now) }),
    };
  });
  const grand = {
    impressions: all.reduce((a, t) => a + t.impressions, 0),
    clicks: all.reduce((a, t) => a + t.clicks, 0),
    spend: sumAmounts(all.map((t) => t.spend)),
  };
  return {
    reporting_period: opts.period,
    currency: opts.currency,
    aggregated_totals: { impressions: grand.impressions, spend: Number(grand.spend), clicks: grand.clicks, media_buy_count: buys.length },
    media_buy_deliveries: deliveries,
    ...(buys.some((b) => b.packages.some((p) => p.days.some((d) => d.source === 'simulated'))) && { sandbox: true }),
  };
}
