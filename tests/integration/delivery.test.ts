import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have31Schemas, responseProblems, responseProblems31 } from '../helpers/adcp-schema.js';
import { addBuyer, buyRequest, call, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';
import { FINALITY_DELAY_MS } from '../../src/domain/delivery.js';

let t: TestApp;
let buyer: Client;
let other: Client;
let sql: postgres.Sql;
let buyId: string;
let packageIds: string[];

const SANDBOX = { brand: { domain: 'test.example' }, operator: 'test.example', sandbox: true };
const today = () => new Date().toISOString().slice(0, 10);
const key = () => `delivery-test-${Math.random().toString(36).slice(2)}-${Date.now()}`;

async function checked(tool: string, args: Record<string, unknown>, client = buyer) {
  const res = await call(client, tool, args);
  expect(responseProblems(tool, res.data, res.isError)).toEqual([]);
  return res;
}

async function controller(scenario: string, params: Record<string, unknown>) {
  const res = await call(buyer, 'comply_test_controller', { scenario, params, account: SANDBOX });
  expect(res.data.success, JSON.stringify(res.data)).toBe(true);
  return res.data;
}

async function newBuyer(id: string, token: string): Promise<Client> {
  await addBuyer(t, { id, token, name: id });
  return memoryClient(t, token);
}

const delivery = async (args: Record<string, unknown>, client = buyer) => checked('get_media_buy_delivery', args, client);

/** A sandbox buy of two video packages, 20000 and 10000 USD. */
async function twoPackageBuy() {
  const created = await call(buyer, 'create_media_buy', buyRequest({
    account: SANDBOX,
    packages: [
      { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
      { product_id: 'video_preroll_news', pricing_option_id: 'preroll_cpm_fixed', budget: 10000 },
    ],
  }));
  expect(created.isError, JSON.stringify(created.data)).toBe(false);
  return { created, id: created.data.media_buy_id as string };
}

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  other = await newBuyer('prn_delivery_b', 'tok_delivery_other_buyer');
  const created = await call(
    buyer,
    'create_media_buy',
    buyRequest({
      account: SANDBOX,
      packages: [
        { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
        { product_id: 'video_preroll_news', pricing_option_id: 'preroll_cpm_fixed', budget: 10000 },
      ],
    }),
  );
  expect(created.isError, JSON.stringify(created.data)).toBe(false);
  buyId = created.data.media_buy_id as string;
  packageIds = (created.data.packages as { package_id: string }[]).map((p) => p.package_id);
});
afterAll(async () => {
  await other?.close();
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('get_media_buy_delivery', () => {
  it('reports zeros before any delivery', async () => {
    const { data } = await delivery({ media_buy_ids: [buyId], context: { correlation_id: 'd0' } });
    expect(data).toMatchObject({ currency: 'USD', context: { correlation_id: 'd0' }, aggregated_totals: { impressions: 0, spend: 0, clicks: 0, media_buy_count: 1 } });
    expect(data.reporting_period).toEqual({ start: expect.any(String), end: expect.any(String) });
    expect(data.sandbox).toBeUndefined();
    const [d] = data.media_buy_deliveries as Record<string, unknown>[];
    expect(d).toMatchObject({ media_buy_id: buyId, status: 'pending_creatives', pricing_model: 'cpm', totals: { impressions: 0, spend: 0, clicks: 0 } });
    const byId = (list: unknown) => Object.fromEntries((list as { package_id: string }[]).map((p) => [p.package_id, p]));
    expect(byId(d!.by_package)).toEqual({
      // The flight has not ended: nothing is final yet.
      [packageIds[0]!]: { package_id: packageIds[0], impressions: 0, spend: 0, clicks: 0, pricing_model: 'cpm', rate: 42, currency: 'USD', paused: false, is_final: false },
      [packageIds[1]!]: { package_id: packageIds[1], impressions: 0, spend: 0, clicks: 0, pricing_model: 'cpm', rate: 28, currency: 'USD', paused: false, is_final: false },
    });
    expect(d).toMatchObject({ is_final: false });
    expect(d).not.toHaveProperty('finalized_at');
  });

  it('shows simulated delivery split across packages by budget, with a daily breakdown', async () => {
    await controller('simulate_delivery', { media_buy_id: buyId, impressions: 5000, clicks: 150, reported_spend: { amount: 250, currency: 'USD' } });
    const { data } = await delivery({ media_buy_ids: [buyId], include_package_daily_breakdown: true });
    expect(data).toMatchObject({ sandbox: true, aggregated_totals: { impressions: 5000, spend: 250, clicks: 150, media_buy_count: 1 } });
    const [d] = data.media_buy_deliveries as { totals: Record<string, number>; by_package: Record<string, unknown>[] }[];
    expect(d!.totals).toEqual({ impressions: 5000, spend: 250, clicks: 150, ctr: 0.03 });
    // 2:1 by budget; rounding leftovers (one impression, 0.0001 of spend) go to one package.
    const [big, small] = packageIds.map((id) => d!.by_package.find((p) => p.package_id === id)!);
    expect(Math.abs((big!.impressions as number) - 3333)).toBeLessThanOrEqual(1);
    expect((big!.impressions as number) + (small!.impressions as number)).toBe(5000);
    expect([big!.clicks, small!.clicks]).toEqual([100, 50]);
    expect(Math.abs((big!.spend as number) - 166.6667)).toBeLessThan(0.00011);
    expect(Math.round(((big!.spend as number) + (small!.spend as number)) * 10_000)).toBe(2_500_000);
    expect(big!.daily_breakdown).toEqual([{ date: today(), impressions: big!.impressions, spend: big!.spend }]);

    await controller('simulate_delivery', { media_buy_id: buyId, impressions: 1000, clicks: 0, reported_spend: { amount: 50, currency: 'USD' } });
    const again = await delivery({ media_buy_ids: [buyId] });
    expect(again.data.aggregated_totals).toMatchObject({ impressions: 6000, spend: 300, clicks: 150 });
    expect((again.data.media_buy_deliveries as { by_package: Record<string, unknown>[] }[])[0]!.by_package[0]!.daily_breakdown).toBeUndefined();
  });

  it('takes an AdCP 3.1 postal geo breakdown request (country + system) and answers without breakdowns, as for any unsupported dimension', async () => {
    for (const geo of [{ geo_level: 'postal_area', country: 'US', system: 'zip' }, { geo_level: 'postal_area', country: 'BR', system: 'cep', limit: 5 }, { geo_level: 'metro', system: 'nielsen_dma' }]) {
      const { data, isError } = await delivery({ media_buy_ids: [buyId], reporting_dimensions: { geo, device_type: {} } });
      expect(isError, JSON.stringify(data)).toBe(false);
      const [d] = data.media_buy_deliveries as { media_buy_id: string; by_package: Record<string, unknown>[] }[];
      expect(d!.media_buy_id).toBe(buyId);
      for (const p of d!.by_package) expect(Object.keys(p).filter((k) => k.startsWith('by_'))).toEqual([]);
    }
    const wrong = await delivery({ media_buy_ids: [buyId], reporting_dimensions: { geo: { geo_level: 'postal_area', country: 'US', system: 'cep' } } });
    expect(wrong.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'reporting_dimensions.geo.system' });
  });

  it('narrows by dates and status, and finds buys by account', async () => {
    const past = await delivery({ media_buy_ids: [buyId], start_date: '2020-01-01', end_date: '2020-01-31' });
    expect(past.data).toMatchObject({ reporting_period: { start: '2020-01-01T00:00:00.000Z', end: '2020-01-31T23:59:59.999Z' }, aggregated_totals: { impressions: 0 } });
    const reversed = await delivery({ media_buy_ids: [buyId], start_date: '2020-02-01', end_date: '2020-01-01' });
    expect(reversed.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'start_date' });
    const active = await delivery({ media_buy_ids: [buyId], status_filter: ['active'] });
    expect(active.data.media_buy_deliveries).toEqual([]);
    const pending = await delivery({ status_filter: 'pending_creatives', account: SANDBOX });
    expect((pending.data.media_buy_deliveries as { media_buy_id: string }[]).map((d) => d.media_buy_id)).toEqual([buyId]);
    const elsewhere = await delivery({ account: { brand: { domain: 'nobody.example' }, operator: 'nobody.example' } });
    expect(elsewhere.data.media_buy_deliveries).toEqual([]);
    // An end_date before the buy began: an empty period on that day, not one that starts after it ends.
    const before = await delivery({ media_buy_ids: [buyId], end_date: '2020-01-31' });
    expect(before.data).toMatchObject({ reporting_period: { start: '2020-01-31T00:00:00.000Z', end: '2020-01-31T23:59:59.999Z' }, aggregated_totals: { impressions: 0 } });
    // A period that has not begun (no end_date): refused, not answered with a start after its end.
    const tomorrow = new Date(Date.now() + 2 * 86400e3).toISOString().slice(0, 10);
    const future = await delivery({ media_buy_ids: [buyId], start_date: tomorrow });
    expect(future.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'start_date' });
  });

  it('does not add up spend in different currencies: buys in several are reported each in its own, with no aggregated totals', async () => {
    await sql`insert into pricing_options (tenant_id, product_id, id, pricing_model, currency, floor_price)
              values ('demo', 'display_run_of_site', 'ros_cpm_eur', 'cpm', 'EUR', 2.5) on conflict do nothing`;
    const before = await sql`select settings from tenants where id = 'demo'`;
    await sql`update tenants set settings = settings || '{"currencies": ["USD", "EUR"]}'::jsonb where id = 'demo'`;
    const both = await memoryClient(t); // a client reads its tenant's settings when it connects
    try {
      const eur = await call(both, 'create_media_buy', buyRequest({ account: SANDBOX, packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_eur', budget: 5000, bid_price: 4 }] }));
      expect(eur.isError, JSON.stringify(eur.data)).toBe(false);
      const eurId = eur.data.media_buy_id as string;
      await call(both, 'comply_test_controller', { scenario: 'simulate_delivery', params: { media_buy_id: eurId, impressions: 1000, reported_spend: { amount: 10, currency: 'EUR' } }, account: SANDBOX });
      const mixed = await checked('get_media_buy_delivery', { media_buy_ids: [buyId, eurId] }, both);
      expect(mixed.data.aggregated_totals).toBeUndefined();
      const rows = mixed.data.media_buy_deliveries as { media_buy_id: string; by_package: { currency: string }[] }[];
      expect(rows.find((r) => r.media_buy_id === eurId)!.by_package.map((p) => p.currency)).toEqual(['EUR']);
      expect(rows.find((r) => r.media_buy_id === buyId)!.by_package.every((p) => p.currency === 'USD')).toBe(true);
      // One currency: totals as usual.
      const single = await checked('get_media_buy_delivery', { media_buy_ids: [eurId] }, both);
      expect(single.data).toMatchObject({ currency: 'EUR', aggregated_totals: { spend: 10, impressions: 1000 } });
    } finally {
      await both.close();
      await sql`update tenants set settings = ${before[0]!.settings} where id = 'demo'`;
    }
  });

  it('answers an AdCP 3.1 windowed pull in contiguous daily or monthly windows over the buy’s life, and refuses hourly ones', async () => {
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const dayEnd = (offset: number) => Date.parse(`${day(offset)}T00:00:00Z`) + 86_400_000;
    // Two earlier days as the ad server reported them, beside today's simulated delivery.
    await sql`insert into delivery_reports (tenant_id, media_buy_id, package_id, day, impressions, clicks, spend, source)
              values ('demo', ${buyId}, ${packageIds[0]!}, ${day(-5)}, 700, 7, '14', 'adapter'), ('demo', ${buyId}, ${packageIds[1]!}, ${day(-4)}, 300, 3, '6', 'adapter')`;
    try {
      const pull = async (args: Record<string, unknown>) => {
        const r = await call(buyer, 'get_media_buy_delivery', { media_buy_ids: [buyId], adcp_version: '3.1', ...args });
        if (have31Schemas) expect(responseProblems31('get_media_buy_delivery', r.data, r.isError)).toEqual([]);
        return r;
      };
      type Window = { window_start: string; window_end: string; totals: { impressions: number }; by_package: { package_id: string; impressions: number }[]; is_final: boolean };
      const asked = Date.now();
      const daily = await pull({ start_date: day(-8), end_date: day(0), time_granularity: 'daily', include_window_breakdown: true });
      const answered = Date.now();
      expect(daily.isError, JSON.stringify(daily.data)).toBe(false);
      const [d] = daily.data.media_buy_deliveries as { totals: { impressions: number }; windows: Window[]; is_final: boolean; by_package: { is_final: boolean }[] }[];
      // From the first delivered day (nothing before it) to now; contiguous; the last one cut at now.
      expect(d!.windows.map((w) => w.window_start.slice(0, 10))).toEqual([-5, -4, -3, -2, -1, 0].map(day));
      for (const [i, w] of d!.windows.entries()) if (i > 0) expect(w.window_start).toBe(d!.windows[i - 1]!.window_end);
      expect(Date.parse(d!.windows.at(-1)!.window_end)).toBeLessThanOrEqual(Date.now());
      expect(d!.windows.map((w) => w.totals.impressions)).toEqual([700, 300, 0, 0, 0, d!.totals.impressions - 1000]);
      expect(d!.windows[0]!.by_package.find((p) => p.package_id === packageIds[0])!.impressions).toBe(700);
      // A window is final once the days the ad server may restate, and a collection, lie behind it; today
      // (simulated, still running) is not.
      // (Day -3's window settles at 01:00 UTC today: either answer holds if that moment fell during the call.)
      const settled = (offset: number) => [dayEnd(offset) + FINALITY_DELAY_MS <= asked, dayEnd(offset) + FINALITY_DELAY_MS <= answered];
      expect(settled(-3)).toContain(d!.windows[2]!.is_final);
      expect(d!.windows.map((w) => w.is_final)).toEqual([true, true, d!.windows[2]!.is_final, false, false, false]);
      expect(d!.windows.slice(0, 2).map((w) => w.is_final)).toEqual([true, true]);
      // Through today: still running, and simulated: nothing final.
      expect(d!.by_package.map((p) => p.is_final)).toEqual([false, false]);
      expect(d).toMatchObject({ is_final: false });
      expect(d).not.toHaveProperty('finalized_at');

      // A period that lies behind the restatement days, holding the ad server's numbers only: final, per
      // package and for the row, since the moment it settled.
      const closed = await pull({ start_date: day(-8), end_date: day(-4) });
      type Row = { is_final: boolean; finalized_at?: string; by_package: { package_id: string; is_final: boolean; finalized_at?: string }[] };
      const [c] = closed.data.media_buy_deliveries as Row[];
      const finalAt = new Date(dayEnd(-4) + FINALITY_DELAY_MS).toISOString();
      expect(c!.by_package.map((p) => [p.is_final, p.finalized_at])).toEqual([[true, finalAt], [true, finalAt]]);
      expect(c).toMatchObject({ is_final: true, finalized_at: finalAt });
      // One simulated figure in it: that package is not final, so neither is the row.
      await sql`insert into delivery_reports (tenant_id, media_buy_id, package_id, day, impressions, clicks, spend, source)
                values ('demo', ${buyId}, ${packageIds[0]!}, ${day(-7)}, 10, 0, '1', 'simulated')`;
      const [m] = (await pull({ start_date: day(-8), end_date: day(-4) })).data.media_buy_deliveries as Row[];
      expect(m!.by_package.map((p) => p.is_final)).toEqual([false, true]);
      expect(m).toMatchObject({ is_final: false });
      expect(m).not.toHaveProperty('finalized_at');
      await sql`delete from delivery_reports where media_buy_id = ${buyId} and day = ${day(-7)}`;

      const monthly = await pull({ time_granularity: 'monthly', include_window_breakdown: true });
      const months = (monthly.data.media_buy_deliveries as { windows: Window[] }[])[0]!.windows;
      expect(months[0]!.window_start.slice(0, 10)).toBe(day(-5));
      expect(months.reduce((a, w) => a + w.totals.impressions, 0)).toBe(d!.totals.impressions);

      // However wide the dates, a pull costs what the buy's life costs.
      const wide = await pull({ start_date: '1900-01-01', end_date: '9999-12-31', time_granularity: 'daily', include_window_breakdown: true });
      expect((wide.data.media_buy_deliveries as { windows: Window[] }[])[0]!.windows).toHaveLength(6);

      // Without include_window_breakdown the report is the usual one.
      expect((await pull({ time_granularity: 'daily' })).data.media_buy_deliveries).toEqual([expect.not.objectContaining({ windows: expect.anything() })]);
      const hourly = await pull({ time_granularity: 'hourly', include_window_breakdown: true });
      expect(hourly.isError).toBe(true);
      expect(hourly.data.adcp_error).toMatchObject({ code: 'UNSUPPORTED_GRANULARITY', field: 'time_granularity', details: { supported_granularities: ['daily', 'monthly'] } });
    } finally {
      await sql`delete from delivery_reports where media_buy_id = ${buyId} and source = 'adapter'`;
    }
  });

  it('refuses a status_filter that is not an AdCP status, as get_media_buys does (pending_approval is internal)', async () => {
    for (const tool of ['get_media_buy_delivery', 'get_media_buys']) {
      const res = await checked(tool, { status_filter: ['active', 'pending_approval'] });
      expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: expect.stringMatching(/^status_filter/) });
    }
  });

  it('knows only the caller’s buys', async () => {
    const unknown = await delivery({ media_buy_ids: ['mb_nope'], context: { c: 1 } });
    expect(unknown.data).toMatchObject({ adcp_error: { code: 'MEDIA_BUY_NOT_FOUND' }, context: { c: 1 } });
    const foreign = await delivery({ media_buy_ids: [buyId] }, other);
    expect(foreign.data.adcp_error).toMatchObject({ code: 'MEDIA_BUY_NOT_FOUND' });
    const theirs = await delivery({}, other);
    expect(theirs.data.media_buy_deliveries).toEqual([]);
    const partial = await call(buyer, 'get_media_buy_delivery', { media_buy_ids: [buyId, 'mb_nope'] });
    expect((partial.data.media_buy_deliveries as unknown[]).length).toBe(1);
    expect(partial.data.errors).toEqual([{ code: 'MEDIA_BUY_NOT_FOUND', message: expect.any(String), field: 'media_buy_ids[1]' }]);
  });

  it('reports a simulated budget spend as that share of the budget', async () => {
    await controller('simulate_budget_spend', { media_buy_id: buyId, spend_percentage: 100 });
    const { data } = await delivery({ media_buy_ids: [buyId] });
    const [d] = data.media_buy_deliveries as { totals: Record<string, number>; by_package: { package_id: string; spend: number }[] }[];
    expect(d!.totals.spend).toBe(30000);
    expect(packageIds.map((id) => d!.by_package.find((p) => p.package_id === id)!.spend)).toEqual([20000, 10000]);
  });

  it('simulates delivery only on the packages still running', async () => {
    const { created, id } = await twoPackageBuy();
    const [live, dropped] = (created.data.packages as { package_id: string }[]).map((p) => p.package_id);
    const canceled = await call(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: key(), packages: [{ package_id: dropped, canceled: true }] });
    expect(canceled.isError, JSON.stringify(canceled.data)).toBe(false);
    await controller('simulate_delivery', { media_buy_id: id, impressions: 3000, clicks: 30, reported_spend: { amount: 90, currency: 'USD' } });
    await controller('simulate_budget_spend', { media_buy_id: id, spend_percentage: 50 });
    const { data } = await delivery({ media_buy_ids: [id] });
    const byId = Object.fromEntries((data.media_buy_deliveries as { by_package: { package_id: string; impressions: number; spend: number }[] }[])[0]!.by_package.map((p) => [p.package_id, p]));
    expect(byId[live!]).toMatchObject({ impressions: 3000, spend: 10000 });
    expect(byId[dropped!]).toMatchObject({ impressions: 0, spend: 0 });
  });

  it('shows every package of a paused buy as paused (AdCP: paused by the buyer), but not a canceled one', async () => {
    const { created, id } = await twoPackageBuy();
    const [running, dropped] = (created.data.packages as { package_id: string }[]).map((p) => p.package_id);
    await sql`update media_buys set status = 'active' where id = ${id}`;
    const paused = async () => {
      const [d] = (await delivery({ media_buy_ids: [id] })).data.media_buy_deliveries as { by_package: { package_id: string; paused: boolean }[] }[];
      return Object.fromEntries(d!.by_package.map((p) => [p.package_id, p.paused]));
    };
    const change = async (args: Record<string, unknown>) => {
      const res = await call(buyer, 'update_media_buy', { media_buy_id: id, idempotency_key: key(), ...args });
      expect(res.isError, JSON.stringify(res.data)).toBe(false);
    };
    await change({ packages: [{ package_id: dropped, canceled: true }] });
    expect(await paused()).toEqual({ [running!]: false, [dropped!]: false });
    await change({ paused: true });
    expect(await paused()).toEqual({ [running!]: true, [dropped!]: false });
    await change({ paused: false });
    expect(await paused()).toEqual({ [running!]: false, [dropped!]: false });
    // A buy created paused (AdCP 3.1) is paused while it waits for its start, too.
    const waiting = await call(buyer, 'create_media_buy', buyRequest({ account: SANDBOX, paused: true, adcp_version: '3.1' }));
    expect(waiting.isError, JSON.stringify(waiting.data)).toBe(false);
    const [w] = (await delivery({ media_buy_ids: [waiting.data.media_buy_id] })).data.media_buy_deliveries as { by_package: { paused: boolean }[] }[];
    expect(w!.by_package.map((p) => p.paused)).toEqual([true]);
  });
});

