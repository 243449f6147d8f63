/**
 * sync_accounts: the buyer declares the brands it operates for; each becomes an
 * account keyed by brand + operator (+ sandbox), with billing and payment terms
 * kept in its details. Upsert semantics, one transaction, idempotency-keyed.
 * delete_missing closes the buyer's synced accounts it did not list; dry_run
 * reports what would happen and writes nothing (src/services/account-sync.ts).
 *
 * AdCP 3.1 settings-update entries name an existing account (`account`: an
 * account_id or brand + operator) instead of provisioning one: they may change
 * payment_terms and billing_entity. One that also carries brand, operator or
 * billing fails with UNSUPPORTED_PROVISIONING.
 *
 * AdCP 3.1 account-level notification_configs (creative.status_changed) replace
 * the account's subscribers. A new or changed active subscriber must first
 * prove control of its URL, which takes a POST to it: such a request is stored
 * as a task (status submitted) and the prove_notification_configs job sends the
 * challenges and completes it. A 3.0 caller's entry carrying them fails with
 * UNSUPPORTED_FEATURE rather than having them dropped.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import type { Tx } from '../../db/client.js';
import { insertWorkflowStep, PROVE_JOB_KEY_PREFIX } from '../../db/queries/workflow.js';
import { negotiateVersion } from '../../domain/adcp-release.js';
import { AdcpError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { NotificationConfigSchema } from '../../domain/notification-configs.js';
import { checkWebhookConfig, withoutCredentials } from '../../domain/webhooks.js';
import { enqueueJob } from '../../jobs/enqueue.js';
import { isSettingsUpdate, pushMayReachPrivate, syncAccounts, type ChallengeNeeded, type SyncAccountsInput, type SyncRun } from '../../services/account-sync.js';
import { sealBuyerAuthentication, sealBuyerCredentials, secretBox, secretContext } from '../../services/secret-box.js';
import type { BuyerContext } from '../context.js';
import { defineTool, validationError } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';

type Input = SyncAccountsInput;

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

/** AdCP 3.1 notification_configs, each entry's shape (event types, URLs and proofs are judged per account later). */
const NotificationConfigsShape = z.object({ accounts: z.array(z.looseObject({ notification_configs: z.array(NotificationConfigSchema).optional() })) });

/** A challenge is owed: the sync is rolled back to its savepoint and runs as a task instead. */
class AwaitingProof {
  constructor(readonly challenges: ChallengeNeeded[]) {}
}

/**
 * Store the request as a sync_accounts task (its credentials sealed beside it, not in it) and queue the job that
 * proves the subscribers' URLs and then applies it.
 */
async function submit(tx: Tx, ctx: BuyerContext, input: Input, run: SyncRun, challenges: ChallengeNeeded[]): Promise<Record<string, unknown>> {
  const taskId = newId('task');
  const credentials = secretContext.buyerCredentials(ctx.tenant.id, ctx.principal.id);
  const requestCredentials: Record<string, { schemes?: string[]; credentials?: string }> = {};
  input.accounts.forEach((e, i) =>
    (e.notification_configs as { authentication?: { schemes: string[]; credentials: string } }[] | undefined)?.forEach((c, j) => {
      if (c.authentication) requestCredentials[`accounts/${i}/notification_configs/${j}`] = sealBuyerAuthentication(secretBox(), credentials, c.authentication);
    }),
  );
  const push = input.push_notification_config as Record<string, unknown> | undefined;
  await insertWorkflowStep(tx, {
    id: taskId,
    tenantId: ctx.tenant.id,
    principalId: ctx.principal.id,
    stepType: 'sync_accounts',
    status: 'pending',
    owner: 'system',
    request: withoutCredentials(input as Record<string, unknown>),
    pushNotificationConfig: sealBuyerCredentials(secretBox(), credentials, push ?? null),
    requestCredentials: Object.keys(requestCredentials).length ? requestCredentials : null,
  });
  await enqueueJob(tx, 'prove_notification_configs', { v: 1, tenant_id: ctx.tenant.id, task_id: taskId, account_ids: run.newAccountIds, seller_agent_url: `${ctx.agentUrl}/mcp` }, { jobKey: `${PROVE_JOB_KEY_PREFIX}${taskId}` });
  const urls = [...new Set(challenges.map((c) => c.config.url))];
  return {
    status: 'submitted',
    task_id: taskId,
    ...(input.idempotency_key && { idempotency_key: input.idempotency_key }),
    message: `Proving control of ${urls.length === 1 ? 'the notification URL' : `${urls.length} notification URLs`} (a signed webhook.challenge POST each must be answered with the challenge echoed) before applying this sync. Poll tasks/get with task_id ${taskId}.`,
  };
}

