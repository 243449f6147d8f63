/**
 * Undoing an update_media_buy that no ad server would take. The update is applied to the buy at once and
 * carried to each ad server by a job; when every one of them refuses it for good, the buy would otherwise
 * show a change its orders never got. The update's step keeps the buy as it was before (its `undo`), and
 * the job that settles the last refusal restores it, unless the buy moved on since (a later update: its
 * revision is not the one the update made) or closed. A cancel is never undone (canceled is final), and
 * neither are creative assignments (synced to the ad servers on their own).
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { mediaBuys, mediaPackages } from '../schema/index.js';
import { CLOSED_BUY } from '../../domain/status.js';
import type { MediaBuyRow, PackageRow } from './media-buys.js';

export interface UpdateUndo {
  v: 1;
  /** The buy's revision once the update was made. */
  revision: number;
  buy: { status: string; startPaused: boolean; startTime: string; endTime: string; totalBudget: string };
  /** The packages the update changed, as they were. */
  packages: { id: string; budget: string; bidPrice: string | null; pacing: string | null; impressions: string | null; status: string; targeting: Record<string, unknown> | null }[];
  /** Packages the update added. */
  added: string[];
}

export function undoOf(buy: MediaBuyRow, packages: PackageRow[], changed: ReadonlySet<string>, added: string[], revision: number): UpdateUndo {
  return {
    v: 1,
    revision,
    buy: { status: buy.status, startPaused: buy.startPaused, startTime: buy.startTime.toISOString(), endTime: buy.endTime.toISOString(), totalBudget: buy.totalBudget },
    packages: packages
      .filter((k) => changed.has(k.id))
      .map((k) => ({ id: k.id, budget: k.budget, bidPrice: k.bidPrice, pacing: k.pacing, impressions: k.impressions, status: k.status, targeting: k.targeting ?? null })),
    added,
  };
}

/** Restore the buy as `undo` holds it, in the caller's transaction; the status it is back to, or null when it moved on or closed. */
export async function restoreBeforeUpdate(tx: Queryable, p: { tenantId: string; mediaBuyId: string; undo: UpdateUndo }): Promise<{ status: string; revision: number } | null> {
  const [buy] = await tx
    .select({ status: mediaBuys.status, revision: mediaBuys.revision })
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.mediaBuyId)))
    .for('update');
  if (!buy || buy.revision !== p.undo.revision || CLOSED_BUY.has(buy.status)) return null;
  const b = p.undo.buy;
  for (const k of p.undo.packages) {
    await tx
      .update(mediaPackages)
      .set({ budget: k.budget, bidPrice: k.bidPrice, pacing: k.pacing, impressions: k.impressions, status: k.status, targeting: k.targeting })
      .where(and(eq(mediaPackages.mediaBuyId, p.mediaBuyId), eq(mediaPackages.id, k.id)));
  }
  if (p.undo.added.length) await tx.update(mediaPackages).set({ status: 'canceled' }).where(and(eq(mediaPackages.mediaBuyId, p.mediaBuyId), inArray(mediaPackages.id, p.undo.added)));
  const revision = buy.revision + 1;
  await tx
    .update(mediaBuys)
    .set({ status: b.status, startPaused: b.startPaused, startTime: new Date(b.startTime), endTime: new Date(b.endTime), totalBudget: b.totalBudget, revision, updatedAt: sql`now()` })
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.mediaBuyId)));
  return { status: b.status, revision };
}
