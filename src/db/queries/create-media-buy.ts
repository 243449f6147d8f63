/**
 * The whole create_media_buy write as one SQL statement: claim the idempotency
 * key, insert the media buy, its packages, creative assignments and workflow
 * step, its parts (adapter_orders, one per adapter), enqueue their fulfilment
 * (graphile_worker.add_job) and pg_notify. One round
 * trip and one commit: the statement is its own transaction, so either all of
 * it happens or none of it. If the key is already taken, nothing is written and
 * `claimed` is false (the caller then reads the stored response).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { EVENTS_CHANNEL } from '../notify.js';
import { addNewJobsSql, type FulfilmentPlan, type JobSpec } from '../../jobs/fan-out.js';

export interface NewPackageRow {
  id: string;
  product_id: string;
  pricing_option_id: string;
  pricing_model: string;
  adapter_config_id: string;
  buyer_ref: string | null;
  budget: string;
  bid_price: string | null;
  fixed_price: string | null;
  pacing: string | null;
  impressions: string | null;
  targeting: Record<string, unknown> | null;
  format_ids: Record<string, unknown>[] | null;
  package_config: Record<string, unknown>;
  status: string;
  position: number;
}

export interface AtomicCreate {
  tenantId: string;
  principalId: string;
  accountId: string;
  mediaBuyId: string;
  taskId: string;
  buyerRef: string | null;
  status: string;
  startPaused: boolean;
  totalBudget: string;
  currency: string;
  startTime: Date;
  endTime: Date;
  rawRequest: Record<string, unknown>;
  /** The buyer's push_notification_config as the buy keeps it for the record (no credentials). */
  pushNotificationConfig: Record<string, unknown> | null;
  /** The same config as the workflow step signs the task's webhooks with (credentials sealed). */
  stepPushNotificationConfig: Record<string, unknown> | null;
  /** The buyer's reporting_webhook and when its first report is due. */
  reporting: { webhook: Record<string, unknown>; nextAt: Date } | null;
  confirmedAt: Date | null;
  packages: NewPackageRow[];
  assignments: { creative_id: string; package_id: string; weight: number | null }[];
  step: { status: string; owner: string };
  /** A job to enqueue with the buy, if any. */
  job: JobSpec | null;
  /** Set on the auto path: the buy's parts (one per adapter) and their fulfilment jobs. */
  fulfilment: FulfilmentPlan | null;
  /** pg_notify payload. */
  event: string;
  idempotency: { key: string; requestHash: string; response: Record<string, unknown>; ttlSeconds: number } | null;
  /** A comply_test_controller directive this create consumes (sandbox testing only). */
  consumeDirective?: string;
}

export type IdempotencyClaim = AtomicCreate['idempotency'];

/** Claim a create_media_buy idempotency key with its response (one row, `ok`), or nothing if it is taken and fresh; no key, always one row. */
export function claimCreateKey(c: { tenantId: string; principalId: string; idempotency: IdempotencyClaim }): SQL {
  return c.idempotency
    ? sql`insert into idempotency_records (tenant_id, principal_id, tool, key, request_hash, response)
          values (${c.tenantId}, ${c.principalId}, 'create_media_buy', ${c.idempotency.key}, ${c.idempotency.requestHash}, ${JSON.stringify(c.idempotency.response)}::jsonb)
          on conflict (tenant_id, principal_id, tool, key) do update
            set request_hash = excluded.request_hash, response = excluded.response, created_at = now()
            where idempotency_records.created_at < now() - make_interval(secs => ${c.idempotency.ttlSeconds})
          returning 1 as ok`
    : sql`select 1 as ok`;
}

