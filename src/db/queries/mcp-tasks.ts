/**
 * MCP task records, always read through the buyer that created them (tenant and
 * principal: the task's authorization context). Expired tasks are never
 * returned; pruneExpiredMcpTasks() deletes them.
 */
import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { mcpTasks } from '../schema/index.js';

export interface TaskScope {
  tenantId: string;
  principalId: string;
}

export interface McpTaskView {
  id: string;
  toolName: string;
  status: string;
  statusMessage: string | null;
  result: Record<string, unknown> | null;
  ttlMs: number | null;
  pollIntervalMs: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewMcpTask extends TaskScope {
  id: string;
  toolName: string;
  status: string;
  statusMessage?: string | null;
  result?: Record<string, unknown>;
  ttlMs: number | null;
  pollIntervalMs: number;
}

const live = () => or(isNull(mcpTasks.expiresAt), gt(mcpTasks.expiresAt, sql`now()`));
const scoped = (s: TaskScope) => and(eq(mcpTasks.tenantId, s.tenantId), eq(mcpTasks.principalId, s.principalId), live());
const open = () => sql`${mcpTasks.status} in ('working', 'input_required')`;

const VIEW = {
  id: mcpTasks.id,
  toolName: mcpTasks.toolName,
  status: mcpTasks.status,
  statusMessage: mcpTasks.statusMessage,
  result: mcpTasks.result,
  ttlMs: mcpTasks.ttlMs,
  pollIntervalMs: mcpTasks.pollIntervalMs,
  createdAt: mcpTasks.createdAt,
  updatedAt: mcpTasks.updatedAt,
};

/** Insert a task (with its result when it is final from the start) and return it. */
export async function insertMcpTask(db: Queryable, t: NewMcpTask): Promise<McpTaskView> {
  const [row] = await db
    .insert(mcpTasks)
    .values({
      id: t.id,
      tenantId: t.tenantId,
      principalId: t.principalId,
      toolName: t.toolName,
      status: t.status,
      statusMessage: t.statusMessage ?? null,
      result: t.result ?? null,
      ttlMs: t.ttlMs,
      pollIntervalMs: t.pollIntervalMs,
      expiresAt: t.ttlMs === null ? null : sql`now() + make_interval(secs => ${t.ttlMs / 1000})`,
    })
    .returning(VIEW);
  return row!;
}

export async function getMcpTask(db: Queryable, p: TaskScope & { id: string }): Promise<McpTaskView | undefined> {
  const [row] = await db
    .select(VIEW)
    .from(mcpTasks)
    .where(and(eq(mcpTasks.id, p.id), scoped(p)))
    .limit(1);
  return row;
}

/** Newest first; `after` is the last task of the previous page. */
export async function listMcpTasks(db: Queryable, p: TaskScope & { after?: { createdAt: Date; id: string }; limit: number }): Promise<McpTaskView[]> {
  return db
    .select(VIEW)
    .from(mcpTasks)
    .where(
      and(
        scoped(p),
        // Cursors carry milliseconds (JS dates): compare at that precision so no task falls between pages.
        p.after ? sql`(date_trunc('milliseconds', ${mcpTasks.createdAt}), ${mcpTasks.id}) < (${p.after.createdAt.toISOString()}::timestamptz, ${p.after.id})` : undefined,
      ),
    )
    .orderBy(desc(sql`date_trunc('milliseconds', ${mcpTasks.createdAt})`), desc(mcpTasks.id))
    .limit(p.limit);
}

/**
 * Set a task's status (and result), unless it is already final. Returns
 * false when nothing changed: no such task for this buyer, or a final one.
 */
export async function setMcpTaskStatus(
  db: Queryable,
  p: TaskScope & { id: string; status: string; statusMessage?: string | null; result?: Record<string, unknown> },
): Promise<boolean> {
  const rows = await db
    .update(mcpTasks)
    .set({
      status: p.status,
      ...(p.statusMessage !== undefined && { statusMessage: p.statusMessage }),
      ...(p.result !== undefined && { result: p.result }),
      updatedAt: sql`now()`,
    })
    .where(and(eq(mcpTasks.id, p.id), scoped(p), open()))
    .returning({ id: mcpTasks.id });
  return rows.length > 0;
}

/** Delete up to `limit` expired tasks; returns how many went. */
export async function pruneExpiredMcpTasks(db: Queryable, limit = 5000): Promise<number> {
  const rows = await db
    .delete(mcpTasks)
    .where(sql`${mcpTasks.id} in (select id from mcp_tasks where expires_at < now() limit ${limit})`)
    .returning({ id: mcpTasks.id });
  return rows.length;
}
