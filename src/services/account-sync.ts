/**
 * What sync_accounts does to the buyer's accounts, shared by the tool and the
 * prove_notification_configs job: each entry provisions (brand + operator) or
 * updates (`account`) one account, with its terms and, for an AdCP 3.1 caller,
 * its notification subscribers (declarative replace by subscriber_id).
 *
 * A new or changed active subscriber needs proof that the receiver controls its
 * URL. Run as 'request' (the tool), such a subscriber is listed in `challenges`
 * and its entry is not applied: the tool then runs the whole request as a task.
 * Run as 'complete' (the job, once the challenges were sent), it is active only
 * with its proof in `proved`; otherwise its entry fails at that URL and the
 * account, its previous subscribers included, stays as it was.
 */
import type { Tx } from '../db/client.js';
import type { TenantSettings } from '../db/schema/index.js';
import { closeUnsyncedAccounts, getAccountByNaturalKey, lockAccountSync, syncAccount, type AccountRow, type SyncAction } from '../db/queries/accounts.js';
import { notificationConfigsOf, replaceNotificationConfigs, type StoredNotificationConfig } from '../db/queries/notification-configs.js';
import { ACCOUNT_TERMS, publicTerms, toAdcpAccountDetail } from '../domain/account-view.js';
import type { AdcpRelease } from '../domain/adcp-release.js';
import { AdcpError, type AdcpErrorBody } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { checkNotificationConfigs, deliveryAuthOf, echoNotificationConfig, proofKey, type NotificationConfig, type NotificationConfigInput } from '../domain/notification-configs.js';
import { SUPPORTED_BILLING } from '../domain/seller-capabilities.js';
import { privateWebhooksAllowed } from '../domain/webhooks.js';
import { findAccount, type AccountCaller, type AccountRef } from '../mcp/resolve-account.js';
import { openBuyerCredentials, secretBox, secretContext } from './secret-box.js';

export interface AccountRequest {
  brand: { domain: string; brand_id?: string; [k: string]: unknown };
  operator: string;
  billing?: string;
  billing_entity?: Record<string, unknown>;
  payment_terms?: string;
  sandbox?: boolean;
  notification_configs?: unknown[];
  [k: string]: unknown;
}
export interface SettingsUpdate {
  account: AccountRef;
  billing_entity?: Record<string, unknown>;
  payment_terms?: string;
  notification_configs?: unknown[];
  [k: string]: unknown;
}
export type SyncEntry = AccountRequest | SettingsUpdate;
export type SyncAccountsInput = { accounts: SyncEntry[]; delete_missing?: boolean; dry_run?: boolean; idempotency_key?: string; [k: string]: unknown };

export const isSettingsUpdate = (e: SyncEntry): e is SettingsUpdate => 'account' in e && !!e.account;

/** May the sync's task webhook (push_notification_config) reach private addresses? Only where every account it names is a sandbox one (privateWebhooksAllowed). */
export const pushMayReachPrivate = (settings: TenantSettings, input: SyncAccountsInput): boolean =>
  privateWebhooksAllowed(settings, input.accounts.every((a) => (isSettingsUpdate(a) ? a.account.sandbox : a.sandbox) === true));

/** A subscriber whose receiver must prove control of its URL before it is active. */
export interface ChallengeNeeded {
  entry: number;
  index: number;
  accountId: string;
  config: NotificationConfig;
  /** The proof tuple's hash (proofKey) the challenge binds. */
  key: string;
  allowPrivate: boolean;
}

export interface SyncRun {
  release: AdcpRelease;
  mode: 'request' | 'complete';
  /** Ids of accounts this sync opens, by entry index: decided when the request came, so a challenge names the id the account gets. */
  newAccountIds: Record<string, string>;
  /** Proofs obtained for this sync: `${entry}/${subscriber_id}` -> the tuple hash the receiver echoed a challenge for. */
  proved: Map<string, string>;
  now: Date;
}

