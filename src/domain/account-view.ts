/** How an account looks on the wire: on a buy (create_media_buy, get_media_buys), and in list_accounts and sync_accounts. Billing terms live in accounts.details. */
import type { AccountRow } from '../db/queries/accounts.js';

/** The columns an account's wire shape is made of. */
export type AccountCore = Pick<AccountRow, 'id' | 'name' | 'brand' | 'operator' | 'status' | 'sandbox'>;

/** An account as a buy names it (AdCP core/account.json). */
export function toAdcpAccount(a: AccountCore): Record<string, unknown> {
  return {
    account_id: a.id,
    name: a.name,
    brand: a.brand,
    operator: a.operator,
    status: a.status,
    sandbox: a.sandbox,
  };
}

/** Account terms a buyer may set with sync_accounts. */
export const ACCOUNT_TERMS = ['billing', 'billing_entity', 'payment_terms', 'preferred_reporting_protocol'] as const;

/** The stored terms fit to echo: billing_entity bank details are write-only. */
export function publicTerms(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ACCOUNT_TERMS) if (details[k] !== undefined) out[k] = details[k];
  if (out.billing_entity && typeof out.billing_entity === 'object') {
    const { bank: _bank, ...entity } = out.billing_entity as Record<string, unknown>;
    out.billing_entity = entity;
  }
  return out;
}

export function toAdcpAccountDetail(a: AccountRow): Record<string, unknown> {
  return {
    ...toAdcpAccount(a),
    // Our accounts are keyed by brand + operator.
    account_scope: 'operator_brand',
    ...publicTerms(a.details),
    ...(a.status === 'pending_approval' && { setup: { message: 'The seller reviews new accounts; you can buy once it is approved.' } }),
  };
}
