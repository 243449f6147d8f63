/**
 * advance_flights (crontab, every minute): move buys along their flight dates.
 * pending_start becomes active once the start time has passed (paused, for a buy
 * created paused; pending_creatives waits for creatives; sync_creatives starts it), and active or paused becomes
 * completed once the end time has passed. Each batch is one transaction: lock
 * with SKIP LOCKED (so concurrent workers share the work), move only along edges
 * the AdCP lifecycle allows, bump the revision, and pg_notify each change. A booked buy
 * still waiting for creatives when its flight ends completes too (through active: the lifecycle has no
 * edge from pending_creatives to completed); it ran nothing.
 * Starts run before ends, so a buy whose whole flight has passed goes
 * pending_start -> active -> completed in one run, along legal edges.
 */
import { isLegalMediaBuyTransition } from '@adcp/sdk/server';
import { publishChange } from '../../db/notify.js';
import { lockBuysDueAt, moveBuys, type DueBuy, type FlightEdge } from '../../db/queries/flights.js';
import { liveStatus } from '../../domain/status.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

type Status = Parameters<typeof isLegalMediaBuyTransition>[0];

const BATCH = 500;
/** Bounds one run; anything left is picked up a minute later. */
const MAX_BATCHES = 20;
const SUMMARY: Record<FlightEdge, string> = { start: 'the flight has started', end: 'the flight has ended' };

/** Where a due buy goes: at its start, active (or paused, for a buy created paused); at its end, completed. */
const targetOf = (edge: FlightEdge, b: DueBuy): Status => (edge === 'end' ? 'completed' : (liveStatus(b.startPaused) as Status));

async function advanceBatch(deps: TaskDeps, edge: FlightEdge, now: Date): Promise<{ locked: number; moved: number }> {
  return deps.db.transaction(async (tx) => {
    const due = await lockBuysDueAt(tx, { edge, now, limit: BATCH });
    let moved = 0;
    for (const to of new Set(due.map((b) => targetOf(edge, b)))) {
      const bound = due.filter((b) => targetOf(edge, b) === to);
      // A buy whose flight ended while it waited for creatives completes along the lifecycle's edges, through active.
      const via = new Set(bound.filter((b) => to === 'completed' && b.status === 'pending_creatives').map((b) => b.id));
      await moveBuys(tx, { ids: [...via], from: ['pending_creatives'], to: 'active' });
      const legal = bound.map((b) => (via.has(b.id) ? { ...b, status: 'active' } : b)).filter((b) => isLegalMediaBuyTransition(b.status as Status, to));
      const done = await moveBuys(tx, { ids: legal.map((b) => b.id), from: [...new Set(legal.map((b) => b.status))], to });
      for (const b of done) {
        await publishChange(tx, { tenant_id: b.tenantId, principal_id: b.principalId, media_buy_id: b.id, task_id: null, status: to, summary: SUMMARY[edge] });
      }
      moved += done.length;
    }
    return { locked: due.length, moved };
  });
}

export async function advanceFlights(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<{ started: number; completed: number }> {
  const counts = { start: 0, end: 0 };
  for (const edge of ['start', 'end'] as const) {
    for (let i = 0; i < MAX_BATCHES; i++) {
      const { locked, moved } = await advanceBatch(deps, edge, new Date());
      counts[edge] += moved;
      if (locked < BATCH || moved === 0) break;
    }
  }
  if (counts.start || counts.end) deps.logger.info('advance_flights: flight dates applied', { started: counts.start, completed: counts.end });
  return { started: counts.start, completed: counts.end };
}
