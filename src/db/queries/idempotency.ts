/**
 * Idempotency records. The claim itself happens inside the statement that does
 * the work (see create-media-buy.ts): a concurrent request with the same key
 * blocks on the primary key until the first commits, then finds it taken.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { idempotencyRecords } from '../schema/index.js';

export interface StoredResponse {
  requestHash: string;
  response: Record<string, unknown> | null;
  /** False once the replay window has passed: the key may then be reused. */
  fresh: boolean;
}

export async function readIdempotentResponse(db: Queryable, p: { tenantId: string; principalId: string; tool: string; key: string; ttlSeconds: number }): Promise<StoredResponse | undefined> {
  const [row] = await db
    .select({
      requestHash: idempotencyRecords.requestHash,
      response: idempotencyRecords.response,
      fresh: sql<boolean>`${idempotencyRecords.createdAt} >= now() - make_interval(secs => ${p.ttlSeconds})`,
    })
    .from(idempotencyRecords)
    .where(
      and(
        eq(idempotencyRecords.tenantId, p.tenantId),
        eq(idempotencyRecords.principalId, p.principalId),
        eq(idempotencyRecords.tool, p.tool),
        eq(idempotencyRecords.key, p.key),
      ),
    );
  return row;
}
