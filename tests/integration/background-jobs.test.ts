/**
 * The periodic background work: delivery collection from the ad servers
 * (collect_delivery, schedule_delivery_collection) and flight-date transitions
 * (advance_flights). The tasks are called directly, as a worker would; the
 * crontab is checked on a real worker start. Also: a worker frees the jobs of
 * a pool that died before its first heartbeat.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseCronItems } from 'graphile-worker';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMockAdapter } from '../../src/adapters/mock/mock-adapter.js';
import type { AdapterOrderRequest } from '../../src/adapters/port.js';
import { CRON_ITEMS } from '../../src/jobs/catalog.js';
import { advanceFlights } from '../../src/jobs/tasks/advance-flights.js';
import { collectDelivery } from '../../src/jobs/tasks/collect-delivery.js';
import { fulfilMediaBuy, type TaskDeps } from '../../src/jobs/tasks/fulfil-media-buy.js';
import { scheduleDeliveryCollection } from '../../src/jobs/tasks/schedule-delivery-collection.js';
import { syncMediaBuyUpdate } from '../../src/jobs/tasks/sync-media-buy-update.js';
import { INTERRUPTED_RETRIES, startWorker } from '../../src/jobs/worker.js';
import { createLogger } from '../../src/logger.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const JOB = { attempts: 1, maxAttempts: 5 };

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
let deps: TaskDeps;
/** The mock ad server's clock, pinned so that repeated reports agree to the impression. */
const clock = new Date();
const updates: string[] = [];

/** A buy booked at the mock ad server with the given flight (relative to now), then put in `status`. */
async function bookedBuy(flight: { start: number; end: number }, status: string, packages?: unknown[]) {
  const { isError, data } = await call(buyer, 'create_media_buy', buyRequest({ start_time: 'asap', ...(packages && { packages }) }));
  expect(isError, JSON.stringify(data)).toBe(false);
  const id = data.media_buy_id as string;
  await sql`update media_buys set start_time = ${new Date(Date.now() + flight.start)}, end_time = ${new Date(Date.now() + flight.end)} where id = ${id}`;
  await fulfilMediaBuy({ v: 1, tenant_id: 'demo', media_buy_id: id, adapter_config_id: 'adp_demo_mock' }, JOB, deps);
  await sql`update media_buys set status = ${status} where id = ${id}`;
  const [ao] = await sql`select state from adapter_orders where media_buy_id = ${id}`;
  expect(ao!.state).toBe('booked');
  return id;
}

const reportRows = (id: string) =>
  sql`select package_id, day::text as day, impressions::int, clicks::int, video_completions::int, spend::text, source, updated_at from delivery_reports where media_buy_id = ${id} order by package_id, day`;
