/**
 * get_media_buy_delivery: the caller's delivery per media buy and package, read
 * only from delivery_reports (collected from ad servers by the worker, or
 * simulated in sandbox). A buy with no reports yet shows zeros.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { loadDelivery } from '../../db/queries/delivery.js';
import { deliveryResponse, firstActivity, MAX_WINDOWS, WINDOWED_PULL_GRANULARITIES, windowCount, windowSpan, type DeliveryBuy } from '../../domain/delivery.js';
import { AdcpError } from '../../domain/errors.js';
import { DEFAULT_REPORTING_CAPABILITIES } from '../../domain/products.js';
import type { ReportingFrequency } from '../../domain/reporting.js';
import { statusFilter } from '../../domain/status.js';
import type { BuyerContext } from '../context.js';
import { prepareGetMediaBuyDelivery } from '../adcp31-shapes.js';
import { defineTool } from '../define-tool.js';
import { accountScope, type AccountRef } from '../resolve-account.js';

interface Input {
  media_buy_ids?: string[];
  buyer_refs?: string[];
  status_filter?: string | string[];
  start_date?: string;
  end_date?: string;
  include_package_daily_breakdown?: boolean;
  /** AdCP 3.1 windowed pull: per-window slices at this granularity (with include_window_breakdown). */
  time_granularity?: string;
  include_window_breakdown?: boolean;
  account?: AccountRef;
  [k: string]: unknown;
}

function checkDate(value: string | undefined, field: string): void {
  // A date that rolls over (2027-02-30 is read as March 2nd) is not one.
  const d = value === undefined ? undefined : new Date(`${value}T00:00:00Z`);
  if (d && (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value)) {
    throw new AdcpError('VALIDATION_ERROR', `${field} is not a calendar date.`, { field, suggestion: 'Use YYYY-MM-DD, e.g. 2026-12-01.' });
  }
}

function period(input: Input, buys: DeliveryBuy[], now: Date): { start: string; end: string } {
  // From the buys' first activity, but not after the day an end_date names (the period would end before it began).
  const starts = [...buys.map(firstActivity), now.getTime(), ...(input.end_date ? [Date.parse(`${input.end_date}T00:00:00.000Z`)] : [])];
  const lifetimeStart = new Date(Math.min(...starts));
  return {
    start: input.start_date ? `${input.start_date}T00:00:00.000Z` : lifetimeStart.toISOString(),
    end: input.end_date ? `${input.end_date}T23:59:59.999Z` : now.toISOString(),
  };
}

/** A period that has not begun has nothing to report: asking for one is a mistake the caller can fix. */
function checkStarted(input: Input, now: Date): void {
  if (input.start_date && !input.end_date && input.start_date > now.toISOString().slice(0, 10)) {
    throw new AdcpError('VALIDATION_ERROR', `start_date ${input.start_date} is in the future: there is no delivery to report yet.`, { field: 'start_date', suggestion: 'Send a start_date on or before today (UTC), or leave it out for the lifetime figures.' });
  }
}

/**
 * A windowed pull must be at a granularity every product in the report declares
 * (reporting_capabilities.windowed_pull_granularities); AdCP 3.1 makes anything
 * else UNSUPPORTED_GRANULARITY.
 */
async function windowedPull(ctx: BuyerContext, granularity: string, buys: DeliveryBuy[]): Promise<ReportingFrequency> {
  const products = new Map((await ctx.catalog.productsFor(ctx.tenant.id, ctx.principal.id)).map((p) => [p.id, p]));
  const ids = new Set(buys.flatMap((b) => b.packages.map((k) => k.product_id)));
  let offered: string[] = [...WINDOWED_PULL_GRANULARITIES];
  for (const id of ids) {
    const caps = products.get(id)?.details.reporting_capabilities as { windowed_pull_granularities?: string[] } | undefined;
    const declared = caps ? (caps.windowed_pull_granularities ?? []) : DEFAULT_REPORTING_CAPABILITIES.windowed_pull_granularities;
    offered = offered.filter((g) => declared.includes(g));
  }
  if (!offered.includes(granularity)) {
    throw new AdcpError('UNSUPPORTED_GRANULARITY', `Delivery for these buys cannot be pulled in ${granularity} windows.`, {
      field: 'time_granularity',
      suggestion: offered.length ? `Ask for ${offered.join(' or ')} windows, or leave time_granularity out.` : 'Leave time_granularity out: these products offer no windowed pulls.',
      details: { supported_granularities: offered },
    });
  }
  return granularity as ReportingFrequency;
}

