/**
 * Idempotent mutations for tools that write in a transaction (update_media_buy,
 * sync_creatives...): same key and same request replays the stored response;
 * same key, different request is IDEMPOTENCY_CONFLICT. The record is written in
 * the mutation's own transaction, so a failed attempt does not burn the key, and
 * of two concurrent attempts the second waits on the key and then replays.
 * (create_media_buy does the same inside its single statement.)
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import { IDEMPOTENCY_REPLAY_TTL_SECONDS, readIdempotentResponse } from '../db/queries/idempotency.js';
import { idempotencyRecords } from '../db/schema/index.js';
import { AdcpError } from '../domain/errors.js';
import { hashJson } from '../domain/ids.js';
import type { BuyerContext } from './context.js';

class KeyTaken extends Error {}

export const idempotencyConflict = () =>
  new AdcpError('IDEMPOTENCY_CONFLICT', 'This idempotency_key was already used with a different request.', {
    field: 'idempotency_key',
    suggestion: 'Use a fresh idempotency_key for a new change, or resend the original request unchanged to get its result.',
  });

const FLIGHT_FIELDS = new Set(['start_time', 'end_time']);

/** Flight times to the hour: a retry that recomputes "now + 24h" is the same request. */
function coarseTimes(value: unknown, key?: string): unknown {
  if (typeof value === 'string' && key && FLIGHT_FIELDS.has(key)) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? value : d.toISOString().slice(0, 13);
  }
  if (Array.isArray(value)) return value.map((v) => coarseTimes(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, coarseTimes(v, k)]));
  return value;
}

/** The request minus fields that may differ between honest retries (the version fields only choose the response's shape). */
export function requestFingerprint(input: Record<string, unknown>): string {
  const { context: _c, idempotency_key: _k, adcp_major_version: _v, adcp_version: _r, ...rest } = input;
  return hashJson(coarseTimes(rest));
}

export async function idempotentMutation(
  ctx: BuyerContext,
  tool: string,
  input: Record<string, unknown> & { idempotency_key?: string },
  mutate: (tx: Tx) => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  const key = input.idempotency_key;
  if (!key) return ctx.db.transaction(mutate);
  const ref = { tenantId: ctx.tenant.id, principalId: ctx.principal.id, tool, key, ttlSeconds: IDEMPOTENCY_REPLAY_TTL_SECONDS };
  const requestHash = requestFingerprint(input);
  const replay = async () => {
    const stored = await readIdempotentResponse(ctx.db, ref);
    if (!stored?.fresh || stored.requestHash !== requestHash || !stored.response) throw idempotencyConflict();
    return { ...stored.response, replayed: true };
  };
  const previous = await readIdempotentResponse(ctx.db, ref);
  if (previous?.fresh) return replay();
  try {
    return await ctx.db.transaction(async (tx) => {
      // The key is claimed before the mutation, so a concurrent attempt with it waits here (not on the rows the mutation
      // locks) until this one commits, and replays its answer: run after it, it would see its own change as done and fail
      // (a second cancel of the buy this one canceled). A failed mutation rolls the claim back, so the key stays free.
      const claimed = await tx
        .insert(idempotencyRecords)
        .values({ tenantId: ref.tenantId, principalId: ref.principalId, tool, key, requestHash, response: null })
        .onConflictDoUpdate({
          target: [idempotencyRecords.tenantId, idempotencyRecords.principalId, idempotencyRecords.tool, idempotencyRecords.key],
          set: { requestHash, response: null, createdAt: sql`now()` },
          setWhere: sql`${idempotencyRecords.createdAt} < now() - make_interval(secs => ${ref.ttlSeconds})`,
        })
        .returning({ key: idempotencyRecords.key });
      if (claimed.length === 0) throw new KeyTaken();
      const response = await mutate(tx);
      await tx
        .update(idempotencyRecords)
        .set({ response })
        .where(and(eq(idempotencyRecords.tenantId, ref.tenantId), eq(idempotencyRecords.principalId, ref.principalId), eq(idempotencyRecords.tool, tool), eq(idempotencyRecords.key, key)));
      return response;
    });
  } catch (err) {
    if (err instanceof KeyTaken) return replay();
    throw err;
  }
}
