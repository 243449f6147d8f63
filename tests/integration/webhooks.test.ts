/**
 * AdCP webhooks: queued with the status change; signed with the buyer's legacy
 * Bearer/HMAC block or, without one, RFC 9421 with the tenant's key as published
 * at /.well-known; retried with backoff on 5xx and network errors, not on 4xx;
 * every attempt logged; private addresses only for sandbox accounts or when the
 * tenant allows them.
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { BrandJsonJwksResolver, InMemoryReplayStore, InMemoryRevocationStore, verifyWebhookSignature } from '@adcp/sdk/signing/server';
import postgres from 'postgres';
import { sql as drizzleSql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebhookSigningKey } from '../../src/db/queries/signing-keys.js';
import { queueWebhook } from '../../src/db/queries/webhooks.js';
import { newId } from '../../src/domain/ids.js';
import { CREDENTIALS_NOT_KEPT, webhookPayload } from '../../src/domain/webhooks.js';
import { closeStrandedWebhooks } from '../../src/jobs/tasks/close-stranded-webhooks.js';
import { pruneHistory } from '../../src/jobs/tasks/prune-history.js';
import { deliverWebhook } from '../../src/jobs/tasks/deliver-webhook.js';
import { createLogger } from '../../src/logger.js';
import { rejectMediaBuy } from '../../src/services/approval.js';
import { createSecretBox, sealBuyerCredentials, secretBox, secretContext } from '../../src/services/secret-box.js';
import { buyRequest, call, futureFlight, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { have31Schemas, payloadProblems, payloadProblems31 } from '../helpers/adcp-schema.js';
import { tablesHolding } from '../helpers/db.js';
import { startWebhookReceiver, startWellKnown, type Received } from '../helpers/receiver.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
let receiver: http.Server;
let base: string;
const received: Received[] = [];
/** path -> status codes to answer, in order (then 200). */
const script = new Map<string, number[]>();

const SECRET = 'hmac-secret-for-tests-0123456789';
const sandbox = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example', sandbox: true };
/** /.well-known/* as the agent serves it (the real handler on its own listener), and the agent URL it advertises. */
let wellKnown: http.Server;
let agentBase: string;
const hitsAt = (path: string, n: number, timeoutMs = 15_000) =>
  waitFor(async () => {
    const h = received.filter((r) => r.path === path);
    return h.length >= n && h;
  }, timeoutMs, 50);
const deliveryOf = async (mediaBuyId: string) => (await sql`select id, status, attempts, sequence, idempotency_key from webhook_deliveries where media_buy_id = ${mediaBuyId}`)[0];
/** A delivery queued as the app does; with `byHand`, its job is removed in the same transaction so the test runs the task itself, unraced. */
async function queueDelivery(taskId: string, url: string, o: { allowPrivateNetwork: boolean; byHand: boolean }): Promise<string> {
  const id = newId('whd');
  await t.app.database.db.transaction(async (tx) => {
    await queueWebhook(tx, {
      id,
      tenantId: 'demo',
      principalId: 'prn_demo_buyer',
      taskId,
      mediaBuyId: null,
      url,
      authentication: null,
      payload: webhookPayload({ taskId, taskType: 'create_media_buy', status: 'completed', url }),
      allowPrivateNetwork: o.allowPrivateNetwork,
    });
    if (o.byHand) await tx.execute(drizzleSql`select graphile_worker.remove_job(${`webhook:${id}`})`);
  });
  return id;
}
const attemptsOf = (deliveryId: string) => sql`select attempt, status_code, error, at from webhook_attempts where delivery_id = ${deliveryId} order by attempt`;

beforeAll(async () => {
  t = await startTestApp({ worker: true, complianceTesting: true });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  ({ server: receiver, base } = await startWebhookReceiver(received, script));
  ({ server: wellKnown, base: agentBase } = await startWellKnown(t.app.services));
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
  receiver?.close();
  wellKnown?.close();
});

