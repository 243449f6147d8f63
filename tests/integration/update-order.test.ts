/**
 * Two updates of one buy in flight at one ad server at once: each sync_media_buy_update job sends the buy as it
 * stood when the job started, and an ad server may answer them in any order. The ad server must end up holding
 * the buy as it now stands, not the state of whichever call happened to land last.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMockAdapter } from '../../src/adapters/mock/mock-adapter.js';
import type { AdapterOrderUpdate } from '../../src/adapters/port.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
/** The first update an order receives is held at the ad server until this is called (a slow answer). */
let releaseFirst: () => void = () => {};
const sent: AdapterOrderUpdate[] = [];

beforeAll(async () => {
  let held = false;
  t = await startTestApp({
    worker: true,
    adapters: (c) => {
      const mock = createMockAdapter(t.app.database.db, c.settings);
      return {
        ...mock,
        async updateOrder(req, signal) {
          sent.push(req);
          if (!held) {
            held = true;
            await new Promise<void>((resolve) => (releaseFirst = resolve));
          }
          return mock.updateOrder(req, signal);
        },
      };
    },
  });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  releaseFirst();
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('updates of one buy answered out of order by the ad server', () => {
  it('leaves the order as the buy now stands: resumed, at its latest budget', async () => {
    const { data: buy } = await call(buyer, 'create_media_buy', buyRequest());
    const id = buy.media_buy_id as string;
    const pkg = (buy.packages as { package_id: string }[])[0]!.package_id;
    const order = async () => (await sql`select status, request from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`)[0];
    await waitFor(async () => (await order())?.status === 'booked');
    const update = (args: Record<string, unknown>) => call(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: `upd-${Math.random().toString(36).slice(2)}-${Date.now()}`, ...args });

    const pause = await update({ paused: true, packages: [{ package_id: pkg, budget: 21000 }] });
    await waitFor(async () => sent.length === 1); // the pause is out at the ad server, slow to answer
    const resume = await update({ paused: false, packages: [{ package_id: pkg, budget: 22000 }] });
    const stepDone = async (taskId: unknown) => (await sql`select status from workflow_steps where id = ${taskId as string}`)[0]!.status === 'completed';
    await waitFor(() => stepDone(resume.data.task_id)); // the resume lands first
    releaseFirst(); // then the pause's answer
    await waitFor(() => stepDone(pause.data.task_id));
    await waitFor(async () => (await sql`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'sync_media_buy_update'`)[0]!.n === 0);

    const [row] = await sql`select status, start_paused, total_budget from media_buys where id = ${id}`;
    expect(row).toMatchObject({ start_paused: false, total_budget: '22000.0000' });
    const at = await order();
    expect(at!.status).toBe('booked');
    expect((at!.request as { packages: { budget: string; status: string }[] }).packages).toEqual([{ id: pkg, budget: '22000.0000', status: 'active' }]);
  });
});
