/** Media buys and packages. Every read is scoped by tenant and principal, except the worker's loadForFulfilment (tenant only). */
import { and, desc, eq, getTableColumns, getTableName, inArray, isNotNull, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn, PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { AccountCore } from '../../domain/account-view.js';
import type { Queryable } from '../client.js';
import { accounts, adapterOrders, creativeAssignments, creatives, mediaBuyHistory, mediaBuys, mediaPackages, workflowSteps } from '../schema/index.js';

export type MediaBuyRow = typeof mediaBuys.$inferSelect;
export type NewMediaBuy = typeof mediaBuys.$inferInsert;
export type PackageRow = typeof mediaPackages.$inferSelect;
export type AdapterOrderRow = typeof adapterOrders.$inferSelect;
export type WorkflowStepRow = typeof workflowSteps.$inferSelect;

/** A creative assigned to one of a buy's packages, with the creative's review status (AdCP `creative_approvals`). */
export interface CreativeApprovalRow {
  packageId: string;
  creativeId: string;
  status: string;
  rejectionReason: string | null;
}


export interface MediaBuyDetail {
  buy: MediaBuyRow;
  /** The account the buy is billed to (src/domain/account-view.ts shows it); null for a buy made before buys had accounts. */
  account: AccountCore | null;
  packages: PackageRow[];
  creativeApprovals: CreativeApprovalRow[];
  adapterOrders: AdapterOrderRow[];
  steps: WorkflowStepRow[];
}

/** A buy's creation time at the cursors' precision, as media_buys_principal_recent_idx indexes it (UTC wall clock). */
const NEWEST_FIRST = sql`date_trunc('milliseconds', ${mediaBuys.createdAt} at time zone 'UTC')`;

/**
 * A child table's rows, as one JSON array per buy in the same statement as the buy (so the buy and
 * its packages, orders and steps come from one snapshot in one round trip), decoded back to the rows
 * Drizzle would return. Numbers that JSON would round (numeric, bigint) travel as text.
 */
function childRows<Row>(table: PgTable, mediaBuyId: AnyPgColumn, orderBy: AnyPgColumn[]): SQL<Row[]> {
  const columns = Object.entries(getTableColumns(table)) as [string, PgColumn][];
  const exact = columns.filter(([, c]) => /^(numeric|bigint|bigserial)/.test(c.getSQLType()));
  // Qualified by hand: Drizzle leaves a single-table select's columns unqualified, and here two tables meet.
  const col = (c: AnyPgColumn) => sql`${sql.identifier(getTableName(c.table))}.${sql.identifier(c.name)}`;
  const row = exact.length
    ? sql`to_jsonb(${table}) || jsonb_build_object(${sql.join(exact.map(([, c]) => sql`${c.name}::text, ${col(c)}::text`), sql`, `)})`
    : sql`to_jsonb(${table})`;
  const order = sql.join(orderBy.map(col), sql`, `);
  return sql`(select coalesce(json_agg(${row} order by ${order}), '[]'::json) from ${table} where ${col(mediaBuyId)} = ${col(mediaBuys.id)})`.mapWith(
    (json: Record<string, unknown>[]) => json.map((o) => Object.fromEntries(columns.map(([key, c]) => [key, o[c.name] == null ? null : c.mapFromDriverValue(o[c.name])])) as Row),
  );
}

/** The creatives assigned to the buy's packages, each with its review status, in assignment order. */
const creativeApprovalRows = sql<CreativeApprovalRow[]>`(
  select coalesce(json_agg(json_build_object(
    'packageId', a.package_id, 'creativeId', a.creative_id, 'status', c.status, 'rejectionReason', c.details->>'rejection_reason'
  ) order by a.created_at, a.creative_id), '[]'::json)
  from ${creativeAssignments} a
  join ${mediaPackages} p on p.id = a.package_id
  join ${creatives} c on c.tenant_id = a.tenant_id and c.principal_id = a.principal_id and c.id = a.creative_id
  where p.media_buy_id = ${sql.identifier(getTableName(mediaBuys))}.id
)`;

const buyAccount = sql<AccountCore | null>`(select json_build_object('id', a.id, 'name', a.name, 'brand', a.brand, 'operator', a.operator, 'status', a.status, 'sandbox', a.sandbox)
  from ${accounts} a where a.id = ${sql.identifier(getTableName(mediaBuys))}.${sql.identifier(mediaBuys.accountId.name)})`;

const withChildren = {
  buy: getTableColumns(mediaBuys),
  account: buyAccount,
  packages: childRows<PackageRow>(mediaPackages, mediaPackages.mediaBuyId, [mediaPackages.position, mediaPackages.createdAt, mediaPackages.id]),
  creativeApprovals: creativeApprovalRows,
  adapterOrders: childRows<AdapterOrderRow>(adapterOrders, adapterOrders.mediaBuyId, [adapterOrders.createdAt, adapterOrders.id]),
  steps: childRows<WorkflowStepRow>(workflowSteps, workflowSteps.mediaBuyId, [workflowSteps.createdAt, workflowSteps.id]),
};

/** A buy with its packages, adapter orders and steps: one statement, so one snapshot. */
export async function getMediaBuy(db: Queryable, p: { tenantId: string; principalId: string; id: string }): Promise<MediaBuyDetail | undefined> {
  const [row] = await db
    .select(withChildren)
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.id)))
    .limit(1);
  return row;
}

