/**
 * AdCP 3.1 account-level notification subscribers (sync_accounts
 * accounts[].notification_configs), pure: which event types this seller fires
 * on that surface, the per-account checks of a submitted set (duplicates, event
 * types, the URL: parsed, https, normalized, no reserved address), the
 * proof-of-control tuple a challenge binds, the challenge itself and how the
 * applied set is echoed (credentials never).
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AdcpError, type AdcpErrorBody } from './errors.js';
import { checkCredentials, checkWebhookUrl } from './webhooks.js';

/** Account-anchored types this seller fires. Each one accepted here must be delivered (src/services/account-notifications.ts). */
export const FIRED_EVENT_TYPES = ['creative.status_changed'] as const;
/** Account-anchored types AdCP 3.1 defines that this seller never fires (no purges, no wholesale feed pushes). */
const UNFIRED_ACCOUNT_TYPES = new Set(['creative.purged', 'product.created', 'product.updated', 'product.priced', 'product.removed', 'signal.created', 'signal.updated', 'signal.priced', 'signal.removed', 'wholesale_feed.bulk_change']);
/** Types anchored at a media buy: they belong on push_notification_config / reporting_webhook, never here. */
const MEDIA_BUY_TYPES = new Set(['scheduled', 'final', 'delayed', 'adjusted', 'impairment']);
export const MAX_NOTIFICATION_CONFIGS = 16;

/** One entry as AdCP 3.1 shapes it (core/notification-config.json); event types are judged one by one below. */
export const NotificationConfigSchema = z.strictObject({
  subscriber_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'Must be 1 to 64 letters, digits, or _ . : -'),
  url: z.string().min(1),
  event_types: z.array(z.string()).min(1),
  authentication: z.strictObject({ schemes: z.array(z.enum(['Bearer', 'HMAC-SHA256'])).length(1), credentials: z.string().min(32) }).optional(),
  active: z.boolean().optional(),
  ext: z.looseObject({}).optional(),
});
export type NotificationConfigInput = z.infer<typeof NotificationConfigSchema>;

/** A subscriber as stored: URL normalized, event types in the order sent, credentials in the clear (sealed by the query layer). */
export interface NotificationConfig {
  subscriberId: string;
  url: string;
  eventTypes: string[];
  authentication: { schemes: string[]; credentials: string } | null;
  active: boolean;
}

export type DeliveryAuth = { mode: 'rfc9421' } | { mode: 'Bearer' | 'HMAC-SHA256'; credential_fingerprint: string };

export function deliveryAuthOf(c: Pick<NotificationConfig, 'authentication'>): DeliveryAuth {
  if (!c.authentication) return { mode: 'rfc9421' };
  return { mode: c.authentication.schemes[0] as 'Bearer' | 'HMAC-SHA256', credential_fingerprint: createHash('sha256').update(c.authentication.credentials).digest('hex') };
}

/**
 * The tuple a proof of control covers (AdCP: account, subscriber, normalized URL, delivery auth and credential
 * binding, normalized event types), hashed: a stored proof is reused only for the same hash.
 */
export function proofKey(accountId: string, c: NotificationConfig): string {
  const tuple = [accountId, c.subscriberId, c.url, deliveryAuthOf(c), [...c.eventTypes].sort()];
  return createHash('sha256').update(JSON.stringify(tuple)).digest('hex');
}

const failure = (code: string, message: string, field: string, suggestion: string): AdcpErrorBody => ({ code, message, field, suggestion, recovery: 'correctable' });

/**
 * A submitted set, checked as AdCP asks of the seller before anything is stored: the first problem is the
 * account entry's failure (`error`); otherwise the set, normalized. `field` is accounts[i].notification_configs.
 */
