/**
 * Values Postgres cannot hold (NUL, lone surrogates, amounts beyond numeric(18, 4), dates that roll over,
 * identifiers too long for an index) are the caller's to fix: VALIDATION_ERROR with the field where it can
 * be named, never SERVICE_UNAVAILABLE (which tells an agent to retry), and nothing written. The audit trail
 * keeps recording whatever such calls carried.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
});
afterAll(async () => {
  await buyer?.close();
  await t?.close();
});

const counts = async () => {
  const [row] = await t.app.database.sql<{ buys: number; packages: number; steps: number; keys: number }[]>`
    select (select count(*)::int from media_buys) as buys, (select count(*)::int from media_packages) as packages,
           (select count(*)::int from workflow_steps) as steps, (select count(*)::int from idempotency_records) as keys`;
  return row!;
};

const pkg = (over: Record<string, unknown> = {}) => ({ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, ...over });

async function refused(tool: string, args: Record<string, unknown>) {
  const res = await call(buyer, tool, args);
  expect(res.isError, JSON.stringify(res.data).slice(0, 500)).toBe(true);
  return res.data.adcp_error as { code: string; field?: string; message: string; recovery: string; suggestion?: string };
}

describe('values Postgres cannot hold', () => {
  it('refuses NUL and lone surrogates anywhere in the arguments, naming where, and writes nothing', async () => {
    const before = await counts();
    expect(await refused('create_media_buy', buyRequest({ buyer_ref: 'po\u0000123' }))).toMatchObject({ code: 'VALIDATION_ERROR', field: 'buyer_ref', recovery: 'correctable' });
    expect(await refused('create_media_buy', buyRequest({ packages: [pkg({ buyer_ref: 'a\ud800' })] }))).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].buyer_ref' });
    expect(await refused('create_media_buy', buyRequest({ context: { ['k\u0000']: 1 } }))).toMatchObject({ code: 'VALIDATION_ERROR', field: 'context.k\u0000' });
    expect(await refused('get_media_buys', { media_buy_ids: ['ok', '\udc00'] })).toMatchObject({ code: 'VALIDATION_ERROR', field: 'media_buy_ids[1]' });
    expect(await refused('sync_creatives', { creatives: [{ creative_id: 'c\u0000', name: 'x', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }, assets: {} }] })).toMatchObject({
      code: 'VALIDATION_ERROR',
      field: 'creatives[0].creative_id',
    });
    // A well-formed pair is text like any other.
    const emoji = await call(buyer, 'create_media_buy', buyRequest({ buyer_ref: 'launch 🚀', packages: [pkg()] }));
    expect(emoji.isError, JSON.stringify(emoji.data)).toBe(false);
    const after = await counts();
    expect(after).toEqual({ buys: before.buys + 1, packages: before.packages + 1, steps: before.steps + 1, keys: before.keys + 1 });
  });

  it('keeps auditing after a call carrying a lone surrogate in the id it audits', async () => {
    const sql = t.app.database.sql;
    const bad = await call(buyer, 'update_media_buy', { media_buy_id: '\ud800x', idempotency_key: `hygiene-${Date.now()}-0001`, paused: true });
    expect(bad.isError).toBe(true);
    const good = await call(buyer, 'create_media_buy', buyRequest({ packages: [pkg()] }));
    expect(good.isError).toBe(false);
    await t.app.services.audit!.flush();
    const rows = await waitFor(async () => {
      const r = await sql<{ operation: string; target: string | null }[]>`select operation, target from audit_log where target in ('\ufffdx', ${(good.data as { media_buy_id: string }).media_buy_id})`;
      return r.length >= 2 && r;
    });
    expect(rows).toEqual(expect.arrayContaining([{ operation: 'mcp:update_media_buy', target: '\ufffdx' }, { operation: 'mcp:create_media_buy', target: (good.data as { media_buy_id: string }).media_buy_id }]));
  });

  it('refuses amounts the money columns cannot hold, and ones that round to nothing', async () => {
    const before = await counts();
    for (const [p, field] of [
      [pkg({ budget: 1e15 }), 'packages[0].budget'],
      [pkg({ budget: 1e308 }), 'packages[0].budget'],
      [pkg({ budget: 0.00001 }), 'packages[0].budget'],
      [{ product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1000, bid_price: 1e308 }, 'packages[0].bid_price'],
    ] as const) {
      expect(await refused('create_media_buy', buyRequest({ packages: [p] })), JSON.stringify(p)).toMatchObject({ code: 'VALIDATION_ERROR', field, recovery: 'correctable' });
    }
    const sum = await refused('create_media_buy', buyRequest({ packages: [pkg({ budget: 6e13 }), { product_id: 'ctv_run_of_network', pricing_option_id: 'ctv_ron_cpm_auction', budget: 6e13, bid_price: 30 }] }));
    expect(sum).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages' });
    expect(await counts()).toEqual(before);

    const buy = await call(buyer, 'create_media_buy', buyRequest({ packages: [pkg()] }));
    const sc = buy.data as { media_buy_id: string; packages: { package_id: string }[] };
    const update = (p: Record<string, unknown>) => refused('update_media_buy', { media_buy_id: sc.media_buy_id, idempotency_key: `hygiene-${Math.random().toString(36).slice(2)}-upd`, packages: [{ package_id: sc.packages[0]!.package_id, ...p }] });
    expect(await update({ budget: 1e15 })).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].budget' });
    expect(await update({ bid_price: -5 })).toMatchObject({ code: 'VALIDATION_ERROR', field: 'packages[0].bid_price' });
    expect(await refused('provide_performance_feedback', { media_buy_id: sc.media_buy_id, idempotency_key: `hygiene-${Date.now()}-feedback`, measurement_period: { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' }, performance_index: 1e308 })).toMatchObject({
      code: 'VALIDATION_ERROR',
      field: 'performance_index',
    });
    const [stored] = await t.app.database.sql<{ budget: string }[]>`select budget from media_packages where id = ${sc.packages[0]!.package_id}`;
    expect(Number(stored!.budget)).toBe(20000);
  });

  it('refuses a date that rolls over, and a value too long for an index, as the caller’s to fix', async () => {
    expect(await refused('get_media_buy_delivery', { start_date: '2027-02-30' })).toMatchObject({ code: 'VALIDATION_ERROR', field: 'start_date' });
    const before = await counts();
    // Random text: a repeated letter compresses small enough to fit the index.
    const long = await refused('create_media_buy', buyRequest({ account: { brand: { domain: `${randomBytes(100_000).toString('hex')}.example` }, operator: 'agency.example' }, packages: [pkg()] }));
    expect(long).toMatchObject({ code: 'VALIDATION_ERROR', recovery: 'correctable' });
    expect(await counts()).toEqual(before);
  });
});
