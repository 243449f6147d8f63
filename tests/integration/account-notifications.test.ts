/**
 * AdCP 3.1 account-level notification_configs on sync_accounts: checked per
 * account (event types, URLs, duplicates), proved by a signed webhook.challenge
 * that the worker sends (the sync runs as a task), applied as a declarative
 * replace and echoed without credentials on sync_accounts and list_accounts; a
 * failed proof leaves the account's subscribers as they were. Then a creative's
 * status change made by the seller reaches the active subscribers through
 * deliver_webhook. A real MCP client, the worker, and loopback receivers.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { BrandJsonJwksResolver, InMemoryReplayStore, InMemoryRevocationStore, verifyWebhookSignature } from '@adcp/sdk/signing/server';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql as drizzleSql } from 'drizzle-orm';
import { insertWorkflowStep } from '../../src/db/queries/workflow.js';
import { creatives } from '../../src/db/schema/index.js';
import { newId } from '../../src/domain/ids.js';
import { enqueueJob } from '../../src/jobs/enqueue.js';
import { closeStrandedWebhooks } from '../../src/jobs/tasks/close-stranded-webhooks.js';
import { CHALLENGES_AT_ONCE, proveNotificationConfigs } from '../../src/jobs/tasks/prove-notification-configs.js';
import { createLogger } from '../../src/logger.js';
import { queueCreativeStatusChanged } from '../../src/services/account-notifications.js';
import { sealBuyerAuthentication, secretBox, secretContext } from '../../src/services/secret-box.js';
import { call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { have31Schemas, payloadProblems31, responseProblems31 } from '../helpers/adcp-schema.js';
import { tablesHolding } from '../helpers/db.js';
import { startWellKnown } from '../helpers/receiver.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
let receiver: http.Server;
let base: string;
let wellKnown: http.Server;
let agentBase: string;

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}
const hits: Hit[] = [];
/** Paths whose receiver answers challenges with the value echoed; any other path answers 200 with an empty object. */
const proving = new Set<string>();
const slowInFlight = { now: 0, max: 0 };

