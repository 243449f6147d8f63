/**
 * deliver_webhook: POST one AdCP webhook to the buyer. 2xx delivers; 4xx is the
 * receiver refusing it, so no retry; 5xx, 429 and network errors throw to retry
 * with backoff. Each attempt is logged. The payload (and so its idempotency_key)
 * is the same on every retry; the signature is made afresh for each attempt:
 * the buyer's legacy Bearer/HMAC block if it gave one, else RFC 9421 with the
 * tenant's webhook-signing key (published in /.well-known/jwks.json). The
 * buyer's credentials and validation token are stored sealed and opened only here.
 */
import { getWebhookDelivery, recordWebhookAttempt } from '../../db/queries/webhooks.js';
import { errorMessage } from '../../domain/errors.js';
import { ensureWebhookSigningKey } from '../../db/queries/signing-keys.js';
import { webhookSignatureHeaders } from '../../domain/webhook-signing.js';
import { legacyAuthHeaders } from '../../domain/webhooks.js';
import { postTo, PrivateAddressError } from '../../services/outbound.js';
import { openBuyerCredentials, secretBox, secretContext, SecretKeyError } from '../../services/secret-box.js';
import { DeliverWebhookPayload } from '../catalog.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const TIMEOUT_MS = 10_000;

export async function deliverWebhook(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = DeliverWebhookPayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('deliver_webhook: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const d = await getWebhookDelivery(deps.db, { tenantId: parsed.data.tenant_id, id: parsed.data.delivery_id });
  if (!d || d.status !== 'pending') return;
  const log = deps.logger.child({ task: 'deliver_webhook', delivery_id: d.id, task_id: d.taskId, attempt: job.attempts });
  const started = Date.now();
  const finish = (outcome: 'pending' | 'delivered' | 'failed', statusCode: number | null, error: string | null) =>
    recordWebhookAttempt(deps.db, { id: d.id, attempt: job.attempts, statusCode, error, durationMs: Date.now() - started, outcome });
  /** A failed attempt: retried (throw) while attempts remain and the failure may pass (5xx, 429, network), else final. */
  const failed = async (status: number | null, error: string | null): Promise<void> => {
    const retryable = status === null || status >= 500 || status === 429;
    const last = job.attempts >= job.maxAttempts;
    await finish(retryable && !last ? 'pending' : 'failed', status, error ?? `HTTP ${status}`);
    if (retryable && !last) {
      log.info('webhook delivery failed; will retry', { status, error });
      throw new Error(`webhook delivery failed: ${error ?? `HTTP ${status}`}`);
    }
    log.warn('webhook delivery failed permanently', { status, error });
  };

  const contentType = 'application/json';
  let legacy: typeof d.authentication;
  try {
    legacy = openBuyerCredentials(secretBox(), secretContext.buyerCredentials(d.tenantId, d.principalId), d.authentication);
  } catch (err) {
    // Sealed with a key this process lacks (a worker started without the new key during a rotation): a retry,
    // perhaps on another worker, may open them. Damaged: nothing will. The reason goes to the log only.
    if (err instanceof SecretKeyError && err.reason === 'unknown_key' && job.attempts < job.maxAttempts) {
      log.error('webhook credentials are sealed with a key this process does not have; will retry', { error: errorMessage(err) });
      throw new Error('webhook credentials are sealed with a key this process does not have');
    }
    await finish('failed', null, "the buyer's webhook credentials could not be read");
    log.error('webhook credentials could not be opened', { error: errorMessage(err) });
    return;
  }
  // The buyer's validation token is echoed in the payload; it is stored sealed with the credentials, not in the payload.
  const body = JSON.stringify(legacy?.token !== undefined ? { ...d.payload, token: legacy.token } : d.payload);
  const auth = legacyAuthHeaders(body, legacy) ?? webhookSignatureHeaders({ url: d.url, body, contentType, key: await ensureWebhookSigningKey(deps.db, d.tenantId) });
  let status: number | null = null;
  let error: string | null = null;
  try {
    status = await postTo(d.url, {
      headers: { 'user-agent': 'adcp-sales-agent', ...auth, 'content-type': contentType },
      body,
      timeoutMs: TIMEOUT_MS,
      allowPrivate: d.allowPrivateNetwork,
    });
  } catch (err) {
    if (err instanceof PrivateAddressError) {
      await finish('failed', null, 'the webhook URL resolves to a private or loopback address');
      log.warn('webhook refused: private address');
      return;
    }
    // A name that does not resolve is retried as any network error is.
    error = errorMessage(err);
  }
  if (status !== null && status >= 200 && status < 300) {
    await finish('delivered', status, null);
    return;
  }
  await failed(status, error);
}
