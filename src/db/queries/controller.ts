/**
 * comply_test_controller's writes: seeded catalogue entries, forced statuses and
 * directives for a principal's next calls. Each function is one transaction
 * scoped to the caller's tenant and principal, and returns an outcome rather
 * than throwing, so the controller can answer in its own error vocabulary.
 * Seeded products, media buys and creatives are the seeding principal's only,
 * marked test_fixture: only those may be seeded again.
 */
import { isLegalCreativeTransition, isLegalMediaBuyTransition } from '@adcp/sdk/server';
import { queueCreativeStatusChanged } from '../../services/account-notifications.js';
import { and, eq, sql } from 'drizzle-orm';
import type { Db, Queryable } from '../client.js';
import { publishChange } from '../notify.js';
import { accounts, controllerDirectives, creativeFormats, creatives, mediaBuys, pricingOptions, products, workflowSteps } from '../schema/index.js';
import type { SeededCreative, SeededFormat, SeededMediaBuy, SeededPricingOption, SeededProduct } from '../../domain/comply-fixtures.js';
import { compareAmounts } from '../../domain/money.js';
import { CLOSED_BUY, toAdcpMediaBuyStatus } from '../../domain/status.js';
import { claimCreateKey, type IdempotencyClaim } from './create-media-buy.js';

export interface Scope {
  tenantId: string;
  principalId: string;
}

export type Transition = { outcome: 'not_found' } | { outcome: 'illegal'; previous: string } | { outcome: 'ok'; previous: string; current: string };
export type SeedOutcome = 'ok' | 'not_found' | 'forbidden' | 'limit';

type MediaBuyTarget = Parameters<typeof isLegalMediaBuyTransition>[1];
type CreativeTarget = Parameters<typeof isLegalCreativeTransition>[1];

/** The directive create_media_buy consumes to answer with a forced arm. */
export const CREATE_MEDIA_BUY_ARM = 'force_create_media_buy_arm';

const ownedBy = (row: { allowedPrincipalIds: string[] | null }, principalId: string) => row.allowedPrincipalIds?.length === 1 && row.allowedPrincipalIds[0] === principalId;

async function lockProduct(tx: Queryable, p: Scope & { productId: string }) {
  const [row] = await tx
    .select({ allowedPrincipalIds: products.allowedPrincipalIds })
    .from(products)
    .where(and(eq(products.tenantId, p.tenantId), eq(products.id, p.productId)))
    .for('update');
  return row;
}

async function upsertPricing(tx: Queryable, p: Scope & { productId: string }, options: SeededPricingOption[]) {
  for (const o of options) {
    const row = { tenantId: p.tenantId, productId: p.productId, ...o };
    await tx.insert(pricingOptions).values(row).onConflictDoUpdate({ target: [pricingOptions.tenantId, pricingOptions.productId, pricingOptions.id], set: row });
  }
}

/**
 * Create or replace a test product (with inline pricing options, and the formats
 * it names that the tenant lacks); refuses to touch catalogue products it did not seed.
 */
/**
 * Seed (or re-seed) a test product of the buyer's. `limit`: how many seeded products the buyer may hold
 * (a new one past it is refused); `formats` are added to the tenant's catalogue, so only a tenant under
 * compliance testing passes any.
 */
export async function seedProduct(db: Db, p: Scope & { product: SeededProduct; pricing: SeededPricingOption[]; formats: SeededFormat[]; limit?: number }): Promise<SeedOutcome> {
  return db.transaction(async (tx) => {
    const existing = await lockProduct(tx, { ...p, productId: p.product.id });
    if (existing && !ownedBy(existing, p.principalId)) return 'forbidden';
    if (!existing && p.limit !== undefined) {
      const [held] = await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(products)
        .where(and(eq(products.tenantId, p.tenantId), eq(products.testFixture, true), sql`${products.allowedPrincipalIds} = array[${p.principalId}]::text[]`));
      if ((held?.n ?? 0) >= p.limit) return 'limit';
    }
    const row = { tenantId: p.tenantId, ...p.product, targetingTemplate: {}, adapterConfigId: null, allowedPrincipalIds: [p.principalId], archived: false, testFixture: true };
    await tx.insert(products).values(row).onConflictDoUpdate({ target: [products.tenantId, products.id], set: { ...row, updatedAt: sql`now()` } });
    await upsertPricing(tx, { ...p, productId: p.product.id }, p.pricing);
    if (p.formats.length) await tx.insert(creativeFormats).values(p.formats.map((f) => ({ tenantId: p.tenantId, ...f }))).onConflictDoNothing();
    return 'ok';
  });
}

