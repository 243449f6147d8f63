/**
 * schedule_delivery_collection (crontab, hourly): enqueue collect_delivery for
 * every buy in flight during the last day that is booked at an ad server, one
 * job per buy (job key collect_delivery:<id>, so a collection still waiting is
 * not doubled). The jobs run behind bookings and updates, which matter more.
 */
import { enqueueDueDeliveryCollections } from '../../db/queries/delivery.js';
import { JOBS } from '../catalog.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

/** Graphile Worker runs lower numbers first; bookings and webhooks use the default 0. */
const COLLECTION_PRIORITY = 10;

export async function scheduleDeliveryCollection(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<number> {
  const n = await enqueueDueDeliveryCollections(deps.db, { now: new Date(), task: 'collect_delivery', maxAttempts: JOBS.collect_delivery.maxAttempts, priority: COLLECTION_PRIORITY });
  deps.logger.info('schedule_delivery_collection: collections enqueued', { media_buys: n });
  return n;
}
