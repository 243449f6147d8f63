/** Webhook deliveries: queued in the caller's transaction together with the job that sends them. */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { webhookAttempts, webhookDeliveries } from '../schema/index.js';
import { addNewJobsSql, jobSpec } from '../../jobs/fan-out.js';

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;

/** A delivery's deliver_webhook job is keyed by this and the delivery's id. */
export const WEBHOOK_JOB_KEY_PREFIX = 'webhook:';

/**
 * Deliveries to one buyer share WEBHOOK_LANES named queues (Graphile Worker runs a queue's jobs one at a
 * time), so a buyer whose receiver hangs holds at most that many worker slots (10 s each attempt) and other
 * buyers' bookings and webhooks go on. A task's deliveries keep to one lane: they go out in order.
 */
export const WEBHOOK_LANES = 4;
export function webhookQueue(principalId: string, taskId: string): string {
  let h = 0;
  for (let i = 0; i < taskId.length; i++) h = (h * 31 + taskId.charCodeAt(i)) | 0;
  return `webhooks:${principalId.slice(0, 100)}:${Math.abs(h) % WEBHOOK_LANES}`; // Graphile Worker takes queue names up to 128 characters
}

export async function queueWebhook(
  db: Queryable,
  w: {
    id: string;
    tenantId: string;
    principalId: string;
    taskId: string;
    mediaBuyId: string | null;
    url: string;
    authentication: { schemes?: string[]; credentials?: string; token?: string } | null;
    payload: Record<string, unknown>;
    allowPrivateNetwork: boolean;
  },
): Promise<void> {
  const job = jobSpec('deliver_webhook', { v: 1, tenant_id: w.tenantId, delivery_id: w.id }, `${WEBHOOK_JOB_KEY_PREFIX}${w.id}`, { queue: webhookQueue(w.principalId, w.taskId) });
  await db.execute(sql`
    with d as (
      insert into webhook_deliveries (id, tenant_id, principal_id, task_id, media_buy_id, url, authentication, payload, idempotency_key, sequence, allow_private_network)
      select ${w.id}, ${w.tenantId}, ${w.principalId}, ${w.taskId}, ${w.mediaBuyId}, ${w.url}, ${w.authentication ? JSON.stringify(w.authentication) : null}::jsonb,
             ${JSON.stringify(w.payload)}::jsonb, ${String(w.payload.idempotency_key)},
             coalesce((select max(sequence) from webhook_deliveries where task_id = ${w.taskId}), 0) + 1, ${w.allowPrivateNetwork}
      returning id
    )
    select ${addNewJobsSql([job])} from d`);
}

export async function getWebhookDelivery(db: Queryable, p: { tenantId: string; id: string }): Promise<WebhookDeliveryRow | undefined> {
  const [row] = await db.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.tenantId, p.tenantId), eq(webhookDeliveries.id, p.id)));
  return row;
}

export async function recordWebhookAttempt(
  db: Queryable,
  p: { id: string; attempt: number; statusCode: number | null; error: string | null; durationMs: number; outcome: 'pending' | 'delivered' | 'failed' },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(webhookAttempts).values({ deliveryId: p.id, attempt: p.attempt, statusCode: p.statusCode, error: p.error, durationMs: p.durationMs });
    await tx
      .update(webhookDeliveries)
      .set({
        status: p.outcome,
        attempts: p.attempt,
        lastStatusCode: p.statusCode,
        lastError: p.error,
        ...(p.outcome === 'delivered' && { deliveredAt: sql`now()` }),
        // Delivered or given up: nothing signs with the buyer's credentials again, so they are not kept.
        ...(p.outcome !== 'pending' && { authentication: null }),
      })
      .where(eq(webhookDeliveries.id, p.id));
  });
}

/**
 * Deliveries left `pending` with nobody to send them: their job has given up (Graphile Worker keeps a job
 * whose attempts ran out, unlocked) or is gone (dropped as invalid, or removed by hand). The task settles
 * every outcome it reaches itself; this catches a last attempt that threw before it could (our database
 * failing at that moment, say). They become `failed`, and the buyer's sealed credentials are not kept.
 * A job still waiting for a retry, or running, leaves its delivery alone.
 */
export async function closeStrandedDeliveries(db: Queryable, limit = 1000): Promise<{ id: string }[]> {
  return db.execute<{ id: string }>(sql`
    update webhook_deliveries d
    set status = 'failed', authentication = null,
        last_error = coalesce(d.last_error || '; ', '') || 'the delivery job stopped without sending it'
    where d.id in (
      select s.id from webhook_deliveries s
      where s.status = 'pending'
        and not exists (select 1 from graphile_worker._private_jobs j
                        where j.key = ${WEBHOOK_JOB_KEY_PREFIX} || s.id and (j.attempts < j.max_attempts or j.locked_at is not null))
      order by s.created_at
      limit ${limit}
      for update skip locked
    ) and d.status = 'pending'
    returning d.id`);
}

/**
 * Retention: deletes a batch of ended deliveries (delivered, or failed for good) created more than
 * `olderThanDays` ago, with their attempt logs (on delete cascade); pending ones are left to their job
 * (or to closeStrandedDeliveries). Each tenant's are found on its (tenant_id, created_at) index, so a run
 * reads only what it deletes. Ended rows are never written again, so no lock is needed to pick them.
 */
export async function pruneWebhookDeliveries(db: Queryable, p: { olderThanDays: number; limit: number }): Promise<number> {
  const rows = await db.execute(sql`
    delete from webhook_deliveries where id = any(array(
      select d.id from tenants t, lateral (
        select w.id from webhook_deliveries w
        where w.tenant_id = t.id and w.created_at < now() - make_interval(days => ${p.olderThanDays}) and w.status in ('delivered', 'failed')
        limit ${p.limit}) d
      limit ${p.limit}))
    returning 1`);
  return rows.length;
}
