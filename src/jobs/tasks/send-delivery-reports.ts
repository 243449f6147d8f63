/**
 * send_delivery_reports (crontab, hourly at :15, after delivery collection at :05):
 * for each buy whose reporting window has closed, and the delay its products
 * declare before their data is in (expected_delay_minutes) has passed since,
 * queue its delivery report as an
 * AdCP webhook (task_type media_buy_delivery), delivered by deliver_webhook with
 * its retries, attempt log, URL checks and signing. Buys in flight (active, paused)
 * get scheduled reports; ended ones one final report; others skip their windows.
 * Each batch is one transaction: lock due buys, queue, advance their schedule;
 * each buy in its own savepoint, so one bad row is postponed, not fatal. A run
 * that is repeated finds nothing due twice: the schedule moves with the queueing.
 */
import type { Queryable } from '../../db/client.js';
import { allowsPrivateWebhooks } from '../../db/queries/accounts.js';
import { loadDelivery } from '../../db/queries/delivery.js';
import { advanceReporting, lockDueReports, type DueReport } from '../../db/queries/reporting.js';
import { queueWebhook } from '../../db/queries/webhooks.js';
import { deliveryResponse } from '../../domain/delivery.js';
import { errorMessage } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import {
  deliveryReport,
  expectedAt,
  FINAL_REPORT_STATUSES,
  nextScheduledReport,
  periodDays,
  SCHEDULED_REPORT_STATUSES,
  windowEndAfter,
  type ReportingWebhook,
} from '../../domain/reporting.js';
import { webhookPayload } from '../../domain/webhooks.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const BATCH = 200;
/** Bounds one run; anything left goes out an hour later. */
const MAX_BATCHES = 25;

export const reportTaskId = (mediaBuyId: string) => `delivery_report_${mediaBuyId}`;

type Outcome = 'scheduled' | 'final' | 'skipped';

async function queueReport(tx: Queryable, b: DueReport, now: Date): Promise<Outcome> {
  const rw = b.reportingWebhook as unknown as ReportingWebhook;
  const final = FINAL_REPORT_STATUSES.has(b.status);
  if (!final && !SCHEDULED_REPORT_STATUSES.has(b.status)) {
    await advanceReporting(tx, { tenantId: b.tenantId, id: b.id, sequence: b.reportingSequence, nextAt: windowEndAfter(rw.reporting_frequency, now) });
    return 'skipped';
  }
  let period: { start: Date; end: Date };
  let nextAt: Date | null = null;
  let days: { startDate?: string; endDate?: string } = {};
  if (final) {
    // Lifetime totals up to the end of the flight (or the cancellation).
    const end = new Date(Math.min(now.getTime(), (b.canceledAt ?? b.endTime).getTime()));
    period = { start: new Date(Math.min(b.startTime.getTime(), end.getTime())), end };
  } else {
    // Hourly: up to the last hour whose data the products say is in.
    ({ period, nextDue: nextAt } = nextScheduledReport(rw.reporting_frequency, b.reportingNextAt, new Date(now.getTime() - b.lagMinutes * 60_000)));
    days = periodDays(period);
  }
  const buys = await loadDelivery(tx, { tenantId: b.tenantId, principalId: b.principalId, ids: [b.id], ...days });
  const sequence = b.reportingSequence + 1;
  const result = deliveryReport({
    delivery: deliveryResponse(buys, { daily: false, period: { start: period.start.toISOString(), end: period.end.toISOString() }, currency: b.currency, now, finality: false }),
    notificationType: final ? 'final' : 'scheduled',
    sequence,
    nextExpectedAt: nextAt ? expectedAt(nextAt, b.lagMinutes) : undefined,
    requestedMetrics: rw.requested_metrics,
  });
  const taskId = reportTaskId(b.id);
  await queueWebhook(tx, {
    id: newId('whd'),
    tenantId: b.tenantId,
    principalId: b.principalId,
    taskId,
    mediaBuyId: b.id,
    url: rw.url,
    authentication: rw.authentication ?? null,
    payload: webhookPayload({
      taskId,
      taskType: 'media_buy_delivery',
      status: 'completed',
      message: `${final ? 'Final' : 'Scheduled'} delivery report for ${b.id}, ${period.start.toISOString()} to ${period.end.toISOString()}.`,
      result,
      url: rw.url,
      // A 3.1 buyer's operation_id is never read off its URL (3.1 forbids it).
      release: b.release,
    }),
    allowPrivateNetwork: await allowsPrivateWebhooks(tx, { tenantId: b.tenantId, accountId: b.accountId }),
  });
  await advanceReporting(tx, { tenantId: b.tenantId, id: b.id, sequence, nextAt });
  return final ? 'final' : 'scheduled';
}

export async function sendDeliveryReports(_payload: unknown, _job: JobInfo, deps: TaskDeps, now = new Date()): Promise<Record<Outcome, number>> {
  const counts: Record<Outcome, number> = { scheduled: 0, final: 0, skipped: 0 };
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const locked = await deps.db.transaction(async (tx) => {
      const due = await lockDueReports(tx, { now, limit: BATCH });
      for (const b of due) {
        try {
          counts[await tx.transaction((sp) => queueReport(sp, b, now))] += 1;
        } catch (err) {
          // Postpone this buy to its next window rather than block the others.
          deps.logger.error('send_delivery_reports: could not queue a report', { media_buy_id: b.id, error: errorMessage(err) });
          const freq = (b.reportingWebhook as { reporting_frequency?: ReportingWebhook['reporting_frequency'] }).reporting_frequency ?? 'daily';
          await advanceReporting(tx, { tenantId: b.tenantId, id: b.id, sequence: b.reportingSequence, nextAt: FINAL_REPORT_STATUSES.has(b.status) ? null : windowEndAfter(freq, now) });
        }
      }
      return due.length;
    });
    // A buy catching up on missed daily or monthly windows comes round again until it is current.
    if (locked === 0) break;
  }
  if (counts.scheduled || counts.final) deps.logger.info('send_delivery_reports: reports queued', counts);
  return counts;
}
