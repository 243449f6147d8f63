/** What a seller offers: products and their pricing options, properties, creative formats. */
import { boolean, foreignKey, index, jsonb, numeric, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { adapterConfigs, tenants } from './tenants.js';

export interface FormatRef {
  agent_url: string;
  id: string;
}

export const products = pgTable(
  'products',
  {
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull(),
    channels: text('channels').array().notNull().default([]),
    deliveryType: text('delivery_type').notNull(),
    formatIds: jsonb('format_ids').$type<FormatRef[]>().notNull().default([]),
    /** AdCP publisher_properties selectors. */
    publisherProperties: jsonb('publisher_properties').$type<Record<string, unknown>[]>().notNull().default([]),
    /** Targeting dimensions a buyer may use on packages of this product. */
    targetingTemplate: jsonb('targeting_template').$type<Record<string, unknown>>().notNull().default({}),
    countries: text('countries').array().notNull().default([]),
    /** The adapter that fulfils this product; null means the tenant's default adapter. */
    adapterConfigId: text('adapter_config_id').references(() => adapterConfigs.id, { onDelete: 'set null' }),
    /** When set, only these principals may see or buy the product. */
    allowedPrincipalIds: text('allowed_principal_ids').array(),
    /** Other AdCP product fields passed through as-is (delivery_measurement, reporting_capabilities...). */
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    archived: boolean('archived').notNull().default(false),
    /** Seeded by comply_test_controller: buyable with sandbox accounts only. */
    testFixture: boolean('test_fixture').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

export const pricingOptions = pgTable(
  'pricing_options',
  {
    tenantId: text('tenant_id').notNull(),
    productId: text('product_id').notNull(),
    id: text('id').notNull(),
    pricingModel: text('pricing_model').notNull(),
    currency: text('currency').notNull(),
    fixedPrice: numeric('fixed_price', { precision: 18, scale: 4 }),
    floorPrice: numeric('floor_price', { precision: 18, scale: 4 }),
    priceGuidance: jsonb('price_guidance').$type<Record<string, number>>(),
    minSpendPerPackage: numeric('min_spend_per_package', { precision: 18, scale: 4 }),
    parameters: jsonb('parameters').$type<Record<string, unknown>>(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.productId, t.id] }),
    foreignKey({ columns: [t.tenantId, t.productId], foreignColumns: [products.tenantId, products.id] }).onDelete('cascade'),
  ],
);

export const publisherProperties = pgTable(
  'publisher_properties',
  {
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    propertyType: text('property_type').notNull(),
    name: text('name').notNull(),
    publisherDomain: text('publisher_domain').notNull(),
    identifiers: jsonb('identifiers').$type<{ type: string; value: string }[]>().notNull().default([]),
    tags: text('tags').array().notNull().default([]),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('publisher_properties_domain_idx').on(t.tenantId, t.publisherDomain)],
);

export const creativeFormats = pgTable(
  'creative_formats',
  {
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    agentUrl: text('agent_url').notNull(),
    name: text('name').notNull(),
    type: text('type').notNull(),
    /** The AdCP format object minus format_id/name/type (assets, renders, description...). */
    spec: jsonb('spec').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);
