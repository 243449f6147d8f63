/**
 * The seller console: operator accounts per tenant, their sessions, admin API
 * keys and the tenant's notification channels. Nothing secret is stored in the
 * clear: passwords as scrypt hashes, session tokens and API keys as SHA-256.
 * The Slack webhook URL is a credential too; it is only ever written from the
 * console and read by the notify_slack job.
 */
import { sql } from 'drizzle-orm';
import { boolean, index, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { tenants } from './tenants.js';

export const operators = pgTable(
  'operators',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** Lower-cased. */
    email: text('email').notNull(),
    /** admin | viewer */
    role: text('role').notNull(),
    /** scrypt$N$r$p$salt$hash (base64url). */
    passwordHash: text('password_hash').notNull(),
    /** Set for a one-time password (create-user, reset): the next login must choose a new one. */
    mustChangePassword: boolean('must_change_password').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('operators_tenant_email_uq').on(t.tenantId, t.email), index('operators_email_idx').on(t.email)],
);

export const operatorSessions = pgTable(
  'operator_sessions',
  {
    /** SHA-256 of the cookie's token, hex. */
    tokenHash: text('token_hash').primaryKey(),
    operatorId: text('operator_id').notNull().references(() => operators.id, { onDelete: 'cascade' }),
    tenantId: text('tenant_id').notNull(),
    /** Sent back in every form (and the x-csrf-token header of the JSON API). */
    csrfToken: text('csrf_token').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('operator_sessions_operator_idx').on(t.operatorId), index('operator_sessions_expiry_idx').on(t.expiresAt)],
);

export const adminApiKeys = pgTable(
  'admin_api_keys',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 of the key, hex. Keys are 256-bit random, so a fast hash is enough. */
    keyHash: text('key_hash').notNull(),
    keyHint: text('key_hint').notNull(),
    /** admin | viewer */
    role: text('role').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('admin_api_keys_hash_uq').on(t.keyHash), index('admin_api_keys_tenant_idx').on(t.tenantId).where(sql`${t.revokedAt} is null`)],
);

/** Where the seller hears about orders awaiting approval and failures. */
export const tenantNotifications = pgTable('tenant_notifications', {
  tenantId: text('tenant_id')
    .primaryKey()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  /** Slack incoming-webhook URL: a credential, write-only in the console, never logged. */
  slackWebhookUrl: text('slack_webhook_url'),
  /** The console's base URL when it was configured, for links in messages. */
  consoleUrl: text('console_url'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Failed console sign-ins, counted per email and per client address in a fixed
 * window, shared by every replica (an attacker gets no more guesses by reaching
 * several). Keys are SHA-256 hashes of the email or address (not readable at a
 * glance, though not secret); rows are deleted after their window has passed.
 */
export const loginFailures = pgTable(
  'login_failures',
  {
    keyHash: text('key_hash').primaryKey(),
    failures: integer('failures').notNull(),
    windowEndsAt: timestamp('window_ends_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('login_failures_window_idx').on(t.windowEndsAt)],
);
