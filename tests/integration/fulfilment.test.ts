import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapterRegistry } from '../../src/adapters/registry.js';
import { advanceFlights } from '../../src/jobs/tasks/advance-flights.js';
import { fulfilMediaBuy } from '../../src/jobs/tasks/fulfil-media-buy.js';
import { createLogger } from '../../src/logger.js';
import { approveMediaBuy, rejectMediaBuy } from '../../src/services/approval.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
const updates: string[] = [];
const messages: string[] = [];

async function setAdapter(settings: Record<string, number | string>, manual = false) {
  await sql`update adapter_configs set settings = ${sql.json(settings)}, manual_approval_required = ${manual} where id = 'adp_demo_mock'`;
  t.app.services.catalog.invalidate('demo');
}

async function readState(id: string) {
  const res = await buyer.readResource({ uri: `media-buy://${id}` });
  return JSON.parse((res.contents[0] as { text: string }).text) as {
    status: string;
    internal_status: string;
    workflow_step: { status: string; task_status: string };
    fulfilment: { state: string; external_order_id?: string; error?: string; attempts: number }[];
    rejection_reason?: string;
  };
}

beforeAll(async () => {
  t = await startTestApp({ worker: true });
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  buyer = await memoryClient(t);
  buyer.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri);
  });
  buyer.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    messages.push(String(n.params.data));
  });
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('auto path', () => {
  it('books at the mock ad server via the worker and pushes the change to a subscribed client', async () => {
    await setAdapter({ latency_ms: 1000 });
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    const id = data.media_buy_id as string;
    await buyer.subscribeResource({ uri: `media-buy://${id}` });
    const early = await readState(id);
    expect(early.fulfilment[0]!.state).toBe('queued');
    expect(early.workflow_step.status).toMatch(/pending|in_progress/);

    // media-buys:// too: the one booking is logged to the session once, though both subscriptions match it.
    await buyer.subscribeResource({ uri: 'media-buys://' });
    // The booking's push (not the creation's, which may also arrive) carries "booked".
    await waitFor(async () => messages.some((m) => m.includes(id) && m.includes('booked')));
    expect(updates).toContain(`media-buy://${id}`);
    await waitFor(async () => updates.includes('media-buys://'));
    expect(messages.filter((m) => m.includes(id) && m.includes('booked'))).toHaveLength(1);
    await buyer.unsubscribeResource({ uri: 'media-buys://' });
    const state = await readState(id);
    expect(state.fulfilment).toHaveLength(1);
    expect(state.fulfilment[0]).toMatchObject({ state: 'booked', external_order_id: expect.stringMatching(/^mock-order-/), attempts: 1 });
    expect(state.workflow_step).toMatchObject({ status: 'completed', task_status: 'completed' });
    expect(state.status).toBe('pending_creatives');
    // Polling the task gives the buy as booked, with the package ids.
    const task = await call(buyer, 'tasks/get', { task_id: (state.workflow_step as { task_id?: string }).task_id, adcp_version: '3.1', include_result: true });
    expect(task.data).toMatchObject({ status: 'completed', result: { media_buy_id: id, media_buy_status: 'pending_creatives', packages: (data.packages as { package_id: string }[]).map((p) => expect.objectContaining({ package_id: p.package_id })) } });

    const orders = await sql`select calls from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`;
    expect(orders).toEqual([{ calls: 1 }]);
    const [ao] = await sql`select state, external_order_id from adapter_orders where media_buy_id = ${id}`;
    expect(ao!.state).toBe('booked');
    // Ad-server ids live only in adapter_orders.
    const [buyRow] = await sql`select row_to_json(m)::text as j from media_buys m where id = ${id}`;
    expect(buyRow!.j).not.toContain('mock-order-');
  });

  it('retries a transient ad-server failure with backoff and still books exactly once', async () => {
    await setAdapter({ fail_first_attempts: 1 });
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    const id = data.media_buy_id as string;
    const state = await waitFor(async () => {
      const s = await readState(id);
      return s.fulfilment[0]!.state === 'booked' && s;
    }, 15_000, 100);
    expect(state.fulfilment[0]!.attempts).toBe(2);
    const orders = await sql`select calls from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`;
    expect(orders).toEqual([{ calls: 1 }]);
  });

  it('rejects the buy with the ad server’s reason on a permanent failure, without retrying', async () => {
    await setAdapter({ reject_marker: 'REJECT-ME', latency_ms: 500 }); // time to subscribe before the rejection
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ buyer_ref: 'camp-REJECT-ME' }));
    const id = data.media_buy_id as string;
    await buyer.subscribeResource({ uri: `media-buy://${id}` });
    const state = await waitFor(async () => {
      const s = await readState(id);
      return s.status === 'rejected' && s;
    });
    expect(state.fulfilment[0]).toMatchObject({ state: 'failed', attempts: 1, error: expect.stringContaining('REJECT-ME') });
    expect(state.workflow_step.status).toBe('failed');
    expect(state.rejection_reason).toContain('REJECT-ME');
    await waitFor(async () => updates.includes(`media-buy://${id}`)); // pushed over LISTEN after the commit
    // Finished, not retried: Graphile Worker deletes the job right after the task's own commit.
    await waitFor(async () => (await sql`select count(*)::int as n from graphile_worker._private_jobs where key = ${`fulfil:${id}:adp_demo_mock`}`)[0]!.n === 0);
  });

  it('is idempotent at the ad server when the same job runs twice', async () => {
    await setAdapter({});
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    const id = data.media_buy_id as string;
    await waitFor(async () => (await readState(id)).fulfilment[0]!.state === 'booked');
    // At-least-once delivery: run the task again by hand, as a retry after a crash would.
    const deps = { db: t.app.database.db, adapters: createAdapterRegistry(t.app.database.db), logger: createLogger('silent') };
    const part = { v: 1, tenant_id: 'demo', media_buy_id: id, adapter_config_id: 'adp_demo_mock' } as const;
    await fulfilMediaBuy(part, { attempts: 1, maxAttempts: 8 }, deps); // booked already: no second call
    await sql`delete from adapter_orders where media_buy_id = ${id}`; // as if our commit had been lost
    await fulfilMediaBuy(part, { attempts: 2, maxAttempts: 8 }, deps);
    const orders = await sql`select order_id, calls from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`;
    expect(orders).toHaveLength(1);
    expect(orders[0]!.calls).toBe(2);
    const [ao] = await sql`select external_order_id from adapter_orders where media_buy_id = ${id}`;
    expect(ao!.external_order_id).toBe(orders[0]!.order_id);
  });

  it('drops a job whose payload is invalid instead of retrying it', async () => {
    const deps = { db: t.app.database.db, adapters: createAdapterRegistry(t.app.database.db), logger: createLogger('silent') };
    await expect(fulfilMediaBuy({ nonsense: true }, { attempts: 1, maxAttempts: 8 }, deps)).resolves.toBeUndefined();
  });
});

