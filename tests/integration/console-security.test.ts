/**
 * The seller console under attack: what buyers and operators can smuggle in
 * (credentials in the buyer's webhook URLs, oversized or NUL-laden input),
 * what leaks out to buyers, and that bad input is a 4xx, never a 500.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, httpClient, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { addOperator, Browser } from '../helpers/console.js';
import { notifySlack } from '../../src/jobs/tasks/notify-slack.js';

let t: TestApp;
let base: string;
let sql: postgres.Sql;
let buyer: Client;
let admin: Browser;

async function submit(overrides: Record<string, unknown> = {}): Promise<{ taskId: string; mediaBuyId: string }> {
  const { isError, data } = await call(buyer, 'create_media_buy', buyRequest(overrides));
  expect(isError, JSON.stringify(data)).toBe(false);
  const taskId = data.task_id as string;
  const [step] = await sql`select media_buy_id from workflow_steps where id = ${taskId}`;
  return { taskId, mediaBuyId: step!.media_buy_id as string };
}

beforeAll(async () => {
  t = await startTestApp({ http: true, approval: 'manual' });
  base = t.http!.url;
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  await sql`update tenants set settings = settings || '{"allow_private_webhooks": true}'::jsonb where id = 'demo'`;
  const a = await addOperator(t.app.database.db, { tenantId: 'demo', email: 'sec-admin@demo.example', role: 'admin' });
  admin = new Browser(base);
  await admin.login('sec-admin@demo.example', a.password);
  buyer = await memoryClient(t);
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe("the buyer's request as the seller sees it", () => {
  it('never shows the query string of the buyer’s webhook URLs (it may carry a credential)', async () => {
    const { mediaBuyId } = await submit({
      push_notification_config: { url: 'http://127.0.0.1:9/hook?sig=push-query-secret', authentication: { schemes: ['Bearer'], credentials: 'c'.repeat(40) } },
    });
    const pages = [await admin.get('/admin/queue'), await admin.get(`/admin/media-buys/${mediaBuyId}`)];
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.text).toContain('http://127.0.0.1:9/hook');
      expect(p.text).not.toContain('push-query-secret');
    }
    for (const path of ['/queue', `/media-buys/${mediaBuyId}`]) {
      const res = await admin.api('GET', path);
      expect(res.status).toBe(200);
      expect(res.text, path).not.toContain('push-query-secret');
    }
  });
});

describe('decisions', () => {
  it('bounds the rejection reason on the forms as on the API (1000 characters), with a 400, not a 500', async () => {
    const { taskId } = await submit();
    for (const n of [1001, 9000]) {
      const res = await admin.post(`/admin/tasks/${taskId}/reject`, { reason: 'r'.repeat(n) });
      expect(res.status, `${n} characters`).toBe(400);
    }
    const [step] = await sql`select status from workflow_steps where id = ${taskId}`;
    expect(step!.status).toBe('requires_approval');
    expect((await admin.post(`/admin/tasks/${taskId}/reject`, { reason: 'r'.repeat(1000) })).status).toBe(303);
  });

  it('does not tell the buyer which operator (email) or API key decided', async () => {
    const watcher = await httpClient(t);
    const logged: string[] = [];
    watcher.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logged.push(String(n.params.data));
    });
    const { isError, data } = await call(watcher, 'create_media_buy', buyRequest());
    expect(isError).toBe(false);
    const taskId = data.task_id as string;
    const [step] = await sql`select media_buy_id from workflow_steps where id = ${taskId}`;
    await watcher.subscribeResource({ uri: `media-buy://${step!.media_buy_id}` });
    expect((await admin.post(`/admin/tasks/${taskId}/reject`, { reason: 'Sold out' })).status).toBe(303);
    const msg = await waitFor(async () => logged.find((m) => m.includes('rejected')));
    expect(msg).toContain('Sold out');
    expect(msg).not.toContain('sec-admin@demo.example');
    expect(msg).not.toContain('operator:');
    await watcher.close();
  });
});

describe('the audit trail of buying calls', () => {
  it('survives what a buyer puts in the arguments: a NUL does not block the batch, a huge id is not stored whole', async () => {
    const nul = await call(buyer, 'update_media_buy', { media_buy_id: 'mb_\u0000evil', idempotency_key: `idem-nul-\u0000-${Date.now()}`, paused: true });
    expect(nul.isError).toBe(true);
    const huge = await call(buyer, 'update_media_buy', { media_buy_id: `mb_${'x'.repeat(200_000)}`, idempotency_key: 'k'.repeat(200_000), paused: true });
    expect(huge.isError).toBe(true);
    const { taskId } = await submit({ buyer_ref: 'after-the-poison' });
    await t.app.services.audit!.flush();
    const rows = await sql`select operation, target, length(coalesce(target, '')) as tl, length(details::text) as dl from audit_log where actor = 'buyer:prn_demo_buyer' order by id`;
    expect(rows.find((r) => r.operation === 'mcp:create_media_buy' && r.target === taskId), 'the call after the bad ones is recorded').toBeTruthy();
    const updates = rows.filter((r) => r.operation === 'mcp:update_media_buy');
    expect(updates.length).toBe(2);
    for (const r of updates) {
      expect(r.tl).toBeLessThanOrEqual(255);
      expect(r.dl).toBeLessThan(2000);
    }
  });
});

describe('bad input', () => {
  it('answers a 4xx, never a 500, to NUL characters and out-of-range numbers', async () => {
    const pages = ['/admin/media-buys/mb_%00', '/admin/media-buys?status=%00', '/admin/audit?before=99999999999999999999', '/admin/audit?target=%00', '/admin/products/%00/edit'];
    for (const path of pages) expect((await admin.get(path)).status, path).toBeLessThan(500);
    for (const path of ['/media-buys/mb_%00', '/media-buys?status=%00', '/audit?actor=%00']) expect((await admin.api('GET', path)).status, path).toBeLessThan(500);
    const product = await admin.api('POST', '/products', { product_id: 'nul_product', name: 'N\u0000L', description: 'x', channels: ['olv'], delivery_type: 'guaranteed', format_ids: ['video_standard_15s'], property_ids: ['demo_sports_web'], pricing_options: [{ pricing_option_id: 'p', pricing_model: 'cpm', currency: 'USD', fixed_price: '1' }] });
    expect(product.status).toBe(400);
    const form = await admin.post('/admin/buyers', { name: 'Bad\u0000Buyer' });
    expect(form.status).toBe(400);
    const login = await new Browser(base).login('a\u0000@demo.example', 'whatever-password');
    expect(login.status).toBeLessThan(500);
  });
});

describe('the Slack webhook', () => {
  it('may not point into the private network unless the tenant allows private webhooks, when saved or when sent', async () => {
    let hits = 0;
    const inside = http.createServer((_req, res) => {
      hits++;
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => inside.listen(0, '127.0.0.1', () => r()));
    const insideUrl = `http://127.0.0.1:${(inside.address() as AddressInfo).port}/hook`;
    try {
      await sql`update tenants set settings = settings - 'allow_private_webhooks' where id = 'demo'`;
      for (const url of [insideUrl, 'https://10.0.0.7/hook', 'https://[::1]/hook', 'https://169.254.169.254/latest', 'https://intranet.localhost/hook']) {
        const res = await admin.api('PATCH', '/settings', { slack_webhook_url: url });
        expect(res.status, url).toBe(400);
        expect(res.body.error.field).toBe('slack_webhook_url');
      }
      expect((await admin.api('PATCH', '/settings', { slack_webhook_url: 'https://hooks.slack.com/services/T0/B0/x' })).status).toBe(200);

      // One already stored (or a name that now resolves inside) is refused by the job, which does not retry it.
      const { mediaBuyId } = await submit();
      await sql`update tenant_notifications set slack_webhook_url = ${insideUrl} where tenant_id = 'demo'`;
      await notifySlack({ v: 1, tenant_id: 'demo', event: 'approval_required', media_buy_id: mediaBuyId }, { attempts: 1, maxAttempts: 6 }, { db: t.app.database.db, logger: t.app.services.logger });
      expect(hits).toBe(0);

      // Allowed for the tenant (a sandbox or test deployment): saved and sent.
      await sql`update tenants set settings = settings || '{"allow_private_webhooks": true}'::jsonb where id = 'demo'`;
      expect((await admin.api('PATCH', '/settings', { slack_webhook_url: insideUrl })).status).toBe(200);
      await notifySlack({ v: 1, tenant_id: 'demo', event: 'approval_required', media_buy_id: mediaBuyId }, { attempts: 1, maxAttempts: 6 }, { db: t.app.database.db, logger: t.app.services.logger });
      expect(hits).toBe(1);
    } finally {
      await sql`update tenants set settings = settings || '{"allow_private_webhooks": true}'::jsonb where id = 'demo'`;
      await sql`delete from tenant_notifications where tenant_id = 'demo'`;
      await new Promise<void>((r) => inside.close(() => r()));
    }
  });
});

describe('password guessing', () => {
  it('counts sign-ins still being checked: a burst in parallel gets no more than the 10 failures allowed one by one', async () => {
    await addOperator(t.app.database.db, { tenantId: 'demo', email: 'target@demo.example', role: 'admin', password: 'the-real-password-123' });
    const form = await fetch(`${base}/admin/login`);
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const attempt = (password: string) =>
      fetch(`${base}/admin/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ _csrf: token, email: 'target@demo.example', password }).toString(),
      }).then((r) => r.status);
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(`guess-number-${i}`)));
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
    expect(await attempt('the-real-password-123')).toBe(429);
  });

  it('counts nothing for a refused sign-in: hammering a locked email does not lock the address out', async () => {
    await addOperator(t.app.database.db, { tenantId: 'demo', email: 'other-op@demo.example', role: 'viewer', password: 'another-real-password' });
    const form = await fetch(`${base}/admin/login`);
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const attempt = (email: string, password: string) =>
      fetch(`${base}/admin/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ _csrf: token, email, password }).toString(),
      }).then((r) => r.status);
    // target@demo.example is locked by the test above; 150 more tries at it are refused, and counted nowhere.
    for (let i = 0; i < 150; i++) expect(await attempt('target@demo.example', `more-${i}`)).toBe(429);
    // So this address (well under its 100) still signs in to another email.
    expect(await attempt('other-op@demo.example', 'another-real-password')).toBe(303);
  });

  it('locks an email out only from the address that failed, until 50 failures from any address', async () => {
    await addOperator(t.app.database.db, { tenantId: 'demo', email: 'spread@demo.example', role: 'viewer', password: 'spread-real-password' });
    const form = await fetch(`${base}/admin/login`);
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    /** A sign-in from the loopback address `from` (127.0.0.x: every one of them reaches the agent on 127.0.0.1). */
    const attempt = (from: string, password: string) =>
      new Promise<number>((resolve, reject) => {
        const body = new URLSearchParams({ _csrf: token, email: 'spread@demo.example', password }).toString();
        const req = http.request(`${base}/admin/login`, { method: 'POST', localAddress: from, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end(body);
      });
    for (let i = 0; i < 10; i++) expect(await attempt('127.0.0.1', `wrong-${i}`)).toBe(401);
    expect(await attempt('127.0.0.1', 'spread-real-password')).toBe(429);
    // The guesser's address is locked out of this email; the operator's is not.
    expect(await attempt('127.0.0.2', 'spread-real-password')).toBe(303);
    // Failures spread over more addresses reach the email's own limit: then every address waits.
    for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
      for (let i = 0; i < 10; i++) expect(await attempt(from, `wrong-${from}-${i}`)).toBe(401);
    }
    expect(await attempt('127.0.0.7', 'spread-real-password')).toBe(429);
  }, 120_000); // 52 password checks (scrypt)
});

