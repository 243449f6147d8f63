/** Workflow steps: the AdCP task record. Reads are scoped to the calling principal. */
import { and, asc, desc, eq, gt, ilike, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { workflowSteps } from '../schema/index.js';
import type { WorkflowStepRow } from './media-buys.js';
import { afterKeyset, textSort, timeSort, type KeysetSort } from './keyset.js';

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
  // Read (and locked) before they end: the trigger that drops an ended step's webhook credentials would strip them from
  // a returned row, and the canceled webhook is signed with them and echoes the token they hold.
  const open = await db
    .select()
    .from(workflowSteps)
    .where(
      and(
        eq(workflowSteps.tenantId, p.tenantId),
        eq(workflowSteps.mediaBuyId, p.mediaBuyId),
        eq(workflowSteps.stepType, 'create_media_buy'),
        inArray(workflowSteps.status, ['requires_approval', 'pending', 'in_progress']),
      ),
    )
    .for('update');
  if (!open.length) return [];
  await db
    .update(workflowSteps)
    .set({ status: 'canceled', owner: 'buyer', updatedAt: sql`now()` })
    .where(and(eq(workflowSteps.tenantId, p.tenantId), inArray(workflowSteps.id, open.map((s) => s.id))));
  return open.map((s) => ({ ...s, status: 'canceled', owner: 'buyer' }));
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

const TASK_SORT: Record<TaskSortField, KeysetSort> = {
  created_at: timeSort(workflowSteps.createdAt),
  updated_at: timeSort(workflowSteps.updatedAt),
  status: textSort(workflowSteps.status),
  task_type: textSort(workflowSteps.stepType),
};
export type TaskSortField = 'created_at' | 'updated_at' | 'status' | 'task_type';

/** Whether a cursor's sort value could be one this sort issued. */
export const validTaskSortValue = (field: TaskSortField, value: unknown): boolean => TASK_SORT[field].valid(value);

/**
 * One page of the principal's workflow steps matching the filters, after the item `after` names (a keyset: its
 * sort value and id), each with its sort value for the next cursor; and how many match in all. Tasks change
 * status all the time: an offset would repeat or skip them between pages when sorted by updated_at.
 */
export async function listTasksForPrincipal(
  db: Queryable,
  p: { tenantId: string; principalId: string; filters: TaskFilters; sort: { field: TaskSortField; direction: 'asc' | 'desc' }; limit: number; after?: { value: string | number; id: string } },
): Promise<{ rows: (WorkflowStepRow & { sortValue: string | number })[]; total: number }> {
  const f = p.filters;
  const like = f.contains && `%${f.contains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const order = p.sort.direction === 'asc' ? asc : desc;
  const sort = TASK_SORT[p.sort.field];
  const where = and(
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
  );
  const after = p.after && afterKeyset(sort, workflowSteps.id, p.sort.direction, p.after);
  const [rows, [count]] = await Promise.all([
    db.select({ step: workflowSteps, sortValue: sort.value }).from(workflowSteps).where(and(where, after)).orderBy(order(sort.key), order(workflowSteps.id)).limit(p.limit),
    db.select({ n: sql<number>`count(*)::int` }).from(workflowSteps).where(where),
  ]);
  return { rows: rows.map((r) => ({ ...r.step, sortValue: r.sortValue as string | number })), total: count?.n ?? 0 };
}

/** The job key of a sync_accounts task's prove_notification_configs job (src/mcp/tools/sync-accounts.ts). */
export const PROVE_JOB_KEY_PREFIX = 'prove_notification_configs:';

/**
 * sync_accounts tasks still open (pending, in_progress) whose prove_notification_configs job has stopped: its
 * attempts ran out on an error it could not record as the task's (the database failing in its last attempt, its
 * worker killed then), or it ended without finishing the task. Nobody will finish them; they hold the buyer's
 * sealed credentials. A job waiting for a retry or running keeps its task.
 */
export async function strandedSyncTasks(db: Queryable, limit: number): Promise<{ tenantId: string; id: string }[]> {
  const rows = await db.execute<{ tenant_id: string; id: string }>(sql`
    select s.tenant_id, s.id from workflow_steps s
    where s.step_type = 'sync_accounts' and s.status in ('pending', 'in_progress')
      and not exists (select 1 from graphile_worker._private_jobs j
                      where j.key = ${PROVE_JOB_KEY_PREFIX} || s.id and (j.attempts < j.max_attempts or j.locked_at is not null))
    order by s.created_at
    limit ${limit}`);
  return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
}
