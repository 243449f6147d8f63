/**
 * Seller-console identities: operators, their sessions and admin API keys.
 * Session tokens and API keys are looked up by their SHA-256; every row is
 * bound to one tenant, and everything an identity can reach is that tenant's.
 */
import { and, asc, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { adminApiKeys, operatorSessions, operators, tenants } from '../schema/index.js';

export type OperatorRow = typeof operators.$inferSelect;
export type ApiKeyRow = typeof adminApiKeys.$inferSelect;
export type Role = 'admin' | 'viewer';

export interface SessionIdentity {
  operatorId: string;
  email: string;
  role: Role;
  tenantId: string;
  tenantName: string;
  csrfToken: string;
  mustChangePassword: boolean;
  expiresAt: Date;
}

export async function insertOperator(db: Queryable, row: { id: string; tenantId: string; email: string; role: Role; passwordHash: string }): Promise<void> {
  await db.insert(operators).values({ ...row, mustChangePassword: true });
}

/** Login: the live operator accounts with this email, in every tenant. */
export async function operatorsWithEmail(db: Queryable, email: string): Promise<(OperatorRow & { tenantName: string })[]> {
  const rows = await db
    .select({ op: operators, tenantName: tenants.name })
    .from(operators)
    .innerJoin(tenants, eq(tenants.id, operators.tenantId))
    .where(and(eq(operators.email, email), isNull(operators.disabledAt)))
    .orderBy(asc(operators.tenantId));
  return rows.map((r) => ({ ...r.op, tenantName: r.tenantName }));
}

export async function listOperators(db: Queryable, tenantId: string): Promise<OperatorRow[]> {
  return db.select().from(operators).where(eq(operators.tenantId, tenantId)).orderBy(asc(operators.email));
}

export async function getOperator(db: Queryable, p: { tenantId: string; id: string }): Promise<OperatorRow | undefined> {
  const [row] = await db.select().from(operators).where(and(eq(operators.tenantId, p.tenantId), eq(operators.id, p.id)));
  return row;
}

export async function setOperatorPassword(db: Queryable, p: { tenantId: string; id: string; passwordHash: string; mustChange: boolean }): Promise<void> {
  await db
    .update(operators)
    .set({ passwordHash: p.passwordHash, mustChangePassword: p.mustChange })
    .where(and(eq(operators.tenantId, p.tenantId), eq(operators.id, p.id)));
}

export async function createSession(
  db: Queryable,
  p: { tokenHash: string; operatorId: string; tenantId: string; csrfToken: string; expiresAt: Date },
): Promise<void> {
  await db.insert(operatorSessions).values(p);
  await db.update(operators).set({ lastLoginAt: sql`now()` }).where(eq(operators.id, p.operatorId));
}

export async function findSession(db: Queryable, tokenHash: string): Promise<SessionIdentity | undefined> {
  const [row] = await db
    .select({
      operatorId: operators.id,
      email: operators.email,
      role: operators.role,
      tenantId: operators.tenantId,
      tenantName: tenants.name,
      csrfToken: operatorSessions.csrfToken,
      mustChangePassword: operators.mustChangePassword,
      expiresAt: operatorSessions.expiresAt,
    })
    .from(operatorSessions)
    .innerJoin(operators, and(eq(operators.id, operatorSessions.operatorId), eq(operators.tenantId, operatorSessions.tenantId)))
    .innerJoin(tenants, eq(tenants.id, operators.tenantId))
    .where(and(eq(operatorSessions.tokenHash, tokenHash), gt(operatorSessions.expiresAt, sql`now()`), isNull(operators.disabledAt)));
  return row && { ...row, role: row.role as Role };
}

export async function deleteSession(db: Queryable, tokenHash: string): Promise<void> {
  await db.delete(operatorSessions).where(eq(operatorSessions.tokenHash, tokenHash));
}

/** Disable an operator: no sign-in, and every session of theirs ends. Undefined when there is no such enabled operator. */
export async function disableOperator(db: Queryable, p: { tenantId: string; id?: string; email?: string }): Promise<{ id: string; email: string } | undefined> {
  const [row] = await db
    .update(operators)
    .set({ disabledAt: sql`now()` })
    .where(and(eq(operators.tenantId, p.tenantId), p.id ? eq(operators.id, p.id) : eq(operators.email, (p.email ?? '').toLowerCase()), isNull(operators.disabledAt)))
    .returning({ id: operators.id, email: operators.email });
  if (row) await db.delete(operatorSessions).where(eq(operatorSessions.operatorId, row.id));
  return row;
}

/** A password change ends the operator's other sessions. */
export async function deleteOtherSessions(db: Queryable, p: { operatorId: string; keep: string }): Promise<void> {
  await db.delete(operatorSessions).where(and(eq(operatorSessions.operatorId, p.operatorId), sql`${operatorSessions.tokenHash} <> ${p.keep}`));
}

export async function deleteExpiredSessions(db: Queryable): Promise<number> {
  const rows = await db.delete(operatorSessions).where(lt(operatorSessions.expiresAt, sql`now()`)).returning({ t: operatorSessions.tokenHash });
  return rows.length;
}

export async function insertApiKey(db: Queryable, row: { id: string; tenantId: string; name: string; keyHash: string; keyHint: string; role: Role; createdBy: string }): Promise<void> {
  await db.insert(adminApiKeys).values(row);
}

export async function findApiKey(db: Queryable, keyHash: string): Promise<(ApiKeyRow & { tenantName: string }) | undefined> {
  const [row] = await db
    .select({ key: adminApiKeys, tenantName: tenants.name })
    .from(adminApiKeys)
    .innerJoin(tenants, eq(tenants.id, adminApiKeys.tenantId))
    .where(and(eq(adminApiKeys.keyHash, keyHash), isNull(adminApiKeys.revokedAt)));
  return row && { ...row.key, tenantName: row.tenantName };
}

export async function touchApiKey(db: Queryable, id: string): Promise<void> {
  await db.update(adminApiKeys).set({ lastUsedAt: sql`now()` }).where(eq(adminApiKeys.id, id));
}

export async function listApiKeys(db: Queryable, tenantId: string): Promise<ApiKeyRow[]> {
  return db.select().from(adminApiKeys).where(eq(adminApiKeys.tenantId, tenantId)).orderBy(asc(adminApiKeys.createdAt));
}

export async function revokeApiKey(db: Queryable, p: { tenantId: string; id: string }): Promise<boolean> {
  const rows = await db
    .update(adminApiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(adminApiKeys.tenantId, p.tenantId), eq(adminApiKeys.id, p.id), isNull(adminApiKeys.revokedAt)))
    .returning({ id: adminApiKeys.id });
  return rows.length > 0;
}
