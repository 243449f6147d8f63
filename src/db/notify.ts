/**
 * Change events. Published with pg_notify inside the transaction that makes the
 * change, so a listener never hears of a state that was rolled back, and never
 * misses one that committed.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Queryable } from './client.js';

export const EVENTS_CHANNEL = 'sales_agent_events';

export const ChangeEvent = z.object({
  kind: z.literal('media_buy'),
  tenant_id: z.string(),
  principal_id: z.string(),
  media_buy_id: z.string(),
  task_id: z.string().nullish(),
  status: z.string(),
  summary: z.string().optional(),
  at: z.string(),
});
export type ChangeEvent = z.infer<typeof ChangeEvent>;

export async function publishChange(db: Queryable, event: Omit<ChangeEvent, 'at'>): Promise<void> {
  const payload: ChangeEvent = { ...event, at: new Date().toISOString() };
  await db.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(payload)})`);
}
