/**
 * sync_accounts: the buyer declares the brands it operates for; each becomes an
 * account keyed by brand + operator (+ sandbox), with billing and payment terms
 * kept in its details. Upsert semantics, one transaction, idempotency-keyed.
 * delete_missing closes the buyer's synced accounts it did not list; dry_run
 * reports what would happen and writes nothing.
 *
 * AdCP 3.1 settings-update entries name an existing account (`account`: an
 * account_id or brand + operator) instead of provisioning one: they may change
 * payment_terms and billing_entity. One that also carries brand, operator or
 * billing fails with UNSUPPORTED_PROVISIONING. Account-level notification_configs
 * (creative.status_changed and wholesale feed subscriptions) are not offered
 * yet: an entry of either kind carrying them fails with UNSUPPORTED_FEATURE
 * rather than having them dropped.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import type { Tx } from '../../db/client.js';
import { closeUnsyncedAccounts, lockAccountSync, syncAccount, type AccountRow } from '../../db/queries/accounts.js';
import { ACCOUNT_TERMS, publicTerms, toAdcpAccountDetail } from '../../domain/account-view.js';
import { SUPPORTED_BILLING } from '../../domain/seller-capabilities.js';
import { AdcpError } from '../../domain/errors.js';
import type { BuyerContext } from '../context.js';
import { findAccount, type AccountRef } from '../resolve-account.js';
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
interface SettingsUpdate {
  account: AccountRef;
  billing_entity?: Record<string, unknown>;
  payment_terms?: string;
  notification_configs?: unknown[];
  [k: string]: unknown;
}
type Entry = AccountRequest | SettingsUpdate;
type Input = { accounts: Entry[]; delete_missing?: boolean; dry_run?: boolean; idempotency_key?: string; [k: string]: unknown };

const isSettingsUpdate = (e: Entry): e is SettingsUpdate => 'account' in e && !!e.account;

const SettingsUpdateEntry = z.looseObject({
  account: z.looseObject({
    account_id: z.string().min(1).optional(),
    brand: z.looseObject({ domain: z.string().min(1), brand_id: z.string().optional() }).optional(),
    operator: z.string().optional(),
    sandbox: z.boolean().optional(),
  }),
  billing_entity: z.looseObject({}).optional(),
  payment_terms: z.string().optional(),
  notification_configs: z.array(z.unknown()).optional(),
});

/** The 3.0 request schema with accounts[] also taking 3.1 settings-update entries. */
const RequestSchema = (() => {
  const base = TOOL_REQUEST_SCHEMAS.sync_accounts! as unknown as z.ZodObject<{ accounts: z.ZodArray<z.ZodObject> }>;
  // Provisioning first: an entry that fits neither is reported against it (unless it names an account).
  return base.extend({ accounts: z.array(z.union([base.shape.accounts.element, SettingsUpdateEntry])).min(1) });
})();

/** Subscribers asked for: an empty list (AdCP 3.1: remove every subscriber) asks for what this seller already does. */
const asksForNotifications = (e: Record<string, unknown>) => e.notification_configs !== undefined && !(Array.isArray(e.notification_configs) && e.notification_configs.length === 0);
const NO_NOTIFICATION_CONFIGS = 'This seller does not offer account-level notification subscriptions; media buy webhooks are set per request with push_notification_config.';

async function updateSettings(tx: Tx, ctx: BuyerContext, req: SettingsUpdate, i: number, dryRun: boolean): Promise<{ result: Record<string, unknown>; keep?: string }> {
  const account = await findAccount(tx, ctx, req.account).then(
    (r) => r.account,
    (e: unknown) => {
      if (e instanceof AdcpError && e.code === 'ACCOUNT_NOT_FOUND') return undefined;
      throw e;
    },
  );
  if (!account) {
    throw new AdcpError('ACCOUNT_NOT_FOUND', 'No account of yours matches this brand + operator.', { field: `accounts[${i}].account`, suggestion: 'Provision it first (brand + operator + billing without `account`), or use an account_id from list_accounts.' });
  }
  const echo = { brand: account.brand, operator: account.operator };
  const failed = (code: string, message: string, field: string) => ({ result: { ...toAdcpAccountDetail(account), ...echo, action: 'failed', errors: [{ code, message, field }] }, keep: account.id });
  const provisioning = (['brand', 'operator', 'billing'] as const).find((k) => req[k] !== undefined);
  if (provisioning) return failed('UNSUPPORTED_PROVISIONING', `A settings update (with \`account\`) cannot carry ${provisioning}: billing, brand and operator are fixed when the account is provisioned.`, `accounts[${i}].${provisioning}`);
  if (asksForNotifications(req)) {
    return failed('UNSUPPORTED_FEATURE', NO_NOTIFICATION_CONFIGS, `accounts[${i}].notification_configs`);
  }
  const terms = Object.fromEntries((['billing_entity', 'payment_terms'] as const).filter((k) => req[k] !== undefined).map((k) => [k, req[k]]));
  const key = { brandDomain: account.brandDomain, brandId: account.brandId, operator: account.operator, sandbox: account.sandbox };
  const { action, account: after } = await syncAccount(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, ...key, terms, initialStatus: account.status, dryRun, settingsOnly: true });
  return { result: accountResult(after ?? account, action, echo), keep: account.id };
}

