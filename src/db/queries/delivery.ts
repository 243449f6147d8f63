/**
 * Delivery reports (per package per day) and performance feedback. Reads and
 * writes are scoped by tenant and principal through the media buy they belong to.
 * Simulated delivery (comply_test_controller) lands in the same table as adapter
 * reports, marked source = 'simulated'. The collect_delivery task reads what it
 * needs here and upserts adapter reports (source = 'adapter'), never over a
 * simulated row; schedule_delivery_collection enqueues it for the buys in flight.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db, Queryable } from '../client.js';
import { creatives, deliveryReports, mediaBuys, mediaPackages, performanceFeedback, accounts } from '../schema/index.js';
import { splitByWeights, type DeliveryBuy } from '../../domain/delivery.js';
import { newId } from '../../domain/ids.js';
import { fromUnits, toUnits } from '../../domain/money.js';

interface Scope {
  tenantId: string;
  principalId: string;
}

/** The caller's buys with their packages and the report rows inside the date range (inclusive, YYYY-MM-DD). */
export async function loadDelivery(
  db: Queryable,
  p: Scope & { ids?: string[]; buyerRefs?: string[]; statuses?: string[]; accountId?: string; startDate?: string; endDate?: string },
): Promise<DeliveryBuy[]> {
  const filters: SQL[] = [];
  if (p.ids?.length) filters.push(sql`and b.id in ${p.ids}`);
  if (p.buyerRefs?.length) filters.push(sql`and b.buyer_ref in ${p.buyerRefs}`);
  if (p.statuses?.length) filters.push(sql`and b.status in ${p.statuses}`);
  if (p.accountId) filters.push(sql`and b.account_id = ${p.accountId}`);
  const rows = await db.execute<{ v: DeliveryBuy }>(sql`
    select json_build_object(
      'id', b.id, 'buyer_ref', b.buyer_ref, 'status', b.status, 'start_paused', b.start_paused, 'currency', b.currency, 'start_time', b.start_time,
      -- Delivery stops at the flight's end, a cancellation, or the rejection (a rejected buy never ran).
      'delivery_ends', least(b.end_time, b.canceled_at, case when b.status = 'rejected' then b.updated_at end),
      'packages', coalesce((select json_agg(json_build_object(
          'id', k.id, 'product_id', k.product_id, 'buyer_ref', k.buyer_ref, 'pricing_model', k.pricing_model, 'status', k.status,
          'rate', coalesce(k.bid_price, k.fixed_price)::text,
          'days', coalesce((select json_agg(json_build_object(
              'day', r.day, 'impressions', r.impressions, 'clicks', r.clicks, 'video_completions', r.video_completions,
              'spend', r.spend::text, 'source', r.source) order by r.day)
            from delivery_reports r
            where r.package_id = k.id
              and r.day >= coalesce(${p.startDate ?? null}::date, '-infinity'::date)
              and r.day <= coalesce(${p.endDate ?? null}::date, 'infinity'::date)), '[]'))
          order by k.position, k.created_at, k.id)
        from media_packages k
        where k.media_buy_id = b.id), '[]')
    ) as v
    from media_buys b
    where b.tenant_id = ${p.tenantId} and b.principal_id = ${p.principalId} ${sql.join(filters, sql` `)}
    order by b.created_at desc, b.id desc`);
  return rows.map((r) => r.v);
}

async function buyForSimulation(tx: Queryable, p: Scope & { mediaBuyId: string }) {
  const [buy] = await tx
    .select({ currency: mediaBuys.currency, totalBudget: mediaBuys.totalBudget })
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.mediaBuyId)))
    .for('update');
  return buy;
}

export interface Cumulative {
  impressions: number;
  clicks: number;
  spend: string;
}

async function cumulative(tx: Queryable, mediaBuyId: string): Promise<Cumulative> {
  const [row] = await tx
    .select({
      impressions: sql<string>`coalesce(sum(${deliveryReports.impressions}), 0)::text`,
      clicks: sql<string>`coalesce(sum(${deliveryReports.clicks}), 0)::text`,
      spend: sql<string>`coalesce(sum(${deliveryReports.spend}), 0)::text`,
    })
    .from(deliveryReports)
    .where(eq(deliveryReports.mediaBuyId, mediaBuyId));
  return { impressions: Number(row!.impressions), clicks: Number(row!.clicks), spend: fromUnits(toUnits(row!.spend)) };
}

