/**
 * The mock ad server's delivery model: budget spread evenly over the flight,
 * a per-line delivery rate and a per-day wobble derived from the ids (so the
 * same order and clock always report the same numbers), nothing while a line
 * was paused, counts following from the price (CPM, CPC, CPCV, flat rate).
 * Each moment is paced by the plan (flight, line budgets) in force then, so a
 * change never restates what was delivered before it.
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
/** From `at` on (until the next plan), the order is booked with this flight and these lines. */
export interface MockPlan {
  at: string;
  flight: { start: string; end: string };
  lines: MockLine[];
}
export interface MockOrderState {
  orderId: string;
  /** The flight and lines as booked, then as each update left them, in the order the ad server learnt of them. */
  plans: MockPlan[];
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

/** How a line paces while a plan is in force: `remaining` spread over [from, end). */
interface Pace {
  budget: bigint;
  remaining: bigint;
  from: number;
  end: number;
}

/**
 * Even pacing: each live millisecond earns its share of what the line has left to spend over what is left of
 * its flight, scaled by a per-line delivery rate (90-100%) and a per-day wobble (80-120%), never above the
 * line's budget in force. Delivery up to a moment depends only on the plans in force until then: a change
 * of budget or flight re-paces what is left from the moment the ad server learnt of it, and never restates
 * what was delivered before (a budget cut below that stops the line). Pauses only stop the clock's earning.
 * Counts follow from the price: impressions at the CPM, clicks at the CPC, completions at the CPCV.
 * Days from the flight start to the horizon are computed (for the budget cap); days before `fromDay` are dropped.
 */
export function simulateLineDelivery(o: MockOrderState, lineId: string, p: { fromDay: string; toDay: string; horizon: number }): AdapterDeliveryRow[] {
  // Each plan holding the line, over the span it was in force.
  const spans = o.plans
    .map((plan, i) => ({ plan, line: plan.lines.find((l) => l.id === lineId), at: Date.parse(plan.at), until: Date.parse(o.plans[i + 1]?.at ?? '9999-12-31T00:00:00Z') }))
    .filter((s): s is typeof s & { line: MockLine } => !!s.line && s.until > s.at);
  if (spans.length === 0) return [];
  const first = Math.min(...spans.map((s) => Date.parse(s.plan.flight.start)));
  const stop = Math.min(p.horizon, Math.max(...spans.map((s) => Math.min(Date.parse(s.plan.flight.end), s.until))));
  const seed = `${o.orderId}/${lineId}`;
  const rate = 0.9 + 0.1 * unit(`${seed}/rate`);
  const ctr = 0.001 + 0.004 * unit(`${seed}/ctr`);
  const vcr = 0.65 + 0.25 * unit(`${seed}/vcr`);
  const paces: Pace[] = [];
  const rows: AdapterDeliveryRow[] = [];
  let spent = 0n;
  for (let d = Date.parse(`${dayOf(first)}T00:00:00Z`); d < stop && dayOf(d) <= p.toDay; d += DAY_MS) {
    const wobble = 0.8 + 0.4 * unit(`${seed}/${dayOf(d)}`);
    let [impressions, clicks, completions, spend] = [0n, 0n, 0n, 0n];
    for (const [i, s] of spans.entries()) {
      const [start, end] = [Date.parse(s.plan.flight.start), Date.parse(s.plan.flight.end)];
      const a = Math.max(d, s.at, start);
      const b = Math.min(d + DAY_MS, s.until, end, p.horizon);
      // The pace is set as the plan takes over (once the days reach it, after what came before it that day):
      // kept while budget and flight stay as they were, else what is left spread over what remains of the flight.
      if (!paces[i]) {
        if (d + DAY_MS <= s.at) continue;
        const prev = spans[i - 1];
        const kept = prev && paces[i - 1] && toUnits(prev.line.budget) === toUnits(s.line.budget) && prev.plan.flight.start === s.plan.flight.start && prev.plan.flight.end === s.plan.flight.end;
        const budget = toUnits(s.line.budget);
        paces[i] = kept ? paces[i - 1]! : { budget, remaining: budget - spent, from: Math.max(s.at, start), end };
      }
      if (b <= a) continue;
      const pace = paces[i]!;
      const live = liveMs(lineId, a, b, o.timeline);
      let target = pace.remaining > 0n ? BigInt(Math.floor(Number(pace.remaining) * (live / Math.max(1, pace.end - pace.from)) * rate * wobble)) : 0n;
      if (target > pace.budget - spent) target = pace.budget - spent > 0n ? pace.budget - spent : 0n;
      const got = counts(s.line, target, { ctr, vcr });
      [impressions, clicks, completions, spend] = [impressions + got.impressions, clicks + got.clicks, completions + got.completions, spend + got.spend];
      spent += got.spend;
    }
    if (dayOf(d) < p.fromDay || (impressions === 0n && spend === 0n)) continue;
    const video = spans.some((s) => s.line.video);
    rows.push({ packageId: lineId, day: dayOf(d), impressions: Number(impressions), clicks: Number(clicks), ...(video && { videoCompletions: Number(completions) }), spend: fromUnits(spend) });
  }
  return rows;
}

/** What a spend target buys on a line at its price: impressions at the CPM, clicks at the CPC, completions at the CPCV. */
function counts(line: MockLine, target: bigint, r: { ctr: number; vcr: number }): { impressions: bigint; clicks: bigint; completions: bigint; spend: bigint } {
  const model = line.pricing_model;
  const budget = toUnits(line.budget);
  const priceOf = (m: string) => {
    const u = toUnits(line.bid_price ?? DEFAULT_PRICE[m]!);
    return u > 0n ? u : 1n;
  };
  const cpm = line.bid_price == null && line.impressions && model === 'cpm' ? (budget * 1000n) / (BigInt(line.impressions) || 1n) : priceOf('cpm');
  let impressions: bigint, clicks: bigint, completions: bigint, spend: bigint;
  if (model === 'cpc') {
    clicks = target / priceOf('cpc');
    [spend, impressions, completions] = [clicks * priceOf('cpc'), BigInt(Math.floor(Number(clicks) / r.ctr)), 0n];
  } else if (model === 'cpcv' || model === 'cpv') {
    completions = target / priceOf('cpcv');
    [spend, impressions, clicks] = [completions * priceOf('cpcv'), BigInt(Math.floor(Number(completions) / r.vcr)), 0n];
  } else {
    impressions = (target * 1000n) / (cpm || 1n);
    spend = model === 'flat_rate' ? target : (impressions * cpm) / 1000n;
    [clicks, completions] = [BigInt(Math.floor(Number(impressions) * r.ctr)), 0n];
  }
  if (line.video && completions === 0n) completions = BigInt(Math.floor(Number(impressions) * r.vcr));
  return { impressions, clicks, completions, spend };
}
