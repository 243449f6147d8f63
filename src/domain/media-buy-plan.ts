/**
 * Validation of a create_media_buy request against the seller's catalogue, as a
 * pure function: products, pricing, budgets, dates, currency, targeting. It
 * either returns a plan ready to store or throws the first AdcpError.
 */
import type { AdapterConfigRow } from '../db/queries/adapters.js';
import type { PricingOptionRow, ProductWithPricing } from '../db/queries/inventory.js';
import type { TenantSettings } from '../db/schema/index.js';
import { checkAssignedCreatives, sameAgentUrl, type LibraryCreative } from './creatives.js';
import { AdcpError } from './errors.js';
import { amountToNumber, compareAmounts, decimalPlaces, fromUnits, minorUnits, sumAmounts, toUnits } from './money.js';

export interface PackageRequest {
  product_id: string;
  pricing_option_id: string;
  budget: number;
  bid_price?: number;
  pacing?: string;
  impressions?: number;
  format_ids?: Record<string, unknown>[];
  targeting_overlay?: Record<string, unknown>;
  creative_assignments?: { creative_id: string; weight?: number; [k: string]: unknown }[];
  creatives?: unknown[];
  buyer_ref?: string;
  paused?: boolean;
  [k: string]: unknown;
}

export interface CreateMediaBuyRequest {
  start_time: string;
  end_time: string;
  packages?: PackageRequest[];
  proposal_id?: string;
  buyer_ref?: string;
  /** AdCP 3.1: create the buy paused. */
  paused?: unknown;
  /** For proposals (not supported): sent beside packages, it must agree with them. */
  total_budget?: { amount: number; currency: string };
  [k: string]: unknown;
}

export interface PlannedPackage {
  request: PackageRequest;
  product: ProductWithPricing;
  pricingModel: string;
  currency: string;
  adapterConfigId: string;
  budget: string;
  bidPrice: string | null;
  /** The option's fixed price at purchase (null for auction options, which take bidPrice). */
  fixedPrice: string | null;
  /** The impression goal, a whole number as the database keeps it. */
  impressions: string | null;
}

export interface MediaBuyPlan {
  startTime: Date;
  endTime: Date;
  currency: string;
  totalBudget: string;
  packages: PlannedPackage[];
  manualApproval: boolean;
}

const TARGETING_KEYS = new Set([
  'geo_countries', 'geo_countries_exclude', 'geo_regions', 'geo_regions_exclude', 'geo_metros', 'geo_metros_exclude',
  'geo_postal_areas', 'geo_postal_areas_exclude', 'daypart_targets', 'axe_include_segment', 'axe_exclude_segment',
  'audience_include', 'audience_exclude', 'frequency_cap', 'property_list', 'collection_list', 'collection_list_exclude',
  'age_restriction', 'device_platform', 'device_type', 'device_type_exclude', 'store_catchments', 'geo_proximity',
  'language', 'keyword_targets', 'negative_keywords',
]);

/** AdCP 3.1 targeting fields this seller does not offer (no signals in its products). */
const UNSUPPORTED_TARGETING_KEYS = new Set(['signal_targeting', 'signal_targeting_groups']);

/**
 * A package's targeting_overlay: only fields this seller knows. (Codes in another form than AdCP's,
 * "us" for "US", are refused before, with the request schema's patterns: src/mcp/request-constraints.ts.)
 */
export function checkTargeting(targeting: Record<string, unknown> | undefined, at: (f: string) => string, product?: { id: string; countries: string[] }): void {
  if (product) checkTargetedCountries(targeting, at, product);
  for (const key of Object.keys(targeting ?? {})) {
    if (UNSUPPORTED_TARGETING_KEYS.has(key)) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `Targeting by signals (${key}) is not supported by this seller.`, { field: at(`targeting_overlay.${key}`), suggestion: `Leave ${key} out; audience_include and audience_exclude target audiences here.` });
    }
    if (!TARGETING_KEYS.has(key)) {
      throw new AdcpError('VALIDATION_ERROR', `Unknown targeting field "${key}".`, { field: at(`targeting_overlay.${key}`), suggestion: `Supported targeting fields: ${[...TARGETING_KEYS].join(', ')}.` });
    }
  }
}