/** A package's stored delivery to date, and when it was last written (a collection, a simulation). */
export interface PackageTotals {
  impressions: number;
  clicks: number;
  spend: string;
  asOf: Date;
}

/** The stored delivery to date of the given buys' packages (the caller's buys: listed under its scope), by package id; packages with none are left out. */
export async function packageTotals(db: Queryable, p: { tenantId: string; mediaBuyIds: string[] }): Promise<Map<string, PackageTotals>> {
  if (p.mediaBuyIds.length === 0) return new Map();
  const rows = await db
    .select({
      id: deliveryReports.packageId,
      impressions: sql<string>`sum(${deliveryReports.impressions})::text`,
      clicks: sql<string>`sum(${deliveryReports.clicks})::text`,
      spend: sql<string>`sum(${deliveryReports.spend})::text`,
      asOf: sql<Date>`max(${deliveryReports.updatedAt})`.mapWith(deliveryReports.updatedAt),
    })
    .from(deliveryReports)
    .where(and(eq(deliveryReports.tenantId, p.tenantId), inArray(deliveryReports.mediaBuyId, p.mediaBuyIds)))
    .groupBy(deliveryReports.packageId);
  return new Map(rows.map((r) => [r.id, { impressions: Number(r.impressions), clicks: Number(r.clicks), spend: r.spend, asOf: r.asOf }]));
}