describe('creatives assigned while the buy is being booked', () => {
  const display = { product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 5000 };
  const key = () => `key-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const banner = (id: string) => ({
    creative_id: id,
    name: `Banner ${id}`,
    format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' },
    assets: { banner_image: { asset_type: 'image', url: `https://cdn.acme.example/${id}.png`, width: 300, height: 250 }, click_url: { asset_type: 'url', url: 'https://acme.example/' } },
  });
  async function waitingBuy() {
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ start_time: 'asap', packages: [display] }));
    expect(data.status).toBe('pending_creatives');
    return { id: data.media_buy_id as string, packageId: (data.packages as { package_id: string }[])[0]!.package_id };
  }

  it('waits in pending_start until booked, then goes active', async () => {
    await setAdapter({ latency_ms: 3000 }); // a booking slow enough that the next call lands during it, even on a loaded machine
    const { id, packageId } = await waitingBuy();
    const { data } = await call(buyer, 'sync_creatives', { account: buyRequest().account, idempotency_key: key(), creatives: [banner('cr_early')], assignments: [{ creative_id: 'cr_early', package_id: packageId }] });
    expect(data.creatives).toMatchObject([{ creative_id: 'cr_early', assigned_to: [packageId] }]);
    const early = await readState(id);
    expect(early.fulfilment[0]!.state).toBe('queued');
    expect(early.status).toBe('pending_start');
    await waitFor(async () => (await readState(id)).workflow_step.status === 'completed', 10_000, 100);
    // advance_flights (every minute) starts it now that it is booked.
    await advanceFlights({}, { attempts: 1, maxAttempts: 1 }, { db: t.app.database.db, adapters: createAdapterRegistry(t.app.database.db), logger: createLogger('silent') });
    expect((await readState(id)).status).toBe('active');
  });

  it('goes from pending_start to rejected when the ad server refuses it, never through active', async () => {
    await setAdapter({ latency_ms: 3000, reject_reason: 'no sports inventory left' });
    const { id, packageId } = await waitingBuy();
    const updated = await call(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: key(), packages: [{ package_id: packageId, creative_assignments: [{ creative_id: 'cr_early' }] }] });
    expect(updated.data.status).toBe('pending_start');
    expect((await readState(id)).fulfilment[0]!.state).toBe('queued');
    const state = await waitFor(async () => {
      const s = await readState(id);
      return s.status === 'rejected' && s;
    }, 10_000, 100);
    expect(state.rejection_reason).toContain('no sports inventory left');
    await setAdapter({});
  });
});