/**
 * Seed (or re-seed) a media buy of the buyer's, under the given fixture's id, in one of its sandbox accounts.
 * An id another buyer (or tenant) uses, or one of the buyer's own buys it did not seed, is 'forbidden'; `limit`
 * as for seedProduct. A re-seed changes the buy as any change does (a new revision, in its history); one that
 * changes nothing writes nothing. The buy has no packages, so nothing of it is booked at an ad server.
 */
export async function seedMediaBuy(db: Db, p: Scope & { buy: SeededMediaBuy; accountId: string; request: Record<string, unknown>; now: Date; limit?: number }): Promise<SeedOutcome> {
  return db.transaction(async (tx) => {
    const [existing] = await tx.select().from(mediaBuys).where(eq(mediaBuys.id, p.buy.id)).for('update');
    if (existing && (existing.tenantId !== p.tenantId || existing.principalId !== p.principalId || !existing.testFixture)) return 'forbidden';
    if (!existing && p.limit !== undefined) {
      const [held] = await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(mediaBuys)
        .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.testFixture, true)));
      if ((held?.n ?? 0) >= p.limit) return 'limit';
    }
    const b = p.buy;
    const row = {
      accountId: p.accountId,
      buyerRef: b.buyerRef,
      status: b.status,
      totalBudget: b.totalBudget,
      currency: b.currency,
      startTime: b.startTime,
      endTime: b.endTime,
      rawRequest: p.request,
      // Confirmed as a buy the seller accepted, unless the seller turned it down; closed ones say by whom.
      confirmedAt: b.status === 'rejected' ? null : (existing?.confirmedAt ?? p.now),
      rejectionReason: b.status === 'rejected' ? 'Rejected by the seller (comply_test_controller).' : null,
      canceledAt: b.status === 'canceled' ? (existing?.canceledAt ?? p.now) : null,
      canceledBy: b.status === 'canceled' ? 'seller' : null,
      cancellationReason: b.status === 'canceled' ? 'Canceled by the seller (comply_test_controller).' : null,
    };
    if (!existing) {
      await tx.insert(mediaBuys).values({ id: b.id, tenantId: p.tenantId, principalId: p.principalId, ...row, testFixture: true });
    } else {
      const same =
        existing.accountId === row.accountId && existing.buyerRef === row.buyerRef && existing.status === row.status && existing.currency === row.currency &&
        compareAmounts(existing.totalBudget, row.totalBudget) === 0 && existing.startTime.getTime() === row.startTime.getTime() && existing.endTime.getTime() === row.endTime.getTime();
      if (same) return 'ok';
      await tx
        .update(mediaBuys)
        .set({ ...row, revision: sql`${mediaBuys.revision} + 1`, updatedAt: sql`now()` })
        .where(eq(mediaBuys.id, b.id));
    }
    await publishChange(tx, { tenant_id: p.tenantId, principal_id: p.principalId, media_buy_id: b.id, task_id: null, status: b.status, summary: 'seeded by comply_test_controller' });
    return 'ok';
  });
}

/**
 * Seed (or re-seed) a creative in the buyer's library, in no account. Creative ids are the buyer's own (another
 * buyer's creative of the same id is another creative); one of its own it synced rather than seeded is 'forbidden'.
 */
