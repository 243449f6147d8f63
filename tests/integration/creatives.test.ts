/** sync_creatives and list_creatives against real Postgres, through a real MCP client; every response checked against the AdCP schemas. */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveMediaBuy } from '../../src/services/approval.js';
import { responseProblems } from '../helpers/adcp-schema.js';
import { addBuyer, buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let buyerB: Client;
let sql: postgres.Sql;

const AGENT = 'https://creative.adcontextprotocol.org';
const ACCOUNT = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' };

interface Item {
  creative_id: string;
  action: string;
  status?: string;
  changes?: string[];
  errors?: { code: string; field?: string; message: string; details?: Record<string, unknown> }[];
  warnings?: string[];
  assigned_to?: string[];
  assignment_errors?: Record<string, string>;
}

const display = (id: string, o: Record<string, unknown> = {}) => ({
  creative_id: id,
  name: `Banner ${id}`,
  format_id: { agent_url: AGENT, id: 'display_300x250' },
  assets: {
    banner_image: { asset_type: 'image', url: `https://cdn.acme.example/${id}.png`, width: 300, height: 250 },
    click_url: { asset_type: 'url', url: 'https://acme.example/' },
  },
  ...o,
});

const key = () => `key-${Math.random().toString(36).slice(2)}-${Date.now()}`;

/** A tool call whose response must match the AdCP schema, success or error. */
async function valid(client: Client, tool: string, args: Record<string, unknown>) {
  const res = await call(client, tool, args);
  expect(responseProblems(tool, res.data, res.isError)).toEqual([]);
  return res;
}

async function sync(args: Record<string, unknown>, client = buyer) {
  const res = await valid(client, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), ...args });
  expect(res.isError).toBe(false);
  expect(res.data.errors).toBeUndefined();
  return { ...res, items: res.data.creatives as Item[] };
}

const item = (items: Item[], id: string) => items.find((x) => x.creative_id === id)!;

async function list(args: Record<string, unknown> = {}, client = buyer) {
  const res = await valid(client, 'list_creatives', args);
  expect(res.isError).toBe(false);
  return res.data as { creatives: { creative_id: string; status: string; name: string; assignments?: { assignment_count: number; assigned_packages: { package_id: string }[] } }[]; query_summary: { total_matching: number; returned: number }; pagination: { has_more: boolean; cursor?: string } };
}

const counts = async () => {
  const [r] = await sql`select (select count(*)::int from creatives) as creatives, (select count(*)::int from creative_assignments) as assignments,
    (select count(*)::int from accounts) as accounts, (select coalesce(sum(revision), 0)::int from media_buys) as revisions`;
  return r;
};

/** A display package: it takes the display_300x250 banners these tests upload. */
const displayPackage = (o: Record<string, unknown> = {}) => ({ product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 5000, ...o });

async function pendingBuy(client = buyer, account = ACCOUNT) {
  const { data } = await call(client, 'create_media_buy', buyRequest({ account, packages: [displayPackage()] }));
  expect(data.status).toBe('pending_creatives');
  return { id: data.media_buy_id as string, packageId: (data.packages as { package_id: string }[])[0]!.package_id };
}

/** As if the worker had booked the buy at its ad server (these tests run none): its create task completed. */
const booked = (id: string) => sql`update workflow_steps set status = 'completed' where media_buy_id = ${id} and step_type = 'create_media_buy'`;

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
  const tokenB = 'tok_creatives_buyer_b';
  await addBuyer(t, { id: 'prn_creatives_b', token: tokenB, name: 'Buyer B' });
  buyerB = await memoryClient(t, tokenB);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await buyer?.close();
  await buyerB?.close();
  await sql?.end();
  await t?.close();
});

