/**
 * The seller console's JSON API, action by action, against a manual-approval
 * publisher with a running worker: approvals (and their races), creatives,
 * products, buyers, adapters, settings and Slack, logs; roles and tenants.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ListTasksResultSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, httpClient, memoryClient, rawCall, startTestApp, TEST_SECRET_KEY, waitFor, type TestApp } from '../helpers/app.js';
import { ensureWebhookSigningKey } from '../../src/db/queries/signing-keys.js';
import { startHttpServer } from '../../src/mcp/http.js';
import { createSecretBox, parseSecretKeys, secretContext } from '../../src/services/secret-box.js';
import { addOperator, apiWithKey, Browser } from '../helpers/console.js';

let t: TestApp;
let base: string;
let sql: postgres.Sql;
let buyer: Client;
let admin: Browser;
let viewer: Browser;
let otherAdmin: Browser;

/** Loopback receiver for the buyer's webhooks and the seller's Slack. */
const received: { path: string; body: Record<string, unknown> }[] = [];
let hooks: http.Server;
let hooksUrl: string;

async function submit(overrides: Record<string, unknown> = {}): Promise<{ taskId: string; mediaBuyId: string }> {
  const { isError, data } = await call(buyer, 'create_media_buy', buyRequest(overrides));
  expect(isError, JSON.stringify(data)).toBe(false);
  expect(data.status).toBe('submitted');
  const taskId = data.task_id as string;
  const [step] = await sql`select media_buy_id from workflow_steps where id = ${taskId}`;
  return { taskId, mediaBuyId: step!.media_buy_id as string };
}

beforeAll(async () => {
  t = await startTestApp({ worker: true, http: true, approval: 'manual' });
  base = t.http!.url;
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body || '{}') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', () => r()));
  hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
  await sql`update tenants set settings = settings || '{"allow_private_webhooks": true}'::jsonb where id = 'demo'`;
  // A second publisher with its own buyer, buy and operator.
  await sql`insert into tenants (id, name, settings) values ('other', 'Other Publisher', '{}')`;
  await sql`insert into adapter_configs (id, tenant_id, name, adapter_type, settings, manual_approval_required, is_default) values ('adp_other', 'other', 'Other mock', 'mock', '{}', true, true)`;
  await sql`insert into principals (id, tenant_id, name, token_hash, token_hint) values ('prn_other', 'other', 'Other Buyer', 'x', 'x')`;
  const db = t.app.database.db;
  const [a, v, o] = await Promise.all([
    addOperator(db, { tenantId: 'demo', email: 'admin@demo.example', role: 'admin' }),
    addOperator(db, { tenantId: 'demo', email: 'viewer@demo.example', role: 'viewer' }),
    addOperator(db, { tenantId: 'other', email: 'admin@other.example', role: 'admin' }),
  ]);
  admin = new Browser(base);
  viewer = new Browser(base);
  otherAdmin = new Browser(base);
  await admin.login('admin@demo.example', a.password);
  await viewer.login('viewer@demo.example', v.password);
  await otherAdmin.login('admin@other.example', o.password);
  buyer = await memoryClient(t);
});
afterAll(async () => {
  await buyer?.close();
  await new Promise<void>((r) => (hooks ? hooks.close(() => r()) : r()));
  await sql?.end();
  await t?.close();
});

