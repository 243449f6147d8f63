/** Reporting-webhook rules: UTC windows, the report shape, and what the products allow. */
import { describe, expect, it } from 'vitest';
import { checkReportingWebhook, deliveryReport, expectedAt, nextScheduledReport, periodDays, reportPeriod, windowEndAfter } from '../../src/domain/reporting.js';

const d = (s: string) => new Date(s);

describe('reporting windows', () => {
  it('ends windows at UTC hour, day and month boundaries', () => {
    expect(windowEndAfter('hourly', d('2026-03-01T10:00:00Z')).toISOString()).toBe('2026-03-01T11:00:00.000Z');
    expect(windowEndAfter('daily', d('2026-03-01T23:59:59Z')).toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(windowEndAfter('monthly', d('2026-12-15T08:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(reportPeriod('monthly', d('2026-03-01T00:00:00Z'))).toEqual({ start: d('2026-02-01T00:00:00Z'), end: d('2026-03-01T00:00:00Z') });
    expect(periodDays(reportPeriod('monthly', d('2026-03-01T00:00:00Z')))).toEqual({ startDate: '2026-02-01', endDate: '2026-02-28' });
  });

  it('catches daily windows up one at a time, but sends hourly ones for the latest hour only', () => {
    expect(nextScheduledReport('daily', d('2026-03-01T00:00:00Z'), d('2026-03-04T00:15:00Z'))).toEqual({
      period: { start: d('2026-02-28T00:00:00Z'), end: d('2026-03-01T00:00:00Z') },
      nextDue: d('2026-03-02T00:00:00Z'),
    });
    expect(nextScheduledReport('hourly', d('2026-03-01T09:00:00Z'), d('2026-03-01T13:15:00Z'))).toEqual({
      period: { start: d('2026-03-01T00:00:00Z'), end: d('2026-03-01T13:00:00Z') },
      nextDue: d('2026-03-01T14:00:00Z'),
    });
    // The midnight hour reports the day that just ended.
    expect(reportPeriod('hourly', d('2026-03-02T00:00:00Z')).start).toEqual(d('2026-03-01T00:00:00Z'));
    // Runs missed across midnight: the day that ended gets its closing report before the latest hour, each day in turn.
    expect(nextScheduledReport('hourly', d('2026-03-01T23:00:00Z'), d('2026-03-03T01:15:00Z'))).toEqual({
      period: { start: d('2026-03-01T00:00:00Z'), end: d('2026-03-02T00:00:00Z') },
      nextDue: d('2026-03-02T01:00:00Z'),
    });
    expect(nextScheduledReport('hourly', d('2026-03-02T01:00:00Z'), d('2026-03-03T01:15:00Z'))).toEqual({
      period: { start: d('2026-03-02T00:00:00Z'), end: d('2026-03-03T00:00:00Z') },
      nextDue: d('2026-03-03T01:00:00Z'),
    });
    expect(nextScheduledReport('hourly', d('2026-03-03T01:00:00Z'), d('2026-03-03T01:15:00Z'))).toEqual({
      period: { start: d('2026-03-03T00:00:00Z'), end: d('2026-03-03T01:00:00Z') },
      nextDue: d('2026-03-03T02:00:00Z'),
    });
    // Due at midnight: the closing report of the day before, as ever.
    expect(nextScheduledReport('hourly', d('2026-03-02T00:00:00Z'), d('2026-03-02T00:15:00Z')).period).toEqual({ start: d('2026-03-01T00:00:00Z'), end: d('2026-03-02T00:00:00Z') });
  });

  it('expects a window\'s report at the first run (at :15) once the products\' declared delay has passed, and reports hours only once their data is in', () => {
    expect(expectedAt(d('2026-03-02T00:00:00Z'))).toEqual(d('2026-03-02T00:15:00Z'));
    expect(expectedAt(d('2026-03-02T00:00:00Z'), 240)).toEqual(d('2026-03-02T04:15:00Z'));
    expect(expectedAt(d('2026-03-02T00:00:00Z'), 250)).toEqual(d('2026-03-02T04:15:00Z'));
    expect(expectedAt(d('2026-03-02T00:00:00Z'), 260)).toEqual(d('2026-03-02T05:15:00Z'));
    // Hourly, with a four-hour delay: at 13:15 the data is in up to 09:00, not 13:00.
    expect(nextScheduledReport('hourly', d('2026-03-01T09:00:00Z'), d('2026-03-01T09:15:00Z')).period.end).toEqual(d('2026-03-01T09:00:00Z'));
  });
});

describe('delivery report', () => {
  const delivery = {
    reporting_period: { start: '2026-03-01T00:00:00.000Z', end: '2026-03-02T00:00:00.000Z' },
    currency: 'USD',
    aggregated_totals: { impressions: 10, spend: 1, clicks: 1, media_buy_count: 1 },
    media_buy_deliveries: [
      {
        media_buy_id: 'mb_1',
        status: 'active',
        totals: { impressions: 10, spend: 1, clicks: 1, completed_views: 4, ctr: 0.1 },
        by_package: [{ package_id: 'pkg_1', impressions: 10, spend: 1, clicks: 1, completed_views: 4, ctr: 0.1, rate: 5, currency: 'USD' }],
      },
    ],
  };

  it('keeps the requested metrics (plus impressions and spend) and adds the webhook fields', () => {
    const r = deliveryReport({ delivery, notificationType: 'scheduled', sequence: 4, nextExpectedAt: d('2026-03-03T00:15:00Z'), requestedMetrics: ['video_completions'] });
    expect(r).toMatchObject({ notification_type: 'scheduled', sequence_number: 4, next_expected_at: '2026-03-03T00:15:00.000Z', currency: 'USD' });
    expect(r.aggregated_totals).toBeUndefined();
    const [buy] = r.media_buy_deliveries as { totals: object; by_package: object[] }[];
    expect(buy!.totals).toEqual({ impressions: 10, spend: 1, completed_views: 4 });
    expect(buy!.by_package[0]).toEqual({ package_id: 'pkg_1', impressions: 10, spend: 1, completed_views: 4, rate: 5, currency: 'USD' });
  });

  it('has no next_expected_at on the final report', () => {
    expect(deliveryReport({ delivery, notificationType: 'final', sequence: 5, nextExpectedAt: d('2026-03-03T00:15:00Z') }).next_expected_at).toBeUndefined();
  });
});

describe('checkReportingWebhook', () => {
  const rw = { url: 'https://buyer.example/r', reporting_frequency: 'hourly' as const };
  it('needs every product to offer webhooks at that frequency', () => {
    expect(() => checkReportingWebhook(rw, [{ id: 'p1', details: {} }])).not.toThrow();
    const dailyOnly = { id: 'p2', details: { reporting_capabilities: { available_reporting_frequencies: ['daily'], supports_webhooks: true, available_metrics: [] } } };
    expect(() => checkReportingWebhook(rw, [{ id: 'p1', details: {} }, dailyOnly])).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_FEATURE', field: 'reporting_webhook.reporting_frequency' }));
    const noWebhooks = { id: 'p3', details: { reporting_capabilities: { available_reporting_frequencies: ['hourly'], supports_webhooks: false } } };
    expect(() => checkReportingWebhook(rw, [noWebhooks])).toThrow(expect.objectContaining({ field: 'reporting_webhook' }));
  });
});
