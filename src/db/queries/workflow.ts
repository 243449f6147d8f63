/** Workflow steps: the AdCP task record. Reads are scoped to the calling principal. */
import { and, desc, eq, sql } from 'drizzle-orm';
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

/** A buy withdrawn before the seller decided: its approval step is closed too. */
export async function cancelPendingApproval(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<void> {
  await db
    .update(workflowSteps)
    .set({ status: 'canceled', owner: 'buyer', updatedAt: sql`now()` })
    .where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.mediaBuyId, p.mediaBuyId), eq(workflowSteps.status, 'requires_approval')));
}