export async function seedCreative(db: Db, p: Scope & { creative: SeededCreative; limit?: number }): Promise<SeedOutcome> {
  return db.transaction(async (tx) => {
    const mine = and(eq(creatives.tenantId, p.tenantId), eq(creatives.principalId, p.principalId));
    const [existing] = await tx.select({ testFixture: creatives.testFixture }).from(creatives).where(and(mine, eq(creatives.id, p.creative.id))).for('update');
    if (existing && !existing.testFixture) return 'forbidden';
    if (!existing && p.limit !== undefined) {
      const [held] = await tx.select({ n: sql<number>`count(*)::int` }).from(creatives).where(and(mine, eq(creatives.testFixture, true)));
      if ((held?.n ?? 0) >= p.limit) return 'limit';
    }
    const { id, ...fields } = p.creative;
    await tx
      .insert(creatives)
      .values({ tenantId: p.tenantId, principalId: p.principalId, id, ...fields, testFixture: true })
      .onConflictDoUpdate({ target: [creatives.tenantId, creatives.principalId, creatives.id], set: { ...fields, updatedAt: sql`now()` } });
    return 'ok';
  });
}

export async function seedPricingOption(db: Db, p: Scope & { productId: string; option: SeededPricingOption }): Promise<SeedOutcome> {
  return db.transaction(async (tx) => {
    const existing = await lockProduct(tx, p);
    if (!existing) return 'not_found';
    if (!ownedBy(existing, p.principalId)) return 'forbidden';
    await upsertPricing(tx, p, [p.option]);
    await tx.update(products).set({ updatedAt: sql`now()` }).where(and(eq(products.tenantId, p.tenantId), eq(products.id, p.productId)));
    return 'ok';
  });
}

/**
 * Move a media buy along the AdCP lifecycle. A buy awaiting the seller's approval
 * (AdCP pending_start) leaves it like an approval: its open approval step is closed,
 * and, forced into a status that runs, it is booked (`onApproved`, in the same transaction).
 */
export async function forceMediaBuyStatus(
  db: Db,
  p: Scope & { mediaBuyId: string; status: MediaBuyTarget; rejectionReason?: string; now: Date; onApproved?: (tx: Queryable) => Promise<unknown> },
): Promise<Transition> {
  return db.transaction(async (tx) => {
    const [buy] = await tx
      .select({ status: mediaBuys.status })
      .from(mediaBuys)
      .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.principalId, p.principalId), eq(mediaBuys.id, p.mediaBuyId)))
      .for('update');
    if (!buy) return { outcome: 'not_found' };
    const previous = toAdcpMediaBuyStatus(buy.status);
    if (buy.status === p.status) return { outcome: 'ok', previous, current: p.status };
    if (previous !== p.status && !isLegalMediaBuyTransition(previous as MediaBuyTarget, p.status)) return { outcome: 'illegal', previous };
    await tx
      .update(mediaBuys)
      .set({
        status: p.status,
        revision: sql`${mediaBuys.revision} + 1`,
        updatedAt: sql`now()`,
        ...(buy.status === 'pending_approval' && p.status !== 'rejected' && p.status !== 'canceled' && { confirmedAt: sql`coalesce(${mediaBuys.confirmedAt}, now())` }),
        // Forced live, the buy is as forced: not still to go paused (AdCP 3.1 create paused), so its order runs as its status says.
        ...((p.status === 'active' || p.status === 'paused') && { startPaused: false }),
        ...(p.status === 'rejected' && { rejectionReason: p.rejectionReason ?? 'Rejected by the seller (comply_test_controller).' }),
        ...(p.status === 'canceled' && { canceledAt: p.now, canceledBy: 'seller', cancellationReason: 'Canceled by the seller (comply_test_controller).' }),
      })
      .where(and(eq(mediaBuys.tenantId, p.tenantId), eq(mediaBuys.id, p.mediaBuyId)));
    // Out of approval into a status that runs (or waits to run), not a closed one: it must be booked.
    if (buy.status === 'pending_approval' && !CLOSED_BUY.has(p.status)) await p.onApproved?.(tx);
    const stepStatus = p.status === 'rejected' || p.status === 'canceled' ? p.status : 'completed';
    const [step] = await tx
      .update(workflowSteps)
      .set({ status: stepStatus, owner: 'system', updatedAt: sql`now()`, ...(stepStatus === 'completed' && { response: { media_buy_id: p.mediaBuyId, status: p.status } }) })
      .where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.mediaBuyId, p.mediaBuyId), eq(workflowSteps.status, 'requires_approval')))
      .returning({ id: workflowSteps.id });
    await publishChange(tx, { tenant_id: p.tenantId, principal_id: p.principalId, media_buy_id: p.mediaBuyId, task_id: step?.id ?? null, status: p.status, summary: 'status forced by comply_test_controller' });
    return { outcome: 'ok', previous, current: p.status };
  });
}

