/**
 * Canceling a buy ends its create task with it, whether the buy awaited the seller's approval or was being
 * booked at the ad server, and a buyer who asked for webhooks hears it; an update with nothing to send to an
 * ad server (awaiting approval) completes at once and is told as well.
 */
import type http from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { startWebhookReceiver, type Received } from '../helpers/receiver.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
let receiver: http.Server;
let base: string;
const received: Received[] = [];
const sandbox = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example', sandbox: true };
const key = () => `cancel-tasks-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const hookAt = (path: string) =>
  waitFor(async () => {
    const hit = received.find((r) => r.path === path);
    return hit && (JSON.parse(hit.body) as { task_id: string; task_type: string; status: string });
  }, 15_000, 50);
const taskStatus = async (taskId: string) => ((await call(buyer, 'tasks/get', { task_id: taskId })).data as { status: string }).status;

beforeAll(async () => {
  // Bookings take 1.5 s at the mock ad server: long enough to cancel a buy while it is being booked.
  t = await startTestApp({ worker: true, adapterLatencyMs: 1500, complianceTesting: true });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  ({ server: receiver, base } = await startWebhookReceiver(received, new Map()));
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
  receiver?.close();
});

describe('canceling a buy ends its open create task', () => {
  it('while it is being booked: the task is canceled at once and stays so when the booking lands, the webhook says canceled', async () => {
    const created = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: `${base}/hooks/booking` } }));
    const id = (created.data as { media_buy_id: string }).media_buy_id;
    const taskId = (await sql<{ id: string }[]>`select id from workflow_steps where media_buy_id = ${id} and step_type = 'create_media_buy'`)[0]!.id;
    expect(['submitted', 'working']).toContain(await taskStatus(taskId));
    const canceled = await call(buyer, 'update_media_buy', { media_buy_id: id, canceled: true, idempotency_key: key() });
    expect(canceled.data.status).toBe('canceled');
    expect(await taskStatus(taskId)).toBe('canceled');
    expect(await hookAt('/hooks/booking')).toMatchObject({ task_id: taskId, task_type: 'create_media_buy', status: 'canceled' });
    // The booking finishes after the cancel: the order is undone, the task is not reopened.
    await waitFor(async () => (await sql`select state from adapter_orders where media_buy_id = ${id}`)[0]?.state === 'canceled', 15_000, 50);
    expect(await taskStatus(taskId)).toBe('canceled');
    expect(received.filter((r) => r.path === '/hooks/booking')).toHaveLength(1);
  });

  it('while it awaits the seller: an update completes at once with its webhook, and the cancel ends the create task with one', async () => {
    await sql`update adapter_configs set manual_approval_required = true`;
    t.app.services.catalog.invalidate();
    try {
      const created = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: `${base}/hooks/approval` } }));
      expect(created.data.status).toBe('submitted');
      const taskId = (created.data as { task_id: string }).task_id;
      const id = (await sql<{ media_buy_id: string }[]>`select media_buy_id from workflow_steps where id = ${taskId}`)[0]!.media_buy_id;
      // What it accepts is what it offers: reshaping and withdrawal, not pausing.
      const listed = ((await call(buyer, 'get_media_buys', { media_buy_ids: [id] })).data.media_buys as { valid_actions: string[] }[])[0]!;
      expect(listed.valid_actions).toEqual(expect.arrayContaining(['cancel', 'update_budget', 'update_dates', 'update_packages', 'add_packages']));
      expect(listed.valid_actions).not.toContain('pause');
      const updated = await call(buyer, 'update_media_buy', { media_buy_id: id, end_time: new Date(Date.now() + 40 * 86_400_000).toISOString(), idempotency_key: key(), push_notification_config: { url: `${base}/hooks/update` } });
      expect(updated.isError, JSON.stringify(updated.data)).toBe(false);
      const updateTask = (updated.data as { task_id: string }).task_id;
      expect(await hookAt('/hooks/update')).toMatchObject({ task_id: updateTask, task_type: 'update_media_buy', status: 'completed' });
      await call(buyer, 'update_media_buy', { media_buy_id: id, canceled: true, idempotency_key: key() });
      expect(await taskStatus(taskId)).toBe('canceled');
      expect(await hookAt('/hooks/approval')).toMatchObject({ task_id: taskId, task_type: 'create_media_buy', status: 'canceled' });
    } finally {
      await sql`update adapter_configs set manual_approval_required = false`;
      t.app.services.catalog.invalidate();
    }
  });

  it('an update applied at the ad server after a cancel reports the buy as it then stands: canceled, at the revision it names', async () => {
    const created = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox }));
    const id = created.data.media_buy_id as string;
    await waitFor(async () => (await sql`select state from adapter_orders where media_buy_id = ${id}`)[0]?.state === 'booked', 15_000, 50);
    const paused = await call(buyer, 'update_media_buy', { media_buy_id: id, paused: true, idempotency_key: key(), push_notification_config: { url: `${base}/hooks/pause-then-cancel` } });
    const pauseTask = (paused.data as { task_id: string }).task_id;
    // The pause's job has loaded the buy and is at the ad server (1.5 s) when the cancel lands.
    await waitFor(async () => (await sql`select 1 from graphile_worker.jobs where task_identifier = 'sync_media_buy_update' and locked_at is not null`).length > 0, 5_000, 10);
    const canceled = await call(buyer, 'update_media_buy', { media_buy_id: id, canceled: true, idempotency_key: key() });
    expect(canceled.data).toMatchObject({ status: 'canceled', revision: 3 });
    const hook = (await hookAt('/hooks/pause-then-cancel')) as unknown as { task_id: string; result: Record<string, unknown> };
    expect(hook.task_id).toBe(pauseTask);
    expect(hook.result).toEqual({ media_buy_id: id, status: 'canceled', revision: 3 });
    expect(((await call(buyer, 'tasks/get', { task_id: pauseTask })).data as { result: unknown }).result).toEqual({ media_buy_id: id, status: 'canceled', revision: 3 });
  });

  it("signs the canceled webhook the way the buyer asked and echoes its token: the credentials are read before the task ends", async () => {
    await sql`update adapter_configs set manual_approval_required = true`;
    t.app.services.catalog.invalidate();
    try {
      const push = { url: `${base}/hooks/cancel-auth`, token: 'validation-token-0123456789', authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' } };
      const created = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: push }));
      const taskId = (created.data as { task_id: string }).task_id;
      const id = (await sql<{ media_buy_id: string }[]>`select media_buy_id from workflow_steps where id = ${taskId}`)[0]!.media_buy_id;
      await call(buyer, 'update_media_buy', { media_buy_id: id, canceled: true, idempotency_key: key() });
      await hookAt('/hooks/cancel-auth');
      const hit = received.find((r) => r.path === '/hooks/cancel-auth')!;
      // A legacy block selects Bearer, never RFC 9421 (a buyer rejects a webhook signed in the mode it did not register).
      expect(hit.headers.authorization).toBe(`Bearer ${push.authentication.credentials}`);
      expect(hit.headers['signature-input']).toBeUndefined();
      expect(JSON.parse(hit.body)).toMatchObject({ task_id: taskId, status: 'canceled', token: push.token });
    } finally {
      await sql`update adapter_configs set manual_approval_required = false`;
      t.app.services.catalog.invalidate();
    }
  });
});
