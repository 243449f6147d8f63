/** Creatives uploaded by buyers and their assignment to packages. */
import { boolean, index, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { principals, tenants } from './tenants.js';
import { mediaPackages } from './media-buys.js';

export const creatives = pgTable(
  'creatives',
  {
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    principalId: text('principal_id').notNull().references(() => principals.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    name: text('name').notNull(),
    formatId: jsonb('format_id').$type<{ agent_url: string; id: string }>().notNull(),
    assets: jsonb('assets').$type<Record<string, unknown>>().notNull().default({}),
    status: text('status').notNull().default('pending_review'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    /** Seeded by comply_test_controller (seed_creative): a sandbox fixture in no account; only such a creative may be re-seeded. */
    testFixture: boolean('test_fixture').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.principalId, t.id] })],
);

export const creativeAssignments = pgTable(
  'creative_assignments',
  {
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id').notNull(),
    creativeId: text('creative_id').notNull(),
    packageId: text('package_id').notNull().references(() => mediaPackages.id, { onDelete: 'cascade' }),
    weight: jsonb('weight').$type<number | null>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.packageId, t.creativeId] }), index('creative_assignments_creative_idx').on(t.tenantId, t.principalId, t.creativeId)],
);