export async function forceCreativeStatus(db: Db, p: Scope & { creativeId: string; status: CreativeTarget; rejectionReason?: string }): Promise<Transition> {
  return db.transaction(async (tx) => {
    const where = and(eq(creatives.tenantId, p.tenantId), eq(creatives.principalId, p.principalId), eq(creatives.id, p.creativeId));
    const [row] = await tx.select({ status: creatives.status, accountId: sql<string | null>`${creatives.details}->>'account_id'` }).from(creatives).where(where).for('update');
    if (!row) return { outcome: 'not_found' };
    if (row.status === p.status) return { outcome: 'ok', previous: row.status, current: p.status };
    if (!isLegalCreativeTransition(row.status as CreativeTarget, p.status)) return { outcome: 'illegal', previous: row.status };
    const reason = p.status === 'rejected' ? { rejection_reason: p.rejectionReason ?? 'Rejected by the seller (comply_test_controller).' } : {};
    const [changed] = await tx
      .update(creatives)
      .set({ status: p.status, details: sql`(${creatives.details} - 'rejection_reason') || ${JSON.stringify(reason)}::jsonb`, updatedAt: sql`now()` })
      .where(where)
      .returning({ updatedAt: creatives.updatedAt });
    // The controller acts as the seller: the account's creative.status_changed subscribers (AdCP 3.1) hear of it.
    await queueCreativeStatusChanged(tx, { ...p, accountId: row.accountId, from: row.status, to: p.status, reasonDetail: reason.rejection_reason, initiator: 'seller', observedAt: changed!.updatedAt });
    return { outcome: 'ok', previous: row.status, current: p.status };
  });
}

/** Accounts have no published lifecycle graph: any status may be forced. */
export async function forceAccountStatus(db: Db, p: Scope & { accountId: string; status: string }): Promise<Transition> {
  return db.transaction(async (tx) => {
    const where = and(eq(accounts.tenantId, p.tenantId), eq(accounts.principalId, p.principalId), eq(accounts.id, p.accountId));
    const [row] = await tx.select({ status: accounts.status }).from(accounts).where(where).for('update');
    if (!row) return { outcome: 'not_found' };
    if (row.status !== p.status) await tx.update(accounts).set({ status: p.status }).where(where);
    return { outcome: 'ok', previous: row.status, current: p.status };
  });
}

/** Store a directive for the principal's next call; a newer one replaces it. */
export async function putDirective(db: Queryable, p: Scope & { scenario: string; payload: Record<string, unknown> }): Promise<void> {
  await db
    .insert(controllerDirectives)
    .values({ tenantId: p.tenantId, principalId: p.principalId, scenario: p.scenario, payload: p.payload })
    .onConflictDoUpdate({
      target: [controllerDirectives.tenantId, controllerDirectives.principalId, controllerDirectives.scenario],
      set: { payload: p.payload, createdAt: sql`now()` },
    });
}

/** Consume the principal's directive for a scenario: deleted and returned, so it applies exactly once. */
export async function takeDirective(db: Queryable, p: Scope & { scenario: string }): Promise<Record<string, unknown> | undefined> {
  const [row] = await db
    .delete(controllerDirectives)
    .where(and(eq(controllerDirectives.tenantId, p.tenantId), eq(controllerDirectives.principalId, p.principalId), eq(controllerDirectives.scenario, p.scenario)))
    .returning({ payload: controllerDirectives.payload });
  return row?.payload;
}

/**
 * A create_media_buy answered with a forced arm that makes no media buy (input-required): the directive is
 * consumed and the answer kept under the request's idempotency key, in one statement, so a replay answers
 * the same (AdCP: the idempotency cache wins over the emptied directive). `claimed` false: the key was taken.
 */
