/**
 * Two changes of one buy in flight at one ad server at once: each job (sync_media_buy_update, sync_adapter_creatives)
 * sends the buy as it stood when the job started, and an ad server may answer them in any order. The ad server must
 * end up holding the buy as it now stands, not the state of whichever call happened to land last.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMockAdapter } from '../../src/adapters/mock/mock-adapter.js';
import type { AdapterCreativeAssignment, AdapterOrderUpdate } from '../../src/adapters/port.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
/** The first update an order receives, and the first creative assignment, are held at the ad server until released (slow answers). */
let releaseFirst: () => void = () => {};
let releaseFirstAssignment: () => void = () => {};
const sent: AdapterOrderUpdate[] = [];
const assignments: AdapterCreativeAssignment[] = [];

beforeAll(async () => {
  let held = false;
  let heldAssignment = false;
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
        async assignCreatives(req, signal) {
          assignments.push(req);
          if (!heldAssignment) {
            heldAssignment = true;
            await new Promise<void>((resolve) => (releaseFirstAssignment = resolve));
          }
          return mock.assignCreatives(req, signal);
        },
      };
    },
  });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  releaseFirst();
  releaseFirstAssignment();
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

describe('creative assignments of one buy answered out of order by the ad server', () => {
  const banner = (id: string) => ({
    creative_id: id,
    name: id,
    format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' },
    assets: { banner_image: { asset_type: 'image', url: `https://cdn.acme.example/${id}.png`, width: 300, height: 250 }, click_url: { asset_type: 'url', url: 'https://acme.example/' } },
  });
  const ACCOUNT = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' };

  it('leaves the line item running the creatives the package now has', async () => {
    const { data: buy } = await call(buyer, 'create_media_buy', buyRequest({ packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1000, bid_price: 3 }] }));
    const id = buy.media_buy_id as string;
    const pkg = (buy.packages as { package_id: string }[])[0]!.package_id;
    const order = async () => (await sql`select status, request from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`)[0];
    await waitFor(async () => (await order())?.status === 'booked');
    const first = await call(buyer, 'sync_creatives', { idempotency_key: `s-${Math.random().toString(36).slice(2)}-${Date.now()}`, account: ACCOUNT, creatives: [banner('cr-first'), banner('cr-second')], assignments: [{ creative_id: 'cr-first', package_id: pkg }] });
    expect(first.isError, JSON.stringify(first.data)).toBe(false);
    await waitFor(async () => assignments.length === 1); // cr-first's assignment is out at the ad server, slow to answer
    const second = await call(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: `u-${Math.random().toString(36).slice(2)}-${Date.now()}`, packages: [{ package_id: pkg, creative_assignments: [{ creative_id: 'cr-second' }] }] });
    expect(second.isError, JSON.stringify(second.data)).toBe(false);
    const external = async (creativeId: string) => (await sql`select external_creative_id from adapter_creatives where creative_id = ${creativeId}`)[0]?.external_creative_id as string | undefined;
    const running = async () => ((await order())!.request as { creatives?: Record<string, { creative_id: string }[]> }).creatives?.[pkg]?.map((c) => c.creative_id);
    await waitFor(async () => { const e = await external('cr-second'); return !!e && (await running())?.[0] === e; }); // cr-second lands first
    releaseFirstAssignment(); // then cr-first's answer
    await waitFor(async () => assignments.length >= 2 && (await sql`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'sync_adapter_creatives'`)[0]!.n === 0);
    await waitFor(async () => (await sql`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'sync_adapter_creatives'`)[0]!.n === 0);
    expect(await running()).toEqual([await external('cr-second')]);
    // Each set of assignments has its own idempotency key, the same for every send of that set.
    const keyOf = new Map<string, Set<string>>();
    for (const a of assignments) keyOf.set(JSON.stringify(a.lineItems), (keyOf.get(JSON.stringify(a.lineItems)) ?? new Set()).add(a.idempotencyKey));
    expect(keyOf.size).toBeGreaterThan(1);
    for (const keys of keyOf.values()) expect(keys.size).toBe(1);
    expect(new Set(assignments.map((a) => a.idempotencyKey)).size).toBe(keyOf.size);
  });
});