describe('sync_creatives', () => {
  it('creates, then reports unchanged, then updated with the changed fields', async () => {
    const first = await sync({ creatives: [display('cr_a'), display('cr_b', { tags: ['q3'] })], context: { correlation_id: 'sync-1' } });
    expect(first.data.context).toEqual({ correlation_id: 'sync-1' });
    expect(first.items).toEqual([
      { creative_id: 'cr_a', action: 'created', status: 'approved' },
      { creative_id: 'cr_b', action: 'created', status: 'approved' },
    ]);
    const [row] = await sql`select status, format_id, details from creatives where id = 'cr_b'`;
    expect(row).toMatchObject({ status: 'approved', format_id: { agent_url: AGENT, id: 'display_300x250' }, details: { fields: { tags: ['q3'] }, account_id: expect.stringMatching(/^acct_/) } });

    const again = await sync({ creatives: [display('cr_a'), display('cr_b', { tags: ['q3'] })] });
    expect(again.items.map((x) => x.action)).toEqual(['unchanged', 'unchanged']);

    const changed = await sync({ creatives: [display('cr_a', { name: 'Renamed' }), display('cr_b', { tags: ['q4'] })] });
    expect(item(changed.items, 'cr_a')).toEqual({ creative_id: 'cr_a', action: 'updated', status: 'approved', changes: ['name'] });
    expect(item(changed.items, 'cr_b')).toMatchObject({ action: 'updated', changes: ['tags'] });
    const [renamed] = await sql`select name, created_at < updated_at as touched from creatives where id = 'cr_a'`;
    expect(renamed).toEqual({ name: 'Renamed', touched: true });
  });

  it('fails an invalid creative on its own and keeps the others, in lenient mode', async () => {
    const res = await sync({
      validation_mode: 'lenient',
      creatives: [
        display('cr_ok'),
        display('cr_unknown_format', { format_id: { agent_url: AGENT, id: 'display_999x999' } }),
        display('cr_no_click', { assets: { banner_image: { asset_type: 'image', url: 'https://cdn.acme.example/x.png', width: 300, height: 250 } } }),
        display('cr_malformed', { assets: { banner_image: { asset_type: 'image', url: 'https://cdn.acme.example/x.png' } } }),
      ],
    });
    expect(item(res.items, 'cr_ok')).toMatchObject({ action: 'created', status: 'approved' });
    const unknown = item(res.items, 'cr_unknown_format');
    expect(unknown).toMatchObject({ action: 'failed', errors: [{ code: 'INVALID_FORMAT', field: 'creatives[1].format_id' }] });
    expect(unknown.status).toBeUndefined();
    expect(item(res.items, 'cr_no_click')).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[2].assets.click_url' }] });
    expect(item(res.items, 'cr_malformed')).toMatchObject({ action: 'failed', errors: [{ code: 'VALIDATION_ERROR' }] });
    expect(item(res.items, 'cr_malformed').errors![0]!.field).toMatch(/^creatives\[3\]\.assets\.banner_image/);
    const rows = await sql`select id from creatives where id in ('cr_ok', 'cr_unknown_format', 'cr_no_click', 'cr_malformed')`;
    expect(rows.map((r) => r.id)).toEqual(['cr_ok']);
  });

  it('fails assets an ad server would serve wrongly: a URL that is not http(s), an image of another size than the format’s', async () => {
    const image = (o: Record<string, unknown>) => ({ asset_type: 'image', url: 'https://cdn.acme.example/x.png', width: 300, height: 250, ...o });
    const res = await sync({
      validation_mode: 'lenient',
      creatives: [
        display('cr_js_click', { assets: { banner_image: image({}), click_url: { asset_type: 'url', url: 'javascript:alert(1)' } } }),
        display('cr_data_image', { assets: { banner_image: image({ url: 'data:image/png;base64,AAAA' }), click_url: { asset_type: 'url', url: 'https://acme.example/' } } }),
        display('cr_wrong_size', { assets: { banner_image: image({ width: 728, height: 90 }), click_url: { asset_type: 'url', url: 'https://acme.example/' } } }),
        display('cr_right_size', { assets: { banner_image: image({}), click_url: { asset_type: 'url', url: 'HTTPS://acme.example/' } } }),
      ],
    });
    expect(item(res.items, 'cr_js_click')).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[0].assets.click_url' }] });
    expect(item(res.items, 'cr_data_image')).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[1].assets.banner_image' }] });
    expect(item(res.items, 'cr_wrong_size')).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[2].assets.banner_image', message: expect.stringContaining('728x90') }] });
    expect(item(res.items, 'cr_right_size').action).toBe('created');
  });

  it('takes a 3.1 one-asset slot array as the asset, and fails 3.1 canonical formats, several assets in a slot and new asset types with UNSUPPORTED_FEATURE', async () => {
    const image = { asset_type: 'image', url: 'https://cdn.acme.example/arr.png', width: 300, height: 250 };
    const res = await sync({
      adcp_version: '3.1',
      validation_mode: 'lenient',
      creatives: [
        display('cr31_array', { assets: { banner_image: [image], click_url: { asset_type: 'url', url: 'https://acme.example/' } } }),
        { creative_id: 'cr31_kind', name: 'Kind', format_kind: 'image', assets: { image } },
        display('cr31_two', { assets: { banner_image: [image, image], click_url: { asset_type: 'url', url: 'https://acme.example/' } } }),
        display('cr31_pixel', { assets: { ...display('x').assets, impression_tracker: { asset_type: 'pixel_tracker', event: 'impression', url: 'https://t.example/i?cb={CACHEBUSTER}' } } }),
      ],
    });
    expect(item(res.items, 'cr31_array')).toMatchObject({ action: 'created' });
    expect((await sql`select assets from creatives where id = 'cr31_array'`)[0]!.assets).toMatchObject({ banner_image: image });
    expect(item(res.items, 'cr31_kind')).toMatchObject({ action: 'failed', errors: [{ code: 'UNSUPPORTED_FEATURE', field: 'creatives[1].format_kind' }] });
    expect(item(res.items, 'cr31_two')).toMatchObject({ action: 'failed', errors: [{ code: 'UNSUPPORTED_FEATURE', field: 'creatives[2].assets.banner_image' }] });
    expect(item(res.items, 'cr31_pixel')).toMatchObject({ action: 'failed', errors: [{ code: 'UNSUPPORTED_FEATURE', field: 'creatives[3].assets.impression_tracker.asset_type' }] });
    expect((await sql`select id from creatives where id like 'cr31_%'`).map((r) => r.id)).toEqual(['cr31_array']);
  });

  it('matches a format by id when the agent_url is foreign, with a warning, and accepts assets keyed by type', async () => {
    const res = await sync({ creatives: [display('cr_foreign', { format_id: { agent_url: 'https://your-platform.example.com', id: 'display_300x250' } })] });
    expect(item(res.items, 'cr_foreign')).toMatchObject({ action: 'created', warnings: [expect.stringContaining('matched format "display_300x250" by id')] });
    const byType = await sync({
      creatives: [display('cr_by_type', { assets: { image: { asset_type: 'image', url: 'https://cdn.acme.example/i.png', width: 300, height: 250 }, landing: { asset_type: 'url', url: 'https://acme.example/' } } })],
    });
    expect(item(byType.items, 'cr_by_type').action).toBe('created');
  });

  it('checks assets for sandbox accounts and compliance-test tenants too: no exemptions', async () => {
    const video = { video: { asset_type: 'video', url: 'https://cdn.acme.example/v.mp4', width: 1920, height: 1080, duration_ms: 30000 } };
    const res = await sync({ account: { ...ACCOUNT, sandbox: true }, creatives: [display('cr_sandbox_video', { assets: video })] });
    expect(res.data.sandbox).toBe(true);
    expect(item(res.items, 'cr_sandbox_video')).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[0].assets.banner_image' }, { code: 'FORMAT_MISMATCH', field: 'creatives[0].assets.click_url' }] });
    await sql`update tenants set settings = settings || '{"test_controller": "enabled"}'::jsonb where id = 'demo'`;
    const testing = await memoryClient(t);
    try {
      const res2 = await sync({ creatives: [display('cr_live_video', { assets: video })] }, testing);
      expect(item(res2.items, 'cr_live_video')).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH' }, { code: 'FORMAT_MISMATCH' }] });
    } finally {
      await testing.close();
      await sql`update tenants set settings = settings - 'test_controller' where id = 'demo'`;
    }
    expect(await sql`select id from creatives where id in ('cr_sandbox_video', 'cr_live_video')`).toEqual([]);
  });

  it('dry_run answers as a real sync would and writes nothing', async () => {
    const { packageId } = await pendingBuy();
    const before = await counts();
    const res = await sync({
      dry_run: true,
      creatives: [display('cr_dry'), display('cr_a', { name: 'Dry rename' })],
      assignments: [{ creative_id: 'cr_dry', package_id: packageId }],
      delete_missing: true,
    });
    expect(res.data.dry_run).toBe(true);
    expect(item(res.items, 'cr_dry')).toMatchObject({ action: 'created', assigned_to: [packageId] });
    expect(item(res.items, 'cr_a')).toMatchObject({ action: 'updated', changes: ['name'] });
    expect(item(res.items, 'cr_ok')).toEqual({ creative_id: 'cr_ok', action: 'deleted' });
    expect(await counts()).toEqual(before);
    const [a] = await sql`select name, status from creatives where id = 'cr_a'`;
    expect(a).toEqual({ name: 'Renamed', status: 'approved' });
  });

  it('rejects a malformed request as a whole, writing nothing', async () => {
    const before = await counts();
    const dup = await valid(buyer, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: [display('cr_dup'), display('cr_dup')], context: { c: 1 } });
    expect(dup.isError).toBe(true);
    expect(dup.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'creatives[1].creative_id' });
    expect(dup.data.context).toEqual({ c: 1 });
    const scoped = await valid(buyer, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: [display('cr_x')], creative_ids: ['cr_x'], delete_missing: true });
    expect(scoped.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'delete_missing' });
    const empty = await valid(buyer, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: [] });
    expect(empty.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'creatives' });
    const anon = await memoryClient(t, null);
    const unauthenticated = await valid(anon, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: [display('cr_anon')] });
    expect(unauthenticated.data.adcp_error).toMatchObject({ code: 'AUTH_REQUIRED' });
    await anon.close();
    expect(await counts()).toEqual(before);
  });

  it('applies nothing in strict validation_mode when a creative fails', async () => {
    // strict is AdCP's default: the same without validation_mode.
    const byDefault = await sync({ creatives: [display('cr_strict_ok'), display('cr_strict_bad', { format_id: { agent_url: AGENT, id: 'nope' } })] });
    expect(item(byDefault.items, 'cr_strict_ok')).toMatchObject({ action: 'failed', errors: [{ code: 'VALIDATION_ERROR' }] });
    const res = await sync({ validation_mode: 'strict', creatives: [display('cr_strict_ok'), display('cr_strict_bad', { format_id: { agent_url: AGENT, id: 'nope' } })] });
    expect(item(res.items, 'cr_strict_ok')).toMatchObject({ action: 'failed', errors: [{ code: 'VALIDATION_ERROR' }] });
    expect(item(res.items, 'cr_strict_bad')).toMatchObject({ action: 'failed', errors: [{ code: 'INVALID_FORMAT' }] });
    expect(await sql`select id from creatives where id like 'cr_strict%'`).toHaveLength(0);
    const lenient = await sync({ validation_mode: 'lenient', creatives: [display('cr_strict_ok'), display('cr_strict_bad', { format_id: { agent_url: AGENT, id: 'nope' } })] });
    expect(item(lenient.items, 'cr_strict_ok').action).toBe('created');
  });

  it('judges each creative’s patterns, formats and bounds on its own: in lenient mode the valid ones are kept', async () => {
    const bad = display('cr_bounds_bad', { assets: { banner_image: { asset_type: 'image', url: 'https://cdn.acme.example/a|b.png', width: 0, height: 250 }, click_url: { asset_type: 'url', url: 'https://acme.example/' } } });
    const res = await sync({ validation_mode: 'lenient', creatives: [display('cr_bounds_ok'), bad] });
    expect(item(res.items, 'cr_bounds_ok').action).toBe('created');
    const failed = item(res.items, 'cr_bounds_bad') as Item & { errors: { code: string; field: string; issues: { pointer: string; keyword: string }[] }[] };
    expect(failed).toMatchObject({ action: 'failed', errors: [{ code: 'VALIDATION_ERROR', field: 'creatives[1].assets.banner_image.url' }] });
    expect(failed.errors[0]!.issues.map((i) => [i.pointer, i.keyword])).toEqual([
      ['/creatives/1/assets/banner_image/url', 'format'],
      ['/creatives/1/assets/banner_image/width', 'minimum'],
    ]);
    expect(await sql`select id from creatives where id like 'cr_bounds%' order by id`).toEqual([{ id: 'cr_bounds_ok' }]);
  });

  it('replays a retried request and refuses a reused key with a different request', async () => {
    const idempotency_key = key();
    const first = await sync({ idempotency_key, creatives: [display('cr_idem')], context: { try: 1 } });
    const retry = await sync({ idempotency_key, creatives: [display('cr_idem')], context: { try: 2 } });
    expect(retry.data).toMatchObject({ replayed: true, context: { try: 2 } });
    expect(retry.items).toEqual(first.items);
    const clash = await valid(buyer, 'sync_creatives', { account: ACCOUNT, idempotency_key, creatives: [display('cr_idem', { name: 'Other' })] });
    expect(clash.data.adcp_error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('delete_missing archives the creatives left out; a re-sync brings one back', async () => {
    const res = await sync({ creatives: [display('cr_a', { name: 'Renamed' })], delete_missing: true });
    const deleted = res.items.filter((x) => x.action === 'deleted');
    expect(deleted.map((x) => x.creative_id)).toEqual(expect.arrayContaining(['cr_b', 'cr_ok', 'cr_foreign']));
    expect(deleted.every((x) => x.status === undefined)).toBe(true);
    expect(item(res.items, 'cr_a').action).toBe('unchanged');
    expect((await list()).creatives.map((c) => c.creative_id)).toEqual(['cr_a']);
    const archived = await list({ filters: { statuses: ['archived'] } });
    expect(archived.creatives.map((c) => c.creative_id)).toContain('cr_b');
    const back = await sync({ creatives: [display('cr_b', { tags: ['q4'] })] });
    expect(item(back.items, 'cr_b')).toMatchObject({ action: 'updated', status: 'approved', changes: ['status'] });
  });

  it('holds new and changed creatives for review when the tenant reviews by hand', async () => {
    await sql`update tenants set settings = settings || '{"creative_review": "manual"}'::jsonb where id = 'demo'`;
    const manual = await memoryClient(t);
    try {
      const res = await sync({ creatives: [display('cr_review'), display('cr_a', { name: 'Renamed again' })] }, manual);
      expect(item(res.items, 'cr_review')).toMatchObject({ action: 'created', status: 'pending_review' });
      expect(item(res.items, 'cr_a')).toMatchObject({ action: 'updated', status: 'approved' });
      const [row] = await sql`select status from creatives where id = 'cr_review'`;
      expect(row!.status).toBe('pending_review');
    } finally {
      await manual.close();
      await sql`update tenants set settings = settings - 'creative_review' where id = 'demo'`;
    }
  });
});

describe('sync_creatives assignments', () => {
  it('assigns to an own package and moves a pending_creatives buy to pending_start, announcing it', async () => {
    const { id, packageId } = await pendingBuy();
    const uri = `media-buy://${id}`;
    const updates: string[] = [];
    buyer.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await buyer.subscribeResource({ uri });
    const res = await sync({ creatives: [display('cr_assign')], assignments: [{ creative_id: 'cr_assign', package_id: packageId, weight: 60 }] });
    expect(item(res.items, 'cr_assign')).toEqual({ creative_id: 'cr_assign', action: 'created', status: 'approved', assigned_to: [packageId] });
    const [buy] = await sql`select status, revision from media_buys where id = ${id}`;
    expect(buy).toEqual({ status: 'pending_start', revision: 2 });
    const [assignment] = await sql`select weight from creative_assignments where package_id = ${packageId} and creative_id = 'cr_assign'`;
    expect(assignment!.weight).toBe(60);
    const got = await valid(buyer, 'get_media_buys', { media_buy_ids: [id] });
    expect((got.data.media_buys as { status: string }[])[0]!.status).toBe('pending_start');
    await waitFor(async () => updates.includes(uri));
    await buyer.unsubscribeResource({ uri });

    const listed = await list({ filters: { media_buy_ids: [id] } });
    expect(listed.creatives.map((c) => c.creative_id)).toEqual(['cr_assign']);
    expect(listed.creatives[0]!.assignments).toMatchObject({ assignment_count: 1, assigned_packages: [{ package_id: packageId }] });
  });

  it('keeps each creative in its own account: no move by a sync under another, no assignment to another account’s buy', async () => {
    const OTHER = { brand: { domain: 'other-brand.example' }, operator: 'agency.example' };
    await sync({ creatives: [display('cr_account_a')] });
    const moved = await valid(buyer, 'sync_creatives', { account: OTHER, idempotency_key: key(), creatives: [display('cr_account_a', { name: 'Moved' })] });
    expect(item(moved.data.creatives as Item[], 'cr_account_a')).toMatchObject({ action: 'failed', errors: [{ code: 'VALIDATION_ERROR', field: 'creatives[0].creative_id' }] });
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: OTHER, packages: [{ product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 5000 }] }));
    const otherPackage = (data.packages as { package_id: string }[])[0]!.package_id;
    const crossed = await valid(buyer, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: [display('cr_account_a')], assignments: [{ creative_id: 'cr_account_a', package_id: otherPackage }] });
    expect(JSON.stringify(crossed.data)).toContain('belong to different accounts');
    expect(await sql`select 1 from creative_assignments where package_id = ${otherPackage}`).toHaveLength(0);

    // delete_missing prunes the sync's own account only; what it archives comes off the line items it was on (a job).
    await sync({ account: OTHER, creatives: [display('cr_account_b')], assignments: [{ creative_id: 'cr_account_b', package_id: otherPackage }] });
    const creativeJobs = async () => (await sql`select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'sync_adapter_creatives'`)[0]!.n as number;
    await sql`delete from graphile_worker._private_jobs`;
    const pruned = await sync({ account: OTHER, creatives: [display('cr_account_b2')], delete_missing: true });
    expect(pruned.items.filter((x) => x.action === 'deleted').map((x) => x.creative_id)).toEqual(['cr_account_b']);
    expect((await sql`select status from creatives where id = 'cr_account_a'`)[0]!.status).not.toBe('archived');
    expect(await creativeJobs()).toBeGreaterThan(0);

    // list_creatives narrows to an account named at the top level or in filters.accounts.
    const ids = (r: Awaited<ReturnType<typeof list>>) => r.creatives.map((c) => c.creative_id);
    expect(ids(await list({ account: OTHER }))).toEqual(['cr_account_b2']);
    expect(ids(await list({ filters: { accounts: [ACCOUNT] } }))).toContain('cr_account_a');
    expect(ids(await list({ filters: { accounts: [ACCOUNT] } }))).not.toContain('cr_account_b2');
    expect(ids(await list({ filters: { accounts: [{ brand: { domain: 'nobody.example' }, operator: 'agency.example' }] } }))).toEqual([]);
  });

  it('moves a booked buy whose flight has started to active, and assigns library creatives by id (AdCP 2 map form too)', async () => {
    const { id, packageId } = await pendingBuy();
    await sql`update media_buys set start_time = now() - interval '1 hour' where id = ${id}`;
    await booked(id);
    const res = await sync({ creatives: [display('cr_live')], assignments: { cr_live: [packageId], cr_a: [packageId] } });
    expect(item(res.items, 'cr_live')).toMatchObject({ action: 'created', assigned_to: [packageId] });
    expect(item(res.items, 'cr_a')).toEqual({ creative_id: 'cr_a', action: 'unchanged', status: 'approved', assigned_to: [packageId] });
    const [buy] = await sql`select status from media_buys where id = ${id}`;
    expect(buy!.status).toBe('active');
  });

  it('moves a booked buy created paused (AdCP 3.1) whose flight has started to paused, not active', async () => {
    const { id, packageId } = await pendingBuy();
    await sql`update media_buys set start_time = now() - interval '1 hour', start_paused = true where id = ${id}`;
    await booked(id);
    await sync({ creatives: [display('cr_paused_start')], assignments: [{ creative_id: 'cr_paused_start', package_id: packageId }] });
    expect((await sql`select status from media_buys where id = ${id}`)[0]!.status).toBe('paused');
  });

  it("fails an assignment to another buyer's package or an unknown one with PACKAGE_NOT_FOUND", async () => {
    const other = await pendingBuy(buyerB);
    const before = await counts();
    const res = await sync({
      creatives: [display('cr_a', { name: 'Renamed again' })],
      assignments: [
        { creative_id: 'cr_a', package_id: other.packageId },
        { creative_id: 'cr_a', package_id: 'pkg_does_not_exist' },
        { creative_id: 'cr_never_synced', package_id: other.packageId },
      ],
    });
    const a = item(res.items, 'cr_a');
    expect(a).toMatchObject({ action: 'unchanged', status: 'approved', assigned_to: [] });
    // The creative did not fail: its assignments' failures are in assignment_errors (AdCP keeps errors for failed entries).
    expect(a.errors).toBeUndefined();
    expect(Object.keys(a.assignment_errors!)).toEqual([other.packageId, 'pkg_does_not_exist']);
    expect(Object.values(a.assignment_errors!).every((m) => /was not found among your media buys/.test(m))).toBe(true);
    expect(item(res.items, 'cr_never_synced')).toMatchObject({ action: 'failed', errors: [{ code: 'CREATIVE_NOT_FOUND' }] });
    expect(await counts()).toEqual(before);
    const [buy] = await sql`select status from media_buys where id = ${other.id}`;
    expect(buy!.status).toBe('pending_creatives');
  });

  it('writes nothing when the transaction fails part-way', async () => {
    const { id, packageId } = await pendingBuy();
    await sql.unsafe(`create or replace function fail_assign() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$;`);
    await sql.unsafe(`create trigger fail_assign before insert on creative_assignments for each row execute function fail_assign()`);
    try {
      const before = await counts();
      const res = await valid(buyer, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: [display('cr_atomic')], assignments: [{ creative_id: 'cr_atomic', package_id: packageId }] });
      expect(res.isError).toBe(true);
      expect(res.data.adcp_error).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(JSON.stringify(res.data)).not.toContain('injected failure');
      expect(await counts()).toEqual(before);
      const [buy] = await sql`select status from media_buys where id = ${id}`;
      expect(buy!.status).toBe('pending_creatives');
    } finally {
      await sql.unsafe(`drop trigger fail_assign on creative_assignments`);
    }
  });

  it('releases assignments when a buy is canceled, and refuses new ones to it', async () => {
    const { id, packageId } = await pendingBuy();
    await sync({ creatives: [display('cr_canceled')], assignments: [{ creative_id: 'cr_canceled', package_id: packageId }] });
    await sql`update media_buys set status = 'canceled' where id = ${id}`;
    const [listed] = (await list({ filters: { creative_ids: ['cr_canceled'] } })).creatives;
    expect(listed).toMatchObject({ status: 'approved', assignments: { assignment_count: 0, assigned_packages: [] } });
    expect((await list({ filters: { unassigned: true, creative_ids: ['cr_canceled'] } })).creatives).toHaveLength(1);
    expect((await list({ filters: { media_buy_ids: [id] } })).creatives.map((c) => c.creative_id)).toEqual(['cr_canceled']);
    const res = await sync({ creatives: [display('cr_a', { name: 'Renamed again' })], assignments: [{ creative_id: 'cr_a', package_id: packageId }] });
    expect(item(res.items, 'cr_a').assignment_errors![packageId]).toMatch(/cannot take creatives: its media buy is canceled/);
  });
  it('refuses to assign a rejected or archived creative, which never counts as a buy’s creatives; one pending review does', async () => {
    const GAMMA = { brand: { domain: 'gamma-brand.example' }, operator: 'agency.example' };
    await sync({ account: GAMMA, creatives: [display('cr_rejected'), display('cr_archived'), display('cr_kept')] });
    await sql`update creatives set status = 'rejected', details = details || '{"rejection_reason": "misleading claim"}'::jsonb where id = 'cr_rejected'`;
    const pruned = await sync({ account: GAMMA, creatives: [display('cr_rejected'), display('cr_kept')], delete_missing: true });
    expect(pruned.items.filter((x) => x.action === 'deleted').map((x) => x.creative_id)).toEqual(['cr_archived']);
    const { id, packageId } = await pendingBuy(buyer, GAMMA);

    // sync_creatives: each refusal on its creative's item, by package; nothing assigned, the buy still waits.
    const res = await sync({ account: GAMMA, creatives: [display('cr_kept')], assignments: [{ creative_id: 'cr_rejected', package_id: packageId }, { creative_id: 'cr_archived', package_id: packageId }] });
    expect(item(res.items, 'cr_rejected')).toMatchObject({ action: 'unchanged', status: 'rejected', assigned_to: [] });
    expect(item(res.items, 'cr_rejected').assignment_errors![packageId]).toMatch(/"cr_rejected" was rejected \(misleading claim\) and cannot serve/);
    expect(item(res.items, 'cr_archived')).toMatchObject({ action: 'unchanged', status: 'archived', assigned_to: [] });
    expect(item(res.items, 'cr_archived').assignment_errors![packageId]).toMatch(/"cr_archived" is archived and cannot serve/);
    expect(await sql`select 1 from creative_assignments where package_id = ${packageId}`).toHaveLength(0);
    expect((await sql`select status from media_buys where id = ${id}`)[0]!.status).toBe('pending_creatives');
    // A creative archived by the same sync's delete_missing is refused too.
    const again = await sync({ account: GAMMA, creatives: [display('cr_rejected')], delete_missing: true, assignments: [{ creative_id: 'cr_kept', package_id: packageId }] });
    expect(item(again.items, 'cr_kept').assignment_errors![packageId]).toMatch(/"cr_kept" is archived/);
    expect((await sql`select status from media_buys where id = ${id}`)[0]!.status).toBe('pending_creatives');

    // update_media_buy and create_media_buy refuse them as a whole, naming the assignment.
    const updated = await valid(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: key(), packages: [{ package_id: packageId, creative_assignments: [{ creative_id: 'cr_rejected' }] }] });
    expect(updated.data.adcp_error).toMatchObject({ code: 'CREATIVE_REJECTED', field: 'packages[0].creative_assignments[0].creative_id', details: { creative_id: 'cr_rejected', reasons: ['misleading claim'] } });
    const created = await valid(buyer, 'create_media_buy', buyRequest({ account: GAMMA, packages: [displayPackage({ creative_assignments: [{ creative_id: 'cr_archived' }] })] }));
    expect(created.data.adcp_error).toMatchObject({ code: 'INVALID_STATE', field: 'packages[0].creative_assignments[0].creative_id', details: { creative_id: 'cr_archived', status: 'archived' } });
    expect((await sql`select status, revision from media_buys where id = ${id}`)[0]).toEqual({ status: 'pending_creatives', revision: 1 });

    // A creative pending review may yet be approved: it counts.
    const review = await pendingBuy();
    await sync({ creatives: [display('cr_review')], assignments: [{ creative_id: 'cr_review', package_id: review.packageId }] });
    expect((await sql`select status from media_buys where id = ${review.id}`)[0]!.status).toBe('pending_start');
  });

  it('get_media_buys lists each package’s assigned creatives with their approval status, a rejection with its reason', async () => {
    const { id, packageId } = await pendingBuy();
    const other = await call(buyer, 'create_media_buy', buyRequest({ account: ACCOUNT, packages: [displayPackage(), displayPackage({ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', bid_price: 5 })] }));
    expect(other.data.errors).toBeUndefined();
    const [withOne, bare] = (other.data.packages as { package_id: string }[]).map((p) => p.package_id);
    await sync({
      creatives: [display('cr_ap_ok'), display('cr_ap_review'), display('cr_ap_bad')],
      assignments: [
        { creative_id: 'cr_ap_ok', package_id: packageId },
        { creative_id: 'cr_ap_review', package_id: packageId },
        { creative_id: 'cr_ap_bad', package_id: packageId },
        { creative_id: 'cr_ap_ok', package_id: withOne! },
      ],
    });
    await sql`update creatives set status = 'pending_review' where id = 'cr_ap_review'`;
    await sql`update creatives set status = 'rejected', details = details || '{"rejection_reason": "logo too small"}'::jsonb where id = 'cr_ap_bad'`;
    const { data } = await valid(buyer, 'get_media_buys', { media_buy_ids: [id, other.data.media_buy_id] });
    const packages = new Map((data.media_buys as { packages: { package_id: string; creative_approvals?: unknown[] }[] }[]).flatMap((b) => b.packages).map((p) => [p.package_id, p]));
    expect(packages.get(packageId)!.creative_approvals).toEqual([
      { creative_id: 'cr_ap_bad', approval_status: 'rejected', rejection_reason: 'logo too small' },
      { creative_id: 'cr_ap_ok', approval_status: 'approved' },
      { creative_id: 'cr_ap_review', approval_status: 'pending_review' },
    ]);
    expect(packages.get(withOne!)!.creative_approvals).toEqual([{ creative_id: 'cr_ap_ok', approval_status: 'approved' }]);
    expect(packages.get(bare!)).not.toHaveProperty('creative_approvals');
    // Buyer B, asking for the same buys, sees none of them.
    expect((await call(buyerB, 'get_media_buys', { media_buy_ids: [id] })).data.media_buys).toEqual([]);
    // The list_creatives tests below count this buyer's creatives by status.
    await sql`delete from creative_assignments where creative_id like 'cr_ap_%'`;
    await sql`delete from creatives where id like 'cr_ap_%'`;
  });

  it('a buy whose only creative was rejected before the seller approved it waits for creatives, through updates and re-syncs', async () => {
    await sync({ creatives: [display('cr_soon_rejected')] });
    await sql`update adapter_configs set manual_approval_required = true where id = 'adp_demo_mock'`;
    t.app.services.catalog.invalidate('demo');
    let taskId: string;
    try {
      const { data } = await call(buyer, 'create_media_buy', buyRequest({ packages: [displayPackage({ creative_assignments: [{ creative_id: 'cr_soon_rejected' }] })] }));
      taskId = data.task_id as string;
    } finally {
      await sql`update adapter_configs set manual_approval_required = false where id = 'adp_demo_mock'`;
      t.app.services.catalog.invalidate('demo');
    }
    await sql`update creatives set status = 'rejected' where id = 'cr_soon_rejected'`;
    const approved = await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo' });
    expect(approved.ok).toBe(true);
    const id = (approved as { mediaBuyId: string }).mediaBuyId;
    expect((await sql`select status from media_buys where id = ${id}`)[0]!.status).toBe('pending_creatives');
    const [pkg] = await sql`select id, budget::int as budget from media_packages where media_buy_id = ${id}`;
    const updated = await valid(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: key(), packages: [{ package_id: pkg!.id, budget: 6000 }] });
    expect(updated.data).toMatchObject({ status: 'pending_creatives' });
    const renamed = await sync({ creatives: [display('cr_soon_rejected', { name: 'Renamed, still rejected' })] });
    expect(item(renamed.items, 'cr_soon_rejected')).toMatchObject({ action: 'updated', status: 'rejected' });
    expect((await sql`select status from media_buys where id = ${id}`)[0]!.status).toBe('pending_creatives');
  });
});

describe('list_creatives', () => {
  beforeAll(async () => {
    await sync({ creatives: ['zulu', 'alpha', 'mike', 'bravo', 'yankee'].map((n) => display(`cr_list_${n}`, { name: `List ${n}`, tags: n < 'n' ? ['early'] : ['late'] })) });
    await sync({ creatives: [{ ...display('cr_list_video'), name: 'List video', format_id: { agent_url: AGENT, id: 'video_standard_30s' }, assets: { video: { asset_type: 'video', url: 'https://cdn.acme.example/v.mp4', width: 1920, height: 1080, duration_ms: 30000 } } }] });
  });

  it('filters by ids, status, format, name and tags', async () => {
    const byIds = await list({ filters: { creative_ids: ['cr_list_alpha', 'cr_list_mike', 'cr_missing'] }, context: { correlation_id: 'l' } });
    expect(byIds.creatives.map((c) => c.creative_id).sort()).toEqual(['cr_list_alpha', 'cr_list_mike']);
    expect((byIds as unknown as { context: unknown }).context).toEqual({ correlation_id: 'l' });
    const video = await list({ filters: { format_ids: [{ agent_url: AGENT, id: 'video_standard_30s' }] } });
    expect(video.creatives.map((c) => c.creative_id)).toEqual(['cr_list_video']);
    // The agent URL with or without its trailing slash names the same format; another id does not match.
    const slashed = AGENT.endsWith('/') ? AGENT.replace(/\/+$/, '') : `${AGENT}/`;
    expect((await list({ filters: { format_ids: [{ agent_url: slashed, id: 'video_standard_30s' }] } })).creatives.map((c) => c.creative_id)).toEqual(['cr_list_video']);
    expect((await list({ filters: { format_ids: [{ agent_url: AGENT, id: 'video_standard_15s' }] } })).creatives).toEqual([]);
    const named = await list({ filters: { name_contains: 'LIST A' } });
    expect(named.creatives.map((c) => c.creative_id)).toEqual(['cr_list_alpha']);
    expect((await list({ filters: { name_contains: '%' } })).creatives).toEqual([]);
    const early = await list({ filters: { tags: ['early'] }, sort: { field: 'name', direction: 'asc' } });
    expect(early.creatives.map((c) => c.creative_id)).toEqual(['cr_list_alpha', 'cr_list_bravo', 'cr_list_mike']);
    expect((await list({ filters: { statuses: ['pending_review'] } })).creatives.map((c) => c.creative_id)).toEqual(['cr_review']);
    expect((await list({ filters: { status: 'rejected' } })).creatives.map((c) => c.creative_id).sort()).toEqual(['cr_rejected', 'cr_soon_rejected']);
    // AdCP 3.1's suspended: no creative here is in it, so it matches none, beside the others asked for.
    expect((await list({ filters: { statuses: ['suspended'] }, adcp_version: '3.1' })).creatives).toEqual([]);
    expect((await list({ filters: { statuses: ['suspended', 'pending_review'] } })).creatives.map((c) => c.creative_id)).toEqual(['cr_review']);
    const bad = await valid(buyer, 'list_creatives', { filters: { status: 'sleeping' } });
    expect(bad.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('sorts and paginates with an opaque cursor', async () => {
    const all = await list({ filters: { name_contains: 'List ' }, sort: { field: 'name', direction: 'desc' } });
    expect(all.query_summary).toMatchObject({ total_matching: 6, returned: 6 });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list({ filters: { name_contains: 'List ' }, sort: { field: 'name', direction: 'desc' }, pagination: { max_results: 4, ...(cursor && { cursor }) } });
      expect(page.query_summary.total_matching).toBe(6);
      seen.push(...page.creatives.map((c) => c.creative_id));
      cursor = page.pagination.cursor;
      expect(page.pagination.has_more).toBe(cursor !== undefined);
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual(all.creatives.map((c) => c.creative_id));
    expect(seen[0]).toBe('cr_list_zulu');
    const first = await list({ pagination: { max_results: 1 } });
    const foreign = await valid(buyer, 'list_creatives', { filters: { name_contains: 'x' }, pagination: { cursor: first.pagination.cursor } });
    expect(foreign.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
    const junk = await valid(buyer, 'list_creatives', { pagination: { cursor: 'not-a-cursor' } });
    expect(junk.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('pages by keyset: creatives synced or updated between pages repeat or skip none of the others', async () => {
    const ids = (r: Awaited<ReturnType<typeof list>>) => r.creatives.map((c) => c.creative_id);
    const keyset = (n: string) => display(`cr_keyset_${n}`, { name: `Keyset ${n}` });
    await sync({ creatives: ['a', 'b', 'c'].map(keyset) });
    await sync({ creatives: ['d', 'e'].map(keyset) });
    const query = { filters: { name_contains: 'Keyset ' } };
    // Newest first (the default): two creatives synced after the first page come before it, not into the next.
    const all = ids(await list(query));
    const first = await list({ ...query, pagination: { max_results: 2 } });
    await sync({ creatives: ['f', 'g'].map(keyset) });
    const rest = await list({ ...query, pagination: { max_results: 10, cursor: first.pagination.cursor } });
    expect([...ids(first), ...ids(rest)]).toEqual(all);
    expect(rest.pagination).toEqual({ has_more: false, total_count: 7 });

    // Oldest change first: a creative of the first page updated meanwhile comes again at the end; none is skipped.
    const byUpdate = { ...query, sort: { field: 'updated_date', direction: 'asc' } };
    const before = ids(await list(byUpdate));
    const page1 = await list({ ...byUpdate, pagination: { max_results: 3 } });
    await sync({ creatives: [display(ids(page1)[0]!, { name: `${page1.creatives[0]!.name} renamed` })] });
    const page2 = await list({ ...byUpdate, pagination: { max_results: 10, cursor: page1.pagination.cursor } });
    expect([...ids(page1), ...ids(page2)]).toEqual([...before, ids(page1)[0]]);

    // Another account named, or a cursor whose sort value is not one this sort gives: refused.
    const other = await valid(buyer, 'list_creatives', { ...byUpdate, account: { brand: { domain: 'gamma-brand.example' }, operator: 'agency.example' }, pagination: { cursor: page1.pagination.cursor } });
    expect(other.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
    const [, id, k] = JSON.parse(Buffer.from(page1.pagination.cursor!, 'base64url').toString('utf8')) as [string, string, string];
    for (const value of ['yesterday', '2026-02-30T00:00:00.000000Z']) {
      const forged = await valid(buyer, 'list_creatives', { ...byUpdate, pagination: { cursor: Buffer.from(JSON.stringify([value, id, k])).toString('base64url') } });
      expect(forged.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
    }
  });

  it('filters by assignment', async () => {
    const unassigned = await list({ filters: { unassigned: true, name_contains: 'List ' } });
    expect(unassigned.query_summary.total_matching).toBe(6);
    const assigned = await list({ filters: { unassigned: false }, sort: { field: 'assignment_count', direction: 'desc' } });
    expect(assigned.creatives.map((c) => c.creative_id)).toEqual(expect.arrayContaining(['cr_assign', 'cr_live', 'cr_a']));
    for (const c of assigned.creatives) expect(c.assignments!.assignment_count).toBe(c.assignments!.assigned_packages.length);
    const pkg = assigned.creatives.find((c) => c.creative_id === 'cr_assign')!.assignments!.assigned_packages[0]!.package_id;
    expect((await list({ filters: { assigned_to_packages: [pkg] } })).creatives.map((c) => c.creative_id)).toEqual(['cr_assign']);
    const lean = await list({ filters: { creative_ids: ['cr_assign'] }, include_assignments: false });
    expect(lean.creatives[0]!.assignments).toBeUndefined();
  });
  it('filters by concept and by dynamic variables, as synced; refuses has_served and has no snapshots, which delivery per package cannot tell', async () => {
    const variables = [{ variable_id: 'headline', name: 'Headline', variable_type: 'text' }];
    await sync({ creatives: [display('cr_summer', { concept_id: 'summer', concept_name: 'Summer sale' }), display('cr_summer_dco', { concept_id: 'summer', variables }), display('cr_empty_vars', { variables: [] })] });
    const summer = await list({ filters: { concept_ids: ['summer', 'autumn'] }, sort: { field: 'name', direction: 'asc' } });
    expect(summer.creatives).toMatchObject([
      { creative_id: 'cr_summer', concept_id: 'summer', concept_name: 'Summer sale' },
      { creative_id: 'cr_summer_dco', concept_id: 'summer' },
    ]);
    expect((summer as unknown as { query_summary: { filters_applied: string[] } }).query_summary.filters_applied).toEqual(['concept_ids']);
    expect((await list({ filters: { concept_ids: ['winter'] } })).creatives).toEqual([]);
    expect((await list({ filters: { has_variables: true } })).creatives.map((c) => c.creative_id)).toEqual(['cr_summer_dco']);
    const statics = (await list({ filters: { has_variables: false }, pagination: { max_results: 100 } })).creatives.map((c) => c.creative_id);
    expect(statics).toEqual(expect.arrayContaining(['cr_summer', 'cr_empty_vars', 'cr_list_alpha']));
    expect(statics).not.toContain('cr_summer_dco');
    const served = await valid(buyer, 'list_creatives', { filters: { has_served: false } });
    expect(served.data.adcp_error).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'filters.has_served' });
    // Nor is a delivery snapshot per creative to be had: asked for one, each creative says so, as AdCP has it.
    const snap = await list({ filters: { concept_ids: ['summer'] }, include_snapshot: true });
    expect(snap.creatives.map((c) => (c as Record<string, unknown>).snapshot_unavailable_reason)).toEqual(['SNAPSHOT_UNSUPPORTED', 'SNAPSHOT_UNSUPPORTED']);
    expect((await list({ filters: { concept_ids: ['summer'] } })).creatives[0]).not.toHaveProperty('snapshot_unavailable_reason');
  });
});

describe('buyer isolation', () => {
  it('buyer B sees none of buyer A’s creatives and cannot assign them', async () => {
    expect((await list({}, buyerB)).creatives).toEqual([]);
    expect((await list({ filters: { creative_ids: ['cr_a'] } }, buyerB)).creatives).toEqual([]);
    const other = await pendingBuy(buyerB);
    const res = await sync({ creatives: [display('cr_list_alpha', { name: 'B owns this id too' })], assignments: [{ creative_id: 'cr_a', package_id: other.packageId }] }, buyerB);
    expect(item(res.items, 'cr_list_alpha')).toMatchObject({ action: 'created' });
    expect(item(res.items, 'cr_a')).toMatchObject({ action: 'failed', errors: [{ code: 'CREATIVE_NOT_FOUND' }] });
    const [mine] = await sql`select name from creatives where id = 'cr_list_alpha' and principal_id = ${'prn_demo_buyer'}`;
    expect(mine!.name).toBe('List alpha');
    expect((await list({}, buyerB)).creatives.map((c) => c.creative_id)).toEqual(['cr_list_alpha']);
  });
});

describe('sync_creatives at the same time', () => {
  it('runs syncs of the same creatives in other orders without one failing on a deadlock', async () => {
    await addBuyer(t, { id: 'prn_creatives_race', token: 'tok_creatives_race', name: 'Racing buyer' });
    const clients = await Promise.all([0, 1, 2, 3].map(() => memoryClient(t, 'tok_creatives_race')));
    try {
      for (let round = 0; round < 5; round++) {
        const ids = Array.from({ length: 12 }, (_, i) => `race-${round}-${i}`);
        const orders = [ids, [...ids].reverse(), [...ids.slice(6), ...ids.slice(0, 6)], [...ids.slice(3), ...ids.slice(0, 3)].reverse()];
        const answers = await Promise.all(clients.map((client, i) => call(client, 'sync_creatives', { account: ACCOUNT, idempotency_key: key(), creatives: orders[i]!.map((id) => display(id)) })));
        expect(answers.map((a) => a.data.adcp_error)).toEqual([undefined, undefined, undefined, undefined]);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });
});
