/**
 * The offline ad server. A real implementation of the port: it keeps its orders
 * in its own schema (mock_ad_server), as a remote system would, with configurable
 * latency and failure injection. Ids are derived from the idempotency key, and a
 * repeated create with the same key returns the order already made. Delivery is
 * simulated from what the order was told and when (each flight and line budgets and
 * prices it held, and a timeline of pauses), deterministically: the same order and
 * clock give the same report, and a change leaves the delivery before it as it was.
 * Failure injection is per adapter config (its settings), per operation:
 * transient failures (retried by the worker) or permanent rejections.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { mockCreatives, mockOrders } from '../../db/schema/index.js';
import {
  AdapterError,
  type AdServerAdapter,
  type AdapterCancelRequest,
  type AdapterCreativeAssignment,
  type AdapterCreativeUpload,
  type AdapterDeliveryRequest,
  type AdapterDeliveryRow,
  type AdapterOrderRequest,
  type AdapterOrderResult,
  type AdapterOrderUpdate,
} from '../port.js';
import { dayOf, digest, simulateLineDelivery, toLine, type MockLine, type MockOrderState, type MockPlan, type MockTimelineEvent } from './pacing.js';

/** The port's operations, as failure injection names them. */
export const MOCK_OPERATIONS = ['create_order', 'update_order', 'cancel_order', 'upload_creative', 'assign_creatives'] as const;
export type MockOperation = (typeof MOCK_OPERATIONS)[number];

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
    /** Per operation: the first N calls for each idempotency key fail transiently (fail_first_attempts is create_order's). */
    fail_first: z.partialRecord(z.enum(MOCK_OPERATIONS), z.coerce.number().int().min(0)).default({}),
    /** Per operation: every call fails permanently with this reason (reject_reason is create_order's). */
    reject: z.partialRecord(z.enum(MOCK_OPERATIONS), z.string()).default({}),
    /** The credential the adapter sends (a secret: sealed at rest, set through the console's secrets). */
    api_key: z.string().optional(),
    /** When set, the mock ad server refuses every call whose api_key differs, as a real one refuses bad credentials. */
    accepted_api_key: z.string().optional(),
  })
  .loose();
export type MockSettings = z.infer<typeof MockSettings>;

/**
 * The timeline of an order booked with its delivery (or some lines') switched off: off from the start of time,
 * so whatever the flight becomes (an update may move its start earlier), until an update turns them on. The
 * timeline is in the order the ad server learnt of changes: every update is stamped later.
 */
function bookedOff(req: AdapterOrderRequest): MockTimelineEvent[] {
  const off = req.packages.filter((p) => p.status !== 'active').map((p) => p.packageId);
  return req.status === 'active' && off.length === 0 ? [] : [{ at: new Date(0).toISOString(), status: req.status, off }];
}

