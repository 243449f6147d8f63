/**
 * update_media_buy as a pure plan: given the stored buy and the request, work
 * out the new status, dates, package changes and new packages, or throw the
 * AdcpError a buyer can act on. Transitions follow the AdCP media-buy state
 * machine as the AdCP SDK publishes it.
 */
import { isLegalMediaBuyTransition } from '@adcp/sdk/server';
import type { AdapterConfigRow } from '../db/queries/adapters.js';
import type { ProductWithPricing } from '../db/queries/inventory.js';
import type { TenantSettings } from '../db/schema/index.js';
import { AdcpError } from './errors.js';
import { assignsAttachable, checkAssignedCreatives, type LibraryCreative } from './creatives.js';
import { bidFor, checkAssignedPlacements, checkMinorUnits, checkMeasurementTerms, checkTotal, impressionGoal, checkTargeting, PAST_START_GRACE_MS, planPackages, positiveAmount, rejectInvoiceRecipient, rejectUnhonoured, type PackageRequest, type PlannedPackage } from './media-buy-plan.js';
import { amountToNumber, compareAmounts, fromUnits, sumAmounts, toUnits } from './money.js';
import { availableActions, isWaiting, liveStatus, toAdcpMediaBuyStatus, type MediaBuyStatus } from './status.js';

export interface PackageUpdate {
  package_id: string;
  budget?: number;
  bid_price?: number;
  pacing?: string;
  impressions?: number;
  paused?: boolean;
  canceled?: boolean;
  cancellation_reason?: string;
  targeting_overlay?: Record<string, unknown>;
  keyword_targets_add?: KeywordTarget[];
  keyword_targets_remove?: KeywordTarget[];
  negative_keywords_add?: KeywordTarget[];
  negative_keywords_remove?: KeywordTarget[];
  creative_assignments?: { creative_id: string; weight?: number; [k: string]: unknown }[];
  [k: string]: unknown;
}

/** A keyword target or negative keyword: identified by (keyword, match_type); targets may carry a bid_price. */
export interface KeywordTarget {
  keyword: string;
  match_type: string;
  bid_price?: number;
  [k: string]: unknown;
}

export interface UpdateRequest {
  media_buy_id: string;
  revision?: number;
  paused?: boolean;
  canceled?: boolean;
  cancellation_reason?: string;
  start_time?: string;
  end_time?: string;
  packages?: PackageUpdate[];
  new_packages?: PackageRequest[];
  /** Changed by the tool itself (stored beside the buy); counts as a change here. */
  reporting_webhook?: unknown;
}

export interface CurrentPackage {
  id: string;
  productId: string;
  pricingOptionId: string;
  budget: string;
  bidPrice: string | null;
  /** The fixed price it was bought at (null: bought at auction). */
  fixedPrice: string | null;
  status: string;
  targeting?: Record<string, unknown> | null;
  /** What it has spent so far (stored delivery): its budget cannot go below that, and once canceled it counts for that. */
  spent?: string;
}

/**
 * What a package counts for in the buy's total_budget (AdCP: the buy's lifetime budget across its packages, spend
 * already made counting against it): its budget, or once canceled what it spent, which stays spent while the
 * rest is released.
 */
export const countedBudget = (p: Pick<CurrentPackage, 'budget' | 'spent'>, status: string): string => (status === 'canceled' ? (p.spent ?? '0') : p.budget);
const totalOf = (packages: CurrentPackage[]) => sumAmounts(packages.map((p) => countedBudget(p, p.status)));

export interface CurrentBuy {
  status: string;
  /** Created paused (AdCP 3.1): goes paused rather than active once setup allows. */
  startPaused?: boolean;
  revision: number;
  startTime: Date;
  endTime: Date;
  currency: string;
  hasCreatives: boolean;
  /** Booked at its ad servers (confirmed, create task done): only then may it go live. */
  booked: boolean;
  packages: CurrentPackage[];
}

export interface PackageChange {
  id: string;
  budget?: string;
  bidPrice?: string;
  pacing?: string;
  impressions?: string;
  status?: 'active' | 'paused' | 'canceled';
  targeting?: Record<string, unknown>;
  assignments?: { creative_id: string; weight: number | null }[];
}