describe('webhooks', () => {
  it('delivers a signed completion webhook, retrying a 503 with the same idempotency key', async () => {
    const path = '/hooks/a/1b4e28ba-2fa1-11d2-883f-0016d3cca427';
    script.set(path, [503]);
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, context: { campaign: 'spring' }, push_notification_config: { url: base + path, authentication: { schemes: ['HMAC-SHA256'], credentials: SECRET } } }));
    const hits = await waitFor(async () => {
      const h = received.filter((r) => r.path === path);
      return h.length >= 2 && h;
    }, 15_000, 100);
    const [first, second] = hits as [(typeof received)[0], (typeof received)[0]];
    expect(first.answered).toBe(503);
    expect(second.answered).toBe(200);
    const payload = JSON.parse(second.body);
    expect(payloadProblems('core/mcp-webhook-payload.json', payload)).toEqual([]);
    if (have31Schemas) expect(payloadProblems31('core/mcp-webhook-payload.json', payload)).toEqual([]);
    expect(payload).toMatchObject({ task_type: 'create_media_buy', status: 'completed', operation_id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', result: { media_buy_id: data.media_buy_id } });
    // The completion artifact is the buy as booked, its packages and the request's context included.
    expect(payload.result).toMatchObject({ media_buy_status: 'pending_creatives', context: { campaign: 'spring' }, packages: (data.packages as { package_id: string }[]).map((p) => expect.objectContaining({ package_id: p.package_id })) });
    expect(JSON.parse(first.body).idempotency_key).toBe(payload.idempotency_key);
    const ts = second.headers['x-adcp-timestamp'] as string;
    expect(second.headers['x-adcp-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${second.body}`).digest('hex')}`);
    // The receiver sees the request before the worker commits its outcome.
    await waitFor(async () => (await deliveryOf(data.media_buy_id as string))?.status === 'delivered', 10_000, 50);
    const [delivery] = await sql`select status, attempts, sequence from webhook_deliveries where media_buy_id = ${data.media_buy_id as string}`;
    expect(delivery).toEqual({ status: 'delivered', attempts: 2, sequence: 1 });
    const attempts = await sql`select status_code from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.media_buy_id = ${data.media_buy_id as string} order by attempt`;
    expect(attempts.map((a) => a.status_code)).toEqual([503, 200]);
    // The buyer's secret was kept sealed on the task while it could still sign with it (secrets-at-rest.test.ts):
    // never in the request kept for the record, nor the buy; and now that the task and the delivery are done,
    // nowhere at all.
    const [kept] = await sql`
      select b.raw_request #>> '{push_notification_config,authentication,credentials}' as request,
             b.push_notification_config #>> '{authentication,credentials}' as buy,
             s.request #>> '{push_notification_config,authentication,credentials}' as step_request,
             s.push_notification_config -> 'authentication' as step,
             (select authentication from webhook_deliveries d where d.media_buy_id = b.id) as delivery
      from media_buys b join workflow_steps s on s.media_buy_id = b.id where b.id = ${data.media_buy_id as string}`;
    expect(kept).toEqual({ request: CREDENTIALS_NOT_KEPT, buy: CREDENTIALS_NOT_KEPT, step_request: CREDENTIALS_NOT_KEPT, step: null, delivery: null });
    expect(await tablesHolding(sql, SECRET)).toEqual([]);
  });

  it('gives a buyer who asked in AdCP 3.1 the task’s result in 3.1’s shape: completion and failure webhooks, and tasks/get', async () => {
    const auth = { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' };
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ adcp_version: '3.1', account: sandbox, push_notification_config: { url: `${base}/hooks/v31/ok`, authentication: auth } }));
    const [hit] = await hitsAt('/hooks/v31/ok', 1);
    const payload = JSON.parse(hit!.body);
    // The result is the task's response: 3.1 keeps the top-level status for the task's, the buy's goes in media_buy_status.
    expect(payload.result).toMatchObject({ media_buy_id: data.media_buy_id, status: 'completed', media_buy_status: 'pending_creatives', adcp_version: '3.1' });
    if (have31Schemas) expect(payloadProblems31('media-buy/create-media-buy-response.json', payload.result)).toEqual([]);
    // Polled in 3.1, the same; in 3.0, the 3.0 shape (status is the buy's).
    const polled = await call(buyer, 'tasks/get', { task_id: payload.task_id, include_result: true, adcp_version: '3.1' });
    expect(polled.data.result).toMatchObject({ status: 'completed', media_buy_status: 'pending_creatives', adcp_version: '3.1' });
    if (have31Schemas) expect(payloadProblems31('media-buy/create-media-buy-response.json', polled.data.result)).toEqual([]);
    // A 3.1 status poll without include_result is lightweight: no result. 3.0 always sent one.
    const light = await call(buyer, 'tasks/get', { task_id: payload.task_id, adcp_version: '3.1' });
    expect(light.data).toMatchObject({ task_id: payload.task_id, status: 'completed', media_buy_id: data.media_buy_id });
    expect(light.data).not.toHaveProperty('result');
    if (have31Schemas) expect(payloadProblems31('core/tasks-get-response.json', light.data)).toEqual([]);
    const polled30 = await call(buyer, 'tasks/get', { task_id: payload.task_id, include_result: true });
    expect(polled30.data.result).toMatchObject({ status: 'pending_creatives' });
    expect((await call(buyer, 'tasks/get', { task_id: payload.task_id })).data.result).toMatchObject({ status: 'pending_creatives' });
    expect(payloadProblems('media-buy/create-media-buy-response.json', polled30.data.result as Record<string, unknown>)).toEqual([]);

    // Rejected by the ad server: the failure webhook's result is a 3.1 error response.
    await sql`update adapter_configs set settings = settings || '{"reject_marker": "REJECT-V31"}' where id = 'adp_demo_mock'`;
    try {
      await call(buyer, 'create_media_buy', buyRequest({ adcp_version: '3.1', buyer_ref: 'REJECT-V31', account: sandbox, context: { order: 'v31-failure' }, push_notification_config: { url: `${base}/hooks/v31/failed`, authentication: auth } }));
      const [failed] = await hitsAt('/hooks/v31/failed', 1);
      const failure = JSON.parse(failed!.body);
      // An error result names no buy: the request's context tells the buyer which request failed.
      expect(failure).toMatchObject({ status: 'failed', result: { status: 'failed', adcp_version: '3.1', errors: [expect.objectContaining({ code: expect.any(String) })], context: { order: 'v31-failure' } } });
      if (have31Schemas) expect(payloadProblems31('media-buy/create-media-buy-response.json', failure.result)).toEqual([]);
    } finally {
      await sql`update adapter_configs set settings = settings - 'reject_marker' where id = 'adp_demo_mock'`;
    }
  });

  it('tells a buyer whose buy the seller rejected why, as an error result carrying the request’s context', async () => {
    await sql`update adapter_configs set manual_approval_required = true where id = 'adp_demo_mock'`;
    t.app.services.catalog.invalidate();
    try {
      const auth = { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' };
      for (const [release, path] of [['3.0', '/hooks/seller-rejected/30'], ['3.1', '/hooks/seller-rejected/31']] as const) {
        const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, ...(release === '3.1' && { adcp_version: '3.1' }), context: { order: path }, push_notification_config: { url: `${base}${path}`, authentication: auth } }));
        expect((await rejectMediaBuy(t.app.database.db, { tenantId: 'demo', taskId: data.task_id as string, actor: 'ops@demo', reason: 'no alcohol brands' })).ok).toBe(true);
        const payload = JSON.parse((await hitsAt(path, 1))[0]!.body);
        expect(payload).toMatchObject({ task_id: data.task_id, status: 'rejected', message: 'Rejected by the seller: no alcohol brands' });
        expect(payload.result).toMatchObject({ errors: [{ code: 'POLICY_VIOLATION', message: 'Rejected by the seller: no alcohol brands', recovery: 'correctable' }], context: { order: path } });
        if (release === '3.1') {
          expect(payload.result).toMatchObject({ status: 'failed', adcp_version: '3.1' });
          if (have31Schemas) expect(payloadProblems31('media-buy/create-media-buy-response.json', payload.result)).toEqual([]);
        } else {
          expect(payloadProblems('media-buy/create-media-buy-response.json', payload.result)).toEqual([]);
        }
      }
    } finally {
      await sql`update adapter_configs set manual_approval_required = false where id = 'adp_demo_mock'`;
      t.app.services.catalog.invalidate();
    }
  });

  it('gives an update task’s result the buy’s revision, which AdCP 3.1 requires: applied at the ad server or done at once', async () => {
    const push = (path: string) => ({ url: `${base}${path}`, authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' } });
    const key = () => `upd-${randomBytes(8).toString('hex')}`;
    await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: push('/hooks/rev/created') }));
    const created = JSON.parse((await hitsAt('/hooks/rev/created', 1))[0]!.body).result as { media_buy_id: string };
    // Booked: the change goes to the ad server, and its task completes when it is applied there.
    const paused = await call(buyer, 'update_media_buy', { media_buy_id: created.media_buy_id, paused: true, idempotency_key: key(), adcp_version: '3.1', push_notification_config: push('/hooks/rev/applied') });
    expect(paused.data).toMatchObject({ revision: 2 });
    const applied = JSON.parse((await hitsAt('/hooks/rev/applied', 1))[0]!.body);
    expect(applied.result).toMatchObject({ media_buy_id: created.media_buy_id, revision: 2, status: 'completed', media_buy_status: 'pending_creatives' });
    if (have31Schemas) expect(payloadProblems31('media-buy/update-media-buy-response.json', applied.result)).toEqual([]);
    const polled = await call(buyer, 'tasks/get', { task_id: applied.task_id, include_result: true, adcp_version: '3.1' });
    expect(polled.data.result).toMatchObject({ revision: 2 });
    if (have31Schemas) expect(payloadProblems31('media-buy/update-media-buy-response.json', polled.data.result)).toEqual([]);
    const polled30 = await call(buyer, 'tasks/get', { task_id: applied.task_id, include_result: true });
    expect(polled30.data.result).toMatchObject({ revision: 2, status: 'pending_creatives' });
    expect(payloadProblems('media-buy/update-media-buy-response.json', polled30.data.result as Record<string, unknown>)).toEqual([]);

    // Awaiting the seller's approval, nothing is at an ad server: the update's task completes at once.
    await sql`update adapter_configs set manual_approval_required = true where id = 'adp_demo_mock'`;
    t.app.services.catalog.invalidate();
    try {
      const submitted = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox }));
      const [waiting] = await sql`select media_buy_id from workflow_steps where id = ${submitted.data.task_id as string}`;
      const u = await call(buyer, 'update_media_buy', { media_buy_id: waiting!.media_buy_id, end_time: futureFlight(40).end_time, idempotency_key: key(), adcp_version: '3.1', push_notification_config: push('/hooks/rev/at-once') });
      expect(u.isError, JSON.stringify(u.data)).toBe(false);
      const atOnce = JSON.parse((await hitsAt('/hooks/rev/at-once', 1))[0]!.body);
      expect(atOnce.result).toMatchObject({ media_buy_id: waiting!.media_buy_id, revision: 2, status: 'completed' });
      if (have31Schemas) expect(payloadProblems31('media-buy/update-media-buy-response.json', atOnce.result)).toEqual([]);
    } finally {
      await sql`update adapter_configs set manual_approval_required = false where id = 'adp_demo_mock'`;
      t.app.services.catalog.invalidate();
    }
  });

  it('refuses credentials that read as sealed, which would be taken for sealed ones when opened', async () => {
    const res = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: `${base}/hooks/enc`, authentication: { schemes: ['Bearer'], credentials: 'enc:v1:deadbeef:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } } }));
    expect(res.isError).toBe(true);
    expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'push_notification_config.authentication.credentials' });
    // The validation token is kept sealed too, so the same holds for it.
    const token = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: `${base}/hooks/enc`, token: 'enc:v1:deadbeef:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } }));
    expect(token.isError).toBe(true);
    expect(token.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'push_notification_config.token' });
  });

  it('retries a delivery whose credentials need a key this worker lacks (another may have it), and fails it on the last attempt', async () => {
    const path = '/hooks/unknown-key';
    const id = await queueDelivery('task_unknown_key', base + path, { allowPrivateNetwork: true, byHand: true });
    const elsewhere = createSecretBox([randomBytes(32)]).seal('bearer-0123456789-0123456789', secretContext.buyerCredentials('demo', 'prn_demo_buyer'));
    await sql`update webhook_deliveries set authentication = ${sql.json({ schemes: ['Bearer'], credentials: elsewhere })} where id = ${id}`;
    const deps = { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never };
    await expect(deliverWebhook({ v: 1, tenant_id: 'demo', delivery_id: id }, { attempts: 1, maxAttempts: 8 }, deps)).rejects.toThrow(/key this process does not have/);
    expect((await sql`select status from webhook_deliveries where id = ${id}`)[0]!.status).toBe('pending');
    await deliverWebhook({ v: 1, tenant_id: 'demo', delivery_id: id }, { attempts: 8, maxAttempts: 8 }, deps);
    expect((await sql`select status, authentication from webhook_deliveries where id = ${id}`)[0]).toEqual({ status: 'failed', authentication: null });
    expect(received.filter((r) => r.path === path)).toHaveLength(0);
  });

  it('does not send with credentials sealed for another buyer, and says so only in the log', async () => {
    const path = '/hooks/moved';
    const id = await queueDelivery('task_moved', base + path, { allowPrivateNetwork: true, byHand: true });
    const foreign = secretBox().seal('stolen-credentials-0123456789', secretContext.buyerCredentials('demo', 'prn_someone_else'));
    await sql`update webhook_deliveries set authentication = ${sql.json({ schemes: ['Bearer'], credentials: foreign })} where id = ${id}`;
    const lines: string[] = [];
    const logger = createLogger('trace', {}, (l) => lines.push(l));
    await deliverWebhook({ v: 1, tenant_id: 'demo', delivery_id: id }, { attempts: 1, maxAttempts: 8 }, { db: t.app.database.db, logger, adapters: {} as never });
    expect(received.filter((r) => r.path === path)).toHaveLength(0);
    const [d] = await sql`select status, last_error, authentication from webhook_deliveries where id = ${id}`;
    expect(d).toEqual({ status: 'failed', last_error: "the buyer's webhook credentials could not be read", authentication: null });
    expect(lines.join('\n')).toMatch(/webhook credentials could not be opened.*does not open/);
  });

  it('signs with RFC 9421 when the buyer gives no authentication, verifiable with the JWKS the agent publishes', async () => {
    const path = '/hooks/rfc9421/2c5e28ba-2fa1-11d2-883f-0016d3cca427';
    script.set(path, [503]);
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: base + path, token: 'buyer-token-0123456789' } }));
    // The validation token is a secret: sealed wherever it is kept (the task, then the delivery), never plain.
    expect(await tablesHolding(sql, 'buyer-token-0123456789')).toEqual([]);
    const [first, second] = (await hitsAt(path, 2)) as [(typeof received)[0], (typeof received)[0]];
    for (const h of [first, second]) {
      expect(h.headers['x-adcp-signature']).toBeUndefined();
      expect(h.headers.authorization).toBeUndefined();
      expect(h.headers['signature-input']).toContain('tag="adcp/webhook-signing/v1"');
      expect(h.headers['signature-input']).toContain('"content-digest"');
    }
    const body = JSON.parse(second.body);
    expect(body).toMatchObject({ task_type: 'create_media_buy', status: 'completed', token: 'buyer-token-0123456789', result: { media_buy_id: data.media_buy_id } });
    expect(JSON.parse(first.body).token).toBe('buyer-token-0123456789');
    // Once the task and its delivery are done, it is not kept at all (the stored payload never had it).
    await waitFor(async () => (await deliveryOf(data.media_buy_id as string))?.status === 'delivered', 10_000, 50);
    const [kept] = await sql`select d.payload ? 'token' as in_payload, d.authentication, s.push_notification_config as step
                             from webhook_deliveries d join workflow_steps s on s.id = d.task_id where d.media_buy_id = ${data.media_buy_id as string}`;
    expect(kept).toEqual({ in_payload: false, authentication: null, step: { url: base + path } });
    expect(await tablesHolding(sql, 'buyer-token')).toEqual([]);
    expect(JSON.parse(first.body).idempotency_key).toBe(body.idempotency_key);
    // Each attempt is signed afresh: a receiver's replay store must not reject the retry.
    const nonce = (h: (typeof received)[0]) => /nonce="([^"]+)"/.exec(String(h.headers['signature-input']))?.[1];
    expect(nonce(first)).not.toBe(nonce(second));

    // A buyer finds the key as AdCP says: brand.json agents[] -> jwks_uri -> kid.
    const jwks = new BrandJsonJwksResolver(`${agentBase}/.well-known/brand.json`, { agentType: 'sales', allowPrivateIp: true });
    const stores = { replayStore: new InMemoryReplayStore(), revocationStore: new InMemoryRevocationStore() };
    for (const h of [first, second]) {
      await expect(verifyWebhookSignature({ method: 'POST', url: base + path, headers: h.headers, body: h.body }, { jwks, ...stores })).resolves.toMatchObject({ status: 'verified' });
    }
    const tampered = second.body.replace('"completed"', '"failed"');
    await expect(verifyWebhookSignature({ method: 'POST', url: base + path, headers: second.headers, body: tampered }, { jwks, replayStore: new InMemoryReplayStore(), revocationStore: new InMemoryRevocationStore() })).rejects.toThrow();

    const published = (await (await fetch(`${agentBase}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    const key = await ensureWebhookSigningKey(t.app.database.db, 'demo');
    expect(key.privateJwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(published.keys.find((k) => k.kid === key.kid)).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', adcp_use: 'webhook-signing', key_ops: ['verify'] });
    expect(JSON.stringify(published)).not.toContain(key.privateJwk.d);
    // At rest the private half is sealed: the row does not hold it.
    const [row] = await sql`select private_jwk::text as j from signing_keys where kid = ${key.kid}`;
    expect(JSON.parse(row!.j)).toEqual({ sealed: expect.stringMatching(/^enc:v1:/) });
    expect(row!.j).not.toContain(key.privateJwk.d);
    expect(published.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('makes one signing key per tenant, however many deliveries race for it', async () => {
    await sql`insert into tenants (id, name) values ('tenant_keys', 'Key race')`;
    const keys = await Promise.all(Array.from({ length: 8 }, () => ensureWebhookSigningKey(t.app.database.db, 'tenant_keys')));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    expect((await sql`select count(*)::int as n from signing_keys where tenant_id = 'tenant_keys'`)[0]!.n).toBe(1);
    const demo = await ensureWebhookSigningKey(t.app.database.db, 'demo');
    expect(demo.kid).not.toBe(keys[0]!.kid);
  });

  it('advertises RFC 9421 webhook signing and reporting webhooks in capabilities; brand.json only over https', async () => {
    const { data } = await call(buyer, 'get_adcp_capabilities', {});
    expect(data.webhook_signing).toEqual({ supported: true, profile: 'adcp/webhook-signing/v1', algorithms: ['ed25519'], legacy_hmac_fallback: true });
    expect(data.media_buy).toMatchObject({ reporting_delivery_methods: ['webhook'] });
    expect(data.identity).toBeUndefined();
    t.app.services.agentUrl = 'https://agent.publisher.example';
    try {
      const { data: https } = await call(buyer, 'get_adcp_capabilities', {});
      expect(https.identity).toEqual({ brand_json_url: 'https://agent.publisher.example/.well-known/brand.json' });
    } finally {
      t.app.services.agentUrl = agentBase;
    }
    const brand = (await (await fetch(`${agentBase}/.well-known/brand.json`)).json()) as { agents: Record<string, unknown>[] };
    expect(brand.agents).toEqual([expect.objectContaining({ type: 'sales', url: `${agentBase}/mcp`, jwks_uri: `${agentBase}/.well-known/jwks.json` })]);
  });

  it('retries a network error with backoff, logging each attempt, then delivers with the same payload', async () => {
    // A port nobody listens on yet: the first attempt is refused; the receiver opens before the retry.
    const late = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ path: `late:${req.url}`, headers: req.headers, body, answered: 200 });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
    const port = (late.address() as AddressInfo).port;
    await new Promise<void>((r) => late.close(() => r()));
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: `http://127.0.0.1:${port}/hook` } }));
    const id = data.media_buy_id as string;
    const pending = await waitFor(async () => {
      const d = await deliveryOf(id);
      return d && d.attempts === 1 && d;
    }, 15_000, 50);
    expect(pending.status).toBe('pending');
    late.listen(port, '127.0.0.1');
    try {
      await waitFor(async () => (await deliveryOf(id))?.status === 'delivered', 20_000, 100);
    } finally {
      late.close();
    }
    const attempts = await attemptsOf(pending.id);
    expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([
      [1, null],
      [2, 200],
    ]);
    expect(attempts[0]!.error).toMatch(/fetch failed|ECONNREFUSED/);
    // Graphile Worker's backoff: the second attempt waits about e^1 s.
    expect(new Date(attempts[1]!.at).getTime() - new Date(attempts[0]!.at).getTime()).toBeGreaterThan(1_500);
    const hits = received.filter((r) => r.path === 'late:/hook');
    expect(hits).toHaveLength(1);
    expect(JSON.parse(hits[0]!.body).idempotency_key).toBe(pending.idempotency_key);
  });

  it('gives up after the last attempt without throwing, and marks the delivery failed', async () => {
    const path = '/hooks/always-503';
    script.set(path, [503, 503]);
    const id = await queueDelivery('task_manual', base + path, { allowPrivateNetwork: true, byHand: true });
    // Run the task as the last of its attempts.
    const deps = { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never };
    await expect(deliverWebhook({ v: 1, tenant_id: 'demo', delivery_id: id }, { attempts: 8, maxAttempts: 8 }, deps)).resolves.toBeUndefined();
    expect((await sql`select status, last_status_code from webhook_deliveries where id = ${id}`)[0]).toEqual({ status: 'failed', last_status_code: 503 });
    expect((await attemptsOf(id)).map((a) => a.attempt)).toEqual([8]);
  });

  it('checks the address again at delivery time: a private address is refused unless allowed', async () => {
    const path = '/hooks/not-allowed';
    // Queued as if the request-time check had passed (e.g. a hostname that later resolves to a private address); the worker runs it.
    const id = await queueDelivery('task_private', base + path, { allowPrivateNetwork: false, byHand: false });
    await waitFor(async () => (await sql`select status from webhook_deliveries where id = ${id}`)[0]?.status === 'failed', 10_000, 50);
    expect((await attemptsOf(id)).map((a) => a.error)).toEqual(['the webhook URL resolves to a private or loopback address']);
    expect(received.some((r) => r.path === path)).toBe(false);
  });

  it('lets a non-sandbox account use a loopback webhook when the tenant allows private webhooks', async () => {
    await sql`update tenants set settings = settings || '{"allow_private_webhooks": true}'::jsonb where id = 'demo'`;
    const allowed = await memoryClient(t);
    try {
      const path = '/hooks/tenant-allows';
      const { isError, data } = await call(allowed, 'create_media_buy', buyRequest({ push_notification_config: { url: base + path, authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-0123456789' } } }));
      expect(isError).toBe(false);
      await hitsAt(path, 1);
      // The receiver sees the request before the worker commits its outcome.
      await waitFor(async () => (await deliveryOf(data.media_buy_id as string))?.status === 'delivered', 10_000, 50);
    } finally {
      await sql`update tenants set settings = settings - 'allow_private_webhooks' where id = 'demo'`;
      await allowed.close();
    }
  });

  it('never logs the private signing key', async () => {
    const path = '/hooks/log-check';
    const id = await queueDelivery('task_logs', base + path, { allowPrivateNetwork: true, byHand: true });
    script.set(path, [500]);
    const lines: string[] = [];
    const logger = createLogger('trace', {}, (l) => lines.push(l));
    await expect(deliverWebhook({ v: 1, tenant_id: 'demo', delivery_id: id }, { attempts: 1, maxAttempts: 8 }, { db: t.app.database.db, logger, adapters: {} as never })).rejects.toThrow(/HTTP 500/);
    const key = await ensureWebhookSigningKey(t.app.database.db, 'demo');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(key.privateJwk.d);
  });

  it('does not retry a 4xx, and uses Bearer when asked', async () => {
    const path = '/hooks/b';
    script.set(path, [410]);
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: base + path, authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' } } }));
    await waitFor(async () => (await sql`select status from webhook_deliveries where media_buy_id = ${data.media_buy_id as string}`)[0]?.status === 'failed', 10_000, 100);
    const hits = received.filter((r) => r.path === path);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.headers.authorization).toBe('Bearer bearer-token-0123456789-abcdefghij');
  });

  it('refuses a loopback webhook URL for a non-sandbox account, in any spelling of the address', async () => {
    const res = await call(buyer, 'create_media_buy', buyRequest({ push_notification_config: { url: `${base}/hooks/c` } }));
    expect(res.isError).toBe(true);
    expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'push_notification_config.url' });
    const port = new URL(base).port;
    for (const host of ['[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:7f00:1]', '[::ffff:169.254.169.254]', '[64:ff9b::a00:1]', 'localhost.', '0.0.0.0']) {
      const spelled = await call(buyer, 'create_media_buy', buyRequest({ push_notification_config: { url: `http://${host}:${port}/hooks/c` } }));
      expect(spelled.data.adcp_error, host).toMatchObject({ code: 'VALIDATION_ERROR', field: 'push_notification_config.url' });
    }
  });

  it('lets a sandbox account reach private addresses only on a tenant under compliance testing or allowing it', async () => {
    await sql`update tenants set settings = settings - 'test_controller' where id = 'demo'`;
    const seller = await memoryClient(t);
    try {
      const res = await call(seller, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: `${base}/hooks/sandbox` } }));
      expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'push_notification_config.url' });
    } finally {
      await sql`update tenants set settings = settings || '{"test_controller": "enabled"}'::jsonb where id = 'demo'`;
      await seller.close();
    }
  });

  it('sends nothing again when a create is replayed', async () => {
    const path = '/hooks/d';
    const req = buyRequest({ account: sandbox, push_notification_config: { url: base + path } });
    await call(buyer, 'create_media_buy', req);
    await waitFor(async () => received.some((r) => r.path === path), 10_000, 50);
    await call(buyer, 'create_media_buy', req);
    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((r) => r.path === path)).toHaveLength(1);
  });

  it('closes deliveries left pending by a job that stopped, dropping their credentials; waiting and running jobs keep theirs', async () => {
    const url = `${base}/hooks/stranded`;
    const auth = sealBuyerCredentials(secretBox(), secretContext.buyerCredentials('demo', 'prn_demo_buyer'), {
      url,
      authentication: { schemes: ['Bearer'], credentials: 'stranded-bearer-0123456789' },
    }).authentication;
    /** A delivery queued as the app does, its job then put in the given state in the same transaction (so the worker cannot take it first). */
    const deliveryWithJob = async (job: 'gave_up' | 'removed' | 'waiting' | 'running') => {
      const id = newId('whd');
      const key = `webhook:${id}`;
      await t.app.database.db.transaction(async (tx) => {
        await queueWebhook(tx, {
          id, tenantId: 'demo', principalId: 'prn_demo_buyer', taskId: 'task_stranded', mediaBuyId: null, url,
          authentication: auth, payload: webhookPayload({ taskId: 'task_stranded', taskType: 'create_media_buy', status: 'completed', url }), allowPrivateNetwork: true,
        });
        if (job === 'gave_up') await tx.execute(drizzleSql`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'database went away' where key = ${key}`);
        if (job === 'removed') await tx.execute(drizzleSql`select graphile_worker.remove_job(${key})`);
        if (job === 'waiting') await tx.execute(drizzleSql`update graphile_worker._private_jobs set attempts = 3, run_at = now() + interval '1 hour' where key = ${key}`);
        if (job === 'running') await tx.execute(drizzleSql`update graphile_worker._private_jobs set attempts = max_attempts, locked_at = now(), locked_by = 'another-worker' where key = ${key}`);
      });
      return id;
    };
    const gaveUp = await deliveryWithJob('gave_up');
    const removed = await deliveryWithJob('removed');
    const waiting = await deliveryWithJob('waiting');
    const running = await deliveryWithJob('running');
    const deps = { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never };
    const { closed } = await closeStrandedWebhooks({}, { attempts: 1, maxAttempts: 3 }, deps);
    expect(closed).toBeGreaterThanOrEqual(2);
    const rows = await sql`select id, status, authentication, last_error from webhook_deliveries where id in ${sql([gaveUp, removed, waiting, running])}`;
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    for (const id of [gaveUp, removed]) {
      expect(byId.get(id)).toMatchObject({ status: 'failed', authentication: null, last_error: 'the delivery job stopped without sending it' });
    }
    for (const id of [waiting, running]) {
      expect(byId.get(id)).toMatchObject({ status: 'pending' });
      expect(byId.get(id)!.authentication).toEqual(auth);
    }
    // Nothing was sent for the closed ones, and a second run finds nothing more of them.
    expect(received.filter((r) => r.path === '/hooks/stranded')).toHaveLength(0);
    const again = await closeStrandedWebhooks({}, { attempts: 1, maxAttempts: 3 }, deps);
    expect(again.closed).toBe(0);
    await sql`select graphile_worker.remove_job(${`webhook:${waiting}`}), graphile_worker.remove_job(${`webhook:${running}`})`;
  });

  it('prune_history deletes ended deliveries past the retention with their attempts, keeps pending and recent ones, and audit entries unless asked', async () => {
    const url = `${base}/hooks/pruned`;
    const deps = { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never, retention: { webhookDeliveryDays: 30, auditLogDays: 0 } };
    const queue = () => queueDelivery('task_prune', url, { allowPrivateNetwork: true, byHand: true });
    const [delivered, failed, pending, recent, lone] = [await queue(), await queue(), await queue(), await queue(), await queueDelivery('task_prune_lone', url, { allowPrivateNetwork: true, byHand: true })];
    const set = (id: string, status: string, daysAgo: number) => sql`update webhook_deliveries set status = ${status}, created_at = now() - make_interval(days => ${daysAgo}) where id = ${id}`;
    await set(delivered, 'delivered', 40);
    await set(failed, 'failed', 31);
    await set(pending, 'pending', 45);
    await set(recent, 'delivered', 29);
    // A task's only delivery (a create's completion webhook is one) goes too.
    await set(lone, 'delivered', 90);
    await sql`insert into webhook_attempts (delivery_id, attempt, status_code, duration_ms) values (${delivered}, 1, 200, 5), (${failed}, 1, 500, 5), (${recent}, 1, 200, 5)`;
    const mine = [delivered, failed, pending, recent, lone];
    const [oldAudit] = (await sql`insert into audit_log (tenant_id, actor, operation, success, created_at) values ('demo', 'system', 'prune_test', true, now() - interval '400 days') returning id::text`).map((r) => r.id as string);

    const first = await pruneHistory({}, { attempts: 1, maxAttempts: 3 }, deps);
    expect(first.webhookDeliveries).toBeGreaterThanOrEqual(3);
    expect(first.auditLog).toBe(0);
    expect(new Set((await sql`select id from webhook_deliveries where id in ${sql(mine)}`).map((r) => r.id))).toEqual(new Set([pending, recent]));
    expect((await sql`select delivery_id from webhook_attempts where delivery_id in ${sql(mine)}`).map((r) => r.delivery_id)).toEqual([recent]);
    // Audit entries are kept for ever by default (0 days); with a retention, older ones go and the deliveries stay (0 days).
    expect(await sql`select id from audit_log where id = ${oldAudit!}`).toHaveLength(1);
    const [recentAudit] = (await sql`insert into audit_log (tenant_id, actor, operation, success) values ('demo', 'system', 'prune_test', true) returning id::text`).map((r) => r.id as string);
    await set(recent, 'delivered', 400);
    const second = await pruneHistory({}, { attempts: 1, maxAttempts: 3 }, { ...deps, retention: { webhookDeliveryDays: 0, auditLogDays: 365 } });
    expect(second.webhookDeliveries).toBe(0);
    expect(second.auditLog).toBeGreaterThanOrEqual(1);
    expect((await sql`select id::text from audit_log where id in ${sql([oldAudit!, recentAudit!])}`).map((r) => r.id)).toEqual([recentAudit]);
    expect(await sql`select id from webhook_deliveries where id = ${recent}`).toHaveLength(1);
  });
});
