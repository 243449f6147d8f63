/** Adapter configurations per tenant. */
import { asc, eq } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { adapterConfigs } from '../schema/index.js';

export type AdapterConfigRow = typeof adapterConfigs.$inferSelect;

export async function listAdapterConfigs(db: Queryable, tenantId: string): Promise<AdapterConfigRow[]> {
  return db.select().from(adapterConfigs).where(eq(adapterConfigs.tenantId, tenantId)).orderBy(asc(adapterConfigs.createdAt));
}

