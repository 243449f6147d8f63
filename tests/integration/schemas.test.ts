/** Real responses from every tool, success and error, checked against the AdCP 3.0.6 JSON schemas. */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveMediaBuy } from '../../src/services/approval.js';
import { responseProblems } from '../helpers/adcp-schema.js';
import { buyRequest, call, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let anon: Client;

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
  anon = await memoryClient(t, null);
});
afterAll(async () => {
  await buyer?.close();
  await anon?.close();
  await t?.close();
});

async function expectValid(client: Client, tool: string, args: Record<string, unknown>, expectError = false) {
  const { isError, data } = await call(client, tool, args);
  expect(isError).toBe(expectError);
  expect(responseProblems(tool, data, isError)).toEqual([]);
  return data;
}

describe('AdCP response schemas', () => {
  it('get_adcp_capabilities', async () => {
    await expectValid(anon, 'get_adcp_capabilities', { context: { correlation_id: 'x' } });
  });
  it('get_products, authenticated and anonymous, with a brief and wholesale', async () => {
    await expectValid(buyer, 'get_products', { brief: 'video for a car launch' });
    await expectValid(buyer, 'get_products', { buying_mode: 'wholesale' });
    await expectValid(anon, 'get_products', { buying_mode: 'wholesale' });
    await expectValid(anon, 'get_products', { brief: 'display' });
  });
  it('list_creative_formats', async () => {
    await expectValid(buyer, 'list_creative_formats', {});
  });
  it('create_media_buy: confirmed, submitted and error shapes', async () => {
    const ok = await expectValid(buyer, 'create_media_buy', buyRequest({ buyer_ref: 'schema' }));
    expect(ok.media_buy_id).toBeDefined();
    await expectValid(buyer, 'create_media_buy', buyRequest({ packages: [{ product_id: 'nope', pricing_option_id: 'x', budget: 1 }] }), true);
    await t.app.database.db.execute(`update adapter_configs set manual_approval_required = true` as never);
    t.app.services.catalog.invalidate();
    const submitted = await expectValid(buyer, 'create_media_buy', buyRequest());
    expect(submitted.status).toBe('submitted');
    await t.app.database.db.execute(`update adapter_configs set manual_approval_required = false` as never);
    t.app.services.catalog.invalidate();
    const polled = await expectValid(buyer, 'tasks/get', { task_id: submitted.task_id });
    expect(polled.status).toBe('submitted');
    await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId: submitted.task_id as string, actor: 'test' });
    await expectValid(buyer, 'tasks/get', { task_id: submitted.task_id });
    await expectValid(buyer, 'tasks/get', { task_id: 'task_unknown' }, true);
  });
  it('get_media_buys, including a buy awaiting approval', async () => {
    const data = await expectValid(buyer, 'get_media_buys', {});
    expect((data.media_buys as unknown[]).length).toBeGreaterThan(1);
    await expectValid(buyer, 'get_media_buys', { status_filter: ['bogus'] }, true);
  });
  it('errors from the envelope: version and auth', async () => {
    await expectValid(anon, 'get_products', { brief: 'x', adcp_major_version: 99 }, true);
    await expectValid(anon, 'get_media_buys', {}, true);
  });
});
