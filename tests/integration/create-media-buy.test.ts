import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneIdempotency } from '../../src/jobs/tasks/prune-idempotency-records.js';
import { createLogger } from '../../src/logger.js';
import { addBuyer, buyRequest, call, futureFlight, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;

const counts = async () => {
  const [r] = await sql`select
    (select count(*)::int from media_buys) as buys,
    (select count(*)::int from media_packages) as packages,
    (select count(*)::int from workflow_steps) as steps,
    (select count(*)::int from graphile_worker.jobs) as jobs`;
  return r as { buys: number; packages: number; steps: number; jobs: number };
};

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('create_media_buy (auto approval)', () => {
  it('stores the buy, packages and a workflow step, enqueues fulfilment, and returns a confirmed buy', async () => {
    const before = await counts();
    const started = performance.now();
    const { isError, data } = await call(buyer, 'create_media_buy', buyRequest({ buyer_ref: 'camp-1', context: { correlation_id: 'abc' } }));
    const elapsed = performance.now() - started;
    expect(isError).toBe(false);
    expect(data.media_buy_id).toMatch(/^mb_/);
    expect(data.status).toBe('pending_creatives');
    expect(data.media_buy_status).toBe('pending_creatives');
    expect(data.confirmed_at).toEqual(expect.any(String));
    expect(data.revision).toBe(1);
    expect(data.total_budget).toBe(20000);
    expect(data.currency).toBe('USD');
    expect(data.context).toEqual({ correlation_id: 'abc' });
    expect((data.packages as { package_id: string }[])[0]!.package_id).toMatch(/^pkg_/);
    expect(elapsed).toBeLessThan(5000); // sanity only; latency is measured in bench/

    const after = await counts();
    expect(after).toEqual({ buys: before.buys + 1, packages: before.packages + 1, steps: before.steps + 1, jobs: before.jobs + 1 });
    // One part, queued at its adapter, and its fulfilment job.
    const [job] = await sql`select t.identifier as task_identifier, j.key, j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where j.key = ${`fulfil:${data.media_buy_id}:adp_demo_mock`}`;
    expect(job).toMatchObject({ task_identifier: 'fulfil_media_buy', payload: { v: 1, tenant_id: 'demo', media_buy_id: data.media_buy_id, adapter_config_id: 'adp_demo_mock' } });
    const parts = await sql`select adapter_config_id, state, idempotency_key from adapter_orders where media_buy_id = ${data.media_buy_id as string}`;
    expect(parts).toEqual([{ adapter_config_id: 'adp_demo_mock', state: 'queued', idempotency_key: `${data.media_buy_id}/adp_demo_mock` }]);
    const [step] = await sql`select status, owner, step_type from workflow_steps where media_buy_id = ${data.media_buy_id as string}`;
    expect(step).toEqual({ status: 'pending', owner: 'system', step_type: 'create_media_buy' });
    const [buy] = await sql`select total_budget, status, account_id from media_buys where id = ${data.media_buy_id as string}`;
    expect(buy!.total_budget).toBe('20000.0000');
    expect(buy!.account_id).toMatch(/^acct_/);
  });

  it('opens an account for an unknown brand + operator on first use, and reuses it', async () => {
    const a = await call(buyer, 'create_media_buy', buyRequest({ account: { brand: { domain: 'newbrand.example' }, operator: 'newagency.example' } }));
    const b = await call(buyer, 'create_media_buy', buyRequest({ account: { brand: { domain: 'newbrand.example' }, operator: 'newagency.example' } }));
    expect((a.data.account as { account_id: string }).account_id).toBe((b.data.account as { account_id: string }).account_id);
    const rows = await sql`select count(*)::int as n from accounts where brand_domain = 'newbrand.example'`;
    expect(rows[0]!.n).toBe(1);
    const byId = await call(buyer, 'create_media_buy', buyRequest({ account: { account_id: (a.data.account as { account_id: string }).account_id } }));
    expect(byId.isError).toBe(false);
  });

  it('accepts assignments of creatives not uploaded yet, and waits for them', async () => {
    const { isError, data } = await call(buyer, 'create_media_buy', buyRequest({ packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, creative_assignments: [{ creative_id: 'cr_later' }] }] }));
    expect(isError).toBe(false);
    expect(data.status).toBe('pending_creatives');
    const rows = await sql`select creative_id from creative_assignments where package_id = ${(data.packages as { package_id: string }[])[0]!.package_id}`;
    expect(rows).toEqual([{ creative_id: 'cr_later' }]);
  });

  it('accepts auction pricing with a bid at or above the floor', async () => {
    const { isError, data } = await call(
      buyer,
      'create_media_buy',
      buyRequest({ packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1000, bid_price: 3.25, targeting_overlay: { geo_countries: ['US'] } }] }),
    );
    expect(isError).toBe(false);
    expect((data.packages as { bid_price: number }[])[0]!.bid_price).toBe(3.25);
  });
});

