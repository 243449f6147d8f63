/**
 * Buying tools read accounts through a per-process cache. Whoever changes an
 * account (here: plain SQL, as the seller console or another replica would),
 * the trigger's event reaches every process and the cached copy goes: the next
 * call sees the change. A tool that changes accounts in this process drops them
 * before it answers.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;

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

const account = { brand: { domain: 'cached-brand.example' }, operator: 'cached-agency.example' };

describe('the account cache', () => {
  it('serves a known account, and a change made outside this process reaches the next call', async () => {
    const first = await call(buyer, 'create_media_buy', buyRequest({ account }));
    expect(first.isError).toBe(false);
    const accountId = (first.data.account as { account_id: string }).account_id;
    // Cached now: a second buy on the same account works without asking Postgres for it.
    expect((await call(buyer, 'create_media_buy', buyRequest({ account }))).isError).toBe(false);

    await sql`update accounts set status = 'suspended' where id = ${accountId}`;
    const refused = await waitFor(async () => {
      const r = await call(buyer, 'create_media_buy', buyRequest({ account }));
      return r.isError ? r : undefined;
    }, 2_000);
    expect((refused.data.errors as { code: string }[])[0]!.code).toBe('ACCOUNT_SUSPENDED');
    // And by account_id too.
    const byId = await call(buyer, 'create_media_buy', buyRequest({ account: { account_id: accountId } }));
    expect((byId.data.errors as { code: string }[])[0]!.code).toBe('ACCOUNT_SUSPENDED');

    await sql`update accounts set status = 'active' where id = ${accountId}`;
    await waitFor(async () => !(await call(buyer, 'create_media_buy', buyRequest({ account }))).isError, 2_000);
  });

  it('keeps no negative answer: an account opened elsewhere is found at once', async () => {
    const other = { brand: { domain: 'later-brand.example' }, operator: 'later-agency.example' };
    const byId = await call(buyer, 'create_media_buy', buyRequest({ account: { account_id: 'acc_not_yet' } }));
    expect((byId.data.errors as { code: string }[])[0]!.code).toBe('ACCOUNT_NOT_FOUND');
    const opened = await call(buyer, 'create_media_buy', buyRequest({ account: other }));
    expect(opened.isError).toBe(false);
    const id = (opened.data.account as { account_id: string }).account_id;
    expect((await call(buyer, 'create_media_buy', buyRequest({ account: { account_id: id } }))).isError).toBe(false);
  });
});
