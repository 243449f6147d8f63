/**
 * MCP protocol state that must outlive one process: task records for
 * task-augmented tool calls (MCP 2025-11-25 tasks), the event log that lets a
 * client resume its notification stream with Last-Event-ID, and the sessions
 * those streams belong to, so another replica can take a session over.
 */
import { bigserial, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { workflowSteps } from './workflow.js';

/**
 * An MCP task. When a workflow step backs it (create_media_buy, update_media_buy)
 * the task id is the step id and its status and result are read from the step
 * and the media buy; `status` and `result` are set only for tasks nothing else
 * records (a call refused before anything was written).
 */
export const mcpTasks = pgTable(
  'mcp_tasks',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    /** Tasks are bound to the buyer that created them (the MCP authorization context). */
    principalId: text('principal_id').notNull(),
    workflowStepId: text('workflow_step_id').references(() => workflowSteps.id, { onDelete: 'cascade' }),
    toolName: text('tool_name').notNull(),
    /** working | input_required | completed | failed | cancelled; null while a workflow step decides. */
    status: text('status'),
    statusMessage: text('status_message'),
    /** The CallToolResult of a task that has no workflow step. */
    result: jsonb('result').$type<Record<string, unknown>>(),
    ttlMs: integer('ttl_ms'),
    pollIntervalMs: integer('poll_interval_ms').notNull(),
    /** The MCP session that created the task: it receives notifications/tasks/status. */
    sessionId: text('session_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
  },
  (t) => [
    index('mcp_tasks_principal_idx').on(t.tenantId, t.principalId, t.createdAt, t.id),
    index('mcp_tasks_session_idx').on(t.sessionId),
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
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Last time a replica took the session on or its subscriptions changed; old sessions are pruned. */
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('mcp_sessions_updated_idx').on(t.updatedAt)],
);