describe('create_media_buy validation', () => {
  const pkg = (o: Record<string, unknown> = {}) => ({ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, ...o });
  const day = 24 * 3600_000;
  const cases: [string, Record<string, unknown>, string, string | undefined][] = [
    ['reversed dates', { start_time: new Date(Date.now() + 10 * day).toISOString(), end_time: new Date(Date.now() + 5 * day).toISOString() }, 'VALIDATION_ERROR', 'end_time'],
    ['start in the past', { start_time: new Date(Date.now() - 3 * day).toISOString() }, 'INVALID_REQUEST', 'start_time'],
    ['unparseable date', { end_time: 'next tuesday' }, 'VALIDATION_ERROR', 'end_time'],
    ['unknown product', { packages: [pkg({ product_id: 'nope' })] }, 'PRODUCT_NOT_FOUND', 'packages[0].product_id'],
    ['duplicate product', { packages: [pkg(), pkg()] }, 'VALIDATION_ERROR', 'packages[1].product_id'],
    ['unknown pricing option', { packages: [pkg({ pricing_option_id: 'nope' })] }, 'VALIDATION_ERROR', 'packages[0].pricing_option_id'],
    ['negative budget', { packages: [pkg({ budget: -500 })] }, 'VALIDATION_ERROR', 'packages[0].budget'],
    ['budget below minimum spend', { packages: [pkg({ budget: 100 })] }, 'BUDGET_TOO_LOW', 'packages[0].budget'],
    // Invoicing someone other than the account's billing party is not taken and then ignored.
    ['a per-buy invoice recipient', { invoice_recipient: { legal_name: 'Acme Drinks Ltd', address: { street: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' } } }, 'UNSUPPORTED_FEATURE', 'invoice_recipient'],
    ['auction without bid', { packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1000 }] }, 'VALIDATION_ERROR', 'packages[0].bid_price'],
    ['bid below floor', { packages: [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1000, bid_price: 1 }] }, 'VALIDATION_ERROR', 'packages[0].bid_price'],
    // AdCP: a package's format_ids must be supported by the product; one it does not take would never serve.
    ['a format the product does not take', { packages: [pkg({ format_ids: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'video_standard_30s' }, { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }] })] }, 'VALIDATION_ERROR', 'packages[0].format_ids[1]'],
    // ctv_primetime is sold in the US only: a German overlay would be booked and never serve.
    ['countries the product is not sold in', { packages: [pkg({ targeting_overlay: { geo_countries: ['DE', 'FR'] } })] }, 'VALIDATION_ERROR', 'packages[0].targeting_overlay.geo_countries'],
    ['regions of countries the product is not sold in', { packages: [pkg({ targeting_overlay: { geo_regions: ['DE-BY'] } })] }, 'VALIDATION_ERROR', 'packages[0].targeting_overlay.geo_regions'],
    ['unknown targeting field', { packages: [pkg({ targeting_overlay: { horoscope: ['leo'] } })] }, 'VALIDATION_ERROR', 'packages[0].targeting_overlay.horoscope'],
    ['unworkable measurement terms', { start_time: '2020-01-01T00:00:00Z', packages: [pkg({ measurement_terms: { billing_measurement: { vendor: { domain: 'v.example' }, max_variance_percent: 0 } } })] }, 'TERMS_REJECTED', 'packages[0].measurement_terms.billing_measurement.max_variance_percent'],
    ['no packages', { packages: [] }, 'VALIDATION_ERROR', 'packages'],
    ['no account or brand', { account: undefined, brand: undefined }, 'VALIDATION_ERROR', 'brand'],
    ['unknown account id', { account: { account_id: 'acct_nope' } }, 'ACCOUNT_NOT_FOUND', 'account.account_id'],
    ['wrong type', { packages: 'lots' }, 'VALIDATION_ERROR', 'packages'],
    // Fields this seller cannot honour are refused rather than silently dropped.
    ['optimization goals', { packages: [pkg({ optimization_goals: [{ kind: 'metric', metric: 'clicks', priority: 1 }] })] }, 'UNSUPPORTED_FEATURE', 'packages[0].optimization_goals'],
    ['committed metrics (3.1)', { packages: [pkg({ committed_metrics: [{ metric: 'impressions', value: 100000 }] })] }, 'TERMS_REJECTED', 'packages[0].committed_metrics'],
    ['canonical format selection (3.1)', { packages: [pkg({ format_kind: 'display_static' })] }, 'UNSUPPORTED_FEATURE', 'packages[0].format_kind'],
    // 3.1 goal forms the 3.0 schema cannot parse get the code any goal gets, not a VALIDATION_ERROR about their shape.
    ['vendor-metric goal (3.1)', { packages: [pkg({ optimization_goals: [{ kind: 'vendor_metric', vendor: { domain: 'integralads.com' }, metric_id: 'attention_index' }] })] }, 'UNSUPPORTED_FEATURE', 'packages[0].optimization_goals'],
    ['inline creatives', { packages: [pkg({ creatives: [{ creative_id: 'c_inline', name: 'Inline', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }, assets: {} }] })] }, 'UNSUPPORTED_FEATURE', 'packages[0].creatives'],
    ['catalogs', { packages: [pkg({ catalogs: [{ type: 'product', catalog_id: 'cat_1' }] })] }, 'UNSUPPORTED_FEATURE', 'packages[0].catalogs'],
    ['a package flight other than the buy’s', { packages: [pkg({ start_time: new Date(Date.now() + 5 * day).toISOString() })] }, 'UNSUPPORTED_FEATURE', 'packages[0].start_time'],
    ['a creative limited to placements', { packages: [pkg({ creative_assignments: [{ creative_id: 'c_later', placement_ids: ['homepage_top'] }] })] }, 'UNSUPPORTED_FEATURE', 'packages[0].creative_assignments[0].placement_ids'],
    ['signal targeting (3.1)', { packages: [pkg({ targeting_overlay: { signal_targeting_groups: { operator: 'all', groups: [{ operator: 'any', signals: [{ signal_ref: { scope: 'product', signal_id: 'sports_fans' }, value_type: 'binary', value: true }] }] } } })] }, 'UNSUPPORTED_FEATURE', 'packages[0].targeting_overlay.signal_targeting_groups'],
    ['postal areas with no 3.0 system (3.1)', { packages: [pkg({ targeting_overlay: { geo_postal_areas: [{ country: 'BR', system: 'cep', values: ['01310-100'] }] } })] }, 'UNSUPPORTED_FEATURE', 'packages[0].targeting_overlay.geo_postal_areas[0]'],
    ['paused not a boolean (3.1)', { paused: 'yes' }, 'VALIDATION_ERROR', 'paused'],
  ];

  it.each(cases)('%s → %s, nothing written', async (_name, overrides, code, field) => {
    const before = await counts();
    const { isError, data } = await call(buyer, 'create_media_buy', buyRequest({ ...overrides, context: { correlation_id: 'err' } }));
    expect(isError).toBe(true);
    const err = (data.errors as { code: string; field?: string; suggestion?: string; message: string; recovery: string }[])[0]!;
    expect(err.code).toBe(code);
    if (field) expect(err.field).toBe(field);
    expect(err.suggestion).toEqual(expect.any(String));
    expect(err.recovery).toEqual(expect.stringMatching(/correctable|terminal/));
    expect(err.message).not.toMatch(/at .*\.ts:\d+/); // no stack traces
    expect(data.adcp_error).toEqual(err);
    expect(data.context).toEqual({ correlation_id: 'err' });
    expect(await counts()).toEqual(before);
  });

  it('lists every field a schema check rejects on the error, as a JSON pointer with its JSON Schema keyword', async () => {
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ packages: 'lots', start_time: undefined }));
    const err = data.adcp_error as { code: string; field: string; issues: { pointer: string; keyword: string; message: string }[]; details: { issues: unknown[] } };
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.issues).toEqual(expect.arrayContaining([{ pointer: '/packages', keyword: 'type', message: expect.any(String) }, { pointer: '/start_time', keyword: 'required', message: expect.any(String) }]));
    // field names the first issue, in JSONPath-lite; details.issues mirrors the list for older readers.
    expect(err.field).toBe(err.issues[0]!.pointer.slice(1));
    expect(err.details.issues).toEqual(err.issues);
  });

  it('refuses targeting codes in another form than AdCP gives, before anything reaches the ad server', async () => {
    const req = buyRequest();
    const before = await counts();
    const { data } = await call(buyer, 'create_media_buy', { ...req, packages: [{ ...req.packages[0], targeting_overlay: { geo_countries: ['us'] } }] });
    expect(data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].targeting_overlay.geo_countries[0]' });
    expect(await counts()).toEqual(before);
  });

  it('refuses values AdCP’s request schema rules out by pattern, format or bounds (which the SDK’s zod lets through), each named with what to send, writing nothing', async () => {
    const req = buyRequest();
    const before = await counts();
    const { isError, data } = await call(buyer, 'create_media_buy', {
      ...req,
      start_time: '2026-12-01',
      brand: { domain: 'Acme-Drinks.example' },
      push_notification_config: { url: 'https://buyer.example/hooks', authentication: { schemes: ['Bearer'], credentials: 'too-short' } },
      packages: [{ ...req.packages[0], format_ids: [{ agent_url: 'not a url', id: 'display 300x250' }] }],
    });
    expect(isError).toBe(true);
    const err = data.adcp_error as { code: string; field: string; message: string; issues: { pointer: string; keyword: string; message: string }[] };
    expect(err.code).toBe('VALIDATION_ERROR');
    // field and message speak of the first issue; each issue says what to send.
    expect(err.field).toBe('packages[0].format_ids[0].agent_url');
    expect(err.message).toBe('Invalid request: packages[0].format_ids[0].agent_url: "not a url" is not a valid absolute URI (RFC 3986), with spaces and characters such as { } [ ] | ^ percent-encoded (e.g. https://example.com/path?q=1)');
    // The buyer's secret is not echoed, only its length.
    expect(JSON.stringify(data)).not.toContain('too-short');
    expect(err.issues.find((i) => i.keyword === 'minLength')!.message).toBe('the 9-character credentials: must NOT have fewer than 32 characters');
    expect(err.issues.find((i) => i.pointer === '/start_time')!.message).toBe('"2026-12-01" is not an RFC 3339 date-time with a time zone or "asap" (e.g. 2026-12-01T00:00:00Z)');
    expect(err.issues.map((i) => [i.pointer, i.keyword])).toEqual(
      expect.arrayContaining([
        ['/start_time', 'format'],
        ['/brand/domain', 'pattern'],
        ['/push_notification_config/authentication/credentials', 'minLength'],
        ['/packages/0/format_ids/0/agent_url', 'format'],
        ['/packages/0/format_ids/0/id', 'pattern'],
      ]),
    );
    expect(err.issues).toHaveLength(5);
    expect(err.issues.find((i) => i.pointer === '/brand/domain')!.message).toContain('a domain name in lower case');
    expect(await counts()).toEqual(before);
    // "asap" is the other form start_time takes: not a date-time, and fine.
    expect((await call(buyer, 'create_media_buy', buyRequest({ start_time: 'asap' }))).isError).toBe(false);
  });

  it('refuses an idempotency key AdCP does not allow (16 to 255 of letters, digits, _ . : -), writing nothing', async () => {
    const before = await counts();
    for (const key of ['1', 'abc123', 'has spaces in the key!', 'x'.repeat(256)]) {
      const { isError, data } = await call(buyer, 'create_media_buy', buyRequest({ idempotency_key: key }));
      expect(isError).toBe(true);
      expect(data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'idempotency_key', issues: [{ pointer: '/idempotency_key', keyword: 'pattern' }] });
    }
    expect(await counts()).toEqual(before);
    expect((await call(buyer, 'create_media_buy', buyRequest({ idempotency_key: '7f1c2a9e-4b7d-4a8e-9c3f-2d6b1e0a5f43' }))).isError).toBe(false);
  });

  it('names every choice of an enumeration a value is not in (the 3.1 additions too), not just the first', async () => {
    const req = buyRequest();
    const { data } = await call(buyer, 'create_media_buy', {
      ...req,
      packages: [{ ...req.packages[0], pacing: 'fastest' }],
      reporting_webhook: { url: 'https://buyer.example/r', authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' }, reporting_frequency: 'daily', requested_metrics: ['impressionz'] },
    });
    const err = data.adcp_error as { code: string; field: string; message: string; issues: { pointer: string; keyword: string; message: string }[] };
    expect(err).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].pacing' });
    expect(err.message).toContain('expected one of "even"|"asap"|"front_loaded"');
    const metric = err.issues.find((i) => i.pointer === '/reporting_webhook/requested_metrics/0')!;
    expect(metric.keyword).toBe('enum');
    for (const v of ['impressions', 'clicks', 'cpm', 'brand_lift']) expect(metric.message).toContain(`"${v}"`);
  });
});

