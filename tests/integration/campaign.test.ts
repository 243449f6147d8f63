/**
 * A buyer agent runs a whole campaign over real HTTP, as an AI buying agent
 * would: discover, buy, upload creatives, change the buy, read delivery, give
 * feedback, cancel. Every response is checked against the AdCP schemas.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseProblems } from '../helpers/adcp-schema.js';
import { call, futureFlight, httpClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let agent: Client;
const updates: string[] = [];
const account = { brand: { domain: 'trailrunner.example' }, operator: 'agency.example', sandbox: true };
let key = 0;

async function step(tool: string, args: Record<string, unknown>) {
  const mutating = ['create_media_buy', 'update_media_buy', 'sync_creatives', 'provide_performance_feedback'].includes(tool);
  const res = await call(agent, tool, { ...(mutating && { idempotency_key: `campaign-step-${String(++key).padStart(6, '0')}` }), ...args });
  expect(res.isError, `${tool}: ${JSON.stringify(res.data).slice(0, 300)}`).toBe(false);
  if (tool !== 'comply_test_controller') expect(responseProblems(tool, res.data)).toEqual([]);
  return res.data as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- AdCP payloads read ad hoc
}

beforeAll(async () => {
  t = await startTestApp({ worker: true, http: true });
  agent = await httpClient(t);
  agent.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri);
  });
});
afterAll(async () => {
  await agent?.close();
  await t?.close();
});

describe('a full campaign through MCP', () => {
  it('discovers, buys, uploads creatives, updates, reads delivery, gives feedback and cancels', async () => {
    const caps = await step('get_adcp_capabilities', {});
    expect(caps.supported_protocols).toContain('media_buy');

    const { products } = await step('get_products', { brief: 'Pre-roll video for a trail running shoe launch in the US', account });
    const product = products.find((p: { product_id: string }) => p.product_id === 'video_preroll_news');
    expect(product).toBeDefined();
    const pricing = product.pricing_options[0];
    const { formats } = await step('list_creative_formats', { format_ids: [product.format_ids[0]] });
    expect(formats[0].format_id).toEqual(product.format_ids[0]);

    const buy = await step('create_media_buy', { account, brand: account.brand, ...futureFlight(30), buyer_ref: 'trail-launch', packages: [{ product_id: product.product_id, pricing_option_id: pricing.pricing_option_id, budget: 8000 }] });
    expect(buy.status).toBe('pending_creatives');
    const uri = `media-buy://${buy.media_buy_id}`;
    await agent.subscribeResource({ uri });
    const state = async () => JSON.parse(((await agent.readResource({ uri })).contents[0] as { text: string }).text);
    await waitFor(async () => (await state()).fulfilment[0].state === 'booked');

    const packageId = buy.packages[0].package_id;
    const synced = await step('sync_creatives', {
      account,
      creatives: [{ creative_id: 'trail-30s', name: 'Trail launch 30s', format_id: formats[0].format_id, assets: { video: { asset_type: 'video', url: 'https://cdn.trailrunner.example/launch30.mp4', width: 1920, height: 1080, duration_ms: 30000 } } }],
      assignments: [{ creative_id: 'trail-30s', package_id: packageId }],
    });
    expect(synced.creatives[0], JSON.stringify(synced.creatives[0])).toMatchObject({ creative_id: 'trail-30s', action: 'created' });
    const afterCreatives = await step('get_media_buys', { media_buy_ids: [buy.media_buy_id] });
    expect(afterCreatives.media_buys[0].status).toBe('pending_start');
    // A sandbox account's buys are simulated, and the answers say so.
    expect(afterCreatives.sandbox).toBe(true);

    const raised = await step('update_media_buy', { account, media_buy_id: buy.media_buy_id, packages: [{ package_id: packageId, budget: 12000 }] });
    // Paused before its flight starts, it waits for its start as before (to go paused then); resumed, it will go active.
    const paused = await step('update_media_buy', { account, media_buy_id: buy.media_buy_id, paused: true });
    expect(paused.status).toBe('pending_start');
    expect(paused.sandbox).toBe(true);
    expect(paused.valid_actions).toContain('resume');
    expect(paused.revision).toBeGreaterThan(raised.revision);
    const resumed = await step('update_media_buy', { account, media_buy_id: buy.media_buy_id, paused: false });
    expect(resumed.status).toBe('pending_start');
    expect(resumed.valid_actions).toContain('pause');

    await step('comply_test_controller', { account, scenario: 'simulate_delivery', params: { media_buy_id: buy.media_buy_id, impressions: 40000, clicks: 320, reported_spend: { amount: 1120, currency: 'USD' } } });
    const delivery = await step('get_media_buy_delivery', { account, media_buy_ids: [buy.media_buy_id] });
    expect(delivery.media_buy_deliveries[0].totals).toMatchObject({ impressions: 40000, clicks: 320, spend: 1120 });

    const period = { start: new Date(Date.now() - 86400e3).toISOString(), end: new Date().toISOString() };
    await step('provide_performance_feedback', { media_buy_id: buy.media_buy_id, measurement_period: period, performance_index: 1.2, metric_type: 'completion_rate', feedback_source: 'buyer_attribution' });

    const canceled = await step('update_media_buy', { account, media_buy_id: buy.media_buy_id, canceled: true, cancellation_reason: 'launch moved' });
    expect(canceled.status).toBe('canceled');
    const final = await step('get_media_buys', { media_buy_ids: [buy.media_buy_id] });
    expect(final.media_buys[0]).toMatchObject({ status: 'canceled', total_budget: 12000, cancellation: { canceled_by: 'buyer', reason: 'launch moved' } });

    const tasks = await step('tasks/list', {});
    expect(tasks.tasks.length).toBeGreaterThanOrEqual(4);
    await waitFor(async () => updates.filter((u) => u === uri).length >= 3);
  });
});
