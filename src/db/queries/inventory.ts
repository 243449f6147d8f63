/** Products with their pricing options, properties and formats, scoped by tenant (and principal for restricted products). */
import { and, arrayContains, asc, eq, inArray, isNull, or } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { creativeFormats, pricingOptions, products, publisherProperties } from '../schema/index.js';

export type ProductRow = typeof products.$inferSelect;
export type PricingOptionRow = typeof pricingOptions.$inferSelect;
export interface ProductWithPricing extends ProductRow {
  pricing: PricingOptionRow[];
}

/** Products visible to a caller: unrestricted ones, plus those restricted to this principal. */
function visibleTo(principalId: string | null) {
  return principalId
    ? or(isNull(products.allowedPrincipalIds), arrayContains(products.allowedPrincipalIds, [principalId]))
    : isNull(products.allowedPrincipalIds);
}

export async function listProducts(
  db: Queryable,
  p: {
    tenantId: string;
    principalId: string | null;
    ids?: string[];
    includeRestricted?: boolean;
    /** The console's view: archived products too, after the active ones. */
    includeArchived?: boolean;
  },
): Promise<ProductWithPricing[]> {
  const where = and(
    eq(products.tenantId, p.tenantId),
    p.includeArchived ? undefined : eq(products.archived, false),
    p.includeRestricted ? undefined : visibleTo(p.principalId),
    p.ids ? inArray(products.id, p.ids) : undefined,
  );
  const [rows, prices] = await Promise.all([
    db.select().from(products).where(where).orderBy(...(p.includeArchived ? [asc(products.archived)] : []), asc(products.id)),
    db
      .select()
      .from(pricingOptions)
      .where(and(eq(pricingOptions.tenantId, p.tenantId), p.ids ? inArray(pricingOptions.productId, p.ids) : undefined))
      .orderBy(asc(pricingOptions.id)),
  ]);
  const byProduct = new Map<string, PricingOptionRow[]>();
  for (const po of prices) {
    const list = byProduct.get(po.productId) ?? [];
    list.push(po);
    byProduct.set(po.productId, list);
  }
  return rows.map((r) => ({ ...r, pricing: byProduct.get(r.id) ?? [] }));
}

/** The console's catalogue: every product of the tenant, restricted and archived ones too (archived last), or just the one with this id. */
export function tenantProducts(db: Queryable, tenantId: string, id?: string): Promise<ProductWithPricing[]> {
  return listProducts(db, { tenantId, principalId: null, includeRestricted: true, includeArchived: true, ...(id && { ids: [id] }) });
}

export async function listProperties(db: Queryable, tenantId: string) {
  return db.select().from(publisherProperties).where(eq(publisherProperties.tenantId, tenantId)).orderBy(asc(publisherProperties.id));
}

export async function listFormats(db: Queryable, tenantId: string) {
  return db.select().from(creativeFormats).where(eq(creativeFormats.tenantId, tenantId)).orderBy(asc(creativeFormats.id));
}