export function checkNotificationConfigs(entries: NotificationConfigInput[], field: string, allowPrivate: boolean): { error: AdcpErrorBody } | { configs: NotificationConfig[] } {
  if (entries.length > MAX_NOTIFICATION_CONFIGS) {
    return { error: failure('VALIDATION_ERROR', `At most ${MAX_NOTIFICATION_CONFIGS} notification subscribers per account.`, field, 'Send 16 subscribers or fewer.') };
  }
  const seen = new Set<string>();
  const configs: NotificationConfig[] = [];
  for (const [j, e] of entries.entries()) {
    const at = `${field}[${j}]`;
    if (seen.has(e.subscriber_id)) {
      return { error: failure('VALIDATION_ERROR', `subscriber_id "${e.subscriber_id}" appears twice in this account's notification_configs.`, `${at}.subscriber_id`, 'List each subscriber once.') };
    }
    seen.add(e.subscriber_id);
    const types = new Set<string>();
    for (const [k, t] of e.event_types.entries()) {
      const tf = `${at}.event_types[${k}]`;
      if (types.has(t)) return { error: failure('VALIDATION_ERROR', `Event type "${t}" is listed twice.`, tf, 'List each event type once.') };
      types.add(t);
      if (MEDIA_BUY_TYPES.has(t)) {
        return { error: failure('VALIDATION_ERROR', `"${t}" is a media buy notification; it is not delivered to account subscribers.`, tf, 'Ask for it with the media buy: push_notification_config or reporting_webhook on create_media_buy.') };
      }
      if (UNFIRED_ACCOUNT_TYPES.has(t)) {
        return { error: failure('UNSUPPORTED_FEATURE', `This seller does not send "${t}" notifications.`, tf, `Subscribe to ${FIRED_EVENT_TYPES.join(', ')} only.`) };
      }
      if (!(FIRED_EVENT_TYPES as readonly string[]).includes(t)) {
        return { error: failure('VALIDATION_ERROR', `"${t}" is not an account notification type.`, tf, `Subscribe to ${FIRED_EVENT_TYPES.join(', ')}.`) };
      }
    }
    let url: string;
    try {
      url = checkWebhookUrl(e.url, allowPrivate, `${at}.url`, { httpsOnly: true });
      checkCredentials(e.authentication, `${at}.authentication`);
    } catch (err) {
      if (err instanceof AdcpError) return { error: err.toJSON() };
      throw err;
    }
    configs.push({ subscriberId: e.subscriber_id, url, eventTypes: e.event_types, authentication: e.authentication ? { schemes: e.authentication.schemes, credentials: e.authentication.credentials } : null, active: e.active ?? true });
  }
  return { configs };
}

/** An applied subscriber as AdCP echoes it (sync_accounts, list_accounts): authentication without its credentials. */
export function echoNotificationConfig(c: Pick<NotificationConfig, 'subscriberId' | 'url' | 'eventTypes' | 'active'> & { authentication: { schemes?: string[] } | null }): Record<string, unknown> {
  return {
    subscriber_id: c.subscriberId,
    url: c.url,
    event_types: c.eventTypes,
    ...(c.authentication?.schemes && { authentication: { schemes: c.authentication.schemes } }),
    active: c.active,
  };
}

/** The proof-of-control challenge (core/webhook-challenge.json) for one subscriber; `challenge` is fresh and random. */
export function webhookChallenge(p: { accountId: string; sellerAgentUrl: string; config: NotificationConfig }): Record<string, unknown> {
  return {
    type: 'webhook.challenge',
    challenge: randomBytes(32).toString('base64url'),
    account_id: p.accountId,
    subscriber_id: p.config.subscriberId,
    seller_agent_url: p.sellerAgentUrl,
    delivery_auth: deliveryAuthOf(p.config),
    event_types: p.config.eventTypes,
  };
}

/** Did the receiver echo the challenge (core/webhook-challenge-response.json: exactly one of challenge or token)? */
export function challengeAnswered(challenge: string, body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
  const { challenge: c, token: t } = parsed as { challenge?: unknown; token?: unknown };
  if (c !== undefined && t !== undefined) return false;
  return (c ?? t) === challenge;
}