const buyRow = async (id: string) => (await sql`select status, revision, updated_at from media_buys where id = ${id}`)[0]!;

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  const db = t.app.database.db;
  deps = { db, adapters: (c) => createMockAdapter(db, c.settings, () => clock), logger: createLogger('silent') };
  buyer = await memoryClient(t);
  buyer.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri);
  });
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('mock ad server delivery', () => {
  const order = (start: number, end: number): AdapterOrderRequest => ({
    idempotencyKey: `mb_mock_${start}_${end}/adp`,
    mediaBuyId: 'mb_mock',
    advertiser: { principalId: 'p', name: 'p' },
    currency: 'USD',
    totalBudget: '10000',
    startTime: new Date(clock.getTime() + start),
    endTime: new Date(clock.getTime() + end),
    buyerRef: null,
    status: 'active',
    packages: [{ packageId: 'pk1', productId: 'x', budget: '10000', bidPrice: '5', rate: '5', pricingModel: 'cpm', impressions: null, targeting: null, formatIds: [{ id: 'video_standard_30s' }], status: 'active' }],
  });
  const window = { from: new Date(clock.getTime() - 30 * DAY), to: clock };

  it('paces the budget evenly and deterministically, nothing outside the flight or after now', async () => {
    const mock = createMockAdapter(t.app.database.db, {}, () => clock);
    const booked = await mock.createOrder(order(-4 * DAY, 4 * DAY));
    const req = { externalOrderId: booked.externalOrderId, mediaBuyId: 'mb_mock', packages: [{ packageId: 'pk1' }], ...window };
    const rows = await mock.getDelivery(req);
    expect(await createMockAdapter(t.app.database.db, {}, () => clock).getDelivery(req)).toEqual(rows);
    const days = rows.map((r) => r.day);
    expect(days[0]).toBe(new Date(clock.getTime() - 4 * DAY).toISOString().slice(0, 10));
    expect(days.at(-1)! <= clock.toISOString().slice(0, 10)).toBe(true);
    const spend = rows.reduce((a, r) => a + Number(r.spend), 0);
    // Half the flight has passed (to the hour): about half the budget, at the $5 CPM, with clicks and completions.
    expect(spend).toBeGreaterThan(10000 * 0.5 * 0.65);
    expect(spend).toBeLessThan(10000 * 0.5 * 1.2);
    for (const r of rows) {
      expect(Math.abs(r.impressions * 5 - Number(r.spend) * 1000)).toBeLessThan(5);
      expect(r.videoCompletions).toBeGreaterThan(0);
      expect(r.clicks).toBeLessThan(r.impressions);
    }
  });

  it('reports nothing, rather than negative counts, for a flight that began within the current hour', async () => {
    const now = new Date(Math.floor(clock.getTime() / HOUR) * HOUR + 40 * 60_000);
    const mock = createMockAdapter(t.app.database.db, {}, () => now);
    const req = { ...order(0, 4 * DAY), idempotencyKey: 'mb_mock_this_hour/adp', startTime: new Date(now.getTime() - 10 * 60_000) };
    const booked = await mock.createOrder(req);
    expect(await mock.getDelivery({ externalOrderId: booked.externalOrderId, mediaBuyId: 'mb_mock', packages: [{ packageId: 'pk1' }], from: req.startTime, to: now })).toEqual([]);
  });

  it('delivers nothing on a line from the time it was paused', async () => {
    // Paused on the hour, where the mock's hourly reports fall.
    const pausedAt = new Date(Math.floor((clock.getTime() - 2 * DAY) / HOUR) * HOUR);
    let now = pausedAt;
    const mock = createMockAdapter(t.app.database.db, {}, () => now);
    const req = order(-4 * DAY, 4 * DAY);
    req.idempotencyKey = 'mb_mock_paused/adp';
    const booked = await mock.createOrder(req);
    const read = { externalOrderId: booked.externalOrderId, mediaBuyId: 'mb_mock', packages: [{ packageId: 'pk1' }], ...window };
    const beforePause = await mock.getDelivery(read);
    await mock.updateOrder({ idempotencyKey: 'step1', externalOrderId: booked.externalOrderId, mediaBuyId: 'mb_mock', status: 'active', startTime: req.startTime, endTime: req.endTime, packages: req.packages.map((p) => ({ ...p, status: 'paused' })) });
    now = clock;
    const after = await mock.getDelivery(read);
    const pausedDay = pausedAt.toISOString().slice(0, 10);
    expect(after.every((r) => r.day <= pausedDay)).toBe(true);
    // Days before the pause are as they were; the day of the pause stops where it was paused.
    expect(after.filter((r) => r.day < pausedDay)).toEqual(beforePause.filter((r) => r.day < pausedDay));
    expect(after.reduce((a, r) => a + r.impressions, 0)).toBe(beforePause.reduce((a, r) => a + r.impressions, 0));
  });
});

/** The active, booked buy whose delivery is collected below. */
let buyId: string;

