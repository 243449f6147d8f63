/**
 * Who may use the seller console: operator sessions (cookie + CSRF), admin API
 * keys on the API only, never buyer tokens; and the other way round, operator
 * credentials never pass for a buyer on /mcp.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawCall, startTestApp, type TestApp } from '../helpers/app.js';
import { addOperator, apiWithKey, Browser } from '../helpers/console.js';
import { createOperatorAccount } from '../../src/admin/actions.js';

let t: TestApp;
let base: string;
let sql: postgres.Sql;
let admin: { password: string };

beforeAll(async () => {
  t = await startTestApp({ http: true });
  base = t.http!.url;
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  admin = await addOperator(t.app.database.db, { tenantId: 'demo', email: 'ops@demo.example', role: 'admin' });
});
afterAll(async () => {
  await sql?.end();
  await t?.close();
});

describe('signing in', () => {
  it('sends an anonymous browser to the login page and the API answers 401', async () => {
    const b = new Browser(base);
    const page = await b.get('/admin/queue');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin/login?next=%2Fadmin%2Fqueue');
    expect((await b.get('/admin/api/queue')).status).toBe(401);
    const login = await b.get('/admin/login');
    expect(login.status).toBe(200);
    expect(login.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(login.text).not.toContain('<script');
  });

  it('refuses a wrong password and a login form without its CSRF token', async () => {
    const b = new Browser(base);
    expect((await b.login('ops@demo.example', 'not the password')).status).toBe(401);
    expect((await b.login('nobody@demo.example', 'whatever')).status).toBe(401);
    expect(b.cookies.has('sa_console')).toBe(false);
    const noCsrf = await b.post('/admin/login', { email: 'ops@demo.example', password: admin.password }, { csrf: 'forged' });
    expect(noCsrf.status).toBe(403);
    expect(b.cookies.has('sa_console')).toBe(false);
  });

  it('sets an HttpOnly, SameSite=Lax session cookie scoped to /admin, Secure behind https, and stores only its hash', async () => {
    const form = await fetch(`${base}/admin/login`, { headers: { 'x-forwarded-proto': 'https' } });
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const loginCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const res = await fetch(`${base}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie, 'x-forwarded-proto': 'https' },
      body: new URLSearchParams({ _csrf: token, email: 'OPS@demo.example', password: admin.password }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/queue');
    const session = res.headers.getSetCookie().find((c) => c.startsWith('sa_console='))!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).toMatch(/Path=\/admin/);
    expect(session).toMatch(/Secure/);
    const value = decodeURIComponent(session.split(';')[0]!.split('=')[1]!);
    const rows = await sql`select token_hash from operator_sessions`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.token_hash)).not.toContain(value);
  });

  it('asks which publisher when one email signs in to several, and throttles repeated failures', async () => {
    await sql`insert into tenants (id, name) values ('second', 'Second Publisher') on conflict do nothing`;
    await addOperator(t.app.database.db, { tenantId: 'demo', email: 'both@pubs.example', role: 'viewer', password: 'the-same-long-password' });
    await addOperator(t.app.database.db, { tenantId: 'second', email: 'both@pubs.example', role: 'admin', password: 'the-same-long-password' });
    const b = new Browser(base);
    const pick = await b.login('both@pubs.example', 'the-same-long-password');
    expect(pick.status).toBe(400);
    expect(pick.text).toContain('Second Publisher');
    expect((await b.login('both@pubs.example', 'the-same-long-password', { tenant: 'second' })).status).toBe(303);
    expect((await b.api('GET', '/me')).body).toMatchObject({ role: 'admin', tenant: { id: 'second', name: 'Second Publisher' } });
    expect((await b.api('GET', '/queue')).body.media_buys).toEqual([]);

    const c = new Browser(base);
    for (let i = 0; i < 10; i++) expect((await c.login('both@pubs.example', `wrong-${i}`)).status).toBe(401);
    expect((await c.login('both@pubs.example', 'the-same-long-password', { tenant: 'demo' })).status).toBe(429);
  });

  it('makes a one-time password be replaced before anything else, then ends with logout', async () => {
    const created = await createOperatorAccount(t.app.database.db, { tenantId: 'demo', email: 'new@demo.example', role: 'viewer' });
    const b = new Browser(base);
    const res = await b.login('new@demo.example', created.password);
    expect(res.headers.get('location')).toBe('/admin/password');
    expect((await b.get('/admin/queue')).headers.get('location')).toBe('/admin/password');
    expect((await b.api('GET', '/queue')).body.error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    const short = await b.post('/admin/password', { current_password: created.password, new_password: 'short', confirm_password: 'short' });
    expect(short.status).toBe(400);
    const ok = await b.post('/admin/password', { current_password: created.password, new_password: 'a-much-better-password', confirm_password: 'a-much-better-password' });
    expect(ok.status).toBe(303);
    expect((await b.get('/admin/queue')).status).toBe(200);
    // The one-time password is spent.
    expect((await new Browser(base).login('new@demo.example', created.password)).status).toBe(401);

    const out = await b.post('/admin/logout');
    expect(out.status).toBe(303);
    expect((await b.get('/admin/queue')).status).toBe(303);
    const audit = await sql`select operation, success from audit_log where actor = 'operator:new@demo.example' order by id`;
    expect(audit.map((a) => `${a.operation}:${a.success}`)).toEqual(['login:true', 'user.change_password:false', 'user.change_password:true', 'logout:true']);
  });

  it('checks the CSRF token on every form and on API writes made with a session', async () => {
    const b = new Browser(base);
    await b.login('ops@demo.example', admin.password);
    expect(b.csrf).toBeTruthy();
    const forged = await b.post('/admin/settings', { creative_review: 'manual' }, { csrf: 'forged' });
    expect(forged.status).toBe(403);
    const missing = await b.post('/admin/logout', {}, { csrf: null });
    expect(missing.status).toBe(403);
    expect((await b.api('PATCH', '/settings', { creative_review: 'manual' }, { 'x-csrf-token': 'forged' })).status).toBe(403);
    const [s] = await sql`select settings->>'creative_review' as cr from tenants where id = 'demo'`;
    expect(s!.cr).toBeNull();
    const ok = await b.api('PATCH', '/settings', { creative_review: 'auto' });
    expect(ok.status).toBe(200);
  });
});

describe('credentials stay on their side', () => {
  it('gives buyer tokens 401 on the console pages and API', async () => {
    for (const path of ['/admin/queue', '/admin/api/queue', '/admin/api/media-buys']) {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${t.token}` }, redirect: 'manual' });
      expect(res.status, path).toBe(401);
    }
    const x = await fetch(`${base}/admin/api/queue`, { headers: { 'x-adcp-auth': t.token } });
    expect(x.status).toBe(401);
  });

  it('takes admin API keys on /admin/api only, and neither keys nor sessions on /mcp', async () => {
    const b = new Browser(base);
    await b.login('ops@demo.example', admin.password);
    const created = await b.api('POST', '/api-keys', { name: 'bot', role: 'admin' });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect((await apiWithKey(base, key, 'GET', '/queue')).status).toBe(200);
    // Pages take no bearer credential.
    expect((await fetch(`${base}/admin/queue`, { headers: { authorization: `Bearer ${key}` }, redirect: 'manual' })).status).toBe(401);

    // On /mcp an API key is an unknown token, and so is the session token.
    expect((await rawCall(base, 'get_media_buys', {}, { authorization: `Bearer ${key}` })).status).toBe(401);
    const sessionToken = b.cookies.get('sa_console')!;
    expect((await rawCall(base, 'get_media_buys', {}, { authorization: `Bearer ${decodeURIComponent(sessionToken)}` })).status).toBe(401);
    // The cookie itself is not read by /mcp: the caller stays anonymous, and buying needs a buyer.
    const withCookie = await rawCall(base, 'get_media_buys', {}, { cookie: `sa_console=${sessionToken}` });
    expect(withCookie.status).toBe(401);
    expect(withCookie.body.error?.data).toMatchObject({ adcp_error: { code: 'AUTH_REQUIRED' } });

    // Revoked keys stop working; the key itself is stored only as a hash.
    const [row] = await sql`select key_hash from admin_api_keys where id = ${created.body.api_key_id}`;
    expect(row!.key_hash).not.toBe(key);
    expect((await b.api('POST', `/api-keys/${created.body.api_key_id}/revoke`)).status).toBe(200);
    expect((await apiWithKey(base, key, 'GET', '/queue')).status).toBe(401);
  });
});
