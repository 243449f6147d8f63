/**
 * The delivery-report schedule kept on each media buy that has a reporting
 * webhook (reporting_next_at, reporting_sequence). The worker acts for the
 * seller, so these are scoped by tenant through the buy itself.
 */
import { sql } from 'drizzle-orm';
import { releaseOf, type AdcpRelease } from '../../domain/adcp-release.js';
import { DEFAULT_EXPECTED_DELAY_MINUTES, REPORT_DELAY_MINUTES } from '../../domain/reporting.js';
import { CLOSED_BUY_STATUSES } from '../../domain/status.js';
import type { Queryable } from '../client.js';

export interface DueReport {
  id: string;
  tenantId: string;
  principalId: string;
  accountId: string | null;
  status: string;
  currency: string;
  startTime: Date;
  endTime: Date;
  canceledAt: Date | null;
  reportingWebhook: Record<string, unknown>;
  reportingNextAt: Date;
  reportingSequence: number;
  /** The AdCP release the buy was asked in (its create request's adcp_version). */
  release: AdcpRelease;
  /** Minutes past a window's end before its report goes: its products' longest declared delay (expected_delay_minutes), at least the collection's. */
  lagMinutes: number;
}

/**
 * Lock (SKIP LOCKED, so concurrent runs share the work) buys in flight whose next
 * report is due, and ended buys that still owe their final report, once the hourly
 * collection that covers their last hour of delivery (the flight's end, or the
 * completion, cancellation or rejection if earlier) has run: the final report's
 * lifetime totals are the last word. Either waits, past the end of what it reports,
 * for the delay the buy's products declare before their data is in (the longest
 * expected_delay_minutes among them; a product without reporting_capabilities has
 * the default's), and never less than the collection takes.
 */
export async function lockDueReports(db: Queryable, p: { now: Date; limit: number }): Promise<DueReport[]> {
  const now = p.now.toISOString();
  const rows = await db.execute<{
    id: string;
    tenant_id: string;
    principal_id: string;
    account_id: string | null;
    status: string;
    currency: string;
    start_time: string;
    end_time: string;
    canceled_at: string | null;
    reporting_webhook: Record<string, unknown>;
    reporting_next_at: string;
    reporting_sequence: number;
    adcp_version: unknown;
    lag_minutes: number;
  }>(sql`
    select id, tenant_id, principal_id, account_id, status, currency, start_time, end_time, canceled_at,
           reporting_webhook, reporting_next_at, reporting_sequence, raw_request -> 'adcp_version' as adcp_version, lag_minutes
    from media_buys b,
      lateral (select greatest(${REPORT_DELAY_MINUTES}::int, coalesce(max(case when jsonb_typeof(d) = 'number' then least(greatest(d::text::numeric, 0), 525600)::int end), ${DEFAULT_EXPECTED_DELAY_MINUTES}::int)) as lag_minutes
               from (select coalesce(pr.details -> 'reporting_capabilities' -> 'expected_delay_minutes', ${String(DEFAULT_EXPECTED_DELAY_MINUTES)}::jsonb) as d
                     from media_packages k left join products pr on pr.tenant_id = k.tenant_id and pr.id = k.product_id
                     where k.media_buy_id = b.id) declared) lag
    where reporting_next_at is not null and reporting_webhook is not null
      and case when status in ${CLOSED_BUY_STATUSES}
            then date_trunc('hour', least(end_time, canceled_at, case when status in ('completed', 'rejected') then updated_at end), 'UTC')
                 + interval '1 hour' + make_interval(mins => lag_minutes) <= ${now}::timestamptz
            else reporting_next_at + make_interval(mins => lag_minutes) <= ${now}::timestamptz end
    order by reporting_next_at, id
    limit ${p.limit}
    for update of b skip locked`);
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    principalId: r.principal_id,
    accountId: r.account_id,
    status: r.status,
    currency: r.currency,
    startTime: new Date(r.start_time),
    endTime: new Date(r.end_time),
    canceledAt: r.canceled_at ? new Date(r.canceled_at) : null,
    reportingWebhook: r.reporting_webhook,
    reportingNextAt: new Date(r.reporting_next_at),
    reportingSequence: r.reporting_sequence,
    release: releaseOf({ adcp_version: r.adcp_version }),
    lagMinutes: Number(r.lag_minutes),
  }));
}

/** Record that a report went out (or a window was skipped): its sequence number and when the next one is due (null: no more). */
export async function advanceReporting(db: Queryable, p: { tenantId: string; id: string; sequence: number; nextAt: Date | null }): Promise<void> {
  await db.execute(sql`
    update media_buys set reporting_sequence = ${p.sequence}, reporting_next_at = ${p.nextAt ? p.nextAt.toISOString() : null}::timestamptz
    where tenant_id = ${p.tenantId} and id = ${p.id}`);
}
