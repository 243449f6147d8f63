/**
 * The offline ad server. A real implementation of the port: it keeps its orders
 * in its own schema (mock_ad_server), as a remote system would, with configurable
 * latency and failure injection. Ids are derived from the idempotency key, and a
 * repeated create with the same key returns the order already made. Delivery is
 * simulated from what the order was told (flight, line budgets and prices, and a
 * timeline of pauses), deterministically: the same order and clock give the same report.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { mockOrders } from '../../db/schema/index.js';
import { fromUnits, toUnits } from '../../domain/money.js';
import { AdapterError, type AdServerAdapter, type AdapterDeliveryRequest, type AdapterDeliveryRow, type AdapterOrderRequest, type AdapterOrderResult, type AdapterOrderUpdate, type AdapterPackage } from '../port.js';

export const MockSettings = z
  .object({
    latency_ms: z.coerce.number().int().min(0).max(600_000).default(0),
    /** Probability (0..1) that a call fails with a transient error. */
    failure_rate: z.coerce.number().min(0).max(1).default(0),
    /** The first N calls for each order fail transiently (deterministic retries for tests). */
    fail_first_attempts: z.coerce.number().int().min(0).default(0),
    /** Reject every order permanently with this reason (e.g. a policy rejection). */
    reject_reason: z.string().optional(),
    /** Reject orders whose buyer_ref contains this marker (permanent failure). */
    reject_marker: z.string().optional(),
  })
  .loose();