describe('package fields (AdCP 3.0 and 3.1 forms)', () => {
  const pkg = (o: Record<string, unknown> = {}) => ({ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, ...o });
  const stored = async (id: string) => (await sql`select b.status, k.targeting from media_buys b join media_packages k on k.media_buy_id = b.id where b.id = ${id}`)[0]!;

  it('takes 3.1 postal areas (country + system) in their 3.0 form, and a package flight equal to the buy’s', async () => {
    const flight = futureFlight();
    const res = await call(buyer, 'create_media_buy', buyRequest({
      ...flight,
      packages: [pkg({ ...flight, targeting_overlay: { geo_postal_areas: [{ country: 'US', system: 'zip', values: ['10001'] }], geo_postal_areas_exclude: [{ country: 'GB', system: 'outward', values: ['SW1A'] }, { system: 'de_plz', values: ['10115'] }] } })],
    }));
    expect(res.isError).toBe(false);
    expect((await stored(res.data.media_buy_id as string)).targeting).toEqual({
      geo_postal_areas: [{ system: 'us_zip', values: ['10001'] }],
      geo_postal_areas_exclude: [{ system: 'gb_outward', values: ['SW1A'] }, { system: 'de_plz', values: ['10115'] }],
    });
  });

  it('takes a total_budget that agrees with the packages, and refuses one that does not, writing nothing', async () => {
    const ok = await call(buyer, 'create_media_buy', buyRequest({ total_budget: { amount: 20000, currency: 'usd' }, packages: [pkg({ budget: 20000 })] }));
    expect(ok.isError, JSON.stringify(ok.data).slice(0, 300)).toBe(false);
    const thirds = await call(buyer, 'create_media_buy', buyRequest({
      total_budget: { amount: 30000.01, currency: 'USD' },
      packages: [pkg({ budget: 10000.33 }), pkg({ product_id: 'ctv_run_of_network', pricing_option_id: 'ctv_ron_cpm_auction', budget: 19999.68, bid_price: 25 })],
    }));
    expect(thirds.isError, JSON.stringify(thirds.data).slice(0, 300)).toBe(false);
    const before = await sql`select count(*)::int as n from media_buys`;
    const offByACent = await call(buyer, 'create_media_buy', buyRequest({ total_budget: { amount: 20000.01, currency: 'USD' }, packages: [pkg({ budget: 20000 })] }));
    expect(offByACent.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'total_budget.amount' });
    const sum = await call(buyer, 'create_media_buy', buyRequest({ total_budget: { amount: 1, currency: 'USD' }, packages: [pkg({ budget: 20000 })] }));
    expect(sum.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'total_budget.amount' });
    const huge = await call(buyer, 'create_media_buy', buyRequest({ total_budget: { amount: 1e21, currency: 'USD' }, packages: [pkg({ budget: 20000 })] }));
    expect(huge.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'total_budget.amount' });
    const currency = await call(buyer, 'create_media_buy', buyRequest({ total_budget: { amount: 20000, currency: 'EUR' }, packages: [pkg({ budget: 20000 })] }));
    expect(currency.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'total_budget.currency' });
    expect(await sql`select count(*)::int as n from media_buys`).toEqual(before);
  });

  it('refuses budgets finer than the currency has (ISO 4217 minor units), writing nothing', async () => {
    const before = await counts();
    const refused = async (req: Record<string, unknown>) => (await call(buyer, 'create_media_buy', buyRequest(req))).data.adcp_error;
    expect(await refused({ packages: [pkg({ budget: 20000.005 })] })).toMatchObject({
      code: 'VALIDATION_ERROR',
      field: 'packages[0].budget',
      message: expect.stringContaining('more decimal places than USD has (2)'),
      suggestion: expect.stringContaining('2 decimal places'),
    });
    // Below the 4 decimals kept: not rounded away into an accepted budget.
    expect(await refused({ packages: [pkg({ budget: 20000.00001 })] })).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].budget' });
    expect(await refused({ total_budget: { amount: 20000.001, currency: 'USD' }, packages: [pkg({ budget: 20000 })] })).toMatchObject({ code: 'VALIDATION_ERROR', field: 'total_budget.amount' });
    // Whole yen and fils: a JPY option takes no decimals, a KWD one three.
    await sql`insert into pricing_options (tenant_id, product_id, id, pricing_model, currency, fixed_price) values ('demo', 'display_run_of_site', 'ros_cpm_jpy', 'cpm', 'JPY', 500), ('demo', 'display_run_of_site', 'ros_cpm_kwd', 'cpm', 'KWD', 1.5)`;
    const settings = (await sql`select settings from tenants where id = 'demo'`)[0]!.settings;
    await sql`update tenants set settings = settings || '{"currencies": ["USD", "JPY", "KWD"]}'::jsonb where id = 'demo'`;
    t.app.services.catalog.invalidate();
    const anyCurrency = await memoryClient(t); // a client reads its tenant's settings when it connects
    try {
      const ros = (o: Record<string, unknown>) => buyRequest({ packages: [{ product_id: 'display_run_of_site', ...o }] });
      const jpy = await call(anyCurrency, 'create_media_buy', ros({ pricing_option_id: 'ros_cpm_jpy', budget: 150000.5 }));
      expect(jpy.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].budget', suggestion: expect.stringContaining('whole number of JPY') });
      const kwd = await call(anyCurrency, 'create_media_buy', ros({ pricing_option_id: 'ros_cpm_kwd', budget: 300.0005 }));
      expect(kwd.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].budget', message: expect.stringContaining('(3)') });
      expect(await counts()).toEqual(before);
      const yen = await call(anyCurrency, 'create_media_buy', ros({ pricing_option_id: 'ros_cpm_jpy', budget: 150000 }));
      expect(yen.isError, JSON.stringify(yen.data).slice(0, 300)).toBe(false);
      const fils = await call(anyCurrency, 'create_media_buy', ros({ pricing_option_id: 'ros_cpm_kwd', budget: 300.125 }));
      expect(fils.isError, JSON.stringify(fils.data).slice(0, 300)).toBe(false);
      expect(fils.data).toMatchObject({ currency: 'KWD', total_budget: 300.125 });
    } finally {
      await anyCurrency.close();
      await sql`update tenants set settings = ${settings as never} where id = 'demo'`;
    }
  });

  it('keeps a buy created paused (AdCP 3.1) in its setup status, to go paused instead of active', async () => {
    const res = await call(buyer, 'create_media_buy', buyRequest({ paused: true }));
    expect(res.isError).toBe(false);
    // AdCP: setup blockers take precedence; this one has no creatives yet.
    expect(res.data).toMatchObject({ status: 'pending_creatives' });
    const [row] = await sql`select status, start_paused from media_buys where id = ${res.data.media_buy_id as string}`;
    expect(row).toEqual({ status: 'pending_creatives', start_paused: true });
    const plain = await call(buyer, 'create_media_buy', buyRequest());
    expect((await sql`select start_paused from media_buys where id = ${plain.data.media_buy_id as string}`)[0]!.start_paused).toBe(false);
  });
});

