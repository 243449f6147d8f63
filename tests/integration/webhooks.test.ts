/** AdCP webhooks: queued with the status change, signed, retried on 5xx, not on 4xx, every attempt logged. */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { payloadProblems } from '../helpers/adcp-schema.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
let receiver: http.Server;
let base: string;
const received: { path: string; headers: http.IncomingHttpHeaders; body: string; answered: number }[] = [];
/** path -> status codes to answer, in order (then 200). */
const script = new Map<string, number[]>();

const SECRET = 'hmac-secret-for-tests-0123456789';
const sandbox = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example', sandbox: true };

beforeAll(async () => {
  t = await startTestApp({ worker: true });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const codes = script.get(req.url!) ?? [];
      const answered = codes.shift() ?? 200;
      received.push({ path: req.url!, headers: req.headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
  receiver?.close();
});

describe('webhooks', () => {
  it('delivers a signed completion webhook, retrying a 503 with the same idempotency key', async () => {
    const path = '/hooks/a/1b4e28ba-2fa1-11d2-883f-0016d3cca427';
    script.set(path, [503]);
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: base + path, authentication: { schemes: ['HMAC-SHA256'], credentials: SECRET } } }));
    const hits = await waitFor(async () => {
      const h = received.filter((r) => r.path === path);
      return h.length >= 2 && h;
    }, 15_000, 100);
    const [first, second] = hits as [(typeof received)[0], (typeof received)[0]];
    expect(first.answered).toBe(503);
    expect(second.answered).toBe(200);
    const payload = JSON.parse(second.body);
    expect(payloadProblems('core/mcp-webhook-payload.json', payload)).toEqual([]);
    expect(payload).toMatchObject({ task_type: 'create_media_buy', status: 'completed', operation_id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', result: { media_buy_id: data.media_buy_id } });
    expect(JSON.parse(first.body).idempotency_key).toBe(payload.idempotency_key);
    const ts = second.headers['x-adcp-timestamp'] as string;
    expect(second.headers['x-adcp-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${second.body}`).digest('hex')}`);
    const [delivery] = await sql`select status, attempts, sequence from webhook_deliveries where media_buy_id = ${data.media_buy_id as string}`;
    expect(delivery).toEqual({ status: 'delivered', attempts: 2, sequence: 1 });
    const attempts = await sql`select status_code from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.media_buy_id = ${data.media_buy_id as string} order by attempt`;
    expect(attempts.map((a) => a.status_code)).toEqual([503, 200]);
  });

  it('does not retry a 4xx, and uses Bearer when asked', async () => {
    const path = '/hooks/b';
    script.set(path, [410]);
    const { data } = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, push_notification_config: { url: base + path, authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789' } } }));
    await waitFor(async () => (await sql`select status from webhook_deliveries where media_buy_id = ${data.media_buy_id as string}`)[0]?.status === 'failed', 10_000, 100);
    const hits = received.filter((r) => r.path === path);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.headers.authorization).toBe('Bearer bearer-token-0123456789');
  });

  it('refuses a loopback webhook URL for a non-sandbox account', async () => {
    const res = await call(buyer, 'create_media_buy', buyRequest({ push_notification_config: { url: `${base}/hooks/c` } }));
    expect(res.isError).toBe(true);
    expect(res.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'push_notification_config.url' });
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
});
