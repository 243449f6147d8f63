/**
 * The worker's reads and writes for the parts of a media buy (its packages at
 * one adapter, tracked in adapter_orders). One read of everything a part's job
 * needs; each outcome is one statement. Where several parts could decide the
 * buy's fate at once, the caller first locks the buy (lockBuy) in the same
 * transaction, so the statement that follows sees every part that committed
 * before it. Tenant-scoped: the worker acts for the seller, not a principal.
 */
import { sql, type SQL } from 'drizzle-orm';
import { CLOSED_BUY_STATUSES } from '../../domain/status.js';
import type { Queryable } from '../client.js';
import { EVENTS_CHANNEL } from '../notify.js';
import { privateWebhooksAllowedSql } from './accounts.js';

export interface FulfilmentPackage {
  id: string;
  product_id: string;
  pricing_model: string;
  adapter_config_id: string | null;
  budget: string;
  bid_price: string | null;
  rate: string | null;
  impressions: string | null;
  targeting: Record<string, unknown> | null;
  format_ids: Record<string, unknown>[] | null;
  status: string;
}

export interface FulfilmentAdapter {
  id: string;
  name: string;
  adapter_type: string;
  settings: Record<string, unknown>;
}

export interface PartState {
  adapter_config_id: string;
  state: string;
  external_order_id: string | null;
  external_line_item_ids: Record<string, string> | null;
  attempts: number;
  error: string | null;
}

export interface PartView {
  id: string;
  principal_id: string;
  principal_name: string;
  platform_mappings: Record<string, unknown>;
  status: string;
  /** AdCP 3.1 create_media_buy paused, until the buyer resumes or pauses the buy. */
  start_paused: boolean;
  currency: string;
  start_time: string;
  end_time: string;
  buyer_ref: string | null;
  /** The buy's create_media_buy step. */
  step: { id: string; status: string; push: { url: string; authentication?: { schemes?: string[]; credentials?: string } } | null; adcp_version: unknown; context?: unknown } | null;
  /** Webhooks may go to private addresses (sandbox account or seller opt-in). */
  allow_private_webhooks: boolean;
  /** This part's adapter config; null if it is gone. */
  adapter: FulfilmentAdapter | null;
  /** This part's row, if it has one. */
  part: PartState | null;
  /** Every part of the buy, this one included. */
  parts: PartState[];
  /** This part's packages, canceled ones included. */
  packages: FulfilmentPackage[];
}

export async function loadPart(db: Queryable, p: { tenantId: string; mediaBuyId: string; adapterConfigId: string }): Promise<PartView | undefined> {
  const rows = await db.execute<{ v: PartView }>(sql`
    select json_build_object(
      'id', b.id, 'principal_id', b.principal_id, 'principal_name', pr.name, 'platform_mappings', pr.platform_mappings,
      'status', b.status, 'start_paused', b.start_paused, 'currency', b.currency, 'start_time', b.start_time, 'end_time', b.end_time, 'buyer_ref', b.buyer_ref,
      'allow_private_webhooks', ${privateWebhooksAllowedSql(sql`t.settings`, sql`(select a.sandbox from accounts a where a.id = b.account_id)`)},
      'step', (select json_build_object('id', s.id, 'status', s.status, 'push', s.push_notification_config, 'adcp_version', s.request -> 'adcp_version', 'context', s.request -> 'context') from workflow_steps s
               where s.media_buy_id = b.id and s.step_type = 'create_media_buy' order by s.created_at desc limit 1),
      'adapter', (select json_build_object('id', a.id, 'name', a.name, 'adapter_type', a.adapter_type, 'settings', a.settings)
                  from adapter_configs a where a.tenant_id = b.tenant_id and a.id = ${p.adapterConfigId}),
      'parts', coalesce((select json_agg(json_build_object('adapter_config_id', o.adapter_config_id, 'state', o.state, 'external_order_id', o.external_order_id,
                                                            'external_line_item_ids', o.external_line_item_ids, 'attempts', o.attempts, 'error', o.error))
                         from adapter_orders o where o.media_buy_id = b.id), '[]'),
      'packages', coalesce((select json_agg(json_build_object(
          'id', k.id, 'product_id', k.product_id, 'pricing_model', k.pricing_model, 'adapter_config_id', k.adapter_config_id,
          'budget', k.budget::text, 'bid_price', k.bid_price::text, 'impressions', k.impressions::text,
          'rate', coalesce(k.fixed_price, k.bid_price)::text,
          'targeting', k.targeting, 'format_ids', k.format_ids, 'status', k.status) order by k.position, k.created_at, k.id)
        from media_packages k where k.media_buy_id = b.id and k.adapter_config_id = ${p.adapterConfigId}), '[]')
    ) as v
    from media_buys b join principals pr on pr.id = b.principal_id join tenants t on t.id = b.tenant_id
    where b.tenant_id = ${p.tenantId} and b.id = ${p.mediaBuyId}`);
  const v = rows[0]?.v;
  return v && { ...v, part: v.parts.find((x) => x.adapter_config_id === p.adapterConfigId) ?? null };
}