describe('collect_delivery', () => {
  const packages = [
    { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
    { product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4 },
  ];

  it('stores adapter delivery for a booked active buy, which get_media_buy_delivery reports', async () => {
    buyId = await bookedBuy({ start: -3 * DAY, end: 10 * DAY }, 'active', packages);
    await collectDelivery({ v: 1, tenant_id: 'demo', media_buy_id: buyId }, JOB, deps);
    const rows = await reportRows(buyId);
    const pkgs = await sql`select id, budget::float as budget from media_packages where media_buy_id = ${buyId}`;
    const firstDay = new Date(Date.now() - 3 * DAY).toISOString().slice(0, 10);
    for (const k of pkgs) {
      const own = rows.filter((r) => r.package_id === k.id);
      expect(own.length).toBeGreaterThanOrEqual(3);
      expect(own[0]!.day).toBe(firstDay);
      expect(own.every((r) => r.source === 'adapter' && r.day <= clock.toISOString().slice(0, 10))).toBe(true);
      // Three of thirteen days have passed.
      const spend = own.reduce((a, r) => a + Number(r.spend), 0);
      expect(spend / ((k.budget * 3) / 13)).toBeGreaterThan(0.6);
      expect(spend / ((k.budget * 3) / 13)).toBeLessThan(1.25);
    }

    const { data } = await call(buyer, 'get_media_buy_delivery', { media_buy_ids: [buyId], include_package_daily_breakdown: true });
    const impressions = rows.reduce((a, r) => a + r.impressions, 0);
    const spend = rows.reduce((a, r) => a + Number(r.spend), 0);
    expect(data.sandbox).toBeUndefined();
    expect((data.aggregated_totals as { impressions: number }).impressions).toBe(impressions);
    expect((data.aggregated_totals as { spend: number }).spend).toBeCloseTo(spend, 3);
    const [d] = data.media_buy_deliveries as { status: string; by_package: { package_id: string; daily_breakdown: unknown[] }[] }[];
    expect(d!.status).toBe('active');
    const daysPerPackage = Object.fromEntries(pkgs.map((k) => [k.id, rows.filter((r) => r.package_id === k.id).length]));
    expect(Object.fromEntries(d!.by_package.map((p) => [p.package_id, p.daily_breakdown.length]))).toEqual(daysPerPackage);
  });

  it('is idempotent: running again changes nothing, and simulated rows stay as they are', async () => {
    const before = await reportRows(buyId);
    // The latest day is inside the next run's window, so the run would rewrite it if it could.
    const simulated = before.at(-1)!;
    await sql`update delivery_reports set source = 'simulated', impressions = 7, spend = 0.07 where package_id = ${simulated.package_id} and day = ${simulated.day}`;
    await collectDelivery({ v: 1, tenant_id: 'demo', media_buy_id: buyId }, JOB, deps);
    await collectDelivery({ v: 1, tenant_id: 'demo', media_buy_id: buyId }, { attempts: 2, maxAttempts: 5 }, deps);
    const after = await reportRows(buyId);
    expect(after.slice(0, -1)).toEqual(before.slice(0, -1)); // updated_at included: unchanged rows are not rewritten
    expect(after.at(-1)).toMatchObject({ source: 'simulated', impressions: 7, spend: '0.0700' });
  });

  it('drops an invalid payload, and does nothing for a buy with no booked order', async () => {
    await expect(collectDelivery({ v: 2 }, JOB, deps)).resolves.toBeUndefined();
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    await collectDelivery({ v: 1, tenant_id: 'demo', media_buy_id: data.media_buy_id }, JOB, deps);
    expect(await reportRows(data.media_buy_id as string)).toHaveLength(0);
  });

  it('schedule_delivery_collection enqueues one job per buy in flight, coalescing repeats', async () => {
    const future = await bookedBuy({ start: DAY, end: 10 * DAY }, 'pending_start');
    const canceled = await bookedBuy({ start: -3 * DAY, end: 10 * DAY }, 'canceled');
    await sql`update media_buys set canceled_at = ${new Date(Date.now() - 2 * DAY)} where id = ${canceled}`;
    // Canceled within the last day: what it delivered before the cancellation is still to collect.
    const justCanceled = await bookedBuy({ start: -3 * DAY, end: 10 * DAY }, 'canceled');
    await sql`update media_buys set canceled_at = ${new Date(Date.now() - 10 * 60_000)} where id = ${justCanceled}`;
    const jobs = () =>
      sql`select j.key, j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'collect_delivery' order by j.key`;
    await scheduleDeliveryCollection({}, JOB, deps);
    await scheduleDeliveryCollection({}, JOB, deps);
    const queued = await jobs();
    expect(queued.filter((j) => j.key === `collect_delivery:${buyId}`)).toEqual([{ key: `collect_delivery:${buyId}`, payload: { v: 1, tenant_id: 'demo', media_buy_id: buyId } }]);
    expect(queued.map((j) => j.key)).not.toContain(`collect_delivery:${future}`);
    expect(queued.map((j) => j.key)).not.toContain(`collect_delivery:${canceled}`);
    expect(queued.map((j) => j.key)).toContain(`collect_delivery:${justCanceled}`);
  });
});

describe('delivery after a change of budget or flight', () => {
  it('leaves what was delivered before the change as it was, and paces what is left within the budget in force', async () => {
    // The ad server's clock: a day ago (collection, then the change), then now.
    let now = new Date(Math.floor((Date.now() - DAY) / HOUR) * HOUR);
    const db = t.app.database.db;
    const moving: TaskDeps = { ...deps, adapters: (c) => createMockAdapter(db, c.settings, () => now) };
    const id = await bookedBuy({ start: -5 * DAY, end: 3 * DAY }, 'active', [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }]);
    const [pkg] = (await sql`select id from media_packages where media_buy_id = ${id}`).map((r) => r.id as string);
    await collectDelivery({ v: 1, tenant_id: 'demo', media_buy_id: id }, JOB, moving);
    const before = await reportRows(id);
    const spent = before.reduce((a, r) => a + Number(r.spend), 0);
    // Four of eight days: about half of the 20000.
    expect(spent).toBeGreaterThan(20000 * 0.5 * 0.65);

    // The budget comes down (above what is spent, and not below the pricing option's 10000 minimum: what four days
    // spent depends on the hour the test runs) and the flight runs a week longer.
    const budget = Math.max(Math.ceil(spent) + 2000, 10000);
    const changed = await call(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: `pace-${id}`, end_time: new Date(Date.now() + 10 * DAY).toISOString(), packages: [{ package_id: pkg, budget }] });
    expect(changed.isError, JSON.stringify(changed.data)).toBe(false);
    await syncMediaBuyUpdate({ v: 1, tenant_id: 'demo', media_buy_id: id, step_id: changed.data.task_id, adapter_config_id: 'adp_demo_mock' }, JOB, moving);

    now = new Date();
    await collectDelivery({ v: 1, tenant_id: 'demo', media_buy_id: id }, JOB, moving);
    const after = await reportRows(id);
    // Days the ad server had reported whole before the change (the collection re-read the last of them) are as they were.
    const closed = (rows: typeof before) => rows.filter((r) => r.day < before.at(-1)!.day).map(({ updated_at: _, ...r }) => r);
    expect(closed(after)).toEqual(closed(before));
    expect(after.reduce((a, r) => a + Number(r.spend), 0)).toBeGreaterThan(spent);

    // To the end of the flight (and beyond), the line spends what is left of its new budget and no more.
    const mock = createMockAdapter(db, {}, () => new Date(Date.now() + 12 * DAY));
    const [order] = await sql`select external_order_id from adapter_orders where media_buy_id = ${id}`;
    const lifetime = await mock.getDelivery({ externalOrderId: order!.external_order_id, mediaBuyId: id, packages: [{ packageId: pkg! }], from: new Date(Date.now() - 6 * DAY), to: new Date(Date.now() + 12 * DAY) });
    const total = lifetime.reduce((a, r) => a + Number(r.spend), 0);
    expect(total).toBeLessThanOrEqual(budget);
    expect(total).toBeGreaterThan(budget * 0.8);
    expect(lifetime.filter((r) => r.day < before.at(-1)!.day).map((r) => Number(r.spend))).toEqual(closed(before).map((r) => Number(r.spend)));
  });
});

