/**
 * Media buys and their packages: adapter-agnostic. No ad-server id lives here;
 * what each adapter created is in adapter_orders.
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, date, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { accounts, adapterConfigs, principals, tenants } from './tenants.js';

export const mediaBuys = pgTable(
  'media_buys',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    principalId: text('principal_id').notNull().references(() => principals.id, { onDelete: 'cascade' }),
    accountId: text('account_id').references(() => accounts.id),
    buyerRef: text('buyer_ref'),
    /** Internal lifecycle status; see src/domain/status.ts for the AdCP mapping. */
    status: text('status').notNull(),
    totalBudget: numeric('total_budget', { precision: 18, scale: 4 }).notNull(),
    currency: text('currency').notNull(),
    startTime: timestamp('start_time', { withTimezone: true }).notNull(),
    endTime: timestamp('end_time', { withTimezone: true }).notNull(),
    rawRequest: jsonb('raw_request').$type<Record<string, unknown>>().notNull(),
    idempotencyKey: text('idempotency_key'),
    /** The buyer's push_notification_config for the record, without credentials (the workflow step keeps them, sealed, to sign with). */
    pushNotificationConfig: jsonb('push_notification_config').$type<Record<string, unknown>>(),
    /** The buyer's reporting_webhook (url, authentication with credentials sealed, reporting_frequency, requested_metrics): needed to sign, never logged. */
    reportingWebhook: jsonb('reporting_webhook').$type<Record<string, unknown>>(),
    /** When the next scheduled delivery report is due (the end of the window it covers); null once the final report is queued. */
    reportingNextAt: timestamp('reporting_next_at', { withTimezone: true }),
    /** Delivery reports queued so far: the last sequence_number sent. */
    reportingSequence: integer('reporting_sequence').notNull().default(0),
    revision: integer('revision').notNull().default(1),
    /** AdCP 3.1 create_media_buy paused: goes paused, not active, once setup allows (creatives, flight start); booked paused. */
    startPaused: boolean('start_paused').notNull().default(false),
    confirmedAt: timestamp('confirmed_at', { withTimezone: true }),
    rejectionReason: text('rejection_reason'),
    canceledAt: timestamp('canceled_at', { withTimezone: true }),
    /** buyer | seller */
    canceledBy: text('canceled_by'),
    cancellationReason: text('cancellation_reason'),
    /** Seeded by comply_test_controller (seed_media_buy): a sandbox fixture, never sent to an ad server; only such a buy may be re-seeded. */
    testFixture: boolean('test_fixture').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // A buyer's buys, newest first, in the order (and at the millisecond precision of the cursors) that
    // get_media_buys pages through: an index scan however many buys the buyer has, no sort. (UTC wall
    // clock: date_trunc on timestamptz is not immutable, on timestamp it is.)
    index('media_buys_principal_recent_idx').on(t.tenantId, t.principalId, sql`date_trunc('milliseconds', ${t.createdAt} at time zone 'UTC') desc`, sql`${t.id} desc`),
    // For the flight-date job: buys about to start, and buys about to end.
    index('media_buys_starting_idx').on(t.startTime).where(sql`${t.status} = 'pending_start'`),
    index('media_buys_ending_idx').on(t.endTime).where(sql`${t.status} in ('active', 'paused')`),
    // Booked buys whose flight may end before any creative arrives.
    index('media_buys_ending_uncreated_idx').on(t.endTime).where(sql`${t.status} = 'pending_creatives'`),
    // For the delivery-report scheduler: buys whose next report is due.
    index('media_buys_reporting_due_idx').on(t.reportingNextAt).where(sql`${t.reportingNextAt} is not null`),
    // Buys whose reporting webhook holds the buyer's credentials, which start-up re-seals after a key rotation.
    index('media_buys_credentials_idx').on(t.id).where(sql`(${t.reportingWebhook} -> 'authentication') is not null`),
  ],
);