const NO_NOTIFICATION_CONFIGS_30 = 'Account-level notification subscriptions are an AdCP 3.1 feature: send adcp_version "3.1" to register them. Media buy webhooks are set per request with push_notification_config.';

/** Subscribers asked for: an empty list (remove every subscriber) asks for what a 3.0 seller already does. */
const asksForNotifications = (e: Record<string, unknown>) => e.notification_configs !== undefined && !(Array.isArray(e.notification_configs) && e.notification_configs.length === 0);

const proofFailed = (field: string): AdcpErrorBody => ({
  code: 'VALIDATION_ERROR',
  message: "The endpoint did not prove control of this URL: the seller's signed webhook.challenge POST was not answered with 2xx and the challenge echoed ({\"challenge\": \"...\"}) in time.",
  field,
  suggestion: 'Have the receiver verify the RFC 9421 signature and answer the challenge, then send sync_accounts again; the account and its previous subscribers are unchanged.',
  recovery: 'correctable',
});

/** A stored subscriber as a comparable config (its credentials opened). */
function storedConfig(tenantId: string, principalId: string, s: StoredNotificationConfig): NotificationConfig {
  const auth = s.authentication ? openBuyerCredentials(secretBox(), secretContext.buyerCredentials(tenantId, principalId), s.authentication) : null;
  return { subscriberId: s.subscriberId, url: s.url, eventTypes: s.eventTypes, authentication: auth, active: s.active };
}
const signature = (cs: NotificationConfig[]) => JSON.stringify(cs.map((c) => [c.subscriberId, c.url, c.eventTypes, c.active, deliveryAuthOf(c)]));

type NotificationPlan = { error: AdcpErrorBody } | { configs: NotificationConfig[]; proofs: Map<string, { key: string; at: Date }>; changed: boolean; awaitingProof: boolean };

/** The subscribers an entry asks for, checked, with the proof each active one has (or the challenge it needs). */
async function planNotifications(
  tx: Tx,
  caller: AccountCaller,
  run: SyncRun,
  challenges: ChallengeNeeded[],
  p: { entry: number; accountId: string | undefined; sent: NotificationConfigInput[]; allowPrivate: boolean; dryRun: boolean },
): Promise<NotificationPlan> {
  const field = `accounts[${p.entry}].notification_configs`;
  const checked = checkNotificationConfigs(p.sent, field, p.allowPrivate);
  if ('error' in checked) return checked;
  const scope = { tenantId: caller.tenant.id, principalId: caller.principal.id };
  const stored = p.accountId ? ((await notificationConfigsOf(tx, { ...scope, accountIds: [p.accountId] })).get(p.accountId) ?? []) : [];
  const prior = new Map(stored.map((s) => [s.subscriberId, s]));
  const proofs = new Map<string, { key: string; at: Date }>();
  let awaitingProof = false;
  for (const [j, c] of checked.configs.entries()) {
    const key = proofKey(p.accountId ?? '', c);
    const before = prior.get(c.subscriberId);
    // A proof of the same tuple is reused; a paused subscriber needs none (it receives nothing), nor does a preview.
    if (before?.proof === key) proofs.set(c.subscriberId, { key, at: before.provedAt ?? run.now });
    else if (!c.active || p.dryRun) continue;
    else if (run.proved.get(`${p.entry}/${c.subscriberId}`) === key) proofs.set(c.subscriberId, { key, at: run.now });
    else if (run.mode === 'request' && p.accountId) {
      challenges.push({ entry: p.entry, index: j, accountId: p.accountId, config: c, key, allowPrivate: p.allowPrivate });
      awaitingProof = true;
    } else return { error: proofFailed(`${field}[${j}].url`) };
  }
  const changed = signature(checked.configs) !== signature(stored.map((s) => storedConfig(scope.tenantId, scope.principalId, s)));
  return { configs: checked.configs, proofs, changed, awaitingProof };
}

/** One entry's notification_configs as a 3.1 caller sent them, or undefined when left out. */
const sentConfigs = (e: SyncEntry, run: SyncRun) => (run.release === '3.1' && Array.isArray(e.notification_configs) ? (e.notification_configs as NotificationConfigInput[]) : undefined);