/** Each package's spend so far (all its stored delivery), by package id; packages with none are left out. */
export async function packageSpend(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<Map<string, string>> {
  const totals = await packageTotals(db, { tenantId: p.tenantId, mediaBuyIds: [p.mediaBuyId] });
  return new Map([...totals].map(([id, t]) => [id, t.spend]));
}

export type SimulationOutcome = { outcome: 'not_found' } | { outcome: 'currency_mismatch'; currency: string } | { outcome: 'ok'; currency: string; budget: string; cumulative: Cumulative };

/** Add delivery for one day to a buy, split across its running packages (not canceled or paused) in proportion to their budgets. */
export async function simulateDelivery(
  db: Db,
  p: Scope & { mediaBuyId: string; day: string; impressions: number; clicks: number; completions: number; spend: string; currency?: string },
): Promise<SimulationOutcome> {
  return db.transaction(async (tx) => {
    const buy = await buyForSimulation(tx, p);
    if (!buy) return { outcome: 'not_found' };
    if (p.currency && p.currency !== buy.currency) return { outcome: 'currency_mismatch', currency: buy.currency };
    const all = await tx.select({ id: mediaPackages.id, budget: mediaPackages.budget, status: mediaPackages.status }).from(mediaPackages).where(eq(mediaPackages.mediaBuyId, p.mediaBuyId)).orderBy(mediaPackages.position, mediaPackages.createdAt, mediaPackages.id);
    // Canceled and paused packages deliver nothing (unless none runs: then every package shares what is simulated).
    const live = all.filter((k) => k.status !== 'canceled' && k.status !== 'paused');
    const pkgs = live.length ? live : all;
    const weights = pkgs.map((k) => toUnits(k.budget));
    const [imps, clicks, completions, spend] = [BigInt(p.impressions), BigInt(p.clicks), BigInt(p.completions), toUnits(p.spend)].map((total) => splitByWeights(total, weights));
    const rows = pkgs.map((k, i) => ({
      tenantId: p.tenantId,
      mediaBuyId: p.mediaBuyId,
      packageId: k.id,
      day: p.day,
      impressions: Number(imps![i]),
      clicks: Number(clicks![i]),
      videoCompletions: Number(completions![i]),
      spend: fromUnits(spend![i]!),
      source: 'simulated',
    }));
    if (rows.length) {
      await tx
        .insert(deliveryReports)
        .values(rows)
        .onConflictDoUpdate({
          target: [deliveryReports.packageId, deliveryReports.day],
          set: {
            impressions: sql`${deliveryReports.impressions} + excluded.impressions`,
            clicks: sql`${deliveryReports.clicks} + excluded.clicks`,
            videoCompletions: sql`${deliveryReports.videoCompletions} + excluded.video_completions`,
            spend: sql`${deliveryReports.spend} + excluded.spend`,
            source: 'simulated',
            updatedAt: sql`now()`,
          },
        });
    }
    return { outcome: 'ok', currency: buy.currency, budget: buy.totalBudget, cumulative: await cumulative(tx, p.mediaBuyId) };
  });
}

/** Bring each package's lifetime spend to a percentage of its budget by setting that day's spend. */
export async function simulateBudgetSpend(db: Db, p: Scope & { mediaBuyId: string; day: string; percentage: number }): Promise<SimulationOutcome> {
  return db.transaction(async (tx) => {
    const buy = await buyForSimulation(tx, p);
    if (!buy) return { outcome: 'not_found' };
    await tx.execute(sql`
      insert into delivery_reports (tenant_id, media_buy_id, package_id, day, spend, source)
      select k.tenant_id, k.media_buy_id, k.id, ${p.day}::date,
             greatest(0, round(k.budget * ${String(p.percentage)}::numeric / 100, 4)
               - coalesce((select sum(r.spend) from delivery_reports r where r.package_id = k.id and r.day <> ${p.day}::date), 0)),
             'simulated'
      from media_packages k where k.media_buy_id = ${p.mediaBuyId}
        and (k.status not in ('canceled', 'paused') or not exists (select 1 from media_packages x where x.media_buy_id = k.media_buy_id and x.status not in ('canceled', 'paused')))
      on conflict (package_id, day) do update set spend = excluded.spend, source = 'simulated', updated_at = now()`);
    return { outcome: 'ok', currency: buy.currency, budget: buy.totalBudget, cumulative: await cumulative(tx, p.mediaBuyId) };
  });
}

export type FeedbackOutcome = { outcome: 'ok'; sandbox: boolean } | { outcome: 'media_buy_not_found' | 'package_not_found' | 'creative_not_found' };

/** Store buyer feedback on a buy (optionally one package or creative); checks the references first. */
export async function recordPerformanceFeedback(
  tx: Queryable,
  p: Scope & { mediaBuyId: string; packageId?: string; creativeId?: string; metricType: string; feedbackSource: string; performanceIndex: string; period: { start: string; end: string } },
): Promise<FeedbackOutcome> {
  const [buy] = await tx
    .select({ id: mediaBuys.id, sandbox: accounts.sandbox })
    .from(mediaBuys)
    .leftJoin(accounts, eq(accounts.id, mediaBuys.accountId))
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.mediaBuyId)));
  if (!buy) return { outcome: 'media_buy_not_found' };
  if (p.packageId) {
    const [pkg] = await tx.select({ id: mediaPackages.id }).from(mediaPackages).where(and(eq(mediaPackages.mediaBuyId, p.mediaBuyId), eq(mediaPackages.id, p.packageId)));
    if (!pkg) return { outcome: 'package_not_found' };
  }
  if (p.creativeId) {
    const [cr] = await tx
      .select({ id: creatives.id })
      .from(creatives)
      .where(and(eq(creatives.tenantId, p.tenantId), eq(creatives.principalId, p.principalId), eq(creatives.id, p.creativeId)));
    if (!cr) return { outcome: 'creative_not_found' };
  }
  await tx.insert(performanceFeedback).values({
    id: newId('pf'),
    tenantId: p.tenantId,
    principalId: p.principalId,
    mediaBuyId: p.mediaBuyId,
    packageId: p.packageId ?? null,
    creativeId: p.creativeId ?? null,
    metricType: p.metricType,
    performanceIndex: p.performanceIndex,
    feedbackSource: p.feedbackSource,
    measurementPeriod: p.period,
  });
  return { outcome: 'ok', sandbox: !!buy.sandbox };
}

export interface DeliveryCollectionView {
  id: string;
  status: string;
  start_time: string;
  end_time: string;
  /** Orders booked at an ad server, with the adapter config to reach it. */
  orders: { adapter_config_id: string; adapter_type: string; settings: Record<string, unknown>; external_order_id: string; line_item_ids: Record<string, string> | null }[];
  /** last_day: the latest day an adapter has reported for the package. */
  packages: { id: string; adapter_config_id: string | null; last_day: string | null }[];
}