describe('advance_flights', () => {
  it('starts a pending_start buy whose start has passed, and a subscribed client hears of it', async () => {
    const id = await bookedBuy({ start: -HOUR, end: 10 * DAY }, 'pending_start');
    // Awaiting the seller, or confirmed but still being booked: not running anywhere yet.
    const unconfirmed = await bookedBuy({ start: -HOUR, end: 10 * DAY }, 'pending_start');
    await sql`update media_buys set confirmed_at = null where id = ${unconfirmed}`;
    const booking = await bookedBuy({ start: -HOUR, end: 10 * DAY }, 'pending_start');
    await sql`update workflow_steps set status = 'in_progress' where media_buy_id = ${booking} and step_type = 'create_media_buy'`;
    const waiting = await bookedBuy({ start: -HOUR, end: 10 * DAY }, 'pending_creatives');
    const before = await buyRow(id);
    await buyer.subscribeResource({ uri: `media-buy://${id}` });
    await advanceFlights({}, JOB, deps);
    const after = await buyRow(id);
    expect(after.status).toBe('active');
    expect(after.revision).toBe(before.revision + 1);
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
    await waitFor(async () => updates.includes(`media-buy://${id}`));
    const { data } = await call(buyer, 'get_media_buys', { media_buy_ids: [id] });
    expect((data.media_buys as { status: string }[])[0]!.status).toBe('active');
    expect((await buyRow(unconfirmed)).status).toBe('pending_start');
    expect((await buyRow(booking)).status).toBe('pending_start');
    expect((await buyRow(waiting)).status).toBe('pending_creatives');
  });

  it('starts a buy created paused (AdCP 3.1) as paused, not active', async () => {
    const id = await bookedBuy({ start: -HOUR, end: 10 * DAY }, 'pending_start');
    await sql`update media_buys set start_paused = true where id = ${id}`;
    await advanceFlights({}, JOB, deps);
    expect((await buyRow(id)).status).toBe('paused');
  });

  it('completes active and paused buys whose flight has ended, and leaves canceled buys alone', async () => {
    const ended = await bookedBuy({ start: -10 * DAY, end: -HOUR }, 'active');
    const pausedEnded = await bookedBuy({ start: -10 * DAY, end: -HOUR }, 'paused');
    const canceled = await bookedBuy({ start: -10 * DAY, end: -HOUR }, 'canceled');
    const running = await bookedBuy({ start: -DAY, end: DAY }, 'active');
    // Booked, but no creative ever came: it ran nothing, and is over all the same. Not yet booked: it waits for its booking.
    const neverCreated = await bookedBuy({ start: -10 * DAY, end: -HOUR }, 'pending_creatives');
    const unbooked = await bookedBuy({ start: -10 * DAY, end: -HOUR }, 'pending_creatives');
    await sql`update workflow_steps set status = 'in_progress' where media_buy_id = ${unbooked} and step_type = 'create_media_buy'`;
    const [canceledBefore, runningBefore, endedBefore, neverBefore, unbookedBefore] = [await buyRow(canceled), await buyRow(running), await buyRow(ended), await buyRow(neverCreated), await buyRow(unbooked)];
    const result = await advanceFlights({}, JOB, deps);
    expect(result.completed).toBeGreaterThanOrEqual(3);
    expect(await buyRow(ended)).toMatchObject({ status: 'completed', revision: endedBefore.revision + 1 });
    expect((await buyRow(pausedEnded)).status).toBe('completed');
    // Through active, along the lifecycle's edges.
    expect(await buyRow(neverCreated)).toMatchObject({ status: 'completed', revision: neverBefore.revision + 2 });
    expect(await buyRow(unbooked)).toEqual(unbookedBefore);
    expect(await buyRow(canceled)).toEqual(canceledBefore);
    expect(await buyRow(running)).toEqual(runningBefore);
    // Nothing is left to do: a second run moves nothing.
    expect(await advanceFlights({}, JOB, deps)).toEqual({ started: 0, completed: 0 });
  });
});

