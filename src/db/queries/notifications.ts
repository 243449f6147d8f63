/** The seller's notification channel (Slack incoming webhook) and what a message about a media buy says. */
import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { tenantNotifications } from '../schema/index.js';
import { secretBox, secretContext } from '../../services/secret-box.js';

/** slackWebhookUrl as stored (sealed when a key is configured): enough to tell whether one is set. */
export async function getNotificationSettings(db: Queryable, tenantId: string): Promise<{ slackWebhookUrl: string | null; consoleUrl: string | null } | undefined> {
  const [row] = await db
    .select({ slackWebhookUrl: tenantNotifications.slackWebhookUrl, consoleUrl: tenantNotifications.consoleUrl })
    .from(tenantNotifications)
    .where(eq(tenantNotifications.tenantId, tenantId));
  return row;
}

/** The Slack URL to post to (opened: it is stored sealed). Only the job that posts reads it. */
export function openSlackWebhook(tenantId: string, stored: string): string {
  return secretBox().open(stored, secretContext.slackWebhook(tenantId));
}

/** The URL is a credential (whoever has it can post to the channel): stored sealed. */
export async function setSlackWebhook(db: Queryable, p: { tenantId: string; url: string | null; consoleUrl: string | null }): Promise<void> {
  const stored = p.url && secretBox().seal(p.url, secretContext.slackWebhook(p.tenantId));
  await db
    .insert(tenantNotifications)
    .values({ tenantId: p.tenantId, slackWebhookUrl: stored, consoleUrl: p.consoleUrl })
    .onConflictDoUpdate({ target: tenantNotifications.tenantId, set: { slackWebhookUrl: stored, consoleUrl: p.consoleUrl, updatedAt: sql`now()` } });
}

export type MediaBuySummary = {
  id: string;
  tenant_name: string;
  buyer_name: string;
  status: string;
  total_budget: string;
  currency: string;
  start_time: string;
  end_time: string;
  buyer_ref: string | null;
  rejection_reason: string | null;
  packages: number;
  task_id: string | null;
};

export async function mediaBuySummary(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<MediaBuySummary | undefined> {
  const rows = await db.execute<MediaBuySummary>(sql`
    select b.id, t.name as tenant_name, pr.name as buyer_name, b.status, b.total_budget::text as total_budget, b.currency,
           b.start_time, b.end_time, b.buyer_ref, b.rejection_reason,
           (select count(*)::int from media_packages k where k.media_buy_id = b.id) as packages,
           (select s.id from workflow_steps s where s.media_buy_id = b.id and s.step_type = 'create_media_buy' order by s.created_at desc limit 1) as task_id
    from media_buys b join principals pr on pr.id = b.principal_id join tenants t on t.id = b.tenant_id
    where b.tenant_id = ${p.tenantId} and b.id = ${p.mediaBuyId}`);
  return rows[0];
}