export const mediaPackages = pgTable(
  'media_packages',
  {
    id: text('id').primaryKey(),
    mediaBuyId: text('media_buy_id').notNull().references(() => mediaBuys.id, { onDelete: 'cascade' }),
    tenantId: text('tenant_id').notNull(),
    productId: text('product_id').notNull(),
    pricingOptionId: text('pricing_option_id').notNull(),
    pricingModel: text('pricing_model').notNull(),
    adapterConfigId: text('adapter_config_id').references(() => adapterConfigs.id),
    buyerRef: text('buyer_ref'),
    budget: numeric('budget', { precision: 18, scale: 4 }).notNull(),
    bidPrice: numeric('bid_price', { precision: 18, scale: 4 }),
    /**
     * The pricing option's fixed price when the package was bought, kept with it: what booking and delivery
     * charge. The publisher may reprice or withdraw the option later; that applies to new buys only.
     */
    fixedPrice: numeric('fixed_price', { precision: 18, scale: 4 }),
    pacing: text('pacing'),
    impressions: numeric('impressions', { precision: 20, scale: 0 }),
    targeting: jsonb('targeting').$type<Record<string, unknown>>(),
    formatIds: jsonb('format_ids').$type<Record<string, unknown>[]>(),
    /** The package as the buyer sent it. */
    packageConfig: jsonb('package_config').$type<Record<string, unknown>>().notNull(),
    status: text('status').notNull().default('active'),
    /** The package's place in the buy, as the buyer listed them. */
    position: integer('position').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('media_packages_buy_idx').on(t.mediaBuyId, t.position)],
);

/**
 * Delivery per package per day, as collected from the ad server by a worker job
 * (or simulated for sandbox accounts). get_media_buy_delivery reads only this.
 */
export const deliveryReports = pgTable(
  'delivery_reports',
  {
    tenantId: text('tenant_id').notNull(),
    mediaBuyId: text('media_buy_id').notNull().references(() => mediaBuys.id, { onDelete: 'cascade' }),
    packageId: text('package_id').notNull().references(() => mediaPackages.id, { onDelete: 'cascade' }),
    day: date('day', { mode: 'string' }).notNull(),
    impressions: bigint('impressions', { mode: 'number' }).notNull().default(0),
    clicks: bigint('clicks', { mode: 'number' }).notNull().default(0),
    videoCompletions: bigint('video_completions', { mode: 'number' }).notNull().default(0),
    spend: numeric('spend', { precision: 18, scale: 4 }).notNull().default('0'),
    /** adapter | simulated */
    source: text('source').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.packageId, t.day] }), index('delivery_reports_buy_idx').on(t.mediaBuyId, t.day)],
);

export const performanceFeedback = pgTable(
  'performance_feedback',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    principalId: text('principal_id').notNull(),
    mediaBuyId: text('media_buy_id').notNull().references(() => mediaBuys.id, { onDelete: 'cascade' }),
    packageId: text('package_id'),
    creativeId: text('creative_id'),
    metricType: text('metric_type').notNull(),
    performanceIndex: numeric('performance_index', { precision: 12, scale: 4 }).notNull(),
    feedbackSource: text('feedback_source').notNull(),
    measurementPeriod: jsonb('measurement_period').$type<{ start: string; end: string }>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('performance_feedback_buy_idx').on(t.mediaBuyId)],
);

/**
 * A buy's revisions after its first (AdCP get_media_buys include_history): one row per change of
 * media_buys.revision, written by a trigger (migration 0023) whoever made the change (an update, the seller's
 * decision, a flight moving on, a creative assignment), so no writer can forget it. Append-only. Revision 1,
 * the creation, is the buy row itself.
 */
export const mediaBuyHistory = pgTable(
  'media_buy_history',
  {
    mediaBuyId: text('media_buy_id').notNull().references(() => mediaBuys.id, { onDelete: 'cascade' }),
    revision: integer('revision').notNull(),
    tenantId: text('tenant_id').notNull(),
    /** AdCP's history action: activated, paused, resumed, canceled, rejected, completed, updated_budget, updated_dates, updated_packages... */
    action: text('action').notNull(),
    summary: text('summary').notNull(),
    actor: text('actor'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.mediaBuyId, t.revision] })],
);
