/**
 * The media-buy lifecycle and its mapping onto AdCP vocabularies.
 * Internally a buy may wait for seller approval (`pending_approval`), which AdCP
 * has no media-buy status for: the buyer sees a `submitted` task instead.
 */
import { AdcpError } from './errors.js';
export const MEDIA_BUY_STATUSES = [
  'pending_approval',
  'pending_creatives',
  'pending_start',
  'active',
  'paused',
  'completed',
  'rejected',
  'canceled',
] as const;
export type MediaBuyStatus = (typeof MEDIA_BUY_STATUSES)[number];

export type AdcpMediaBuyStatus = Exclude<MediaBuyStatus, 'pending_approval'>;

/** A buy awaiting approval is provisional: AdCP shows it as pending_start with confirmed_at null. */
export function toAdcpMediaBuyStatus(s: MediaBuyStatus | string): AdcpMediaBuyStatus {
  return s === 'pending_approval' ? 'pending_start' : (s as AdcpMediaBuyStatus);
}

export const WORKFLOW_STATUSES = ['pending', 'requires_approval', 'in_progress', 'completed', 'failed', 'rejected', 'canceled'] as const;
export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];

export type AdcpTaskStatus = 'submitted' | 'working' | 'input-required' | 'completed' | 'canceled' | 'failed' | 'rejected';

export function toAdcpTaskStatus(s: WorkflowStatus | string): AdcpTaskStatus {
  switch (s) {
    case 'pending':
    case 'requires_approval':
      return 'submitted';
    case 'in_progress':
      return 'working';
    case 'completed':
    case 'failed':
    case 'rejected':
    case 'canceled':
      return s;
    default:
      return 'submitted';
  }
}

/**
 * A request's status_filter (one status or several) as the buy statuses to match, or undefined for none given.
 * Only AdCP's statuses: pending_approval is ours (such a buy shows as pending_start, and pending_start matches it).
 */
export function statusFilter(raw: string | string[] | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const asked = Array.isArray(raw) ? raw : [raw];
  const known = MEDIA_BUY_STATUSES.filter((x) => x !== 'pending_approval');
  for (const s of asked) {
    if (!(known as readonly string[]).includes(s)) {
      throw new AdcpError('VALIDATION_ERROR', `Unknown media buy status "${s}".`, { field: 'status_filter', suggestion: `Use one of: ${known.join(', ')}.` });
    }
  }
  return [...new Set(asked)].flatMap((s) => (s === 'pending_start' ? ['pending_start', 'pending_approval'] : [s]));
}

/** A media buy in one of these is over: its packages take and run no creatives, no ad server books or changes it, its last report is due. */
export const CLOSED_BUY_STATUSES: MediaBuyStatus[] = ['canceled', 'completed', 'rejected'];
export const CLOSED_BUY: ReadonlySet<string> = new Set(CLOSED_BUY_STATUSES);

export const TERMINAL_WORKFLOW: ReadonlySet<string> = new Set(['completed', 'failed', 'rejected', 'canceled']);

/** The status a freshly accepted buy starts in, before any flight-date transition. */
export function initialStatus(hasCreatives: boolean): MediaBuyStatus {
  return hasCreatives ? 'pending_start' : 'pending_creatives';
}

/**
 * Where a buy would go live (creatives in, flight started): active, or paused for a buy created paused
 * (AdCP 3.1 create_media_buy `paused`; its setup blockers, pending_creatives and pending_start, come first).
 */
export function liveStatus(startPaused: boolean): MediaBuyStatus {
  return startPaused ? 'paused' : 'active';
}

/** Waiting for its setup: creatives, or the start of its flight. */
export function isWaiting(status: string): boolean {
  return status === 'pending_creatives' || status === 'pending_start';
}

/** The state an ad server holds the buy's order in: a buy created paused is booked paused until it is resumed. */
export function orderStatus(status: string, startPaused: boolean): 'active' | 'paused' | 'canceled' {
  if (status === 'canceled') return 'canceled';
  if (status === 'paused' || (startPaused && isWaiting(status))) return 'paused';
  return 'active';
}

/** What update_media_buy can change on a buy that is open for changes: AdCP 3.0's coarse actions, then 3.1's finer ones. */
const CHANGES = [
  'update_budget',
  'update_dates',
  'update_packages',
  'extend_flight',
  'shorten_flight',
  'update_flight_dates',
  'increase_budget',
  'decrease_budget',
  'reallocate_budget',
  'update_targeting',
  'update_pacing',
  'update_creative_assignments',
] as const;

/**
 * The actions open on a buy in this status (AdCP 3.1 media-buy-valid-action values). A buy waiting for its
 * creatives or its start that is to go paused (startPaused) offers resume instead of pause.
 */
function actionsOpen(s: MediaBuyStatus | string, startPaused = false): string[] {
  switch (s) {
    case 'pending_approval':
      // Awaiting the seller's decision, a buy may be withdrawn or reshaped (the seller decides on it as it then stands); not paused.
      return ['cancel', ...CHANGES, 'add_packages', 'sync_creatives'];
    case 'pending_creatives':
    case 'pending_start':
      return [startPaused ? 'resume' : 'pause', 'cancel', ...CHANGES, 'add_packages', 'sync_creatives'];
    case 'active':
      return ['pause', 'cancel', ...CHANGES, 'add_packages', 'sync_creatives'];
    case 'paused':
      return ['resume', 'cancel', ...CHANGES, 'sync_creatives'];
    default:
      return [];
  }
}

/** AdCP 3.0's valid_actions vocabulary. */
const VALID_ACTIONS_30: ReadonlySet<string> = new Set(['pause', 'resume', 'cancel', 'update_budget', 'update_dates', 'update_packages', 'add_packages', 'sync_creatives']);

/** Actions a buyer may take on a buy in this status (AdCP valid_actions vocabulary). */
export function validActions(s: MediaBuyStatus | string, startPaused = false): string[] {
  return actionsOpen(s, startPaused).filter((a) => VALID_ACTIONS_30.has(a));
}

/**
 * AdCP 3.1 available_actions: the actions open on this buy now, each with the mode
 * it runs in. Updates here take effect at once (the ad server follows in a job),
 * so every action is self_serve.
 */
export function availableActions(s: MediaBuyStatus | string, startPaused = false): { action: string; mode: 'self_serve' }[] {
  return actionsOpen(s, startPaused).map((action) => ({ action, mode: 'self_serve' }));
}
