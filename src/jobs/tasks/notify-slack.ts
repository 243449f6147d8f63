/**
 * notify_slack: tell the seller's Slack (an incoming webhook configured per
 * tenant in the console) that a media buy awaits approval or that booking it
 * failed. Queued in the transaction of the event; a tenant without Slack makes
 * it a no-op. 2xx finishes; 429, 5xx and network errors throw to retry with
 * backoff; other 4xx (a revoked or wrong URL) give up. The URL is a
 * credential: it is never logged, and error texts are scrubbed of it.
 */
import { getNotificationSettings, mediaBuySummary, openSlackWebhook, type MediaBuySummary } from '../../db/queries/notifications.js';
import { errorMessage } from '../../domain/errors.js';
import { NotifySlackPayload } from '../catalog.js';
import { getTenant } from '../../db/queries/console.js';
import { postTo, PrivateAddressError } from '../../services/outbound.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const TIMEOUT_MS = 10_000;

/** Slack's mrkdwn needs only these three escaped. */
const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function slackMessage(event: 'approval_required' | 'fulfilment_failed', b: MediaBuySummary, consoleUrl: string | null): { text: string } {
  const flight = `${new Date(b.start_time).toISOString().slice(0, 10)} → ${new Date(b.end_time).toISOString().slice(0, 10)}`;
  const what = `${slackText(b.buyer_name)}: ${slackText(b.total_budget)} ${slackText(b.currency)}, ${b.packages} package${b.packages === 1 ? '' : 's'}, ${flight} (\`${slackText(b.id)}\`)`;
  const link = consoleUrl ? `\n<${consoleUrl.replace(/\/+$/, '')}/admin/${event === 'approval_required' ? 'queue' : `media-buys/${encodeURIComponent(b.id)}`}|Open in the seller console>` : '';
  const text =
    event === 'approval_required'
      ? `:hourglass_flowing_sand: *Media buy awaiting approval* — ${what}${link}`
      : `:warning: *Booking failed at the ad server* — ${what}\n>${slackText(b.rejection_reason ?? 'no reason given')}${link}`;
  return { text };
}

export async function notifySlack(rawPayload: unknown, job: JobInfo, deps: Pick<TaskDeps, 'db' | 'logger'>): Promise<void> {
  const parsed = NotifySlackPayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('notify_slack: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId, event } = parsed.data;
  const log = deps.logger.child({ task: 'notify_slack', tenant_id: tenantId, media_buy_id: mediaBuyId, event, attempt: job.attempts });
  const settings = await getNotificationSettings(deps.db, tenantId);
  if (!settings?.slackWebhookUrl) return;
  let url: string;
  try {
    url = openSlackWebhook(tenantId, settings.slackWebhookUrl);
  } catch (err) {
    log.error('slack notification not sent: the webhook URL could not be opened', { error: errorMessage(err) });
    return;
  }
  const buy = await mediaBuySummary(deps.db, { tenantId, mediaBuyId });
  if (!buy) return;
  // Saving the URL refused private addresses; the address its name resolves to now is checked as it is connected to.
  const allowPrivate = (await getTenant(deps.db, tenantId))?.settings.allow_private_webhooks === true;
  const scrub = (s: string) => s.split(url).join('[slack webhook]');
  let status: number | null = null;
  let error: string | null = null;
  try {
    status = await postTo(url, {
      headers: { 'content-type': 'application/json', 'user-agent': 'adcp-sales-agent' },
      body: JSON.stringify(slackMessage(event, buy, settings.consoleUrl)),
      timeoutMs: TIMEOUT_MS,
      allowPrivate,
    });
  } catch (err) {
    if (err instanceof PrivateAddressError) {
      log.warn('slack notification refused: the webhook does not resolve to a public address');
      return;
    }
    error = scrub(errorMessage(err));
  }
  if (status !== null && status >= 200 && status < 300) {
    log.debug('slack notified');
    return;
  }
  const retryable = status === null || status >= 500 || status === 429;
  if (retryable && job.attempts < job.maxAttempts) {
    log.info('slack notification failed; will retry', { status, error });
    throw new Error(`slack notification failed: ${error ?? `HTTP ${status}`}`);
  }
  log.warn('slack notification failed; giving up', { status, error });
}