const SECRET = 'bearer-token-for-tests-0123456789abcdef';
const V31 = { adcp_version: '3.1' };
const sandboxEntry = (extra: Record<string, unknown> = {}) => ({ brand: { domain: 'notify.example' }, operator: 'agency.example', billing: 'operator', sandbox: true, ...extra });
let n = 0;
const sync = (accounts: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
  call(buyer, 'sync_accounts', { ...V31, idempotency_key: `sync-notify-${++n}-${Date.now()}`, accounts, ...extra });
const config = (path: string, extra: Record<string, unknown> = {}) => ({ subscriber_id: 'buyer-primary', url: base + path, event_types: ['creative.status_changed'], ...extra });
const challengesAt = (path: string) => hits.filter((h) => h.path === path && h.json.type === 'webhook.challenge');

async function completed(taskId: string): Promise<Record<string, unknown>> {
  return waitFor(async () => {
    const { data } = await call(buyer, 'tasks/get', { ...V31, task_id: taskId, include_result: true });
    return data.status === 'completed' || data.status === 'failed' ? data : undefined;
  }, 20_000, 50);
}

async function listed(accountId: string): Promise<Record<string, unknown>> {
  const { data } = await call(buyer, 'list_accounts', { ...V31, account: { account_id: accountId } });
  return (data.accounts as Record<string, unknown>[])[0]!;
}

beforeAll(async () => {
  t = await startTestApp({ worker: true, complianceTesting: true });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const json = JSON.parse(body || '{}') as Record<string, unknown>;
      hits.push({ path: req.url!, headers: req.headers, body, json });
      const answer = json.type === 'webhook.challenge' && (proving.has(req.url!) || req.url!.startsWith('/slow/')) ? { challenge: json.challenge } : {};
      // /slow/...: proves, after a moment, counting how many are being answered at once.
      const slow = req.url!.startsWith('/slow/');
      if (slow) slowInFlight.max = Math.max(slowInFlight.max, ++slowInFlight.now);
      setTimeout(() => {
        if (slow) slowInFlight.now--;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      }, slow ? 300 : 0);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  ({ server: wellKnown, base: agentBase } = await startWellKnown(t.app.services));
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
  receiver?.close();
  wellKnown?.close();
});

describe('sync_accounts notification_configs', () => {
  let accountId: string;

  it('proves a new subscriber with a signed challenge, then applies it and echoes it without credentials', async () => {
    proving.add('/good');
    const auth = { schemes: ['Bearer'], credentials: SECRET };
    const { isError, data } = await sync([sandboxEntry({ notification_configs: [config('/good', { authentication: auth })] })], { context: { run: 'first' } });
    expect(isError).toBe(false);
    expect(data).toMatchObject({ status: 'submitted', task_id: expect.any(String), adcp_version: '3.1' });
    const task = await completed(data.task_id as string);
    expect(task).toMatchObject({ status: 'completed', task_type: 'sync_accounts' });
    const result = task.result as { accounts: Record<string, unknown>[] };
    const [account] = result.accounts;
    accountId = account!.account_id as string;
    expect(account).toMatchObject({ action: 'created', status: 'active', notification_configs: [{ subscriber_id: 'buyer-primary', url: `${base}/good`, event_types: ['creative.status_changed'], authentication: { schemes: ['Bearer'] }, active: true }] });
    if (have31Schemas) expect(responseProblems31('sync_accounts', result)).toEqual([]);

    // The challenge: one POST, naming the account the sync opened, signed with the seller's key as brand.json publishes it.
    const [ch] = challengesAt('/good');
    expect(challengesAt('/good')).toHaveLength(1);
    expect(ch!.json).toEqual({
      type: 'webhook.challenge',
      challenge: expect.stringMatching(/^[A-Za-z0-9_.:-]{32,255}$/),
      account_id: accountId,
      subscriber_id: 'buyer-primary',
      seller_agent_url: `${agentBase}/mcp`,
      delivery_auth: { mode: 'Bearer', credential_fingerprint: createHash('sha256').update(SECRET).digest('hex') },
      event_types: ['creative.status_changed'],
    });
    if (have31Schemas) expect(payloadProblems31('core/webhook-challenge.json', ch!.json)).toEqual([]);
    expect(ch!.headers.authorization).toBeUndefined(); // the challenge is signed RFC 9421 whatever the delivery auth
    const jwks = new BrandJsonJwksResolver(`${agentBase}/.well-known/brand.json`, { agentType: 'sales', allowPrivateIp: true });
    await expect(verifyWebhookSignature({ method: 'POST', url: `${base}/good`, headers: ch!.headers, body: ch!.body }, { jwks, replayStore: new InMemoryReplayStore(), revocationStore: new InMemoryRevocationStore() })).resolves.toMatchObject({ status: 'verified' });

    const shown = await listed(accountId);
    expect(shown.notification_configs).toEqual([{ subscriber_id: 'buyer-primary', url: `${base}/good`, event_types: ['creative.status_changed'], authentication: { schemes: ['Bearer'] }, active: true }]);
    // Write-only: the credential is in no answer, nor anywhere in the database but sealed.
    expect(JSON.stringify([task, shown])).not.toContain(SECRET);
    expect(await tablesHolding(sql, SECRET)).toEqual([]);
    const [step] = await sql`select request_credentials, request::text as request from workflow_steps where id = ${data.task_id as string}`;
    expect(step).toMatchObject({ request_credentials: null });
    expect(step!.request).not.toContain(SECRET);
  });

  it('reuses a proof for the same subscriber: the sync completes at once', async () => {
    const before = challengesAt('/good').length;
    const { data } = await sync([sandboxEntry({ notification_configs: [config('/good', { authentication: { schemes: ['Bearer'], credentials: SECRET } })] })]);
    expect(data).toMatchObject({ status: 'completed', accounts: [{ account_id: accountId, action: 'unchanged', notification_configs: [{ subscriber_id: 'buyer-primary', active: true }] }] });
    expect(challengesAt('/good')).toHaveLength(before);
    // Left out, the subscribers stay and are echoed.
    const { data: plain } = await sync([sandboxEntry()]);
    expect(plain).toMatchObject({ status: 'completed', accounts: [{ account_id: accountId, notification_configs: [{ subscriber_id: 'buyer-primary' }] }] });
  });

  it('fails the account entry at the URL when the receiver does not echo the challenge, leaving the subscribers as they were', async () => {
    const { data } = await sync([{ account: { account_id: accountId }, payment_terms: 'net_60', notification_configs: [config('/good'), config('/silent', { subscriber_id: 'audit-bus' })] }]);
    expect(data).toMatchObject({ status: 'submitted' });
    const task = await completed(data.task_id as string);
    const [account] = (task.result as { accounts: Record<string, unknown>[] }).accounts;
    expect(account).toMatchObject({ account_id: accountId, action: 'failed', errors: [{ code: 'VALIDATION_ERROR', field: 'accounts[0].notification_configs[1].url' }] });
    expect(challengesAt('/silent')).toHaveLength(1);
    const shown = await listed(accountId);
    expect(shown.notification_configs).toEqual([expect.objectContaining({ subscriber_id: 'buyer-primary', url: `${base}/good`, authentication: { schemes: ['Bearer'] } })]);
    expect(shown.payment_terms).toBeUndefined(); // the whole entry failed
  });

  it('refuses, per account, event types not delivered here and URLs it must not reach, before any challenge', async () => {
    const before = hits.length;
    const cases: [Record<string, unknown>, string, string][] = [
      [config('/good', { event_types: ['creative.status_changed', 'scheduled'] }), 'VALIDATION_ERROR', 'accounts[0].notification_configs[0].event_types[1]'],
      [config('/good', { event_types: ['account.status_changed'] }), 'VALIDATION_ERROR', 'accounts[0].notification_configs[0].event_types[0]'],
      [config('/good', { event_types: ['creative.purged'] }), 'UNSUPPORTED_FEATURE', 'accounts[0].notification_configs[0].event_types[0]'],
    ];
    for (const [c, code, field] of cases) {
      const { isError, data } = await sync([{ account: { account_id: accountId }, notification_configs: [c] }]);
      expect(isError).toBe(false);
      expect(data.accounts).toEqual([expect.objectContaining({ action: 'failed', errors: [expect.objectContaining({ code, field })] })]);
    }
    const dup = await sync([{ account: { account_id: accountId }, notification_configs: [config('/good'), config('/other')] }]);
    expect(dup.data.accounts).toEqual([expect.objectContaining({ action: 'failed', errors: [expect.objectContaining({ code: 'VALIDATION_ERROR', field: 'accounts[0].notification_configs[1].subscriber_id' })] })]);
    // A production account's subscriber must be https and public, paused or not.
    for (const c of [config('/good'), config('/good', { url: 'https://169.254.169.254/latest/meta-data/', active: false }), config('/good', { url: 'https://LOCALHOST./hook', active: false })]) {
      const prod = await sync([{ brand: { domain: 'notify.example' }, operator: 'agency.example', billing: 'operator', notification_configs: [c] }]);
      expect(prod.data.accounts).toEqual([expect.objectContaining({ action: 'failed', status: 'rejected', errors: [expect.objectContaining({ code: 'VALIDATION_ERROR', field: 'accounts[0].notification_configs[0].url' })] })]);
    }
    expect(await sql`select 1 from accounts where brand_domain = 'notify.example' and not sandbox`).toHaveLength(0);
    // A malformed entry is the request's error, nothing written.
    const bad = await sync([{ account: { account_id: accountId }, notification_configs: [{ url: `${base}/good`, event_types: ['creative.status_changed'] }] }]);
    expect(bad).toMatchObject({ isError: true, data: { errors: [{ code: 'VALIDATION_ERROR', field: 'accounts[0].notification_configs[0].subscriber_id' }] } });
    expect(hits.length).toBe(before);
    expect((await listed(accountId)).notification_configs).toEqual([expect.objectContaining({ subscriber_id: 'buyer-primary' })]);
  });

  it('sends a request\'s challenges a bounded number at a time, however many accounts it names', async () => {
    const accounts = Array.from({ length: 3 }, (_, a) =>
      sandboxEntry({ brand: { domain: `notify-many-${a}.example` }, notification_configs: Array.from({ length: 16 }, (_, j) => config(`/slow/${a}/${j}`, { subscriber_id: `sub-${j}` })) }),
    );
    const { data } = await sync(accounts);
    expect(data).toMatchObject({ status: 'submitted' });
    const task = await completed(data.task_id as string);
    const results = (task.result as { accounts: Record<string, unknown>[] }).accounts;
    expect(results).toHaveLength(3);
    for (const r of results) expect(r).toMatchObject({ action: 'created', notification_configs: expect.arrayContaining([expect.objectContaining({ active: true })]) });
    expect(hits.filter((h) => h.path.startsWith('/slow/'))).toHaveLength(48);
    expect(slowInFlight.max).toBeLessThanOrEqual(CHALLENGES_AT_ONCE);
    expect(slowInFlight.max).toBeGreaterThan(16); // yet more than one account's at once
  });

  it('a task whose prove job stopped without finishing it (attempts spent, its worker killed in the last) ends failed, its kept credentials dropped', async () => {
    const deps = { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never };
    const credentials = sealBuyerAuthentication(secretBox(), secretContext.buyerCredentials('demo', 'prn_demo_buyer'), { schemes: ['Bearer'], credentials: SECRET });
    /** A sync_accounts task as the tool stores it, its job then put in the given state in the same transaction (so the worker cannot take it first). */
    const taskWithJob = async (job: 'gave_up' | 'removed' | 'running') => {
      const id = newId('task');
      const request = { ...V31, idempotency_key: `stranded-${id}`, accounts: [sandboxEntry({ notification_configs: [config('/stranded')] })] };
      await t.app.database.db.transaction(async (tx) => {
        await insertWorkflowStep(tx, { id, tenantId: 'demo', principalId: 'prn_demo_buyer', stepType: 'sync_accounts', status: 'in_progress', owner: 'system', request, pushNotificationConfig: { url: `${base}/stranded-task` }, requestCredentials: { 'accounts/0/notification_configs/0': credentials } });
        await enqueueJob(tx, 'prove_notification_configs', { v: 1, tenant_id: 'demo', task_id: id, account_ids: {}, seller_agent_url: agentBase }, { jobKey: `prove_notification_configs:${id}` });
        const key = `prove_notification_configs:${id}`;
        if (job === 'gave_up') await tx.execute(drizzleSql`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'worker killed' where key = ${key}`);
        if (job === 'removed') await tx.execute(drizzleSql`select graphile_worker.remove_job(${key})`);
        if (job === 'running') await tx.execute(drizzleSql`update graphile_worker._private_jobs set attempts = max_attempts, locked_at = now(), locked_by = 'another-worker' where key = ${key}`);
      });
      return id;
    };
    const [gaveUp, removed, running] = [await taskWithJob('gave_up'), await taskWithJob('removed'), await taskWithJob('running')];
    const { tasksFailed } = await closeStrandedWebhooks({}, { attempts: 1, maxAttempts: 3 }, deps);
    expect(tasksFailed).toBe(2);
    for (const id of [gaveUp, removed]) {
      const { data } = await call(buyer, 'tasks/get', { ...V31, task_id: id, include_result: true });
      expect(data).toMatchObject({ task_id: id, status: 'failed' });
      const [step] = await sql`select status, request_credentials from workflow_steps where id = ${id}`;
      expect(step).toEqual({ status: 'failed', request_credentials: null });
    }
    // The buyer hears of it on the task's webhook.
    const sent = await waitFor(async () => {
      const f = hits.filter((h) => h.path === '/stranded-task');
      return f.length >= 2 && f;
    }, 15_000, 50);
    expect(sent.map((h) => h.json)).toEqual([gaveUp, removed].map(() => expect.objectContaining({ task_type: 'sync_accounts', status: 'failed' })));
    const [left] = await sql`select status, request_credentials from workflow_steps where id = ${running}`;
    expect(left).toMatchObject({ status: 'in_progress', request_credentials: { 'accounts/0/notification_configs/0': credentials } });
    await sql`select graphile_worker.remove_job(${`prove_notification_configs:${running}`})`;
    await sql`update workflow_steps set status = 'failed' where id = ${running}`;
    expect(challengesAt('/stranded')).toHaveLength(0);
  });

  it('an AdCP 3.0 caller is told the feature is 3.1', async () => {
    const { data } = await call(buyer, 'sync_accounts', { idempotency_key: `sync-notify-30-${Date.now()}`, accounts: [{ account: { account_id: accountId }, notification_configs: [config('/good')] }] });
    expect(data.accounts).toEqual([expect.objectContaining({ action: 'failed', errors: [expect.objectContaining({ code: 'UNSUPPORTED_FEATURE', field: 'accounts[0].notification_configs' })] })]);
  });
});

describe('creative.status_changed', () => {
  it('reaches the active subscribers when the seller decides on a creative', async () => {
    proving.add('/second');
    const { data: entry } = await sync([
      {
        account: { account_id: (await sql`select id from accounts where brand_domain = 'notify.example' and sandbox`)[0]!.id },
        notification_configs: [config('/good', { authentication: { schemes: ['Bearer'], credentials: SECRET } }), config('/second', { subscriber_id: 'audit-bus' }), config('/paused', { subscriber_id: 'paused', active: false })],
      },
    ]);
    expect(entry).toMatchObject({ status: 'submitted' });
    const task = await completed(entry.task_id as string);
    const [account] = (task.result as { accounts: Record<string, unknown>[] }).accounts;
    expect(account).toMatchObject({ action: 'updated', notification_configs: [{ subscriber_id: 'buyer-primary' }, { subscriber_id: 'audit-bus' }, { subscriber_id: 'paused', active: false }] });
    expect(challengesAt('/paused')).toHaveLength(0); // paused: no challenge
    const accountId = account!.account_id as string;

    await t.app.database.db.insert(creatives).values({ tenantId: 'demo', principalId: 'prn_demo_buyer', id: 'cr_notify', name: 'Notify', formatId: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }, status: 'pending_review', details: { account_id: accountId } });
    const ctl = await call(buyer, 'comply_test_controller', { scenario: 'force_creative_status', params: { creative_id: 'cr_notify', status: 'rejected', rejection_reason: 'Brand safety' }, account: { account_id: accountId } });
    expect(ctl.data).toMatchObject({ success: true, current_state: 'rejected' });
    const fired = await waitFor(async () => {
      const f = hits.filter((h) => h.json.notification_type === 'creative.status_changed');
      return f.length >= 2 && f;
    }, 15_000, 50);
    const byPath = new Map(fired.map((h) => [h.path, h]));
    const first = byPath.get('/good')!;
    expect(first.json).toMatchObject({
      notification_type: 'creative.status_changed',
      subscriber_id: 'buyer-primary',
      account_id: accountId,
      creative_id: 'cr_notify',
      transition: { from: 'pending_review', to: 'rejected' },
      reason_code: 'review_failure',
      reason_detail: 'Brand safety',
      initiator: 'seller',
    });
    expect(first.headers.authorization).toBe(`Bearer ${SECRET}`);
    const second = byPath.get('/second')!;
    expect(second.json).toMatchObject({ subscriber_id: 'audit-bus', notification_id: first.json.notification_id });
    expect(second.json.idempotency_key).not.toBe(first.json.idempotency_key);
    expect(second.headers['signature-input']).toBeDefined(); // no legacy auth: RFC 9421
    if (have31Schemas) for (const h of [first, second]) expect(payloadProblems31('creative/creative-status-changed-webhook.json', h.json)).toEqual([]);
    expect(hits.filter((h) => h.path === '/paused')).toHaveLength(0);
    const delivered = await waitFor(async () => {
      const rows = await sql`select status from webhook_deliveries where task_id like ${`notifications:${accountId}:%`}`;
      return rows.length === 2 && rows.every((r) => r.status === 'delivered') && rows;
    });
    expect(delivered).toHaveLength(2);
  });

  it('a suspended buyer is sent nothing: no creative webhook, and its pending sync fails without a challenge', async () => {
    const [{ id: accountId }] = (await sql`select id from accounts where brand_domain = 'notify.example' and sandbox`) as unknown as [{ id: string }];
    const deliveries = async () => Number((await sql`select count(*)::int as n from webhook_deliveries where task_id like ${`notifications:${accountId}:%`}`)[0]!.n);
    const before = await deliveries();
    const change = { tenantId: 'demo', principalId: 'prn_demo_buyer', creativeId: 'cr_notify', accountId, from: 'pending_review', to: 'approved', initiator: 'seller' as const, observedAt: new Date() };
    // A sync waiting for its proof (its job not queued, so only this test runs it).
    const taskId = newId('task');
    const request = { ...V31, idempotency_key: `suspended-${taskId}`, accounts: [{ account: { account_id: accountId }, notification_configs: [config('/suspended')] }] };
    await insertWorkflowStep(t.app.database.db, { id: taskId, tenantId: 'demo', principalId: 'prn_demo_buyer', stepType: 'sync_accounts', status: 'pending', owner: 'system', request });
    await sql`update principals set suspended_at = now() where id = 'prn_demo_buyer'`;
    try {
      expect(await queueCreativeStatusChanged(t.app.database.db, change)).toBe(0);
      expect(await deliveries()).toBe(before);
      await proveNotificationConfigs({ v: 1, tenant_id: 'demo', task_id: taskId, account_ids: {}, seller_agent_url: agentBase }, { attempts: 1, maxAttempts: 3 }, { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never });
      const [step] = await sql`select status, error from workflow_steps where id = ${taskId}`;
      expect(step).toMatchObject({ status: 'failed', error: { code: 'AGENT_SUSPENDED' } });
      expect(challengesAt('/suspended')).toHaveLength(0);
    } finally {
      await sql`update principals set suspended_at = null where id = 'prn_demo_buyer'`;
    }
    // Reinstated, it hears of the next change again.
    expect(await queueCreativeStatusChanged(t.app.database.db, { ...change, observedAt: new Date() })).toBeGreaterThan(0);
  });

  it('an empty list removes every subscriber', async () => {
    const [{ id }] = (await sql`select id from accounts where brand_domain = 'notify.example' and sandbox`) as unknown as [{ id: string }];
    const { data } = await sync([{ account: { account_id: id }, notification_configs: [] }]);
    expect(data).toMatchObject({ status: 'completed', accounts: [{ account_id: id, action: 'updated', notification_configs: [] }] });
    expect((await listed(id)).notification_configs).toBeUndefined();
  });
});
