/**
 * The AdCP `account` reference on buying tools: an account_id, or the natural
 * key brand + operator (+ sandbox). On a tenant with automatic account approval,
 * an unknown natural key opens an account for the caller on first use.
 */
import { getAccountById, getAccountByNaturalKey, openAccount, type AccountRow, type NaturalKey } from '../db/queries/accounts.js';
import type { Queryable } from '../db/client.js';
import { z } from 'zod';
import { AdcpError } from '../domain/errors.js';
import type { BuyerContext } from './context.js';

const AccountRefSchema = z.looseObject({
  account_id: z.string().min(1).optional(),
  brand: z.looseObject({ domain: z.string().min(1), brand_id: z.string().optional() }).optional(),
  operator: z.string().min(1).optional(),
  sandbox: z.boolean().optional(),
});

export interface AccountRef {
  account_id?: string;
  brand?: { domain?: string; brand_id?: string };
  operator?: string;
  sandbox?: boolean;
}

export interface AccountLookup {
  account: AccountRow | undefined;
  /** The natural key, when the reference used one (an unknown key may open an account). */
  key?: NaturalKey;
}

/** What finding an account needs of the caller (a tool's context, or a job acting for a buyer). */
export type AccountCaller = Pick<BuyerContext, 'tenant' | 'principal' | 'db' | 'accounts'>;

/** Read-only half of resolveAccount, so callers can run it alongside other reads. */
export async function findAccount(db: Queryable, ctx: AccountCaller, ref: AccountRef | undefined, fallbackBrand?: { domain?: string; brand_id?: string }): Promise<AccountLookup> {
  const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
  // The per-process cache serves reads on the pool; a transaction reads for itself.
  const cache = db === ctx.db ? ctx.accounts : undefined;
  if (ref?.account_id) {
    const q = { ...scope, accountId: ref.account_id };
    const account = await (cache ? cache.byId(db, q) : getAccountById(db, q));
    if (!account) {
      throw new AdcpError('ACCOUNT_NOT_FOUND', `Account "${ref.account_id}" was not found.`, { field: 'account.account_id', suggestion: 'Call list_accounts to see your accounts, or pass brand + operator.' });
    }
    return { account };
  }
  const brand = ref?.brand ?? fallbackBrand;
  if (!brand?.domain) {
    throw new AdcpError('VALIDATION_ERROR', 'An account is required: pass account.account_id, or account.brand.domain with account.operator.', {
      field: 'account',
      suggestion: 'For example: "account": {"brand": {"domain": "acme.com"}, "operator": "acme.com"}.',
    });
  }
  const key: NaturalKey = {
    brandDomain: brand.domain.toLowerCase(),
    brandId: brand.brand_id ?? '',
    operator: (ref?.operator ?? brand.domain).toLowerCase(),
    sandbox: ref?.sandbox ?? false,
  };
  const q = { ...scope, ...key };
  return { account: await (cache ? cache.byNaturalKey(db, q) : getAccountByNaturalKey(db, q)), key };
}

export async function resolveAccount(
  db: Queryable,
  ctx: BuyerContext,
  ref: AccountRef | undefined,
  fallbackBrand?: { domain?: string; brand_id?: string },
  found?: AccountLookup,
): Promise<AccountRow> {
  const lookup = found ?? (await findAccount(db, ctx, ref, fallbackBrand));
  let account = lookup.account;
  if (!account) {
    const key = lookup.key!;
    if (ctx.tenant.settings.account_approval_mode === 'manual') {
      throw new AdcpError('ACCOUNT_SETUP_REQUIRED', `No account exists for ${key.brandDomain} operated by ${key.operator}.`, {
        field: 'account',
        suggestion: 'Request the account with sync_accounts and wait for the seller to approve it.',
      });
    }
    account = await openAccount(db, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, ...key });
  }
  if (account.status === 'suspended' || account.status === 'closed') {
    throw new AdcpError('ACCOUNT_SUSPENDED', `Account ${account.id} is ${account.status}.`, { field: 'account', recovery: 'terminal', suggestion: 'Contact the seller.' });
  }
  if (account.status === 'payment_required') {
    throw new AdcpError('ACCOUNT_PAYMENT_REQUIRED', `Account ${account.id} has a balance to settle before new buys.`, { field: 'account', recovery: 'terminal', suggestion: "Settle the account's balance with the seller." });
  }
  if (account.status === 'rejected') {
    // The seller declined the account: nothing can be bought through it (AdCP has no code of its own for that).
    throw new AdcpError('ACCOUNT_SUSPENDED', `Account ${account.id} was declined by the seller.`, { field: 'account', recovery: 'terminal', suggestion: 'Contact the seller, or buy through another account.' });
  }
  if (account.status === 'pending_approval') {
    throw new AdcpError('ACCOUNT_SETUP_REQUIRED', `Account ${account.id} is awaiting the seller's approval.`, { field: 'account', suggestion: 'Try again once the seller has approved the account.' });
  }
  return account;
}

/**
 * An `account` on a read (get_media_buys, get_media_buy_delivery, list_accounts,
 * tasks): undefined when there is none (no filter), the account's id, or null
 * when it names no account of the caller's (which matches nothing). Never opens
 * an account.
 */
export async function accountScope(ctx: BuyerContext, raw: unknown): Promise<string | null | undefined> {
  if (raw === undefined || raw === null) return undefined;
  // Some read tools' request schemas let `account` through unchecked: check its shape here.
  const parsed = AccountRefSchema.safeParse(raw);
  if (!parsed.success || (!parsed.data.account_id && !parsed.data.brand)) {
    throw new AdcpError('VALIDATION_ERROR', 'account must be {"account_id": ...} or {"brand": {"domain": ...}, "operator": ...}.', {
      field: 'account',
      suggestion: 'Pass an account_id from list_accounts, or the brand domain and operator you buy with.',
    });
  }
  const ref = parsed.data;
  try {
    return (await findAccount(ctx.db, ctx, ref)).account?.id ?? null;
  } catch (e) {
    if (e instanceof AdcpError && e.code === 'ACCOUNT_NOT_FOUND') return null;
    throw e;
  }
}