describe('provide_performance_feedback', () => {
  const period = { start: '2026-06-01T00:00:00Z', end: '2026-06-08T00:00:00Z' };
  const feedbackRows = async () => (await sql`select count(*)::int as n from performance_feedback`)[0]!.n as number;

  it('stores feedback on the caller’s buy and replays a retried key', async () => {
    const req = { media_buy_id: buyId, measurement_period: period, performance_index: 1.25, package_id: packageIds[1], metric_type: 'completion_rate', idempotency_key: key() };
    const { isError, data } = await checked('provide_performance_feedback', { ...req, context: { correlation_id: 'pf' } });
    expect(isError).toBe(false);
    expect(data).toEqual({ status: 'completed', success: true, sandbox: true, context: { correlation_id: 'pf' } });
    const retry = await checked('provide_performance_feedback', req);
    expect(retry.data).toMatchObject({ success: true, replayed: true });
    const rows = await sql`select package_id, metric_type, feedback_source, performance_index, measurement_period from performance_feedback where media_buy_id = ${buyId}`;
    expect(rows).toEqual([{ package_id: packageIds[1], metric_type: 'completion_rate', feedback_source: 'buyer_attribution', performance_index: '1.2500', measurement_period: period }]);
  });

  it('rejects unknown or foreign references and bad periods, storing nothing', async () => {
    const before = await feedbackRows();
    const base = { media_buy_id: buyId, measurement_period: period, performance_index: 0.8 };
    const cases: [Record<string, unknown>, string, string, Client?][] = [
      [{ media_buy_id: 'mb_nope' }, 'MEDIA_BUY_NOT_FOUND', 'media_buy_id'],
      [{}, 'MEDIA_BUY_NOT_FOUND', 'media_buy_id', other],
      [{ package_id: 'pkg_nope' }, 'PACKAGE_NOT_FOUND', 'package_id'],
      [{ creative_id: 'cr_nope' }, 'CREATIVE_NOT_FOUND', 'creative_id'],
      [{ measurement_period: { start: period.end, end: period.start } }, 'VALIDATION_ERROR', 'measurement_period'],
      [{ measurement_period: { start: '2030-01-01T00:00:00Z', end: '2030-01-08T00:00:00Z' } }, 'VALIDATION_ERROR', 'measurement_period.start'],
      [{ performance_index: -1 }, 'VALIDATION_ERROR', 'performance_index'],
    ];
    for (const [overrides, code, field, client] of cases) {
      const res = await checked('provide_performance_feedback', { ...base, ...overrides, idempotency_key: key() }, client);
      expect(res.isError, JSON.stringify([overrides, res.data])).toBe(true);
      expect(res.data.adcp_error).toMatchObject({ code, field });
    }
    expect(await feedbackRows()).toBe(before);
  });
});

