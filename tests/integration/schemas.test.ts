/**
 * Real responses from every tool, success and error, checked against the AdCP
 * 3.0.6 JSON schemas (list_authorized_properties against 2.5; aliases as the
 * tool they stand for), then all again with adcp_version "3.1" against the 3.1
 * reference schemas. The last test of each fails when a tool, or an alias, has
 * not been seen there in both shapes: a new tool cannot skip this file.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveMediaBuy } from '../../src/services/approval.js';
import { toolList } from '../../src/mcp/server.js';
import { have31Schemas, responseProblems, responseProblems31 } from '../helpers/adcp-schema.js';
import { buyRequest, call, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let anon: Client;

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
  anon = await memoryClient(t, null);
  // Listed, the MCP client checks each answer, errors included, against the tool's outputSchema too.
  await buyer.listTools();
  await anon.listTools();
});
afterAll(async () => {
  await buyer?.close();
  await anon?.close();
  await t?.close();
});

/** Which shapes each tool has been seen in, per release. comply_test_controller answers its errors in-band (success: false). */
const seen = new Map<string, Set<'success' | 'error'>>();
/** The release the running describe block asks for. */
let release: '3.0' | '3.1' = '3.0';

async function expectValid(client: Client, tool: string, args: Record<string, unknown>, expectError = false) {
  const pinned = release === '3.1' && args.adcp_version === undefined && args.adcp_major_version === undefined;
  const { isError, data } = await call(client, tool, pinned ? { ...args, adcp_version: '3.1' } : args);
  expect(isError, JSON.stringify(data)).toBe(expectError);
  expect(pinned ? responseProblems31(tool, data, isError) : responseProblems(tool, data, isError)).toEqual([]);
  const inBandError = tool === 'comply_test_controller' && data.success === false;
  const k = `${release} ${tool}`;
  seen.set(k, (seen.get(k) ?? new Set()).add(isError || inBandError ? 'error' : 'success'));
  return data;
}