describe('media-buys:// list resource', () => {
  it('lists the caller’s buys and is updated on any change to any of them, for that buyer only', async () => {
    await setAdapter({});
    await buyer.subscribeResource({ uri: 'media-buys://' });
    const other = await memoryClient(t, null);
    const before = updates.filter((u) => u === 'media-buys://').length;
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    await waitFor(async () => updates.filter((u) => u === 'media-buys://').length > before);
    const res = await buyer.readResource({ uri: 'media-buys://' });
    const list = JSON.parse((res.contents[0] as { text: string }).text) as { media_buys: { media_buy_id: string }[] };
    expect(list.media_buys.map((b) => b.media_buy_id)).toContain(data.media_buy_id);
    await expect(other.readResource({ uri: 'media-buys://' })).rejects.toThrow(/not found/i);
    await other.close();
  });
});

describe('manual approval path', () => {
  it('answers submitted with a task, enqueues nothing, and fulfils after approval', async () => {
    await setAdapter({}, true);
    const { isError, data } = await call(buyer, 'create_media_buy', buyRequest());
    expect(isError).toBe(false);
    expect(data.status).toBe('submitted');
    expect(data.media_buy_id).toBeUndefined();
    const taskId = data.task_id as string;
    expect(taskId).toMatch(/^task_/);

    const [step] = await sql`select status, owner, media_buy_id from workflow_steps where id = ${taskId}`;
    expect(step).toMatchObject({ status: 'requires_approval', owner: 'seller' });
    const jobs = await sql`select count(*)::int as n from graphile_worker._private_jobs where key like ${`fulfil:${step!.media_buy_id}:%`}`;
    expect(jobs[0]!.n).toBe(0);

    const polled = await call(buyer, 'tasks/get', { task_id: taskId });
    // The buy awaiting approval is named, as tasks/list names it.
    expect(polled.data).toMatchObject({ task_id: taskId, task_type: 'create_media_buy', status: 'submitted', protocol: 'media-buy', media_buy_id: step!.media_buy_id });
    expect((await call(buyer, 'tasks/list', {})).data.tasks).toContainEqual(expect.objectContaining({ task_id: taskId, media_buy_id: step!.media_buy_id }));
    const alias = await call(buyer, 'get_task_status', { task_id: taskId });
    expect(alias.data.status).toBe('submitted');

    await buyer.subscribeResource({ uri: `task://${taskId}` });
    const first = await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo' });
    const second = await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'other@demo' });
    expect(first.ok).toBe(true);
    expect(second).toEqual({ ok: false, reason: 'already_decided', status: expect.any(String) });

    const done = await waitFor(async () => {
      const r = await call(buyer, 'tasks_get', { task_id: taskId });
      return r.data.status === 'completed' && r.data;
    });
    expect((done.result as { media_buy_id: string }).media_buy_id).toBe(step!.media_buy_id);
    expect(updates).toContain(`task://${taskId}`);
    const buys = await call(buyer, 'get_media_buys', { media_buy_ids: [step!.media_buy_id] });
    expect((buys.data.media_buys as { confirmed_at: string | null }[])[0]!.confirmed_at).not.toBeNull();
  });

  it('a rejected buy moves to rejected and the buyer hears of it', async () => {
    await setAdapter({}, true);
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    const taskId = data.task_id as string;
    await buyer.subscribeResource({ uri: `task://${taskId}` });
    const res = await rejectMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo', reason: 'brand safety' });
    expect(res.ok).toBe(true);
    await waitFor(async () => updates.includes(`task://${taskId}`));
    const polled = await call(buyer, 'tasks/get', { task_id: taskId });
    expect(polled.data.status).toBe('rejected');
    await setAdapter({}, false);
  });

  it('a cancel sent while the order is being booked is done only once the order is canceled, and fails if the ad server refuses the cancel', async () => {
    const cancelDuringBooking = async () => {
      const { data } = await call(buyer, 'create_media_buy', buyRequest({ start_time: 'asap' }));
      const id = data.media_buy_id as string;
      // The booking under way: its job taken, the mock ad server's call begun (it takes 3 s; the task reaches it within moments).
      await waitFor(async () => (await sql`select locked_at from graphile_worker._private_jobs where key = ${`fulfil:${id}:adp_demo_mock`}`)[0]?.locked_at, 5_000);
      await new Promise((r) => setTimeout(r, 1000));
      const res = await call(buyer, 'update_media_buy', { media_buy_id: id, canceled: true, idempotency_key: `cancel-${id}`, account: buyRequest().account });
      expect(res.isError, JSON.stringify(res.data)).toBe(false);
      const taskId = res.data.task_id as string;
      const done = await waitFor(async () => {
        const r = await call(buyer, 'tasks_get', { task_id: taskId });
        return ['completed', 'failed'].includes(r.data.status as string) && r.data;
      }, 40_000, 200);
      const [part] = await sql`select state, error from adapter_orders where media_buy_id = ${id}`;
      return { done, part: part! };
    };
    try {
      await sql`update adapter_configs set settings = ${sql.json({ latency_ms: 3000, reject: { cancel_order: 'cancel refused by ad server' } })} where id = 'adp_demo_mock'`;
      const refused = await cancelDuringBooking();
      expect(refused.done.status).toBe('failed');
      expect(JSON.stringify(refused.done)).toContain('could not be canceled');
      expect(refused.part.state).toBe('canceling');

      await sql`update adapter_configs set settings = ${sql.json({ latency_ms: 3000 })} where id = 'adp_demo_mock'`;
      const canceled = await cancelDuringBooking();
      expect(canceled.done.status).toBe('completed');
      expect(canceled.part.state).toBe('canceled');
    } finally {
      await setAdapter({});
    }
  }, 90_000);

  it('a buy the buyer cancels while it awaits approval: its create task ends canceled, and its subscribers hear of it', async () => {
    await setAdapter({}, true);
    try {
      const { data } = await call(buyer, 'create_media_buy', buyRequest());
      const taskId = data.task_id as string;
      const mediaBuyId = (await sql`select media_buy_id from workflow_steps where id = ${taskId}`)[0]!.media_buy_id as string;
      await buyer.subscribeResource({ uri: `task://${taskId}` });
      const canceled = await call(buyer, 'update_media_buy', { media_buy_id: mediaBuyId, canceled: true, idempotency_key: `cancel-${taskId}`, account: buyRequest().account });
      expect(canceled.isError, JSON.stringify(canceled.data)).toBe(false);
      await waitFor(async () => updates.includes(`task://${taskId}`));
      expect((await call(buyer, 'tasks/get', { task_id: taskId })).data.status).toBe('canceled');
    } finally {
      await setAdapter({}, false);
    }
  });
});
