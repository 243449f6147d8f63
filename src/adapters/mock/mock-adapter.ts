/**
 * The offline ad server. A real implementation of the port: it keeps its orders
 * in its own schema (mock_ad_server), as a remote system would, with configurable
 * latency and failure injection. Ids are derived from the idempotency key, and a
 * repeated create with the same key returns the order already made.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { mockOrders } from '../../db/schema/index.js';
import { AdapterError, type AdServerAdapter, type AdapterOrderRequest, type AdapterOrderResult, type AdapterOrderUpdate } from '../port.js';

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

export function createMockAdapter(db: Db, rawSettings: Record<string, unknown>): AdServerAdapter {
  const settings = MockSettings.parse(rawSettings);
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
      if (settings.failure_rate > 0 && Math.random() < settings.failure_rate) {
        throw new AdapterError('mock ad server timed out', false);
      }
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
          request: { media_buy_id: req.mediaBuyId, currency: req.currency, total_budget: req.totalBudget, packages: req.packages.length },
        })
        .onConflictDoUpdate({ target: mockOrders.idempotencyKey, set: { calls: sql`${mockOrders.calls} + 1` } })
        .returning({ orderId: mockOrders.orderId, lineItems: mockOrders.lineItems });
      return { externalOrderId: row!.orderId, lineItemIds: row!.lineItems };
    },
    async updateOrder(req: AdapterOrderUpdate, signal?: AbortSignal): Promise<void> {
      if (settings.latency_ms > 0) await sleep(settings.latency_ms, undefined, { signal });
      if (settings.failure_rate > 0 && Math.random() < settings.failure_rate) throw new AdapterError('mock ad server timed out', false);
      const rows = await db
        .update(mockOrders)
        .set({
          status: req.status === 'active' ? 'booked' : req.status,
          request: sql`${mockOrders.request} || ${JSON.stringify({ last_update: req.idempotencyKey, start_time: req.startTime.toISOString(), end_time: req.endTime.toISOString(), packages: req.packages.map((p) => ({ id: p.packageId, budget: p.budget, status: p.status })) })}::jsonb`,
        })
        .where(sql`${mockOrders.orderId} = ${req.externalOrderId}`)
        .returning({ orderId: mockOrders.orderId });
      if (rows.length === 0) throw new AdapterError(`order ${req.externalOrderId} does not exist at the mock ad server`, true);
    },
  };
}
