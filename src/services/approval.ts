/**
 * The seller's decision on a media buy awaiting approval. Approving enqueues the
 * same fulfil_media_buy jobs (one per adapter) as the auto path, in the same transaction as the
 * decision; the buy and the step are locked, so of two operators deciding at once exactly one wins.
 */
import type { Db, Tx } from '../db/client.js';
import { mediaBuyHasCreatives } from '../db/queries/creatives.js';
import { lockMediaBuy, updateMediaBuy, type MediaBuyRow, type WorkflowStepRow } from '../db/queries/media-buys.js';
import { getWorkflowStep, lockWorkflowStep, updateWorkflowStep } from '../db/queries/workflow.js';
import { publishChange } from '../db/notify.js';
import { releaseOf } from '../domain/adcp-release.js';
import { initialStatus } from '../domain/status.js';
import { enqueueFulfilment } from '../jobs/fan-out.js';
import { allowsPrivateWebhooks } from '../db/queries/accounts.js';
import type { PushConfig } from '../domain/webhooks.js';
import { queueTaskWebhook } from './webhooks.js';

export type DecisionResult = { ok: true; mediaBuyId: string } | { ok: false; reason: 'not_found' | 'already_decided' | 'changed'; status?: string; revision?: number };

type Pending = { step: WorkflowStepRow; buy: MediaBuyRow };

/**
 * Runs inside the decision's transaction once it is taken (the console writes its audit entry here).
 * The buyer hears that the seller decided, never which operator or API key (`actor` stays in the audit log).
 */
export type OnDecided = (tx: Tx, decided: { mediaBuyId: string; principalId: string }) => Promise<void>;

/**
 * Lock the step and its buy, and run `decide` only if the step still awaits approval and, when the decider says
 * which revision of the buy it reviewed (`expectedRevision`), the buy is still at it: a buyer's update_media_buy
 * between the review and the decision must not be approved unseen.
 */
async function decide(db: Db, p: { tenantId: string; taskId: string; expectedRevision?: number; onDecided?: OnDecided }, fn: (tx: Tx, pending: Pending) => Promise<void>): Promise<DecisionResult> {
  return db.transaction(async (tx) => {
    // The buy first, then its step: the order a buyer's update_media_buy takes them in (its cancel closes the step),
    // so a decision and a cancel at the same moment queue up rather than deadlock.
    const found = await getWorkflowStep(tx, { tenantId: p.tenantId, id: p.taskId });
    if (!found?.mediaBuyId) return { ok: false, reason: 'not_found' } as const;
    const buy = await lockMediaBuy(tx, { tenantId: p.tenantId, id: found.mediaBuyId });
    const step = await lockWorkflowStep(tx, { tenantId: p.tenantId, id: p.taskId });
    if (!buy || !step) return { ok: false, reason: 'not_found' } as const;
    if (step.status !== 'requires_approval') return { ok: false, reason: 'already_decided', status: step.status } as const;
    if (p.expectedRevision !== undefined && buy.revision !== p.expectedRevision) return { ok: false, reason: 'changed', revision: buy.revision } as const;
    await fn(tx, { step, buy });
    await p.onDecided?.(tx, { mediaBuyId: buy.id, principalId: buy.principalId });
    return { ok: true, mediaBuyId: buy.id } as const;
  });
}

export function approveMediaBuy(db: Db, p: { tenantId: string; taskId: string; actor: string; expectedRevision?: number; onDecided?: OnDecided }): Promise<DecisionResult> {
  return decide(db, p, async (tx, { step, buy }) => {
    const status = initialStatus(await mediaBuyHasCreatives(tx, { tenantId: p.tenantId, mediaBuyId: buy.id }));
    await updateWorkflowStep(tx, { tenantId: p.tenantId, id: step.id }, { status: 'pending', owner: 'system' });
    await updateMediaBuy(tx, { tenantId: p.tenantId, id: buy.id }, { status, confirmedAt: new Date() });
    await enqueueFulfilment(tx, { tenantId: p.tenantId, mediaBuyId: buy.id });
    await publishChange(tx, { tenant_id: p.tenantId, principal_id: buy.principalId, media_buy_id: buy.id, task_id: step.id, status, summary: 'approved by the seller' });
  });
}

export function rejectMediaBuy(db: Db, p: { tenantId: string; taskId: string; actor: string; reason: string; expectedRevision?: number; onDecided?: OnDecided }): Promise<DecisionResult> {
  return decide(db, p, async (tx, { step, buy }) => {
    const error = { code: 'POLICY_VIOLATION', message: `Rejected by the seller: ${p.reason}`, recovery: 'correctable' };
    await updateWorkflowStep(tx, { tenantId: p.tenantId, id: step.id }, { status: 'rejected', owner: 'buyer', error });
    await updateMediaBuy(tx, { tenantId: p.tenantId, id: buy.id }, { status: 'rejected', rejectionReason: p.reason, revision: buy.revision + 1 });
    await publishChange(tx, { tenant_id: p.tenantId, principal_id: buy.principalId, media_buy_id: buy.id, task_id: step.id, status: 'rejected', summary: `rejected by the seller: ${p.reason}` });
    await queueTaskWebhook(tx, {
      tenantId: p.tenantId,
      principalId: buy.principalId,
      taskId: step.id,
      taskType: step.stepType,
      mediaBuyId: buy.id,
      status: 'rejected',
      message: error.message,
      // The task's error as tasks/get gives it, as a create_media_buy error response.
      result: { errors: [error] },
      release: releaseOf(step.request),
      context: step.request?.context,
      push: step.pushNotificationConfig as PushConfig | null,
      allowPrivateNetwork: !!step.pushNotificationConfig && (await allowsPrivateWebhooks(tx, { tenantId: p.tenantId, accountId: buy.accountId })),
    });
  });
}