describe('approval queue', () => {
  it('lists a buy awaiting approval with the full request, buyer, budget and flight', async () => {
    const { taskId, mediaBuyId } = await submit({ buyer_ref: 'queue-check' });
    const q = await admin.api('GET', '/queue');
    expect(q.status).toBe(200);
    const item = q.body.media_buys.find((m: { task_id: string }) => m.task_id === taskId);
    expect(item).toMatchObject({
      media_buy: { media_buy_id: mediaBuyId, principal_id: 'prn_demo_buyer', buyer_name: 'Demo Buyer Agency', status: 'pending_approval', total_budget: '20000.0000', currency: 'USD', buyer_ref: 'queue-check' },
      packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: '20000.0000' }],
      request: { buyer_ref: 'queue-check', packages: [{ product_id: 'ctv_primetime' }] },
    });
    expect(item.media_buy.start_time).toBeTruthy();
    expect(item.media_buy.end_time).toBeTruthy();
    // The page shows the same.
    const page = await admin.get('/admin/queue');
    expect(page.text).toContain(mediaBuyId);
    expect(page.text).toContain('Demo Buyer Agency');
    expect(page.text).toContain('20,000.00 USD');
  });

  it('lets a viewer read but not decide', async () => {
    const { taskId } = await submit();
    expect((await viewer.api('GET', '/queue')).status).toBe(200);
    const res = await viewer.api('POST', `/tasks/${taskId}/approve`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
    expect((await viewer.post(`/admin/tasks/${taskId}/approve`)).status).toBe(403);
    const [step] = await sql`select status from workflow_steps where id = ${taskId}`;
    expect(step!.status).toBe('requires_approval');
    const [denied] = await sql`select success from audit_log where actor = 'operator:viewer@demo.example' and operation = 'media_buy.approve'`;
    expect(denied!.success).toBe(false);
  });

  it('approves: the same fulfilment job as the auto path, answered at once, booked by the worker', async () => {
    const { taskId, mediaBuyId } = await submit();
    const res = await admin.api('POST', `/tasks/${taskId}/approve`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ media_buy_id: mediaBuyId, task_id: taskId, decision: 'approved' });
    const detail = await waitFor(async () => {
      const d = await admin.api('GET', `/media-buys/${mediaBuyId}`);
      return d.body.fulfilment === 'fulfilled' && d.body;
    }, 20_000, 50);
    expect(detail.adapter_orders).toEqual([expect.objectContaining({ state: 'booked', external_order_id: expect.stringMatching(/^mock-order-/) })]);
    expect(detail.workflow_steps[0]).toMatchObject({ task_id: taskId, status: 'completed' });
    const [audit] = await sql`select actor, target, details from audit_log where operation = 'media_buy.approve' and success and target = ${mediaBuyId}`;
    expect(audit).toMatchObject({ actor: 'operator:admin@demo.example', target: mediaBuyId, details: { task_id: taskId } });
  });

  it('of two operators approving the same step at once, exactly one wins; the other is told it was decided', async () => {
    const { taskId } = await submit();
    const key = (await admin.api('POST', '/api-keys', { name: 'race-bot', role: 'admin' })).body.key as string;
    const results = await Promise.all([admin.api('POST', `/tasks/${taskId}/approve`), apiWithKey(base, key, 'POST', `/tasks/${taskId}/approve`)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const loser = results.find((r) => r.status === 409)!;
    expect(loser.body.error).toMatchObject({ code: 'ALREADY_DECIDED', details: { status: 'pending' } });
    // A late reject through the form sees the same.
    const late = await admin.post(`/admin/tasks/${taskId}/reject`, { reason: 'too late' });
    expect(late.status).toBe(409);
    expect(late.text).toContain('already decided');
  });

  it('refuses a decision on a buy the buyer changed since the operator reviewed it', async () => {
    const { taskId, mediaBuyId } = await submit();
    const queued = (await admin.api('GET', '/queue')).body.media_buys.find((b: { task_id: string }) => b.task_id === taskId);
    const pending = { revision: queued.media_buy.revision as number, packages: queued.packages as { package_id: string }[] };
    expect(pending.revision).toEqual(expect.any(Number));
    // The queue page's forms carry the revision shown.
    expect((await admin.get('/admin/queue')).text).toContain(`name="revision" value="${pending.revision}"`);
    const changed = await call(buyer, 'update_media_buy', { media_buy_id: mediaBuyId, idempotency_key: `u-${Math.random().toString(36).slice(2)}-${Date.now()}`, packages: [{ package_id: pending.packages[0]!.package_id, budget: 90000 }] });
    expect(changed.isError, JSON.stringify(changed.data)).toBe(false);
    const stale = await admin.api('POST', `/tasks/${taskId}/approve`, { revision: pending.revision });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'CHANGED_SINCE_REVIEW', field: 'revision', details: { revision: pending.revision + 1 } });
    const form = await admin.post(`/admin/tasks/${taskId}/reject`, { reason: 'too big', revision: String(pending.revision) });
    expect(form.status).toBe(409);
    expect(form.text).toContain('review it again');
    expect((await sql`select status from workflow_steps where id = ${taskId}`)[0]!.status).toBe('requires_approval');
    expect((await admin.api('POST', `/tasks/${taskId}/approve`, { revision: 'two' })).body.error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'revision' });
    expect((await admin.api('POST', `/tasks/${taskId}/approve`, { revision: pending.revision + 1 })).status).toBe(200);
  });

  it('rejects with a reason: the buy is rejected and the buyer hears it by MCP push and by webhook', async () => {
    const watcher = await httpClient(t);
    const pushed: string[] = [];
    watcher.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      pushed.push(n.params.uri);
    });
    const { taskId, mediaBuyId } = await submit({ push_notification_config: { url: `${hooksUrl}/buyer-webhook?sig=query-secret-value`, authentication: { schemes: ['Bearer'], credentials: 'buyer-secret-credential-0123456789' } } });
    await watcher.subscribeResource({ uri: `media-buy://${mediaBuyId}` });
    expect((await admin.api('POST', `/tasks/${taskId}/reject`, {})).status).toBe(400);
    const res = await admin.api('POST', `/tasks/${taskId}/reject`, { reason: 'Creative policy: no alcohol before 9pm' });
    expect(res.status).toBe(200);
    await waitFor(async () => pushed.includes(`media-buy://${mediaBuyId}`));
    const state = JSON.parse(((await watcher.readResource({ uri: `media-buy://${mediaBuyId}` })).contents[0] as { text: string }).text);
    expect(state).toMatchObject({ status: 'rejected', rejection_reason: 'Creative policy: no alcohol before 9pm' });
    const hook = await waitFor(async () => received.find((r) => r.path.startsWith('/buyer-webhook') && r.body.task_id === taskId));
    expect(hook.body).toMatchObject({ status: 'rejected' });
    // The webhook log shows the delivery; the buyer's credential never leaves the server.
    const log = await waitFor(async () => {
      const w = await admin.api('GET', '/webhooks');
      return w.body.deliveries.find((d: { task_id: string; status: string }) => d.task_id === taskId && d.status === 'delivered');
    });
    expect(log.attempt_log).toEqual([expect.objectContaining({ attempt: 1, status_code: 200 })]);
    expect(log.url).toBe(`${hooksUrl}/buyer-webhook`); // no query string: it may carry a credential
    expect((await admin.get('/admin/webhooks')).text).not.toContain('query-secret-value');
    const q = await admin.get(`/admin/media-buys/${mediaBuyId}`);
    expect(q.text).toContain('Creative policy: no alcohol before 9pm');
    expect(q.text).not.toContain('buyer-secret-credential');
    expect(JSON.stringify((await admin.api('GET', `/media-buys/${mediaBuyId}`)).body)).not.toContain('buyer-secret-credential');
    expect((await admin.get('/admin/webhooks')).text).toContain(mediaBuyId);
    await watcher.close();
  });
});

describe('tenants', () => {
  it('never shows one tenant’s operator another tenant’s data', async () => {
    const { taskId, mediaBuyId } = await submit();
    const q = await otherAdmin.api('GET', '/queue');
    expect(q.body.media_buys).toEqual([]);
    expect((await otherAdmin.api('GET', `/media-buys/${mediaBuyId}`)).status).toBe(404);
    expect((await otherAdmin.get(`/admin/media-buys/${mediaBuyId}`)).status).toBe(404);
    expect((await otherAdmin.api('GET', '/media-buys')).body.media_buys).toEqual([]);
    expect((await otherAdmin.api('POST', `/tasks/${taskId}/approve`)).status).toBe(404);
    expect((await otherAdmin.api('GET', '/buyers')).body.buyers.map((b: { principal_id: string }) => b.principal_id)).toEqual(['prn_other']);
    expect((await otherAdmin.api('GET', '/products')).body.products).toEqual([]);
    expect((await otherAdmin.api('PUT', '/products/ctv_primetime', {})).status).toBe(400);
    expect((await otherAdmin.api('POST', '/products/ctv_primetime/archive')).status).toBe(404);
    expect((await otherAdmin.api('POST', '/buyers/prn_demo_buyer/rotate-token')).status).toBe(404);
    expect((await otherAdmin.api('PATCH', '/adapters/adp_demo_mock', { manual_approval_required: false })).status).toBe(404);
    const audit = (await otherAdmin.api('GET', '/audit')).body.entries as { actor: string }[];
    expect(audit.every((e) => e.actor === 'operator:admin@other.example')).toBe(true);
    const [step] = await sql`select status from workflow_steps where id = ${taskId}`;
    expect(step!.status).toBe('requires_approval');
  });
});

describe('media buys', () => {
  it('filters by status and buyer', async () => {
    const all = await admin.api('GET', '/media-buys?limit=500');
    expect(all.body.total).toBeGreaterThan(3);
    const rejected = await admin.api('GET', '/media-buys?status=rejected');
    expect(rejected.body.media_buys.length).toBeGreaterThan(0);
    expect(rejected.body.media_buys.every((b: { status: string }) => b.status === 'rejected')).toBe(true);
    expect((await admin.api('GET', '/media-buys?buyer=prn_nobody')).body.media_buys).toEqual([]);
    expect((await admin.api('GET', '/media-buys?limit=-1')).status).toBe(400);
    const page = await admin.get('/admin/media-buys?status=pending_approval');
    expect(page.status).toBe(200);
    expect(page.text).toContain('pending_approval');
  });
});

