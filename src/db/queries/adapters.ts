/** Adapter configurations per tenant. */
import { and, asc, eq } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { adapterConfigs } from '../schema/index.js';

export type AdapterConfigRow = typeof adapterConfigs.$inferSelect;

export async function listAdapterConfigs(db: Queryable, tenantId: string): Promise<AdapterConfigRow[]> {
  return db.select().from(adapterConfigs).where(eq(adapterConfigs.tenantId, tenantId)).orderBy(asc(adapterConfigs.createdAt));
}

export async function getAdapterConfig(db: Queryable, p: { tenantId: string; id: string }): Promise<AdapterConfigRow | undefined> {
  const [row] = await db.select().from(adapterConfigs).where(and(eq(adapterConfigs.tenantId, p.tenantId), eq(adapterConfigs.id, p.id)));
  return row;
}
