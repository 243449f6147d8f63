/**
 * Idempotency records. The claim itself happens inside the statement that does
 * the work (see create-media-buy.ts): a concurrent request with the same key
 * blocks on the primary key until the first commits, then finds it taken.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { idempotencyRecords } from '../schema/index.js';

/** How long a key replays its first answer (advertised in get_adcp_capabilities); after that it may be reused. */
export const IDEMPOTENCY_REPLAY_TTL_SECONDS = 86_400;

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

/**
 * Records past their replay window answer nothing (a key may then be reused), so they are deleted in
 * batches, found by age through a BRIN index: without this the table grows by one row, with its response,
 * for every keyed write ever made. Rows a concurrent request is reusing are skipped (locked) or found fresh
 * again (rechecked).
 */
export async function pruneIdempotencyRecords(db: Queryable, p: { olderThanSeconds: number; limit: number }): Promise<number> {
  const rows = await db.execute(sql`
    delete from idempotency_records where ctid = any(array(
      select ctid from idempotency_records
      where created_at < now() - make_interval(secs => ${p.olderThanSeconds})
      limit ${p.limit}
      for update skip locked))
    returning 1`);
  return rows.length;
}