/** `now` is the mock's clock; tests pin it. */
export function createMockAdapter(db: Db, rawSettings: Record<string, unknown>, now: () => Date = () => new Date()): AdServerAdapter {
  const settings = MockSettings.parse(rawSettings);
  const transientFailure = () => settings.failure_rate > 0 && Math.random() < settings.failure_rate;
  /** Latency, then the failures injected for this operation; `key` is the call's idempotency key. */
  const arrive = async (op: MockOperation, key: string, signal?: AbortSignal, extra?: () => void) => {
    if (settings.latency_ms > 0) await sleep(settings.latency_ms, undefined, { signal });
    if (settings.accepted_api_key !== undefined && settings.api_key !== settings.accepted_api_key) {
      throw new AdapterError('mock ad server: authentication failed (api_key not accepted)', true);
    }
    const reject = settings.reject[op] ?? (op === 'create_order' ? settings.reject_reason : undefined);
    if (reject) throw new AdapterError(reject, true);
    extra?.();
    const failFirst = settings.fail_first[op] ?? (op === 'create_order' ? settings.fail_first_attempts : 0);
    if (failFirst > 0) {
      // Count attempts on the ad server's side, so the count survives worker restarts.
      const counter = op === 'create_order' ? key : `${op}:${key}`;
      const rows = await db.execute<{ n: number }>(sql`
        insert into mock_ad_server.attempts (idempotency_key, n) values (${counter}, 1)
        on conflict (idempotency_key) do update set n = mock_ad_server.attempts.n + 1
        returning n`);
      const n = Number(rows[0]?.n ?? 1);
      if (n <= failFirst) throw new AdapterError(`mock ad server unavailable (${op}, attempt ${n})`, false);
    }
    if (transientFailure()) throw new AdapterError('mock ad server timed out', false);
  };
  return {
    type: 'mock',
    async createOrder(req: AdapterOrderRequest, signal?: AbortSignal): Promise<AdapterOrderResult> {
      await arrive('create_order', req.idempotencyKey, signal, () => {
        if (settings.reject_marker && req.buyerRef?.includes(settings.reject_marker)) {
          throw new AdapterError(`order rejected by ad server policy (${settings.reject_marker})`, true);
        }
      });
      const h = digest(req.idempotencyKey);
      const orderId = `mock-order-${h.slice(0, 16)}`;
      const lineItems = Object.fromEntries(req.packages.map((p) => [p.packageId, `mock-li-${digest(`${req.idempotencyKey}/${p.packageId}`).slice(0, 16)}`]));
      const request = {
        media_buy_id: req.mediaBuyId,
        currency: req.currency,
        total_budget: req.totalBudget,
        packages: req.packages.length,
        flight: { start: req.startTime.toISOString(), end: req.endTime.toISOString() },
        lines: req.packages.map(toLine),
        // Booked paused (the whole order, or some lines): off until an update turns them on.
        timeline: bookedOff(req),
        // As booked, from the start of time (the flight says when delivery may begin); updates add theirs.
        plans: [{ at: new Date(0).toISOString(), flight: { start: req.startTime.toISOString(), end: req.endTime.toISOString() }, lines: req.packages.map(toLine) }],
      };
      // Raw SQL rather than the query builder: this runs once per booking, and Drizzle's insert builder took
      // more of the worker's CPU than anything else in it (0.1-0.3 ms a call, walking every column).
      const [row] = await db.execute<{ order_id: string; line_items: Record<string, string> }>(sql`
        insert into mock_ad_server.orders (idempotency_key, order_id, advertiser, line_items, request, status)
        values (${req.idempotencyKey}, ${orderId}, ${req.advertiser.externalId ?? req.advertiser.principalId}, ${JSON.stringify(lineItems)}::jsonb, ${JSON.stringify(request)}::jsonb,
                ${req.status === 'paused' ? 'paused' : 'booked'})
        on conflict (idempotency_key) do update set calls = mock_ad_server.orders.calls + 1
        returning order_id, line_items`);
      return { externalOrderId: row!.order_id, lineItemIds: row!.line_items };
    },
    async updateOrder(req: AdapterOrderUpdate, signal?: AbortSignal): Promise<void> {
      await arrive('update_order', req.idempotencyKey, signal);
      const state = {
        last_update: req.idempotencyKey,
        start_time: req.startTime.toISOString(),
        end_time: req.endTime.toISOString(),
        packages: req.packages.map((p) => ({ id: p.packageId, budget: p.budget, status: p.status })),
        flight: { start: req.startTime.toISOString(), end: req.endTime.toISOString() },
        lines: req.packages.map(toLine),
      };
      // The timeline records when the order learnt of each change, so a pause stops delivery from then on; the
      // plans likewise, so a new budget or flight paces delivery from then on and leaves what came before as it was.
      const at = now().toISOString();
      const event: MockTimelineEvent = { at, status: req.status, off: req.packages.filter((p) => p.status !== 'active').map((p) => p.packageId) };
      const plan: MockPlan = { at, flight: state.flight, lines: state.lines };
      const rows = await db
        .update(mockOrders)
        .set({
          status: req.status === 'active' ? 'booked' : req.status,
          request: sql`${mockOrders.request} || ${JSON.stringify(state)}::jsonb
            || jsonb_build_object('timeline', coalesce(${mockOrders.request}->'timeline', '[]'::jsonb) || ${JSON.stringify([event])}::jsonb)
            || jsonb_build_object('plans', coalesce(${mockOrders.request}->'plans',
                 -- An order booked before the mock kept plans: what it held until now, from the start of time.
                 case when ${mockOrders.request} ? 'flight' then jsonb_build_array(jsonb_build_object('at', ${new Date(0).toISOString()}::text, 'flight', ${mockOrders.request}->'flight', 'lines', ${mockOrders.request}->'lines')) else '[]'::jsonb end)
               || ${JSON.stringify([plan])}::jsonb)`,
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
      const r = row.request as Partial<MockOrderState> & { flight?: MockPlan['flight']; lines?: MockLine[] };
      // Orders booked before the mock kept plans were paced on their latest flight and lines throughout.
      const plans = r.plans ?? (r.flight && r.lines ? [{ at: new Date(0).toISOString(), flight: r.flight, lines: r.lines }] : []);
      const order: MockOrderState = { orderId: req.externalOrderId, plans, timeline: r.timeline ?? [] };
      // Reports count whole hours up to now, so repeated reads within the hour agree.
      const horizon = Math.floor(now().getTime() / 3_600_000) * 3_600_000;
      const window = { fromDay: dayOf(req.from.getTime()), toDay: dayOf(req.to.getTime()), horizon };
      return [...new Set(req.packages.map((p) => p.packageId))].flatMap((id) => simulateLineDelivery(order, id, window));
    },
    async cancelOrder(req: AdapterCancelRequest, signal?: AbortSignal): Promise<void> {
      await arrive('cancel_order', req.idempotencyKey, signal);
      // By the create's key: an order that was never made has nothing to cancel.
      const event: MockTimelineEvent = { at: now().toISOString(), status: 'canceled', off: [] };
      await db
        .update(mockOrders)
        .set({ status: 'canceled', request: sql`jsonb_set(${mockOrders.request}, '{timeline}', coalesce(${mockOrders.request}->'timeline', '[]'::jsonb) || ${JSON.stringify([event])}::jsonb)` })
        .where(sql`${mockOrders.idempotencyKey} = ${req.idempotencyKey} and ${mockOrders.status} <> 'canceled'`);
    },
    async uploadCreative(req: AdapterCreativeUpload, signal?: AbortSignal): Promise<{ externalCreativeId: string }> {
      await arrive('upload_creative', req.idempotencyKey, signal);
      const content = { creative_id: req.creative.creativeId, name: req.creative.name, format_id: req.creative.formatId, assets: req.creative.assets };
      const [row] = await db
        .insert(mockCreatives)
        .values({ idempotencyKey: req.idempotencyKey, creativeId: `mock-cr-${digest(req.idempotencyKey).slice(0, 16)}`, advertiser: req.advertiser.externalId ?? req.advertiser.principalId, content })
        .onConflictDoUpdate({ target: mockCreatives.idempotencyKey, set: { content, calls: sql`${mockCreatives.calls} + 1`, updatedAt: sql`now()` } })
        .returning({ creativeId: mockCreatives.creativeId });
      return { externalCreativeId: row!.creativeId };
    },
    async assignCreatives(req: AdapterCreativeAssignment, signal?: AbortSignal): Promise<void> {
      await arrive('assign_creatives', req.idempotencyKey, signal);
      const ids = [...new Set(req.lineItems.flatMap((l) => l.creatives.map((c) => c.externalCreativeId)))];
      if (ids.length) {
        const known = await db.select({ id: mockCreatives.creativeId }).from(mockCreatives).where(inArray(mockCreatives.creativeId, ids));
        const missing = ids.filter((id) => !known.some((k) => k.id === id));
        if (missing.length) throw new AdapterError(`creatives ${missing.join(', ')} do not exist at the mock ad server`, true);
      }
      const creatives = Object.fromEntries(req.lineItems.map((l) => [l.packageId, l.creatives.map((c) => ({ creative_id: c.externalCreativeId, weight: c.weight }))]));
      const rows = await db
        .update(mockOrders)
        .set({ request: sql`${mockOrders.request} || jsonb_build_object('creatives', ${JSON.stringify(creatives)}::jsonb)` })
        .where(sql`${mockOrders.orderId} = ${req.externalOrderId}`)
        .returning({ orderId: mockOrders.orderId });
      if (rows.length === 0) throw new AdapterError(`order ${req.externalOrderId} does not exist at the mock ad server`, true);
    },
  };
}