const key = () => `schema-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const ACCOUNT = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' };

describe.each([
  { r: '3.0' as const, skip: false },
  // The 3.1 reference schemas sit beside the checkout (CI has them); the SDK ships only 3.0.
  { r: '3.1' as const, skip: !have31Schemas },
])('AdCP $r response schemas', ({ r, skip }) => {
  beforeAll(() => {
    release = r;
  });
  if (skip) it.skip('needs the AdCP 3.1 reference schemas (../shared/adcp-schemas/3.1.19 or ADCP_31_SCHEMAS)', () => {});
  if (skip) return;
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
    await t.app.database.db.execute(`update adapter_configs set manual_approval_required = true` as never);
    t.app.services.catalog.invalidate();
    const waiting = await expectValid(buyer, 'create_media_buy', buyRequest());
    await t.app.database.db.execute(`update adapter_configs set manual_approval_required = false` as never);
    t.app.services.catalog.invalidate();
    const data = await expectValid(buyer, 'get_media_buys', { status_filter: ['pending_creatives', 'pending_start', 'active', 'paused', 'completed', 'rejected', 'canceled'] });
    expect((data.media_buys as unknown[]).length).toBeGreaterThan(1);
    expect(waiting.status).toBe('submitted');
    const [pending] = await t.app.database.sql<{ id: string }[]>`select id from media_buys where status = 'pending_approval' order by created_at desc limit 1`;
    const one = await expectValid(buyer, 'get_media_buys', { media_buy_ids: [pending!.id] });
    expect((one.media_buys as { confirmed_at?: string | null }[])[0]!.confirmed_at).toBe(release === '3.1' ? null : undefined);
    await expectValid(buyer, 'get_media_buys', { status_filter: ['bogus'] }, true);
  });
  it('errors from the envelope: version and auth', async () => {
    await expectValid(anon, 'get_products', { brief: 'x', adcp_major_version: 99 }, true);
    await expectValid(anon, 'get_media_buys', {}, true);
  });

  it('get_adcp_capabilities, list_creative_formats and list_authorized_properties refuse what they cannot answer', async () => {
    await expectValid(anon, 'get_adcp_capabilities', { adcp_major_version: 99 }, true);
    await expectValid(buyer, 'list_creative_formats', { format_ids: 'display_300x250' }, true);
    await expectValid(anon, 'list_authorized_properties', {});
    await expectValid(anon, 'list_authorized_properties', { adcp_major_version: 99 }, true);
  });

  it('update_media_buy, get_media_buy_delivery and provide_performance_feedback', async () => {
    const buy = await expectValid(buyer, 'create_media_buy', buyRequest());
    const id = buy.media_buy_id as string;
    await expectValid(buyer, 'update_media_buy', { media_buy_id: id, paused: true, idempotency_key: key() });
    await expectValid(buyer, 'update_media_buy', { media_buy_id: 'mb_unknown', paused: true, idempotency_key: key() }, true);
    await expectValid(buyer, 'get_media_buy_delivery', { media_buy_ids: [id] });
    await expectValid(buyer, 'get_media_buy_delivery', { media_buy_ids: [id], start_date: '2026-12-02', end_date: '2026-12-01' }, true);
    const period = { start: '2026-06-01T00:00:00Z', end: '2026-06-08T00:00:00Z' };
    await expectValid(buyer, 'provide_performance_feedback', { media_buy_id: id, measurement_period: period, performance_index: 1.1, idempotency_key: key() });
    await expectValid(buyer, 'provide_performance_feedback', { media_buy_id: 'mb_unknown', measurement_period: period, performance_index: 1.1, idempotency_key: key() }, true);
  });

  it('sync_creatives and list_creatives', async () => {
    const banner = {
      creative_id: 'schema_banner',
      name: 'Schema banner',
      format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' },
      assets: { banner_image: { asset_type: 'image', url: 'https://cdn.acme.example/b.png', width: 300, height: 250 }, click_url: { asset_type: 'url', url: 'https://acme.example/' } },
    };
    await expectValid(buyer, 'sync_creatives', { account: ACCOUNT, creatives: [banner, { ...banner, creative_id: 'schema_bad', assets: {} }], idempotency_key: key() });
    await expectValid(buyer, 'sync_creatives', { account: ACCOUNT, creatives: [banner, banner], idempotency_key: key() }, true);
    await expectValid(buyer, 'list_creatives', {});
    await expectValid(buyer, 'list_creatives', { pagination: { cursor: 'not-a-cursor' } }, true);
  });

  it('sync_accounts, list_accounts and sync_governance', async () => {
    const synced = await expectValid(buyer, 'sync_accounts', { accounts: [{ ...ACCOUNT, billing: 'operator' }], idempotency_key: key() });
    const accountId = (synced.accounts as { account_id: string }[])[0]!.account_id;
    await expectValid(buyer, 'sync_accounts', { accounts: [{ ...ACCOUNT, billing: 'operator' }, { ...ACCOUNT, billing: 'operator' }], idempotency_key: key() }, true);
    await expectValid(buyer, 'list_accounts', {});
    await expectValid(buyer, 'list_accounts', { pagination: { cursor: 'not-a-cursor' } }, true);
    // categories: a 3.0 field, echoed in 3.0 and left out of 3.1 answers.
    const agent = { url: 'https://governance.example/mcp', authentication: { schemes: ['Bearer'], credentials: 'governance-token-0123456789abcdef' }, categories: ['brand_safety'] };
    await expectValid(buyer, 'sync_governance', { accounts: [{ account: { account_id: accountId }, governance_agents: [agent] }], idempotency_key: key() });
    await expectValid(buyer, 'sync_governance', { accounts: [{ account: { account_id: accountId }, governance_agents: [{ ...agent, url: 'http://governance.example/mcp' }] }], idempotency_key: key() }, true);
  });

  it('tasks: tasks/get and tasks/list under every name', async () => {
    await t.app.database.db.execute(`update adapter_configs set manual_approval_required = true` as never);
    t.app.services.catalog.invalidate();
    const submitted = await expectValid(buyer, 'create_media_buy', buyRequest());
    await t.app.database.db.execute(`update adapter_configs set manual_approval_required = false` as never);
    t.app.services.catalog.invalidate();
    for (const name of ['tasks_get', 'get_task_status']) {
      await expectValid(buyer, name, { task_id: submitted.task_id });
      await expectValid(buyer, name, { task_id: 'task_unknown' }, true);
    }
    for (const name of ['tasks/list', 'tasks_list', 'list_tasks']) {
      await expectValid(buyer, name, {});
      await expectValid(buyer, name, { filters: { created_after: 'yesterday' } }, true);
    }
  });

  it('sponsored intelligence', async () => {
    await expectValid(buyer, 'si_get_offering', { offering_id: 'ctv_primetime', include_products: true, intent: 'ctv' });
    await expectValid(buyer, 'si_get_offering', {}, true);
    const s = await expectValid(buyer, 'si_initiate_session', { intent: 'CTV for a sports drink', identity: { consent_granted: false }, idempotency_key: key() });
    await expectValid(buyer, 'si_initiate_session', { intent: 'x', identity: { consent_granted: false, user: { name: 'A' } }, idempotency_key: key() }, true);
    await expectValid(buyer, 'si_send_message', { session_id: s.session_id, message: 'and video?', idempotency_key: key() });
    await expectValid(buyer, 'si_send_message', { session_id: 'si_unknown', message: 'hello', idempotency_key: key() }, true);
    await expectValid(buyer, 'si_terminate_session', { session_id: s.session_id, reason: 'user_exit' });
    await expectValid(buyer, 'si_terminate_session', { session_id: 'si_unknown', reason: 'user_exit' }, true);
  });

  it('comply_test_controller: answers and in-band errors', async () => {
    const sandbox = { account: { brand: { domain: 'schema.example' }, operator: 'schema.example', sandbox: true } };
    await expectValid(buyer, 'comply_test_controller', { scenario: 'list_scenarios', ...sandbox });
    await expectValid(buyer, 'comply_test_controller', { scenario: 'nonexistent_scenario', params: {}, ...sandbox });
    await expectValid(anon, 'comply_test_controller', { scenario: 'list_scenarios' }, true);
  });

  it('has seen every tool and alias in both shapes', () => {
    const missing = toolList().flatMap((tool) => (['success', 'error'] as const).filter((shape) => !seen.get(`${r} ${tool.name}`)?.has(shape)).map((shape) => `${tool.name}: ${shape}`));
    expect(missing).toEqual([]);
  });
});
