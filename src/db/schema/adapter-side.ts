/**
 * Adapter-side bookkeeping beside adapter_orders: how far each ad server has
 * taken an update of a media buy, and the ids ad servers gave our creatives.
 * Written only by worker tasks (and queued with the change that calls for
 * them); no core table refers to these.
 */
import { foreignKey, index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { adapterConfigs, tenants } from './tenants.js';
import { mediaBuys } from './media-buys.js';
import { creatives } from './creatives.js';
import { workflowSteps } from './workflow.js';

/** One row per ad server an update_media_buy step must reach (the step completes when none is queued). */
export const adapterOrderUpdates = pgTable(
  'adapter_order_updates',
  {
    stepId: text('step_id').notNull().references(() => workflowSteps.id, { onDelete: 'cascade' }),
    adapterConfigId: text('adapter_config_id').notNull().references(() => adapterConfigs.id, { onDelete: 'cascade' }),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    mediaBuyId: text('media_buy_id').notNull().references(() => mediaBuys.id, { onDelete: 'cascade' }),
    /** queued | applied | skipped (nothing to change there) | refused (for good, by the ad server) | failed (outcome unknown) */
    state: text('state').notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.stepId, t.adapterConfigId] })],
);

/** A creative as uploaded to one ad server: its id there, and a hash of what was sent (a changed creative is sent again). */
export const adapterCreatives = pgTable(
  'adapter_creatives',
  {
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id').notNull(),
    creativeId: text('creative_id').notNull(),
    adapterConfigId: text('adapter_config_id').notNull().references(() => adapterConfigs.id, { onDelete: 'cascade' }),
    externalCreativeId: text('external_creative_id').notNull(),
    contentHash: text('content_hash').notNull(),
    uploadedAt: timestamp('uploaded_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.principalId, t.creativeId, t.adapterConfigId] }),
    foreignKey({ columns: [t.tenantId, t.principalId, t.creativeId], foreignColumns: [creatives.tenantId, creatives.principalId, creatives.id] }).onDelete('cascade'),
    index('adapter_creatives_adapter_idx').on(t.adapterConfigId),
  ],
);
