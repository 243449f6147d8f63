/**
 * The seller console's reads: the approval queue, the tenant's media buys with
 * everything that happened to them, buyers, the webhook log. Scoped by tenant
 * only (the seller sees every buyer of its own tenant, and nothing of another).
 */
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { inSnapshot, textArray, type Queryable } from '../client.js';
import {
  adapterConfigs,
  adapterOrders,
  creatives,
  mediaBuys,
  mediaPackages,
  principals,
  products,
  workflowSteps,
  type TenantSettings,
} from '../schema/index.js';
import { tenants } from '../schema/index.js';
import type { CreativeRow } from './creatives.js';
import type { AdapterOrderRow, MediaBuyRow, PackageRow, WorkflowStepRow } from './media-buys.js';
import { WEBHOOK_JOB_KEY_PREFIX } from './webhooks.js';

export interface PendingApproval {
  step: WorkflowStepRow;
  buy: MediaBuyRow;
  buyerName: string;
  packages: (PackageRow & { productName: string | null })[];
}

/** Media buys whose workflow step waits for the seller, oldest first. */
export async function approvalQueue(db: Queryable, p: { tenantId: string; limit?: number }): Promise<PendingApproval[]> {
  const rows = await db
    .select({ step: workflowSteps, buy: mediaBuys, buyerName: principals.name })
    .from(workflowSteps)
    .innerJoin(mediaBuys, eq(mediaBuys.id, workflowSteps.mediaBuyId))
    .innerJoin(principals, eq(principals.id, mediaBuys.principalId))
    .where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.status, 'requires_approval'), eq(mediaBuys.tenantId, p.tenantId)))
    .orderBy(asc(workflowSteps.createdAt), asc(workflowSteps.id))
    .limit(p.limit ?? 200);
  const pkgs = await packagesOf(db, p.tenantId, rows.map((r) => r.buy.id));
  return rows.map((r) => ({ ...r, packages: pkgs.filter((k) => k.mediaBuyId === r.buy.id) }));
}

async function packagesOf(db: Queryable, tenantId: string, buyIds: string[]): Promise<(PackageRow & { productName: string | null })[]> {
  if (buyIds.length === 0) return [];
  const rows = await db
    .select({ pkg: mediaPackages, productName: products.name })
    .from(mediaPackages)
    .leftJoin(products, and(eq(products.tenantId, mediaPackages.tenantId), eq(products.id, mediaPackages.productId)))
    .where(and(eq(mediaPackages.tenantId, tenantId), inArray(mediaPackages.mediaBuyId, buyIds)))
    .orderBy(asc(mediaPackages.position), asc(mediaPackages.id));
  return rows.map((r) => ({ ...r.pkg, productName: r.productName }));
}

/** Creatives held for the seller's review (tenant setting creative_review: manual). */
export async function creativesAwaitingReview(db: Queryable, p: { tenantId: string; limit?: number }): Promise<(CreativeRow & { buyerName: string })[]> {
  const rows = await db
    .select({ creative: creatives, buyerName: principals.name })
    .from(creatives)
    .innerJoin(principals, eq(principals.id, creatives.principalId))
    .where(and(eq(creatives.tenantId, p.tenantId), eq(creatives.status, 'pending_review')))
    .orderBy(asc(creatives.updatedAt), asc(creatives.id))
    .limit(p.limit ?? 200);
  return rows.map((r) => ({ ...r.creative, buyerName: r.buyerName }));
}

export interface MediaBuyListRow {
  buy: MediaBuyRow;
  buyerName: string;
}

export async function listTenantMediaBuys(
  db: Queryable,
  p: { tenantId: string; status?: string; principalId?: string; limit: number; offset: number },
): Promise<{ rows: MediaBuyListRow[]; total: number }> {
  const rows = await db
    .select({ buy: mediaBuys, buyerName: principals.name, total: sql<number>`(count(*) over ())::int` })
    .from(mediaBuys)
    .innerJoin(principals, eq(principals.id, mediaBuys.principalId))
    .where(
      and(
        eq(mediaBuys.tenantId, p.tenantId),
        p.status ? eq(mediaBuys.status, p.status) : undefined,
        p.principalId ? eq(mediaBuys.principalId, p.principalId) : undefined,
      ),
    )
    .orderBy(desc(mediaBuys.createdAt), desc(mediaBuys.id))
    .limit(p.limit)
    .offset(p.offset);
  return { rows: rows.map((r) => ({ buy: r.buy, buyerName: r.buyerName })), total: rows[0]?.total ?? 0 };
}

