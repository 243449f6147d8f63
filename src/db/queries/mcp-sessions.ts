/**
 * Streamable-HTTP sessions as any replica can see them: the buyer a session
 * belongs to and the resources it subscribed to. The live session (transport,
 * MCP server, GET stream) is in the memory of the replica serving it; this
 * row lets another replica take it over.
 */
import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { mcpSessions } from '../schema/index.js';

export type McpSessionRow = typeof mcpSessions.$inferSelect;

export async function insertMcpSession(db: Queryable, s: { id: string; tenantId: string | null; principalId: string | null }): Promise<void> {
  await db.insert(mcpSessions).values(s).onConflictDoNothing({ target: mcpSessions.id });
}

export async function getMcpSession(db: Queryable, id: string): Promise<McpSessionRow | undefined> {
  const [row] = await db.select().from(mcpSessions).where(eq(mcpSessions.id, id));
  return row;
}

/** Add or remove one subscription (set semantics); also marks the session as in use. */
export async function setMcpSessionSubscription(db: Queryable, p: { id: string; uri: string; subscribed: boolean }): Promise<void> {
  const uri = JSON.stringify([p.uri]);
  await db
    .update(mcpSessions)
    .set({
      subscriptions: p.subscribed
        ? sql`case when ${mcpSessions.subscriptions} @> ${uri}::jsonb then ${mcpSessions.subscriptions} else ${mcpSessions.subscriptions} || ${uri}::jsonb end`
        : sql`${mcpSessions.subscriptions} - ${p.uri}::text`,
      updatedAt: sql`now()`,
    })
    .where(eq(mcpSessions.id, p.id));
}

/** The level the session set with logging/setLevel (a replica taking it over keeps to it). */
export async function setMcpSessionLogLevel(db: Queryable, p: { id: string; level: string }): Promise<void> {
  await db.update(mcpSessions).set({ logLevel: p.level }).where(eq(mcpSessions.id, p.id));
}

export async function touchMcpSession(db: Queryable, id: string): Promise<void> {
  await db.update(mcpSessions).set({ updatedAt: sql`now()` }).where(eq(mcpSessions.id, id));
}

export async function deleteMcpSession(db: Queryable, id: string): Promise<void> {
  await db.delete(mcpSessions).where(eq(mcpSessions.id, id));
}

/** Delete up to `limit` sessions untouched for longer than the retention window (anonymous ones: their own window). */
export async function pruneMcpSessions(db: Queryable, p: { olderThanSeconds: number; anonymousOlderThanSeconds?: number; limit?: number }): Promise<number> {
  const anonymous = p.anonymousOlderThanSeconds ?? p.olderThanSeconds;
  const rows = await db
    .delete(mcpSessions)
    .where(sql`${mcpSessions.id} in (select id from mcp_sessions
      where updated_at < now() - make_interval(secs => ${p.olderThanSeconds})
         or (principal_id is null and updated_at < now() - make_interval(secs => ${anonymous}))
      limit ${p.limit ?? 5000})`)
    .returning({ id: mcpSessions.id });
  return rows.length;
}

/**
 * Which of these resources changed after `since` (a session's last event): for
 * a replica that takes over a session, to tell it what it may have missed.
 */
export async function resourcesChangedSince(
  db: Queryable,
  p: { tenantId: string; principalId: string; since: Date; mediaBuyIds: string[]; taskIds: string[] },
): Promise<{ mediaBuyIds: string[]; taskIds: string[]; anyMediaBuy: boolean }> {
  const since = p.since.toISOString();
  const rows = await db.execute<{ buys: string[]; tasks: string[]; any_buy: boolean }>(sql`
    with mine as (
      select b.id from media_buys b
      where b.tenant_id = ${p.tenantId} and b.principal_id = ${p.principalId}
        and (b.updated_at > ${since}::timestamptz
             or exists (select 1 from workflow_steps s where s.media_buy_id = b.id and s.updated_at > ${since}::timestamptz)
             or exists (select 1 from adapter_orders o where o.media_buy_id = b.id and o.updated_at > ${since}::timestamptz))
    )
    select
      coalesce((select json_agg(id) from mine where id in (select jsonb_array_elements_text(${JSON.stringify(p.mediaBuyIds)}::jsonb))), '[]') as buys,
      coalesce((select json_agg(s.id) from workflow_steps s
                where s.tenant_id = ${p.tenantId} and s.principal_id = ${p.principalId}
                  and s.id in (select jsonb_array_elements_text(${JSON.stringify(p.taskIds)}::jsonb)) and s.updated_at > ${since}::timestamptz), '[]') as tasks,
      exists (select 1 from mine) as any_buy`);
  const r = rows[0]!;
  return { mediaBuyIds: r.buys, taskIds: r.tasks, anyMediaBuy: r.any_buy };
}
