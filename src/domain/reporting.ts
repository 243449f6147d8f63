/**
 * Delivery reporting webhooks (create_media_buy reporting_webhook), pure: which
 * frequencies and metrics the buy's products allow, the reporting windows (UTC),
 * and the report itself: the get_media_buy_delivery shape plus notification_type,
 * sequence_number and next_expected_at, carried as the `result` of an AdCP
 * webhook with task_type media_buy_delivery.
 *
 * Windows: daily reports cover the UTC day that just ended, monthly ones the
 * calendar month. Delivery is stored per day, so an hourly report covers the UTC
 * day so far (its reporting_period says so). A final report with lifetime totals
 * follows once the buy is completed, canceled or rejected.
 */
import { AdcpError } from './errors.js';
import { DEFAULT_REPORTING_CAPABILITIES } from './products.js';
import { CLOSED_BUY } from './status.js';
import type { WebhookAuthentication } from './webhooks.js';

export type ReportingFrequency = 'hourly' | 'daily' | 'monthly';

export interface ReportingWebhook {
  url: string;
  token?: string;
  authentication?: WebhookAuthentication;
  reporting_frequency: ReportingFrequency;
  requested_metrics?: string[];
}

/** Minutes past a window's end before its report is sent at the earliest: the hourly delivery collection runs at :05. */
export const REPORT_DELAY_MINUTES = 15;
/** The expected_delay_minutes of a product that declares no reporting_capabilities of its own. */
export const DEFAULT_EXPECTED_DELAY_MINUTES = DEFAULT_REPORTING_CAPABILITIES.expected_delay_minutes;

/**
 * Minutes past a window's end before a buy's report for it is sent: the products' declared delay before their
 * data becomes available (AdCP reporting_capabilities.expected_delay_minutes; the longest among the buy's), so a
 * report never claims a window whose data its products say cannot be in yet; never sooner than the collection.
 */
export const reportLagMinutes = (expectedDelayMinutes: number): number => Math.max(REPORT_DELAY_MINUTES, expectedDelayMinutes);

/** Buy statuses that get a final report (then no more): the closed ones. */
export const FINAL_REPORT_STATUSES: ReadonlySet<string> = CLOSED_BUY;
/** Buy statuses that get scheduled reports; others (awaiting approval, creatives or the start) skip their windows. */
export const SCHEDULED_REPORT_STATUSES: ReadonlySet<string> = new Set(['active', 'paused']);

interface ProductReporting {
  id: string;
  details: Record<string, unknown>;
}

function capabilitiesOf(p: ProductReporting): { frequencies: string[]; webhooks: boolean; metrics: string[] } {
  const caps = (p.details.reporting_capabilities ?? DEFAULT_REPORTING_CAPABILITIES) as Partial<typeof DEFAULT_REPORTING_CAPABILITIES>;
  return { frequencies: caps.available_reporting_frequencies ?? [], webhooks: caps.supports_webhooks === true, metrics: caps.available_metrics ?? [] };
}

/** Metrics a product reports (impressions and spend always) that are not among those asked for; empty when it reports them all. */
export function metricsNotReported(p: ProductReporting, metrics: readonly string[]): string[] {
  const caps = capabilitiesOf(p);
  return metrics.filter((m) => m !== 'impressions' && m !== 'spend' && !caps.metrics.includes(m));
}

/** The reporting webhook must suit every product in the buy: webhooks supported, the frequency offered, the metrics available. */
export function checkReportingWebhook(rw: ReportingWebhook, products: ProductReporting[]): void {
  for (const p of products) {
    const caps = capabilitiesOf(p);
    if (!caps.webhooks) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `Product ${p.id} does not report by webhook.`, { field: 'reporting_webhook', suggestion: 'Poll get_media_buy_delivery for this product, or leave it out of the buy.' });
    }
    if (!caps.frequencies.includes(rw.reporting_frequency)) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `Product ${p.id} does not report ${rw.reporting_frequency}.`, {
        field: 'reporting_webhook.reporting_frequency',
        suggestion: `Choose one of ${caps.frequencies.join(', ')} (reporting_capabilities.available_reporting_frequencies).`,
      });
    }
    const missing = metricsNotReported(p, rw.requested_metrics ?? []);
    if (missing.length > 0) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `Product ${p.id} does not report ${missing.join(', ')}.`, {
        field: 'reporting_webhook.requested_metrics',
        suggestion: `Request a subset of ${caps.metrics.join(', ')} (reporting_capabilities.available_metrics).`,
      });
    }
  }
}

const HOUR = 3_600_000;