/** A buy as listings show it: the row (its stored request cut down to the request's `context`), its account and its packages. */
export type MediaBuyListing = Pick<MediaBuyDetail, 'buy' | 'account' | 'packages' | 'creativeApprovals'>;

/** The buy's columns for a listing: the stored request only as far as the wire shows it (its context), no webhook configs. */
const { rawRequest: _raw, pushNotificationConfig: _push, reportingWebhook: _reporting, ...listedColumns } = getTableColumns(mediaBuys);
const listed = {
  buy: {
    ...listedColumns,
    rawRequest: sql<Record<string, unknown>>`jsonb_strip_nulls(jsonb_build_object('context', ${mediaBuys.rawRequest}->'context'))`,
    pushNotificationConfig: sql<null>`null`,
    reportingWebhook: sql<null>`null`,
  },
  account: buyAccount,
  packages: withChildren.packages,
  creativeApprovals: creativeApprovalRows,
};

/** A page of the caller's buys, newest first, each with its packages: one statement, so one snapshot. */
export function listMediaBuys(
  db: Queryable,
  p: { tenantId: string; principalId: string; ids?: string[]; buyerRefs?: string[]; statuses?: string[]; accountId?: string; limit: number; before?: { createdAt: Date; id: string } },
): Promise<MediaBuyListing[]> {
  return db
    .select(listed)
    .from(mediaBuys)
    .where(
      and(
        eq(mediaBuys.tenantId, p.tenantId),
        eq(mediaBuys.principalId, p.principalId),
        p.ids?.length ? inArray(mediaBuys.id, p.ids) : undefined,
        p.buyerRefs?.length ? inArray(mediaBuys.buyerRef, p.buyerRefs) : undefined,
        p.statuses?.length ? inArray(mediaBuys.status, p.statuses) : undefined,
        p.accountId ? eq(mediaBuys.accountId, p.accountId) : undefined,
        p.before
          ? sql`(${NEWEST_FIRST}, ${mediaBuys.id}) < (${p.before.createdAt.toISOString()}::timestamp, ${p.before.id})`
          : undefined,
      ),
    )
    // Cursors carry milliseconds (JS dates); order at that precision too so no row falls between pages.
    .orderBy(desc(NEWEST_FIRST), desc(mediaBuys.id))
    .limit(p.limit);
}

export type MediaBuyHistoryRow = typeof mediaBuyHistory.$inferSelect;

/** The last `limit` history rows of each of the given buys (the caller's, listed under its scope), newest first, by buy id. */
export async function listMediaBuyHistory(db: Queryable, p: { tenantId: string; mediaBuyIds: string[]; limit: number }): Promise<Map<string, MediaBuyHistoryRow[]>> {
  const out = new Map<string, MediaBuyHistoryRow[]>();
  if (p.mediaBuyIds.length === 0 || p.limit <= 0) return out;
  const ranked = db
    .select({ ...getTableColumns(mediaBuyHistory), n: sql<number>`row_number() over (partition by ${mediaBuyHistory.mediaBuyId} order by ${mediaBuyHistory.revision} desc)`.as('n') })
    .from(mediaBuyHistory)
    .where(and(eq(mediaBuyHistory.tenantId, p.tenantId), inArray(mediaBuyHistory.mediaBuyId, p.mediaBuyIds)))
    .as('ranked');
  const rows = await db.select().from(ranked).where(sql`${ranked.n} <= ${p.limit}`).orderBy(ranked.mediaBuyId, desc(ranked.revision));
  for (const { n: _n, ...row } of rows) out.set(row.mediaBuyId, [...(out.get(row.mediaBuyId) ?? []), row]);
  return out;
}

/**
 * A buy booked: confirmed by the seller, and its create task done (every part booked at its ad server). A buy not yet
 * live goes live only once booked: until then it runs nowhere, and its booking, still under way, settles its create
 * task (and may yet reject the buy, which AdCP allows from pending_start but not from active). For where clauses and
 * update expressions (a select list would leave its columns unqualified).
 */
export const BOOKED: SQL = and(
  isNotNull(mediaBuys.confirmedAt),
  sql`exists (select 1 from ${workflowSteps} s where s.media_buy_id = ${mediaBuys.id} and s.step_type = 'create_media_buy' and s.status = 'completed')`,
)!;

/** Whether the buy is booked (BOOKED). */
export async function isBooked(db: Queryable, p: { tenantId: string; id: string }): Promise<boolean> {
  const rows = await db.select({ id: mediaBuys.id }).from(mediaBuys).where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id), BOOKED));
  return rows.length > 0;
}

/** A buy's status and revision as last committed. */
export async function mediaBuyState(db: Queryable, p: { tenantId: string; id: string }): Promise<{ status: string; revision: number } | undefined> {
  const [row] = await db
    .select({ status: mediaBuys.status, revision: mediaBuys.revision })
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id)));
  return row;
}

export async function lockMediaBuy(db: Queryable, p: { tenantId: string; id: string }): Promise<MediaBuyRow | undefined> {
  const [row] = await db
    .select()
    .from(mediaBuys)
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id)))
    .for('update');
  return row;
}

export async function updateMediaBuy(db: Queryable, p: { tenantId: string; id: string }, set: Partial<NewMediaBuy>): Promise<void> {
  await db
    .update(mediaBuys)
    .set({ ...set, updatedAt: sql`now()` })
    .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.id)));
}

