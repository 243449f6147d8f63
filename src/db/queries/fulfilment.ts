/**
 * The worker's two statements per fulfilment: one read of everything the job
 * needs, and one write of the outcome (adapter orders, media buy, workflow step,
 * pg_notify) that only applies while the buy is still open. Tenant-scoped: the
 * worker acts for the seller, not for a principal.
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { EVENTS_CHANNEL } from '../notify.js';

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

export interface FulfilmentView {
  id: string;
  principal_id: string;
  principal_name: string;
  platform_mappings: Record<string, unknown>;
  status: string;
  currency: string;
  total_budget: string;
  start_time: string;
  end_time: string;
  buyer_ref: string | null;
  step: { id: string; status: string; push: { url: string; authentication?: { schemes?: string[]; credentials?: string } } | null } | null;
  /** Webhooks may go to private addresses (sandbox account or seller opt-in). */
  allow_private_webhooks: boolean;
  packages: FulfilmentPackage[];
  booked_adapter_ids: string[];
  orders: { adapter_config_id: string; state: string; external_order_id: string | null }[];
  adapters: FulfilmentAdapter[];
}

export async function loadFulfilmentView(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<FulfilmentView | undefined> {
  const rows = await db.execute<{ v: FulfilmentView }>(sql`
    select json_build_object(
      'id', b.id, 'principal_id', b.principal_id, 'principal_name', pr.name, 'platform_mappings', pr.platform_mappings,
      'status', b.status, 'currency', b.currency, 'total_budget', b.total_budget::text,
      'start_time', b.start_time, 'end_time', b.end_time, 'buyer_ref', b.buyer_ref,
      'allow_private_webhooks', coalesce((select a.sandbox from accounts a where a.id = b.account_id), false)
                                or coalesce((t.settings->>'allow_private_webhooks')::boolean, false),
      'step', (select json_build_object('id', s.id, 'status', s.status, 'push', s.push_notification_config) from workflow_steps s
               where s.media_buy_id = b.id and s.step_type = 'create_media_buy' order by s.created_at desc limit 1),
      'packages', coalesce((select json_agg(json_build_object(
          'id', k.id, 'product_id', k.product_id, 'pricing_model', k.pricing_model, 'adapter_config_id', k.adapter_config_id,
          'budget', k.budget::text, 'bid_price', k.bid_price::text, 'impressions', k.impressions::text,
          'rate', coalesce((select po.fixed_price from pricing_options po
                            where po.tenant_id = k.tenant_id and po.product_id = k.product_id and po.id = k.pricing_option_id), k.bid_price)::text,
          'targeting', k.targeting, 'format_ids', k.format_ids, 'status', k.status) order by k.position, k.created_at, k.id)
        from media_packages k where k.media_buy_id = b.id), '[]'),
      'booked_adapter_ids', coalesce((select json_agg(o.adapter_config_id) from adapter_orders o
        where o.media_buy_id = b.id and o.state = 'booked'), '[]'),
      'orders', coalesce((select json_agg(json_build_object('adapter_config_id', o.adapter_config_id, 'state', o.state, 'external_order_id', o.external_order_id))
        from adapter_orders o where o.media_buy_id = b.id), '[]'),
      'adapters', coalesce((select json_agg(json_build_object('id', a.id, 'name', a.name, 'adapter_type', a.adapter_type, 'settings', a.settings))
        from adapter_configs a where a.tenant_id = b.tenant_id), '[]')
    ) as v
    from media_buys b join principals pr on pr.id = b.principal_id join tenants t on t.id = b.tenant_id
    where b.tenant_id = ${p.tenantId} and b.id = ${p.mediaBuyId}`);
  return rows[0]?.v;
}

export interface AdapterOrderOutcome {
  id: string;
  adapter_config_id: string;
  adapter_type: string;
  state: 'booked' | 'queued' | 'failed';
  external_order_id: string | null;
  external_line_item_ids: Record<string, string> | null;
  idempotency_key: string;
  attempts: number;
  error: string | null;
}

export interface FulfilmentOutcome {
  tenantId: string;
  mediaBuyId: string;
  orders: AdapterOrderOutcome[];
  /** New media-buy status, or null to keep it. */
  buyStatus: string | null;
  rejectionReason: string | null;
  /** Set confirmed_at if it is not set yet (everything booked). */
  confirm: boolean;
  step: { id: string; status: string; response: Record<string, unknown> | null; error: Record<string, unknown> | null } | null;
  /** pg_notify payload, sent only if the buy was still open. */
  event: string | null;
}

/** Record the outcome; returns false when the buy had already been closed (canceled, rejected...) and nothing was written. */
export async function recordFulfilment(db: Queryable, o: FulfilmentOutcome): Promise<boolean> {
  const rows = await db.execute<{ applied: boolean }>(sql`
    with buy as (
      update media_buys set
        status = coalesce(${o.buyStatus}::text, status),
        rejection_reason = coalesce(${o.rejectionReason}::text, rejection_reason),
        confirmed_at = case when ${o.confirm}::boolean then coalesce(confirmed_at, now()) else confirmed_at end,
        revision = revision + case when ${o.buyStatus}::text is null then 0 else 1 end,
        updated_at = now()
      where tenant_id = ${o.tenantId} and id = ${o.mediaBuyId} and status not in ('rejected', 'canceled', 'completed')
      returning id
    ),
    orders as (
      insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, external_order_id,
                                  external_line_item_ids, idempotency_key, attempts, error)
      select x.id, ${o.tenantId}, buy.id, x.adapter_config_id, x.adapter_type, x.state, x.external_order_id,
             x.external_line_item_ids, x.idempotency_key, x.attempts, x.error
      from buy, jsonb_to_recordset(${JSON.stringify(o.orders)}::jsonb) as x(
        id text, adapter_config_id text, adapter_type text, state text, external_order_id text,
        external_line_item_ids jsonb, idempotency_key text, attempts int, error text)
      on conflict (media_buy_id, adapter_config_id) do update set
        state = excluded.state, external_order_id = excluded.external_order_id, external_line_item_ids = excluded.external_line_item_ids,
        attempts = excluded.attempts, error = excluded.error, updated_at = now()
      returning 1
    ),
    step as (
      update workflow_steps s set status = ${o.step?.status ?? null}::text, response = ${o.step?.response ? JSON.stringify(o.step.response) : null}::jsonb,
        error = ${o.step?.error ? JSON.stringify(o.step.error) : null}::jsonb, updated_at = now()
      from buy
      where s.tenant_id = ${o.tenantId} and s.id = ${o.step?.id ?? null}::text and s.media_buy_id = buy.id
      returning 1
    )
    select exists (select 1 from buy) as applied,
           (select count(*) from orders) + (select count(*) from step) as written,
           case when exists (select 1 from buy) and ${o.event}::text is not null then pg_notify(${EVENTS_CHANNEL}, ${o.event}::text) end as notified`);
  return !!rows[0]?.applied;
}