/** The latest window boundary at or before t. */
export function windowFloor(freq: ReportingFrequency, t: Date): Date {
  if (freq === 'hourly') return new Date(Math.floor(t.getTime() / HOUR) * HOUR);
  if (freq === 'daily') return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
}

function step(freq: ReportingFrequency, t: Date, n: number): Date {
  if (freq === 'hourly') return new Date(t.getTime() + n * HOUR);
  if (freq === 'daily') return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() + n));
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + n, 1));
}

/** The end of the first window that ends after t: when the next report is due. */
export const windowEndAfter = (freq: ReportingFrequency, t: Date): Date => step(freq, windowFloor(freq, t), 1);

/** When the buyer may expect the report for the window ending at `end`: the first run (hourly at :15) once its lag has passed. */
export function expectedAt(end: Date, lagMinutes = REPORT_DELAY_MINUTES): Date {
  const run = REPORT_DELAY_MINUTES * 60_000;
  return new Date(Math.ceil((end.getTime() + lagMinutes * 60_000 - run) / HOUR) * HOUR + run);
}

/** The period a scheduled report covers, ending at a window boundary. */
export function reportPeriod(freq: ReportingFrequency, end: Date): { start: Date; end: Date } {
  // Hourly: the day so far, since delivery is stored per day.
  if (freq === 'hourly') return { start: windowFloor('daily', new Date(end.getTime() - 1)), end };
  return { start: step(freq, end, -1), end };
}

/**
 * The next scheduled report for a buy whose report was due at `due`: the window it
 * covers and when the one after is due. Daily and monthly windows are caught up
 * one by one (their data is exact per day). An hourly report covers the day so far,
 * so missed hours of a day are skipped for the latest whose data is in by `complete`
 * (now, less the buy's report lag) (a day's row already holds them); but a day's
 * closing report (to midnight) is never skipped: a run that finds the day of the due
 * report over sends that day's whole figures first.
 */
export function nextScheduledReport(freq: ReportingFrequency, due: Date, complete: Date): { period: { start: Date; end: Date }; nextDue: Date } {
  let end = due;
  if (freq === 'hourly') {
    const dayEnd = step('daily', windowFloor('daily', new Date(due.getTime() - 1)), 1);
    const latest = new Date(Math.max(due.getTime(), windowFloor(freq, complete).getTime()));
    end = latest > dayEnd ? dayEnd : latest;
  }
  return { period: reportPeriod(freq, end), nextDue: step(freq, end, 1) };
}

/** Calendar days (YYYY-MM-DD, inclusive) whose delivery rows fall in a period that ends at a boundary. */
export function periodDays(period: { start: Date; end: Date }): { startDate: string; endDate: string } {
  return { startDate: period.start.toISOString().slice(0, 10), endDate: new Date(period.end.getTime() - 1).toISOString().slice(0, 10) };
}

const METRIC_KEYS = new Set(['impressions', 'spend', 'clicks', 'ctr', 'completed_views']);
/** AdCP metric names as our wire shape spells them. */
const ALIAS: Record<string, string> = { video_completions: 'completed_views' };

function onlyRequested(row: Record<string, unknown>, keep: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).filter(([k]) => !METRIC_KEYS.has(k) || keep.has(k)));
}

/**
 * The report: a get_media_buy_delivery response (without aggregated_totals, which
 * AdCP keeps to the API) narrowed to the requested metrics, plus the webhook fields.
 */
export function deliveryReport(p: {
  delivery: Record<string, unknown>;
  notificationType: 'scheduled' | 'final';
  sequence: number;
  nextExpectedAt?: Date;
  requestedMetrics?: string[];
}): Record<string, unknown> {
  const { aggregated_totals: _omitted, media_buy_deliveries, ...rest } = p.delivery as { aggregated_totals?: unknown; media_buy_deliveries: Record<string, unknown>[] };
  const keep = p.requestedMetrics?.length ? new Set(['impressions', 'spend', ...p.requestedMetrics.map((m) => ALIAS[m] ?? m)]) : METRIC_KEYS;
  return {
    notification_type: p.notificationType,
    sequence_number: p.sequence,
    ...(p.notificationType !== 'final' && p.nextExpectedAt && { next_expected_at: p.nextExpectedAt.toISOString() }),
    ...rest,
    media_buy_deliveries: media_buy_deliveries.map((d) => ({
      ...d,
      totals: onlyRequested(d.totals as Record<string, unknown>, keep),
      by_package: (d.by_package as Record<string, unknown>[]).map((row) => onlyRequested(row, keep)),
    })),
  };
}