/**
 * A product sold in some countries only (get_products filters.countries finds them) cannot deliver
 * to a package whose geo_countries and geo_regions all lie elsewhere: such an overlay would be booked
 * and never serve, so it is refused, naming the countries the product sells in.
 */
function checkTargetedCountries(targeting: Record<string, unknown> | undefined, at: (f: string) => string, product: { id: string; countries: string[] }): void {
  if (!targeting || product.countries.length === 0) return;
  const listed = (k: string) => (Array.isArray(targeting[k]) ? (targeting[k] as unknown[]).filter((v): v is string => typeof v === 'string') : []);
  const countries = listed('geo_countries').map((c) => c.toUpperCase());
  const regions = listed('geo_regions').map((r) => r.toUpperCase().split('-')[0]!);
  const wanted = [...countries, ...regions];
  if (wanted.length === 0 || wanted.some((c) => product.countries.includes(c))) return;
  const key = countries.length > 0 ? 'geo_countries' : 'geo_regions';
  throw new AdcpError('VALIDATION_ERROR', `Product "${product.id}" is sold in ${product.countries.join(', ')} only; targeting ${[...new Set(wanted)].join(', ')} would deliver nothing.`, {
    field: at(`targeting_overlay.${key}`),
    suggestion: `Target ${product.countries.join(' or ')} with this product, or find products for your countries with get_products filters.countries.`,
  });
}

/** The tightest billing-measurement variance this seller will guarantee against a third-party vendor. */
export const DEFAULT_MIN_VARIANCE_PERCENT = 5;

/** The flight every package of a buy runs for. */
export interface Flight {
  start: Date;
  end: Date;
}

const UNSUPPORTED_FLIGHT_SUGGESTION = "Leave the package's start_time and end_time out (it runs for the media buy's flight), or buy the other flight as its own media buy.";

/**
 * Package fields this seller cannot honour are refused, not silently dropped (the
 * buyer would believe they hold): optimization goals (capabilities declare no
 * conversion tracking and no optimization metrics), committed delivery metrics,
 * AdCP 3.1's canonical format selectors (format_ids is the selector here),
 * catalogs (capabilities: catalog_management false), and a package flight other
 * than the buy's (every package runs for the media buy's flight). Shared by
 * create_media_buy's packages, update_media_buy's new_packages and its package
 * changes, which carry the same fields.
 */
export function rejectUnhonoured(pkg: Record<string, unknown>, at: (f: string) => string, flight: Flight): void {
  if (present(pkg.optimization_goals)) throw unsupportedGoals(at('optimization_goals'));
  if (present(pkg.committed_metrics)) {
    throw new AdcpError('TERMS_REJECTED', 'This seller does not commit to delivery metrics per package.', { field: at('committed_metrics'), suggestion: 'Leave committed_metrics out; get_media_buy_delivery reports what was delivered.' });
  }
  for (const k of ['format_kind', 'format_option_refs', 'params']) {
    if (present(pkg[k])) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `${k} (canonical format selection) is not supported by this seller.`, { field: at(k), suggestion: 'Select formats with format_ids from the product, as list_creative_formats describes them.' });
    }
  }
  if (present(pkg.creatives)) throw unsupportedInlineCreatives(at('creatives'));
  if (present(pkg.catalogs)) {
    throw new AdcpError('UNSUPPORTED_FEATURE', 'Catalog-driven packages are not supported by this seller.', { field: at('catalogs'), suggestion: 'Leave catalogs out; get_adcp_capabilities declares catalog_management false.' });
  }
  for (const [k, bound] of [['start_time', flight.start], ['end_time', flight.end]] as const) {
    const v = pkg[k];
    if (v === undefined || v === null) continue;
    const t = typeof v === 'string' ? new Date(v) : undefined;
    if (!t || t.getTime() !== bound.getTime()) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `A package ${k} other than the media buy's (${bound.toISOString()}) is not supported by this seller: every package runs for the media buy's flight.`, {
        field: at(k),
        suggestion: UNSUPPORTED_FLIGHT_SUGGESTION,
      });
    }
  }
}