export interface UpdatePlan {
  status: MediaBuyStatus;
  /** Whether the buy still goes paused once setup allows: an explicit pause or resume settles it. */
  startPaused: boolean;
  startTime: Date;
  endTime: Date;
  cancel: { reason: string | null } | null;
  packageChanges: PackageChange[];
  newPackages: PlannedPackage[];
  totalBudget: string;
}

const TERMINAL = new Set(['completed', 'rejected', 'canceled']);

/**
 * Refused for the buy's status. The details are what AdCP 3.1's ACTION_NOT_ALLOWED
 * carries (a 3.1 caller gets that code; 3.0 callers INVALID_STATE): the action the
 * request maps to, why, and the actions open now.
 */
function wrongStatus(from: string, action: string, message: string, suggestion: string): AdcpError {
  return new AdcpError('INVALID_STATE', message, {
    field: 'media_buy_id',
    suggestion,
    details: { attempted_action: action, reason: 'wrong_status', currently_available_actions: availableActions(from) },
  });
}

/** AdCP 3.1 media-buy-valid-action values a refused update is reported as (ACTION_NOT_ALLOWED attempted_action). */
type Action = 'pause' | 'resume' | 'cancel' | 'update_packages' | 'update_dates' | 'add_packages';

/** The action a refused change maps to: adding packages, moving dates, else changing packages (the nearest for a new reporting webhook too). */
function actionOf(req: UpdateRequest): Action {
  if (req.paused === true) return 'pause';
  if (req.paused === false) return 'resume';
  if (req.new_packages?.length) return 'add_packages';
  if (req.start_time !== undefined || req.end_time !== undefined) return 'update_dates';
  return 'update_packages';
}

const verb = (a: Action) => (a === 'pause' || a === 'resume' || a === 'cancel' ? a : 'change');

function transition(from: string, to: MediaBuyStatus, action: Action): MediaBuyStatus {
  if (from === to && to !== 'canceled') return to;
  // A buy awaiting the seller's approval may be withdrawn or reshaped, nothing else.
  if (from === 'pending_approval') {
    if (to === 'canceled') return to;
    throw wrongStatus(from, action, `Cannot ${verb(action)} a media buy that awaits the seller's approval.`, 'Wait for approval, or cancel it.');
  }
  if (isLegalMediaBuyTransition(from as never, to as never)) return to;
  if (to === 'canceled') {
    throw new AdcpError('NOT_CANCELLABLE', `The media buy is ${from} and can no longer be canceled.`, { field: 'canceled', suggestion: 'Check its status with get_media_buys.' });
  }
  throw wrongStatus(from, action, `Cannot ${verb(action)} a media buy that is ${toAdcpMediaBuyStatus(from)}.`, 'Check its status and available_actions with get_media_buys.');
}