/**
 * Apply an entry's terms (syncAccount) and subscribers on the account it names, or fail it with `plan`'s error.
 * Returns the result and the account's id (kept from delete_missing), or `awaiting` when a challenge must come first.
 */
async function applyEntry(
  tx: Tx,
  caller: AccountCaller,
  run: SyncRun,
  p: { plan: NotificationPlan | undefined; accountId: string | undefined; sync: (id: string | undefined) => Promise<{ action: SyncAction; account?: AccountRow }>; dryRun: boolean; echo: Record<string, unknown>; failedShape: () => Record<string, unknown> },
): Promise<{ result: Record<string, unknown>; keep?: string } | 'awaiting'> {
  const plan = p.plan;
  if (plan && 'error' in plan) return { result: { ...p.failedShape(), ...p.echo, action: 'failed', errors: [plan.error] }, keep: p.accountId };
  if (plan?.awaitingProof) return 'awaiting';
  const { action, account } = await p.sync(p.accountId);
  // Another sync opened the account (under another id) since the challenge named ours: its proof does not hold. The job runs again.
  if (account && p.accountId && account.id !== p.accountId && plan?.proofs.size) throw new Error('account opened concurrently under another id');
  if (plan && account && !p.dryRun && plan.changed) {
    await replaceNotificationConfigs(tx, { tenantId: caller.tenant.id, principalId: caller.principal.id, accountId: account.id, configs: plan.configs, proofs: plan.proofs });
  }
  const shown = account ? { ...toAdcpAccountDetail(account), ...p.echo } : p.echo;
  return {
    result: { ...shown, action: plan?.changed && action === 'unchanged' ? 'updated' : action, ...(plan && { notification_configs: plan.configs.map(echoNotificationConfig) }) },
    keep: account?.id,
  };
}