describe('media buy detail', () => {
  it('shows a retrying job with its error, then the booking', async () => {
    await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { fail_first_attempts: 1 } });
    const { taskId, mediaBuyId } = await submit();
    expect((await admin.api('POST', `/tasks/${taskId}/approve`)).status).toBe(200);
    const retrying = await waitFor(async () => {
      const d = await admin.api('GET', `/media-buys/${mediaBuyId}`);
      return (d.body.jobs as { task_identifier: string; last_error: string | null; attempts: number }[]).find((j) => j.task_identifier === 'fulfil_media_buy' && j.last_error);
    });
    expect(retrying.last_error).toContain('mock ad server unavailable');
    const page = await admin.get(`/admin/media-buys/${mediaBuyId}`);
    expect(page.text).toContain('mock ad server unavailable');
    expect(page.text).toContain('http-equiv="refresh"'); // work in flight: the page reloads itself
    await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: {} });
    await waitFor(async () => (await admin.api('GET', `/media-buys/${mediaBuyId}`)).body.fulfilment === 'fulfilled', 20_000, 200);
    // The job row outlives the booking's commit by a moment (Graphile deletes it afterwards).
    await waitFor(async () => !(await admin.get(`/admin/media-buys/${mediaBuyId}`)).text.includes('http-equiv="refresh"'), 10_000, 100);

    // Delivery as the collection job stores it, per package.
    const [pkg] = await sql`select id from media_packages where media_buy_id = ${mediaBuyId}`;
    await sql`insert into delivery_reports (tenant_id, media_buy_id, package_id, day, impressions, clicks, spend, source)
      values ('demo', ${mediaBuyId}, ${pkg!.id}, '2030-01-01', 120000, 340, '5040.0000', 'adapter'), ('demo', ${mediaBuyId}, ${pkg!.id}, '2030-01-02', 80000, 160, '3360.0000', 'adapter')`;
    const d = await admin.api('GET', `/media-buys/${mediaBuyId}`);
    expect(d.body.packages[0].delivery).toMatchObject({ impressions: 200000, clicks: 500, spend: '8400.0000', days: 2, last_day: '2030-01-02' });
    const page2 = await admin.get(`/admin/media-buys/${mediaBuyId}`);
    expect(page2.text).toContain('200,000');
    expect(page2.text).toContain('8,400.00 USD');
  });
});

describe('creatives awaiting review', () => {
  it('are approved or rejected with a reason, once', async () => {
    expect((await admin.api('PATCH', '/settings', { creative_review: 'manual' })).body.creative_review).toBe('manual');
    const creative = (id: string) => ({
      creative_id: id,
      name: `Review ${id}`,
      format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' },
      assets: {
        banner_image: { asset_type: 'image', url: `https://cdn.acme.example/${id}.png`, width: 300, height: 250 },
        click_url: { asset_type: 'url', url: 'https://acme.example/' },
      },
    });
    // The in-memory client holds its caller (and so the tenant's settings) from when it connected.
    const reviewed = await memoryClient(t);
    const sync = await call(reviewed, 'sync_creatives', {
      account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
      idempotency_key: `sync-review-${Date.now()}`,
      creatives: [creative('cr_review_a'), creative('cr_review_b')],
    });
    expect(sync.isError, JSON.stringify(sync.data)).toBe(false);
    const q = await admin.api('GET', '/queue');
    expect(q.body.creatives.map((c: { creative_id: string }) => c.creative_id).sort()).toEqual(['cr_review_a', 'cr_review_b']);
    expect((await viewer.api('POST', '/buyers/prn_demo_buyer/creatives/cr_review_a/approve')).status).toBe(403);
    // A creative re-synced with new content after the operator looked at it is not approved unseen.
    const seen = q.body.creatives.find((c: { creative_id: string }) => c.creative_id === 'cr_review_a').updated_at as string;
    expect((await admin.get('/admin/queue')).text).toContain(`name="updated_at" value="${seen}"`);
    const resync = await call(reviewed, 'sync_creatives', {
      account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
      idempotency_key: `sync-review-again-${Date.now()}`,
      creatives: [{ ...creative('cr_review_a'), assets: { ...creative('cr_review_a').assets, click_url: { asset_type: 'url', url: 'https://elsewhere.example/' } } }],
    });
    expect(resync.isError, JSON.stringify(resync.data)).toBe(false);
    const stale = await admin.api('POST', '/buyers/prn_demo_buyer/creatives/cr_review_a/approve', { updated_at: seen });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'CHANGED_SINCE_REVIEW', field: 'updated_at' });
    const now = (await admin.api('GET', '/queue')).body.creatives.find((c: { creative_id: string }) => c.creative_id === 'cr_review_a').updated_at as string;
    expect(now).not.toBe(seen);
    expect((await admin.api('POST', '/buyers/prn_demo_buyer/creatives/cr_review_a/approve', { updated_at: now })).body).toEqual({ creative_id: 'cr_review_a', principal_id: 'prn_demo_buyer', status: 'approved' });
    expect((await admin.api('POST', '/buyers/prn_demo_buyer/creatives/cr_review_a/approve')).status).toBe(409);
    expect((await admin.post('/admin/buyers/prn_demo_buyer/creatives/cr_review_b/reject', { reason: 'Logo too small' })).status).toBe(303);
    const listed = await call(reviewed, 'list_creatives', { filters: { creative_ids: ['cr_review_a', 'cr_review_b'] } });
    await reviewed.close();
    const statuses = Object.fromEntries((listed.data.creatives as { creative_id: string; status: string }[]).map((c) => [c.creative_id, c.status]));
    expect(statuses).toEqual({ cr_review_a: 'approved', cr_review_b: 'rejected' });
    expect((await otherAdmin.api('POST', '/buyers/prn_demo_buyer/creatives/cr_review_b/approve')).status).toBe(404);
    await admin.api('PATCH', '/settings', { creative_review: 'auto' });
  });

  it('an approved creative assigned to a booked buy is sent to its ad server', async () => {
    await admin.api('PATCH', '/settings', { creative_review: 'manual' });
    const { taskId, mediaBuyId } = await submit();
    expect((await admin.api('POST', `/tasks/${taskId}/approve`)).status).toBe(200);
    await waitFor(async () => (await admin.api('GET', `/media-buys/${mediaBuyId}`)).body.fulfilment === 'fulfilled');
    const [pkg] = await sql`select id from media_packages where media_buy_id = ${mediaBuyId}`;
    const reviewed = await memoryClient(t);
    const sync = await call(reviewed, 'sync_creatives', {
      account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
      idempotency_key: `sync-review-assigned-${Date.now()}`,
      creatives: [
        {
          creative_id: 'cr_review_assigned',
          name: 'Assigned while in review',
          format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'video_standard_30s' },
          assets: { video: { asset_type: 'video', url: 'https://cdn.acme.example/assigned.mp4', width: 1920, height: 1080, duration_ms: 30000 } },
        },
      ],
      assignments: { cr_review_assigned: [pkg!.id] },
    });
    await reviewed.close();
    expect(sync.isError, JSON.stringify(sync.data)).toBe(false);
    // Pending review: nothing reaches the ad server yet.
    const uploaded = () => sql`select external_creative_id from adapter_creatives where creative_id = 'cr_review_assigned'`;
    await new Promise((r) => setTimeout(r, 300));
    expect(await uploaded()).toHaveLength(0);
    expect((await admin.api('POST', '/buyers/prn_demo_buyer/creatives/cr_review_assigned/approve')).status).toBe(200);
    await waitFor(async () => (await uploaded()).length === 1);
    await admin.api('PATCH', '/settings', { creative_review: 'auto' });
  });
});

