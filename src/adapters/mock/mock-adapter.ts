/**
 * The offline ad server. A real implementation of the port: it keeps its orders
 * in its own schema (mock_ad_server), as a remote system would, with configurable
 * latency and failure injection. Ids are derived from the idempotency key, and a
 * repeated create with the same key returns the order already made. Delivery is
 * simulated from what the order was told (flight, line budgets and prices, and a
 * timeline of pauses), deterministically: the same order and clock give the same report.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { mockOrders } from '../../db/schema/index.js';
import { AdapterError, type AdServerAdapter, type AdapterDeliveryRequest, type AdapterDeliveryRow, type AdapterOrderRequest, type AdapterOrderResult, type AdapterOrderUpdate } from '../port.js';
import { dayOf, digest, simulateLineDelivery, toLine, type MockOrderState, type MockTimelineEvent } from './pacing.js';

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
