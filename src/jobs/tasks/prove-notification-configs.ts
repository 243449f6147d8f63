/**
 * prove_notification_configs: completes a sync_accounts task (AdCP 3.1) whose
 * new or changed active notification subscribers must prove control of their
 * URLs. Each gets one webhook.challenge POST, signed (RFC 9421) with the
 * tenant's webhook key, and proves control by answering 2xx with the challenge
 * echoed. Then, in one transaction, the sync runs as the request asked, a
 * subscriber without proof failing its account entry (which stays as it was),
 * and the task completes with that answer, its webhook queued.
 *
 * No transaction is open while the challenges are out. A retry (the database
 * failing under it) sends fresh challenges; the last failed attempt ends the
 * task failed, so a buyer never polls a task nobody will finish.
 */
import { and, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { findPrincipal } from '../../db/queries/principals.js';
import { ensureWebhookSigningKey, type SigningKey } from '../../db/queries/signing-keys.js';
import { lockWorkflowStep, updateWorkflowStep } from '../../db/queries/workflow.js';
import { workflowSteps } from '../../db/schema/index.js';
import { releaseOf } from '../../domain/adcp-release.js';
import { errorMessage } from '../../domain/errors.js';
import { challengeAnswered, webhookChallenge } from '../../domain/notification-configs.js';
import { webhookSignatureHeaders } from '../../domain/webhook-signing.js';
import type { PushConfig } from '../../domain/webhooks.js';
import { pushMayReachPrivate, syncAccounts, type ChallengeNeeded, type SyncAccountsInput, type SyncRun } from '../../services/account-sync.js';
import { postForBody } from '../../services/outbound.js';
import { openBuyerCredentials, secretBox, secretContext } from '../../services/secret-box.js';
import { queueTaskWebhook } from '../../services/webhooks.js';
import type { AccountCaller } from '../../mcp/resolve-account.js';
import { ProveNotificationConfigsPayload } from '../catalog.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

/** AdCP's outbound fetch caps: 10 s to connect and answer. */
const CHALLENGE_TIMEOUT_MS = 10_000;
/**
 * Challenges out at once: two accounts' worth of subscribers (16 each) within one timeout, but never a socket for
 * every subscriber of a request naming hundreds of accounts, which would run the worker out of file descriptors
 * (its database connections and other jobs' webhooks with it) and aim thousands of POSTs at once at the URLs given.
 */
export const CHALLENGES_AT_ONCE = 32;

/** `send` for each challenge, at most CHALLENGES_AT_ONCE at a time; the answers in the challenges' order. */
async function sendAll(challenges: ChallengeNeeded[], send: (c: ChallengeNeeded) => Promise<boolean>): Promise<boolean[]> {
  const answered: boolean[] = [];
  let next = 0;
  const lane = async () => {
    while (next < challenges.length) {
      const i = next++;
      answered[i] = await send(challenges[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHALLENGES_AT_ONCE, challenges.length) }, lane));
  return answered;
}
const OPEN = ['pending', 'in_progress'];

class Probed {
  constructor(readonly challenges: ChallengeNeeded[]) {}
}

/** The request as the buyer sent it: its credentials, kept sealed beside it, put back. */
function restoreRequest(request: Record<string, unknown>, sealed: Record<string, Record<string, unknown>> | null, context: string): SyncAccountsInput {
  const input = structuredClone(request) as SyncAccountsInput;
  for (const [path, auth] of Object.entries(sealed ?? {})) {
    const [, i, , j] = path.split('/');
    const config = (input.accounts[Number(i)]?.notification_configs as Record<string, unknown>[] | undefined)?.[Number(j)];
    if (config) config.authentication = openBuyerCredentials(secretBox(), context, auth);
  }
  return input;
}

/** One challenge: true when the receiver echoed it. What went wrong is logged, never told to the buyer (AdCP: no network probing). */
async function challenge(c: ChallengeNeeded, sellerAgentUrl: string, key: SigningKey, log: TaskDeps['logger']): Promise<boolean> {
  const payload = webhookChallenge({ accountId: c.accountId, sellerAgentUrl, config: c.config });
  const body = JSON.stringify(payload);
  const contentType = 'application/json';
  try {
    const res = await postForBody(c.config.url, {
      headers: { 'user-agent': 'adcp-sales-agent', ...webhookSignatureHeaders({ url: c.config.url, body, contentType, key }), 'content-type': contentType },
      body,
      timeoutMs: CHALLENGE_TIMEOUT_MS,
      allowPrivate: c.allowPrivate,
    });
    const ok = res.status >= 200 && res.status < 300 && challengeAnswered(payload.challenge as string, res.body);
    if (!ok) log.info('notification URL did not prove control', { account_id: c.accountId, subscriber_id: c.config.subscriberId, status: res.status });
    return ok;
  } catch (err) {
    log.info('notification URL challenge failed', { account_id: c.accountId, subscriber_id: c.config.subscriberId, error: errorMessage(err) });
    return false;
  }
}

export async function proveNotificationConfigs(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = ProveNotificationConfigsPayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('prove_notification_configs: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, task_id: taskId, account_ids: accountIds, seller_agent_url: sellerAgentUrl } = parsed.data;
  const log = deps.logger.child({ task: 'prove_notification_configs', tenant_id: tenantId, task_id: taskId, attempt: job.attempts });
  const [step] = await deps.db.select().from(workflowSteps).where(and(eq(workflowSteps.tenantId, tenantId), eq(workflowSteps.id, taskId)));
  if (!step || !OPEN.includes(step.status) || !step.principalId || !step.request) return;
  const principalId = step.principalId;
  const release = releaseOf(step.request);
  try {
    const who = await findPrincipal(deps.db, { tenantId, principalId });
    if (!who) return; // the buyer is gone, and its tasks with it
    if (who.suspended) {
      // No challenges go out for a suspended buyer: its sync ends with nothing changed, as its calls do.
      await failSyncTask(deps.db, { tenantId, taskId }, SUSPENDED);
      log.info('prove_notification_configs: the buyer is suspended; the sync fails');
      return;
    }
    const caller: AccountCaller = { tenant: who.tenant, principal: who.principal, db: deps.db };
    const input = restoreRequest(step.request, step.requestCredentials, secretContext.buyerCredentials(tenantId, principalId));
    await updateWorkflowStep(deps.db, { tenantId, id: taskId, fromStatuses: ['pending'] }, { status: 'in_progress' });
    const run = (mode: SyncRun['mode'], proved: Map<string, string>): SyncRun => ({ release, mode, newAccountIds: { ...accountIds }, proved, now: new Date() });
    // Which subscribers need proof now: the sync as the request would run it, rolled back.
    const challenges = await deps.db
      .transaction(async (tx) => {
        throw new Probed((await syncAccounts(tx, caller, input, run('request', new Map()))).challenges);
      })
      .catch((err: unknown) => {
        if (err instanceof Probed) return err.challenges;
        throw err;
      });
    const key = challenges.length ? await ensureWebhookSigningKey(deps.db, tenantId) : undefined;
    const proved = new Map<string, string>();
    // Together (up to CHALLENGES_AT_ONCE): up to 16 subscribers an account, each given up to 10 s to answer.
    const answered = await sendAll(challenges, (c) => challenge(c, sellerAgentUrl, key!, log));
    challenges.forEach((c, i) => answered[i] && proved.set(`${c.entry}/${c.config.subscriberId}`, c.key));
    await deps.db.transaction(async (tx) => {
      const locked = await lockWorkflowStep(tx, { tenantId, id: taskId });
      if (!locked || !OPEN.includes(locked.status)) return;
      const { response } = await syncAccounts(tx, caller, input, run('complete', proved));
      await updateWorkflowStep(tx, { tenantId, id: taskId }, { status: 'completed', response });
      await queueTaskWebhook(tx, {
        tenantId,
        principalId,
        taskId,
        taskType: 'sync_accounts',
        mediaBuyId: null,
        status: 'completed',
        result: response,
        release,
        context: step.request?.context,
        push: locked.pushNotificationConfig as PushConfig | null,
        allowPrivateNetwork: pushMayReachPrivate(who.tenant.settings, input),
      });
    });
  } catch (err) {
    if (job.attempts < job.maxAttempts) throw err;
    log.error('prove_notification_configs: giving up; the task fails', { error: errorMessage(err) });
    await failSyncTask(deps.db, { tenantId, taskId });
  }
}

const UNAVAILABLE = { code: 'SERVICE_UNAVAILABLE', message: 'The sync could not be completed; nothing was changed. Send sync_accounts again.', recovery: 'transient' };
const SUSPENDED = { code: 'AGENT_SUSPENDED', message: 'This buyer is suspended by the seller; the sync was not applied.', recovery: 'terminal' };

/**
 * Ends a sync_accounts task failed with `error` (by default: could not be completed, send it again), with its
 * webhook, if it is still open; the trigger drops the credentials it kept. Returns whether it was. The job calls it
 * for a suspended buyer and on its last failed attempt; close_stranded_webhooks for a task its job will not finish
 * (the attempts ran out on an error it could not record, or its worker died in the last one).
 */
export async function failSyncTask(db: Database['db'], p: { tenantId: string; taskId: string }, error = UNAVAILABLE): Promise<boolean> {
  const [step] = await db.select().from(workflowSteps).where(and(eq(workflowSteps.tenantId, p.tenantId), eq(workflowSteps.id, p.taskId)));
  if (!step || !OPEN.includes(step.status)) return false;
  const request = (step.request ?? { accounts: [] }) as SyncAccountsInput;
  const principalId = step.principalId;
  const settings = principalId ? ((await findPrincipal(db, { tenantId: p.tenantId, principalId }))?.tenant.settings ?? {}) : {};
  return db.transaction(async (tx) => {
    const locked = await lockWorkflowStep(tx, { tenantId: p.tenantId, id: p.taskId });
    if (!locked || !OPEN.includes(locked.status)) return false;
    await updateWorkflowStep(tx, { tenantId: p.tenantId, id: p.taskId }, { status: 'failed', error });
    if (principalId) {
      await queueTaskWebhook(tx, {
        tenantId: p.tenantId,
        principalId,
        taskId: p.taskId,
        taskType: 'sync_accounts',
        mediaBuyId: null,
        status: 'failed',
        result: { errors: [error] },
        release: releaseOf(step.request ?? {}),
        context: request.context,
        push: locked.pushNotificationConfig as PushConfig | null,
        allowPrivateNetwork: pushMayReachPrivate(settings, request),
      });
    }
    return true;
  });
}