describe('products and pricing options', () => {
  const product = {
    product_id: 'console_sports_video',
    name: 'Sports highlights pre-roll',
    description: 'Pre-roll before sports highlight clips on Demo Sports.',
    channels: ['olv'],
    delivery_type: 'guaranteed',
    format_ids: ['video_standard_15s'],
    property_ids: ['demo_sports_web'],
    countries: ['US'],
    pricing_options: [{ pricing_option_id: 'sports_video_cpm', pricing_model: 'cpm', currency: 'USD', fixed_price: '31.50', min_spend_per_package: 1000 }],
  };

  it('creates, edits and archives a product, and buyers see each change', async () => {
    expect((await viewer.api('POST', '/products', product)).status).toBe(403);
    const bad = await admin.api('POST', '/products', { ...product, pricing_options: [{ ...product.pricing_options[0], floor_price: '10' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toContain('pricing_options');
    expect((await admin.api('POST', '/products', { ...product, format_ids: ['no_such_format'] })).body.error.field).toBe('format_ids');
    // A currency that is no currency, or one this publisher (USD only) does not accept: buyers would see the option and never buy it.
    for (const currency of ['XYZ', 'EUR']) {
      const refused = await admin.api('POST', '/products', { ...product, pricing_options: [{ ...product.pricing_options[0], currency }] });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pricing_options.0.currency' });
      expect(refused.body.error.message).toContain(currency);
    }

    const created = await admin.api('POST', '/products', product);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ product_id: 'console_sports_video', publisher_properties: [{ publisher_domain: 'demo-sports.example', selection_type: 'by_id', property_ids: ['demo_sports_web'] }] });
    expect((await admin.api('POST', '/products', product)).status).toBe(409);

    const find = async () => {
      const res = await call(buyer, 'get_products', { brief: 'sports highlights pre-roll video' });
      return (res.data.products as { product_id: string; pricing_options: { fixed_price?: number }[] }[]).find((p) => p.product_id === 'console_sports_video');
    };
    expect((await waitFor(find)).pricing_options[0]!.fixed_price).toBe(31.5);

    const edited = await admin.api('PUT', '/products/console_sports_video', {
      ...product,
      name: 'Sports highlights pre-roll (15s)',
      pricing_options: [product.pricing_options[0], { pricing_option_id: 'sports_video_auction', pricing_model: 'cpm', currency: 'USD', floor_price: '12' }],
    });
    expect(edited.status).toBe(200);
    expect(edited.body.pricing_options.map((p: { pricing_option_id: string }) => p.pricing_option_id)).toEqual(['sports_video_auction', 'sports_video_cpm']);
    await waitFor(async () => (await find())?.pricing_options.length === 2);

    // PUT replaces: a pricing option left out is no longer offered (and the audit says so)...
    const replaced = await admin.api('PUT', '/products/console_sports_video', {
      ...product,
      name: 'Sports highlights pre-roll (15s)',
      pricing_options: [{ pricing_option_id: 'sports_video_auction', pricing_model: 'cpm', currency: 'USD', floor_price: '12' }],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.pricing_options.map((p: { pricing_option_id: string }) => p.pricing_option_id)).toEqual(['sports_video_auction']);
    await waitFor(async () => (await find())?.pricing_options.length === 1);
    const [entry] = (await admin.api('GET', '/audit?operation=product.update&target=console_sports_video&limit=1')).body.entries;
    expect(entry.details).toMatchObject({ pricing_options: ['sports_video_auction'], removed_pricing_options: ['sports_video_cpm'] });
    // A buy keeps the price it was bought at: repricing the option, then withdrawing it, changes new buys only.
    const { taskId, mediaBuyId } = await submit();
    const ctv = (await admin.api('GET', '/products')).body.products.find((p: { product_id: string }) => p.product_id === 'ctv_primetime');
    // A product as GET /products answers is a valid PUT body.
    expect((await admin.api('PUT', '/products/ctv_primetime', ctv)).body).toEqual(ctv);
    expect(ctv.pricing_options).toEqual([expect.objectContaining({ pricing_option_id: 'ctv_prime_cpm_fixed' })]);
    expect(Number(ctv.pricing_options[0].fixed_price)).toBe(42);
    const repriced = await admin.api('PUT', '/products/ctv_primetime', { ...ctv, pricing_options: [{ ...ctv.pricing_options[0], fixed_price: '50' }] });
    expect(repriced.status, JSON.stringify(repriced.body)).toBe(200);
    const withdrawn = await admin.api('PUT', '/products/ctv_primetime', { ...ctv, pricing_options: [{ pricing_option_id: 'ctv_prime_cpm_new', pricing_model: 'cpm', currency: 'USD', fixed_price: '45' }] });
    expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
    expect((await sql`select id from pricing_options where product_id = 'ctv_primetime' order by id`).map((r) => r.id)).toEqual(['ctv_prime_cpm_new']);
    // Approved after both changes: booked, and reported, at 42.
    expect((await admin.api('POST', `/tasks/${taskId}/approve`)).status).toBe(200);
    const [order] = await waitFor(async () => {
      const rows = await sql`select request from mock_ad_server.orders where request->>'media_buy_id' = ${mediaBuyId}`;
      return rows.length ? rows : undefined;
    });
    expect((order!.request as { lines: { bid_price: string }[] }).lines.map((k) => Number(k.bid_price))).toEqual([42]);
    const delivery = await call(buyer, 'get_media_buy_delivery', { media_buy_ids: [mediaBuyId] });
    expect((delivery.data.media_buy_deliveries as { by_package: { rate: number }[] }[])[0]!.by_package.map((k) => k.rate)).toEqual([42]);
    // The product as it was, for the tests after this one.
    expect((await admin.api('PUT', '/products/ctv_primetime', ctv)).status).toBe(200);

    expect((await admin.api('POST', '/products/console_sports_video/archive')).body).toEqual({ product_id: 'console_sports_video', archived: true });
    await waitFor(async () => (await find()) === undefined);
    const page = await admin.get('/admin/products');
    expect(page.text).toContain('Sports highlights pre-roll (15s)');
    expect(page.text).toContain('archived');
    expect((await admin.post('/admin/products/console_sports_video/restore')).status).toBe(303);
    await waitFor(find);
  });

  it('saves through the HTML form, and shows the form again with the error on bad input', async () => {
    const form = await admin.get('/admin/products/new');
    expect(form.text).toContain('name="po_id"');
    const fields = {
      product_id: 'console_form_product',
      name: 'Form product',
      description: 'Made in the console form',
      channels: ['display'],
      delivery_type: 'non_guaranteed',
      format_ids: ['display_300x250'],
      property_ids: ['demo_news_web', 'demo_sports_web'],
      countries: 'us, ca',
      adapter_config_id: '',
      po_id: ['form_cpm', ''],
      po_model: ['cpm', 'cpm'],
      po_currency: ['USD', 'USD'],
      po_fixed: ['', ''],
      po_floor: ['3.5', ''],
      po_min_spend: ['', ''],
    };
    const bad = await admin.post('/admin/products', { ...fields, po_floor: ['three', ''] });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('value="Form product"');
    const ok = await admin.post('/admin/products', fields);
    expect(ok.status).toBe(303);
    const [p] = await sql`select countries, publisher_properties from products where id = 'console_form_product'`;
    expect(p!.countries).toEqual(['US', 'CA']);
    expect(p!.publisher_properties).toHaveLength(2);
    const [po] = await sql`select floor_price from pricing_options where product_id = 'console_form_product'`;
    expect(po!.floor_price).toBe('3.5000');

    // Editing: an existing option has a Remove box (a new row has none); ticked, the option goes, the others stay.
    const edit = await admin.get('/admin/products/console_form_product/edit');
    expect(edit.text).toContain('name="po_remove" value="form_cpm"');
    const added = await admin.post('/admin/products/console_form_product', { ...fields, po_id: ['form_cpm', 'form_flat'], po_model: ['cpm', 'flat_rate'], po_fixed: ['', '900'], po_floor: ['3.5', ''] });
    expect(added.status).toBe(303);
    const options = async () => (await sql`select id from pricing_options where product_id = 'console_form_product' order by id`).map((r) => r.id);
    expect(await options()).toEqual(['form_cpm', 'form_flat']);
    const removed = await admin.post('/admin/products/console_form_product', { ...fields, po_id: ['form_cpm', 'form_flat', ''], po_model: ['cpm', 'flat_rate', 'cpm'], po_currency: ['USD', 'USD', 'USD'], po_fixed: ['', '900', ''], po_floor: ['3.5', '', ''], po_min_spend: ['', '', ''], po_remove: 'form_cpm' });
    expect(removed.status).toBe(303);
    expect(await options()).toEqual(['form_flat']);
    // Removing every option is refused, and the form comes back with the box still ticked.
    const none = await admin.post('/admin/products/console_form_product', { ...fields, po_id: ['form_flat', ''], po_model: ['flat_rate', 'cpm'], po_fixed: ['900', ''], po_floor: ['', ''], po_remove: 'form_flat' });
    expect(none.status).toBe(400);
    expect(none.text).toContain('at least one pricing option');
    expect(none.text).toMatch(/name="po_remove" value="form_flat" checked/);
    expect(await options()).toEqual(['form_flat']);
  });
});

describe('buyers', () => {
  it('creates a buyer whose token works on /mcp and is shown once; rotation retires the old token', async () => {
    expect((await viewer.api('POST', '/buyers', { name: 'Viewer Co' })).status).toBe(403);
    const created = await admin.api('POST', '/buyers', { name: 'Console Agency', platform_mappings: { mock: { advertiser_id: 'adv-console' } } });
    expect(created.status).toBe(201);
    const { principal_id: id, token } = created.body as { principal_id: string; token: string };
    const [row] = await sql`select token_hash from principals where id = ${id}`;
    expect(row!.token_hash).not.toBe(token);
    expect(JSON.stringify((await admin.api('GET', '/buyers')).body)).not.toContain(token);
    // Another replica (its own token cache) on the same database; both have just seen the token.
    const replica = await startHttpServer(t.app.services, { host: '127.0.0.1', port: 0 });
    try {
      for (const url of [base, replica.url]) {
        const asBuyer = await rawCall(url, 'list_accounts', {}, { authorization: `Bearer ${token}` });
        expect(asBuyer.status).toBe(200);
        expect(asBuyer.body.result?.isError).toBeFalsy();
      }

      // A session with its notification stream open, on the old token.
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` };
      const init = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'held', version: '1' } } }),
      });
      const sessionId = init.headers.get('mcp-session-id')!;
      await init.text();
      await fetch(`${base}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
      const stream = await fetch(`${base}/mcp`, { method: 'GET', headers: { ...headers, accept: 'text/event-stream', 'mcp-session-id': sessionId } });
      expect(stream.status).toBe(200);
      const reader = stream.body!.getReader();
      const ended = (async () => {
        for (;;) if ((await reader.read()).done) return true;
      })();

      const rotated = await admin.api('POST', `/buyers/${id}/rotate-token`);
      expect(rotated.status).toBe(200);
      // The stream opened with the old token ends with the rotation (it would have gone on receiving the buyer's notifications).
      expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('still open'), 1500))])).toBe(true);
      expect(rotated.body.token).not.toBe(token);
      expect((await rawCall(base, 'list_accounts', {}, { authorization: `Bearer ${rotated.body.token}` })).status).toBe(200);
      // The old token stops on every replica as the rotation's announcement arrives, not after the cache's 5 s.
      for (const url of [base, replica.url]) await waitFor(async () => (await rawCall(url, 'list_accounts', {}, { authorization: `Bearer ${token}` })).status === 401, 1500, 25);
    } finally {
      await replica.close();
    }

    const page = await admin.post(`/admin/buyers/${id}/rotate-token`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/shown once/);
    expect(page.text).toMatch(/sat_[A-Za-z0-9_-]{20,}/);
  });

  it('suspends a buyer: every tool answers AGENT_SUSPENDED on every replica at once, until it is reinstated', async () => {
    const { principal_id: id, token } = (await admin.api('POST', '/buyers', { name: 'Suspended Agency' })).body as { principal_id: string; token: string };
    const auth = { authorization: `Bearer ${token}` };
    const replica = await startHttpServer(t.app.services, { host: '127.0.0.1', port: 0 });
    const refusal = async (url: string, tool = 'get_media_buys', args: Record<string, unknown> = {}) => {
      const res = await rawCall(url, tool, args, auth);
      expect(res.status).toBe(200);
      return res.body.result?.isError ? (res.body.result.structuredContent as { adcp_error?: { code: string; recovery?: string; details?: unknown } }).adcp_error : undefined;
    };
    try {
      // Both replicas have the buyer cached as active.
      for (const url of [base, replica.url]) expect(await refusal(url)).toBeUndefined();
      expect((await viewer.api('POST', `/buyers/${id}/suspend`)).status).toBe(403);
      expect((await admin.api('POST', `/buyers/${id}/suspend`)).body).toEqual({ principal_id: id, suspended: true });
      for (const url of [base, replica.url]) await waitFor(async () => (await refusal(url))?.code === 'AGENT_SUSPENDED', 1500, 25);
      // Any tool, discovery too; terminal, and (as AdCP asks) without details.
      const refused = await refusal(base, 'get_products', { brief: 'video' });
      expect(refused).toMatchObject({ code: 'AGENT_SUSPENDED', recovery: 'terminal' });
      expect(refused).not.toHaveProperty('details');
      expect(await refusal(base, 'create_media_buy', buyRequest())).toMatchObject({ code: 'AGENT_SUSPENDED' });
      expect((await sql`select count(*)::int as n from media_buys where principal_id = ${id}`)[0]!.n).toBe(0);
      const listed = (await admin.api('GET', '/buyers')).body.buyers.find((b: { principal_id: string }) => b.principal_id === id);
      expect(listed.suspended_at).toEqual(expect.any(String));
      const page = await admin.get('/admin/buyers');
      expect(page.text).toContain(`/admin/buyers/${id}/reinstate`);

      expect((await admin.post(`/admin/buyers/${id}/reinstate`)).status).toBe(303);
      for (const url of [base, replica.url]) await waitFor(async () => (await refusal(url)) === undefined, 1500, 25);
      expect((await admin.api('GET', '/buyers')).body.buyers.find((b: { principal_id: string }) => b.principal_id === id).suspended_at).toBeNull();
      // The viewer's attempt is on record as refused.
      const audited = await sql`select operation, success from audit_log where target = ${id} and operation like 'buyer.%' order by id`;
      expect(audited.map((r) => `${r.operation} ${r.success}`)).toEqual(['buyer.create true', 'buyer.suspend false', 'buyer.suspend true', 'buyer.reinstate true']);
    } finally {
      await replica.close();
    }
    expect((await admin.api('POST', '/buyers/prn_nobody/suspend')).status).toBe(404);
  });

  it('refuses a suspended buyer its resources, subscriptions and MCP tasks too, not only its tools', async () => {
    const { principal_id: id, token } = (await admin.api('POST', '/buyers', { name: 'Suspended Reader' })).body as { principal_id: string; token: string };
    const before = await memoryClient(t, token);
    const { isError, data } = await call(before, 'create_media_buy', buyRequest());
    expect(isError).toBe(false);
    await before.close();
    const [step] = await sql`select media_buy_id from workflow_steps where id = ${data.task_id as string}`;
    const uris = ['media-buys://', `media-buy://${step!.media_buy_id as string}`, `task://${data.task_id as string}`];
    expect((await admin.api('POST', `/buyers/${id}/suspend`)).status).toBe(200);
    const agent = await memoryClient(t, token);
    try {
      for (const uri of uris) {
        await expect(agent.readResource({ uri })).rejects.toThrow(/AGENT_SUSPENDED/);
        await expect(agent.subscribeResource({ uri })).rejects.toThrow(/AGENT_SUSPENDED/);
      }
      await expect(agent.request({ method: 'tasks/list', params: {} }, ListTasksResultSchema)).rejects.toThrow(/AGENT_SUSPENDED/);
    } finally {
      await agent.close();
    }
    // Reinstated, it reads them again.
    expect((await admin.api('POST', `/buyers/${id}/reinstate`)).status).toBe(200);
    const after = await memoryClient(t, token);
    try {
      for (const uri of uris) expect((await after.readResource({ uri })).contents).toHaveLength(1);
    } finally {
      await after.close();
    }
  });

  it('escapes what buyers and operators typed', async () => {
    await admin.api('POST', '/buyers', { name: '<script>alert("x")</script> & Co' });
    const page = await admin.get('/admin/buyers');
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
  });
});