describe('idempotency', () => {
  it('replays the original response for the same key and request', async () => {
    const req = buyRequest();
    const first = await call(buyer, 'create_media_buy', { ...req, context: { try: 1 } });
    const second = await call(buyer, 'create_media_buy', { ...req, context: { try: 2 } });
    expect(second.isError).toBe(false);
    expect(second.data.media_buy_id).toBe(first.data.media_buy_id);
    expect(second.data.replayed).toBe(true);
    expect(second.data.context).toEqual({ try: 2 });
    const rows = await sql`select count(*)::int as n from media_buys where idempotency_key = ${req.idempotency_key}`;
    expect(rows[0]!.n).toBe(1);
  });

  it('answers each retry in the AdCP release it pins: 3.1 carries media_buy_status under a task status', async () => {
    const req = buyRequest();
    const v30 = await call(buyer, 'create_media_buy', { ...req, adcp_major_version: 3 });
    // 3.0 reads the buy's status at the top (media_buy_status, which 3.1 introduced, rides along).
    expect(v30.data).toMatchObject({ status: 'pending_creatives', media_buy_status: 'pending_creatives' });
    expect(v30.data.adcp_version).toBeUndefined();
    const v31 = await call(buyer, 'create_media_buy', { ...req, adcp_version: '3.1', adcp_major_version: 3 });
    expect(v31.isError).toBe(false);
    expect(v31.data).toMatchObject({ media_buy_id: v30.data.media_buy_id, replayed: true, status: 'completed', media_buy_status: 'pending_creatives', adcp_version: '3.1' });
    const rows = await sql`select count(*)::int as n from media_buys where idempotency_key = ${req.idempotency_key}`;
    expect(rows[0]!.n).toBe(1);
    // A 3.1 error says failed on top.
    const bad = await call(buyer, 'create_media_buy', { ...buyRequest({ packages: [] }), adcp_version: '3.1' });
    expect(bad.isError).toBe(true);
    expect(bad.data).toMatchObject({ status: 'failed', adcp_version: '3.1', adcp_error: { code: expect.any(String) } });
  });

  it('answers concurrent duplicates with one buy', async () => {
    const req = buyRequest();
    const results = await Promise.all(Array.from({ length: 5 }, () => call(buyer, 'create_media_buy', req)));
    const ids = new Set(results.map((r) => r.data.media_buy_id));
    expect(ids.size).toBe(1);
    const rows = await sql`select count(*)::int as n from media_buys where idempotency_key = ${req.idempotency_key}`;
    expect(rows[0]!.n).toBe(1);
  });

  it('rejects the same key with a different request', async () => {
    const req = buyRequest();
    await call(buyer, 'create_media_buy', req);
    const before = await counts();
    const clash = await call(buyer, 'create_media_buy', { ...req, packages: [{ ...req.packages[0], budget: 30000 }] });
    expect(clash.isError).toBe(true);
    // Only code and message, as the AdCP SDK's allowlist for this code has it: nothing that could leak the earlier request.
    expect(Object.keys(clash.data.adcp_error as object).sort()).toEqual(['code', 'message']);
    expect(clash.data.adcp_error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(await counts()).toEqual(before);
  });

  it('replays even after the product has been withdrawn since', async () => {
    const req = buyRequest({ packages: [{ product_id: 'video_preroll_news', pricing_option_id: 'preroll_cpm_fixed', budget: 6000 }] });
    const first = await call(buyer, 'create_media_buy', req);
    expect(first.isError).toBe(false);
    await sql`update products set archived = true where id = 'video_preroll_news'`;
    t.app.services.catalog.invalidate('demo');
    try {
      const fresh = await call(buyer, 'create_media_buy', { ...req, idempotency_key: `${req.idempotency_key}-new` });
      expect(fresh.data.adcp_error).toMatchObject({ code: 'PRODUCT_NOT_FOUND' });
      const again = await call(buyer, 'create_media_buy', req);
      expect(again.isError).toBe(false);
      expect(again.data.media_buy_id).toBe(first.data.media_buy_id);
    } finally {
      await sql`update products set archived = false where id = 'video_preroll_news'`;
      t.app.services.catalog.invalidate('demo');
    }
  });

  it('prunes records past their replay window (with an hour to spare), after which the key is new again', async () => {
    const [fresh, windowJustOver, expired] = [buyRequest(), buyRequest(), buyRequest()];
    const created = await Promise.all([fresh, windowJustOver, expired].map((r) => call(buyer, 'create_media_buy', r)));
    expect(created.every((c) => !c.isError)).toBe(true);
    const age = async (req: { idempotency_key: string }, interval: string) =>
      sql`update idempotency_records set created_at = now() - ${interval}::interval where key = ${req.idempotency_key}`;
    await age(windowJustOver, '24 hours 30 minutes');
    await age(expired, '25 hours 30 minutes');
    const deps = { db: t.app.database.db, adapters: {} as never, logger: createLogger('silent') };
    const { deleted } = await pruneIdempotency({}, { attempts: 1, maxAttempts: 3 }, deps);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const kept = await sql`select key from idempotency_records where key in ${sql([fresh.idempotency_key, windowJustOver.idempotency_key, expired.idempotency_key])}`;
    expect(kept.map((r) => r.key).sort()).toEqual([fresh.idempotency_key, windowJustOver.idempotency_key].sort());
    // The fresh key still replays; the pruned one makes a new buy, as it did once expired.
    const replay = await call(buyer, 'create_media_buy', fresh);
    expect(replay.data).toMatchObject({ media_buy_id: created[0]!.data.media_buy_id, replayed: true });
    const reused = await call(buyer, 'create_media_buy', { ...expired, packages: [{ ...expired.packages[0], budget: 12345 }] });
    expect(reused.isError).toBe(false);
    expect(reused.data.media_buy_id).not.toBe(created[2]!.data.media_buy_id);
    expect((await pruneIdempotency({}, { attempts: 1, maxAttempts: 3 }, deps)).deleted).toBe(0);
  });

  it('does not let a failed request burn its key', async () => {
    const req = buyRequest({ packages: [{ product_id: 'nope', pricing_option_id: 'x', budget: 10 }] });
    expect((await call(buyer, 'create_media_buy', req)).isError).toBe(true);
    const fixed = await call(buyer, 'create_media_buy', { ...req, packages: buyRequest().packages });
    expect(fixed.isError).toBe(false);
  });
});

describe('atomicity', () => {
  it('leaves no job, buy or step behind when the transaction fails after enqueueing', async () => {
    // Make one part of the create statement fail: the workflow step insert.
    await sql.unsafe(`create or replace function fail_idem() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$;`);
    await sql.unsafe(`create trigger fail_idem before insert on workflow_steps for each row execute function fail_idem()`);
    try {
      const before = await counts();
      const { isError, data } = await call(buyer, 'create_media_buy', buyRequest());
      expect(isError).toBe(true);
      expect(data.adcp_error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', recovery: 'transient' });
      expect(JSON.stringify(data)).not.toContain('injected failure'); // internals stay in the logs
      expect(await counts()).toEqual(before);
    } finally {
      await sql.unsafe(`drop trigger fail_idem on workflow_steps`);
    }
  });
});

describe('buyer isolation', () => {
  it('buyer B sees none of buyer A’s media buys or tasks', async () => {
    const a = await call(buyer, 'create_media_buy', buyRequest());
    const tokenB = 'tok_buyer_b_isolation';
    await addBuyer(t, { id: 'prn_b', token: tokenB, name: 'Buyer B' });
    const b = await memoryClient(t, tokenB);
    try {
      const list = await call(b, 'get_media_buys', {});
      expect(list.data.media_buys).toEqual([]);
      const direct = await call(b, 'get_media_buys', { media_buy_ids: [a.data.media_buy_id] });
      expect(direct.data.media_buys).toEqual([]);
      const [step] = await sql`select id from workflow_steps where media_buy_id = ${a.data.media_buy_id as string}`;
      const task = await call(b, 'tasks/get', { task_id: step!.id });
      expect(task.isError).toBe(true);
      expect(task.data.adcp_error).toMatchObject({ code: 'REFERENCE_NOT_FOUND' });
      await expect(b.readResource({ uri: `media-buy://${a.data.media_buy_id}` })).rejects.toThrow(/not found/i);
      // Buyer A still sees it.
      const mine = await call(buyer, 'get_media_buys', { media_buy_ids: [a.data.media_buy_id] });
      expect((mine.data.media_buys as unknown[]).length).toBe(1);
    } finally {
      await b.close();
    }
  });
});

describe('account scope on reads (AdCP 3.1)', () => {
  it('narrows get_media_buys, list_accounts, tasks/list and tasks/get to the account named, by id or natural key', async () => {
    const north = { brand: { domain: 'north-scope.example' }, operator: 'agency.example' };
    const south = { brand: { domain: 'south-scope.example' }, operator: 'agency.example' };
    const n = await call(buyer, 'create_media_buy', buyRequest({ account: north }));
    const s = await call(buyer, 'create_media_buy', buyRequest({ account: south }));
    expect([n.isError, s.isError]).toEqual([false, false]);
    const [nStep] = await sql`select id from workflow_steps where media_buy_id = ${n.data.media_buy_id as string}`;
    const [sStep] = await sql`select id from workflow_steps where media_buy_id = ${s.data.media_buy_id as string}`;
    const ids = (r: { data: Record<string, unknown> }, list: string, key: string) => (r.data[list] as Record<string, string>[]).map((x) => x[key]);

    expect(ids(await call(buyer, 'get_media_buys', { account: north, status_filter: ['pending_creatives'] }), 'media_buys', 'media_buy_id')).toEqual([n.data.media_buy_id]);
    const accounts = ids(await call(buyer, 'list_accounts', { account: south }), 'accounts', 'account_id');
    expect(accounts).toHaveLength(1);
    expect(ids(await call(buyer, 'get_media_buys', { account: { account_id: accounts[0] }, status_filter: ['pending_creatives'] }), 'media_buys', 'media_buy_id')).toEqual([s.data.media_buy_id]);
    expect(ids(await call(buyer, 'list_tasks', { account: north }), 'tasks', 'task_id')).toEqual([nStep!.id]);

    // The task exists, but under the other account: not found.
    expect((await call(buyer, 'tasks/get', { task_id: nStep!.id, account: north })).isError).toBe(false);
    const elsewhere = await call(buyer, 'tasks/get', { task_id: sStep!.id, account: north });
    expect(elsewhere.data.adcp_error).toMatchObject({ code: 'REFERENCE_NOT_FOUND' });

    // An account that is not the caller's matches nothing (and is not opened by a read).
    const nobody = { brand: { domain: 'nobody-scope.example' }, operator: 'agency.example' };
    expect((await call(buyer, 'get_media_buys', { account: nobody })).data.media_buys).toEqual([]);
    expect((await call(buyer, 'list_accounts', { account: nobody })).data.accounts).toEqual([]);
    expect((await call(buyer, 'list_tasks', { account: { account_id: 'acct_nope' } })).data.tasks).toEqual([]);
    expect((await sql`select count(*)::int as n from accounts where brand_domain = 'nobody-scope.example'`)[0]!.n).toBe(0);
  });
});

describe('get_media_buys', () => {
  it('echoes each buy’s own create context beside the request’s', async () => {
    const made = await call(buyer, 'create_media_buy', buyRequest({ context: { campaign: 'q4-launch', line: 7 } }));
    const { data } = await call(buyer, 'get_media_buys', { media_buy_ids: [made.data.media_buy_id], context: { poll: 1 } });
    expect(data.context).toEqual({ poll: 1 });
    expect((data.media_buys as Record<string, unknown>[])[0]!.context).toEqual({ campaign: 'q4-launch', line: 7 });
  });

  it('filters by status and paginates with a cursor', async () => {
    const everyStatus = ['pending_creatives', 'pending_start', 'active', 'paused', 'completed', 'rejected', 'canceled'];
    const all = await call(buyer, 'get_media_buys', { status_filter: everyStatus, pagination: { max_results: 100 } });
    const total = (all.data.media_buys as unknown[]).length;
    expect(total).toBeGreaterThan(3);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(buyer, 'get_media_buys', { status_filter: everyStatus, pagination: { max_results: 2, ...(cursor && { cursor }) } });
      const buys = page.data.media_buys as { media_buy_id: string; status: string; packages: unknown[] }[];
      expect(buys.length).toBeLessThanOrEqual(2);
      seen.push(...buys.map((b) => b.media_buy_id));
      cursor = (page.data.pagination as { cursor?: string }).cursor;
    } while (cursor);
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
    const active = await call(buyer, 'get_media_buys', { status_filter: ['active'] });
    expect(active.data.media_buys).toEqual([]);
    // AdCP: with no ids, no status_filter means active buys only; named by id, a buy is found whatever its status.
    expect((await call(buyer, 'get_media_buys', {})).data.media_buys).toEqual([]);
    expect((await call(buyer, 'get_media_buys', { media_buy_ids: [seen[0]] })).data.media_buys).toHaveLength(1);
    const pending = await call(buyer, 'get_media_buys', { status_filter: 'pending_creatives' });
    expect((pending.data.media_buys as unknown[]).length).toBe(total);
    const bad = await call(buyer, 'get_media_buys', { status_filter: ['sleeping'] });
    expect(bad.isError).toBe(true);
  });
});
