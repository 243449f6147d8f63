/**
 * Idempotency records, claimed inside the caller's transaction. A concurrent
 * request with the same key blocks on the primary key until the first commits,
 * then sees its stored response; a rolled-back first attempt leaves no trace.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { idempotencyRecords } from '../schema/index.js';

export type Claim = { kind: 'new' } | { kind: 'replay'; response: Record<string, unknown> } | { kind: 'conflict' };

export async function claimIdempotencyKey(
  db: Queryable,
  p: { tenantId: string; principalId: string; tool: string; key: string; requestHash: string; ttlSeconds: number },
): Promise<Claim> {
  const claimed = await db
    .insert(idempotencyRecords)
    .values({ tenantId: p.tenantId, principalId: p.principalId, tool: p.tool, key: p.key, requestHash: p.requestHash })
    .onConflictDoUpdate({
      target: [idempotencyRecords.tenantId, idempotencyRecords.principalId, idempotencyRecords.tool, idempotencyRecords.key],
      set: { requestHash: p.requestHash, response: null, createdAt: sql`now()` },
      // An expired record is taken over as if it were new.
      setWhere: sql`${idempotencyRecords.createdAt} < now() - make_interval(secs => ${p.ttlSeconds})`,
    })
    .returning({ key: idempotencyRecords.key });
  if (claimed.length > 0) return { kind: 'new' };
  const [existing] = await db
    .select({ requestHash: idempotencyRecords.requestHash, response: idempotencyRecords.response })
    .from(idempotencyRecords)
    .where(
      and(
        eq(idempotencyRecords.tenantId, p.tenantId),
        eq(idempotencyRecords.principalId, p.principalId),
        eq(idempotencyRecords.tool, p.tool),
        eq(idempotencyRecords.key, p.key),
      ),
    );
  if (!existing || existing.requestHash !== p.requestHash) return { kind: 'conflict' };
  return existing.response ? { kind: 'replay', response: existing.response } : { kind: 'conflict' };
}

export async function saveIdempotentResponse(
  db: Queryable,
  p: { tenantId: string; principalId: string; tool: string; key: string; response: Record<string, unknown> },
): Promise<void> {
  await db
    .update(idempotencyRecords)
    .set({ response: p.response })
    .where(
      and(
        eq(idempotencyRecords.tenantId, p.tenantId),
        eq(idempotencyRecords.principalId, p.principalId),
        eq(idempotencyRecords.tool, p.tool),
        eq(idempotencyRecords.key, p.key),
      ),
    );
}
