/** Tenants (publishers), their buyers (principals) and the buyers' billing accounts. */
import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export interface TenantSettings {
  /** 'auto': an unknown brand+operator opens an account on first use. */
  account_approval_mode?: 'auto' | 'manual';
  /** Currencies this seller accepts. */
  currencies?: string[];
  /** Upper bound on a single media buy's total budget, per currency unit. */
  max_media_buy_budget?: string;
  /** Lower bound on a package's budget. */
  min_package_budget?: string;
  /** Require a human to approve every media buy, regardless of adapter. */
  manual_approval_required?: boolean;
  /** 'auto': creatives are approved on upload; 'manual': they wait for the seller's review. */
  creative_review?: 'auto' | 'manual';
  /** 'enabled': comply_test_controller also answers calls that name no sandbox account (compliance testing). */
  test_controller?: 'enabled' | 'disabled';
  /** Let webhooks go to loopback/private addresses for every account (default: sandbox accounts only). */
  allow_private_webhooks?: boolean;
  /** The operator's brand.json (https), advertised as identity.brand_json_url; default: the agent's own /.well-known/brand.json. */
  brand_json_url?: string;
  /** Tightest billing-measurement variance (percent) the seller accepts in measurement_terms. */
  min_variance_percent?: number;
}

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  publisherDomain: text('publisher_domain'),
  settings: jsonb('settings').$type<TenantSettings>().notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const principals = pgTable(
  'principals',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 of the bearer token, hex. Tokens are 256-bit random, so a fast hash is enough. */
    tokenHash: text('token_hash').notNull(),
    /** First characters of the token, to help an operator recognise it; never enough to use it. */
    tokenHint: text('token_hint').notNull(),
    /** Per-adapter advertiser ids (lookup only), e.g. {"mock": {"advertiser_id": "..."}}. */
    platformMappings: jsonb('platform_mappings').$type<Record<string, unknown>>().notNull().default({}),
    /** Set while the seller has suspended this buyer: its token still identifies it, and every tool answers AGENT_SUSPENDED. */
    suspendedAt: timestamp('suspended_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('principals_token_hash_uq').on(t.tokenHash), index('principals_tenant_idx').on(t.tenantId)],
);

export const accounts = pgTable(
  'accounts',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    principalId: text('principal_id').notNull().references(() => principals.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** AdCP brand reference ({domain, brand_id?}). */
    brand: jsonb('brand').$type<{ domain: string; brand_id?: string }>().notNull(),
    brandDomain: text('brand_domain').notNull(),
    brandId: text('brand_id').notNull().default(''),
    operator: text('operator').notNull(),
    status: text('status').notNull().default('active'),
    sandbox: boolean('sandbox').notNull().default(false),
    /** billing, payment_terms, governance agents and other AdCP account fields. */
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('accounts_natural_key_uq').on(t.tenantId, t.principalId, t.brandDomain, t.brandId, t.operator, t.sandbox),
    index('accounts_principal_idx').on(t.tenantId, t.principalId),
  ],
);

/**
 * AdCP 3.1 account-level notification subscribers (sync_accounts notification_configs), keyed by the buyer's
 * subscriber_id within the account, in the order sent. `proof` is the hash of the tuple (account, subscriber,
 * URL, delivery auth, event types) the receiver last proved control of; an active subscriber always has one.
 * Legacy credentials are sealed (bound to the buyer), never echoed.
 */
export const accountNotificationConfigs = pgTable(
  'account_notification_configs',
  {
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    subscriberId: text('subscriber_id').notNull(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    principalId: text('principal_id').notNull().references(() => principals.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    url: text('url').notNull(),
    eventTypes: jsonb('event_types').$type<string[]>().notNull(),
    authentication: jsonb('authentication').$type<{ schemes: string[]; credentials: string } | null>(),
    active: boolean('active').notNull(),
    proof: text('proof'),
    provedAt: timestamp('proved_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.subscriberId] }),
    // Subscribers holding a buyer's credentials, which start-up re-seals after a key rotation.
    index('account_notification_configs_credentials_idx').on(t.accountId).where(sql`${t.authentication} is not null`),
  ],
);

export const adapterConfigs = pgTable(
  'adapter_configs',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    adapterType: text('adapter_type').notNull(),
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
    manualApprovalRequired: boolean('manual_approval_required').notNull().default(false),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('adapter_configs_name_uq').on(t.tenantId, t.name),
    uniqueIndex('adapter_configs_default_uq').on(t.tenantId).where(sql`${t.isDefault}`),
  ],
);
