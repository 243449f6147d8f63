/** Buyer accounts: resolved by id or by the natural key (brand + operator [+ sandbox]), always within tenant and principal. */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { accounts } from '../schema/index.js';
import { newId } from '../../domain/ids.js';

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

export async function getAccountByNaturalKey(db: Queryable, p: { tenantId: string; principalId: string } & NaturalKey): Promise<AccountRow | undefined> {
  const [row] = await db
    .select()
    .from(accounts)
    .where(
      and(
        eq(accounts.tenantId, p.tenantId),
        eq(accounts.principalId, p.principalId),
        eq(accounts.brandDomain, p.brandDomain),
        eq(accounts.brandId, p.brandId),
        eq(accounts.operator, p.operator),
        eq(accounts.sandbox, p.sandbox),
      ),
    )
    .limit(1);
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

export async function listAccounts(db: Queryable, p: { tenantId: string; principalId: string }): Promise<AccountRow[]> {
  return db
    .select()
    .from(accounts)
    .where(and(eq(accounts.tenantId, p.tenantId), eq(accounts.principalId, p.principalId)))
    .orderBy(accounts.createdAt);
}