describe('tasks/list', () => {
  it('lists the caller’s tasks only, filtered and paginated', async () => {
    const solo = await newBuyer('prn_delivery_c', 'tok_delivery_solo_buyer');
    try {
      const mine: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await call(solo, 'create_media_buy', buyRequest({ account: { brand: { domain: 'solo.example' }, operator: 'solo.example' } }));
        expect(r.isError, JSON.stringify(r.data)).toBe(false);
      }
      for (const r of await sql`select id from workflow_steps where principal_id = 'prn_delivery_c'`) mine.push(r.id as string);
      const all = await checked('tasks/list', { context: { correlation_id: 'tl' } }, solo);
      expect(all.data.context).toEqual({ correlation_id: 'tl' });
      expect(all.data.query_summary).toMatchObject({ total_matching: 3, returned: 3 });
      const tasks = all.data.tasks as Record<string, unknown>[];
      expect(tasks.map((x) => x.task_id).sort()).toEqual(mine.sort());
      expect(tasks[0]).toMatchObject({ task_type: 'create_media_buy', domain: 'media-buy', status: 'submitted', has_webhook: false, created_at: expect.any(String), updated_at: expect.any(String) });

      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await checked('tasks_list', { sort: { field: 'created_at', direction: 'asc' }, pagination: { max_results: 2, ...(cursor && { cursor }) } }, solo);
        seen.push(...(page.data.tasks as { task_id: string }[]).map((x) => x.task_id));
        cursor = (page.data.pagination as { cursor?: string }).cursor;
      } while (cursor);
      expect(seen).toEqual([...tasks.map((x) => x.task_id as string)].reverse());
      // A cursor belongs to the listing it came from: with another sort it would skip or repeat tasks.
      const firstPage = await checked('tasks_list', { sort: { field: 'created_at', direction: 'asc' }, pagination: { max_results: 2 } }, solo);
      const resorted = await call(solo, 'tasks_list', { sort: { field: 'created_at', direction: 'desc' }, pagination: { max_results: 2, cursor: (firstPage.data.pagination as { cursor: string }).cursor } });
      expect(resorted.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
      // By updated_at, a task that changes between pages (its update moves it to the end) pushes no other out of the list.
      const byUpdate = { sort: { field: 'updated_at', direction: 'asc' }, pagination: { max_results: 1 } };
      const p1 = await checked('tasks_list', byUpdate, solo);
      const first = (p1.data.tasks as { task_id: string }[])[0]!.task_id;
      await sql`update workflow_steps set updated_at = now() where id = ${first}`;
      const rest: string[] = [];
      let next = (p1.data.pagination as { cursor?: string }).cursor;
      while (next) {
        const page = await checked('tasks_list', { ...byUpdate, pagination: { max_results: 1, cursor: next } }, solo);
        rest.push(...(page.data.tasks as { task_id: string }[]).map((x) => x.task_id));
        next = (page.data.pagination as { cursor?: string }).cursor;
      }
      expect(new Set([first, ...rest])).toEqual(new Set(mine));
      expect(rest.at(-1)).toBe(first); // seen again, at its new place

      expect((await checked('tasks/list', { filters: { statuses: ['completed', 'failed'] } }, solo)).data.tasks).toEqual([]);
      expect((await checked('tasks/list', { filters: { task_type: 'create_media_buy', status: 'submitted' } }, solo)).data.query_summary).toMatchObject({ total_matching: 3 });
      expect((await checked('tasks/list', { filters: { protocol: 'signals' } }, solo)).data.tasks).toEqual([]);

      // The demo buyer sees none of these, even by id, and the newcomer none of the demo buyer's.
      const theirs = await checked('tasks/list', { filters: { task_ids: mine } });
      expect(theirs.data.tasks).toEqual([]);
      const demo = await checked('tasks/list', { pagination: { max_results: 100 } });
      expect((demo.data.tasks as { task_id: string }[]).some((x) => mine.includes(x.task_id))).toBe(false);
      expect((demo.data.tasks as unknown[]).length).toBeGreaterThan(0);
    } finally {
      await solo.close();
    }
  });
});