export async function createMediaBuyAtomically(db: Queryable, c: AtomicCreate): Promise<{ claimed: boolean }> {
  const claim = claimCreateKey(c);
  const jobs = [...(c.job ? [c.job] : []), ...(c.fulfilment?.jobs ?? [])];
  // Their keys are made of the new media buy's id.
  const queued = jobs.length ? addNewJobsSql(jobs) : sql`0`;
  const rows = await db.execute<{ claimed: boolean }>(sql`
    with claim as (${claim}),
    buy as (
      insert into media_buys (id, tenant_id, principal_id, account_id, buyer_ref, status, total_budget, currency, start_time, end_time,
                              raw_request, idempotency_key, push_notification_config, reporting_webhook, reporting_next_at, confirmed_at, start_paused)
      select ${c.mediaBuyId}, ${c.tenantId}, ${c.principalId}, ${c.accountId}, ${c.buyerRef}, ${c.status}, ${c.totalBudget}::numeric, ${c.currency},
             ${c.startTime.toISOString()}::timestamptz, ${c.endTime.toISOString()}::timestamptz, ${JSON.stringify(c.rawRequest)}::jsonb,
             ${c.idempotency?.key ?? null}, ${c.pushNotificationConfig ? JSON.stringify(c.pushNotificationConfig) : null}::jsonb,
             ${c.reporting ? JSON.stringify(c.reporting.webhook) : null}::jsonb, ${c.reporting ? c.reporting.nextAt.toISOString() : null}::timestamptz,
             ${c.confirmedAt ? c.confirmedAt.toISOString() : null}::timestamptz, ${c.startPaused}
      from claim
      returning id
    ),
    pkgs as (
      insert into media_packages (id, media_buy_id, tenant_id, product_id, pricing_option_id, pricing_model, adapter_config_id, buyer_ref,
                                  budget, bid_price, fixed_price, pacing, impressions, targeting, format_ids, package_config, status, position)
      select p.id, buy.id, ${c.tenantId}, p.product_id, p.pricing_option_id, p.pricing_model, p.adapter_config_id, p.buyer_ref,
             p.budget::numeric, p.bid_price::numeric, p.fixed_price::numeric, p.pacing, p.impressions::numeric, p.targeting, p.format_ids, p.package_config, p.status, p.position
      from buy, jsonb_to_recordset(${JSON.stringify(c.packages)}::jsonb) as p(
        id text, product_id text, pricing_option_id text, pricing_model text, adapter_config_id text, buyer_ref text,
        budget text, bid_price text, fixed_price text, pacing text, impressions text, targeting jsonb, format_ids jsonb, package_config jsonb, status text, position int)
      returning id
    ),
    assignments as (
      insert into creative_assignments (tenant_id, principal_id, creative_id, package_id, weight)
      select ${c.tenantId}, ${c.principalId}, a.creative_id, a.package_id, a.weight
      from buy, jsonb_to_recordset(${JSON.stringify(c.assignments)}::jsonb) as a(creative_id text, package_id text, weight jsonb)
      returning 1
    ),
    directive as (
      delete from controller_directives
      where ${c.consumeDirective ?? null}::text is not null and tenant_id = ${c.tenantId} and principal_id = ${c.principalId}
        and scenario = ${c.consumeDirective ?? null}::text and exists (select 1 from claim)
      returning 1
    ),
    parts as (
      insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, idempotency_key)
      select x.id, ${c.tenantId}, buy.id, x.adapter_config_id, x.adapter_type, 'queued', x.idempotency_key
      from buy, jsonb_to_recordset(${JSON.stringify(c.fulfilment?.parts ?? [])}::jsonb) as x(id text, adapter_config_id text, adapter_type text, idempotency_key text)
      returning 1
    ),
    step as (
      insert into workflow_steps (id, tenant_id, principal_id, media_buy_id, step_type, status, owner, request, push_notification_config)
      select ${c.taskId}, ${c.tenantId}, ${c.principalId}, buy.id, 'create_media_buy', ${c.step.status}, ${c.step.owner},
             ${JSON.stringify(c.rawRequest)}::jsonb, ${c.stepPushNotificationConfig ? JSON.stringify(c.stepPushNotificationConfig) : null}::jsonb
      from buy
      returning id
    )
    select exists (select 1 from claim) as claimed,
           (select count(*) from pkgs) + (select count(*) from assignments) + (select count(*) from step) + (select count(*) from directive) + (select count(*) from parts) as written,
           case when exists (select 1 from claim) then ${queued} end as jobs,
           case when exists (select 1 from claim) then pg_notify(${EVENTS_CHANNEL}, ${c.event}) end as notified`);
  return { claimed: !!rows[0]?.claimed };
}