describe('crontab', () => {
  it('parses, with stable identifiers and no backfill', () => {
    const parsed = parseCronItems(CRON_ITEMS);
    expect(parsed.map((c) => [c.identifier, c.task, c.options.backfillPeriod])).toEqual([
      ['advance_flights', 'advance_flights', 0],
      ['schedule_delivery_collection', 'schedule_delivery_collection', 0],
      ['send_delivery_reports', 'send_delivery_reports', 0],
      ['close_stranded_webhooks', 'close_stranded_webhooks', 0],
      ['prune_idempotency_records', 'prune_idempotency_records', 0],
      ['prune_history', 'prune_history', 0],
    ]);
  });

  it('is registered when a worker starts, and the worker runs the collections it schedules', async () => {
    // Queued jobs from the tests above would run on this worker: clear them first.
    await sql`delete from graphile_worker._private_jobs`;
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 1, adapters: deps.adapters });
    try {
      const known = await waitFor(async () => {
        const rows = await sql`select identifier from graphile_worker._private_known_crontabs order by identifier`;
        return rows.length >= 6 && rows.map((r) => r.identifier);
      });
      expect(known).toEqual(['advance_flights', 'close_stranded_webhooks', 'prune_history', 'prune_idempotency_records', 'schedule_delivery_collection', 'send_delivery_reports']);
      await sql`delete from delivery_reports where media_buy_id = ${buyId}`;
      await scheduleDeliveryCollection({}, JOB, deps);
      await waitFor(async () => (await reportRows(buyId)).length > 0);
    } finally {
      await worker.stop();
    }
  });
});

