/**
 * Sponsored Intelligence (SI) sessions: a host (an AI assistant) hands a user's
 * conversation to this agent, which answers from the publisher's offerings.
 * One row per session, one row per turn of its transcript. Sessions belong to
 * the principal that opened them.
 */
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { principals, tenants } from './tenants.js';

export const siSessions = pgTable(
  'si_sessions',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    principalId: text('principal_id').notNull().references(() => principals.id, { onDelete: 'cascade' }),
    /** AdCP si-session-status: active | pending_handoff | complete | terminated. */
    status: text('status').notNull(),
    intent: text('intent').notNull(),
    offeringId: text('offering_id'),
    mediaBuyId: text('media_buy_id'),
    placement: text('placement'),
    /** Consent flags, and the user's data only when consent was granted. */
    identity: jsonb('identity').$type<Record<string, unknown>>().notNull(),
    negotiatedCapabilities: jsonb('negotiated_capabilities').$type<Record<string, unknown>>().notNull(),
    /** Opened from a sandbox account's media buy: the test controller may force its status. */
    sandbox: boolean('sandbox').notNull().default(false),
    /** Inactivity timeout: a message after lastActiveAt + ttl finds the session terminated (session_timeout). */
    ttlSeconds: integer('ttl_seconds').notNull(),
    /** Turns so far (also the next turn's sequence number minus one). */
    turns: integer('turns').notNull().default(0),
    terminationReason: text('termination_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastActiveAt: timestamp('last_active_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
  },
  (t) => [index('si_sessions_principal_idx').on(t.tenantId, t.principalId, t.createdAt)],
);

export const siMessages = pgTable(
  'si_messages',
  {
    sessionId: text('session_id')
      .notNull()
      .references(() => siSessions.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    /** user (the host relaying the user) or agent (this agent's answer). */
    role: text('role').notNull(),
    message: text('message'),
    /** The user's action_response, or the agent's ui_elements. */
    payload: jsonb('payload').$type<Record<string, unknown>>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.seq] })],
);