/** An impression goal as stored: a whole number of impressions the database can hold (numeric(20,0)), not 1e21; null when none. */
export function impressionGoal(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new AdcpError('VALIDATION_ERROR', 'impressions must be a number of impressions from 0 to 9007199254740991.', { field, suggestion: 'Send the impression goal as a whole number.' });
  }
  return String(Math.round(value));
}

/** Amounts are stored as numeric(18, 4): below 10^14, to 4 decimal places. */
export const MAX_AMOUNT = 1e14;

/**
 * A budget or bid as stored: a positive amount of at most 4 decimals (a smaller one would be stored as 0)
 * below MAX_AMOUNT (a larger one does not fit the column); VALIDATION_ERROR on `field` otherwise.
 */
export function positiveAmount(value: unknown, field: string, what: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new AdcpError('VALIDATION_ERROR', `${what} must be a positive amount.`, { field, suggestion: `Send ${what} as a positive number in the pricing option's currency.` });
  }
  if (value >= MAX_AMOUNT) {
    throw new AdcpError('VALIDATION_ERROR', `${what} ${value} is beyond what this seller handles (below 100,000,000,000,000).`, { field, suggestion: `Send ${what} as a plain amount in the pricing option's currency.` });
  }
  const units = toUnits(value);
  if (units <= 0n) throw new AdcpError('VALIDATION_ERROR', `${what} ${value} rounds to 0 at 4 decimal places.`, { field, suggestion: `Send ${what} of at least 0.0001.` });
  return fromUnits(units);
}

/**
 * A budget is money the buyer is invoiced for, so it is an amount the currency has: to the cent in USD,
 * whole yen in JPY, to the fils in KWD (ISO 4217 minor units). A finer one (100.001 USD) can be neither
 * spent nor invoiced, and is refused rather than rounded behind the buyer's back. Bids are prices per
 * unit (per thousand impressions for CPM), which may be finer, and are not held to this.
 */
export function checkMinorUnits(value: number, currency: string, field: string, what: string): void {
  const digits = minorUnits(currency);
  if (decimalPlaces(value) <= digits) return;
  throw new AdcpError('VALIDATION_ERROR', `${what} ${value} ${currency} has more decimal places than ${currency} has (${digits}).`, {
    field,
    suggestion: digits === 0 ? `Send ${what} as a whole number of ${currency}.` : `Round ${what} to ${digits} decimal places of ${currency}.`,
  });
}

/**
 * The bid on a package, as stored: required on an auction pricing option (no fixed_price) and at
 * least its floor. On a fixed-price option the buyer pays fixed_price: a new package's bid is not
 * kept (the AdCP SDK's storyboard request builder adds a bid_price to every CPM package, fixed or
 * not, and compliance runs expect the buy), and a change to it (`required` false: an update, which
 * may leave the bid as it is) is refused rather than stored as a bid that means nothing.
 */
export function bidFor(po: Pick<PricingOptionRow, 'id' | 'currency' | 'fixedPrice' | 'floorPrice'>, value: unknown, field: string, required: boolean): string | null {
  if (po.fixedPrice != null) {
    if (value === undefined || value === null || required) return null;
    throw new AdcpError('VALIDATION_ERROR', `Pricing option "${po.id}" has a fixed price of ${amountToNumber(po.fixedPrice)} ${po.currency}; bid_price applies only to auction pricing.`, {
      field,
      suggestion: 'Leave bid_price out: this package pays the fixed price. To bid, add a package on an auction pricing option (one with floor_price) from get_products.',
    });
  }
  if (value === undefined) {
    if (!required) return null;
    throw new AdcpError('VALIDATION_ERROR', `Pricing option "${po.id}" is auction-based and needs a bid_price.`, {
      field,
      suggestion: po.floorPrice != null ? `Send a bid_price of at least ${amountToNumber(po.floorPrice)} ${po.currency}.` : 'Send a bid_price.',
    });
  }
  const bid = positiveAmount(value, field, 'bid_price');
  if (po.floorPrice != null && compareAmounts(bid, po.floorPrice) < 0) {
    throw new AdcpError('VALIDATION_ERROR', `bid_price ${value} is below the floor price ${amountToNumber(po.floorPrice)} ${po.currency}.`, {
      field,
      suggestion: `Bid at least ${amountToNumber(po.floorPrice)} ${po.currency}.`,
    });
  }
  return bid;
}