export type JobRow = {
  id: string;
  task_identifier: string;
  key: string | null;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  run_at: string;
  locked_at: string | null;
  created_at: string;
};

export type WebhookDeliveryView = {
  id: string;
  task_id: string;
  media_buy_id: string | null;
  principal_id: string;
  url: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  sequence: number;
  event_status: string | null;
  created_at: string;
  delivered_at: string | null;
  attempt_log: { attempt: number; status_code: number | null; error: string | null; duration_ms: number; at: string }[];
};

export type DeliveryTotals = {
  package_id: string;
  impressions: number;
  clicks: number;
  spend: string;
  days: number;
  last_day: string | null;
};

export interface MediaBuyConsoleDetail {
  buy: MediaBuyRow;
  buyerName: string;
  packages: (PackageRow & { productName: string | null })[];
  adapterOrders: (AdapterOrderRow & { adapterName: string | null })[];
  steps: WorkflowStepRow[];
  /** Jobs still queued or retrying in Graphile Worker (finished ones are deleted by it). */
  jobs: JobRow[];
  webhooks: WebhookDeliveryView[];
  delivery: DeliveryTotals[];
}

const WEBHOOK_VIEW = sql`
  d.id, d.task_id, d.media_buy_id, d.principal_id,
  -- The buyer's URL without query, fragment or user info: those may carry credentials.
  regexp_replace(regexp_replace(d.url, '[?#].*$', ''), '^([a-z]+://)[^/@]*@', '\\1') as url, d.status, d.attempts, d.last_status_code, d.last_error, d.sequence,
  d.payload->>'status' as event_status, d.created_at, d.delivered_at,
  coalesce((select json_agg(json_build_object('attempt', a.attempt, 'status_code', a.status_code, 'error', a.error,
                                              'duration_ms', a.duration_ms, 'at', a.at) order by a.id)
            from webhook_attempts a where a.delivery_id = d.id), '[]') as attempt_log`;

/** One snapshot (the page must not show a booked order beside the step that booking completed, still pending). */
export function mediaBuyConsoleDetail(db: Queryable, p: { tenantId: string; id: string }): Promise<MediaBuyConsoleDetail | undefined> {
  return inSnapshot(db, (q) => consoleDetail(q, p));
}

async function consoleDetail(db: Queryable, p: { tenantId: string; id: string }): Promise<MediaBuyConsoleDetail | undefined> {
  const [head] = await db
    .select({ buy: mediaBuys, buyerName: principals.name })
    .from(mediaBuys)
    .innerJoin(principals, eq(principals.id, mediaBuys.principalId))
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id)));
  if (!head) return undefined;
  const id = head.buy.id;
  const [packages, orders, steps, jobs, webhooks, delivery] = await Promise.all([
    packagesOf(db, p.tenantId, [id]),
    db
      .select({ order: adapterOrders, adapterName: adapterConfigs.name })
      .from(adapterOrders)
      .leftJoin(adapterConfigs, eq(adapterConfigs.id, adapterOrders.adapterConfigId))
      .where(and(eq(adapterOrders.tenantId, p.tenantId), eq(adapterOrders.mediaBuyId, id)))
      .orderBy(asc(adapterOrders.createdAt)),
    db
      .select()
      .from(workflowSteps)
      .where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.mediaBuyId, id)))
      .orderBy(asc(workflowSteps.createdAt)),
    db.execute<JobRow>(sql`
      select id::text, task_identifier, key, attempts, max_attempts, last_error, run_at, locked_at, created_at
      from graphile_worker.jobs
      where key = ${`fulfil:${id}`}
         or starts_with(key, ${`fulfil:${id}:`}) or starts_with(key, ${`cancel:${id}:`}) or starts_with(key, ${`creatives:${id}:`})
         or key in (${`slack:approval_required:${id}`}, ${`slack:fulfilment_failed:${id}`})
         or key in (select ${WEBHOOK_JOB_KEY_PREFIX} || w.id from webhook_deliveries w where w.tenant_id = ${p.tenantId} and w.media_buy_id = ${id})
         or exists (select 1 from workflow_steps s where s.tenant_id = ${p.tenantId} and s.media_buy_id = ${id} and starts_with(key, 'update:' || s.id || ':'))
      order by id`),
    db.execute<WebhookDeliveryView>(sql`select ${WEBHOOK_VIEW} from webhook_deliveries d
      where d.tenant_id = ${p.tenantId} and d.media_buy_id = ${id} order by d.created_at, d.id`),
    db.execute<DeliveryTotals>(sql`
      select package_id, sum(impressions)::float8 as impressions, sum(clicks)::float8 as clicks, sum(spend)::text as spend,
             count(*)::int as days, max(day)::text as last_day
      from delivery_reports where tenant_id = ${p.tenantId} and media_buy_id = ${id} group by package_id order by package_id`),
  ]);
  return {
    ...head,
    packages,
    adapterOrders: orders.map((o) => ({ ...o.order, adapterName: o.adapterName })),
    steps,
    jobs: [...jobs],
    webhooks: [...webhooks],
    delivery: [...delivery],
  };
}

