/**
 * The MCP event log: what a session's notification stream carried, in id
 * order, so a client that comes back with Last-Event-ID gets what it missed,
 * from whichever replica it reaches. Every read is scoped by session.
 */
import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { mcpEvents } from '../schema/index.js';

/** Reserve `n` event ids from the table's sequence, in increasing order (one round trip for many events). */
export async function reserveMcpEventIds(db: Queryable, n: number): Promise<number[]> {
  const rows = await db.execute<{ id: string }>(sql`select nextval(pg_get_serial_sequence('mcp_events', 'id')) as id from generate_series(1, ${n}::int) order by 1`);
  return rows.map((r) => Number(r.id));
}

/** Write logged events (ids reserved beforehand) in one statement. */
export async function insertMcpEvents(db: Queryable, events: { id: number; sessionId: string; streamId: string; message: Record<string, unknown> }[]): Promise<void> {
  if (events.length > 0) await db.insert(mcpEvents).values(events);
}

export async function mcpEventsAfter(
  db: Queryable,
  p: { sessionId: string; streamId: string; afterId: number; limit: number },
): Promise<{ id: number; message: Record<string, unknown> }[]> {
  return db
    .select({ id: mcpEvents.id, message: mcpEvents.message })
    .from(mcpEvents)
    .where(and(eq(mcpEvents.sessionId, p.sessionId), eq(mcpEvents.streamId, p.streamId), gt(mcpEvents.id, p.afterId)))
    .orderBy(mcpEvents.id)
    .limit(p.limit);
}

/** The last event on a session's stream (for a replica taking the session over). */
export async function lastMcpEvent(db: Queryable, p: { sessionId: string; streamId: string }): Promise<{ id: number; at: Date } | undefined> {
  const [row] = await db
    .select({ id: mcpEvents.id, at: mcpEvents.createdAt })
    .from(mcpEvents)
    .where(and(eq(mcpEvents.sessionId, p.sessionId), eq(mcpEvents.streamId, p.streamId)))
    .orderBy(desc(mcpEvents.id))
    .limit(1);
  return row;
}

/** Delete up to `limit` events older than the retention window; returns how many went. */
export async function pruneMcpEvents(db: Queryable, p: { olderThanSeconds: number; limit?: number }): Promise<number> {
  const rows = await db
    .delete(mcpEvents)
    .where(sql`${mcpEvents.id} in (select id from mcp_events where created_at < now() - make_interval(secs => ${p.olderThanSeconds}) order by id limit ${p.limit ?? 10_000})`)
    .returning({ id: mcpEvents.id });
  return rows.length;
}