/**
 * A package's format_ids narrow the product's formats (AdCP: they must be supported by the product); one
 * the product does not take would be stored and never served, so it is refused, naming those it takes.
 */
export function checkPackageFormats(formatIds: unknown, product: ProductWithPricing, at: (f: string) => string): void {
  if (!Array.isArray(formatIds)) return;
  formatIds.forEach((f: unknown, j) => {
    const ref = (f ?? {}) as { id?: unknown; agent_url?: unknown };
    if (product.formatIds.some((p) => p.id === ref.id && (typeof ref.agent_url !== 'string' || sameAgentUrl(ref.agent_url, p.agent_url)))) return;
    throw new AdcpError('VALIDATION_ERROR', `Product "${product.id}" does not take format ${JSON.stringify(ref.id)}.`, {
      field: at(`format_ids[${j}]`),
      suggestion: `Use format_ids from the product's format_ids in get_products (${product.formatIds.map((p) => p.id).join(', ')}), or leave format_ids out to use all of them.`,
    });
  });
}

/** A buy's total budget, which must fit its column too. */
export function checkTotal(total: string, field: string): void {
  if (compareAmounts(total, MAX_AMOUNT) >= 0) {
    throw new AdcpError('VALIDATION_ERROR', `The packages' budgets add up to ${total}, beyond what this seller handles (below 100,000,000,000,000).`, { field, suggestion: 'Lower the package budgets.' });
  }
}

/** A request field that is there: not absent, not null, not an empty list. */
export function present(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

/** Creatives sent inline with a package, in any AdCP form: they are uploaded with sync_creatives here. */
export function unsupportedInlineCreatives(field: string): AdcpError {
  return new AdcpError('UNSUPPORTED_FEATURE', 'Inline creatives are not supported; upload them with sync_creatives.', { field, suggestion: 'Call sync_creatives, then reference creatives by creative_id in creative_assignments.' });
}

/** Optimization goals, in any AdCP form (3.1 adds vendor metrics): this seller optimizes toward none. */
export function unsupportedGoals(field: string): AdcpError {
  return new AdcpError('UNSUPPORTED_FEATURE', 'This seller does not optimize delivery toward buyer goals.', { field, suggestion: 'Leave optimization_goals out; pacing and targeting_overlay shape delivery here.' });
}

/**
 * A per-buy invoice recipient (AdCP invoice_recipient, on create and update): this seller invoices the account's
 * billing party only and cannot check that another entity may be billed for the account, which AdCP requires, so it
 * refuses the override rather than take it and invoice someone else.
 */
export function rejectInvoiceRecipient(value: unknown): void {
  if (!present(value)) return;
  throw new AdcpError('UNSUPPORTED_FEATURE', "A per-buy invoice recipient is not supported by this seller: buys are invoiced to the account's billing party.", {
    field: 'invoice_recipient',
    suggestion: 'Leave invoice_recipient out (list_accounts shows who is billed), or buy through an account billed to the entity you want invoiced.',
  });
}

/**
 * A creative assignment limited to some of a product's placements (3.0 placement_ids, 3.1 placement_refs):
 * this seller's products declare no placements, so a creative assigned to a package runs across all of it.
 */
export function checkAssignedPlacements(assignments: readonly Record<string, unknown>[], productId: string, field: (j: number) => string): void {
  assignments.forEach((a, j) => {
    for (const k of ['placement_ids', 'placement_refs']) {
      const v = a[k];
      if (Array.isArray(v) && v.length > 0) {
        throw new AdcpError('UNSUPPORTED_FEATURE', `Product "${productId}" has no placements to assign a creative to: a creative assigned to a package runs across all of it.`, {
          field: `${field(j)}.${k}`,
          suggestion: `Leave ${k} out.`,
        });
      }
    }
  });
}

/** Buyer-proposed measurement terms the seller cannot honour are TERMS_REJECTED, before anything else is judged. */
export function checkMeasurementTerms(pkgs: PackageRequest[], settings: TenantSettings, field = 'packages'): void {
  const min = settings.min_variance_percent ?? DEFAULT_MIN_VARIANCE_PERCENT;
  pkgs.forEach((pkg, i) => {
    const variance = (pkg.measurement_terms as { billing_measurement?: { max_variance_percent?: number } } | undefined)?.billing_measurement?.max_variance_percent;
    if (typeof variance === 'number' && variance < min) {
      throw new AdcpError('TERMS_REJECTED', `A billing-measurement variance of ${variance}% is below what this seller can guarantee (${min}%).`, {
        field: `${field}[${i}].measurement_terms.billing_measurement.max_variance_percent`,
        suggestion: `Propose max_variance_percent of at least ${min}.`,
        details: { min_variance_percent: min },
      });
    }
  });
}

/** Clock skew we forgive on a start time in the past; anything older is a mistake. */
export const PAST_START_GRACE_MS = 5 * 60_000;

function parseTime(value: string, field: string, now: Date): Date {
  if (value === 'asap') return now;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw new AdcpError('VALIDATION_ERROR', `${field} is not a valid ISO 8601 date-time.`, { field, suggestion: 'Use a date-time such as 2026-12-01T00:00:00Z, or "asap" for start_time.' });
  }
  return d;
}