export async function listWebhookDeliveries(db: Queryable, p: { tenantId: string; status?: string; limit: number; offset: number }): Promise<WebhookDeliveryView[]> {
  const rows = await db.execute<WebhookDeliveryView>(sql`select ${WEBHOOK_VIEW} from webhook_deliveries d
    where d.tenant_id = ${p.tenantId} ${p.status ? sql`and d.status = ${p.status}` : sql``}
    order by d.created_at desc, d.id desc limit ${p.limit} offset ${p.offset}`);
  return [...rows];
}

export interface BuyerRow {
  id: string;
  name: string;
  tokenHint: string;
  platformMappings: Record<string, unknown>;
  createdAt: Date;
  suspendedAt: Date | null;
  mediaBuys: number;
}

export async function listBuyers(db: Queryable, tenantId: string): Promise<BuyerRow[]> {
  return db
    .select({
      id: principals.id,
      name: principals.name,
      tokenHint: principals.tokenHint,
      platformMappings: principals.platformMappings,
      createdAt: principals.createdAt,
      suspendedAt: principals.suspendedAt,
      mediaBuys: sql<number>`(select count(*)::int from ${mediaBuys} m where m.tenant_id = ${principals.tenantId} and m.principal_id = ${principals.id})`,
    })
    .from(principals)
    .where(eq(principals.tenantId, tenantId))
    .orderBy(asc(principals.name), asc(principals.id));
}

export async function insertBuyer(db: Queryable, row: { id: string; tenantId: string; name: string; tokenHash: string; tokenHint: string; platformMappings: Record<string, unknown> }): Promise<void> {
  await db.insert(principals).values(row);
}

export async function setBuyerToken(db: Queryable, p: { tenantId: string; id: string; tokenHash: string; tokenHint: string }): Promise<boolean> {
  const rows = await db
    .update(principals)
    .set({ tokenHash: p.tokenHash, tokenHint: p.tokenHint })
    .where(and(eq(principals.tenantId, p.tenantId), eq(principals.id, p.id)))
    .returning({ id: principals.id });
  return rows.length > 0;
}

/** Suspend a buyer (or reinstate one). False: no such buyer. A buyer already so is left as it is (its date kept). */
export async function setBuyerSuspended(db: Queryable, p: { tenantId: string; id: string; suspended: boolean }): Promise<boolean> {
  const rows = await db
    .update(principals)
    .set({ suspendedAt: p.suspended ? sql`coalesce(${principals.suspendedAt}, now())` : null })
    .where(and(eq(principals.tenantId, p.tenantId), eq(principals.id, p.id)))
    .returning({ id: principals.id });
  return rows.length > 0;
}

export async function getTenant(db: Queryable, tenantId: string): Promise<{ id: string; name: string; publisherDomain: string | null; settings: TenantSettings } | undefined> {
  const [row] = await db.select({ id: tenants.id, name: tenants.name, publisherDomain: tenants.publisherDomain, settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId));
  return row;
}

/** Merge keys into the tenant's settings (a null value removes the key). */
export async function patchTenantSettings(db: Queryable, p: { tenantId: string; patch: Record<string, unknown> }): Promise<void> {
  const set = Object.fromEntries(Object.entries(p.patch).filter(([, v]) => v !== null));
  const drop = Object.entries(p.patch).filter(([, v]) => v === null).map(([k]) => k);
  await db
    .update(tenants)
    .set({
      settings: drop.length
        ? sql`(${tenants.settings} - ${textArray(drop)}) || ${JSON.stringify(set)}::jsonb`
        : sql`${tenants.settings} || ${JSON.stringify(set)}::jsonb`,
      updatedAt: sql`now()`,
    })
    .where(eq(tenants.id, p.tenantId));
}
