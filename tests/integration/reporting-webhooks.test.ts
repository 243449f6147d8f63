/**
 * Delivery reporting webhooks (create_media_buy reporting_webhook): stored on the
 * buy, sent by the send_delivery_reports task (run here by hand with a chosen
 * clock instead of waiting for the hourly crontab) through deliver_webhook, on
 * the buyer's frequency, each window once, then a final report.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXPECTED_DELAY_MINUTES } from '../../src/domain/reporting.js';
import { sendDeliveryReports } from '../../src/jobs/tasks/send-delivery-reports.js';
import { createLogger } from '../../src/logger.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { have31Schemas, payloadProblems, payloadProblems31 } from '../helpers/adcp-schema.js';
import { tablesHolding } from '../helpers/db.js';
import { startWebhookReceiver, type Received } from '../helpers/receiver.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
let receiver: http.Server;
let base: string;
const received: Received[] = [];
const script = new Map<string, number[]>();

const SECRET = 'reporting-hmac-secret-0123456789-abcdef';
/** The buyer's validation token, echoed in each report. */
const REPORT_TOKEN = 'reporting-validation-token-0123456789';
const sandbox = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example', sandbox: true };
const DAY = 86_400_000;
const job = { attempts: 1, maxAttempts: 3 };
const run = (now: Date) => sendDeliveryReports({}, job, { db: t.app.database.db, logger: createLogger('silent'), adapters: {} as never }, now);
const at = (d: Date, minutes: number) => new Date(d.getTime() + minutes * 60_000);
const dayOf = (d: Date) => d.toISOString().slice(0, 10);
/** The delay before data is in that the test products declare (the default reporting_capabilities): a window's report waits for it. */
const DELAY = DEFAULT_EXPECTED_DELAY_MINUTES;

