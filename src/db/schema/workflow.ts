/**
 * Workflow steps (the AdCP task record), what each adapter made of a media buy,
 * background sync bookkeeping, idempotency records and the audit trail.
 */
import { sql } from 'drizzle-orm';
import { bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { adapterConfigs, principals, tenants } from './tenants.js';
import { mediaBuys } from './media-buys.js';

export const workflowSteps = pgTable(
  'workflow_steps',
  {
    /** Doubles as the AdCP task_id. */
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    principalId: text('principal_id').references(() => principals.id, { onDelete: 'cascade' }),
    mediaBuyId: text('media_buy_id').references(() => mediaBuys.id, { onDelete: 'cascade' }),
    /** The AdCP task type, e.g. create_media_buy. */
    stepType: text('step_type').notNull(),
    /** pending | requires_approval | in_progress | completed | failed | rejected | canceled */
    status: text('status').notNull(),
    /** Who must act next: buyer, seller or system. */
    owner: text('owner').notNull(),
    request: jsonb('request').$type<Record<string, unknown>>(),
    response: jsonb('response').$type<Record<string, unknown>>(),
    error: jsonb('error').$type<Record<string, unknown>>(),
    pushNotificationConfig: jsonb('push_notification_config').$type<Record<string, unknown>>(),
    /** update_media_buy: the buy as it was before the update, to restore if every ad server refuses it (src/db/queries/update-undo.ts). */
    undo: jsonb('undo').$type<Record<string, unknown>>(),
    /**
     * Credentials the request carried that the task's job still needs, sealed, by the JSON path of their block
     * in the request (sync_accounts: "accounts/0/notification_configs/1"); the request itself keeps none. Dropped
     * when the task ends, as push_notification_config's are.
     */
    requestCredentials: jsonb('request_credentials').$type<Record<string, { schemes?: string[]; credentials?: string }>>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('workflow_steps_principal_idx').on(t.tenantId, t.principalId, t.createdAt),
    index('workflow_steps_media_buy_idx').on(t.mediaBuyId),
    index('workflow_steps_status_idx').on(t.tenantId, t.status),
    // Steps holding a buyer's webhook credentials, which start-up re-seals after a key rotation.
    index('workflow_steps_credentials_idx').on(t.id).where(sql`(${t.pushNotificationConfig} -> 'authentication') is not null`),
  ],
);

export const adapterOrders = pgTable(
  'adapter_orders',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    mediaBuyId: text('media_buy_id').notNull().references(() => mediaBuys.id, { onDelete: 'cascade' }),
    adapterConfigId: text('adapter_config_id').notNull().references(() => adapterConfigs.id),
    adapterType: text('adapter_type').notNull(),
    /** queued | booked | failed | canceling (compensation under way) | canceled */
    state: text('state').notNull(),
    externalOrderId: text('external_order_id'),
    externalLineItemIds: jsonb('external_line_item_ids').$type<Record<string, string>>(),
    idempotencyKey: text('idempotency_key').notNull(),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('adapter_orders_buy_adapter_uq').on(t.mediaBuyId, t.adapterConfigId)],
);

export const syncJobs = pgTable('sync_jobs', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  adapterConfigId: text('adapter_config_id').references(() => adapterConfigs.id, { onDelete: 'cascade' }),
  syncType: text('sync_type').notNull(),
  status: text('status').notNull(),
  summary: jsonb('summary').$type<Record<string, unknown>>(),
  error: text('error'),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  completedAt: timestamp('completed_at', { withTimezone: true }),
});

export const idempotencyRecords = pgTable(
  'idempotency_records',
  {
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id').notNull(),
    tool: text('tool').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    response: jsonb('response').$type<Record<string, unknown>>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.principalId, t.tool, t.key] }),
    // The hourly prune finds expired records by age: BRIN (rows arrive in created_at order) costs writes next to nothing.
    index('idempotency_records_created_brin').using('brin', t.createdAt),
  ],
);

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id'),
    actor: text('actor').notNull(),
    operation: text('operation').notNull(),
    target: text('target'),
    success: boolean('success').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('audit_log_tenant_idx').on(t.tenantId, t.createdAt)],
);

/**
 * comply_test_controller directives for a principal's next calls (e.g. "answer
 * the next create_media_buy with the submitted arm"). Only sandbox testing uses it.
 */
export const controllerDirectives = pgTable(
  'controller_directives',
  {
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id').notNull(),
    scenario: text('scenario').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.principalId, t.scenario] })],
);

/**
 * AdCP webhooks (push_notification_config) owed to buyers: one row per event,
 * delivered by the deliver_webhook job. The idempotency_key is stable across
 * retries of the same event; sequence increases per task.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id').notNull(),
    taskId: text('task_id').notNull(),
    mediaBuyId: text('media_buy_id'),
    url: text('url').notNull(),
    /** The buyer's push_notification_config.authentication (schemes; credentials and the validation token sealed): needed to sign and echo, never logged; null once the delivery ends. */
    authentication: jsonb('authentication').$type<{ schemes?: string[]; credentials?: string; token?: string } | null>(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    sequence: integer('sequence').notNull(),
    /** Loopback and private addresses are allowed only for sandbox accounts or when the seller opts in. */
    allowPrivateNetwork: boolean('allow_private_network').notNull().default(false),
    /** pending | delivered | failed */
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (t) => [
    index('webhook_deliveries_task_idx').on(t.taskId, t.sequence),
    index('webhook_deliveries_tenant_idx').on(t.tenantId, t.createdAt),
    // Deliveries still holding the buyer's credentials (pending ones: they are dropped once a delivery ends).
    index('webhook_deliveries_credentials_idx').on(t.id).where(sql`${t.authentication} is not null`),
    // Deliveries not yet settled, oldest first (the hourly sweep of ones whose job stopped).
    index('webhook_deliveries_pending_idx').on(t.createdAt).where(sql`${t.status} = 'pending'`),
  ],
);

/** Every delivery attempt, for the seller's webhook log. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: text('delivery_id').notNull().references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    statusCode: integer('status_code'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId)],
);