describe('get_media_buys include_snapshot', () => {
  it('gives each package its delivery to date as collected, with its age; a started buy with nothing collected yet has none, and says why', async () => {
    const { created, id } = await twoPackageBuy();
    const [big, small] = (created.data.packages as { package_id: string }[]).map((p) => p.package_id);
    const snapshots = async (release?: '3.1') => {
      const args = { media_buy_ids: [id], include_snapshot: true, ...(release && { adcp_version: release }) };
      const res = await checked('get_media_buys', args);
      if (release && have31Schemas) expect(responseProblems31('get_media_buys', res.data, res.isError)).toEqual([]);
      const [b] = res.data.media_buys as { packages: { package_id: string; snapshot?: Record<string, unknown>; snapshot_unavailable_reason?: string }[] }[];
      return Object.fromEntries(b!.packages.map((p) => [p.package_id, p]));
    };

    // Not started: nothing delivered, as of now.
    const before = await snapshots();
    expect(before[big!]!.snapshot).toMatchObject({ impressions: 0, spend: 0, clicks: 0, currency: 'USD', staleness_seconds: 0 });
    expect(before[big!]!.snapshot).not.toHaveProperty('delivery_status');
    // Without include_snapshot, no snapshot.
    const plain = (await checked('get_media_buys', { media_buy_ids: [id] })).data.media_buys as { packages: Record<string, unknown>[] }[];
    expect(plain[0]!.packages[0]).not.toHaveProperty('snapshot');

    // Past its start but never live (here: still waiting for creatives): nothing delivered, not a snapshot to come.
    await sql`update media_buys set start_time = now() - interval '2 hours' where id = ${id}`;
    expect((await snapshots())[big!]!.snapshot).toMatchObject({ impressions: 0, spend: 0 });
    // Live, nothing collected yet: no snapshot, temporarily.
    await sql`update media_buys set status = 'active' where id = ${id}`;
    expect((await snapshots())[big!]).toMatchObject({ snapshot_unavailable_reason: 'SNAPSHOT_TEMPORARILY_UNAVAILABLE' });
    expect((await snapshots())[big!]).not.toHaveProperty('snapshot');

    // Delivered: the same figures get_media_buy_delivery gives, per package.
    await controller('simulate_delivery', { media_buy_id: id, impressions: 3000, clicks: 30, reported_spend: { amount: 150, currency: 'USD' } });
    const after = await snapshots('3.1');
    const reported = ((await delivery({ media_buy_ids: [id] })).data.media_buy_deliveries as { by_package: { package_id: string; impressions: number; spend: number; clicks: number }[] }[])[0]!.by_package;
    for (const p of reported) {
      expect(after[p.package_id]!.snapshot).toMatchObject({ impressions: p.impressions, spend: p.spend, clicks: p.clicks, currency: 'USD' });
      expect(Date.parse(after[p.package_id]!.snapshot!.as_of as string)).toBeLessThanOrEqual(Date.now());
    }
    // The whole budget of the small package spent: budget_exhausted.
    await sql`update delivery_reports set spend = 10000 where package_id = ${small!}`;
    expect((await snapshots())[small!]!.snapshot).toMatchObject({ spend: 10000, delivery_status: 'budget_exhausted' });

    // Another buyer asking for the same buy sees nothing.
    expect((await checked('get_media_buys', { media_buy_ids: [id], include_snapshot: true }, other)).data.media_buys).toEqual([]);
  });
});
