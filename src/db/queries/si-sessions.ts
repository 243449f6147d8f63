/**
 * Sponsored Intelligence sessions and their transcripts. Every read and write is
 * scoped by tenant and principal: a host sees only the sessions it opened, and
 * someone else's session id answers exactly like an unknown one.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db, Queryable, Tx } from '../client.js';
import { accounts, mediaBuys, siMessages, siSessions } from '../schema/index.js';

export type SiSessionRow = typeof siSessions.$inferSelect;

export interface Scope {
  tenantId: string;
  principalId: string;
}

export interface Turn {
  role: 'user' | 'agent';
  message?: string;
  payload?: Record<string, unknown>;
}

/** The caller's media buy, and whether it was bought for a sandbox account; undefined when it is not theirs. */
export async function mediaBuyForSession(db: Queryable, p: Scope & { mediaBuyId: string }): Promise<{ sandbox: boolean } | undefined> {
  const [row] = await db
    .select({ sandbox: sql<boolean>`coalesce(${accounts.sandbox}, false)` })
    .from(mediaBuys)
    .leftJoin(accounts, eq(accounts.id, mediaBuys.accountId))
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.mediaBuyId)));
  return row;
}

export async function createSession(tx: Tx, p: Scope & { session: Omit<typeof siSessions.$inferInsert, 'tenantId' | 'principalId' | 'turns'>; turns: Turn[] }): Promise<void> {
  await tx.insert(siSessions).values({ ...p.session, tenantId: p.tenantId, principalId: p.principalId, turns: p.turns.length });
  await insertTurns(tx, p.session.id, 0, p.turns);
}

/** The caller's session, locked for the rest of the transaction. */
export async function lockSession(tx: Tx, p: Scope & { id: string }): Promise<SiSessionRow | undefined> {
  const [row] = await tx
    .select()
    .from(siSessions)
    .where(and(eq(siSessions.tenantId, p.tenantId), eq(siSessions.principalId, p.principalId), eq(siSessions.id, p.id)))
    .for('update');
  return row;
}

async function insertTurns(tx: Tx, sessionId: string, after: number, turns: Turn[]): Promise<void> {
  if (turns.length === 0) return;
  await tx.insert(siMessages).values(turns.map((t, i) => ({ sessionId, seq: after + i + 1, role: t.role, message: t.message ?? null, payload: t.payload ?? null })));
}

/** Append turns to a locked session and note the activity (and a new status, if it changed). */
export async function appendTurns(tx: Tx, p: { session: SiSessionRow; turns: Turn[]; status: string; now: Date }): Promise<void> {
  await insertTurns(tx, p.session.id, p.session.turns, p.turns);
  await tx
    .update(siSessions)
    .set({ turns: p.session.turns + p.turns.length, lastActiveAt: p.now, status: p.status })
    .where(eq(siSessions.id, p.session.id));
}

/** End the caller's session if it sat idle past its timeout (session_timeout). True when it did. */
export async function expireIdleSession(db: Queryable, p: Scope & { id: string; now: Date }): Promise<boolean> {
  const rows = await db
    .update(siSessions)
    .set({ status: 'terminated', terminationReason: 'session_timeout', endedAt: p.now })
    .where(
      and(
        eq(siSessions.tenantId, p.tenantId),
        eq(siSessions.principalId, p.principalId),
        eq(siSessions.id, p.id),
        inArray(siSessions.status, ['active', 'pending_handoff']),
        sql`${siSessions.lastActiveAt} + make_interval(secs => ${siSessions.ttlSeconds}) < ${p.now.toISOString()}::timestamptz`,
      ),
    )
    .returning({ id: siSessions.id });
  return rows.length > 0;
}

/** End a locked session: complete or terminated, with the reason. */
export async function endSession(tx: Tx, p: { id: string; status: 'complete' | 'terminated'; reason: string; now: Date }): Promise<void> {
  await tx.update(siSessions).set({ status: p.status, terminationReason: p.reason, endedAt: p.now }).where(eq(siSessions.id, p.id));
}

/**
 * The test controller ending a session: complete or terminated (with its reason).
 * An ended session stays as it is; forcing it to the status it has is a no-op.
 */
export async function forceSessionStatus(
  db: Db,
  p: Scope & { sessionId: string; status: 'complete' | 'terminated'; reason?: string; now: Date },
): Promise<{ outcome: 'not_found' } | { outcome: 'illegal'; previous: string } | { outcome: 'ok'; previous: string; current: string }> {
  return db.transaction(async (tx) => {
    const session = await lockSession(tx, { ...p, id: p.sessionId });
    if (!session) return { outcome: 'not_found' };
    const previous = session.status;
    if (previous === p.status) return { outcome: 'ok', previous, current: p.status };
    if (previous === 'complete' || previous === 'terminated') return { outcome: 'illegal', previous };
    await endSession(tx, { id: session.id, status: p.status, reason: p.reason ?? (p.status === 'complete' ? 'handoff_complete' : 'host_terminated'), now: p.now });
    return { outcome: 'ok', previous, current: p.status };
  });
}
