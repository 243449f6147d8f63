/**
 * Per-tenant cache of what create_media_buy validates against (products with
 * pricing options, and adapter configurations; reading them on every call cost
 * three queries on the hot path) and of what discovery shows (publisher
 * properties, creative formats). Readers share the cached rows: never mutate
 * them. Entries die on a `catalog` change event (every process LISTENs) or
 * after TTL_MS, whichever comes first, so it never holds anything that
 * matters: Postgres stays the truth.
 */
import type { Db } from '../db/client.js';
import { listAdapterConfigs, type AdapterConfigRow } from '../db/queries/adapters.js';
import { listFormats, listProducts, listProperties, type ProductWithPricing } from '../db/queries/inventory.js';
import type { NotificationHub } from './notify.js';

const TTL_MS = 30_000;

export interface Catalog {
  /** Every live product of the tenant, restricted ones included. */
  products: ProductWithPricing[];
  adapters: AdapterConfigRow[];
  properties: Awaited<ReturnType<typeof listProperties>>;
  formats: Awaited<ReturnType<typeof listFormats>>;
}

export class CatalogCache {
  private readonly entries = new Map<string, { catalog: Promise<Catalog>; expires: number }>();

  constructor(
    private readonly db: Db,
    hub?: NotificationHub,
  ) {
    hub?.onEvent((e) => {
      if (e.kind === 'catalog') this.entries.delete(e.tenant_id);
    });
    hub?.onResync(() => this.entries.clear());
  }

  get(tenantId: string): Promise<Catalog> {
    const now = Date.now();
    const hit = this.entries.get(tenantId);
    if (hit && hit.expires > now) return hit.catalog;
    const catalog = Promise.all([
      listProducts(this.db, { tenantId, principalId: null, includeRestricted: true }),
      listAdapterConfigs(this.db, tenantId),
      listProperties(this.db, tenantId),
      listFormats(this.db, tenantId),
    ]).then(([products, adapters, properties, formats]) => ({ products, adapters, properties, formats }));
    this.entries.set(tenantId, { catalog, expires: now + TTL_MS });
    catalog.catch(() => this.entries.delete(tenantId));
    return catalog;
  }

  /** Products of the tenant this principal may see and buy. */
  async productsFor(tenantId: string, principalId: string | null): Promise<ProductWithPricing[]> {
    const { products } = await this.get(tenantId);
    return products.filter((p) => !p.allowedPrincipalIds || (principalId !== null && p.allowedPrincipalIds.includes(principalId)));
  }

  invalidate(tenantId?: string): void {
    if (tenantId) this.entries.delete(tenantId);
    else this.entries.clear();
  }
}