export default defineTool({
  name: 'get_media_buy_delivery',
  title: 'Get media buy delivery',
  description:
    'Delivery for your media buys: impressions, spend, clicks per buy and per package (with a daily breakdown when include_package_daily_breakdown is true, and per-window slices with time_granularity daily or monthly plus include_window_breakdown). Select by media_buy_ids or buyer_refs, or filter by status_filter and account; start_date / end_date (YYYY-MM-DD) narrow the period, else lifetime.',
  input: TOOL_REQUEST_SCHEMAS.get_media_buy_delivery! as unknown as z.ZodType<Input>,
  output: z.looseObject({ media_buy_deliveries: z.array(z.looseObject({ media_buy_id: z.string() })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  prepare: prepareGetMediaBuyDelivery,
  async handle(input, ctx) {
    checkDate(input.start_date, 'start_date');
    checkDate(input.end_date, 'end_date');
    if (input.start_date && input.end_date && input.start_date > input.end_date) {
      throw new AdcpError('VALIDATION_ERROR', 'start_date is after end_date.', { field: 'start_date', suggestion: 'Send a start_date on or before end_date.' });
    }
    checkStarted(input, ctx.now());
    const wanted = statusFilter(input.status_filter);
    const statuses = wanted && new Set(wanted);
    const byId = !!(input.media_buy_ids?.length || input.buyer_refs?.length);
    // Buys named by id are found whatever account the request names: ids are the caller's own.
    const accountId = byId ? undefined : await accountScope(ctx, input.account);
    const found =
      accountId === null
        ? []
        : await loadDelivery(ctx.db, {
            tenantId: ctx.tenant.id,
            principalId: ctx.principal.id,
            ids: input.media_buy_ids,
            buyerRefs: input.buyer_refs,
            accountId,
            // Named buys are filtered below, so an unknown id can be told from a filtered-out one.
            statuses: byId ? undefined : wanted,
            startDate: input.start_date,
            endDate: input.end_date,
          });
    const missing = (input.media_buy_ids ?? []).filter((id) => !found.some((b) => b.id === id));
    if (input.media_buy_ids?.length && missing.length === input.media_buy_ids.length) {
      throw new AdcpError('MEDIA_BUY_NOT_FOUND', `No media buy ${missing.join(', ')} was found.`, { field: 'media_buy_ids', suggestion: 'Use media_buy_ids returned by create_media_buy or get_media_buys.' });
    }
    const buys = statuses ? found.filter((b) => statuses.has(b.status)) : found;
    const granularity = input.time_granularity === undefined ? undefined : await windowedPull(ctx, input.time_granularity, buys);
    // The granularity is checked whenever it is given; windows are only built when asked for.
    const windows = input.include_window_breakdown ? granularity : undefined;
    const now = ctx.now();
    const reportingPeriod = period(input, buys, now);
    if (windows) {
      const most = Math.max(0, ...buys.map((b) => windowCount(windows, windowSpan(b, reportingPeriod, now))));
      if (most > MAX_WINDOWS[windows]) {
        throw new AdcpError('VALIDATION_ERROR', `That pull would return more than ${MAX_WINDOWS[windows]} ${windows} windows for a buy.`, {
          field: 'start_date',
          suggestion: `Narrow start_date / end_date, or ask for ${windows === 'daily' ? 'monthly' : 'fewer'} windows.`,
        });
      }
    }
    // Buys in several currencies are each reported in their own (by_package currency); their spend is not summed.
    const currencies = new Set(buys.map((b) => b.currency));
    const fallbackCurrency = ctx.tenant.settings.currencies?.[0] ?? buys[0]?.currency ?? 'USD';
    return {
      ...deliveryResponse(buys, {
        daily: input.include_package_daily_breakdown ?? false,
        period: reportingPeriod,
        currency: currencies.size > 1 ? null : ([...currencies][0] ?? fallbackCurrency),
        fallbackCurrency,
        now,
        ...(windows && { windows: { granularity: windows } }),
      }),
      ...(missing.length > 0 && {
        errors: missing.map((id) => ({ code: 'MEDIA_BUY_NOT_FOUND', message: `Media buy ${id} was not found.`, field: `media_buy_ids[${input.media_buy_ids!.indexOf(id)}]` })),
      }),
    };
  },
});