/** The stored account, with brand and operator echoed as the buyer sent them (buyers reuse them as their account reference). */
function accountResult(a: AccountRow, action: string, echo?: { brand: unknown; operator: string }): Record<string, unknown> {
  return { ...toAdcpAccountDetail(a), ...echo, action };
}

async function sync(tx: Tx, ctx: BuyerContext, input: Input): Promise<Record<string, unknown>> {
  const dryRun = input.dry_run ?? false;
  const initialStatus = ctx.tenant.settings.account_approval_mode === 'manual' ? 'pending_approval' : 'active';
  const results: Record<string, unknown>[] = [];
  const keep: string[] = [];
  await lockAccountSync(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id });
  for (const [i, entry] of input.accounts.entries()) {
    if (isSettingsUpdate(entry)) {
      const { result, keep: id } = await updateSettings(tx, ctx, entry, i, dryRun);
      results.push(result);
      if (id) keep.push(id);
      continue;
    }
    const req = entry;
    const key = { brandDomain: req.brand.domain.toLowerCase(), brandId: req.brand.brand_id ?? '', operator: req.operator.toLowerCase(), sandbox: req.sandbox ?? false };
    const terms = Object.fromEntries(ACCOUNT_TERMS.filter((k) => req[k] !== undefined).map((k) => [k, req[k]]));
    const echo = { brand: req.brand, operator: req.operator };
    const billing = (req as { billing?: string }).billing;
    if (billing !== undefined && !(SUPPORTED_BILLING as readonly string[]).includes(billing)) {
      // Refused, not taken: the seller invoices only as its capabilities declare (account.supported_billing).
      results.push({
        status: 'rejected',
        account_scope: 'operator_brand',
        sandbox: key.sandbox,
        ...echo,
        action: 'failed',
        errors: [{ code: 'BILLING_NOT_SUPPORTED', message: `This seller does not bill the ${billing}; it bills ${SUPPORTED_BILLING.join(' or ')}.`, field: `accounts[${i}].billing`, suggestion: `Send billing "${SUPPORTED_BILLING[0]}" or "${SUPPORTED_BILLING[1]}".`, details: { scope: 'capability', supported_billing: [...SUPPORTED_BILLING] } }],
      });
      continue;
    }
    if (asksForNotifications(req)) {
      // Refused, not dropped, as on a settings update; the account (if there is one) stays as it was.
      const { account: existing } = await syncAccount(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, ...key, terms: {}, initialStatus, dryRun: true });
      if (existing) keep.push(existing.id);
      results.push({
        ...(existing ? toAdcpAccountDetail(existing) : { status: 'rejected', account_scope: 'operator_brand', sandbox: key.sandbox }),
        ...echo,
        action: 'failed',
        errors: [{ code: 'UNSUPPORTED_FEATURE', message: NO_NOTIFICATION_CONFIGS, field: `accounts[${i}].notification_configs` }],
      });
      continue;
    }
    const { action, account } = await syncAccount(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, ...key, terms, initialStatus, dryRun });
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
    'Declare the advertiser accounts you buy for: accounts[{brand {domain, brand_id?}, operator, billing, payment_terms?, sandbox?}] plus an idempotency_key. Creates or updates one account per brand + operator (+ sandbox) and returns account_id and status for each; use the account_id (or brand + operator) as `account` on create_media_buy. An entry with `account` (account_id, or brand + operator) instead updates the payment_terms or billing_entity of that existing account (AdCP 3.1). delete_missing closes your synced accounts not listed; dry_run previews.',
  // billing is required by AdCP; agents often omit it, and operator billing is the common case.
  input: z.preprocess((a) => {
    if (!a || typeof a !== 'object' || !Array.isArray((a as Input).accounts)) return a;
    return { ...a, accounts: (a as Input).accounts.map((x) => (x && typeof x === 'object' && !('billing' in x) && !('account' in x) ? { ...x, billing: 'operator' } : x)) };
  }, RequestSchema) as unknown as z.ZodType<Input>,
  output: z.looseObject({ accounts: z.array(z.looseObject({ action: z.string(), status: z.string() })).optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const seen = new Set<string>();
    input.accounts.forEach((a, i) => {
      if (isSettingsUpdate(a)) return;
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
