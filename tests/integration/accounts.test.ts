import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretBox, secretContext } from '../../src/services/secret-box.js';
import { have31Schemas, responseProblems, responseProblems31 } from '../helpers/adcp-schema.js';
import { addBuyer, buyRequest, call, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';
import { tablesHolding } from '../helpers/db.js';

let t: TestApp;
let buyer: Client;
let other: Client;
let sql: postgres.Sql;
let n = 0;

const key = () => `acct-test-key-${Date.now()}-${n++}`;
const ACME = { brand: { domain: 'acmeoutdoor.example' }, operator: 'pinnacle-agency.example', billing: 'operator', payment_terms: 'net_30' };

/** Call a tool and check the reply against the AdCP response schema. */
async function checked(tool: string, args: Record<string, unknown>, client = buyer) {
  const res = await call(client, tool, args);
  expect(responseProblems(tool, res.data, res.isError)).toEqual([]);
  return res;
}

const accountCount = async () => (await sql`select count(*)::int as n from accounts`)[0]!.n as number;

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  const tokenB = 'tok_accounts_other_buyer';
  await addBuyer(t, { id: 'prn_acct_b', token: tokenB, name: 'Buyer B' });
  other = await memoryClient(t, tokenB);
});
afterAll(async () => {
  await other?.close();
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('sync_accounts', () => {
  it('creates an account, echoing brand and operator, and stores billing terms', async () => {
    const { isError, data } = await checked('sync_accounts', { accounts: [ACME], idempotency_key: key(), context: { correlation_id: 'sync' } });
    expect(isError).toBe(false);
    expect(data.context).toEqual({ correlation_id: 'sync' });
    const [a] = data.accounts as Record<string, unknown>[];
    expect(a).toMatchObject({ account_id: expect.stringMatching(/^acct_/), brand: { domain: 'acmeoutdoor.example' }, operator: 'pinnacle-agency.example', action: 'created', status: 'active', billing: 'operator', payment_terms: 'net_30', sandbox: false });
    const [row] = await sql`select details, sandbox from accounts where id = ${a!.account_id as string}`;
    expect(row!.details).toMatchObject({ billing: 'operator', payment_terms: 'net_30' });
    // create_media_buy finds the same account by its natural key.
    const buy = await call(buyer, 'create_media_buy', buyRequest({ account: { brand: { domain: 'acmeoutdoor.example' }, operator: 'pinnacle-agency.example' } }));
    expect((buy.data.account as { account_id: string }).account_id).toBe(a!.account_id);
  });

  it('refuses a billing party the seller does not declare in its capabilities, opening nothing', async () => {
    const caps = await call(buyer, 'get_adcp_capabilities', {});
    const supported = (caps.data.account as { supported_billing: string[] }).supported_billing;
    expect(supported).not.toContain('advertiser');
    const before = await sql`select count(*)::int as n from accounts`;
    const { isError, data } = await checked('sync_accounts', { accounts: [{ brand: { domain: 'billing-test.example' }, operator: 'pinnacle-agency.example', billing: 'advertiser' }], idempotency_key: key() });
    expect(isError).toBe(false);
    expect((data.accounts as Record<string, unknown>[])[0]).toMatchObject({ action: 'failed', errors: [{ code: 'BILLING_NOT_SUPPORTED', field: 'accounts[0].billing', details: { scope: 'capability', supported_billing: supported } }] });
    expect(await sql`select count(*)::int as n from accounts`).toEqual(before);
  });

  it('reports unchanged and updated on later syncs, and a sandbox account separately', async () => {
    const same = await checked('sync_accounts', { accounts: [ACME], idempotency_key: key() });
    expect((same.data.accounts as { action: string }[])[0]!.action).toBe('unchanged');
    const changed = await checked('sync_accounts', { accounts: [{ ...ACME, payment_terms: 'net_60' }], idempotency_key: key() });
    expect((changed.data.accounts as Record<string, unknown>[])[0]).toMatchObject({ action: 'updated', payment_terms: 'net_60' });
    const sandbox = await checked('sync_accounts', { accounts: [{ brand: { domain: 'test.example' }, operator: 'test.example', billing: 'operator', sandbox: true }], idempotency_key: key() });
    expect((sandbox.data.accounts as Record<string, unknown>[])[0]).toMatchObject({ action: 'created', sandbox: true, status: 'active' });
  });

  it('takes AdCP 3.1 settings updates of an existing account, by id or natural key, and refuses what it cannot apply', async () => {
    const [acme] = (await checked('sync_accounts', { accounts: [ACME], idempotency_key: key() })).data.accounts as { account_id: string }[];
    const before = await accountCount();
    const res = await call(buyer, 'sync_accounts', {
      idempotency_key: key(),
      adcp_version: '3.1',
      accounts: [
        { account: { account_id: acme!.account_id }, payment_terms: 'net_45' },
        { account: { brand: { domain: 'acmeoutdoor.example' }, operator: 'pinnacle-agency.example' }, payment_terms: 'net_45' },
        { account: { account_id: acme!.account_id }, billing: 'agent' },
        { account: { account_id: acme!.account_id }, notification_configs: [{ subscriber_id: 'buyer-primary', url: 'https://buyer.example/hooks', event_types: ['impairment'], active: true }] },
      ],
    });
    expect(res.isError, JSON.stringify(res.data)).toBe(false);
    if (have31Schemas) expect(responseProblems31('sync_accounts', res.data)).toEqual([]);
    const [byId, byKey, provisioning, notifications] = res.data.accounts as Record<string, unknown>[];
    expect(byId).toMatchObject({ account_id: acme!.account_id, action: 'updated', payment_terms: 'net_45', brand: { domain: 'acmeoutdoor.example' }, operator: 'pinnacle-agency.example' });
    expect(byKey).toMatchObject({ account_id: acme!.account_id, action: 'unchanged' });
    expect(provisioning).toMatchObject({ action: 'failed', errors: [{ code: 'UNSUPPORTED_PROVISIONING', field: 'accounts[2].billing' }] });
    // A media buy's event type has no place among account subscribers (tests/integration/account-notifications.test.ts has the rest).
    expect(notifications).toMatchObject({ action: 'failed', errors: [{ code: 'VALIDATION_ERROR', field: 'accounts[3].notification_configs[0].event_types[0]' }] });
    expect(await accountCount()).toBe(before);
    expect((await sql`select details->>'payment_terms' as terms, details->>'billing' as billing from accounts where id = ${acme!.account_id}`)[0]).toEqual({ terms: 'net_45', billing: 'operator' });

    // A provisioning entry whose notification_configs fail fails the same way, for an account that exists or not, and writes nothing.
    const subs = [{ subscriber_id: 'buyer-primary', url: 'https://buyer.example/hooks', event_types: ['creative.purged'], active: true }];
    const provisioned = await call(buyer, 'sync_accounts', {
      adcp_version: '3.1',
      idempotency_key: key(),
      accounts: [
        { brand: { domain: 'acmeoutdoor.example' }, operator: 'pinnacle-agency.example', billing: 'operator', payment_terms: 'net_60', notification_configs: subs },
        { brand: { domain: 'never-opened.example' }, operator: 'pinnacle-agency.example', billing: 'operator', notification_configs: subs },
      ],
    });
    expect(provisioned.isError, JSON.stringify(provisioned.data)).toBe(false);
    if (have31Schemas) expect(responseProblems31('sync_accounts', provisioned.data)).toEqual([]);
    const [known, unknown] = provisioned.data.accounts as Record<string, unknown>[];
    expect(known).toMatchObject({ account_id: acme!.account_id, action: 'failed', errors: [{ code: 'UNSUPPORTED_FEATURE', field: 'accounts[0].notification_configs[0].event_types[0]' }] });
    expect(unknown).toMatchObject({ action: 'failed', status: 'rejected', errors: [{ code: 'UNSUPPORTED_FEATURE', field: 'accounts[1].notification_configs[0].event_types[0]' }] });
    expect(await accountCount()).toBe(before);
    expect((await sql`select details->>'payment_terms' as terms from accounts where id = ${acme!.account_id}`)[0]).toEqual({ terms: 'net_45' });
    // An empty list (AdCP 3.1: remove every subscriber) on an account that has none changes nothing.
    const none = await call(buyer, 'sync_accounts', { adcp_version: '3.1', idempotency_key: key(), accounts: [{ account: { account_id: acme!.account_id }, payment_terms: 'net_45', notification_configs: [] }] });
    expect((none.data.accounts as Record<string, unknown>[])[0]).toMatchObject({ account_id: acme!.account_id, action: 'unchanged', payment_terms: 'net_45', notification_configs: [] });

    // A provisioning entry with a field missing is reported against that field, as before settings updates existed.
    const partial = await call(buyer, 'sync_accounts', { idempotency_key: key(), accounts: [{ brand: { domain: 'partial.example' }, billing: 'operator' }] });
    expect(partial.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'accounts[0].operator' });

    // An account opened by create_media_buy stays out of delete_missing's reach after a settings update
    // (a buyer of its own, so that delete_missing closes nobody else's test accounts).
    await addBuyer(t, { id: 'prn_acct_settings', token: 'tok_accounts_settings_buyer', name: 'Buyer S' });
    const solo = await memoryClient(t, 'tok_accounts_settings_buyer');
    try {
      const opened = await call(solo, 'create_media_buy', buyRequest({ account: { brand: { domain: 'auto-opened.example' }, operator: 'pinnacle-agency.example' } }));
      const openedId = (opened.data.account as { account_id: string }).account_id;
      await call(solo, 'sync_accounts', { idempotency_key: key(), accounts: [{ account: { account_id: openedId }, payment_terms: 'net_15' }] });
      await call(solo, 'sync_accounts', { idempotency_key: key(), accounts: [ACME], delete_missing: true });
      expect((await sql`select status, details->>'payment_terms' as terms from accounts where id = ${openedId}`)[0]).toEqual({ status: 'active', terms: 'net_15' });
    } finally {
      await solo.close();
    }

    // An account that is not the caller's is not found, and nothing is written.
    const foreign = await call(other, 'sync_accounts', { idempotency_key: key(), accounts: [{ account: { account_id: acme!.account_id }, payment_terms: 'net_90' }] });
    expect(foreign.data.adcp_error).toMatchObject({ code: 'ACCOUNT_NOT_FOUND', field: 'accounts[0].account' });
    expect((await sql`select details->>'payment_terms' as terms from accounts where id = ${acme!.account_id}`)[0]!.terms).toBe('net_45');
  });

  it('replays the same key and request, and rejects the same key with another request', async () => {
    const k = key();
    const req = { accounts: [{ brand: { domain: 'replay.example' }, operator: 'replay.example', billing: 'agent' }], idempotency_key: k };
    const first = await checked('sync_accounts', { ...req, context: { try: 1 } });
    const again = await checked('sync_accounts', { ...req, context: { try: 2 } });
    expect(again.data).toMatchObject({ replayed: true, context: { try: 2 }, accounts: first.data.accounts });
    const before = await accountCount();
    const clash = await checked('sync_accounts', { ...req, accounts: [{ brand: { domain: 'other.example' }, operator: 'other.example', billing: 'agent' }] });
    expect(clash.isError).toBe(true);
    expect(clash.data.adcp_error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(await accountCount()).toBe(before);
  });

  it('writes nothing on dry_run or bad input', async () => {
    const before = await accountCount();
    const dry = await checked('sync_accounts', { accounts: [{ brand: { domain: 'dry.example' }, operator: 'dry.example', billing: 'operator' }], dry_run: true, idempotency_key: key() });
    expect(dry.data).toMatchObject({ dry_run: true, accounts: [{ action: 'created', brand: { domain: 'dry.example' } }] });
    const noKey = await checked('sync_accounts', { accounts: [ACME] });
    expect(noKey.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'idempotency_key' });
    const badTerms = await checked('sync_accounts', { accounts: [{ ...ACME, payment_terms: 'net_1000' }], idempotency_key: key() });
    expect(badTerms.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR' });
    const twice = await checked('sync_accounts', { accounts: [ACME, ACME], idempotency_key: key() });
    expect(twice.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'accounts[1]' });
    expect(await accountCount()).toBe(before);
  });

  it('delete_missing closes the buyer’s other synced accounts, not auto-opened or other buyers’ ones', async () => {
    await checked('sync_accounts', { accounts: [{ brand: { domain: 'keep.example' }, operator: 'keep.example', billing: 'operator' }], idempotency_key: key() }, other);
    expect((await call(buyer, 'create_media_buy', buyRequest())).isError).toBe(false); // opens acme-drinks.example on first use
    const res = await checked('sync_accounts', { accounts: [ACME], delete_missing: true, idempotency_key: key() });
    const results = res.data.accounts as { brand: { domain: string }; action: string; status: string }[];
    expect(results[0]).toMatchObject({ brand: { domain: 'acmeoutdoor.example' }, status: 'active' });
    expect(results.slice(1).map((r) => [r.brand.domain, r.action, r.status]).sort()).toEqual([
      ['replay.example', 'updated', 'closed'],
      ['test.example', 'updated', 'closed'],
    ]);
    const rows = await sql`select brand_domain, status from accounts where brand_domain in ('keep.example', 'acme-drinks.example') order by brand_domain`;
    expect(rows).toEqual([{ brand_domain: 'acme-drinks.example', status: 'active' }, { brand_domain: 'keep.example', status: 'active' }]);
  });
});

describe('sync_accounts at the same time', () => {
  it('runs syncs of the same accounts in other orders, and a delete_missing beside them, without one failing on a deadlock', async () => {
    await addBuyer(t, { id: 'prn_acct_race', token: 'tok_accounts_race_buyer', name: 'Racing buyer' });
    const clients = await Promise.all([0, 1, 2].map(() => memoryClient(t, 'tok_accounts_race_buyer')));
    try {
      for (let round = 0; round < 5; round++) {
        const [a, b, c] = ['a', 'b', 'c'].map((x) => ({ brand: { domain: `${x}${round}.race.example` }, operator: 'race.example', billing: 'operator' }));
        const lists = [[a, b, c], [c, b, a], [b, c, a]];
        const answers = await Promise.all(clients.map((client, i) => call(client, 'sync_accounts', { accounts: lists[i], idempotency_key: key() })));
        expect(answers.map((x) => x.data.adcp_error)).toEqual([undefined, undefined, undefined]);
        const closing = await Promise.all([call(clients[0]!, 'sync_accounts', { accounts: [a], delete_missing: true, idempotency_key: key() }), call(clients[1]!, 'sync_accounts', { accounts: [c, b], delete_missing: true, idempotency_key: key() })]);
        expect(closing.map((x) => x.data.adcp_error)).toEqual([undefined, undefined]);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });
});

describe('sync_accounts on a seller that approves accounts by hand', () => {
  it('opens new accounts pending approval, with setup instructions', async () => {
    await sql`update tenants set settings = settings || '{"account_approval_mode":"manual"}'::jsonb where id = 'demo'`;
    const manual = await memoryClient(t, 'tok_accounts_other_buyer');
    try {
      const res = await checked('sync_accounts', { accounts: [{ brand: { domain: 'pending.example' }, operator: 'pending.example', billing: 'operator' }], idempotency_key: key() }, manual);
      expect((res.data.accounts as Record<string, unknown>[])[0]).toMatchObject({ action: 'created', status: 'pending_approval', setup: { message: expect.any(String) } });
      const buy = await call(manual, 'create_media_buy', buyRequest({ account: { brand: { domain: 'pending.example' }, operator: 'pending.example' } }));
      expect(buy.data.adcp_error).toMatchObject({ code: 'ACCOUNT_SETUP_REQUIRED' });
    } finally {
      await manual.close();
      await sql`update tenants set settings = settings || '{"account_approval_mode":"auto"}'::jsonb where id = 'demo'`;
    }
  });
});

describe('list_accounts', () => {
  it('refuses a malformed account scope with a clear error', async () => {
    for (const account of [{ brand: { domain: 7 } }, 'acct_x', { account_id: '' }]) {
      const res = await call(buyer, 'list_accounts', { account });
      expect(res.data.adcp_error, JSON.stringify(account)).toMatchObject({ code: 'VALIDATION_ERROR', field: 'account' });
    }
    expect((await call(buyer, 'tasks/get', { task_id: 'task_x', account: 'acct_x' })).data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'account' });
  });

  it('lists only the caller’s accounts, filtered and paginated', async () => {
    const all = await checked('list_accounts', { brand: { domain: 'test.example' }, context: { correlation_id: 'list' } });
    expect(all.data.context).toEqual({ correlation_id: 'list' });
    const accounts = all.data.accounts as Record<string, unknown>[];
    expect(accounts).toHaveLength(4);
    expect(accounts.map((a) => a.brand)).not.toContainEqual({ domain: 'keep.example' });
    expect(accounts.find((a) => (a.brand as { domain: string }).domain === 'acmeoutdoor.example')).toMatchObject({ name: expect.any(String), status: 'active', billing: 'operator', payment_terms: 'net_30', sandbox: false });

    const closed = await checked('list_accounts', { status: 'closed' });
    expect((closed.data.accounts as { status: string }[]).map((a) => a.status)).toEqual(['closed', 'closed']);
    const sandbox = await checked('list_accounts', { sandbox: true });
    expect((sandbox.data.accounts as { sandbox: boolean }[]).every((a) => a.sandbox)).toBe(true);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await checked('list_accounts', { pagination: { max_results: 2, ...(cursor && { cursor }) } });
      const ids = (page.data.accounts as { account_id: string }[]).map((a) => a.account_id);
      expect(ids.length).toBeLessThanOrEqual(2);
      seen.push(...ids);
      cursor = (page.data.pagination as { cursor?: string }).cursor;
    } while (cursor);
    expect(seen).toEqual(accounts.map((a) => a.account_id));

    const theirs = await checked('list_accounts', {}, other);
    expect((theirs.data.accounts as { brand: { domain: string } }[]).map((a) => a.brand.domain)).toEqual(['keep.example', 'pending.example']);
    const bad = await checked('list_accounts', { pagination: { cursor: 'garbage' } });
    expect(bad.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
  });
});

describe('sync_governance', () => {
  it('stores governance agents on the account and echoes them without credentials', async () => {
    const account = { brand: { domain: 'gov-brand.example' }, operator: 'gov-agency.example' };
    const agents = [{ url: 'https://governance.gov-agency.example', authentication: { schemes: ['Bearer'], credentials: 'gov-token-0123456789abcdef-0123456' }, categories: ['budget_authority'] }];
    const res = await call(buyer, 'sync_governance', { idempotency_key: 'gov-sync-000000000001', accounts: [{ account, governance_agents: agents }], context: { correlation_id: 'g' } });
    expect(res.isError).toBe(false);
    expect(responseProblems('sync_governance', res.data)).toEqual([]);
    expect(res.data.accounts).toEqual([{ account, status: 'synced', governance_agents: [{ url: agents[0]!.url, categories: ['budget_authority'] }] }]);
    expect(JSON.stringify(res.data)).not.toContain('gov-token');
    const [row] = await sql`select details from accounts where brand_domain = 'gov-brand.example'`;
    const stored = (row!.details as { governance_agents: { url: string; authentication: { credentials: string } }[] }).governance_agents;
    expect(stored).toHaveLength(1);
    // Kept to call the agent with, sealed for this buyer; in plain text nowhere.
    expect(stored[0]!.authentication.credentials).toMatch(/^enc:v1:/);
    expect(secretBox().open(stored[0]!.authentication.credentials, secretContext.buyerCredentials('demo', 'prn_demo_buyer'))).toBe('gov-token-0123456789abcdef-0123456');
    expect(await tablesHolding(sql, 'gov-token')).toEqual([]);
    const bad = await call(buyer, 'sync_governance', { idempotency_key: 'gov-sync-000000000002', accounts: [{ account, governance_agents: [{ url: 'http://insecure.example' }] }] });
    expect(bad.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR' });
  });
});