export function planUpdate(input: {
  current: CurrentBuy;
  request: UpdateRequest;
  products: ProductWithPricing[];
  adapters: AdapterConfigRow[];
  settings: TenantSettings;
  /** The caller's uploaded creatives among those assigned (the others are still to come, as on create_media_buy). */
  library: ReadonlyMap<string, LibraryCreative>;
  now: Date;
}): UpdatePlan {
  const { current: cur, request: req, now } = input;
  if (req.revision !== undefined && req.revision !== cur.revision) {
    throw new AdcpError('CONFLICT', `The media buy is at revision ${cur.revision}, not ${req.revision}.`, {
      field: 'revision',
      recovery: 'transient',
      suggestion: 'Read it again with get_media_buys and retry with the current revision.',
      // AdCP's details for CONFLICT (error-details/conflict.json).
      details: { resource_id: req.media_buy_id, expected_version: req.revision, current_version: cur.revision },
    });
  }
  rejectInvoiceRecipient((req as { invoice_recipient?: unknown }).invoice_recipient);
  let status = cur.status as MediaBuyStatus;
  const modifies = req.start_time !== undefined || req.end_time !== undefined || (req.packages?.length ?? 0) > 0 || (req.new_packages?.length ?? 0) > 0;
  if (req.canceled) {
    status = transition(status, 'canceled', 'cancel');
    return { status, startPaused: !!cur.startPaused, startTime: cur.startTime, endTime: cur.endTime, cancel: { reason: req.cancellation_reason ?? null }, packageChanges: [], newPackages: [], totalBudget: totalOf(cur.packages) };
  }
  // A canceled, completed or rejected buy takes no change at all (a new reporting webhook included).
  if (TERMINAL.has(status)) transition(status, req.paused ? 'paused' : 'active', actionOf(req));
  if (!modifies && req.paused === undefined && req.reporting_webhook === undefined) {
    throw new AdcpError('VALIDATION_ERROR', 'The update changes nothing: send at least one of paused, canceled, start_time, end_time, packages, new_packages or reporting_webhook.', {
      field: 'media_buy_id',
      suggestion: 'Add the change to make; read the media buy with get_media_buys.',
    });
  }
  // A buy still waiting for creatives or its start keeps waiting when paused, and goes paused rather than active
  // once setup allows (as AdCP 3.1 has it for a buy created paused); resuming it before then undoes that.
  const waiting = isWaiting(status);
  if (req.paused === true && status !== 'paused' && !waiting) status = transition(status, 'paused', 'pause');
  if (req.paused === false && status === 'paused') status = transition(status, 'active', 'resume');

  const startTime = req.start_time ? (req.start_time === 'asap' ? now : new Date(req.start_time)) : cur.startTime;
  const endTime = req.end_time ? new Date(req.end_time) : cur.endTime;
  for (const [f, d] of [['start_time', startTime], ['end_time', endTime]] as const) {
    if (Number.isNaN(d.getTime())) throw new AdcpError('VALIDATION_ERROR', `${f} is not a valid ISO 8601 date-time.`, { field: f, suggestion: 'Use a date-time such as 2026-12-01T00:00:00Z.' });
  }
  if (req.start_time !== undefined && startTime.getTime() !== cur.startTime.getTime()) {
    // A flight under way keeps its start: what it delivered is already booked against it.
    if (cur.startTime <= now) {
      throw new AdcpError('VALIDATION_ERROR', `The flight began on ${cur.startTime.toISOString()}; its start_time cannot change.`, {
        field: 'start_time',
        suggestion: 'Leave start_time out; change end_time, or pause the buy.',
      });
    }
    if (startTime.getTime() < now.getTime() - PAST_START_GRACE_MS) {
      throw new AdcpError('VALIDATION_ERROR', 'start_time is in the past.', { field: 'start_time', suggestion: 'Use a future start_time, or "asap" to start as soon as possible.' });
    }
  }
  if (endTime <= startTime) throw new AdcpError('VALIDATION_ERROR', 'end_time must be after start_time.', { field: 'end_time', suggestion: 'Correct the flight dates.' });
  if (req.end_time && endTime <= now) throw new AdcpError('VALIDATION_ERROR', 'end_time is in the past.', { field: 'end_time', suggestion: 'Choose an end in the future.' });

  const byId = new Map(cur.packages.map((p) => [p.id, p]));
  const products = new Map(input.products.map((p) => [p.id, p]));
  const named = new Set<string>();
  const packageChanges: PackageChange[] = (req.packages ?? []).map((u, i) => {
    const at = (f: string) => `packages[${i}].${f}`;
    if (named.has(u.package_id)) {
      throw new AdcpError('VALIDATION_ERROR', `Package "${u.package_id}" appears more than once in packages.`, { field: at('package_id'), suggestion: 'Send each package once, with all of its changes.' });
    }
    named.add(u.package_id);
    const pkg = byId.get(u.package_id);
    if (!pkg) throw new AdcpError('PACKAGE_NOT_FOUND', `Package "${u.package_id}" is not part of this media buy.`, { field: at('package_id'), suggestion: 'Use package_id values from get_media_buys.' });
    if (pkg.status === 'canceled') throw new AdcpError('INVALID_STATE', `Package "${pkg.id}" is canceled and cannot change.`, { field: at('package_id'), suggestion: 'Add a new package instead.' });
    const po = products.get(pkg.productId)?.pricing.find((o) => o.id === pkg.pricingOptionId);
    const change: PackageChange = { id: pkg.id };
    if (u.budget !== undefined) {
      const budget = positiveAmount(u.budget, at('budget'), 'the package budget');
      checkMinorUnits(u.budget, cur.currency, at('budget'), 'the package budget');
      const min = po?.minSpendPerPackage ?? input.settings.min_package_budget;
      if (min != null && compareAmounts(budget, min) < 0) {
        throw new AdcpError('BUDGET_TOO_LOW', `Package budget ${amountToNumber(budget)} ${cur.currency} is below the minimum of ${amountToNumber(min)} ${cur.currency}.`, {
          field: at('budget'),
          suggestion: `Raise the budget to at least ${amountToNumber(min)} ${cur.currency}.`,
          details: { minimum_budget: amountToNumber(min), currency: cur.currency },
        });
      }
      // Spend already delivered cannot be taken back: a budget below it would leave the package overspent.
      if (pkg.spent && compareAmounts(budget, pkg.spent) < 0) {
        throw new AdcpError('BUDGET_TOO_LOW', `Package budget ${amountToNumber(budget)} ${cur.currency} is below the ${amountToNumber(pkg.spent)} ${cur.currency} it has already spent.`, {
          field: at('budget'),
          suggestion: `Keep the budget at ${amountToNumber(pkg.spent)} ${cur.currency} or more (get_media_buy_delivery shows the spend), or pause or cancel the package to stop its spending.`,
          details: { minimum_budget: amountToNumber(pkg.spent), currency: cur.currency },
        });
      }
      change.budget = budget;
    }
    if (u.bid_price !== undefined) {
      // Judged on the terms the package was bought on: its option may have been repriced or withdrawn since.
      const bid = bidFor({ id: pkg.pricingOptionId, currency: cur.currency, floorPrice: po?.floorPrice ?? null, fixedPrice: pkg.fixedPrice }, u.bid_price, at('bid_price'), false);
      if (bid !== null) change.bidPrice = bid;
    }
    if (u.pacing !== undefined) change.pacing = u.pacing;
    const impressions = impressionGoal(u.impressions, at('impressions'));
    if (impressions !== null) change.impressions = impressions;
    rejectUnhonoured(u, at, { start: startTime, end: endTime });
    checkTargeting(u.targeting_overlay, at, products.get(pkg.productId));
    for (const list of ['keyword_targets', 'negative_keywords'] as const) {
      // AdCP: a full list and incremental changes to it in one update are ambiguous; sellers should refuse them.
      const op = [`${list}_add`, `${list}_remove`].find((k) => u[k] !== undefined);
      if (op && u.targeting_overlay?.[list] !== undefined) {
        throw new AdcpError('VALIDATION_ERROR', `targeting_overlay.${list} (the whole list) and ${op} (changes to it) cannot come together.`, {
          field: at(op),
          suggestion: `Send either targeting_overlay.${list} to replace the list, or ${list}_add/${list}_remove to change it.`,
        });
      }
    }
    const keyworded = withKeywordChanges(u.targeting_overlay ?? pkg.targeting ?? {}, u);
    // Removing keywords from a package with no targeting leaves it with none, not an empty overlay.
    const targeting = keyworded && !u.targeting_overlay && !pkg.targeting && Object.keys(keyworded).length === 0 ? undefined : keyworded;
    if (u.targeting_overlay || targeting) change.targeting = targeting ?? u.targeting_overlay;
    if (u.canceled) change.status = 'canceled';
    else if (u.paused !== undefined) change.status = u.paused ? 'paused' : 'active';
    if (u.creative_assignments) {
      checkAssignedPlacements(u.creative_assignments, pkg.productId, (j) => at(`creative_assignments[${j}]`));
      const product = products.get(pkg.productId);
      if (product) checkAssignedCreatives({ assignments: u.creative_assignments, product, library: input.library, field: (j) => at(`creative_assignments[${j}].creative_id`), packageId: pkg.id });
      change.assignments = u.creative_assignments.map((a) => ({ creative_id: a.creative_id, weight: a.weight ?? null }));
    }
    return change;
  });
  if (req.new_packages?.length) checkMeasurementTerms(req.new_packages, input.settings, 'new_packages');
  const newPackages = req.new_packages?.length
    ? planPackages({ packages: req.new_packages, products: input.products, adapters: input.adapters, settings: input.settings, library: input.library, field: 'new_packages', existingProductIds: cur.packages.filter((p) => p.status !== 'canceled').map((p) => p.productId), flight: { start: startTime, end: endTime } })
    : [];
  const otherCurrency = newPackages.findIndex((p) => p.currency !== cur.currency);
  if (otherCurrency >= 0) {
    throw new AdcpError('VALIDATION_ERROR', `The media buy is in ${cur.currency}; new_packages[${otherCurrency}] is priced in ${newPackages[otherCurrency]!.currency}.`, {
      field: `new_packages[${otherCurrency}].pricing_option_id`,
      suggestion: `Pick a pricing option in ${cur.currency}: all packages of a media buy use one currency.`,
    });
  }

  // The first uploaded creatives that can serve let a buy waiting for them move on (assignments to creatives still to come do not).
  const gainsCreatives = packageChanges.some((c) => assignsAttachable(c.assignments, input.library)) || newPackages.some((p) => assignsAttachable(p.request.creative_assignments, input.library));
  const startPaused = req.paused === undefined ? !!cur.startPaused : req.paused && waiting;
  // Live only once booked (as advance_flights has it): until then pending_start, which advance_flights moves on.
  if (status === 'pending_creatives' && (cur.hasCreatives || gainsCreatives)) status = startTime <= now && cur.booked ? liveStatus(startPaused) : 'pending_start';

  const budgets = cur.packages.map((p) => {
    const c = packageChanges.find((x) => x.id === p.id);
    return countedBudget({ budget: c?.budget ?? p.budget, spent: p.spent }, c?.status ?? p.status);
  });
  const totalBudget = sumAmounts([...budgets, ...newPackages.map((p) => p.budget)]);
  checkTotal(totalBudget, 'packages');
  // The seller's limit per buy holds for raises as on create (a buy over a limit set since may still come down).
  const limit = input.settings.max_media_buy_budget;
  const before = totalOf(cur.packages);
  if (limit && compareAmounts(totalBudget, limit) > 0 && compareAmounts(totalBudget, before) > 0) {
    throw new AdcpError('BUDGET_EXCEEDED', `The update takes the total budget to ${totalBudget} ${cur.currency}, beyond this seller's limit of ${limit} per media buy.`, {
      field: req.new_packages?.length ? 'new_packages' : 'packages',
      suggestion: 'Lower the budgets, or put the extra spend in another media buy.',
    });
  }
  return { status, startPaused, startTime, endTime, cancel: null, packageChanges, newPackages, totalBudget };
}