describe('adapters and settings', () => {
  it('edits approval mode and settings; secrets are write-only', async () => {
    // A mistyped setting is refused, naming it, and changes nothing (it was answered 200 and audited as an update).
    const before = (await admin.api('GET', '/settings')).body;
    const typo = await admin.api('PATCH', '/settings', { manual_approval: true, creative_review: 'manual' });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'manual_approval', message: expect.stringContaining('Unknown field "manual_approval"') });
    expect((await admin.api('GET', '/settings')).body).toEqual(before);
    const res = await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { latency_ms: 5 }, secrets: { api_key: 'sk-live-very-secret-value' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ manual_approval_required: true, settings: { latency_ms: 5 }, secrets_set: ['api_key'] });
    expect(res.text).not.toContain('sk-live-very-secret-value');
    expect((await admin.api('GET', '/adapters')).text).not.toContain('sk-live-very-secret-value');
    const page = await admin.get('/admin/settings');
    expect(page.text).toContain('api_key');
    expect(page.text).not.toContain('sk-live-very-secret-value');
    // Sealed at rest, bound to its adapter and key.
    const [stored] = await sql`select settings->>'api_key' as k from adapter_configs where id = 'adp_demo_mock'`;
    expect(stored!.k).toMatch(/^enc:v1:/);
    expect(stored!.k).not.toContain('sk-live');
    const box = createSecretBox(parseSecretKeys(TEST_SECRET_KEY));
    expect(box.open(stored!.k, secretContext.adapterSetting('adp_demo_mock', 'api_key'))).toBe('sk-live-very-secret-value');
    expect(() => box.open(stored!.k, secretContext.adapterSetting('adp_other', 'api_key'))).toThrow(/does not open/);
    // A credential sent among the visible settings is not kept there, nor written into the audit log in clear.
    expect((await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { latency_ms: 5, api_key: 'sk-live-in-the-wrong-place' } })).status).toBe(200);
    const audits = await sql`select details::text as d from audit_log where operation = 'adapter.update'`;
    expect(audits.map((a) => a.d).join()).not.toContain('sk-live-very-secret-value');
    expect(audits.map((a) => a.d).join()).not.toContain('sk-live-in-the-wrong-place');
    expect(JSON.stringify((await admin.api('GET', '/audit?operation=adapter.update')).body)).not.toContain('sk-live-in-the-wrong-place');
    expect((await sql`select settings->>'api_key' as k from adapter_configs where id = 'adp_demo_mock'`)[0]!.k).toBe(stored!.k);

    // Editing the visible settings keeps the secret; null removes it; secrets must look like secrets.
    await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { latency_ms: 0 } });
    expect((await sql`select settings->>'api_key' as k from adapter_configs where id = 'adp_demo_mock'`)[0]!.k).toBe(stored!.k);
    expect((await admin.api('PATCH', '/adapters/adp_demo_mock', { secrets: { latency_ms: '1' } })).status).toBe(400);
    expect((await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { latency_ms: -5 } })).status).toBe(400);
    expect((await admin.api('PATCH', '/adapters/adp_demo_mock', { secrets: { api_key: null } })).body.secrets_set).toEqual([]);
    expect((await viewer.api('PATCH', '/adapters/adp_demo_mock', { manual_approval_required: false })).status).toBe(403);
    expect((await viewer.post('/admin/adapters/adp_demo_mock', { settings: '{}' })).status).toBe(403);
  });

  it('hands the adapter its credentials opened: the mock ad server accepts the key it was given, and refuses another', async () => {
    const key = 'sk-live-mock-credential';
    expect((await admin.api('PATCH', '/adapters/adp_demo_mock', { secrets: { api_key: key, accepted_api_key: key } })).status).toBe(200);
    const [row] = await sql`select settings->>'api_key' as a, settings->>'accepted_api_key' as b from adapter_configs where id = 'adp_demo_mock'`;
    expect(row!.a).not.toBe(row!.b); // sealed apart (own IV, own field): equal only once opened
    const booked = await submit();
    expect((await admin.api('POST', `/tasks/${booked.taskId}/approve`)).status).toBe(200);
    await waitFor(async () => (await admin.api('GET', `/media-buys/${booked.mediaBuyId}`)).body.fulfilment === 'fulfilled', 20_000, 50);

    await admin.api('PATCH', '/adapters/adp_demo_mock', { secrets: { accepted_api_key: 'sk-live-rotated-at-the-ad-server' } });
    const refused = await submit();
    expect((await admin.api('POST', `/tasks/${refused.taskId}/approve`)).status).toBe(200);
    const d = await waitFor(async () => {
      const r = await admin.api('GET', `/media-buys/${refused.mediaBuyId}`);
      return r.body.status === 'rejected' && r.body;
    }, 20_000, 50);
    expect(JSON.stringify(d)).toContain('authentication failed');
    await admin.api('PATCH', '/adapters/adp_demo_mock', { secrets: { api_key: null, accepted_api_key: null } });
  });

  it('applies a change of the tenant-wide approval mode to the very next buy, however recently the buyer called', async () => {
    const buyOverHttp = async () => (await rawCall(base, 'create_media_buy', buyRequest(), { authorization: `Bearer ${t.token}` })).body.result!.structuredContent as { status: string };
    expect((await admin.api('PATCH', '/adapters/adp_demo_mock', { manual_approval_required: false })).status).toBe(200);
    try {
      // Booked without approval, and the buyer's token is fresh in the server's cache.
      await waitFor(async () => (await buyOverHttp()).status !== 'submitted', 8000, 100);
      expect((await admin.api('PATCH', '/settings', { manual_approval_required: true })).status).toBe(200);
      expect((await buyOverHttp()).status).toBe('submitted');
      expect((await admin.api('PATCH', '/settings', { manual_approval_required: false })).status).toBe(200);
      expect((await buyOverHttp()).status).not.toBe('submitted');
    } finally {
      await admin.api('PATCH', '/settings', { manual_approval_required: false });
      await admin.api('PATCH', '/adapters/adp_demo_mock', { manual_approval_required: true });
    }
  });

  it('refuses a credential nested inside a visible setting', async () => {
    const res = await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { latency_ms: 0, oauth: { client_id: 'c', refresh_token: 'r-secret' } } });
    expect(res.status).toBe(400);
    expect(res.text).toContain('settings.oauth.refresh_token');
    expect(res.text).not.toContain('r-secret');
    const [row] = await sql`select settings::text as s from adapter_configs where id = 'adp_demo_mock'`;
    expect(row!.s).not.toContain('r-secret');
  });

  it('sends orders awaiting approval to the tenant’s Slack; the URL is write-only and never logged', async () => {
    expect((await admin.api('PATCH', '/settings', { slack_webhook_url: 'http://example.com/hook' })).status).toBe(400);
    const slackUrl = `${hooksUrl}/slack/T000/B000/very-secret-slack-path`;
    const set = await admin.api('PATCH', '/settings', { slack_webhook_url: slackUrl });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ slack_webhook_configured: true });
    expect(set.text).not.toContain('very-secret-slack-path');
    expect((await admin.get('/admin/settings')).text).not.toContain('very-secret-slack-path');
    expect((await sql`select details::text as d from audit_log where operation = 'settings.update'`).map((a) => a.d).join()).not.toContain('very-secret-slack-path');
    const [row] = await sql`select slack_webhook_url as u from tenant_notifications where tenant_id = 'demo'`;
    expect(row!.u).toMatch(/^enc:v1:/); // sealed at rest; the job below opens it to post
    expect(row!.u).not.toContain('very-secret-slack-path');

    const { mediaBuyId } = await submit();
    const msg = await waitFor(async () => received.find((r) => r.path.startsWith('/slack/') && String(r.body.text).includes(mediaBuyId)));
    expect(msg.body.text).toContain('awaiting approval');
    expect(msg.body.text).toContain('Demo Buyer Agency');
    expect(msg.body.text).toContain(`${base}/admin/queue`);
  });

  it('tells Slack when booking fails at the ad server', async () => {
    const { taskId, mediaBuyId } = await submit();
    await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: { reject_reason: 'Inventory sold out' } });
    expect((await admin.api('POST', `/tasks/${taskId}/approve`)).status).toBe(200);
    const msg = await waitFor(async () => received.find((r) => r.path.startsWith('/slack/') && String(r.body.text).includes(mediaBuyId) && String(r.body.text).includes('failed')));
    expect(msg.body.text).toContain('Inventory sold out');
    const d = await admin.api('GET', `/media-buys/${mediaBuyId}`);
    expect(d.body).toMatchObject({ status: 'rejected', fulfilment: 'rejected' });
    await admin.api('PATCH', '/adapters/adp_demo_mock', { settings: {} });
    expect((await admin.api('PATCH', '/settings', { slack_webhook_url: null })).body.slack_webhook_configured).toBe(false);
  });
});