async function reportingBuy(path: string, rw: Record<string, unknown> = {}, req: Record<string, unknown> = {}): Promise<{ id: string; dueAt: Date; packages: string[] }> {
  const { isError, data } = await call(
    buyer,
    'create_media_buy',
    buyRequest({
      ...req,
      account: sandbox,
      packages: [
        { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
        { product_id: 'video_preroll_news', pricing_option_id: 'preroll_cpm_fixed', budget: 10000 },
      ],
      reporting_webhook: { url: base + path, token: REPORT_TOKEN, authentication: { schemes: ['HMAC-SHA256'], credentials: SECRET }, reporting_frequency: 'daily', ...rw },
    }),
  );
  expect(isError, JSON.stringify(data)).toBe(false);
  const id = data.media_buy_id as string;
  // Let the worker book it first: its booking locks the buy's row a moment, and the report run skips locked buys.
  await waitFor(async () => (await sql`select 1 from adapter_orders where media_buy_id = ${id} and state = 'booked'`).length > 0, 15_000, 25);
  const [row] = await sql`select reporting_next_at from media_buys where id = ${id}`;
  const packages = (await sql`select id from media_packages where media_buy_id = ${id} order by position`).map((p) => p.id as string);
  return { id, dueAt: new Date(row!.reporting_next_at), packages };
}

async function deliver(packageIds: string[], mediaBuyId: string, day: string, impressions: number, clicks: number, spend: string) {
  for (const pkg of packageIds) {
    await sql`insert into delivery_reports (tenant_id, media_buy_id, package_id, day, impressions, clicks, spend, source)
              values ('demo', ${mediaBuyId}, ${pkg}, ${day}, ${impressions}, ${clicks}, ${spend}, 'adapter')`;
  }
}

const hitsAt = (path: string, n: number) =>
  waitFor(async () => {
    const h = received.filter((r) => r.path === path && r.answered === 200);
    return h.length >= n && h;
  }, 20_000, 50);

beforeAll(async () => {
  t = await startTestApp({ worker: true, complianceTesting: true });
  buyer = await memoryClient(t);
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
  ({ server: receiver, base } = await startWebhookReceiver(received, script));
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
  receiver?.close();
});

describe('reporting webhooks', () => {
  it('sends each closed daily window once, with increasing sequence numbers, then a final report', async () => {
    const path = '/reports/daily';
    const { id, dueAt, packages } = await reportingBuy(path, { requested_metrics: ['clicks'] });
    const [buy] = await sql`select start_time from media_buys where id = ${id}`;
    // The first report is due at the first UTC midnight after the flight starts.
    const start = new Date(buy!.start_time);
    expect(dueAt.toISOString()).toBe(new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1)).toISOString());

    const day1 = dayOf(new Date(dueAt.getTime() - DAY));
    const day2 = dayOf(dueAt);
    await sql`update media_buys set status = 'active' where id = ${id}`;
    await deliver(packages, id, day1, 1000, 10, '25.0000');
    await deliver(packages, id, day2, 500, 4, '12.5000');
    script.set(path, [503]);

    // Not before the delay the products declare for their data to be in (expected_delay_minutes): the report would claim a day it cannot hold whole.
    expect(await run(at(dueAt, 15))).toMatchObject({ scheduled: 0 });
    expect(await run(at(dueAt, DELAY - 1))).toMatchObject({ scheduled: 0 });
    expect(await run(at(dueAt, DELAY + 15))).toMatchObject({ scheduled: 1 });
    // A repeated run (the crontab is at-least-once) finds nothing due.
    expect(await run(at(dueAt, DELAY + 16))).toMatchObject({ scheduled: 0, final: 0 });
    const first = (await hitsAt(path, 1))[0]!;
    // Retried after the 503 with the same event.
    const attempts = received.filter((r) => r.path === path);
    expect(attempts.map((r) => r.answered)).toEqual([503, 200]);
    expect(JSON.parse(attempts[0]!.body).idempotency_key).toBe(JSON.parse(first.body).idempotency_key);
    // Signed as the buyer asked (legacy HMAC block).
    const ts = first.headers['x-adcp-timestamp'] as string;
    expect(first.headers['x-adcp-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${first.body}`).digest('hex')}`);

    const report = JSON.parse(first.body);
    // A reporting webhook's config has no operation_id: the operation is named by its task id.
    expect(report).toMatchObject({ task_id: `delivery_report_${id}`, operation_id: `delivery_report_${id}`, task_type: 'media_buy_delivery', status: 'completed', protocol: 'media-buy' });
    // The buyer's token is echoed, though it is kept only sealed (with the credentials), never plain.
    expect(report.token).toBe(REPORT_TOKEN);
    expect(await tablesHolding(sql, REPORT_TOKEN)).toEqual([]);
    // Valid AdCP 3.0 envelope, except task_type: media_buy_delivery is AdCP 3.1's name for it (3.0 had none).
    expect(payloadProblems('core/mcp-webhook-payload.json', report).filter((p) => !p.startsWith('/task_type'))).toEqual([]);
    expect(payloadProblems('media-buy/get-media-buy-delivery-response.json', report.result)).toEqual([]);
    // AdCP 3.1 names this task type (media_buy_delivery) and defines the result it carries.
    if (have31Schemas) {
      expect(payloadProblems31('core/mcp-webhook-payload.json', report)).toEqual([]);
      expect(payloadProblems31('media-buy/media-buy-delivery-webhook-result.json', report.result)).toEqual([]);
    }
    expect(report.result).toMatchObject({
      notification_type: 'scheduled',
      sequence_number: 1,
      reporting_period: { start: `${day1}T00:00:00.000Z`, end: dueAt.toISOString() },
      next_expected_at: at(new Date(dueAt.getTime() + DAY), DELAY + 15).toISOString(),
      currency: 'USD',
    });
    expect(report.result.aggregated_totals).toBeUndefined();
    const [delivery] = report.result.media_buy_deliveries;
    // Only the window's day, and only the metrics asked for (impressions and spend always).
    expect(delivery).toMatchObject({ media_buy_id: id, status: 'active', totals: { impressions: 2000, clicks: 20, spend: 50 } });
    expect(Object.keys(delivery.totals).sort()).toEqual(['clicks', 'impressions', 'spend']);
    expect(delivery.by_package.map((p: Record<string, unknown>) => [p.package_id, p.impressions, p.ctr])).toEqual(packages.map((p) => [p, 1000, undefined]));

    // The next day's window.
    expect(await run(at(dueAt, DAY / 60_000 + DELAY + 15))).toMatchObject({ scheduled: 1 });
    const second = JSON.parse((await hitsAt(path, 2))[1]!.body);
    expect(second.result).toMatchObject({ sequence_number: 2, reporting_period: { start: `${day2}T00:00:00.000Z` } });
    expect(second.result.media_buy_deliveries[0].totals).toMatchObject({ impressions: 1000, clicks: 8 });
    expect(second.idempotency_key).not.toBe(report.idempotency_key);

    // The buy ends ten minutes into an hour: its final report waits for the collection that covers that hour
    // (at :05 of the next) and the products' delay, then goes once, with lifetime totals, and nothing more.
    await sql`update media_buys set status = 'completed', end_time = ${at(dueAt, DAY / 60_000 + 10)}, updated_at = ${at(dueAt, DAY / 60_000 + 11)} where id = ${id}`;
    expect(await run(at(dueAt, DAY / 60_000 + 15))).toMatchObject({ final: 0 });
    expect(await run(at(dueAt, DAY / 60_000 + 60 + DELAY - 1))).toMatchObject({ final: 0 });
    expect(await run(at(dueAt, DAY / 60_000 + 60 + DELAY))).toMatchObject({ final: 1 });
    expect(await run(at(dueAt, DAY / 60_000 + 60 + DELAY + 1))).toMatchObject({ final: 0 });
    const final = JSON.parse((await hitsAt(path, 3))[2]!.body);
    expect(final.result).toMatchObject({ notification_type: 'final', sequence_number: 3 });
    expect(final.result.next_expected_at).toBeUndefined();
    expect(final.result.media_buy_deliveries[0]).toMatchObject({ status: 'completed', totals: { impressions: 3000, clicks: 28, spend: 75 } });
    // Pushed reports make no finality claim (the ad server may still restate the last days); a pull says when figures settle.
    expect(JSON.stringify(final.result)).not.toMatch(/is_final|finalized_at/);
    expect(payloadProblems('media-buy/get-media-buy-delivery-response.json', final.result)).toEqual([]);

    const rows = await waitFor(async () => {
      const r = await sql`select sequence, status, idempotency_key from webhook_deliveries where task_id = ${`delivery_report_${id}`} order by sequence`;
      return r.every((x) => x.status === 'delivered') && r;
    });
    expect(rows.map((r) => [r.sequence, r.status])).toEqual([
      [1, 'delivered'],
      [2, 'delivered'],
      [3, 'delivered'],
    ]);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(3);
    expect((await sql`select reporting_next_at, reporting_sequence from media_buys where id = ${id}`)[0]).toEqual({ reporting_next_at: null, reporting_sequence: 3 });
  });

  it('names the operation by its task id for an AdCP 3.1 buyer whose URL ends in a UUID (3.1 forbids reading the URL); a 3.0 buyer\'s UUID is read', async () => {
    const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
    for (const [release, path] of [['3.0', `/reports/op30/${uuid}`], ['3.1', `/reports/op31/${uuid}`]] as const) {
      const { id, dueAt } = await reportingBuy(path, {}, release === '3.1' ? { adcp_version: '3.1' } : {});
      await sql`update media_buys set status = 'active' where id = ${id}`;
      await run(at(dueAt, DELAY + 15));
      const report = JSON.parse((await hitsAt(path, 1))[0]!.body);
      expect(report.operation_id).toBe(release === '3.1' ? `delivery_report_${id}` : uuid);
    }
  });

  it('skips windows while the buy is not live, and catches up missed daily windows one by one', async () => {
    const path = '/reports/catch-up';
    const { id, dueAt } = await reportingBuy(path);
    // Awaiting creatives: the window passes without a report.
    expect((await sql`select status from media_buys where id = ${id}`)[0]!.status).toBe('pending_creatives');
    await run(at(dueAt, DELAY + 15));
    expect((await sql`select reporting_next_at, reporting_sequence from media_buys where id = ${id}`)[0]).toEqual({ reporting_next_at: new Date(dueAt.getTime() + DAY), reporting_sequence: 0 });
    expect((await sql`select count(*)::int as n from webhook_deliveries where media_buy_id = ${id}`)[0]!.n).toBe(0);

    // Live, and the workers were down for three days: one report per missed day, in order.
    await sql`update media_buys set status = 'active' where id = ${id}`;
    const resumed = new Date(dueAt.getTime() + 3 * DAY);
    await run(at(resumed, DELAY + 15));
    const hits = await hitsAt(path, 3);
    const periods = hits.map((h) => JSON.parse(h.body).result).sort((a, b) => a.sequence_number - b.sequence_number).map((r) => [r.sequence_number, r.reporting_period.end]);
    expect(periods).toEqual([1, 2, 3].map((n) => [n, new Date(dueAt.getTime() + n * DAY).toISOString()]));
    expect((await sql`select reporting_next_at from media_buys where id = ${id}`)[0]!.reporting_next_at).toEqual(new Date(resumed.getTime() + DAY));
  });

  it('waits for the longest delay the buy\'s products declare before their data is in', async () => {
    const path = '/reports/slow-product';
    const { id, dueAt } = await reportingBuy(path);
    await sql`update media_buys set status = 'active' where id = ${id}`;
    // One of its products now declares a day's delay (as CTV measurement may): the window's report waits a day.
    const [before] = await sql`select details from products where tenant_id = 'demo' and id = 'ctv_primetime'`;
    await sql`update products set details = details || ${sql.json({ reporting_capabilities: { available_reporting_frequencies: ['daily'], expected_delay_minutes: 1440, timezone: 'UTC', supports_webhooks: true, available_metrics: ['impressions', 'spend'] } })} where tenant_id = 'demo' and id = 'ctv_primetime'`;
    try {
      expect(await run(at(dueAt, DELAY + 15))).toMatchObject({ scheduled: 0 });
      expect(await run(at(dueAt, 1440 + 15))).toMatchObject({ scheduled: 1 });
      const report = JSON.parse((await hitsAt(path, 1))[0]!.body);
      expect(report.result).toMatchObject({ reporting_period: { end: dueAt.toISOString() }, next_expected_at: at(new Date(dueAt.getTime() + DAY), 1440 + 15).toISOString() });
    } finally {
      await sql`update products set details = ${sql.json(before!.details)} where tenant_id = 'demo' and id = 'ctv_primetime'`;
    }
  });

  it('reports the day so far every hour for an hourly webhook', async () => {
    const path = '/reports/hourly';
    const { id, dueAt, packages } = await reportingBuy(path, { reporting_frequency: 'hourly' });
    await sql`update media_buys set status = 'active' where id = ${id}`;
    await deliver(packages, id, dayOf(dueAt), 300, 3, '9.0000');
    const hourLater = new Date(dueAt.getTime() + 3_600_000);
    await run(at(hourLater, DELAY + 15));
    // A day's closing report (to midnight) is never skipped: when the first window due ends at midnight (a test run
    // between 23:00 and 24:00 UTC), that day's whole figures go first, then the hour after.
    const closing = dueAt.getTime() % DAY === 0;
    const results = (await hitsAt(path, closing ? 2 : 1)).map((h) => JSON.parse(h.body).result).sort((a, b) => a.sequence_number - b.sequence_number);
    if (closing) expect(results[0].reporting_period).toEqual({ start: new Date(dueAt.getTime() - DAY).toISOString(), end: dueAt.toISOString() });
    const result = results.at(-1);
    // The day so far: the day the window ends in, or the whole day before when it ends at midnight (a run between 22:00 and 23:00 UTC).
    expect(result.reporting_period).toEqual({ start: `${dayOf(new Date(hourLater.getTime() - 1))}T00:00:00.000Z`, end: hourLater.toISOString() });
    expect(result.next_expected_at).toBe(at(new Date(hourLater.getTime() + 3_600_000), DELAY + 15).toISOString());
    expect(result.media_buy_deliveries[0].totals).toMatchObject({ impressions: 600 });
  });

  it('refuses a reporting webhook the products cannot serve, or a private address for a non-sandbox account, writing nothing', async () => {
    const before = (await sql`select count(*)::int as n from media_buys`)[0]!.n;
    const metrics = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, reporting_webhook: { url: `${base}/r`, authentication: { schemes: ['Bearer'], credentials: SECRET }, reporting_frequency: 'daily', requested_metrics: ['conversions'] } }));
    expect(metrics.isError).toBe(true);
    expect(metrics.data.adcp_error).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'reporting_webhook.requested_metrics' });
    // A metric AdCP 3.1 added (which the 3.0 request schema does not list) is answered on its merits too.
    const cpm = await call(buyer, 'create_media_buy', buyRequest({ account: sandbox, adcp_version: '3.1', reporting_webhook: { url: `${base}/r`, authentication: { schemes: ['Bearer'], credentials: SECRET }, reporting_frequency: 'daily', requested_metrics: ['cpm'] } }));
    expect(cpm.data.adcp_error).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'reporting_webhook.requested_metrics', message: expect.stringContaining('cpm') });
    const loopback = await call(buyer, 'create_media_buy', buyRequest({ reporting_webhook: { url: `${base}/r`, authentication: { schemes: ['Bearer'], credentials: SECRET }, reporting_frequency: 'daily' } }));
    expect(loopback.isError).toBe(true);
    expect(loopback.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'reporting_webhook.url' });
    expect((await sql`select count(*)::int as n from media_buys`)[0]!.n).toBe(before);
  });

  it('update_media_buy replaces the reporting webhook and restarts its schedule', async () => {
    const { id } = await reportingBuy('/reports/before');
    const { isError } = await call(buyer, 'update_media_buy', {
      media_buy_id: id,
      idempotency_key: `upd-${id}`,
      reporting_webhook: { url: `${base}/reports/after`, authentication: { schemes: ['Bearer'], credentials: SECRET }, reporting_frequency: 'monthly' },
    });
    expect(isError).toBe(false);
    const [row] = await sql`select reporting_webhook, reporting_next_at, start_time from media_buys where id = ${id}`;
    expect(row!.reporting_webhook).toMatchObject({ url: `${base}/reports/after`, reporting_frequency: 'monthly' });
    const start = new Date(row!.start_time);
    expect(new Date(row!.reporting_next_at).toISOString()).toBe(new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1)).toISOString());
    // The buyer's secret is kept sealed on the reporting webhook, not in the update request the task records.
    expect(row!.reporting_webhook.authentication.credentials).toMatch(/^enc:v1:/);
    expect(await tablesHolding(sql, SECRET)).toEqual([]);
  });
});
