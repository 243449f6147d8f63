/**
 * The audit trail: who did what, when, to what, per tenant. Console actions
 * write their entry in the transaction that makes the change; buying tool
 * calls arrive in batches (src/services/audit.ts), many rows in one statement.
 */
import { and, desc, eq, ilike, lt, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { auditLog } from '../schema/index.js';

export type AuditRow = typeof auditLog.$inferSelect;

export interface AuditEntry {
  tenantId: string;
  /** The buyer, for tool calls; null for seller actions. */
  principalId?: string | null;
  /** operator:<email>, api_key:<name>, buyer:<principal id>, system */
  actor: string;
  operation: string;
  target?: string | null;
  success: boolean;
  details?: Record<string, unknown> | null;
  at?: Date;
}

export async function insertAudit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({
    tenantId: e.tenantId,
    principalId: e.principalId ?? null,
    actor: e.actor,
    operation: e.operation,
    target: e.target ?? null,
    success: e.success,
    details: e.details ?? null,
    ...(e.at && { createdAt: e.at }),
  });
}

/** Many entries, one statement (one round trip, one commit). */
export async function insertAuditBatch(db: Queryable, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((e) => ({
    tenant_id: e.tenantId,
    principal_id: e.principalId ?? null,
    actor: e.actor,
    operation: e.operation,
    target: e.target ?? null,
    success: e.success,
    details: e.details ?? null,
    created_at: (e.at ?? new Date()).toISOString(),
  }));
  await db.execute(sql`
    insert into audit_log (tenant_id, principal_id, actor, operation, target, success, details, created_at)
    select tenant_id, principal_id, actor, operation, target, success, details, created_at
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(
      tenant_id text, principal_id text, actor text, operation text, target text, success boolean, details jsonb, created_at timestamptz)`);
}

export async function listAudit(
  db: Queryable,
  p: { tenantId: string; operation?: string; actor?: string; target?: string; beforeId?: number; limit: number },
): Promise<AuditRow[]> {
  const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return db
    .select()
    .from(auditLog)
    .where(
      and(
        eq(auditLog.tenantId, p.tenantId),
        p.operation ? eq(auditLog.operation, p.operation) : undefined,
        p.actor ? ilike(auditLog.actor, like(p.actor)) : undefined,
        p.target ? eq(auditLog.target, p.target) : undefined,
        p.beforeId ? lt(auditLog.id, p.beforeId) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(p.limit);
}

/** Retention: deletes a batch of audit entries older than `olderThanDays`, each tenant's found on its (tenant_id, created_at) index. */
export async function pruneAuditLog(db: Queryable, p: { olderThanDays: number; limit: number }): Promise<number> {
  const rows = await db.execute(sql`
    delete from audit_log where id = any(array(
      select a.id from tenants t, lateral (
        select id from audit_log where tenant_id = t.id and created_at < now() - make_interval(days => ${p.olderThanDays}) limit ${p.limit}) a
      limit ${p.limit}))
    returning 1`);
  return rows.length;
}