/** Lock the buy for the rest of the transaction; returns its status (the latest committed). */
export async function lockBuy(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<string | undefined> {
  const rows = await db.execute<{ status: string }>(sql`select status from media_buys where tenant_id = ${p.tenantId} and id = ${p.mediaBuyId} for update`);
  return rows[0]?.status;
}

interface PartRef {
  tenantId: string;
  mediaBuyId: string;
  adapterConfigId: string;
  adapterType: string;
  idempotencyKey: string;
  attempts: number;
}

export interface BookedOutcome {
  /** The buy was still open: the part is booked. Otherwise it is `canceling`, and `onClosed` ran. */
  open: boolean;
  /** Every part is booked: the buy's step moved to completed in this statement. */
  confirmed: boolean;
  booked: number;
  total: number;
}

/**
 * A part's order is booked. If the buy is still open the part becomes booked,
 * and when no other part is still queued the create step completes (the buy is
 * confirmed at every ad server). If the buy has closed meanwhile (rejected by
 * another part, canceled by the buyer), the order must be undone: the part
 * becomes `canceling` and `onClosed` (the cancel job) is queued. `onBooked` (the
 * creative sync) is queued only when the part has creatives assigned.
 */
export async function recordPartBooked(
  db: Queryable,
  o: PartRef & {
    stepId: string | null;
    /** Null when the part had no live package left, so nothing was booked: the part is settled as canceled. */
    externalOrderId: string | null;
    lineItemIds: Record<string, string>;
    response: Record<string, unknown>;
    /** pg_notify payloads: all parts booked, or this one of several (its summary gets "(n of m ad servers)" appended). */
    events: { confirmed: string; progress: string };
    onClosed: SQL;
    onBooked: SQL;
  },
): Promise<BookedOutcome> {
  const rows = await db.execute<{ open: boolean; waiting: number; booked: number; total: number; step_status: string | null }>(sql`
    with others as (
      select count(*) filter (where state not in ('booked', 'canceled'))::int as waiting,
             count(*) filter (where state = 'booked')::int as booked, count(*)::int as total
      from adapter_orders where media_buy_id = ${o.mediaBuyId} and adapter_config_id <> ${o.adapterConfigId}
    ),
    buy as (
      update media_buys b set updated_at = now()
      where b.tenant_id = ${o.tenantId} and b.id = ${o.mediaBuyId} and b.status not in ${CLOSED_BUY_STATUSES}
      returning b.id
    ),
    part as (
      insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, external_order_id, external_line_item_ids, idempotency_key, attempts)
      values ('ao_' || md5(${o.idempotencyKey}), ${o.tenantId}, ${o.mediaBuyId}, ${o.adapterConfigId}, ${o.adapterType},
              case when ${o.externalOrderId}::text is null then 'canceled' when exists (select 1 from buy) then 'booked' else 'canceling' end,
              ${o.externalOrderId}, ${JSON.stringify(o.lineItemIds)}::jsonb, ${o.idempotencyKey}, ${o.attempts})
      on conflict (media_buy_id, adapter_config_id) do update set state = excluded.state, external_order_id = excluded.external_order_id,
        external_line_item_ids = excluded.external_line_item_ids, attempts = excluded.attempts, error = null, updated_at = now()
      returning state
    ),
    step as (
      update workflow_steps s set
        status = case when others.waiting = 0 then 'completed' else 'in_progress' end,
        response = case when others.waiting = 0 then ${JSON.stringify(o.response)}::jsonb else s.response end,
        updated_at = now()
      from buy, others
      where s.tenant_id = ${o.tenantId} and s.id = ${o.stepId}::text and s.status in ('pending', 'in_progress')
      returning s.status
    )
    select exists (select 1 from buy) as open, others.waiting, others.booked + 1 as booked, others.total + 1 as total,
           (select status from step) as step_status, (select count(*) from part) as written,
           case when exists (select 1 from buy) and others.waiting = 0 and (${o.stepId}::text is null or exists (select 1 from step where status = 'completed'))
                  then pg_notify(${EVENTS_CHANNEL}, ${o.events.confirmed})
                when exists (select 1 from buy)
                  then pg_notify(${EVENTS_CHANNEL}, jsonb_set(${o.events.progress}::jsonb, '{summary}',
                         to_jsonb(concat(${o.events.progress}::jsonb->>'summary', ' (', others.booked + 1, ' of ', others.total + 1, ' ad servers)')))::text) end as notified,
           case when ${o.externalOrderId}::text is null then null
                when not exists (select 1 from buy) then ${o.onClosed}
                when exists (select 1 from creative_assignments a join media_packages k on k.id = a.package_id
                             where k.media_buy_id = ${o.mediaBuyId} and k.adapter_config_id = ${o.adapterConfigId} and k.status <> 'canceled')
                  then ${o.onBooked} end as queued
    from others`);
  const r = rows[0]!;
  return { open: r.open, confirmed: r.open && r.step_status === 'completed', booked: r.booked, total: r.total };
}

/** A transient failure: the part stays queued with the error, the step shows work under way. Never overwrites a settled part. */
export async function recordPartRetry(db: Queryable, o: PartRef & { stepId: string | null; error: string }): Promise<void> {
  await db.execute(sql`
    with part as (
      insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, idempotency_key, attempts, error)
      values ('ao_' || md5(${o.idempotencyKey}), ${o.tenantId}, ${o.mediaBuyId}, ${o.adapterConfigId}, ${o.adapterType}, 'queued', ${o.idempotencyKey}, ${o.attempts}, ${o.error})
      on conflict (media_buy_id, adapter_config_id) do update set attempts = excluded.attempts, error = excluded.error, updated_at = now()
        where adapter_orders.state = 'queued'
      returning 1
    ),
    step as (
      update workflow_steps set status = 'in_progress', updated_at = now()
      where tenant_id = ${o.tenantId} and id = ${o.stepId}::text and status = 'pending'
      returning 1
    )
    select (select count(*) from part) + (select count(*) from step) as written`);
}

/**
 * A part failed for good (permanent error, or its last attempt), with the buy
 * locked and still open: the part is failed, the buy rejected with the reason,
 * its create step failed, and every other unsettled part moves to `canceling`
 * (returned, for the caller to queue their cancel jobs).
 */
export async function recordPartFailed(
  db: Queryable,
  o: PartRef & { stepId: string | null; error: string; reason: string; stepError: Record<string, unknown>; event: string },
): Promise<{ canceling: string[] }> {
  const rows = await db.execute<{ adapter_config_id: string | null }>(sql`
    with part as (
      insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, idempotency_key, attempts, error)
      values ('ao_' || md5(${o.idempotencyKey}), ${o.tenantId}, ${o.mediaBuyId}, ${o.adapterConfigId}, ${o.adapterType}, 'failed', ${o.idempotencyKey}, ${o.attempts}, ${o.error})
      on conflict (media_buy_id, adapter_config_id) do update set state = 'failed', attempts = excluded.attempts, error = excluded.error, updated_at = now()
      returning 1
    ),
    buy as (
      update media_buys set status = 'rejected', rejection_reason = ${o.reason}, revision = revision + 1, updated_at = now()
      where tenant_id = ${o.tenantId} and id = ${o.mediaBuyId} and status not in ${CLOSED_BUY_STATUSES}
      returning id
    ),
    step as (
      update workflow_steps s set status = 'failed', error = ${JSON.stringify(o.stepError)}::jsonb, updated_at = now()
      from buy where s.tenant_id = ${o.tenantId} and s.id = ${o.stepId}::text
      returning 1
    ),
    others as (
      update adapter_orders o set state = 'canceling', error = ${`compensation: ${o.reason}`}, updated_at = now()
      from buy where o.media_buy_id = buy.id and o.adapter_config_id <> ${o.adapterConfigId} and o.state in ('queued', 'booked')
      returning o.adapter_config_id
    ),
    notified as (select pg_notify(${EVENTS_CHANNEL}, ${o.event}) from buy)
    select others.adapter_config_id, (select count(*) from part) + (select count(*) from step) + (select count(*) from notified) as written
    from (select 1) one left join others on true`);
  return { canceling: rows.flatMap((r) => (r.adapter_config_id ? [r.adapter_config_id] : [])) };
}

/**
 * Settle a queued part without booking it: `canceled` (nothing was made),
 * `canceling` (something may have been; a cancel job follows; also from
 * `canceled`), or `failed` (the buy had already closed when this part failed).
 */
export async function settlePart(db: Queryable, o: PartRef & { state: 'canceled' | 'canceling' | 'failed'; error: string | null }): Promise<void> {
  await db.execute(sql`
    insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, idempotency_key, attempts, error)
    values ('ao_' || md5(${o.idempotencyKey}), ${o.tenantId}, ${o.mediaBuyId}, ${o.adapterConfigId}, ${o.adapterType}, ${o.state}, ${o.idempotencyKey}, ${o.attempts}, ${o.error})
    on conflict (media_buy_id, adapter_config_id) do update set state = excluded.state, error = coalesce(excluded.error, adapter_orders.error), updated_at = now()
      where adapter_orders.state = 'queued' or (adapter_orders.state = 'canceled' and excluded.state = 'canceling')`);
}

/** The cancel job's end: the part is canceled (or keeps `canceling`, with the error, when the ad server refused for good). */
export async function recordPartCanceled(db: Queryable, p: { tenantId: string; mediaBuyId: string; adapterConfigId: string; error: string | null }): Promise<void> {
  await db.execute(sql`
    update adapter_orders set state = case when ${p.error}::text is null then 'canceled' else state end,
      error = coalesce(${p.error}::text, error), updated_at = now()
    where tenant_id = ${p.tenantId} and media_buy_id = ${p.mediaBuyId} and adapter_config_id = ${p.adapterConfigId} and state = 'canceling'`);
}

/** A transient failure of one ad server's update: recorded on its row, which stays queued. */
export async function recordUpdatePartRetry(db: Queryable, p: { stepId: string; adapterConfigId: string; attempts: number; error: string }): Promise<void> {
  await db.execute(sql`
    update adapter_order_updates set attempts = ${p.attempts}, error = ${p.error}, updated_at = now()
    where step_id = ${p.stepId} and adapter_config_id = ${p.adapterConfigId} and state = 'queued'`);
}

/**
 * One ad server has taken (or failed) an update; returns every ad server's
 * state for the step. Run it with the step locked, so that of the parts
 * settling at once the last one sees all the others settled.
 */
export async function settleUpdatePart(
  db: Queryable,
  p: { stepId: string; adapterConfigId: string; state: 'applied' | 'skipped' | 'refused' | 'failed'; attempts: number; error: string | null },
): Promise<{ adapter_config_id: string; state: string; error: string | null }[]> {
  return db.execute<{ adapter_config_id: string; state: string; error: string | null }>(sql`
    with mine as (
      update adapter_order_updates set state = ${p.state}, attempts = ${p.attempts}, error = ${p.error}, updated_at = now()
      where step_id = ${p.stepId} and adapter_config_id = ${p.adapterConfigId}
      returning adapter_config_id, state, error
    )
    select adapter_config_id, state, error from mine
    union all
    select adapter_config_id, state, error from adapter_order_updates where step_id = ${p.stepId} and adapter_config_id <> ${p.adapterConfigId}`);
}