/** Queue a no-op job (the demo tenant has no Slack) and lock it as pool `poolId` did `ago` before now. */
async function lockedJob(key: string, poolId: string, ago: string): Promise<void> {
  await sql`select graphile_worker.add_job('notify_slack', ${sql.json({ v: 1, tenant_id: 'demo', event: 'approval_required', media_buy_id: `mb_${key}` })}::json, job_key => ${key})`;
  await sql`update graphile_worker._private_jobs set locked_by = ${poolId}, locked_at = now() - ${ago}::interval, attempts = 1 where key = ${key}`;
}
const jobState = async (key: string) => (await sql<{ locked_by: string | null }[]>`select locked_by from graphile_worker.jobs where key = ${key}`)[0];

// A worker process killed after its pool took jobs but before its first heartbeat leaves them locked by a
// pool id no heartbeat row names (Graphile Worker itself would free them only after 4 hours).
describe('jobs of a worker that died before its first heartbeat', () => {
  it('are freed and run by a live worker; jobs of beating pools and fresh locks are left alone', async () => {
    await sql`insert into worker_heartbeats (pool_id, hostname, pid) values ('pool-alive', 'elsewhere', 1)`;
    await lockedJob('orphan', 'pool-never-beat', '1 hour');
    await lockedJob('alive', 'pool-alive', '1 hour');
    await lockedJob('fresh', 'pool-just-started', '0 seconds');
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 1, heartbeat: { intervalMs: 100, staleMs: 60_000 } });
    try {
      // The orphan is freed at the worker's first beat and then runs (done: the row is gone).
      await waitFor(async () => (await jobState('orphan')) === undefined, 10_000);
      expect(await jobState('alive')).toEqual({ locked_by: 'pool-alive' });
      expect(await jobState('fresh')).toEqual({ locked_by: 'pool-just-started' });
    } finally {
      await worker.stop();
    }
  });
});

// A job whose last attempt was cut short (worker killed or stopped mid-call) is left with every attempt used,
// and Graphile Worker never runs it again: the buy would stay unbooked for ever.
describe('jobs cut short on their last attempt', () => {
  it('get one more attempt (up to a cap) for the tasks that settle their own last attempt; others are left alone', async () => {
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ start_time: 'asap' }));
    const id = data.media_buy_id as string;
    const key = `fulfil:${id}:adp_demo_mock`;
    await sql`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'worker killed' where key = ${key}`;
    await lockedJob('slack-spent', 'pool-gone', '0 seconds');
    await sql`update graphile_worker._private_jobs set locked_by = null, locked_at = null, attempts = max_attempts where key = 'slack-spent'`;
    const capped = (await call(buyer, 'create_media_buy', buyRequest({ start_time: 'asap' }))).data.media_buy_id as string;
    await sql`update graphile_worker._private_jobs set attempts = ${8 + INTERRUPTED_RETRIES}, max_attempts = ${8 + INTERRUPTED_RETRIES} where key = ${`fulfil:${capped}:adp_demo_mock`}`;
    // A sync_accounts proof whose last attempt was cut short: its task would stay submitted for ever.
    await sql`select graphile_worker.add_job('prove_notification_configs', ${sql.json({ v: 1, tenant_id: 'demo', task_id: 'task_gone', account_ids: {}, seller_agent_url: 'http://127.0.0.1/mcp' })}::json, job_key => ${'prove-spent'}, max_attempts => 3)`;
    await sql`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'worker killed' where key = 'prove-spent'`;
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 2, heartbeat: { intervalMs: 100, staleMs: 60_000 } });
    try {
      await waitFor(async () => (await jobState('prove-spent')) === undefined, 15_000);
      await waitFor(async () => (await sql`select state from adapter_orders where media_buy_id = ${id}`)[0]?.state === 'booked', 15_000);
      await waitFor(async () => (await jobState(key)) === undefined, 10_000); // done: its completion is written just after the booking
      // A task that is not known to settle its last attempt, and a job at its cap, stay as they are.
      expect(await jobState('slack-spent')).toEqual({ locked_by: null });
      expect((await sql`select state from adapter_orders where media_buy_id = ${capped}`)[0]!.state).toBe('queued');
    } finally {
      await worker.stop();
      await sql`delete from graphile_worker._private_jobs where key in ('slack-spent', ${`fulfil:${capped}:adp_demo_mock`})`;
    }
  });
});
