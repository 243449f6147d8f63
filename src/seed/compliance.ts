/**
 * `sales-agent seed compliance`: the demo publisher plus what the official AdCP
 * compliance storyboards expect of a seller under test: the comply_test_controller
 * enabled for the tenant, the fallback product the storyboard runner buys
 * when no get_products step ran ("test-product" with pricing option "default"),
 * and display formats whose click-through URL is optional: the compliance kit's
 * banners are a single image, and sync_creatives holds every creative to its
 * format's required assets.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { creativeFormats, pricingOptions, products, tenants } from '../db/schema/index.js';
import { DEMO_TENANT, seedDemo, type SeedOptions, type SeedResult } from './demo.js';

export async function seedCompliance(db: Db, opts: SeedOptions = {}): Promise<SeedResult> {
  const res = await seedDemo(db, opts);
  await db.transaction(async (tx) => {
    await tx
      .update(tenants)
      .set({ settings: sql`${tenants.settings} || '{"test_controller":"enabled"}'::jsonb` })
      .where(sql`${tenants.id} = ${DEMO_TENANT}`);
    const product = {
      tenantId: DEMO_TENANT,
      id: 'test-product',
      name: 'Compliance test product — display 300x250',
      description: 'Fixed-price CPM display inventory used by the AdCP compliance storyboards.',
      channels: ['display'],
      deliveryType: 'non_guaranteed',
      formatIds: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }],
      publisherProperties: [{ publisher_domain: 'demo-news.example', selection_type: 'all' }],
      countries: ['US'],
      details: {},
    };
    await tx.insert(products).values(product).onConflictDoUpdate({ target: [products.tenantId, products.id], set: { ...product, updatedAt: sql`now()` } });
    const po = { tenantId: DEMO_TENANT, productId: 'test-product', id: 'default', pricingModel: 'cpm', currency: 'USD', fixedPrice: '10', floorPrice: null, minSpendPerPackage: null };
    await tx.insert(pricingOptions).values(po).onConflictDoUpdate({ target: [pricingOptions.tenantId, pricingOptions.productId, pricingOptions.id], set: po });
    const display = await tx.select().from(creativeFormats).where(and(eq(creativeFormats.tenantId, DEMO_TENANT), eq(creativeFormats.type, 'display')));
    for (const f of display) {
      const assets = (f.spec.assets as { asset_id?: string }[] | undefined) ?? [];
      const spec = { ...f.spec, assets: assets.map((a) => (a.asset_id === 'click_url' ? { ...a, required: false } : a)) };
      await tx.update(creativeFormats).set({ spec }).where(and(eq(creativeFormats.tenantId, DEMO_TENANT), eq(creativeFormats.id, f.id)));
    }
  });
  return res;
}
