/**
 * Change events. Published with pg_notify inside the transaction that makes the
 * change, so a listener never hears of a state that was rolled back, and never
 * misses one that committed.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Queryable } from './client.js';

export const EVENTS_CHANNEL = 'sales_agent_events';

export const MediaBuyEvent = z.object({
  kind: z.literal('media_buy'),
  tenant_id: z.string(),
  principal_id: z.string(),
  media_buy_id: z.string(),
  task_id: z.string().nullish(),
  status: z.string(),
  summary: z.string().optional(),
  at: z.string(),
});
export type MediaBuyEvent = z.infer<typeof MediaBuyEvent>;

/** The seller changed products, pricing, adapter configurations or tenant settings (triggers on those tables send it): caches of them are stale. */
export const CatalogEvent = z.object({ kind: z.literal('catalog'), tenant_id: z.string(), at: z.string() });
export type CatalogEvent = z.infer<typeof CatalogEvent>;

/** An account changed (a trigger on accounts sends it): caches of the tenant's accounts are stale. */
export const AccountEvent = z.object({ kind: z.literal('account'), tenant_id: z.string(), at: z.string() });
export type AccountEvent = z.infer<typeof AccountEvent>;

/** A buyer's token was replaced or the buyer removed (a trigger on principals sends it): token caches drop the buyer. */
export const PrincipalEvent = z.object({ kind: z.literal('principal'), tenant_id: z.string(), principal_id: z.string(), at: z.string() });
export type PrincipalEvent = z.infer<typeof PrincipalEvent>;

/** A replica took an MCP session over: any other replica still holding it lets it go. */
export const SessionEvent = z.object({ kind: z.literal('session'), session_id: z.string(), holder: z.string(), at: z.string() });
export type SessionEvent = z.infer<typeof SessionEvent>;

export const ChangeEvent = z.discriminatedUnion('kind', [MediaBuyEvent, CatalogEvent, AccountEvent, PrincipalEvent, SessionEvent]);
export type ChangeEvent = z.infer<typeof ChangeEvent>;

export function mediaBuyEventPayload(event: Omit<MediaBuyEvent, 'at' | 'kind'>): string {
  return JSON.stringify({ kind: 'media_buy', ...event, at: new Date().toISOString() } satisfies MediaBuyEvent);
}

export async function publishChange(db: Queryable, event: Omit<MediaBuyEvent, 'at' | 'kind'>): Promise<void> {
  await db.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${mediaBuyEventPayload(event)})`);
}

export async function publishSessionMoved(db: Queryable, p: { sessionId: string; holder: string }): Promise<void> {
  const payload: SessionEvent = { kind: 'session', session_id: p.sessionId, holder: p.holder, at: new Date().toISOString() };
  await db.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(payload)})`);
}