export type MockSettings = z.infer<typeof MockSettings>;

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/** A line item as the mock ad server stores it. */
export interface MockLine {
  id: string;
  budget: string;
  pricing_model: string;
  bid_price: string | null;
  impressions: string | null;
  video: boolean;
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

const DAY_MS = 86_400_000;
// Prices the mock assumes when an order carries no rate.
const DEFAULT_PRICE: Record<string, string> = { cpm: '12', cpc: '1.5', cpcv: '0.05', cpv: '0.05' };
/** A stable pseudo-random number in [0, 1) for a seed. */
const unit = (seed: string) => parseInt(digest(seed).slice(0, 8), 16) / 0x1_0000_0000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const toLine = (p: AdapterPackage): MockLine => ({
  id: p.packageId,
  budget: p.budget,
  pricing_model: p.pricingModel,
  bid_price: p.rate ?? p.bidPrice,
  impressions: p.impressions,
  video: /video/i.test(JSON.stringify(p.formatIds ?? [])),
});

/** Milliseconds of [a, b) during which the line was live (order active, line not paused or canceled). */
function liveMs(lineId: string, a: number, b: number, timeline: MockTimelineEvent[]): number {
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

/** `now` is the mock's clock; tests pin it. */
export function createMockAdapter(db: Db, rawSettings: Record<string, unknown>, now: () => Date = () => new Date()): AdServerAdapter {
  const settings = MockSettings.parse(rawSettings);
  const transientFailure = () => settings.failure_rate > 0 && Math.random() < settings.failure_rate;
  return {
    type: 'mock',
    async createOrder(req: AdapterOrderRequest, signal?: AbortSignal): Promise<AdapterOrderResult> {
      if (settings.latency_ms > 0) await sleep(settings.latency_ms, undefined, { signal });
      if (settings.reject_reason) throw new AdapterError(settings.reject_reason, true);
      if (settings.reject_marker && req.buyerRef?.includes(settings.reject_marker)) {
        throw new AdapterError(`order rejected by ad server policy (${settings.reject_marker})`, true);
      }
      if (settings.fail_first_attempts > 0) {
        // Count attempts on the ad server's side, so the count survives worker restarts.
        const rows = await db.execute<{ n: number }>(sql`
          insert into mock_ad_server.attempts (idempotency_key, n) values (${req.idempotencyKey}, 1)
          on conflict (idempotency_key) do update set n = mock_ad_server.attempts.n + 1
          returning n`);
        const n = Number(rows[0]?.n ?? 1);
        if (n <= settings.fail_first_attempts) throw new AdapterError(`mock ad server unavailable (attempt ${n})`, false);
      }
      if (transientFailure()) throw new AdapterError('mock ad server timed out', false);
      const h = digest(req.idempotencyKey);
      const orderId = `mock-order-${h.slice(0, 16)}`;
      const lineItems = Object.fromEntries(req.packages.map((p) => [p.packageId, `mock-li-${digest(`${req.idempotencyKey}/${p.packageId}`).slice(0, 16)}`]));
      const [row] = await db
        .insert(mockOrders)
        .values({
          idempotencyKey: req.idempotencyKey,
          orderId,
          advertiser: req.advertiser.externalId ?? req.advertiser.principalId,
          lineItems,
          request: {
            media_buy_id: req.mediaBuyId,
            currency: req.currency,
            total_budget: req.totalBudget,
            packages: req.packages.length,
            flight: { start: req.startTime.toISOString(), end: req.endTime.toISOString() },
            lines: req.packages.map(toLine),
            timeline: [],
          },
        })
        .onConflictDoUpdate({ target: mockOrders.idempotencyKey, set: { calls: sql`${mockOrders.calls} + 1` } })
        .returning({ orderId: mockOrders.orderId, lineItems: mockOrders.lineItems });
      return { externalOrderId: row!.orderId, lineItemIds: row!.lineItems };
    },
    async updateOrder(req: AdapterOrderUpdate, signal?: AbortSignal): Promise<void> {
      if (settings.latency_ms > 0) await sleep(settings.latency_ms, undefined, { signal });
      if (transientFailure()) throw new AdapterError('mock ad server timed out', false);
      const state = {
        last_update: req.idempotencyKey,
        start_time: req.startTime.toISOString(),
        end_time: req.endTime.toISOString(),
        packages: req.packages.map((p) => ({ id: p.packageId, budget: p.budget, status: p.status })),
        flight: { start: req.startTime.toISOString(), end: req.endTime.toISOString() },
        lines: req.packages.map(toLine),
      };
      // The timeline records when the order learnt of each change, so a pause stops delivery from then on.
      const event: MockTimelineEvent = { at: now().toISOString(), status: req.status, off: req.packages.filter((p) => p.status !== 'active').map((p) => p.packageId) };
      const rows = await db
        .update(mockOrders)
        .set({
          status: req.status === 'active' ? 'booked' : req.status,
          request: sql`${mockOrders.request} || ${JSON.stringify(state)}::jsonb
            || jsonb_build_object('timeline', coalesce(${mockOrders.request}->'timeline', '[]'::jsonb) || ${JSON.stringify([event])}::jsonb)`,
        })
        .where(sql`${mockOrders.orderId} = ${req.externalOrderId}`)
        .returning({ orderId: mockOrders.orderId });
      if (rows.length === 0) throw new AdapterError(`order ${req.externalOrderId} does not exist at the mock ad server`, true);
    },
    async getDelivery(req: AdapterDeliveryRequest, signal?: AbortSignal): Promise<AdapterDeliveryRow[]> {
      if (settings.latency_ms > 0) await sleep(settings.latency_ms, undefined, { signal });
      if (transientFailure()) throw new AdapterError('mock ad server timed out', false);
      const [row] = await db.select({ request: mockOrders.request }).from(mockOrders).where(sql`${mockOrders.orderId} = ${req.externalOrderId}`);
      if (!row) throw new AdapterError(`order ${req.externalOrderId} does not exist at the mock ad server`, true);
      const r = row.request as Partial<MockOrderState>;
      // Orders booked before the mock kept flights and lines have nothing to pace from.
      if (!r.flight || !r.lines) return [];
      const order: MockOrderState = { orderId: req.externalOrderId, flight: r.flight, lines: r.lines, timeline: r.timeline ?? [] };
      // Reports count whole hours up to now, so repeated reads within the hour agree.
      const horizon = Math.floor(now().getTime() / 3_600_000) * 3_600_000;
      const asked = new Set(req.packages.map((p) => p.packageId));
      const window = { fromDay: dayOf(req.from.getTime()), toDay: dayOf(req.to.getTime()), horizon };
      return order.lines.filter((l) => asked.has(l.id)).flatMap((l) => simulateLineDelivery(order, l, window));
    },
  };
}
