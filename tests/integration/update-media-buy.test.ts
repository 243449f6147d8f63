import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have31Schemas, responseProblems, responseProblems31 } from '../helpers/adcp-schema.js';
import { addBuyer, buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;

async function newBuy(overrides: Record<string, unknown> = {}) {
  const { data } = await call(buyer, 'create_media_buy', buyRequest(overrides));
  return data as { media_buy_id: string; status: string; packages: { package_id: string }[] };
}

async function update(args: Record<string, unknown>) {
  const res = await call(buyer, 'update_media_buy', { idempotency_key: `u-${Math.random()}`, account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' }, ...args });
  expect(responseProblems('update_media_buy', res.data, res.isError)).toEqual([]);
  return res;
}

const mockOrder = async (id: string) => (await sql`select status, request from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`)[0];

beforeAll(async () => {
  t = await startTestApp({ worker: true });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('update_media_buy', () => {
  it('pauses and resumes, bumping the revision, and carries each change to the ad server', async () => {
    const buy = await newBuy();
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'booked');
    await sql`update media_buys set status = 'active' where id = ${buy.media_buy_id}`;
    const paused = await update({ media_buy_id: buy.media_buy_id, paused: true });
    expect(paused.data).toMatchObject({ media_buy_id: buy.media_buy_id, status: 'paused', revision: 2 });
    expect(paused.data.valid_actions).toContain('resume');
    const open = (paused.data.available_actions as { action: string; mode: string }[]).map((a) => a.action);
    expect(open).toEqual(expect.arrayContaining(['resume', 'cancel', 'extend_flight', 'increase_budget', 'update_targeting']));
    expect(open).not.toContain('pause');
    expect(new Set(open).size).toBe(open.length); // keyed by action: no action twice
    expect((paused.data.available_actions as { mode: string }[]).every((a) => a.mode === 'self_serve')).toBe(true);
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'paused');
    const resumed = await update({ media_buy_id: buy.media_buy_id, paused: false });
    expect(resumed.data).toMatchObject({ status: 'active', revision: 3 });
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'booked');
    const [step] = await sql`select status from workflow_steps where id = ${resumed.data.task_id as string}`;
    await waitFor(async () => (await sql`select status from workflow_steps where id = ${resumed.data.task_id as string}`)[0]!.status === 'completed');
    expect(step).toBeDefined();
  });

  it('pausing a buy still waiting for creatives or its start keeps it waiting, to go paused rather than active; resuming undoes that', async () => {
    const buy = await newBuy();
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'booked');
    const paused = await update({ media_buy_id: buy.media_buy_id, paused: true });
    expect(paused.data).toMatchObject({ status: 'pending_creatives', revision: 2 });
    expect(paused.data.valid_actions).toContain('resume');
    expect(paused.data.valid_actions).not.toContain('pause');
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'paused');
    // Its creatives arrive after its flight has started: it goes paused, not active.
    await sql`update media_buys set start_time = now() - interval '1 hour' where id = ${buy.media_buy_id}`;
    const lib = await call(buyer, 'sync_creatives', {
      idempotency_key: `sc-${buy.media_buy_id}`,
      account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
      creatives: [{ creative_id: `cr_${buy.media_buy_id}`, name: 'Spot', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'video_standard_30s' }, assets: { video_file: { asset_type: 'video', url: 'https://cdn.acme.example/spot.mp4', width: 1920, height: 1080, duration_ms: 30000 } } }],
      assignments: [{ creative_id: `cr_${buy.media_buy_id}`, package_id: buy.packages[0]!.package_id }],
    });
    expect(lib.isError, JSON.stringify(lib.data)).toBe(false);
    expect((await sql`select status from media_buys where id = ${buy.media_buy_id}`)[0]!.status).toBe('paused');
    const resumed = await update({ media_buy_id: buy.media_buy_id, paused: false });
    expect(resumed.data).toMatchObject({ status: 'active' });

    const later = await newBuy();
    await update({ media_buy_id: later.media_buy_id, paused: true });
    const undone = await update({ media_buy_id: later.media_buy_id, paused: false });
    expect(undone.data).toMatchObject({ status: 'pending_creatives' });
    expect(undone.data.valid_actions).toContain('pause');
  });

  it('cancels once; a second cancel is NOT_CANCELLABLE and pausing is INVALID_STATE', async () => {
    const buy = await newBuy();
    const canceled = await update({ media_buy_id: buy.media_buy_id, canceled: true, cancellation_reason: 'campaign pulled' });
    expect(canceled.data.status).toBe('canceled');
    const again = await update({ media_buy_id: buy.media_buy_id, canceled: true });
    expect(again.isError).toBe(true);
    expect(again.data.adcp_error).toMatchObject({ code: 'NOT_CANCELLABLE' });
    const pause = await update({ media_buy_id: buy.media_buy_id, paused: true });
    expect(pause.data.adcp_error).toMatchObject({ code: 'INVALID_STATE' });
    // AdCP 3.1 names it ACTION_NOT_ALLOWED, with the action, the reason and what is open now (nothing, once canceled).
    const pause31 = await update({ media_buy_id: buy.media_buy_id, paused: true, adcp_version: '3.1' });
    expect(pause31.data).toMatchObject({ status: 'failed', adcp_error: { code: 'ACTION_NOT_ALLOWED', details: { attempted_action: 'pause', reason: 'wrong_status', currently_available_actions: [] } } });
    const list = await call(buyer, 'get_media_buys', { media_buy_ids: [buy.media_buy_id] });
    expect(responseProblems('get_media_buys', list.data)).toEqual([]);
    const got = (list.data.media_buys as { status: string; cancellation: Record<string, unknown>; packages: { canceled?: boolean }[] }[])[0]!;
    expect(got.status).toBe('canceled');
    expect(got.cancellation).toMatchObject({ canceled_by: 'buyer', reason: 'campaign pulled' });
    expect(got.packages.every((p) => p.canceled)).toBe(true);
    expect(got).toMatchObject({ valid_actions: [], available_actions: [] });
    // No change at all once canceled: not a webhook, not a reporting webhook; the buy keeps its revision and total.
    const before = await sql`select revision, total_budget from media_buys where id = ${buy.media_buy_id}`;
    for (const change of [{ push_notification_config: { url: 'https://buyer.example/hook' } }, { reporting_webhook: { url: 'https://buyer.example/reports', authentication: { schemes: ['Bearer'], credentials: 'x'.repeat(32) }, reporting_frequency: 'daily' } }, {}]) {
      const res = await update({ media_buy_id: buy.media_buy_id, ...change });
      expect(res.data.adcp_error, JSON.stringify(change)).toMatchObject({ code: 'INVALID_STATE' });
    }
    expect(await sql`select revision, total_budget from media_buys where id = ${buy.media_buy_id}`).toEqual(before);
    // Each refusal names the action the change maps to (AdCP 3.1 ACTION_NOT_ALLOWED).
    const refusedAs = async (change: Record<string, unknown>) => ((await update({ media_buy_id: buy.media_buy_id, adcp_version: '3.1', ...change })).data.adcp_error as { details: { attempted_action: string } }).details.attempted_action;
    expect(await refusedAs({ end_time: new Date(Date.now() + 90 * 86_400_000).toISOString() })).toBe('update_dates');
    expect(await refusedAs({ new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4 }] })).toBe('add_packages');
    expect(await refusedAs({ packages: [{ package_id: buy.packages[0]!.package_id, budget: 1 }] })).toBe('update_packages');
  });

  it('refuses a package named twice in one update', async () => {
    const buy = await newBuy();
    const id = buy.packages[0]!.package_id;
    const res = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: id, budget: 21000 }, { package_id: id, budget: 22000 }] });
    expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[1].package_id' });
    expect(Number((await sql`select budget from media_packages where id = ${id}`)[0]!.budget)).toBe(20000);
  });

  it('refuses an update that changes nothing, writing nothing', async () => {
    const buy = await newBuy();
    const before = await sql`select revision from media_buys where id = ${buy.media_buy_id}`;
    const steps = async () => (await sql`select count(*)::int as n from workflow_steps where media_buy_id = ${buy.media_buy_id}`)[0]!.n as number;
    const n = await steps();
    const res = await update({ media_buy_id: buy.media_buy_id, push_notification_config: { url: 'https://buyer.example/hook' } });
    expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'media_buy_id' });
    expect(await sql`select revision from media_buys where id = ${buy.media_buy_id}`).toEqual(before);
    expect(await steps()).toBe(n);
  });

  it('changes package budgets and dates, recomputing the total, and adds packages', async () => {
    const buy = await newBuy();
    const end = new Date(Date.now() + 60 * 86400e3).toISOString();
    const res = await update({
      media_buy_id: buy.media_buy_id,
      end_time: end,
      packages: [{ package_id: buy.packages[0]!.package_id, budget: 25000, targeting_overlay: { geo_countries: ['US'] } }],
      new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4 }],
    });
    expect(res.isError).toBe(false);
    const got = ((await call(buyer, 'get_media_buys', { media_buy_ids: [buy.media_buy_id] })).data.media_buys as { total_budget: number; end_time: string; packages: { budget: number; targeting_overlay?: unknown }[] }[])[0]!;
    expect(got.total_budget).toBe(26500);
    expect(got.end_time).toBe(end);
    expect(got.packages).toHaveLength(2);
    expect(got.packages[0]!.targeting_overlay).toEqual({ geo_countries: ['US'] });
    // The answer carries the new totals and each affected package as it now stands (what get_media_buys shows), not id stubs.
    expect(res.data).toMatchObject({ currency: 'USD', total_budget: 26500 });
    expect(res.data.affected_packages).toEqual(got.packages);
  });

  it('keeps the flight start sane: not into the past, not moved once the flight is under way; a future start may move', async () => {
    const future = await newBuy();
    const later = new Date(Date.now() + 3 * 86400e3).toISOString();
    const past = await update({ media_buy_id: future.media_buy_id, start_time: new Date(Date.now() - 86400e3).toISOString() });
    expect(past.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'start_time' });
    const moved = await update({ media_buy_id: future.media_buy_id, start_time: later });
    expect(moved.isError, JSON.stringify(moved.data)).toBe(false);
    expect(new Date((await sql`select start_time from media_buys where id = ${future.media_buy_id}`)[0]!.start_time).toISOString()).toBe(later);

    const running = await newBuy({ start_time: 'asap' });
    const before = await sql`select revision, start_time from media_buys where id = ${running.media_buy_id}`;
    for (const start_time of [later, new Date(Date.now() - 30 * 86400e3).toISOString(), 'asap']) {
      const res = await update({ media_buy_id: running.media_buy_id, start_time });
      expect(res.data.adcp_error, start_time).toMatchObject({ code: 'VALIDATION_ERROR', field: 'start_time' });
    }
    expect(await sql`select revision, start_time from media_buys where id = ${running.media_buy_id}`).toEqual(before);
  });

  it('adds no package priced in another currency, and holds the seller’s budget limit per buy for raises', async () => {
    await sql`insert into pricing_options (tenant_id, product_id, id, pricing_model, currency, floor_price, min_spend_per_package)
              values ('demo', 'display_run_of_site', 'ros_cpm_eur', 'cpm', 'EUR', 2.5, 500) on conflict do nothing`;
    const buy = await newBuy();
    const before = await sql`select settings from tenants where id = 'demo'`;
    await sql`update tenants set settings = settings || '{"max_media_buy_budget": "30000", "currencies": ["USD", "EUR"]}'::jsonb where id = 'demo'`;
    const limited = await memoryClient(t); // a client reads its tenant's settings when it connects
    try {
      const eur = await call(limited, 'update_media_buy', { idempotency_key: `u-${Math.random()}`, account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' }, media_buy_id: buy.media_buy_id, new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_eur', budget: 1000, bid_price: 4 }] });
      expect(eur.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'new_packages[0].pricing_option_id' });
      expect(Number((await sql`select total_budget from media_buys where id = ${buy.media_buy_id}`)[0]!.total_budget)).toBe(20000);

      const change = (packages: unknown[], extra: Record<string, unknown> = {}) =>
        call(limited, 'update_media_buy', { idempotency_key: `u-${Math.random()}`, account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' }, media_buy_id: buy.media_buy_id, ...(packages.length && { packages }), ...extra });
      const pkg = buy.packages[0]!.package_id;
      expect((await change([{ package_id: pkg, budget: 50000 }])).data.adcp_error).toMatchObject({ code: 'BUDGET_EXCEEDED' });
      expect((await change([], { new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 15000, bid_price: 4 }] })).data.adcp_error).toMatchObject({ code: 'BUDGET_EXCEEDED', field: 'new_packages' });
      expect((await change([{ package_id: pkg, budget: 30000 }])).isError).toBe(false);
      // Over a limit lowered since, the buy may still come down.
      await sql`update media_packages set budget = 40000 where id = ${pkg}`;
      await sql`update media_buys set total_budget = 40000 where id = ${buy.media_buy_id}`;
      expect((await change([{ package_id: pkg, budget: 35000 }])).isError).toBe(false);
    } finally {
      await limited.close();
      await sql`update tenants set settings = ${before[0]!.settings} where id = 'demo'`;
      await sql`delete from pricing_options where id = 'ros_cpm_eur'`;
    }
  });

  it.each([
    ['unknown package', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: 'pkg_nope', budget: 100 }] }), 'PACKAGE_NOT_FOUND'],
    ['budget below minimum', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, budget: 10 }] }), 'BUDGET_TOO_LOW'],
    // A budget is an amount the currency has: USD to the cent (ISO 4217 minor units), on a package and a new one.
    ['a budget finer than a cent', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, budget: 25000.005 }] }), 'VALIDATION_ERROR'],
    ['a new package budget finer than a cent', () => ({ new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500.001, bid_price: 4 }] }), 'VALIDATION_ERROR'],
    ['a bid on a fixed-price package', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, bid_price: 99 }] }), 'VALIDATION_ERROR'],
    ['reversed dates', () => ({ end_time: new Date(Date.now() - 86400e3).toISOString() }), 'VALIDATION_ERROR'],
    ['stale revision', () => ({ revision: 99, paused: true }), 'CONFLICT'],
    ['a per-buy invoice recipient', () => ({ invoice_recipient: { legal_name: 'Acme Drinks Ltd', address: { street: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' } } }), 'UNSUPPORTED_FEATURE'],
    ['a new package format the product does not take', () => ({ new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4, format_ids: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'audio_standard_30s' }] }] }), 'VALIDATION_ERROR'],
    ['duplicate product in new package', () => ({ new_packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }] }), 'VALIDATION_ERROR'],
    ['targeting only countries the product is not sold in', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, targeting_overlay: { geo_countries: ['DE'] } }] }), 'VALIDATION_ERROR'],
    ['region code in another form', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, targeting_overlay: { geo_regions: ['california'] } }] }), 'VALIDATION_ERROR'],
    // Package fields this seller cannot honour are refused, as on create_media_buy, not answered OK and dropped.
    ['inline creatives', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, creatives: [{ creative_id: 'c_inline', name: 'Inline', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }, assets: {} }] }] }), 'UNSUPPORTED_FEATURE'],
    ['optimization goals', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, optimization_goals: [{ kind: 'metric', metric: 'clicks', priority: 1 }] }] }), 'UNSUPPORTED_FEATURE'],
    ['vendor-metric goal on a new package (3.1)', () => ({ new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4, optimization_goals: [{ kind: 'vendor_metric', vendor: { domain: 'integralads.com' }, metric_id: 'attention_index' }] }] }), 'UNSUPPORTED_FEATURE'],
    ['catalogs', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, catalogs: [{ type: 'product', catalog_id: 'cat_1' }] }] }), 'UNSUPPORTED_FEATURE'],
    ['a package flight other than the buy’s', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, end_time: new Date(Date.now() + 3 * 86400e3).toISOString() }] }), 'UNSUPPORTED_FEATURE'],
    ['a creative limited to placements (3.1)', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, creative_assignments: [{ creative_id: 'c_later', placement_refs: [{ scope: 'product', placement_id: 'homepage_top' }] }] }] }), 'UNSUPPORTED_FEATURE'],
    ['a whole keyword list with changes to it', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, targeting_overlay: { keyword_targets: [{ keyword: 'a', match_type: 'exact' }] }, keyword_targets_add: [{ keyword: 'b', match_type: 'exact' }] }] }), 'VALIDATION_ERROR'],
    ['unworkable measurement terms on a new package', () => ({ new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4, measurement_terms: { billing_measurement: { vendor: { domain: 'v.example' }, max_variance_percent: 0 } } }] }), 'TERMS_REJECTED'],
    ['an impression goal past what can be stored', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, impressions: 1e21 }] }), 'VALIDATION_ERROR'],
    ['postal areas with no 3.0 system (3.1)', (b: { packages: { package_id: string }[] }) => ({ packages: [{ package_id: b.packages[0]!.package_id, targeting_overlay: { geo_postal_areas: [{ country: 'IN', system: 'pin', values: ['110001'] }] } }] }), 'UNSUPPORTED_FEATURE'],
  ])('%s → %s, nothing changes', async (_n, args, code) => {
    const buy = await newBuy();
    const before = await sql`select revision, total_budget from media_buys where id = ${buy.media_buy_id}`;
    const res = await update({ media_buy_id: buy.media_buy_id, ...args(buy) });
    expect(res.isError).toBe(true);
    expect(res.data.adcp_error).toMatchObject({ code });
    expect(await sql`select revision, total_budget from media_buys where id = ${buy.media_buy_id}`).toEqual(before);
  });

  it('says a budget below the minimum in the buy’s currency, as amounts are written', async () => {
    const buy = await newBuy();
    const res = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: buy.packages[0]!.package_id, budget: 10.5 }] });
    expect(res.data.adcp_error).toMatchObject({
      code: 'BUDGET_TOO_LOW',
      message: 'Package budget 10.5 USD is below the minimum of 10000 USD.',
      suggestion: 'Raise the budget to at least 10000 USD.',
      details: { minimum_budget: 10000, currency: 'USD' },
    });
    const created = await call(buyer, 'create_media_buy', buyRequest({ packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 100 }] }));
    expect(created.data.adcp_error).toMatchObject({ code: 'BUDGET_TOO_LOW', message: 'Package budget 100 USD is below the minimum of 10000 USD.', details: { minimum_budget: 10000, currency: 'USD' } });
  });

  it('takes no package budget below what the package has already spent', async () => {
    const buy = await newBuy();
    const pkg = buy.packages[0]!.package_id;
    await sql`insert into delivery_reports (tenant_id, media_buy_id, package_id, day, impressions, spend, source)
              values ('demo', ${buy.media_buy_id}, ${pkg}, current_date - 1, 300000, 12600.5, 'adapter'), ('demo', ${buy.media_buy_id}, ${pkg}, current_date, 10000, 420, 'adapter')`;
    const res = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: pkg, budget: 13000 }] });
    expect(res.data.adcp_error).toMatchObject({ code: 'BUDGET_TOO_LOW', field: 'packages[0].budget', message: 'Package budget 13000 USD is below the 13020.5 USD it has already spent.', details: { minimum_budget: 13020.5, currency: 'USD' } });
    expect(Number((await sql`select budget from media_packages where id = ${pkg}`)[0]!.budget)).toBe(20000);
    // Down to what it spent, or above, is fine.
    expect((await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: pkg, budget: 13020.5 }] })).isError).toBe(false);
  });

  it('counts a canceled package in the total budget for what it spent, not for nothing: that spend stays spent', async () => {
    const buy = await newBuy({
      packages: [
        { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
        { product_id: 'video_preroll_news', pricing_option_id: 'preroll_cpm_fixed', budget: 10000 },
      ],
    });
    const [big, small] = buy.packages.map((p) => p.package_id);
    await sql`insert into delivery_reports (tenant_id, media_buy_id, package_id, day, impressions, spend, source)
              values ('demo', ${buy.media_buy_id}, ${small!}, current_date, 100000, 2800.25, 'adapter')`;
    const total = async () => ((await call(buyer, 'get_media_buys', { media_buy_ids: [buy.media_buy_id] })).data.media_buys as { total_budget: number }[])[0]!.total_budget;
    const canceled = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: small, canceled: true }] });
    expect(canceled.isError, JSON.stringify(canceled.data)).toBe(false);
    expect(canceled.data.total_budget).toBe(22800.25);
    expect(await total()).toBe(22800.25);
    // Its last hours, collected after the cancellation, count at the next change; a package's change keeps them.
    await sql`update delivery_reports set spend = 2900 where package_id = ${small!}`;
    const raised = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: big, budget: 21000 }] });
    expect(raised.data.total_budget).toBe(23900);
    expect(await total()).toBe(23900);
    // Canceling the whole buy leaves its total as it stood.
    expect((await update({ media_buy_id: buy.media_buy_id, canceled: true })).data.total_budget).toBe(23900);
    expect(await total()).toBe(23900);
  });

  it('judges a bid on the terms a package was bought on, whatever its pricing option has become since', async () => {
    const buy = await newBuy();
    const pkg = buy.packages[0]!.package_id;
    const [po] = await sql`select fixed_price, floor_price from pricing_options where id = 'ctv_prime_cpm_fixed'`;
    try {
      // The option turned into an auction after the sale: the package still pays its fixed 42.
      await sql`update pricing_options set fixed_price = null, floor_price = 1 where id = 'ctv_prime_cpm_fixed'`;
      const res = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: pkg, bid_price: 99 }] });
      expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].bid_price', message: expect.stringContaining('fixed price of 42 USD') });
      expect((await sql`select bid_price, fixed_price from media_packages where id = ${pkg}`)[0]).toEqual({ bid_price: null, fixed_price: '42.0000' });
    } finally {
      await sql`update pricing_options set fixed_price = ${po!.fixed_price}, floor_price = ${po!.floor_price} where id = 'ctv_prime_cpm_fixed'`;
      // The catalogue cache hears of the restore by notification: the tests after this one buy at the fixed price again.
      await waitFor(async () => {
        const { data } = await call(buyer, 'get_products', { brief: 'ctv primetime' });
        const ctv = (data.products as { product_id: string; pricing_options: { pricing_option_id: string; fixed_price?: number }[] }[]).find((p) => p.product_id === 'ctv_primetime');
        return ctv?.pricing_options.find((o) => o.pricing_option_id === 'ctv_prime_cpm_fixed')?.fixed_price === 42;
      });
    }
  });

  it('applies impression goals and keyword changes (add upserts by keyword and match type, remove drops), and sends them to the ad server', async () => {
    const buy = await newBuy({
      packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, targeting_overlay: {
        geo_countries: ['US'],
        keyword_targets: [{ keyword: 'running shoes', match_type: 'broad', bid_price: 2 }, { keyword: 'marathon', match_type: 'exact' }],
        negative_keywords: [{ keyword: 'free', match_type: 'exact' }],
      } }],
    });
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'booked');
    const res = await update({
      media_buy_id: buy.media_buy_id,
      packages: [{
        package_id: buy.packages[0]!.package_id,
        impressions: 750000,
        keyword_targets_add: [{ keyword: 'running shoes', match_type: 'broad', bid_price: 3 }, { keyword: 'trail shoes', match_type: 'phrase' }],
        keyword_targets_remove: [{ keyword: 'marathon', match_type: 'exact' }, { keyword: 'never there', match_type: 'broad' }],
        negative_keywords_add: [{ keyword: 'cheap', match_type: 'broad' }, { keyword: 'free', match_type: 'exact' }],
        negative_keywords_remove: [{ keyword: 'free', match_type: 'exact' }],
      }],
    });
    expect(res.isError).toBe(false);
    const pkg = (res.data.affected_packages as { impressions?: number; targeting_overlay?: Record<string, unknown> }[])[0]!;
    expect(pkg.impressions).toBe(750000);
    expect(pkg.targeting_overlay).toEqual({
      geo_countries: ['US'],
      keyword_targets: [{ keyword: 'running shoes', match_type: 'broad', bid_price: 3 }, { keyword: 'trail shoes', match_type: 'phrase' }],
      negative_keywords: [{ keyword: 'cheap', match_type: 'broad' }],
    });
    const line = async () => ((await mockOrder(buy.media_buy_id))?.request as { lines: { impressions: string | null; targeting?: Record<string, unknown> }[] }).lines[0]!;
    await waitFor(async () => (await line()).impressions === '750000');
    expect((await line()).targeting).toEqual(pkg.targeting_overlay);
    // A new package's impression goal is kept too.
    const added = await update({ media_buy_id: buy.media_buy_id, new_packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4, impressions: 300000 }] });
    const ros = (added.data.affected_packages as { product_id: string; package_id: string; impressions?: number }[]).find((p) => p.product_id === 'display_run_of_site')!;
    expect(ros.impressions).toBe(300000);
    // Removing a keyword from a package with no targeting is a no-op: it still has none.
    const removed = await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: ros.package_id, negative_keywords_remove: [{ keyword: 'free', match_type: 'exact' }] }] });
    expect(removed.isError, JSON.stringify(removed.data)).toBe(false);
    expect((await sql`select targeting from media_packages where id = ${ros.package_id}`)[0]!.targeting).toBeNull();
  });

  it('books a buy created paused (AdCP 3.1) paused at the ad server, and a package created paused switched off; resuming turns the order on', async () => {
    const buy = await newBuy({ paused: true });
    expect(buy).toMatchObject({ status: 'pending_creatives' });
    const order = await waitFor(async () => mockOrder(buy.media_buy_id));
    expect(order).toMatchObject({ status: 'paused', request: { timeline: [{ status: 'paused', off: [] }] } });
    // Resumed before it ever ran: it keeps waiting for its creatives, and will go active, not paused.
    const resumed = await update({ media_buy_id: buy.media_buy_id, paused: false });
    expect(resumed.data).toMatchObject({ status: 'pending_creatives' });
    expect((await sql`select start_paused from media_buys where id = ${buy.media_buy_id}`)[0]!.start_paused).toBe(false);
    await waitFor(async () => (await mockOrder(buy.media_buy_id))?.status === 'booked');

    const partly = await newBuy({
      packages: [
        { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, paused: true },
        { product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1500, bid_price: 4 },
      ],
    });
    const booked = await waitFor(async () => mockOrder(partly.media_buy_id));
    expect(booked).toMatchObject({ status: 'booked', request: { timeline: [{ status: 'active', off: [partly.packages[0]!.package_id] }] } });
  });

  it('says which revision a stale update expected and which the buy is at (AdCP CONFLICT details)', async () => {
    const buy = await newBuy();
    const res = await update({ media_buy_id: buy.media_buy_id, revision: 7, paused: true });
    expect(res.data.adcp_error).toMatchObject({ code: 'CONFLICT', recovery: 'transient', details: { resource_id: buy.media_buy_id, expected_version: 7, current_version: 1 } });
  });

  it('replays an identical update and refuses a different one with the same key', async () => {
    const buy = await newBuy();
    const args = { media_buy_id: buy.media_buy_id, paused: true, idempotency_key: `same-${buy.media_buy_id}` };
    const first = await update(args);
    const second = await update(args);
    expect(second.data).toMatchObject({ revision: first.data.revision, replayed: true });
    const clash = await update({ ...args, paused: false });
    expect(clash.data.adcp_error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('replays a cancel sent twice at once with the same key, rather than refusing the second as already canceled', async () => {
    const buy = await newBuy();
    const args = { media_buy_id: buy.media_buy_id, canceled: true, cancellation_reason: 'sent twice', idempotency_key: `twice-${buy.media_buy_id}` };
    // Two clients, as a buyer retrying on another connection (or replica) while the first call is still running.
    const again = await memoryClient(t);
    try {
      const answers = await Promise.all([update(args), call(again, 'update_media_buy', { account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' }, ...args })]);
      for (const a of answers) expect(a.data).toMatchObject({ status: 'canceled', revision: 2 });
      expect(answers.filter((a) => a.data.replayed === true)).toHaveLength(1);
      const steps = await sql`select 1 from workflow_steps where media_buy_id = ${buy.media_buy_id} and step_type = 'update_media_buy'`;
      expect(steps).toHaveLength(1);
    } finally {
      await again.close();
    }
  });

  it('shows the account a buy is under, which its updates may name', async () => {
    const buy = await newBuy();
    const listed = await call(buyer, 'get_media_buys', { media_buy_ids: [buy.media_buy_id], adcp_version: '3.1' });
    const { account } = (listed.data.media_buys as { account: { account_id: string } }[])[0]!;
    expect(account).toMatchObject({ name: expect.any(String), status: 'active', brand: { domain: 'acme-drinks.example' }, operator: 'agency.example', sandbox: false });
    expect(listed.data.sandbox).toBeUndefined();
    const updated = (await update({ media_buy_id: buy.media_buy_id, paused: true, account: { account_id: account.account_id } })).data;
    expect(updated).toMatchObject({ revision: 2 });
    expect(updated.sandbox).toBeUndefined();
  });

  it('keeps each revision in the buy’s history, newest first, for get_media_buys include_history', async () => {
    const buy = await newBuy();
    const pkg = buy.packages[0]!.package_id;
    await update({ media_buy_id: buy.media_buy_id, paused: true });
    await update({ media_buy_id: buy.media_buy_id, packages: [{ package_id: pkg, budget: 15000 }] });
    const end = new Date(Date.now() + 60 * 86_400_000);
    end.setUTCHours(0, 0, 0, 0);
    await update({ media_buy_id: buy.media_buy_id, end_time: end.toISOString() });
    await update({ media_buy_id: buy.media_buy_id, canceled: true, cancellation_reason: 'plans changed' });
    const read = async (n: number, release?: '3.1') => {
      const res = await call(buyer, 'get_media_buys', { media_buy_ids: [buy.media_buy_id], include_history: n, ...(release && { adcp_version: release }) });
      if (!release) expect(responseProblems('get_media_buys', res.data, res.isError)).toEqual([]);
      else if (have31Schemas) expect(responseProblems31('get_media_buys', res.data, res.isError)).toEqual([]);
      return (res.data.media_buys as { history?: { revision: number; action: string; summary?: string; actor?: string; timestamp: string }[] }[])[0]!.history;
    };
    const all = await read(50, '3.1');
    expect(all!.map((h) => [h.revision, h.action])).toEqual([[5, 'canceled'], [4, 'updated_dates'], [3, 'updated_budget'], [2, 'paused'], [1, 'created']]);
    expect(all![0]).toMatchObject({ actor: 'buyer', summary: expect.stringContaining('-> canceled') });
    expect(all![1]!.summary).toContain(end.toISOString().replace('.000Z', 'Z'));
    expect(all![2]!.summary).toMatch(/total budget \d+ -> \d+ USD/);
    for (const h of all!) expect(Date.parse(h.timestamp)).not.toBeNaN();
    expect((await read(2))!.map((h) => h.revision)).toEqual([5, 4]);
    // Not asked for, none.
    expect(await read(0)).toBeUndefined();
  });

  it('does not let another buyer touch the buy', async () => {
    const buy = await newBuy();
    await addBuyer(t, { id: 'prn_other', token: 'tok_other_update', name: 'Other' });
    const other = await memoryClient(t, 'tok_other_update');
    try {
      const res = await call(other, 'update_media_buy', { media_buy_id: buy.media_buy_id, paused: true, idempotency_key: 'x-1-other-buyers-update', account: { brand: { domain: 'a.example' }, operator: 'a.example' } });
      expect(res.data.adcp_error).toMatchObject({ code: 'MEDIA_BUY_NOT_FOUND' });
    } finally {
      await other.close();
    }
  });
});
