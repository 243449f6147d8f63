/**
 * A creative goes only where its format is taken: sync_creatives assignments,
 * create_media_buy and update_media_buy check the package's product; creatives
 * named before they are uploaded are accepted alike by create and update, and
 * checked when they arrive.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseProblems } from '../helpers/adcp-schema.js';
import { buyRequest, call, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;

const AGENT = 'https://creative.adcontextprotocol.org';
const ACCOUNT = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' };
const banner = (id: string) => ({
  creative_id: id,
  name: `Banner ${id}`,
  format_id: { agent_url: AGENT, id: 'display_300x250' },
  assets: { banner_image: { asset_type: 'image', url: `https://cdn.acme.example/${id}.png`, width: 300, height: 250 }, click_url: { asset_type: 'url', url: 'https://acme.example/' } },
});
const spot = (id: string) => ({
  creative_id: id,
  name: `Spot ${id}`,
  format_id: { agent_url: AGENT, id: 'video_standard_30s' },
  assets: { video: { asset_type: 'video', url: `https://cdn.acme.example/${id}.mp4`, width: 1920, height: 1080, duration_ms: 30000 } },
});
const key = () => `fmt-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const ctv = (assignments: string[] = []) => ({ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, ...(assignments.length && { creative_assignments: assignments.map((creative_id) => ({ creative_id })) }) });
const display = (assignments: string[] = []) => ({ product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 5000, ...(assignments.length && { creative_assignments: assignments.map((creative_id) => ({ creative_id })) }) });

async function valid(tool: string, args: Record<string, unknown>) {
  const res = await call(buyer, tool, args);
  expect(responseProblems(tool, res.data, res.isError)).toEqual([]);
  return res;
}

async function sync(creatives: unknown[], assignments?: unknown) {
  const res = await valid('sync_creatives', { account: ACCOUNT, creatives, ...(assignments !== undefined && { assignments }), idempotency_key: key() });
  expect(res.isError, JSON.stringify(res.data)).toBe(false);
  return res.data.creatives as { creative_id: string; action: string; errors?: { code: string; field?: string; message: string; details?: Record<string, unknown> }[]; assignment_errors?: Record<string, string>; assigned_to?: string[] }[];
}

async function create(packages: unknown[]) {
  return valid('create_media_buy', buyRequest({ packages }));
}

const assignmentsOf = (packageId: string) => sql`select creative_id from creative_assignments where package_id = ${packageId} order by creative_id`;
const statusOf = async (id: string) => (await sql`select status from media_buys where id = ${id}`)[0]!.status as string;
const buyCount = async () => (await sql`select count(*)::int as n from media_buys`)[0]!.n as number;

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  expect((await sync([banner('fmt_banner'), spot('fmt_spot')])).map((c) => c.action)).toEqual(['created', 'created']);
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('create_media_buy', () => {
  it('refuses an uploaded creative in a format the product does not take, naming the field and the formats it does take; nothing is written', async () => {
    const before = await buyCount();
    const res = await create([display(['fmt_banner']), ctv(['fmt_banner'])]);
    expect(res.isError).toBe(true);
    expect(res.data.errors).toEqual([
      {
        code: 'VALIDATION_ERROR',
        message: 'Creative "fmt_banner" is in format "display_300x250", which product "ctv_primetime" does not take.',
        field: 'packages[1].creative_assignments[0].creative_id',
        suggestion: expect.stringContaining('video_standard_30s'),
        recovery: 'correctable',
        details: { reason: 'format_not_accepted', creative_id: 'fmt_banner', format_id: 'display_300x250', product_id: 'ctv_primetime', accepted_format_ids: ['video_standard_30s'] },
      },
    ]);
    expect(await buyCount()).toBe(before);
  });

  it('takes creatives in the right format, and the buy does not wait for creatives', async () => {
    const res = await create([display(['fmt_banner']), ctv(['fmt_spot'])]);
    expect(res.isError, JSON.stringify(res.data)).toBe(false);
    expect(res.data.status).toBe('pending_start');
  });
});

describe('creatives named before they are uploaded', () => {
  it('are accepted alike by create_media_buy and update_media_buy, and the buy waits for them', async () => {
    const created = await create([ctv(['fmt_later_spot'])]);
    expect(created.isError, JSON.stringify(created.data)).toBe(false);
    expect(created.data.status).toBe('pending_creatives');
    const [pkg] = created.data.packages as { package_id: string }[];

    const buy = await create([display()]);
    const [displayPkg] = buy.data.packages as { package_id: string }[];
    const updated = await valid('update_media_buy', { media_buy_id: buy.data.media_buy_id, packages: [{ package_id: displayPkg!.package_id, creative_assignments: [{ creative_id: 'fmt_later_banner' }] }], idempotency_key: key() });
    expect(updated.isError, JSON.stringify(updated.data)).toBe(false);
    expect(await statusOf(buy.data.media_buy_id as string)).toBe('pending_creatives');
    expect(await assignmentsOf(displayPkg!.package_id)).toEqual([{ creative_id: 'fmt_later_banner' }]);

    // The creative arrives (no assignments in the sync): the buy moves on.
    const [spotItem] = await sync([spot('fmt_later_spot')]);
    expect(spotItem).toMatchObject({ action: 'created' });
    expect(spotItem!.errors).toBeUndefined();
    expect(await statusOf(created.data.media_buy_id as string)).toBe('pending_start');
    expect(await assignmentsOf(pkg!.package_id)).toEqual([{ creative_id: 'fmt_later_spot' }]);
  });

  it('arriving in a format the product does not take: the assignment goes, the sync says so, the buy keeps waiting', async () => {
    const created = await create([ctv(['fmt_wrong_arrival'])]);
    const [pkg] = created.data.packages as { package_id: string }[];
    const [arrived] = await sync([{ ...banner('fmt_wrong_arrival') }]);
    // The creative did not fail: what happened to its assignment is in assignment_errors.
    expect(arrived).toMatchObject({ action: 'created', assignment_errors: { [pkg!.package_id]: expect.stringContaining('was removed') } });
    expect(arrived!.errors).toBeUndefined();
    expect(await assignmentsOf(pkg!.package_id)).toEqual([]);
    expect(await statusOf(created.data.media_buy_id as string)).toBe('pending_creatives');
  });
});

describe('update_media_buy', () => {
  it('refuses an uploaded creative in a format the package\'s product does not take, in packages and new_packages; nothing changes', async () => {
    const buy = await create([ctv()]);
    const id = buy.data.media_buy_id as string;
    const [pkg] = buy.data.packages as { package_id: string }[];
    const revision = (await sql`select revision from media_buys where id = ${id}`)[0]!.revision as number;
    const res = await valid('update_media_buy', { media_buy_id: id, packages: [{ package_id: pkg!.package_id, creative_assignments: [{ creative_id: 'fmt_banner' }] }], idempotency_key: key() });
    expect(res.data.errors).toMatchObject([{ code: 'VALIDATION_ERROR', field: 'packages[0].creative_assignments[0].creative_id', details: { product_id: 'ctv_primetime', package_id: pkg!.package_id } }]);
    const added = await valid('update_media_buy', { media_buy_id: id, new_packages: [display(['fmt_spot'])], idempotency_key: key() });
    expect(added.data.errors).toMatchObject([{ code: 'VALIDATION_ERROR', field: 'new_packages[0].creative_assignments[0].creative_id' }]);
    expect(await assignmentsOf(pkg!.package_id)).toEqual([]);
    expect((await sql`select revision from media_buys where id = ${id}`)[0]!.revision).toBe(revision);
    expect((await sql`select count(*)::int as n from media_packages where media_buy_id = ${id}`)[0]!.n).toBe(1);

    const ok = await valid('update_media_buy', { media_buy_id: id, packages: [{ package_id: pkg!.package_id, creative_assignments: [{ creative_id: 'fmt_spot' }] }], idempotency_key: key() });
    expect(ok.isError, JSON.stringify(ok.data)).toBe(false);
    expect(await statusOf(id)).toBe('pending_start');
  });
});

describe('sync_creatives assignments', () => {
  it('assigns only to packages whose product takes the format, reporting the others on the item', async () => {
    const buy = await create([display(), ctv()]);
    const [d, c] = buy.data.packages as { package_id: string }[];
    const [item] = await sync([banner('fmt_banner')], [
      { creative_id: 'fmt_banner', package_id: d!.package_id },
      { creative_id: 'fmt_banner', package_id: c!.package_id },
    ]);
    expect(item).toMatchObject({ action: 'unchanged', assigned_to: [d!.package_id], assignment_errors: { [c!.package_id]: expect.stringContaining('display_300x250') } });
    expect(item!.errors).toBeUndefined();
    expect(await assignmentsOf(d!.package_id)).toEqual([{ creative_id: 'fmt_banner' }]);
    expect(await assignmentsOf(c!.package_id)).toEqual([]);
  });
});
