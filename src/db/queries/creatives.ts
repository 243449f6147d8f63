/** Creatives and their assignments, scoped by tenant and principal. */
import { and, asc, desc, eq, gt, ilike, inArray, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm';
import { ATTACHABLE_CREATIVE_STATUSES, type CreativeDetails, type CreativeWrite, type HeldAssignment, type LibraryCreative, type OwnPackage } from '../../domain/creatives.js';
import { CLOSED_BUY_STATUSES } from '../../domain/status.js';
import { advisoryXactLock, textArray, type Queryable } from '../client.js';
import { BOOKED } from './media-buys.js';
import { afterKeyset, textSort, timeSort, type KeysetSort } from './keyset.js';
import { creativeAssignments, creatives, mediaBuys, mediaPackages, products } from '../schema/index.js';

export type CreativeRow = typeof creatives.$inferSelect;

interface Scope {
  tenantId: string;
  principalId: string;
}

const mine = (p: Scope) => and(eq(creatives.tenantId, p.tenantId), eq(creatives.principalId, p.principalId));

/** The format, status and rejection reason of each of the caller's creatives among these ids; ids not in the library are absent. */
export async function libraryCreatives(db: Queryable, p: Scope & { ids: string[] }): Promise<Map<string, LibraryCreative>> {
  if (p.ids.length === 0) return new Map();
  const rows = await db.select({ id: creatives.id, formatId: creatives.formatId, status: creatives.status, details: creatives.details }).from(creatives).where(and(mine(p), inArray(creatives.id, p.ids)));
  return new Map(rows.map((r) => [r.id, { formatId: r.formatId.id, status: r.status, rejectionReason: (r.details as CreativeDetails).rejection_reason }]));
}

/**
 * An assignment row whose creative has been uploaded and can serve (assignments may name creatives still to come;
 * a rejected or archived one serves nothing): only these count as a buy's creatives.
 */
const ATTACHED = sql`exists (select 1 from ${creatives} c where c.tenant_id = ${creativeAssignments.tenantId} and c.principal_id = ${creativeAssignments.principalId} and c.id = ${creativeAssignments.creativeId} and c.status = any(${textArray([...ATTACHABLE_CREATIVE_STATUSES])}))`;

/** Whether any package of the buy has an uploaded creative that can serve assigned: only those let it leave pending_creatives. */
export async function mediaBuyHasCreatives(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<boolean> {
  const rows = await db
    .select({ id: creativeAssignments.creativeId })
    .from(creativeAssignments)
    .innerJoin(mediaPackages, eq(mediaPackages.id, creativeAssignments.packageId))
    .where(and(eq(mediaPackages.tenantId, p.tenantId), eq(mediaPackages.mediaBuyId, p.mediaBuyId), ATTACHED))
    .limit(1);
  return rows.length > 0;
}

/** Whether any of these packages has an uploaded creative that can serve assigned. */
export async function packagesHaveCreatives(db: Queryable, packageIds: string[]): Promise<boolean> {
  if (packageIds.length === 0) return false;
  const rows = await db.select({ id: creativeAssignments.packageId }).from(creativeAssignments).where(and(inArray(creativeAssignments.packageId, packageIds), ATTACHED)).limit(1);
  return rows.length > 0;
}

/**
 * Serialize sync_creatives runs of one buyer (until the transaction ends): a run writes the creatives it lists in
 * the order listed, then their assignments and buys, so two at once, listing the same creatives in another order,
 * deadlocked and one of them failed.
 */
export async function lockCreativeSync(db: Queryable, p: Scope): Promise<void> {
  await advisoryXactLock(db, `sync_creatives/${p.tenantId}/${p.principalId}`);
}

/** The caller's creatives with these ids, locked until the transaction ends. */
export async function lockCreatives(db: Queryable, p: Scope & { ids: string[] }): Promise<CreativeRow[]> {
  if (p.ids.length === 0) return [];
  return db.select().from(creatives).where(and(mine(p), inArray(creatives.id, p.ids))).for('update');
}

export async function upsertCreatives(db: Queryable, p: Scope & { rows: CreativeWrite[] }): Promise<void> {
  if (p.rows.length === 0) return;
  await db
    .insert(creatives)
    .values(p.rows.map((r) => ({ tenantId: p.tenantId, principalId: p.principalId, ...r })))
    .onConflictDoUpdate({
      target: [creatives.tenantId, creatives.principalId, creatives.id],
      // A seeded creative synced is the buyer's own from then on: no longer a fixture the controller may re-seed.
      set: { name: sql`excluded.name`, formatId: sql`excluded.format_id`, assets: sql`excluded.assets`, status: sql`excluded.status`, details: sql`excluded.details`, testFixture: false, updatedAt: sql`now()` },
    });
}

/** delete_missing: archive the account's live creatives not in `keep`, remembering their status (another account's library is not this sync's to prune). */
export async function archiveCreativesExcept(db: Queryable, p: Scope & { accountId: string; keep: string[] }): Promise<string[]> {
  const rows = await db
    .update(creatives)
    .set({ status: 'archived', details: sql`${creatives.details} || jsonb_build_object('archived_from', ${creatives.status})`, updatedAt: sql`now()` })
    .where(and(mine(p), ne(creatives.status, 'archived'), sql`${creatives.details}->>'account_id' = ${p.accountId}`, p.keep.length ? notInArray(creatives.id, p.keep) : undefined))
    .returning({ id: creatives.id });
  return rows.map((r) => r.id).sort();
}

/** Packages of the caller's media buys, with the buy's status and the formats the product takes; the buys are locked. */
export async function lockOwnPackages(db: Queryable, p: Scope & { ids: string[] }): Promise<OwnPackage[]> {
  if (p.ids.length === 0) return [];
  const rows = await db
    .select({ id: mediaPackages.id, mediaBuyId: mediaPackages.mediaBuyId, accountId: mediaBuys.accountId, buyStatus: mediaBuys.status, status: mediaPackages.status, productId: mediaPackages.productId, formatIds: products.formatIds })
    .from(mediaPackages)
    .innerJoin(mediaBuys, eq(mediaBuys.id, mediaPackages.mediaBuyId))
    .leftJoin(products, and(eq(products.tenantId, mediaPackages.tenantId), eq(products.id, mediaPackages.productId)))
    .where(and(eq(mediaPackages.tenantId, p.tenantId), eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), inArray(mediaPackages.id, p.ids)))
    .for('update', { of: mediaBuys });
  return rows.map((r) => ({ ...r, formatIds: r.formatIds ?? [] }));
}

/** Where clause for the caller's assignments of these creatives that are live: package not canceled, buy not over (the query joins the package and its buy). */
const liveAssignmentsOf = (p: Scope & { creativeIds: string[] }) =>
  and(
    eq(creativeAssignments.tenantId, p.tenantId),
    eq(creativeAssignments.principalId, p.principalId),
    inArray(creativeAssignments.creativeId, p.creativeIds),
    ne(mediaPackages.status, 'canceled'),
    notInArray(mediaBuys.status, CLOSED_BUY_STATUSES),
  );

/** The live assignments of these creatives (package not canceled, buy not over), with the formats each package's product takes. */
export async function heldAssignments(db: Queryable, p: Scope & { creativeIds: string[] }): Promise<HeldAssignment[]> {
  if (p.creativeIds.length === 0) return [];
  const rows = await db
    .select({ creativeId: creativeAssignments.creativeId, packageId: creativeAssignments.packageId, mediaBuyId: mediaPackages.mediaBuyId, productId: mediaPackages.productId, formatIds: products.formatIds })
    .from(creativeAssignments)
    .innerJoin(mediaPackages, eq(mediaPackages.id, creativeAssignments.packageId))
    .innerJoin(mediaBuys, eq(mediaBuys.id, mediaPackages.mediaBuyId))
    .leftJoin(products, and(eq(products.tenantId, mediaPackages.tenantId), eq(products.id, mediaPackages.productId)))
    .where(liveAssignmentsOf(p))
    .orderBy(asc(creativeAssignments.packageId), asc(creativeAssignments.creativeId));
  return rows.map((r) => ({ ...r, formatIds: r.formatIds ?? [] }));
}

export async function removeAssignments(db: Queryable, p: Scope & { rows: { creativeId: string; packageId: string }[] }): Promise<void> {
  if (p.rows.length === 0) return;
  await db
    .delete(creativeAssignments)
    .where(
      and(
        eq(creativeAssignments.tenantId, p.tenantId),
        eq(creativeAssignments.principalId, p.principalId),
        or(...p.rows.map((r) => and(eq(creativeAssignments.packageId, r.packageId), eq(creativeAssignments.creativeId, r.creativeId)))),
      ),
    );
}

export async function upsertAssignments(db: Queryable, p: Scope & { rows: { creativeId: string; packageId: string; weight: number | null }[] }): Promise<void> {
  if (p.rows.length === 0) return;
  await db
    .insert(creativeAssignments)
    .values(p.rows.map((r) => ({ tenantId: p.tenantId, principalId: p.principalId, ...r })))
    .onConflictDoUpdate({ target: [creativeAssignments.packageId, creativeAssignments.creativeId], set: { weight: sql`excluded.weight` } });
}

/**
 * Buys waiting for creatives move on once they have some that can serve (assigned in this transaction or before):
 * to active (paused, if created paused) when booked and the flight has started, else pending_start, which
 * advance_flights takes on once the booking is done. Returns the buys that moved.
 */
export async function startBuysAwaitingCreatives(db: Queryable, p: Scope & { ids: string[]; now: Date }): Promise<{ id: string; status: string; revision: number }[]> {
  if (p.ids.length === 0) return [];
  return db
    .update(mediaBuys)
    .set({
      // Live once booked and the flight has started: active, or paused for a buy created paused (AdCP 3.1).
      status: sql`case when ${mediaBuys.startTime} > ${p.now.toISOString()}::timestamptz or not (${BOOKED}) then 'pending_start' when ${mediaBuys.startPaused} then 'paused' else 'active' end`,
      revision: sql`${mediaBuys.revision} + 1`,
      updatedAt: sql`now()`,
    })
    .where(
      and(
        eq(mediaBuys.tenantId, p.tenantId),
        eq(mediaBuys.principalId, p.principalId),
        inArray(mediaBuys.id, p.ids),
        eq(mediaBuys.status, 'pending_creatives'),
        sql`exists (select 1 from ${creativeAssignments} join ${mediaPackages} on ${mediaPackages.id} = ${creativeAssignments.packageId} where ${mediaPackages.mediaBuyId} = ${mediaBuys.id} and ${ATTACHED})`,
      ),
    )
    .returning({ id: mediaBuys.id, status: mediaBuys.status, revision: mediaBuys.revision });
}

/** Assignment `a` with its package `mp` and media buy `mb`, for subqueries. */
const ASSIGNMENTS = sql`${creativeAssignments} a join ${mediaPackages} mp on mp.id = a.package_id join ${mediaBuys} mb on mb.id = mp.media_buy_id`;
/** `a` belongs to the outer query's creatives row (spelled out: Drizzle leaves columns unqualified in a select list). */
const OF_THIS_CREATIVE = sql`a.tenant_id = "creatives"."tenant_id" and a.principal_id = "creatives"."principal_id" and a.creative_id = "creatives"."id"`;
/** Assignments that still mean something: the package is not canceled and its buy is not over. */
const LIVE = sql`mp.status <> 'canceled' and mb.status <> all(${textArray(CLOSED_BUY_STATUSES)})`;

/** The live assignments of these creatives, oldest first. */
export async function assignmentsOf(db: Queryable, p: Scope & { creativeIds: string[] }): Promise<{ creativeId: string; packageId: string; createdAt: Date }[]> {
  if (p.creativeIds.length === 0) return [];
  return db
    .select({ creativeId: creativeAssignments.creativeId, packageId: creativeAssignments.packageId, createdAt: creativeAssignments.createdAt })
    .from(creativeAssignments)
    .innerJoin(mediaPackages, eq(mediaPackages.id, creativeAssignments.packageId))
    .innerJoin(mediaBuys, eq(mediaBuys.id, mediaPackages.mediaBuyId))
    .where(liveAssignmentsOf(p))
    .orderBy(asc(creativeAssignments.createdAt), asc(creativeAssignments.packageId));
}

export interface CreativeFilters {
  creativeIds?: string[];
  /** Without it, archived creatives are left out (AdCP default). */
  statuses?: string[];
  formatIds?: { agent_url: string; id: string }[];
  nameContains?: string;
  tags?: string[];
  tagsAny?: string[];
  createdAfter?: Date;
  createdBefore?: Date;
  updatedAfter?: Date;
  updatedBefore?: Date;
  assignedToPackages?: string[];
  mediaBuyIds?: string[];
  /** Counts live assignments only, as assignment_count does. */
  unassigned?: boolean;
  /** Creatives of these accounts only (an empty list matches none but seeded creatives, which are in no account). */
  accountIds?: string[];
  /** The concept the buyer synced a creative with (its concept_id); a creative synced without one is in none. */
  conceptIds?: string[];
  /** Whether the creative was synced with dynamic variables (a non-empty variables list); others are static. */
  hasVariables?: boolean;
}

export type CreativeSortField = 'created_date' | 'updated_date' | 'name' | 'status' | 'assignment_count';

function filterSql(p: Scope, f: CreativeFilters): SQL {
  const assigned = (extra: SQL) => sql`exists (select 1 from ${ASSIGNMENTS} where ${OF_THIS_CREATIVE} and ${extra})`;
  const tags = sql`coalesce(${creatives.details} -> 'fields' -> 'tags', '[]'::jsonb)`;
  const variables = sql`${creatives.details} -> 'fields' -> 'variables'`;
  const hasVariables = sql`coalesce(jsonb_typeof(${variables}) = 'array' and ${variables} <> '[]'::jsonb, false)`;
  return and(
    mine(p),
    f.creativeIds && inArray(creatives.id, f.creativeIds),
    f.statuses ? inArray(creatives.status, f.statuses) : ne(creatives.status, 'archived'),
    // The same format whether its agent URL is written with a trailing slash or not.
    f.formatIds &&
      sql`(${sql.join(
        f.formatIds.map((x) => sql`(${creatives.formatId}->>'id' = ${x.id} and rtrim(${creatives.formatId}->>'agent_url', '/') = rtrim(${x.agent_url}, '/'))`),
        sql` or `,
      )})`,
    f.nameContains !== undefined ? ilike(creatives.name, `%${f.nameContains.replace(/[\\%_]/g, (m) => `\\${m}`)}%`) : undefined,
    f.tags && sql`${tags} @> ${JSON.stringify(f.tags)}::jsonb`,
    f.tagsAny && sql`${tags} ?| ${textArray(f.tagsAny)}`,
    f.createdAfter && gt(creatives.createdAt, f.createdAfter),
    f.createdBefore && lt(creatives.createdAt, f.createdBefore),
    f.updatedAfter && gt(creatives.updatedAt, f.updatedAfter),
    f.updatedBefore && lt(creatives.updatedAt, f.updatedBefore),
    f.assignedToPackages && assigned(sql`a.package_id = any(${textArray(f.assignedToPackages)})`),
    f.mediaBuyIds && assigned(sql`mp.media_buy_id = any(${textArray(f.mediaBuyIds)})`),
    f.unassigned === true ? sql`not ${assigned(LIVE)}` : f.unassigned === false ? assigned(LIVE) : undefined,
    // A seeded creative (comply_test_controller) is in no account: it shows whichever account is named, as the
    // compliance storyboards list seeded creatives under an account of their own naming.
    f.accountIds && sql`(${creatives.details}->>'account_id' = any(${textArray(f.accountIds)}) or (${creatives.testFixture} and ${creatives.details}->>'account_id' is null))`,
    f.conceptIds && sql`${creatives.details} -> 'fields' ->> 'concept_id' = any(${textArray(f.conceptIds)})`,
    f.hasVariables === true ? hasVariables : f.hasVariables === false ? sql`not ${hasVariables}` : undefined,
  )!;
}

/** Live assignments of the outer query's creative, as assignment_count shows them. */
const assignmentCount = sql<number>`(select count(*)::int from ${ASSIGNMENTS} where ${OF_THIS_CREATIVE} and ${LIVE})`;

/** Per sort field: the expression sorted on, its value as a cursor carries it, that value back in SQL, and the check of a cursor's value. */
const SORTS: Record<CreativeSortField, KeysetSort> = {
  created_date: timeSort(creatives.createdAt),
  updated_date: timeSort(creatives.updatedAt),
  name: textSort(creatives.name),
  status: textSort(creatives.status),
  assignment_count: { key: assignmentCount, value: assignmentCount, from: (v) => sql`${v}::int`, valid: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2 ** 31 - 1 },
};

/** Whether a cursor's sort value could be one this sort issued. */
export const validSortValue = (field: CreativeSortField, value: unknown): boolean => SORTS[field].valid(value);

/**
 * One page of the caller's creatives matching the filters, after the item `after` names (a keyset: its sort value
 * and id), each with its sort value for the next cursor; and how many match in all.
 */
export async function listCreatives(
  db: Queryable,
  p: Scope & { filters: CreativeFilters; sort: { field: CreativeSortField; direction: 'asc' | 'desc' }; limit: number; after?: { value: string | number; id: string } },
): Promise<{ rows: (CreativeRow & { assignmentCount: number; sortValue: string | number })[]; total: number }> {
  const where = filterSql(p, p.filters);
  const sort = SORTS[p.sort.field];
  const dir = p.sort.direction === 'asc' ? asc : desc;
  const after = p.after && afterKeyset(sort, creatives.id, p.sort.direction, p.after);
  const [rows, [count]] = await Promise.all([
    db.select({ creative: creatives, assignmentCount, sortValue: sort.value }).from(creatives).where(and(where, after)).orderBy(dir(sort.key), dir(creatives.id)).limit(p.limit),
    db.select({ n: sql<number>`count(*)::int` }).from(creatives).where(where),
  ]);
  return { rows: rows.map((r) => ({ ...r.creative, assignmentCount: r.assignmentCount, sortValue: r.sortValue as string | number })), total: count?.n ?? 0 };
}
