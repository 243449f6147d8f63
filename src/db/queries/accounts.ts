/** Buyer accounts: resolved by id or by the natural key (brand + operator [+ sandbox]), always within tenant and principal. */
import { and, asc, eq, notInArray, sql, type SQL } from 'drizzle-orm';
import { advisoryXactLock, type Queryable } from '../client.js';
import { accounts } from '../schema/index.js';
import { canonicalJson, newId } from '../../domain/ids.js';

export type AccountRow = typeof accounts.$inferSelect;

export async function getAccountById(db: Queryable, p: { tenantId: string; principalId: string; accountId: string }): Promise<AccountRow | undefined> {
  const [row] = await db
    .select()
    .from(accounts)
    .where(and(eq(accounts.tenantId, p.tenantId), eq(accounts.principalId, p.principalId), eq(accounts.id, p.accountId)))
    .limit(1);
  return row;
}

export interface NaturalKey {
  brandDomain: string;
  brandId: string;
  operator: string;
  sandbox: boolean;
}

/** The caller's account with this natural key. */
const byNaturalKey = (p: { tenantId: string; principalId: string } & NaturalKey) =>
  and(
    eq(accounts.tenantId, p.tenantId),
    eq(accounts.principalId, p.principalId),
    eq(accounts.brandDomain, p.brandDomain),
    eq(accounts.brandId, p.brandId),
    eq(accounts.operator, p.operator),
    eq(accounts.sandbox, p.sandbox),
  );

export async function getAccountByNaturalKey(db: Queryable, p: { tenantId: string; principalId: string } & NaturalKey): Promise<AccountRow | undefined> {
  const [row] = await db.select().from(accounts).where(byNaturalKey(p)).limit(1);
  return row;
}

/** Open an account for the natural key, or return the one a concurrent request just opened. */
export async function openAccount(db: Queryable, p: { tenantId: string; principalId: string; name?: string } & NaturalKey): Promise<AccountRow> {
  const [inserted] = await db
    .insert(accounts)
    .values({
      id: newId('acct'),
      tenantId: p.tenantId,
      principalId: p.principalId,
      name: p.name ?? `${p.brandDomain}${p.brandId ? ` (${p.brandId})` : ''} via ${p.operator}`,
      brand: { domain: p.brandDomain, ...(p.brandId && { brand_id: p.brandId }) },
      brandDomain: p.brandDomain,
      brandId: p.brandId,
      operator: p.operator,
      sandbox: p.sandbox,
      status: 'active',
    })
    .onConflictDoUpdate({
      target: [accounts.tenantId, accounts.principalId, accounts.brandDomain, accounts.brandId, accounts.operator, accounts.sandbox],
      set: { status: sql`${accounts.status}` },
    })
    .returning();
  return inserted!;
}


/** A page of the caller's accounts, oldest first, after the account `afterId` (compared in the database, at full timestamp precision). */
export async function listAccountsPage(
  db: Queryable,
  p: { tenantId: string; principalId: string; id?: string; status?: string; sandbox?: boolean; limit: number; afterId?: string },
): Promise<AccountRow[]> {
  return db
    .select()
    .from(accounts)
    .where(
      and(
        eq(accounts.tenantId, p.tenantId),
        eq(accounts.principalId, p.principalId),
        p.id ? eq(accounts.id, p.id) : undefined,
        p.status ? eq(accounts.status, p.status) : undefined,
        p.sandbox !== undefined ? eq(accounts.sandbox, p.sandbox) : undefined,
        p.afterId ? sql`(${accounts.createdAt}, ${accounts.id}) > (select c.created_at, c.id from accounts c where c.tenant_id = ${p.tenantId} and c.id = ${p.afterId})` : undefined,
      ),
    )
    .orderBy(asc(accounts.createdAt), asc(accounts.id))
    .limit(p.limit);
}

/**
 * Serialize sync_accounts runs of one buyer (until the transaction ends): a run locks each account it lists, in the
 * order listed, then (delete_missing) every other one, so two at once, listing the same accounts in another order or
 * closing each other's, deadlocked and one of them failed.
 */
export async function lockAccountSync(db: Queryable, p: { tenantId: string; principalId: string }): Promise<void> {
  await advisoryXactLock(db, `sync_accounts/${p.tenantId}/${p.principalId}`);
}

export type SyncAction = 'created' | 'updated' | 'unchanged';

/**
 * Upsert one account of a sync_accounts request by its natural key. `terms`
 * (billing, payment_terms, billing_entity...) live in details; an account is
 * marked synced so delete_missing only closes accounts the buyer synced.
 * With dryRun nothing is written and a would-be account has no row.
 */
