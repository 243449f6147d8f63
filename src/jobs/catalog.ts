/**
 * Task name -> payload schema. Payloads carry ids and a version; the task reloads
 * state from Postgres. A payload that fails its schema is never retried. The
 * crontab (CRON_ITEMS) schedules the periodic tasks; Graphile Worker gives them
 * a `_cron` payload.
 */
import type { CronItem } from 'graphile-worker';
import { z } from 'zod';

/**
 * One job per part of a buy: its packages at one adapter. A payload without
 * adapter_config_id (queued before orders fanned out) makes the task queue
 * one job per part.
 */
export const FulfilMediaBuyPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  media_buy_id: z.string().min(1),
  adapter_config_id: z.string().min(1).optional(),
});

/** One job per ad server holding a part of the buy; without adapter_config_id, the task queues them. */
export const SyncMediaBuyUpdatePayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  media_buy_id: z.string().min(1),
  step_id: z.string().min(1),
  adapter_config_id: z.string().min(1).optional(),
});

/** A part of a media buy at one adapter (cancel_adapter_order, sync_adapter_creatives). */
export const AdapterPartPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  media_buy_id: z.string().min(1),
  adapter_config_id: z.string().min(1),
});

export const DeliverWebhookPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  delivery_id: z.string().min(1),
});

export const CollectDeliveryPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  media_buy_id: z.string().min(1),
});

/** A message to the seller's Slack (incoming webhook), queued with the event it reports. */
export const NotifySlackPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  event: z.enum(['approval_required', 'fulfilment_failed']),
  media_buy_id: z.string().min(1),
});

/**
 * A sync_accounts task waiting on proof of control of notification URLs (AdCP 3.1): the task's request is
 * reloaded from its workflow step; `account_ids` are the ids decided for the accounts it opens, by entry.
 */
export const ProveNotificationConfigsPayload = z.object({
  v: z.literal(1),
  tenant_id: z.string().min(1),
  task_id: z.string().min(1),
  account_ids: z.record(z.string(), z.string().min(1)),
  /** The agent URL the challenges name (brand.json agents[].url), as the request reached it. */
  seller_agent_url: z.string().min(1),
});

/** What Graphile Worker puts in a crontab job; the tasks read the clock themselves. */
export const CronPayload = z.looseObject({ _cron: z.object({ ts: z.string(), backfilled: z.boolean().optional() }).optional() });

export const JOBS = {
  fulfil_media_buy: { payload: FulfilMediaBuyPayload, maxAttempts: 8 },
  sync_media_buy_update: { payload: SyncMediaBuyUpdatePayload, maxAttempts: 10 },
  // Compensation must get through: backoff e^n s, 10 attempts span about 3.5 hours.
  cancel_adapter_order: { payload: AdapterPartPayload, maxAttempts: 10 },
  sync_adapter_creatives: { payload: AdapterPartPayload, maxAttempts: 8 },
  // Backoff e^n s: 8 attempts span about half an hour (e^1 + ... + e^7 s).
  deliver_webhook: { payload: DeliverWebhookPayload, maxAttempts: 8 },
  collect_delivery: { payload: CollectDeliveryPayload, maxAttempts: 5 },
  // Its challenges are sent once per attempt; the last attempt that fails ends the task failed.
  prove_notification_configs: { payload: ProveNotificationConfigsPayload, maxAttempts: 3 },
  // Backoff e^n s: 6 attempts span about ten minutes.
  notify_slack: { payload: NotifySlackPayload, maxAttempts: 6 },
  // Periodic: a failed run is retried by the next one.
  advance_flights: { payload: CronPayload, maxAttempts: 1 },
  schedule_delivery_collection: { payload: CronPayload, maxAttempts: 3 },
  send_delivery_reports: { payload: CronPayload, maxAttempts: 3 },
  close_stranded_webhooks: { payload: CronPayload, maxAttempts: 3 },
  prune_idempotency_records: { payload: CronPayload, maxAttempts: 3 },
  prune_history: { payload: CronPayload, maxAttempts: 3 },
} as const;

/**
 * The crontab. Identifiers are stable (Graphile Worker remembers them in
 * _private_known_crontabs, so many workers schedule each tick once); no backfill,
 * since each run catches up on everything due; a job key coalesces runs that
 * queue up while the workers are busy.
 */
type CronTask = 'advance_flights' | 'schedule_delivery_collection' | 'send_delivery_reports' | 'close_stranded_webhooks' | 'prune_idempotency_records' | 'prune_history';
const cron = (task: CronTask, match: string): CronItem => ({
  task,
  identifier: task,
  match,
  options: { backfillPeriod: 0, maxAttempts: JOBS[task].maxAttempts, jobKey: `cron:${task}`, jobKeyMode: 'replace' },
});
export const CRON_ITEMS: CronItem[] = [
  cron('advance_flights', '* * * * *'),
  // Five past the hour, so the hour that just ended is in the ad servers' reports.
  cron('schedule_delivery_collection', '5 * * * *'),
  // Delivery reports (reporting_webhook) for windows that closed, after that collection.
  cron('send_delivery_reports', '15 * * * *'),
  // Webhook deliveries left pending by a job that stopped (their sealed credentials are dropped).
  cron('close_stranded_webhooks', '35 * * * *'),
  // Idempotency records past their replay window.
  cron('prune_idempotency_records', '45 * * * *'),
  // Webhook deliveries and audit entries past the seller's retention.
  cron('prune_history', '55 * * * *'),
];

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['payload']>;
