/**
 * The mock ad server's delivery model: budget spread evenly over the flight,
 * a per-line delivery rate and a per-day wobble derived from the ids (so the
 * same order and clock always report the same numbers), nothing while a line
 * was paused, counts following from the price (CPM, CPC, CPCV, flat rate).
 */
import { createHash } from 'node:crypto';
import { fromUnits, toUnits } from '../../domain/money.js';
import type { AdapterDeliveryRow, AdapterPackage } from '../port.js';

export const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/** A line item as the mock ad server stores it. */
export interface MockLine {
  id: string;
  budget: string;
  pricing_model: string;
  bid_price: string | null;
  impressions: string | null;
  video: boolean;
  /** The line's targeting as the ad server holds it (the pacing does not model it). */
  targeting?: Record<string, unknown> | null;
}
/** From `at` on, the order has `status` and the lines in `off` are paused or canceled. */
export interface MockTimelineEvent {
  at: string;
  status: string;
  off: string[];
}
export interface MockOrderState {
  orderId: string;
  flight: { start: string; end: string };
  lines: MockLine[];
  timeline: MockTimelineEvent[];
}

export const DAY_MS = 86_400_000;
// Prices the mock assumes when an order carries no rate.
const DEFAULT_PRICE: Record<string, string> = { cpm: '12', cpc: '1.5', cpcv: '0.05', cpv: '0.05' };
/** A stable pseudo-random number in [0, 1) for a seed. */
const unit = (seed: string) => parseInt(digest(seed).slice(0, 8), 16) / 0x1_0000_0000;
export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export const toLine = (p: AdapterPackage): MockLine => ({
  id: p.packageId,
  budget: p.budget,
  pricing_model: p.pricingModel,
  bid_price: p.rate ?? p.bidPrice,
  impressions: p.impressions,
  video: /video/i.test(JSON.stringify(p.formatIds ?? [])),
  targeting: p.targeting,
});

/** Milliseconds of [a, b) during which the line was live (order active, line not paused or canceled). */
function liveMs(lineId: string, a: number, b: number, timeline: MockTimelineEvent[]): number {
  // Empty when the flight began after the last whole hour reported (b is then before a).
  if (b <= a) return 0;
  let total = 0;
  let t = a;
  let live = true;
  for (const e of timeline) {
    const at = Date.parse(e.at);
    if (at >= b) break;
    if (at > t) {
      if (live) total += at - t;
      t = at;
    }
    live = e.status === 'active' && !e.off.includes(lineId);
  }
  return live ? total + (b - t) : total;
}

/**
 * Even pacing: each live millisecond of the flight earns its share of the line's budget, scaled by
 * a per-line delivery rate (90-100%) and a per-day wobble (80-120%), never above the budget in
 * total. Counts follow from the price: impressions at the CPM, clicks at the CPC, completions at the CPCV.
 * Days from the flight start to the horizon are computed (for the budget cap); days before `fromDay` are dropped.
 */
export function simulateLineDelivery(o: MockOrderState, line: MockLine, p: { fromDay: string; toDay: string; horizon: number }): AdapterDeliveryRow[] {
  const [start, end] = [Date.parse(o.flight.start), Date.parse(o.flight.end)];
  const stop = Math.min(end, p.horizon);
  const budget = toUnits(line.budget);
  const seed = `${o.orderId}/${line.id}`;
  const rate = 0.9 + 0.1 * unit(`${seed}/rate`);
  const ctr = 0.001 + 0.004 * unit(`${seed}/ctr`);
  const vcr = 0.65 + 0.25 * unit(`${seed}/vcr`);
  const model = line.pricing_model;
  const priceOf = (m: string) => {
    const u = toUnits(line.bid_price ?? DEFAULT_PRICE[m]!);
    return u > 0n ? u : 1n;
  };
  const cpm = line.bid_price == null && line.impressions && model === 'cpm' ? (budget * 1000n) / (BigInt(line.impressions) || 1n) : priceOf('cpm');
  const rows: AdapterDeliveryRow[] = [];
  let spent = 0n;
  for (let d = Date.parse(`${dayOf(start)}T00:00:00Z`); d < stop && dayOf(d) <= p.toDay; d += DAY_MS) {
    const live = liveMs(line.id, Math.max(d, start), Math.min(d + DAY_MS, stop), o.timeline);
    const wobble = 0.8 + 0.4 * unit(`${seed}/${dayOf(d)}`);
    let target = BigInt(Math.floor(Number(budget) * (live / Math.max(1, end - start)) * rate * wobble));
    if (target > budget - spent) target = budget - spent;
    let impressions: bigint, clicks: bigint, completions: bigint, spend: bigint;
    if (model === 'cpc') {
      clicks = target / priceOf('cpc');
      [spend, impressions, completions] = [clicks * priceOf('cpc'), BigInt(Math.floor(Number(clicks) / ctr)), 0n];
    } else if (model === 'cpcv' || model === 'cpv') {
      completions = target / priceOf('cpcv');
      [spend, impressions, clicks] = [completions * priceOf('cpcv'), BigInt(Math.floor(Number(completions) / vcr)), 0n];
    } else {
      impressions = (target * 1000n) / (cpm || 1n);
      spend = model === 'flat_rate' ? target : (impressions * cpm) / 1000n;
      [clicks, completions] = [BigInt(Math.floor(Number(impressions) * ctr)), 0n];
    }
    if (line.video && completions === 0n) completions = BigInt(Math.floor(Number(impressions) * vcr));
    spent += spend;
    if (dayOf(d) < p.fromDay || (impressions === 0n && spend === 0n)) continue;
    rows.push({ packageId: line.id, day: dayOf(d), impressions: Number(impressions), clicks: Number(clicks), ...(line.video && { videoCompletions: Number(completions) }), spend: fromUnits(spend) });
  }
  return rows;
}