export function planMediaBuy(input: {
  request: CreateMediaBuyRequest;
  products: ProductWithPricing[];
  adapters: AdapterConfigRow[];
  settings: TenantSettings;
  now: Date;
  /** The caller's uploaded creatives among those the request assigns (the others are still to come). */
  library?: ReadonlyMap<string, LibraryCreative>;
}): MediaBuyPlan {
  const { request: req, now, settings } = input;
  if (req.proposal_id && !req.packages?.length) {
    throw new AdcpError('UNSUPPORTED_FEATURE', 'Buying from a proposal is not supported by this seller.', { field: 'proposal_id', suggestion: 'Send packages with product_id, pricing_option_id and budget.' });
  }
  rejectInvoiceRecipient(req.invoice_recipient);
  if (req.paused !== undefined && typeof req.paused !== 'boolean') {
    throw new AdcpError('VALIDATION_ERROR', 'paused must be true or false.', { field: 'paused', suggestion: 'Send paused: true to create the media buy paused, or leave it out.' });
  }
  checkMeasurementTerms(req.packages ?? [], settings);
  const startTime = parseTime(req.start_time, 'start_time', now);
  const endTime = parseTime(req.end_time, 'end_time', now);
  if (endTime <= startTime) {
    throw new AdcpError('VALIDATION_ERROR', 'end_time must be after start_time.', { field: 'end_time', suggestion: 'Swap or correct the flight dates.' });
  }
  if (endTime <= now) {
    throw new AdcpError('INVALID_REQUEST', 'end_time is in the past.', { field: 'end_time', suggestion: 'Choose a flight that ends in the future.' });
  }
  if (startTime.getTime() < now.getTime() - PAST_START_GRACE_MS) {
    throw new AdcpError('INVALID_REQUEST', 'start_time is in the past.', { field: 'start_time', suggestion: 'Use a future start_time, or "asap" to start as soon as possible.' });
  }
  const pkgs = req.packages ?? [];
  if (pkgs.length === 0) {
    throw new AdcpError('VALIDATION_ERROR', 'A media buy needs at least one package.', { field: 'packages', suggestion: 'Add packages with product_id, pricing_option_id and budget (see get_products).' });
  }

  const planned = planPackages({ packages: pkgs, products: input.products, adapters: input.adapters, settings, library: input.library, field: 'packages', flight: { start: startTime, end: endTime } });
  const currencies = new Set(planned.map((p) => p.currency));
  if (currencies.size > 1) {
    throw new AdcpError('VALIDATION_ERROR', 'All packages of a media buy must use the same currency.', { field: 'packages', suggestion: `Pick pricing options in one currency (got ${[...currencies].join(', ')}).` });
  }
  const currency = [...currencies][0]!;
  const totalBudget = sumAmounts(planned.map((p) => p.budget));
  checkTotal(totalBudget, 'packages');
  if (req.total_budget) {
    // AdCP uses total_budget to share a proposal's budget out; with packages of its own budgets, one that disagrees is a mistake, not a hint.
    if (req.total_budget.currency.toUpperCase() !== currency) {
      throw new AdcpError('VALIDATION_ERROR', `total_budget is in ${req.total_budget.currency}, the packages' pricing options in ${currency}.`, { field: 'total_budget.currency', suggestion: `Send total_budget in ${currency}, or leave it out: the buy's total is the sum of its package budgets.` });
    }
    const amount = req.total_budget.amount;
    const readable = typeof amount === 'number' && Number.isFinite(amount) && amount >= 0 && amount < MAX_AMOUNT;
    if (readable) checkMinorUnits(amount, currency, 'total_budget.amount', 'total_budget');
    // Package budgets are in the currency's minor units (checked above), so their sum is exact: the total must be it.
    if (!readable || toUnits(amount) !== toUnits(totalBudget)) {
      throw new AdcpError('VALIDATION_ERROR', `total_budget ${req.total_budget.amount} ${currency} is not the sum of the package budgets (${totalBudget} ${currency}).`, { field: 'total_budget.amount', suggestion: "Send the sum of the package budgets, or leave total_budget out: the buy's total is that sum." });
    }
  }
  if (settings.max_media_buy_budget && compareAmounts(totalBudget, settings.max_media_buy_budget) > 0) {
    throw new AdcpError('BUDGET_EXCEEDED', `Total budget ${totalBudget} ${currency} exceeds this seller's limit of ${settings.max_media_buy_budget} per media buy.`, {
      field: 'packages',
      suggestion: 'Split the campaign into several media buys or lower the budgets.',
    });
  }
  const manualApproval = !!settings.manual_approval_required || planned.some((p) => input.adapters.find((a) => a.id === p.adapterConfigId)!.manualApprovalRequired);
  return { startTime, endTime, currency, totalBudget, packages: planned, manualApproval };
}

