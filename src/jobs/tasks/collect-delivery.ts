/**
 * collect_delivery: fetch one buy's delivery from every ad server that booked
 * it (in parallel) and upsert it into delivery_reports, per package per day.
 * Re-reading is harmless (the adapters' reports are read-only and the upsert
 * replaces a day with its latest figures), so retries and overlapping runs are
 * safe. The window starts a few days before the last reported day, because ad
 * servers restate recent days; the first run reads from the flight start.
 * Rows that did arrive are kept even when another ad server fails; a transient
 * failure then throws to retry the whole buy.
 */
import { errorMessage } from '../../domain/errors.js';
import { RESTATEMENT_DAYS } from '../../domain/delivery.js';
import { z } from 'zod';
import { AdapterError, type AdapterDeliveryRequest } from '../../adapters/port.js';
import { brokenDatabaseQuery } from '../../db/client.js';
import { loadDeliveryCollection, upsertAdapterDelivery, type AdapterDeliveryDay, type DeliveryCollectionView } from '../../db/queries/delivery.js';
import { CollectDeliveryPayload } from '../catalog.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const DAY_MS = 86_400_000;

// The ad server's answer is validated like any other input.
const Report = z.array(
  z.object({
    packageId: z.string(),
    day: z.iso.date(),
    impressions: z.number().int().min(0),
    clicks: z.number().int().min(0),
    videoCompletions: z.number().int().min(0).optional(),
    spend: z.string().regex(/^\d+(\.\d+)?$/),
  }),
);


/** From a few days before the oldest "last reported day" among the packages, never before the flight. */
function windowStart(v: DeliveryCollectionView, adapterIds: Set<string>, flightStart: Date): Date {
  const starts = v.packages
    .filter((k) => k.adapter_config_id && adapterIds.has(k.adapter_config_id))
    .map((k) => (k.last_day ? Date.parse(`${k.last_day}T00:00:00Z`) - RESTATEMENT_DAYS * DAY_MS : flightStart.getTime()));
  return new Date(Math.max(flightStart.getTime(), starts.length ? Math.min(...starts) : 0));
}

async function readOrder(deps: TaskDeps, v: DeliveryCollectionView, o: DeliveryCollectionView['orders'][number], window: { from: Date; to: Date }, signal?: AbortSignal): Promise<AdapterDeliveryDay[]> {
  const pkgs = v.packages.filter((k) => k.adapter_config_id === o.adapter_config_id);
  const req: AdapterDeliveryRequest = {
    externalOrderId: o.external_order_id,
    mediaBuyId: v.id,
    packages: pkgs.map((k) => ({ packageId: k.id, ...(o.line_item_ids?.[k.id] && { lineItemId: o.line_item_ids[k.id] }) })),
    ...window,
  };
  const raw = await deps.adapters({ id: o.adapter_config_id, adapterType: o.adapter_type, settings: o.settings }).getDelivery(req, signal);
  const report = Report.safeParse(raw);
  if (!report.success) throw new AdapterError(`malformed delivery report: ${report.error.issues[0]?.message}`, true);
  // An ad server reports only on the lines it holds for us.
  const own = new Set(pkgs.map((k) => k.id));
  return report.data
    .filter((r) => own.has(r.packageId))
    .map((r) => ({ package_id: r.packageId, day: r.day, impressions: r.impressions, clicks: r.clicks, video_completions: r.videoCompletions ?? 0, spend: r.spend }));
}

export async function collectDelivery(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = CollectDeliveryPayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('collect_delivery: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId } = parsed.data;
  const log = deps.logger.child({ task: 'collect_delivery', tenant_id: tenantId, media_buy_id: mediaBuyId, attempt: job.attempts });
  const v = await loadDeliveryCollection(deps.db, { tenantId, mediaBuyId });
  if (!v || v.orders.length === 0) return;
  const [start, end, now] = [new Date(v.start_time), new Date(v.end_time), new Date()];
  const to = new Date(Math.min(end.getTime(), now.getTime()));
  if (to <= start) return;
  const from = windowStart(v, new Set(v.orders.map((o) => o.adapter_config_id)), start);

  const results = await Promise.allSettled(v.orders.map((o) => readOrder(deps, v, o, { from, to }, job.signal)));
  const days = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  const written = await upsertAdapterDelivery(deps.db, { tenantId, mediaBuyId, days });
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  log.debug('delivery collected', { days: days.length, written, failed: failed.length });
  if (failed.length === 0) return;
  // Our database, not the ad server: see fulfil_media_buy.
  const broken = failed.find((f) => brokenDatabaseQuery(f.reason));
  if (broken) throw broken.reason;
  const errors = failed.map((f) => errorMessage(f.reason));
  const transient = failed.some((f) => !(f.reason instanceof AdapterError && f.reason.permanent));
  if (transient && job.attempts < job.maxAttempts) {
    log.warn('delivery collection failed at an ad server; will retry', { errors });
    throw new Error(`delivery collection failed: ${errors.join('; ')}`);
  }
  // Permanent, or out of attempts: the next scheduled collection tries again.
  log.warn('delivery collection failed at an ad server', { errors });
}
