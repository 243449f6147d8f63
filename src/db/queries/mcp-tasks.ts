/**
 * MCP task records, always read through the buyer that created them (tenant and
 * principal: the task's authorization context), joined to the workflow step
 * that decides the task's status when there is one. Expired tasks are never
 * returned; prune() deletes them.
 */
import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { mcpTasks, workflowSteps } from '../schema/index.js';

export interface TaskScope {
  tenantId: string;
  principalId: string;
}

export interface McpTaskView {
  id: string;
  toolName: string;
  status: string | null;
  statusMessage: string | null;
  result: Record<string, unknown> | null;
  ttlMs: number | null;
  pollIntervalMs: number;
  sessionId: string | null;
  createdAt: Date;
  updatedAt: Date;
  step: {
    status: string;
    stepType: string;
    mediaBuyId: string | null;
    request: Record<string, unknown> | null;
    error: Record<string, unknown> | null;
    updatedAt: Date;
  } | null;
}

export interface NewMcpTask extends TaskScope {
  id: string;
  toolName: string;
  workflowStepId: string | null;
  status: string | null;
  ttlMs: number | null;
  pollIntervalMs: number;
  sessionId: string | null;
}

const live = () => or(isNull(mcpTasks.expiresAt), gt(mcpTasks.expiresAt, sql`now()`));
const scoped = (s: TaskScope) => and(eq(mcpTasks.tenantId, s.tenantId), eq(mcpTasks.principalId, s.principalId), live());

const VIEW = {
  id: mcpTasks.id,
  toolName: mcpTasks.toolName,
  status: mcpTasks.status,
  statusMessage: mcpTasks.statusMessage,
  result: mcpTasks.result,
  ttlMs: mcpTasks.ttlMs,
  pollIntervalMs: mcpTasks.pollIntervalMs,
  sessionId: mcpTasks.sessionId,
  createdAt: mcpTasks.createdAt,
  updatedAt: mcpTasks.updatedAt,
  stepStatus: workflowSteps.status,
  stepType: workflowSteps.stepType,
  mediaBuyId: workflowSteps.mediaBuyId,
  request: workflowSteps.request,
  error: workflowSteps.error,
  stepUpdatedAt: workflowSteps.updatedAt,
};

const selectView = (db: Queryable) => db.select(VIEW).from(mcpTasks).leftJoin(workflowSteps, eq(workflowSteps.id, mcpTasks.workflowStepId));
type ViewRow = Awaited<ReturnType<typeof selectView>>[number];

function toView(r: ViewRow): McpTaskView {
  return {
    id: r.id,
    toolName: r.toolName,
    status: r.status,
    statusMessage: r.statusMessage,
    result: r.result,
    ttlMs: r.ttlMs,
    pollIntervalMs: r.pollIntervalMs,
    sessionId: r.sessionId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    step: r.stepStatus
      ? { status: r.stepStatus, stepType: r.stepType!, mediaBuyId: r.mediaBuyId, request: r.request, error: r.error, updatedAt: r.stepUpdatedAt! }
      : null,
  };
}

/** Insert a task; a task for a step that already has one (an idempotent replay) keeps the first. Returns nothing: read it back. */
export async function insertMcpTask(db: Queryable, t: NewMcpTask): Promise<void> {
  await db
    .insert(mcpTasks)
    .values({
      id: t.id,
      tenantId: t.tenantId,
      principalId: t.principalId,
      workflowStepId: t.workflowStepId,
      toolName: t.toolName,
      status: t.status,
      ttlMs: t.ttlMs,
      pollIntervalMs: t.pollIntervalMs,
      sessionId: t.sessionId,
      expiresAt: t.ttlMs === null ? null : sql`now() + make_interval(secs => ${t.ttlMs / 1000})`,
    })
    .onConflictDoNothing({ target: mcpTasks.id });
}

export async function getMcpTask(db: Queryable, p: TaskScope & { id: string }): Promise<McpTaskView | undefined> {
  const [row] = await selectView(db)
    .where(and(eq(mcpTasks.id, p.id), scoped(p)))
    .limit(1);
  return row && toView(row);
}

/** Newest first; `after` is the last task of the previous page. */
export async function listMcpTasks(db: Queryable, p: TaskScope & { after?: { createdAt: Date; id: string }; limit: number }): Promise<McpTaskView[]> {
  const rows = await selectView(db)
    .where(
      and(
        scoped(p),
        // Cursors carry milliseconds (JS dates): compare at that precision so no task falls between pages.
        p.after ? sql`(date_trunc('milliseconds', ${mcpTasks.createdAt}), ${mcpTasks.id}) < (${p.after.createdAt.toISOString()}::timestamptz, ${p.after.id})` : undefined,
      ),
    )
    .orderBy(desc(sql`date_trunc('milliseconds', ${mcpTasks.createdAt})`), desc(mcpTasks.id))
    .limit(p.limit);
  return rows.map(toView);
}

/** The open tasks a session created, for the replica that takes the session over. */
export async function listOpenSessionTasks(db: Queryable, p: TaskScope & { sessionId: string }): Promise<McpTaskView[]> {
  const rows = await selectView(db)
    .where(and(eq(mcpTasks.sessionId, p.sessionId), scoped(p), or(isNull(mcpTasks.status), sql`${mcpTasks.status} in ('working', 'input_required')`)))
    .limit(500);
  return rows.map(toView);
}

/**
 * Set a task's own status (and result), unless it is already final. Returns
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
    .where(and(eq(mcpTasks.id, p.id), scoped(p), or(isNull(mcpTasks.status), sql`${mcpTasks.status} in ('working', 'input_required')`)))
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

/** The create_media_buy workflow step of a buy (its answer names the buy, not the step). */
export async function createStepOfMediaBuy(db: Queryable, p: TaskScope & { mediaBuyId: string }): Promise<string | undefined> {
  const [row] = await db
    .select({ id: workflowSteps.id })
    .from(workflowSteps)
    .where(
      and(
        eq(workflowSteps.tenantId, p.tenantId),
        eq(workflowSteps.principalId, p.principalId),
        eq(workflowSteps.mediaBuyId, p.mediaBuyId),
        eq(workflowSteps.stepType, 'create_media_buy'),
      ),
    )
    .orderBy(workflowSteps.createdAt)
    .limit(1);
  return row?.id;
}