export interface PackagePlanInput {
  packages: PackageRequest[];
  products: ProductWithPricing[];
  adapters: AdapterConfigRow[];
  settings: TenantSettings;
  /** The caller's uploaded creatives among those assigned; an assignment to a creative not uploaded yet is checked when it arrives. */
  library?: ReadonlyMap<string, LibraryCreative>;
  /** Where these packages sit in the request, for error fields: "packages" or "new_packages". */
  field: string;
  /** Products already in the buy (a product may appear in one package only). */
  existingProductIds?: Iterable<string>;
  /** The buy's flight, which every package runs for. */
  flight: Flight;
}

/**
 * Validate packages against the catalogue: product, pricing option, budget, bid,
 * targeting, creatives (an uploaded creative must be able to serve, not rejected
 * or archived, and in a format the product takes; one not uploaded yet may be
 * assigned and is checked when it arrives),
 * adapter.
 */
export function planPackages(input: PackagePlanInput): PlannedPackage[] {
  const { settings } = input;
  const pkgs = input.packages;
  const byId = new Map(input.products.map((p) => [p.id, p]));
  const defaultAdapter = input.adapters.find((a) => a.isDefault) ?? input.adapters[0];
  const adaptersById = new Map(input.adapters.map((a) => [a.id, a]));
  const allowedCurrencies = settings.currencies?.length ? settings.currencies : undefined;
  const seen = new Set<string>(input.existingProductIds ?? []);
  const planned: PlannedPackage[] = [];

  pkgs.forEach((pkg, i) => {
    const at = (f: string) => `${input.field}[${i}].${f}`;
    const product = byId.get(pkg.product_id);
    if (!product) {
      throw new AdcpError('PRODUCT_NOT_FOUND', `Product "${pkg.product_id}" does not exist.`, { field: at('product_id'), suggestion: 'Use a product_id returned by get_products.' });
    }
    if (seen.has(product.id)) {
      throw new AdcpError('VALIDATION_ERROR', `Product "${product.id}" appears in more than one package.`, { field: at('product_id'), suggestion: 'Use one package per product; combine their budgets.' });
    }
    seen.add(product.id);
    const po = product.pricing.find((o) => o.id === pkg.pricing_option_id);
    if (!po) {
      throw new AdcpError('VALIDATION_ERROR', `Pricing option "${pkg.pricing_option_id}" does not exist on product "${product.id}".`, {
        field: at('pricing_option_id'),
        suggestion: `Use one of: ${product.pricing.map((o) => o.id).join(', ')}.`,
      });
    }
    if (allowedCurrencies && !allowedCurrencies.includes(po.currency)) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `Currency ${po.currency} is not accepted by this seller.`, { field: at('pricing_option_id'), suggestion: `Accepted currencies: ${allowedCurrencies.join(', ')}.` });
    }
    const budget = positiveAmount(pkg.budget, at('budget'), 'the package budget');
    checkMinorUnits(pkg.budget, po.currency, at('budget'), 'the package budget');
    const impressions = impressionGoal(pkg.impressions, at('impressions'));
    const minSpend = po.minSpendPerPackage ?? settings.min_package_budget ?? null;
    if (minSpend != null && compareAmounts(budget, minSpend) < 0) {
      throw new AdcpError('BUDGET_TOO_LOW', `Package budget ${amountToNumber(budget)} ${po.currency} is below the minimum of ${amountToNumber(minSpend)} ${po.currency}.`, {
        field: at('budget'),
        suggestion: `Raise the budget to at least ${amountToNumber(minSpend)} ${po.currency}.`,
        details: { minimum_budget: amountToNumber(minSpend), currency: po.currency },
      });
    }
    const bidPrice = bidFor(po, pkg.bid_price, at('bid_price'), true);
    checkPackageFormats(pkg.format_ids, product, at);
    checkTargeting(pkg.targeting_overlay, at, product);
    rejectUnhonoured(pkg as Record<string, unknown>, at, input.flight);
    checkAssignedPlacements(pkg.creative_assignments ?? [], product.id, (j) => at(`creative_assignments[${j}]`));
    checkAssignedCreatives({ assignments: pkg.creative_assignments ?? [], product, library: input.library, field: (j) => at(`creative_assignments[${j}].creative_id`) });
    const adapterConfigId = product.adapterConfigId ?? defaultAdapter?.id;
    if (!adapterConfigId || !adaptersById.has(adapterConfigId)) {
      throw new AdcpError('CONFIGURATION_ERROR', `Product "${product.id}" has no ad server configured.`, { field: at('product_id'), recovery: 'terminal', suggestion: 'The publisher must configure an adapter for this product.' });
    }
    planned.push({ request: pkg, product, pricingModel: po.pricingModel, currency: po.currency, adapterConfigId, budget, bidPrice, fixedPrice: po.fixedPrice ?? null, impressions });
  });

  return planned;
}

/** Products seeded by the test controller are not for sale to production accounts (unless the whole tenant is a test tenant): to them they do not exist. */
export function rejectTestFixtures(packages: PlannedPackage[], testingAllowed: boolean, field: string): void {
  if (testingAllowed) return;
  const i = packages.findIndex((p) => p.product.testFixture);
  if (i >= 0) {
    throw new AdcpError('PRODUCT_NOT_FOUND', `Product "${packages[i]!.product.id}" does not exist.`, { field: `${field}[${i}].product_id`, suggestion: 'Use a product_id returned by get_products.' });
  }
}