export async function answerCreateWithoutBuy(db: Queryable, p: Scope & { scenario: string; idempotency: IdempotencyClaim }): Promise<{ claimed: boolean }> {
  const rows = await db.execute<{ claimed: boolean }>(sql`
    with claim as (${claimCreateKey(p)}),
    directive as (
      delete from controller_directives
      where tenant_id = ${p.tenantId} and principal_id = ${p.principalId} and scenario = ${p.scenario} and exists (select 1 from claim)
      returning 1
    )
    select exists (select 1 from claim) as claimed, (select count(*) from directive) as consumed`);
  return { claimed: !!rows[0]?.claimed };
}

/** Whether a task id is in use, by anyone (task ids are unique across tenants and buyers). */
export async function taskIdTaken(db: Queryable, taskId: string): Promise<boolean> {
  const rows = await db.select({ id: workflowSteps.id }).from(workflowSteps).where(eq(workflowSteps.id, taskId)).limit(1);
  return rows.length > 0;
}

/** Read a directive without consuming it (the create statement consumes it atomically). */
export async function peekDirective(db: Queryable, p: Scope & { scenario: string }): Promise<Record<string, unknown> | undefined> {
  const [row] = await db
    .select({ payload: controllerDirectives.payload })
    .from(controllerDirectives)
    .where(and(eq(controllerDirectives.tenantId, p.tenantId), eq(controllerDirectives.principalId, p.principalId), eq(controllerDirectives.scenario, p.scenario)));
  return row?.payload;
}

/** Is this account one of the caller's sandbox accounts? */
export async function isSandboxAccount(db: Queryable, p: Scope & { accountId: string }): Promise<boolean> {
  const rows = await db
    .select({ id: accounts.id })
    .from(accounts)
    .where(and(eq(accounts.tenantId, p.tenantId), eq(accounts.principalId, p.principalId), eq(accounts.id, p.accountId), eq(accounts.sandbox, true)));
  return rows.length > 0;
}

/**
 * Is this entity outside production? True when its account is a sandbox (media
 * buys, accounts, SI sessions opened from a sandbox buy) or, for a creative,
 * when no non-sandbox buy uses it. Unknown ids answer true so the controller
 * can report NOT_FOUND itself.
 */
export async function isSandboxEntity(db: Queryable, p: Scope & { kind: 'media_buy' | 'account' | 'creative' | 'si_session'; id: string }): Promise<boolean> {
  const query =
    p.kind === 'si_session'
      ? sql`select coalesce((select sandbox from si_sessions where tenant_id = ${p.tenantId} and principal_id = ${p.principalId} and id = ${p.id}), true) as ok`
      : p.kind === 'media_buy'
      ? sql`select coalesce((select a.sandbox from media_buys b left join accounts a on a.id = b.account_id
              where b.tenant_id = ${p.tenantId} and b.principal_id = ${p.principalId} and b.id = ${p.id}), true) as ok`
      : p.kind === 'account'
        ? sql`select coalesce((select sandbox from accounts where tenant_id = ${p.tenantId} and principal_id = ${p.principalId} and id = ${p.id}), true) as ok`
        : // A creative of a production account is production's; one of a sandbox account, or of none, is the sandbox's
          // unless a production buy already uses it.
          sql`select coalesce((select a.sandbox from creatives c join accounts a on a.tenant_id = c.tenant_id and a.id = c.details->>'account_id'
                                where c.tenant_id = ${p.tenantId} and c.principal_id = ${p.principalId} and c.id = ${p.id}), true)
              and not exists (select 1 from creative_assignments ca
              join media_packages k on k.id = ca.package_id join media_buys b on b.id = k.media_buy_id
              left join accounts a on a.id = b.account_id
              where ca.tenant_id = ${p.tenantId} and ca.principal_id = ${p.principalId} and ca.creative_id = ${p.id}
                and not coalesce(a.sandbox, false)) as ok`;
  const rows = await db.execute<{ ok: boolean }>(query);
  return !!rows[0]?.ok;
}
