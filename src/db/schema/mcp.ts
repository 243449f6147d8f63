/**
 * MCP protocol state that must outlive one process: task records for
 * task-augmented tool calls (MCP 2025-11-25 tasks), the event log that lets a
 * client resume its notification stream with Last-Event-ID, and the sessions
 * those streams belong to, so another replica can take a session over.
 */
import { bigserial, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * An MCP task: one per task-augmented tools/call (create_media_buy,
 * update_media_buy), holding that call's CallToolResult. The AdCP lifecycle
 * behind it (approval, booking) is the workflow step's, not the task's.
 */
export const mcpTasks = pgTable(
  'mcp_tasks',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    /** Tasks are bound to the buyer that created them (the MCP authorization context). */
    principalId: text('principal_id').notNull(),
    toolName: text('tool_name').notNull(),
    /** working | input_required | completed | failed | cancelled */
    status: text('status').notNull(),
    statusMessage: text('status_message'),
    /** The call's CallToolResult, once the task is final. */
    result: jsonb('result').$type<Record<string, unknown>>(),
    ttlMs: integer('ttl_ms'),
    pollIntervalMs: integer('poll_interval_ms').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
  },
  (t) => [
    index('mcp_tasks_principal_idx').on(t.tenantId, t.principalId, t.createdAt, t.id),
    index('mcp_tasks_expires_idx').on(t.expiresAt),
  ],
);

/** Server-to-client messages on a session's notification stream, in order, for replay after Last-Event-ID. */
export const mcpEvents = pgTable(
  'mcp_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sessionId: text('session_id').notNull(),
    streamId: text('stream_id').notNull(),
    message: jsonb('message').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('mcp_events_stream_idx').on(t.sessionId, t.streamId, t.id), index('mcp_events_created_idx').on(t.createdAt)],
);

/** A streamable-HTTP session: whose it is and what it subscribed to, so any replica can serve it. */
export const mcpSessions = pgTable(
  'mcp_sessions',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id'),
    /** Null for an anonymous (discovery-only) session. */
    principalId: text('principal_id'),
    subscriptions: jsonb('subscriptions').$type<string[]>().notNull().default([]),
    /** The level the session set with logging/setLevel; null: none set (every level is sent). */
    logLevel: text('log_level'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Last time a replica took the session on or its subscriptions changed; old sessions are pruned. */
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('mcp_sessions_updated_idx').on(t.updatedAt)],
);