export async function syncAccount(
  db: Queryable,
  p: { tenantId: string; principalId: string; terms: Record<string, unknown>; initialStatus: string; dryRun: boolean; settingsOnly?: boolean; /** The id a new account gets (decided earlier); else a fresh one. */ id?: string } & NaturalKey,
): Promise<{ action: SyncAction; account?: AccountRow }> {
  const where = byNaturalKey(p);
  let [existing] = await db.select().from(accounts).where(where).for('update');
  if (!existing) {
    if (p.dryRun) return { action: 'created' };
    const [created] = await db
      .insert(accounts)
      .values({
        id: p.id ?? newId('acct'),
        tenantId: p.tenantId,
        principalId: p.principalId,
        name: `${p.brandDomain}${p.brandId ? ` (${p.brandId})` : ''} via ${p.operator}${p.sandbox ? ' (sandbox)' : ''}`,
        brand: { domain: p.brandDomain, ...(p.brandId && { brand_id: p.brandId }) },
        brandDomain: p.brandDomain,
        brandId: p.brandId,
        operator: p.operator,
        sandbox: p.sandbox,
        status: p.initialStatus,
        details: { ...p.terms, synced: true },
      })
      .onConflictDoNothing()
      .returning();
    if (created) return { action: 'created', account: created };
    [existing] = await db.select().from(accounts).where(where).for('update'); // a concurrent sync opened it
    if (!existing) throw new Error('account vanished during sync');
  }
  const changed = Object.entries(p.terms).some(([k, v]) => canonicalJson(existing.details[k]) !== canonicalJson(v));
  // A settings update (AdCP 3.1) changes terms only: it does not make the account one delete_missing may close.
  const synced = p.settingsOnly ? existing.details.synced : true;
  if (p.dryRun || (!changed && existing.details.synced === synced)) return { action: changed ? 'updated' : 'unchanged', account: existing };
  const [updated] = await db
    .update(accounts)
    .set({ details: { ...existing.details, ...p.terms, ...(synced === true && { synced: true }) } })
    .where(eq(accounts.id, existing.id))
    .returning();
  return { action: changed ? 'updated' : 'unchanged', account: updated! };
}

/** delete_missing: close the caller's synced accounts not in `keepIds`. Returns them as they are (dryRun) or as closed. */
export async function closeUnsyncedAccounts(db: Queryable, p: { tenantId: string; principalId: string; keepIds: string[]; dryRun: boolean }): Promise<AccountRow[]> {
  const where = and(
    eq(accounts.tenantId, p.tenantId),
    eq(accounts.principalId, p.principalId),
    sql`${accounts.details}->>'synced' = 'true'`,
    sql`${accounts.status} not in ('closed', 'rejected')`,
    p.keepIds.length ? notInArray(accounts.id, p.keepIds) : undefined,
  );
  if (p.dryRun) return db.select().from(accounts).where(where).orderBy(asc(accounts.createdAt), asc(accounts.id));
  return db.update(accounts).set({ status: 'closed' }).where(where).returning();
}

/**
 * privateWebhooksAllowed (src/domain/webhooks.ts) in SQL, over a tenant's settings and an account's sandbox
 * flag (either may be null): the seller allows private addresses tenant-wide, or the account is a sandbox one
 * of a tenant under compliance testing.
 */
export const privateWebhooksAllowedSql = (settings: SQL, sandbox: SQL): SQL =>
  sql`(coalesce((${settings}->>'allow_private_webhooks')::boolean, false) or (coalesce(${sandbox}, false) and coalesce(${settings}->>'test_controller' = 'enabled', false)))`;

/** The same for an account of a tenant, read from Postgres. */
export async function allowsPrivateWebhooks(db: Queryable, p: { tenantId: string; accountId: string | null }): Promise<boolean> {
  const rows = await db.execute<{ ok: boolean }>(sql`
    select ${privateWebhooksAllowedSql(sql`(select settings from tenants where id = ${p.tenantId})`, sql`(select sandbox from accounts where tenant_id = ${p.tenantId} and id = ${p.accountId})`)} as ok`);
  return !!rows[0]?.ok;
}

/** Governance agents the buyer registered for an account (kept in details; credentials stay server-side). */
export async function setGovernanceAgents(db: Queryable, p: { tenantId: string; principalId: string; accountId: string; agents: Record<string, unknown>[] }): Promise<void> {
  await db
    .update(accounts)
    .set({ details: sql`${accounts.details} || ${JSON.stringify({ governance_agents: p.agents })}::jsonb` })
    .where(and(eq(accounts.tenantId, p.tenantId), eq(accounts.principalId, p.principalId), eq(accounts.id, p.accountId)));
}