describe('users, API keys and the audit log', () => {
  it('creates operators (admins only) with a one-time password', async () => {
    expect((await viewer.api('POST', '/users', { email: 'x@demo.example', role: 'viewer' })).status).toBe(403);
    const u = await admin.api('POST', '/users', { email: 'Second@Demo.example', role: 'viewer' });
    expect(u.status).toBe(201);
    expect(u.body).toMatchObject({ email: 'second@demo.example', role: 'viewer', password: expect.stringMatching(/^\S{20}$/) });
    expect((await admin.api('POST', '/users', { email: 'second@demo.example' })).status).toBe(409);
    const [row] = await sql`select password_hash from operators where email = 'second@demo.example'`;
    expect(row!.password_hash).toMatch(/^scrypt\$/);
    expect(row!.password_hash).not.toContain(u.body.password);
  });

  it('disables an operator (admins only, not oneself): their sessions end and they cannot sign in again', async () => {
    const gone = await addOperator(t.app.database.db, { tenantId: 'demo', email: 'leaver@demo.example', role: 'admin' });
    const leaver = new Browser(base);
    await leaver.login('leaver@demo.example', gone.password);
    expect((await leaver.api('GET', '/me')).status).toBe(200);
    expect((await viewer.api('POST', `/users/${gone.id}/disable`)).status).toBe(403);
    const me = (await admin.api('GET', '/me')).body as { operator_id?: string; id?: string };
    const selfId = me.operator_id ?? me.id;
    if (selfId) expect((await admin.api('POST', `/users/${selfId}/disable`)).status).toBe(400);
    const res = await admin.api('POST', `/users/${gone.id}/disable`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ operator_id: gone.id, disabled: true });
    expect((await leaver.api('GET', '/me')).status).toBe(401);
    expect((await new Browser(base).login('leaver@demo.example', gone.password)).status).not.toBe(303);
    expect((await admin.api('POST', `/users/${gone.id}/disable`)).status).toBe(404);
    expect((await otherAdmin.api('POST', `/users/${gone.id}/disable`)).status).toBe(404);
    const listed = (await admin.api('GET', '/users')).body.users as { email: string; disabled: boolean }[];
    expect(listed.find((u) => u.email === 'leaver@demo.example')?.disabled).toBe(true);
  });

  it('lets a viewer API key read but not write', async () => {
    const k = (await admin.api('POST', '/api-keys', { name: 'dashboard', role: 'viewer' })).body.key as string;
    expect((await apiWithKey(base, k, 'GET', '/media-buys')).status).toBe(200);
    expect((await apiWithKey(base, k, 'PATCH', '/settings', { creative_review: 'manual' })).status).toBe(403);
    expect((await apiWithKey(base, k, 'POST', '/api-keys', { name: 'escalate' })).status).toBe(403);
  });

  it('rotates the webhook-signing key: the new one signs, the old one stays published for the grace period', async () => {
    const jwks = async () => ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const before = await jwks();
    const { kid: oldKid } = await ensureWebhookSigningKey(t.app.database.db, 'demo');
    expect(before).toContain(oldKid);

    expect((await viewer.api('POST', '/signing-keys/rotate')).status).toBe(403);
    const res = await admin.api('POST', '/signing-keys/rotate');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ retired_kid: oldKid, kid: expect.any(String) });
    const newKid = res.body.kid as string;
    expect(newKid).not.toBe(oldKid);

    expect((await ensureWebhookSigningKey(t.app.database.db, 'demo')).kid).toBe(newKid);
    const after = await jwks();
    expect(after).toEqual(expect.arrayContaining([oldKid, newKid]));
    const listed = (await viewer.api('GET', '/signing-keys')).body.signing_keys as { kid: string; retired_at: string | null; published: boolean }[];
    expect(listed.slice(0, 2)).toEqual([
      expect.objectContaining({ kid: newKid, retired_at: null, published: true }),
      expect.objectContaining({ kid: oldKid, retired_at: expect.any(String), published: true }),
    ]);
    expect(JSON.stringify(listed)).not.toMatch(/"d"|private/);

    // Past the grace period the retired key leaves the JWKS.
    await sql`update signing_keys set retired_at = now() - interval '8 days' where kid = ${oldKid}`;
    expect(await jwks()).not.toContain(oldKid);
    const [audit] = await sql`select actor, target, details from audit_log where operation = 'signing_key.rotate' and success`;
    expect(audit).toMatchObject({ target: newKid, details: { retired_kid: oldKid, revoked: false } });

    // A leaked key is revoked: out of the JWKS at once.
    const revoked = await admin.api('POST', '/signing-keys/rotate', { revoke: true });
    expect(revoked.body).toMatchObject({ retired_kid: newKid, revoked: true });
    const published = await jwks();
    expect(published).not.toContain(newKid);
    expect(published).toContain(revoked.body.kid);
    expect((await admin.api('POST', '/signing-keys/rotate', { revoke: 'yes' })).status).toBe(400);
  });

  it('records who did what, when, to what: console actions and every buying tool call', async () => {
    const { taskId } = await submit();
    await t.app.services.audit!.flush();
    const entries = (await admin.api('GET', '/audit?limit=1000')).body.entries as { actor: string; operation: string; target: string | null; success: boolean; at: string }[];
    const ops = new Set(entries.map((e) => e.operation));
    for (const op of ['login', 'media_buy.approve', 'media_buy.reject', 'creative.approve', 'creative.reject', 'product.create', 'product.update', 'product.archive', 'product.restore', 'buyer.create', 'buyer.rotate_token', 'adapter.update', 'settings.update', 'user.create', 'api_key.create', 'mcp:create_media_buy', 'mcp:sync_creatives']) {
      expect(ops, op).toContain(op);
    }
    // Awaiting approval, the buyer's answer names the task: that is the target.
    expect(entries.find((e) => e.operation === 'mcp:create_media_buy' && e.target === taskId)).toMatchObject({ actor: 'buyer:prn_demo_buyer', success: true });
    expect(ops).not.toContain('mcp:get_products'); // reads are not buying calls
    const approvals = (await admin.api('GET', '/audit?operation=media_buy.approve')).body.entries as { operation: string }[];
    expect(approvals.length).toBeGreaterThan(0);
    expect(approvals.every((e) => e.operation === 'media_buy.approve')).toBe(true);
    expect((await admin.get('/admin/audit?operation=media_buy.reject')).text).toContain('media_buy.reject');
  });
});
