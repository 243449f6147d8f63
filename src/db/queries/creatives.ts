/** Creatives and their assignments, scoped by tenant and principal. */
import { and, eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { creativeAssignments, creatives, mediaPackages } from '../schema/index.js';

export async function existingCreativeIds(db: Queryable, p: { tenantId: string; principalId: string; ids: string[] }): Promise<Set<string>> {
  if (p.ids.length === 0) return new Set();
  const rows = await db
    .select({ id: creatives.id })
    .from(creatives)
    .where(and(eq(creatives.tenantId, p.tenantId), eq(creatives.principalId, p.principalId), inArray(creatives.id, p.ids)));
  return new Set(rows.map((r) => r.id));
}

export async function mediaBuyHasCreatives(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<boolean> {
  const rows = await db
    .select({ id: creativeAssignments.creativeId })
    .from(creativeAssignments)
    .innerJoin(mediaPackages, eq(mediaPackages.id, creativeAssignments.packageId))
    .where(and(eq(mediaPackages.tenantId, p.tenantId), eq(mediaPackages.mediaBuyId, p.mediaBuyId)))
    .limit(1);
  return rows.length > 0;
}
