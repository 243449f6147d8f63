/**
 * AdCP 3.1 account-anchored notifications: a creative.status_changed fire
 * (creative/creative-status-changed-webhook.json) queued, in the caller's
 * transaction, for each active subscriber of the creative's account that asked
 * for it, and sent by deliver_webhook like any webhook (signed, retried, logged).
 *
 * Only transitions made on the seller's side fire (a reviewer's decision, the
 * compliance test controller acting as the seller); what the buyer does itself
 * (sync_creatives: uploads, resubmits, archives) is answered on its own call.
 */
import type { Queryable } from '../db/client.js';
import { allowsPrivateWebhooks } from '../db/queries/accounts.js';
import { subscribersTo } from '../db/queries/notification-configs.js';
import { queueWebhook } from '../db/queries/webhooks.js';
import { hashJson, newId } from '../domain/ids.js';
import { randomUUID } from 'node:crypto';

export const CREATIVE_STATUS_CHANGED = 'creative.status_changed';

/** The transitions the payload may carry (from -> to), each with the reason AdCP gives it. */
const TRANSITIONS: Record<string, Record<string, string>> = {
  // Processing passed has no code of its own; review_passed is AdCP's default for a clean outcome.
  processing: { pending_review: 'review_passed', rejected: 'processing_failure' },
  pending_review: { approved: 'review_passed', rejected: 'review_failure' },
  approved: { pending_review: 'seller_rereview', suspended: 'identity_authorization_revoked', rejected: 'policy_revocation', archived: 'seller_archive' },
  suspended: { approved: 'review_passed', rejected: 'identity_authorization_revoked' },
};

/** The stream a subscriber's fires keep to (webhook_deliveries.task_id): one lane, so they arrive in order. */
export const subscriberStream = (accountId: string, subscriberId: string) => `notifications:${accountId}:${subscriberId}`;

/**
 * Queue the fires of one creative's status change (none when its account has no subscriber to them, or the
 * transition is not one the event reports). Returns how many were queued.
 */
export async function queueCreativeStatusChanged(
  db: Queryable,
  p: { tenantId: string; principalId: string; creativeId: string; accountId: string | null | undefined; from: string; to: string; reasonDetail?: string; initiator: 'seller' | 'system'; observedAt: Date },
): Promise<number> {
  const reasonCode = TRANSITIONS[p.from]?.[p.to];
  if (!p.accountId || !reasonCode) return 0;
  const subscribers = await subscribersTo(db, { tenantId: p.tenantId, principalId: p.principalId, accountId: p.accountId, eventType: CREATIVE_STATUS_CHANGED });
  if (subscribers.length === 0) return 0;
  const allowPrivateNetwork = await allowsPrivateWebhooks(db, { tenantId: p.tenantId, accountId: p.accountId });
  const observedAt = p.observedAt.toISOString();
  // Stable per (creative, transition): a re-emission of this one reuses it, under a new idempotency_key.
  const notificationId = `cs_${hashJson([p.creativeId, p.from, p.to, observedAt]).slice(0, 32)}`;
  for (const s of subscribers) {
    await queueWebhook(db, {
      id: newId('whd'),
      tenantId: p.tenantId,
      principalId: p.principalId,
      taskId: subscriberStream(p.accountId, s.subscriberId),
      mediaBuyId: null,
      url: s.url,
      // Sealed as stored; deliver_webhook opens them to sign (Bearer / HMAC), else it signs with RFC 9421.
      authentication: s.authentication,
      payload: {
        idempotency_key: `whk_${randomUUID()}`,
        notification_id: notificationId,
        notification_type: CREATIVE_STATUS_CHANGED,
        fired_at: new Date().toISOString(),
        subscriber_id: s.subscriberId,
        account_id: p.accountId,
        creative_id: p.creativeId,
        transition: { from: p.from, to: p.to, observed_at: observedAt },
        reason_code: reasonCode,
        ...(p.reasonDetail && { reason_detail: p.reasonDetail.slice(0, 500) }),
        initiator: p.initiator,
      },
      allowPrivateNetwork,
    });
  }
  return subscribers.length;
}