export async function syncAccounts(tx: Tx, caller: AccountCaller, input: SyncAccountsInput, run: SyncRun): Promise<{ response: Record<string, unknown>; challenges: ChallengeNeeded[] }> {
  const dryRun = input.dry_run ?? false;
  const scope = { tenantId: caller.tenant.id, principalId: caller.principal.id };
  const settings = caller.tenant.settings;
  const initialStatus = settings.account_approval_mode === 'manual' ? 'pending_approval' : 'active';
  const results: Record<string, unknown>[] = [];
  const keep: string[] = [];
  const challenges: ChallengeNeeded[] = [];
  await lockAccountSync(tx, scope);
  for (const [i, entry] of input.accounts.entries()) {
    const sent = sentConfigs(entry, run);
    let outcome: Awaited<ReturnType<typeof applyEntry>>;
    if (isSettingsUpdate(entry)) {
      const account = await findAccount(tx, caller, entry.account).then(
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
      const provisioning = (['brand', 'operator', 'billing'] as const).find((k) => entry[k] !== undefined);
      if (provisioning) outcome = failed('UNSUPPORTED_PROVISIONING', `A settings update (with \`account\`) cannot carry ${provisioning}: billing, brand and operator are fixed when the account is provisioned.`, `accounts[${i}].${provisioning}`);
      else if (run.release === '3.0' && asksForNotifications(entry)) outcome = failed('UNSUPPORTED_FEATURE', NO_NOTIFICATION_CONFIGS_30, `accounts[${i}].notification_configs`);
      else {
        const plan = sent && (await planNotifications(tx, caller, run, challenges, { entry: i, accountId: account.id, sent, allowPrivate: privateWebhooksAllowed(settings, account.sandbox), dryRun }));
        const terms = Object.fromEntries((['billing_entity', 'payment_terms'] as const).filter((k) => entry[k] !== undefined).map((k) => [k, entry[k]]));
        const key = { brandDomain: account.brandDomain, brandId: account.brandId, operator: account.operator, sandbox: account.sandbox };
        outcome = await applyEntry(tx, caller, run, {
          plan,
          accountId: account.id,
          sync: async () => {
            const r = await syncAccount(tx, { ...scope, ...key, terms, initialStatus: account.status, dryRun, settingsOnly: true });
            return { action: r.action, account: r.account ?? account };
          },
          dryRun,
          echo,
          failedShape: () => toAdcpAccountDetail(account),
        });
      }
    } else {
      const req = entry;
      const key = { brandDomain: req.brand.domain.toLowerCase(), brandId: req.brand.brand_id ?? '', operator: req.operator.toLowerCase(), sandbox: req.sandbox ?? false };
      const terms = Object.fromEntries(ACCOUNT_TERMS.filter((k) => req[k] !== undefined).map((k) => [k, req[k]]));
      const echo = { brand: req.brand, operator: req.operator };
      const billing = req.billing;
      const existing = () => getAccountByNaturalKey(tx, { ...scope, ...key });
      const failedShape = (a: AccountRow | undefined) => (a ? toAdcpAccountDetail(a) : { status: 'rejected', account_scope: 'operator_brand', sandbox: key.sandbox });
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
      if (run.release === '3.0' && asksForNotifications(req)) {
        // Refused, not dropped; the account (if there is one) stays as it was.
        const found = await existing();
        outcome = { result: { ...failedShape(found), ...echo, action: 'failed', errors: [{ code: 'UNSUPPORTED_FEATURE', message: NO_NOTIFICATION_CONFIGS_30, field: `accounts[${i}].notification_configs` }] }, keep: found?.id };
      } else {
        const found = sent ? await existing() : undefined;
        // A new account's id is decided now, so a challenge can name it.
        const accountId = found?.id ?? (sent && !dryRun ? (run.newAccountIds[String(i)] ??= newId('acct')) : undefined);
        const plan = sent && (await planNotifications(tx, caller, run, challenges, { entry: i, accountId, sent, allowPrivate: privateWebhooksAllowed(settings, key.sandbox), dryRun }));
        outcome = await applyEntry(tx, caller, run, {
          plan,
          accountId,
          sync: (id) => syncAccount(tx, { ...scope, ...key, terms, initialStatus, dryRun, id }),
          dryRun,
          echo,
          failedShape: () => failedShape(found),
        });
        if (outcome !== 'awaiting' && !('account_id' in outcome.result) && outcome.result.action !== 'failed') {
          // A dry run's would-be account: no row, so its terms as sent.
          outcome.result = { ...echo, action: outcome.result.action, status: initialStatus, account_scope: 'operator_brand', sandbox: key.sandbox, ...publicTerms(terms), ...(outcome.result.notification_configs ? { notification_configs: outcome.result.notification_configs } : {}) };
        }
      }
    }
    if (outcome === 'awaiting') continue;
    results.push(outcome.result);
    if (outcome.keep) keep.push(outcome.keep);
  }
  if (input.delete_missing) {
    const closed = await closeUnsyncedAccounts(tx, { ...scope, keepIds: keep, dryRun });
    results.push(...closed.map((a) => ({ ...toAdcpAccountDetail({ ...a, status: 'closed' }), action: 'updated' })));
  }
  await echoStoredNotificationConfigs(tx, scope, results);
  return { response: { accounts: results, ...(dryRun && { dry_run: true }) }, challenges };
}

/** AdCP 3.1: an account's result shows its subscribers (without credentials) whenever it has some, even when the entry left them out. */
async function echoStoredNotificationConfigs(tx: Tx, scope: { tenantId: string; principalId: string }, results: Record<string, unknown>[]): Promise<void> {
  const wanting = results.filter((r) => r.action !== 'failed' && r.notification_configs === undefined && typeof r.account_id === 'string');
  const stored = await notificationConfigsOf(tx, { ...scope, accountIds: wanting.map((r) => r.account_id as string) });
  for (const r of wanting) {
    const configs = stored.get(r.account_id as string);
    if (configs?.length) r.notification_configs = configs.map(echoNotificationConfig);
  }
}
