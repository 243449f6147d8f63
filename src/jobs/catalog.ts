/**
 * Task name -> payload schema. Payloads carry ids and a version; the task reloads
 * state from Postgres. A payload that fails its schema is never retried.
 */
import { z } from 'zod';

export const FulfilMediaBuyPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  media_buy_id: z.string().min(1),
});

export const SyncMediaBuyUpdatePayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  media_buy_id: z.string().min(1),
  step_id: z.string().min(1),
});

export const DeliverWebhookPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  delivery_id: z.string().min(1),
});

export const JOBS = {
  fulfil_media_buy: { payload: FulfilMediaBuyPayload, maxAttempts: 8 },
  sync_media_buy_update: { payload: SyncMediaBuyUpdatePayload, maxAttempts: 10 },
  // Backoff e^n s: 8 attempts span about an hour.
  deliver_webhook: { payload: DeliverWebhookPayload, maxAttempts: 8 },
} as const;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['payload']>;