describe('response headers', () => {
  it('sends the security headers on every kind of /admin answer', async () => {
    const anon = new Browser(base);
    const answers = [
      await admin.get('/admin/queue'),
      await admin.get('/admin/no-such-page'),
      await admin.api('GET', '/no-such-endpoint'),
      await admin.api('DELETE', '/queue'),
      await admin.post('/admin/settings', {}, { csrf: 'forged' }),
      await anon.get('/admin/queue'),
      await anon.get('/admin/api/queue'),
      await anon.get('/admin/login'),
      await anon.fetch('/admin/queue', { headers: { authorization: `Bearer ${t.token}` } }),
      await anon.get('/admin/media-buys/mb_%00'),
    ];
    for (const a of answers) {
      expect(a.headers.get('content-security-policy'), String(a.status)).toMatch(/frame-ancestors 'none'/);
      expect(a.headers.get('x-frame-options')).toBe('DENY');
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
      expect(a.headers.get('referrer-policy')).toBe('same-origin');
      expect(a.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('escapes what buyers chose wherever the seller sees it', async () => {
    const x = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
    const { mediaBuyId } = await submit({ buyer_ref: `ref${x}`, brand: { domain: 'acme-drinks.example', name: x }, packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000, buyer_ref: `pkg${x}` }] });
    for (const path of ['/admin/queue', `/admin/media-buys/${mediaBuyId}`, '/admin/media-buys']) {
      const p = await admin.get(path);
      expect(p.status).toBe(200);
      expect(p.text, path).not.toContain('<script>alert');
      expect(p.text, path).not.toContain('<img src=x');
      expect(p.text, path).toContain('ref&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    }
  });
});

describe('sizes', () => {
  it('bounds emails: no operator gets a longer one than 254 characters, and sign-in neither keeps nor echoes a longer one', async () => {
    const long = `${'a'.repeat(300_000)}@demo.example`;
    expect((await admin.api('POST', '/users', { email: `${'b'.repeat(300)}@demo.example`, role: 'viewer' })).status).toBe(400);
    const res = await new Browser(base).login(long, 'whatever-password');
    expect(res.status).toBe(401);
    expect(res.text.length).toBeLessThan(20_000);
  });
});

describe('unexpected failures', () => {
  it('answer 500 with the security headers and no detail, in the form the caller reads', async () => {
    // JSON nested too deep to be written back out: an error no validation foresaw.
    const mappings = `{"mock":{"advertiser_id":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const api = await admin.fetch('/admin/api/buyers', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': admin.csrf! },
      body: `{"name":"Deep","platform_mappings":${mappings}}`,
    });
    expect(api.status).toBe(500);
    expect(api.body).toEqual({ error: { code: 'INTERNAL', message: expect.any(String) } });
    const page = await admin.post('/admin/buyers', { name: 'Deep', platform_mappings: mappings });
    expect(page.status).toBe(500);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    for (const a of [api, page]) {
      expect(a.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
      expect(a.text).not.toMatch(/stack|at .*\.js/);
    }
  });
});
