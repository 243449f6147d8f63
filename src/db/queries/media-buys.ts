/** Media buys and packages. Every read is scoped by tenant and principal, except the worker's loadForFulfilment (tenant only). */
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { inSnapshot, type Queryable } from '../client.js';
import { adapterOrders, mediaBuys, mediaPackages, workflowSteps } from '../schema/index.js';

export type MediaBuyRow = typeof mediaBuys.$inferSelect;
export type NewMediaBuy = typeof mediaBuys.$inferInsert;
export type PackageRow = typeof mediaPackages.$inferSelect;
export type AdapterOrderRow = typeof adapterOrders.$inferSelect;
export type WorkflowStepRow = typeof workflowSteps.$inferSelect;

export interface MediaBuyDetail {
  buy: MediaBuyRow;
  packages: PackageRow[];
  adapterOrders: AdapterOrderRow[];
  steps: WorkflowStepRow[];
}

/** A buy's creation time at the cursors' precision, as media_buys_principal_recent_idx indexes it (UTC wall clock). */
const NEWEST_FIRST = sql`date_trunc('milliseconds', ${mediaBuys.createdAt} at time zone 'UTC')`;

async function withChildren(db: Queryable, buys: MediaBuyRow[]): Promise<MediaBuyDetail[]> {
  if (buys.length === 0) return [];
  const ids = buys.map((b) => b.id);
  const [pkgs, orders, steps] = await Promise.all([
    db.select().from(mediaPackages).where(inArray(mediaPackages.mediaBuyId, ids)).orderBy(asc(mediaPackages.position), asc(mediaPackages.createdAt), asc(mediaPackages.id)),
    db.select().from(adapterOrders).where(inArray(adapterOrders.mediaBuyId, ids)).orderBy(asc(adapterOrders.createdAt)),
    db.select().from(workflowSteps).where(inArray(workflowSteps.mediaBuyId, ids)).orderBy(asc(workflowSteps.createdAt)),
  ]);
  return buys.map((buy) => ({
    buy,
    packages: pkgs.filter((p) => p.mediaBuyId === buy.id),
    adapterOrders: orders.filter((o) => o.mediaBuyId === buy.id),
    steps: steps.filter((s) => s.mediaBuyId === buy.id),
  }));
}

export function getMediaBuy(db: Queryable, p: { tenantId: string; principalId: string; id: string }): Promise<MediaBuyDetail | undefined> {
  return inSnapshot(db, async (q) => {
    const rows = await q
      .select()
      .from(mediaBuys)
      .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.id)))
      .limit(1);
    return (await withChildren(q, rows))[0];
  });
}

export function listMediaBuys(
  db: Queryable,
  p: { tenantId: string; principalId: string; ids?: string[]; buyerRefs?: string[]; statuses?: string[]; accountId?: string; limit: number; before?: { createdAt: Date; id: string } },
): Promise<MediaBuyDetail[]> {
  return inSnapshot(db, (q) => listIn(q, p));
}

async function listIn(db: Queryable, p: Parameters<typeof listMediaBuys>[1]): Promise<MediaBuyDetail[]> {
  const rows = await db
    .select()
    .from(mediaBuys)
    .where(
      and(
        eq(mediaBuys.tenantId, p.tenantId),
        eq(mediaBuys.principalId, p.principalId),
        p.ids?.length ? inArray(mediaBuys.id, p.ids) : undefined,
        p.buyerRefs?.length ? inArray(mediaBuys.buyerRef, p.buyerRefs) : undefined,
        p.statuses?.length ? inArray(mediaBuys.status, p.statuses) : undefined,
        p.accountId ? eq(mediaBuys.accountId, p.accountId) : undefined,
        p.before
          ? sql`(${NEWEST_FIRST}, ${mediaBuys.id}) < (${p.before.createdAt.toISOString()}::timestamp, ${p.before.id})`
          : undefined,
      ),
    )
    // Cursors carry milliseconds (JS dates); order at that precision too so no row falls between pages.
    .orderBy(desc(NEWEST_FIRST), desc(mediaBuys.id))
    .limit(p.limit);
  return withChildren(db, rows);
}

export async function lockMediaBuy(db: Queryable, p: { tenantId: string; id: string }): Promise<MediaBuyRow | undefined> {
  const [row] = await db
    .select()
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id)))
    .for('update');
  return row;
}

export async function updateMediaBuy(db: Queryable, p: { tenantId: string; id: string }, set: Partial<NewMediaBuy>): Promise<void> {
  await db
    .update(mediaBuys)
    .set({ ...set, updatedAt: sql`now()` })
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id)));
}