const keywordId = (k: KeywordTarget) => `${k.match_type}\u0000${k.keyword}`;

/**
 * update_media_buy's incremental keyword changes applied to a package's targeting (the overlay sent in the
 * same change, else the stored one): keyword_targets_add upserts by (keyword, match_type), updating the
 * bid_price of a pair already there; negative_keywords_add appends pairs not there yet; the _remove lists
 * drop matching pairs (a pair not there is a no-op, as AdCP asks). An emptied list is left out (AdCP's
 * lists hold at least one item). Undefined when the change has none of the four.
 */
export function withKeywordChanges(targeting: Record<string, unknown>, u: PackageUpdate): Record<string, unknown> | undefined {
  const ops = [
    ['keyword_targets', u.keyword_targets_add, u.keyword_targets_remove],
    ['negative_keywords', u.negative_keywords_add, u.negative_keywords_remove],
  ] as const;
  if (ops.every(([, add, remove]) => !add?.length && !remove?.length)) return undefined;
  const next: Record<string, unknown> = { ...targeting };
  for (const [field, add, remove] of ops) {
    if (!add?.length && !remove?.length) continue;
    const list = new Map(((targeting[field] as KeywordTarget[] | undefined) ?? []).map((k) => [keywordId(k), k]));
    for (const k of add ?? []) list.set(keywordId(k), field === 'keyword_targets' ? { ...list.get(keywordId(k)), ...k } : (list.get(keywordId(k)) ?? k));
    for (const k of remove ?? []) list.delete(keywordId(k));
    if (list.size > 0) next[field] = [...list.values()];
    else delete next[field];
  }
  return next;
}
