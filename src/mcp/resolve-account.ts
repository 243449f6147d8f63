/**
 * The AdCP `account` reference on buying tools: an account_id, or the natural
 * key brand + operator (+ sandbox). On a tenant with automatic account approval,
 * an unknown natural key opens an account for the caller on first use.
 */
import { getAccountById, getAccountByNaturalKey, openAccount, type AccountRow } from '../db/queries/accounts.js';
import type { Queryable } from '../db/client.js';
import { AdcpError } from '../domain/errors.js';
import type { BuyerContext } from './context.js';

export interface AccountRef {
  account_id?: string;
  brand?: { domain?: string; brand_id?: string };
  operator?: string;
  sandbox?: boolean;
}

export async function resolveAccount(
  db: Queryable,
  ctx: BuyerContext,
  ref: AccountRef | undefined,
  fallbackBrand?: { domain?: string; brand_id?: string },
): Promise<AccountRow> {
  const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
  let account: AccountRow | undefined;
  if (ref?.account_id) {
    account = await getAccountById(db, { ...scope, accountId: ref.account_id });
    if (!account) {
      throw new AdcpError('ACCOUNT_NOT_FOUND', `Account "${ref.account_id}" was not found.`, { field: 'account.account_id', suggestion: 'Call list_accounts to see your accounts, or pass brand + operator.' });
    }
  } else {
    const brand = ref?.brand ?? fallbackBrand;
    if (!brand?.domain) {
      throw new AdcpError('VALIDATION_ERROR', 'An account is required: pass account.account_id, or account.brand.domain with account.operator.', {
        field: 'account',
        suggestion: 'For example: "account": {"brand": {"domain": "acme.com"}, "operator": "acme.com"}.',
      });
    }
    const key = {
      brandDomain: brand.domain.toLowerCase(),
      brandId: brand.brand_id ?? '',
      operator: (ref?.operator ?? brand.domain).toLowerCase(),
      sandbox: ref?.sandbox ?? false,
    };
    account = await getAccountByNaturalKey(db, { ...scope, ...key });
    if (!account) {
      if (ctx.tenant.settings.account_approval_mode === 'manual') {
        throw new AdcpError('ACCOUNT_SETUP_REQUIRED', `No account exists for ${key.brandDomain} operated by ${key.operator}.`, {
          field: 'account',
          suggestion: 'Request the account with sync_accounts and wait for the seller to approve it.',
        });
      }
      account = await openAccount(db, { ...scope, ...key });
    }
  }
  if (account.status === 'suspended' || account.status === 'closed') {
    throw new AdcpError('ACCOUNT_SUSPENDED', `Account ${account.id} is ${account.status}.`, { field: 'account', recovery: 'terminal', suggestion: 'Contact the seller.' });
  }
  if (account.status === 'pending_approval') {
    throw new AdcpError('ACCOUNT_SETUP_REQUIRED', `Account ${account.id} is awaiting the seller's approval.`, { field: 'account', suggestion: 'Try again once the seller has approved the account.' });
  }
  return account;
}

export function toAdcpAccount(a: AccountRow): Record<string, unknown> {
  return {
    account_id: a.id,
    name: a.name,
    brand: a.brand,
    operator: a.operator,
    status: a.status,
    sandbox: a.sandbox,
  };
}