/** What collect_delivery needs for one buy. Tenant-scoped; the worker acts for the seller. */
export async function loadDeliveryCollection(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<DeliveryCollectionView | undefined> {
  const rows = await db.execute<{ v: DeliveryCollectionView }>(sql`
    select json_build_object(
      'id', b.id, 'status', b.status, 'start_time', b.start_time, 'end_time', b.end_time,
      'orders', coalesce((select json_agg(json_build_object(
          'adapter_config_id', o.adapter_config_id, 'adapter_type', a.adapter_type, 'settings', a.settings,
          'external_order_id', o.external_order_id, 'line_item_ids', o.external_line_item_ids))
        from adapter_orders o join adapter_configs a on a.id = o.adapter_config_id and a.tenant_id = b.tenant_id
        where o.media_buy_id = b.id and o.state = 'booked' and o.external_order_id is not null), '[]'),
      'packages', coalesce((select json_agg(json_build_object('id', k.id, 'adapter_config_id', k.adapter_config_id,
          'last_day', (select max(r.day) from delivery_reports r where r.package_id = k.id and r.source = 'adapter')))
        from media_packages k where k.media_buy_id = b.id), '[]')
    ) as v
    from media_buys b
    where b.tenant_id = ${p.tenantId} and b.id = ${p.mediaBuyId}`);
  return rows[0]?.v;
}

export interface AdapterDeliveryDay {
  package_id: string;
  day: string;
  impressions: number;
  clicks: number;
  video_completions: number;
  spend: string;
}

/**
 * Upsert the ad servers' report: the latest report for a package-day replaces the
 * previous one (ad servers restate recent days). Simulated rows are sandbox test
 * data and stay as they are. Returns how many rows were inserted or changed.
 */
export async function upsertAdapterDelivery(db: Queryable, p: { tenantId: string; mediaBuyId: string; days: AdapterDeliveryDay[] }): Promise<number> {
  if (p.days.length === 0) return 0;
  const rows = await db.execute(sql`
    insert into delivery_reports as r (tenant_id, media_buy_id, package_id, day, impressions, clicks, video_completions, spend, source)
    select ${p.tenantId}, ${p.mediaBuyId}, x.package_id, x.day::date, x.impressions, x.clicks, x.video_completions, x.spend::numeric, 'adapter'
    from jsonb_to_recordset(${JSON.stringify(p.days)}::jsonb)
      as x(package_id text, day text, impressions bigint, clicks bigint, video_completions bigint, spend text)
    where exists (select 1 from media_packages k where k.id = x.package_id and k.media_buy_id = ${p.mediaBuyId} and k.tenant_id = ${p.tenantId})
    on conflict (package_id, day) do update set
      impressions = excluded.impressions, clicks = excluded.clicks, video_completions = excluded.video_completions,
      spend = excluded.spend, updated_at = now()
    where r.source = 'adapter'
      and (r.impressions, r.clicks, r.video_completions, r.spend) is distinct from
          (excluded.impressions, excluded.clicks, excluded.video_completions, excluded.spend)
    returning 1`);
  return rows.length;
}

/**
 * Enqueue a collection job for every buy in flight during the last day that is
 * booked at an ad server, in one statement. Completed and canceled buys are
 * included until a day after their delivery stopped (the flight's end, or the
 * cancellation), so the final hours are collected too. The job key per buy
 * coalesces a collection that is still waiting with the new one.
 */
export async function enqueueDueDeliveryCollections(db: Queryable, p: { now: Date; task: string; maxAttempts: number; priority: number }): Promise<number> {
  const now = p.now.toISOString();
  const rows = await db.execute<{ n: number }>(sql`
    select count(*)::int as n from graphile_worker.add_jobs(array(
      select row(${p.task}::text, json_build_object('v', 1, 'tenant_id', b.tenant_id, 'media_buy_id', b.id), null::text, null::timestamptz,
                 ${p.maxAttempts}::int, ${p.task}::text || ':' || b.id, ${p.priority}::int, null::text[])::graphile_worker.job_spec
      from media_buys b
      where b.status in ('pending_start', 'active', 'paused', 'completed', 'canceled')
        and b.start_time <= ${now}::timestamptz and least(b.end_time, b.canceled_at) > ${now}::timestamptz - interval '1 day'
        and exists (select 1 from adapter_orders o where o.media_buy_id = b.id and o.state = 'booked')
    ))`);
  return Number(rows[0]?.n ?? 0);
}
