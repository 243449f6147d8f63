/**
 * sync_accounts: the buyer declares the brands it operates for; each becomes an
 * account keyed by brand + operator (+ sandbox), with billing and payment terms
 * kept in its details. Upsert semantics, one transaction, idempotency-keyed.
 * delete_missing closes the buyer's synced accounts it did not list; dry_run
 * reports what would happen and writes nothing.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import type { Tx } from '../../db/client.js';
import { closeUnsyncedAccounts, syncAccount, type AccountRow } from '../../db/queries/accounts.js';
import { ACCOUNT_TERMS, publicTerms, toAdcpAccountDetail } from '../../domain/account-view.js';
import { AdcpError } from '../../domain/errors.js';
import type { BuyerContext } from '../context.js';
import { defineTool } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';

interface AccountRequest {
  brand: { domain: string; brand_id?: string; [k: string]: unknown };
  operator: string;
  billing?: string;
  billing_entity?: Record<string, unknown>;
  payment_terms?: string;
  sandbox?: boolean;
  [k: string]: unknown;
}
type Input = { accounts: AccountRequest[]; delete_missing?: boolean; dry_run?: boolean; idempotency_key?: string; [k: string]: unknown };

/** The stored account, with brand and operator echoed as the buyer sent them (buyers reuse them as their account reference). */
function accountResult(a: AccountRow, action: string, echo?: { brand: unknown; operator: string }): Record<string, unknown> {
  return { ...toAdcpAccountDetail(a), ...echo, action };
}

async function sync(tx: Tx, ctx: BuyerContext, input: Input): Promise<Record<string, unknown>> {
  const dryRun = input.dry_run ?? false;
  const initialStatus = ctx.tenant.settings.account_approval_mode === 'manual' ? 'pending_approval' : 'active';
  const results: Record<string, unknown>[] = [];
  const keep: string[] = [];
  for (const req of input.accounts) {
    const key = { brandDomain: req.brand.domain.toLowerCase(), brandId: req.brand.brand_id ?? '', operator: req.operator.toLowerCase(), sandbox: req.sandbox ?? false };
    const terms = Object.fromEntries(ACCOUNT_TERMS.filter((k) => req[k] !== undefined).map((k) => [k, req[k]]));
    const { action, account } = await syncAccount(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, ...key, terms, initialStatus, dryRun });
    const echo = { brand: req.brand, operator: req.operator };
    if (account) keep.push(account.id);
    results.push(
      account
        ? accountResult(account, action, echo)
        : { ...echo, action, status: initialStatus, account_scope: 'operator_brand', sandbox: key.sandbox, ...publicTerms(terms) },
    );
  }
  if (input.delete_missing) {
    const closed = await closeUnsyncedAccounts(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, keepIds: keep, dryRun });
    results.push(...closed.map((a) => accountResult({ ...a, status: 'closed' }, 'updated')));
  }
  return { accounts: results, ...(dryRun && { dry_run: true }) };
}

export default defineTool({
  name: 'sync_accounts',
  title: 'Sync accounts',
  description:
    'Declare the advertiser accounts you buy for: accounts[{brand {domain, brand_id?}, operator, billing, payment_terms?, sandbox?}] plus an idempotency_key. Creates or updates one account per brand + operator (+ sandbox) and returns account_id and status for each; use the account_id (or brand + operator) as `account` on create_media_buy. delete_missing closes your synced accounts not listed; dry_run previews.',
  // billing is required by AdCP; agents often omit it, and operator billing is the common case.
  input: z.preprocess((a) => {
    if (!a || typeof a !== 'object' || !Array.isArray((a as Input).accounts)) return a;
    return { ...a, accounts: (a as Input).accounts.map((x) => (x && typeof x === 'object' && !('billing' in x) ? { ...x, billing: 'operator' } : x)) };
  }, TOOL_REQUEST_SCHEMAS.sync_accounts!) as unknown as z.ZodType<Input>,
  output: z.looseObject({ accounts: z.array(z.looseObject({ action: z.string(), status: z.string() })).optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const seen = new Set<string>();
    input.accounts.forEach((a, i) => {
      const k = [a.brand.domain.toLowerCase(), a.brand.brand_id ?? '', a.operator.toLowerCase(), a.sandbox ?? false].join('|');
      if (seen.has(k)) {
        throw new AdcpError('VALIDATION_ERROR', 'The same brand + operator (+ sandbox) appears twice.', { field: `accounts[${i}]`, suggestion: 'List each account once.' });
      }
      seen.add(k);
    });
    if (input.dry_run) return ctx.db.transaction((tx) => sync(tx, ctx, input));
    try {
      return await idempotentMutation(ctx, 'sync_accounts', input, (tx) => sync(tx, ctx, input));
    } finally {
      ctx.accounts?.forget(ctx.tenant.id);
    }
  },
});
