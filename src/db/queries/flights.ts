/**
 * Flight-date transitions, run by the advance_flights task across all tenants:
 * lock a batch of buys whose start or end time has passed (skipping rows another
 * worker holds), then move the ones the lifecycle allows. Both run inside the
 * caller's transaction, which also publishes the changes.
 */
import { and, asc, eq, inArray, lte, or, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { mediaBuys } from '../schema/index.js';
import { BOOKED } from './media-buys.js';

/**
 * `start`: pending_start buys (booked at the ad server) whose flight began; `end`: active or paused buys whose
 * flight is over, and booked buys still waiting for creatives when it ended (they ran nothing, but are over too).
 */
export type FlightEdge = 'start' | 'end';

export interface DueBuy {
  id: string;
  tenantId: string;
  principalId: string;
  status: string;
  /** Created paused (AdCP 3.1): its start takes it to paused, not active. */
  startPaused: boolean;
}

export async function lockBuysDueAt(tx: Queryable, p: { edge: FlightEdge; now: Date; limit: number }): Promise<DueBuy[]> {
  // A buy not yet live moves only once booked (BOOKED).
  const due =
    p.edge === 'start'
      ? and(eq(mediaBuys.status, 'pending_start'), BOOKED, lte(mediaBuys.startTime, p.now))
      : and(or(inArray(mediaBuys.status, ['active', 'paused']), and(eq(mediaBuys.status, 'pending_creatives'), BOOKED)), lte(mediaBuys.endTime, p.now));
  return tx
    .select({ id: mediaBuys.id, tenantId: mediaBuys.tenantId, principalId: mediaBuys.principalId, status: mediaBuys.status, startPaused: mediaBuys.startPaused })
    .from(mediaBuys)
    .where(due)
    .orderBy(asc(p.edge === 'start' ? mediaBuys.startTime : mediaBuys.endTime), asc(mediaBuys.id))
    .limit(p.limit)
    .for('update', { skipLocked: true });
}

/** Move the given (locked) buys to `to`, if they are still in one of `from`; bumps the revision. */
export async function moveBuys(tx: Queryable, p: { ids: string[]; from: string[]; to: string }): Promise<(Omit<DueBuy, 'status' | 'startPaused'> & { revision: number })[]> {
  if (p.ids.length === 0 || p.from.length === 0) return [];
  return tx
    .update(mediaBuys)
    .set({ status: p.to, revision: sql`${mediaBuys.revision} + 1`, updatedAt: sql`now()` })
    .where(and(inArray(mediaBuys.id, p.ids), inArray(mediaBuys.status, p.from)))
    .returning({ id: mediaBuys.id, tenantId: mediaBuys.tenantId, principalId: mediaBuys.principalId, revision: mediaBuys.revision });
}