export default defineTool({
  name: 'sync_accounts',
  title: 'Sync accounts',
  description:
    'Declare the advertiser accounts you buy for: accounts[{brand {domain, brand_id?}, operator, billing, payment_terms?, sandbox?}] plus an idempotency_key. Creates or updates one account per brand + operator (+ sandbox) and returns account_id and status for each; use the account_id (or brand + operator) as `account` on create_media_buy. An entry with `account` (account_id, or brand + operator) instead updates the payment_terms or billing_entity of that existing account (AdCP 3.1). AdCP 3.1 notification_configs [{subscriber_id, url (https), event_types ["creative.status_changed"], authentication?, active?}] replace the account\'s webhook subscribers; a new or changed active one must answer a signed webhook.challenge POST first, so such a sync answers status "submitted" with a task_id (poll tasks/get). delete_missing closes your synced accounts not listed; dry_run previews.',
  // billing is required by AdCP; agents often omit it, and operator billing is the common case.
  input: z.preprocess((a) => {
    if (!a || typeof a !== 'object' || !Array.isArray((a as Input).accounts)) return a;
    return { ...a, accounts: (a as Input).accounts.map((x) => (x && typeof x === 'object' && !('billing' in x) && !('account' in x) ? { ...x, billing: 'operator' } : x)) };
  }, RequestSchema) as unknown as z.ZodType<Input>,
  output: z.looseObject({ accounts: z.array(z.looseObject({ action: z.string(), status: z.string() })).optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
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
    const release = negotiateVersion(input);
    if (release === '3.1') {
      const shape = NotificationConfigsShape.safeParse(input);
      if (!shape.success) throw validationError(shape.error.issues, input, NotificationConfigsShape);
    }
    const push = input.push_notification_config as { url?: unknown } | undefined;
    // The task's webhook (sent only when the sync runs as a task) may reach this machine only where every account named is a sandbox one under testing.
    if (push) checkWebhookConfig(push, pushMayReachPrivate(ctx.tenant.settings, input), 'push_notification_config');
    const run = (): SyncRun => ({ release, mode: 'request', newAccountIds: {}, proved: new Map(), now: ctx.now() });
    // A dry run sends no challenge: an active subscriber in its answer is what the sync would ask to prove.
    if (input.dry_run) return ctx.db.transaction(async (tx) => (await syncAccounts(tx, ctx, input, { ...run(), mode: 'complete' })).response);
    try {
      return await idempotentMutation(ctx, 'sync_accounts', input, async (tx) => {
        const r = run();
        const done = await tx
          .transaction(async (sp) => {
            const { response, challenges } = await syncAccounts(sp, ctx, input, r);
            if (challenges.length) throw new AwaitingProof(challenges);
            return response;
          })
          .catch((err: unknown) => {
            if (err instanceof AwaitingProof) return err;
            throw err;
          });
        return done instanceof AwaitingProof ? submit(tx, ctx, input, r, done.challenges) : done;
      });
    } finally {
      ctx.accounts?.forget(ctx.tenant.id);
    }
  },
});
