/** Writes for update_media_buy, run inside the tool's transaction. Scoped by tenant and principal. */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { accounts, creativeAssignments, mediaBuys, mediaPackages } from '../schema/index.js';
import { packagesHaveCreatives } from './creatives.js';
import { isBooked, type MediaBuyRow, type PackageRow } from './media-buys.js';

export async function lockBuyForPrincipal(
  db: Queryable,
  p: { tenantId: string; principalId: string; id: string },
): Promise<{ buy: MediaBuyRow; packages: PackageRow[]; hasCreatives: boolean; booked: boolean; sandbox: boolean; accountStatus: string | null } | undefined> {
  const [buy] = await db
    .select()
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.id)))
    .for('update');
  if (!buy) return undefined;
  const packages = await db.select().from(mediaPackages).where(eq(mediaPackages.mediaBuyId, buy.id)).orderBy(mediaPackages.position, mediaPackages.createdAt, mediaPackages.id);
  const hasCreatives = await packagesHaveCreatives(db, packages.map((k) => k.id));
  const booked = await isBooked(db, { tenantId: p.tenantId, id: buy.id });
  const [account] = buy.accountId ? await db.select({ sandbox: accounts.sandbox, status: accounts.status }).from(accounts).where(eq(accounts.id, buy.accountId)) : [];
  return { buy, packages, hasCreatives, booked, sandbox: account?.sandbox ?? false, accountStatus: account?.status ?? null };
}

export async function updatePackage(
  db: Queryable,
  p: { mediaBuyId: string; id: string },
  set: Partial<Pick<typeof mediaPackages.$inferInsert, 'budget' | 'bidPrice' | 'pacing' | 'impressions' | 'status' | 'targeting'>>,
): Promise<void> {
  if (Object.keys(set).length === 0) return;
  await db.update(mediaPackages).set(set).where(and(eq(mediaPackages.mediaBuyId, p.mediaBuyId), eq(mediaPackages.id, p.id)));
}

export async function replaceAssignments(
  db: Queryable,
  p: { tenantId: string; principalId: string; packageId: string; assignments: { creative_id: string; weight: number | null }[] },
): Promise<void> {
  await db.delete(creativeAssignments).where(eq(creativeAssignments.packageId, p.packageId));
  if (p.assignments.length) {
    await db
      .insert(creativeAssignments)
      .values(p.assignments.map((a) => ({ tenantId: p.tenantId, principalId: p.principalId, creativeId: a.creative_id, packageId: p.packageId, weight: a.weight })))
      .onConflictDoNothing();
  }
}

export async function insertPackages(db: Queryable, rows: (typeof mediaPackages.$inferInsert)[]): Promise<void> {
  if (rows.length) await db.insert(mediaPackages).values(rows);
}

export async function cancelPackages(db: Queryable, mediaBuyId: string): Promise<void> {
  await db.update(mediaPackages).set({ status: 'canceled' }).where(and(eq(mediaPackages.mediaBuyId, mediaBuyId), sql`${mediaPackages.status} <> 'canceled'`));
}
