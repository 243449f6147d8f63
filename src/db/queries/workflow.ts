/** Workflow steps: the AdCP task record. Reads are scoped to the calling principal. */
import { and, asc, desc, eq, gt, ilike, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { workflowSteps } from '../schema/index.js';
import type { WorkflowStepRow } from './media-buys.js';

export async function getTaskForPrincipal(db: Queryable, p: { tenantId: string; principalId: string; taskId: string }): Promise<WorkflowStepRow | undefined> {
  const [row] = await db
    .select()
    .from(workflowSteps)
    .where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.principalId, p.principalId), eq(workflowSteps.id, p.taskId)))
    .limit(1);
  return row;
}

export async function updateWorkflowStep(
  db: Queryable,
  p: { tenantId: string; id: string; fromStatuses?: string[] },
  set: Partial<typeof workflowSteps.$inferInsert>,
): Promise<boolean> {
  const rows = await db
    .update(workflowSteps)
    .set({ ...set, updatedAt: sql`now()` })
    .where(
      and(
        eq(workflowSteps.tenantId, p.tenantId),
        eq(workflowSteps.id, p.id),
        p.fromStatuses ? sql`${workflowSteps.status} in ${p.fromStatuses}` : undefined,
      ),
    )
    .returning({ id: workflowSteps.id });
  return rows.length > 0;
}

/** Lock a step for a decision; concurrent deciders queue behind the lock and then see the new status. */
export async function lockWorkflowStep(db: Queryable, p: { tenantId: string; id: string }): Promise<WorkflowStepRow | undefined> {
  const [row] = await db
    .select()
    .from(workflowSteps)
    .where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.id, p.id)))
    .for('update');
  return row;
}

export async function getWorkflowStep(db: Queryable, p: { tenantId: string; id: string }): Promise<WorkflowStepRow | undefined> {
  const [row] = await db.select().from(workflowSteps).where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.id, p.id)));
  return row;
}

export async function insertWorkflowStep(db: Queryable, row: typeof workflowSteps.$inferInsert): Promise<void> {
  await db.insert(workflowSteps).values(row);
}

/**
 * The buyer canceled the buy: its create_media_buy task, still open (awaiting the seller's approval, or
 * being booked), ends canceled with it. Returns the tasks closed, for their webhooks.
 */
export async function cancelOpenCreateTasks(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<WorkflowStepRow[]> {
  return db
    .update(workflowSteps)
    .set({ status: 'canceled', owner: 'buyer', updatedAt: sql`now()` })
    .where(
      and(
        eq(workflowSteps.tenantId, p.tenantId),
        eq(workflowSteps.mediaBuyId, p.mediaBuyId),
        eq(workflowSteps.stepType, 'create_media_buy'),
        inArray(workflowSteps.status, ['requires_approval', 'pending', 'in_progress']),
      ),
    )
    .returning();
}

export interface TaskFilters {
  statuses?: string[];
  stepTypes?: string[];
  ids?: string[];
  createdAfter?: Date;
  createdBefore?: Date;
  updatedAfter?: Date;
  updatedBefore?: Date;
  /** Text to find in the media buy id or the stored request. */
  contains?: string;
  hasWebhook?: boolean;
  /** Only tasks for this account: those of its media buys, and others whose request named it by id. */
  accountId?: string;
}

/** A task belongs to an account through its media buy, or (no buy) through the account_id its request named. */
const taskOfAccount = (accountId: string) =>
  sql`(case when ${workflowSteps.mediaBuyId} is not null
            then exists (select 1 from media_buys b where b.tenant_id = ${workflowSteps.tenantId} and b.id = ${workflowSteps.mediaBuyId} and b.account_id = ${accountId})
            else ${workflowSteps.request}->'account'->>'account_id' = ${accountId} end)`;

/** Does this task belong to that account? (tasks/get with an account.) */
export async function taskInAccount(db: Queryable, p: { tenantId: string; taskId: string; accountId: string }): Promise<boolean> {
  const rows = await db.select({ one: sql<number>`1` }).from(workflowSteps).where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.id, p.taskId), taskOfAccount(p.accountId)));
  return rows.length > 0;
}

const TASK_SORT = { created_at: workflowSteps.createdAt, updated_at: workflowSteps.updatedAt, status: workflowSteps.status, task_type: workflowSteps.stepType } as const;

/** A page of the principal's workflow steps with the total matching the filters. */
export async function listTasksForPrincipal(
  db: Queryable,
  p: { tenantId: string; principalId: string; filters: TaskFilters; sort: { field: keyof typeof TASK_SORT; direction: 'asc' | 'desc' }; limit: number; offset: number },
): Promise<{ rows: WorkflowStepRow[]; total: number }> {
  const f = p.filters;
  const like = f.contains && `%${f.contains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const order = p.sort.direction === 'asc' ? asc : desc;
  const rows = await db
    .select({ step: workflowSteps, total: sql<number>`(count(*) over ())::int` })
    .from(workflowSteps)
    .where(
      and(
        eq(workflowSteps.tenantId, p.tenantId),
        eq(workflowSteps.principalId, p.principalId),
        f.statuses ? inArray(workflowSteps.status, f.statuses) : undefined,
        f.stepTypes ? inArray(workflowSteps.stepType, f.stepTypes) : undefined,
        f.ids ? inArray(workflowSteps.id, f.ids) : undefined,
        f.createdAfter ? gt(workflowSteps.createdAt, f.createdAfter) : undefined,
        f.createdBefore ? lt(workflowSteps.createdAt, f.createdBefore) : undefined,
        f.updatedAfter ? gt(workflowSteps.updatedAt, f.updatedAfter) : undefined,
        f.updatedBefore ? lt(workflowSteps.updatedAt, f.updatedBefore) : undefined,
        like ? or(ilike(workflowSteps.mediaBuyId, like), sql`${workflowSteps.request}::text ilike ${like}`) : undefined,
        f.hasWebhook === undefined ? undefined : f.hasWebhook ? isNotNull(workflowSteps.pushNotificationConfig) : isNull(workflowSteps.pushNotificationConfig),
        f.accountId === undefined ? undefined : taskOfAccount(f.accountId),
      ),
    )
    .orderBy(order(TASK_SORT[p.sort.field]), order(workflowSteps.id))
    .limit(p.limit)
    .offset(p.offset);
  return { rows: rows.map((r) => r.step), total: rows[0]?.total ?? 0 };
}
