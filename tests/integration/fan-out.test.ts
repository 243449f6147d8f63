/**
 * Fulfilment across several ad servers, through the MCP client and the real
 * worker on real Postgres: one job per adapter, run in parallel; confirmation
 * when the last part is booked; compensation when a part fails for good;
 * transient failures retried; invalid payloads dropped; updates and creatives
 * carried to every ad server holding a part. Two mock adapter configs, each
 * with its own latency and injected failures.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { sql as dsql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAdapterRegistry } from '../../src/adapters/registry.js';
import { createLogger } from '../../src/logger.js';
import { addNewJobsSql, type JobSpec } from '../../src/jobs/fan-out.js';
import { fulfilMediaBuy } from '../../src/jobs/tasks/fulfil-media-buy.js';
import { syncAdapterCreatives } from '../../src/jobs/tasks/sync-adapter-creatives.js';
import { approveMediaBuy } from '../../src/services/approval.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

const A = 'adp_demo_mock';
const B = 'adp_mock_b';
const ACCOUNT = { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' };

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;
const messages: string[] = [];

async function setAdapter(id: string, settings: Record<string, unknown>, manual = false) {
  await sql`update adapter_configs set settings = ${sql.json(settings as postgres.JSONValue)}, manual_approval_required = ${manual} where id = ${id}`;
  t.app.services.catalog.invalidate('demo');
}

/** A buy with a package on each ad server: CTV on A, the sports section on B. */
const twoParts = (overrides: Record<string, unknown> = {}) =>
  buyRequest({
    packages: [
      { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
      { product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 5000 },
    ],
    ...overrides,
  });

type Part = { state: string; attempts: number; error: string | null; external_order_id: string | null };
async function parts(id: string): Promise<Record<string, Part>> {
  const rows = await sql<(Part & { adapter_config_id: string })[]>`select adapter_config_id, state, attempts, error, external_order_id from adapter_orders where media_buy_id = ${id}`;
  return Object.fromEntries(rows.map(({ adapter_config_id, ...p }) => [adapter_config_id, p]));
}
const createStep = async (id: string) =>
  (await sql<{ status: string; error: { message: string } | null }[]>`select status, error from workflow_steps where media_buy_id = ${id} and step_type = 'create_media_buy'`)[0]!;
const buyRow = async (id: string) => (await sql<{ status: string; rejection_reason: string | null }[]>`select status, rejection_reason from media_buys where id = ${id}`)[0]!;
const mockOrder = async (id: string, adapter: string) =>
  (await sql<{ order_id: string; status: string; calls: number; request: Record<string, unknown> }[]>`select order_id, status, calls, request from mock_ad_server.orders where idempotency_key = ${`${id}/${adapter}`}`)[0];
const jobsLike = async (pattern: string) => (await sql<{ n: number }[]>`select count(*)::int as n from graphile_worker.jobs where key like ${pattern}`)[0]!.n;

async function create(req: Record<string, unknown>): Promise<{ id: string; packages: string[] }> {
  const { isError, data } = await call(buyer, 'create_media_buy', req);
  expect(isError, JSON.stringify(data)).toBe(false);
  return { id: data.media_buy_id as string, packages: (data.packages as { package_id: string }[]).map((p) => p.package_id) };
}

beforeAll(async () => {
  t = await startTestApp({ worker: true });
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  // A second ad server, fulfilling the sports section.
  await sql`insert into adapter_configs (id, tenant_id, name, adapter_type, settings) values (${B}, 'demo', 'Mock B', 'mock', '{}')`;
  await sql`update products set adapter_config_id = ${B} where tenant_id = 'demo' and id = 'display_sports_section'`;
  buyer = await memoryClient(t);
  buyer.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(String(n.params.data)));
});
beforeEach(async () => {
  await setAdapter(A, {});
  await setAdapter(B, {});
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

describe('fan-out to several ad servers', () => {
  it('books each part in its own job, in parallel, and confirms the buy only when both are booked', async () => {
    await setAdapter(A, { latency_ms: 1200 });
    await setAdapter(B, { latency_ms: 2500 });
    const { id } = await create(twoParts());
    await buyer.subscribeResource({ uri: `media-buy://${id}` });

    // One job per adapter, keyed by our ids, and a queued part for each.
    const keys = await sql<{ key: string }[]>`select key from graphile_worker.jobs where key like ${`fulfil:${id}:%`} order by key`;
    expect(keys.map((k) => k.key)).toEqual([`fulfil:${id}:${A}`, `fulfil:${id}:${B}`]);
    expect(Object.values(await parts(id)).map((p) => p.state)).toEqual(['queued', 'queued']);
    // Both run at once.
    await waitFor(async () => (await jobsLike(`fulfil:${id}:%`)) === 2 && (await sql`select 1 from graphile_worker.jobs where key like ${`fulfil:${id}:%`} and locked_at is not null`).length === 2, 5_000, 10);

    // A lands first: the buy is not confirmed while B is under way.
    const early = await waitFor(async () => {
      const p = await parts(id);
      return p[A]!.state === 'booked' && p;
    }, 5_000, 10);
    expect(early[B]!.state).toBe('queued');
    expect((await createStep(id)).status).toBe('in_progress');
    // The status line follows the committed row over LISTEN, so it may arrive a moment later.
    await waitFor(async () => messages.some((m) => m.includes(`${id}: booked at Mock ad server (1 of 2 ad servers)`)));

    await waitFor(async () => (await createStep(id)).status === 'completed', 10_000);
    const done = await parts(id);
    expect(done[A]).toMatchObject({ state: 'booked', attempts: 1, external_order_id: expect.stringMatching(/^mock-order-/) });
    expect(done[B]).toMatchObject({ state: 'booked', attempts: 1, external_order_id: expect.stringMatching(/^mock-order-/) });
    await waitFor(async () => messages.some((m) => m.includes(`${id}: booked at all 2 ad servers`)));

    // Each ad server got one order with only its own packages and its share of the budget.
    const [atA, atB] = [await mockOrder(id, A), await mockOrder(id, B)];
    expect([atA!.calls, atB!.calls]).toEqual([1, 1]);
    expect([atA!.request.packages, Number(atA!.request.total_budget)]).toEqual([1, 20000]);
    expect([atB!.request.packages, Number(atB!.request.total_budget)]).toEqual([1, 5000]);
    const state = JSON.parse(((await buyer.readResource({ uri: `media-buy://${id}` })).contents[0] as { text: string }).text);
    expect(state.fulfilment.map((f: { adapter: string; state: string }) => [f.adapter, f.state]).sort()).toEqual([
      ['Mock B', 'booked'],
      ['Mock ad server', 'booked'],
    ]);
    expect(state.workflow_step.status).toBe('completed');
  });

  it('rejects the buy with the failing ad server’s reason and cancels the part already booked elsewhere', async () => {
    await setAdapter(B, { latency_ms: 800, reject: { create_order: 'no sports inventory left' } });
    const { id } = await create(twoParts());
    await waitFor(async () => (await buyRow(id)).status === 'rejected', 10_000);
    expect((await buyRow(id)).rejection_reason).toBe('Mock B (mock ad server): no sports inventory left');
    const step = await createStep(id);
    expect(step).toMatchObject({ status: 'failed', error: { code: 'ADAPTER_REJECTED', message: 'Mock B (mock ad server): no sports inventory left' } });

    // Compensation: A's order, booked before B failed, is canceled at A.
    await waitFor(async () => (await parts(id))[A]!.state === 'canceled', 10_000);
    expect(await mockOrder(id, A)).toMatchObject({ status: 'canceled', calls: 1 });
    expect((await parts(id))[B]).toMatchObject({ state: 'failed', attempts: 1, error: 'no sports inventory left' });
    expect(await mockOrder(id, B)).toBeUndefined();
    await waitFor(async () => (await jobsLike(`%:${id}:%`)) === 0);
  });

  it('cancels a part that books after another part already rejected the buy', async () => {
    await setAdapter(A, { latency_ms: 1000 });
    await setAdapter(B, { reject: { create_order: 'advertiser blocked' } });
    const { id } = await create(twoParts());
    await waitFor(async () => (await buyRow(id)).status === 'rejected', 10_000);
    // A was still being booked when B failed; its order lands afterwards and is undone.
    await waitFor(async () => (await mockOrder(id, A))?.status === 'canceled', 10_000);
    await waitFor(async () => (await parts(id))[A]!.state === 'canceled');
    expect((await mockOrder(id, A))!.calls).toBe(1);
    expect((await createStep(id)).status).toBe('failed');
  });

  it('retries a transient failure of one part with backoff; the buy is confirmed once it succeeds', async () => {
    await setAdapter(B, { fail_first: { create_order: 1 } });
    const { id } = await create(twoParts());
    const retrying = await waitFor(async () => {
      const p = await parts(id);
      return p[A]!.state === 'booked' && p[B]!.attempts === 1 && p;
    });
    expect(retrying[B]).toMatchObject({ state: 'queued', error: expect.stringContaining('unavailable') });
    expect((await createStep(id)).status).toBe('in_progress');
    await waitFor(async () => (await createStep(id)).status === 'completed', 15_000, 100);
    expect((await parts(id))[B]).toMatchObject({ state: 'booked', attempts: 2, error: null });
    expect((await mockOrder(id, B))!.calls).toBe(1);
  });

  it('fails the buy on a part’s last attempt, and compensates the other part', async () => {
    await setAdapter(B, { fail_first: { create_order: 100 } });
    const { id } = await create(twoParts());
    await waitFor(async () => (await parts(id))[A]!.state === 'booked' && (await parts(id))[B]!.attempts >= 1);
    // The attempt Graphile Worker would make last (its attempts counter at max_attempts).
    const deps = { db: t.app.database.db, adapters: createAdapterRegistry(t.app.database.db), logger: createLogger('silent') };
    await fulfilMediaBuy({ v: 1, tenant_id: 'demo', media_buy_id: id, adapter_config_id: B }, { attempts: 8, maxAttempts: 8 }, deps);
    expect(await buyRow(id)).toMatchObject({ status: 'rejected', rejection_reason: expect.stringContaining('mock ad server unavailable') });
    expect((await createStep(id)).status).toBe('failed');
    expect((await parts(id))[B]!.state).toBe('failed');
    await waitFor(async () => (await parts(id))[A]!.state === 'canceled');
    expect((await mockOrder(id, A))!.status).toBe('canceled');
  });

  it('drops jobs with an invalid payload at once instead of retrying them', async () => {
    const tasks = ['fulfil_media_buy', 'sync_media_buy_update', 'cancel_adapter_order', 'sync_adapter_creatives'];
    for (const task of tasks) {
      await sql`select graphile_worker.add_job(${task}, ${sql.json({ v: 1, media_buy_id: 42 })}::json, max_attempts => 5, job_key => ${`invalid:${task}`})`;
    }
    // A task that threw would leave its job queued for a retry, with last_error set.
    await waitFor(async () => (await jobsLike('invalid:%')) === 0, 10_000);
  });

  it('approval fans out the same way', async () => {
    await setAdapter(B, {}, true);
    const { data } = await call(buyer, 'create_media_buy', twoParts());
    expect(data.status).toBe('submitted');
    const [step] = await sql<{ media_buy_id: string }[]>`select media_buy_id from workflow_steps where id = ${data.task_id as string}`;
    const id = step!.media_buy_id;
    expect(await parts(id)).toEqual({});
    expect((await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId: data.task_id as string, actor: 'ops@demo' })).ok).toBe(true);
    await waitFor(async () => (await createStep(id)).status === 'completed');
    expect(Object.values(await parts(id)).map((p) => p.state)).toEqual(['booked', 'booked']);
  });
});

describe('updates fan out to every ad server holding a part', () => {
  const update = async (args: Record<string, unknown>) => {
    const res = await call(buyer, 'update_media_buy', { idempotency_key: `u-${Math.random()}`, account: ACCOUNT, ...args });
    expect(res.isError, JSON.stringify(res.data)).toBe(false);
    return res.data.task_id as string;
  };
  const stepStatus = async (taskId: string) => (await sql<{ status: string; error: { message: string } | null }[]>`select status, error from workflow_steps where id = ${taskId}`)[0]!;

  it('pauses at both ad servers; a permanent refusal at one fails the update with its reason', async () => {
    const { id } = await create(twoParts());
    await waitFor(async () => (await createStep(id)).status === 'completed');
    const paused = await update({ media_buy_id: id, paused: true });
    await waitFor(async () => (await stepStatus(paused)).status === 'completed');
    expect([(await mockOrder(id, A))!.status, (await mockOrder(id, B))!.status]).toEqual(['paused', 'paused']);
    const tracked = await sql`select adapter_config_id, state from adapter_order_updates where step_id = ${paused} order by adapter_config_id`;
    expect(tracked).toEqual([
      { adapter_config_id: A, state: 'applied' },
      { adapter_config_id: B, state: 'applied' },
    ]);

    await setAdapter(B, { reject: { update_order: 'line item locked for review' } });
    const resumed = await update({ media_buy_id: id, paused: false });
    await waitFor(async () => (await stepStatus(resumed)).status === 'failed');
    expect((await stepStatus(resumed)).error!.message).toBe('Mock B: line item locked for review');
    expect([(await mockOrder(id, A))!.status, (await mockOrder(id, B))!.status]).toEqual(['booked', 'paused']);
  });

  it('undoes an update every ad server refused, unless the buy moved on since', async () => {
    const ctvOnA = buyRequest({ packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }] });
    const { id, packages: [pkg] } = await create(ctvOnA);
    await waitFor(async () => (await createStep(id)).status === 'completed');
    const listed = async () => ((await call(buyer, 'get_media_buys', { media_buy_ids: [id] })).data.media_buys as { total_budget: number; revision: number; end_time: string; packages: { package_id: string; budget: number; canceled?: boolean }[] }[])[0]!;
    const before = await listed();
    await setAdapter(A, { reject: { update_order: 'budget locked by the trafficker' } });
    try {
      const refused = await update({
        media_buy_id: id,
        end_time: new Date(Date.now() + 60 * 86_400_000).toISOString(),
        packages: [{ package_id: pkg, budget: 26000 }],
        new_packages: [{ product_id: 'ctv_run_of_network', pricing_option_id: 'ctv_ron_cpm_auction', budget: 3000, bid_price: 25 }],
      });
      // Applied at once, as the answer says...
      expect((await listed()).total_budget).toBe(29000);
      await waitFor(async () => (await stepStatus(refused)).status === 'failed', 10_000);
      expect((await stepStatus(refused)).error!.message).toBe('Mock ad server: budget locked by the trafficker. The change was undone: the media buy is as it was before this update (its reporting webhook and creative assignments aside).');
      // ...and back as the ad server holds it once every ad server refused it: the added package canceled, the revision moved on.
      const after = await listed();
      expect(after).toMatchObject({ total_budget: before.total_budget, end_time: before.end_time, revision: before.revision + 2 });
      expect(after.packages.find((k) => k.package_id === pkg)!.budget).toBe(20000);
      expect(after.packages.filter((k) => k.package_id !== pkg).every((k) => k.canceled)).toBe(true);
      expect(((await mockOrder(id, A))!.request.lines as { budget: string }[]).map((l) => Number(l.budget))).toEqual([20000]);

      // A buy that moved on meanwhile (another change to it, as a flight start or creatives arriving make) is not
      // put back over that change: the refusal is reported, and the buy stays as it is now.
      await setAdapter(A, { latency_ms: 800, reject: { update_order: 'budget locked by the trafficker' } });
      const late = await update({ media_buy_id: id, packages: [{ package_id: pkg, budget: 21000 }] });
      await sql`update media_buys set revision = revision + 1 where id = ${id}`;
      await waitFor(async () => (await stepStatus(late)).status === 'failed', 10_000);
      expect((await stepStatus(late)).error!.message).toBe('Mock ad server: budget locked by the trafficker');
      expect((await listed()).packages.find((k) => k.package_id === pkg)!.budget).toBe(21000);
    } finally {
      await setAdapter(A, {});
    }
  });

  it('books new packages on an ad server the buy was not at yet, and completes the update when it is', async () => {
    const { id } = await create(buyRequest());
    await waitFor(async () => (await createStep(id)).status === 'completed');
    const added = await update({ media_buy_id: id, new_packages: [{ product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 3000 }] });
    await waitFor(async () => (await stepStatus(added)).status === 'completed', 10_000);
    expect(Object.values(await parts(id)).map((p) => p.state)).toEqual(['booked', 'booked']);
    const atB = await mockOrder(id, B);
    expect(atB!.calls).toBe(1);
    expect((atB!.request.lines as { budget: string }[]).map((l) => Number(l.budget))).toEqual([3000]);
    expect((await createStep(id)).status).toBe('completed');
  });
});

describe('creatives go to the ad servers by a job', () => {
  const banner = (clickUrl: string) => ({
    creative_id: 'cr-banner',
    name: 'Sports banner',
    format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' },
    assets: { banner_image: { asset_type: 'image', url: 'https://cdn.acme.example/banner.png', width: 300, height: 250 }, click_url: { asset_type: 'url', url: clickUrl } },
  });
  /** Display on both ad servers: run of network on A, the sports section on B. */
  const displayOnBoth = (assign?: string) =>
    buyRequest({
      packages: [
        { product_id: 'display_run_of_site', pricing_option_id: 'ros_cpm_auction', budget: 1000, bid_price: 3, ...(assign && { creative_assignments: [{ creative_id: assign }] }) },
        { product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 3000, ...(assign && { creative_assignments: [{ creative_id: assign }] }) },
      ],
    });
  const uploads = () => sql<{ idempotency_key: string; creative_id: string; calls: number; content: Record<string, unknown> }[]>`select idempotency_key, creative_id, calls, content from mock_ad_server.creatives order by idempotency_key`;
  const assignedAt = async (id: string, adapter: string) => (await mockOrder(id, adapter))?.request.creatives as Record<string, { creative_id: string }[]> | undefined;

  it('uploads once per ad server, even when the job is retried, and assigns to each line item', async () => {
    await setAdapter(B, { fail_first: { assign_creatives: 1 } });
    const { id, packages } = await create(displayOnBoth());
    await waitFor(async () => (await createStep(id)).status === 'completed');
    const synced = await call(buyer, 'sync_creatives', { idempotency_key: `s-${Math.random()}`, account: ACCOUNT, creatives: [banner('https://acme.example/a')], assignments: [{ creative_id: 'cr-banner', package_id: packages[0] }, { creative_id: 'cr-banner', package_id: packages[1] }] });
    expect(synced.isError, JSON.stringify(synced.data)).toBe(false);

    // B's first assignment call fails; the retry (after backoff) assigns without uploading again.
    const assigned = (adapter: string, pkg: string) => async () => {
      const at = await assignedAt(id, adapter);
      return !!at?.[pkg]?.length && at;
    };
    const atB = await waitFor(assigned(B, packages[1]!), 15_000, 100);
    const atA = await waitFor(assigned(A, packages[0]!));
    const [attempts] = await sql`select n from mock_ad_server.attempts where idempotency_key like ${`assign_creatives:${id}/${B}/creatives/%`}`;
    expect(attempts!.n).toBe(2);
    const up = await uploads();
    expect(up.map((u) => u.calls)).toEqual([1, 1]);
    const ours = await sql<{ adapter_config_id: string; external_creative_id: string }[]>`select adapter_config_id, external_creative_id from adapter_creatives where creative_id = 'cr-banner' order by adapter_config_id`;
    expect(ours.map((o) => o.adapter_config_id)).toEqual([A, B]);
    expect(new Set(ours.map((o) => o.external_creative_id))).toEqual(new Set(up.map((u) => u.creative_id)));
    expect(atA[packages[0]!]).toEqual([{ creative_id: ours[0]!.external_creative_id, weight: null }]);
    expect(atB[packages[1]!]).toEqual([{ creative_id: ours[1]!.external_creative_id, weight: null }]);
    // Ad-server creative ids live only on the adapter side.
    expect((await sql`select row_to_json(c)::text as j from creatives c where id = 'cr-banner'`)[0]!.j).not.toContain('mock-cr-');

    // Run again (at-least-once): nothing is uploaded twice.
    const deps = { db: t.app.database.db, adapters: createAdapterRegistry(t.app.database.db), logger: createLogger('silent') };
    await syncAdapterCreatives({ v: 1, tenant_id: 'demo', media_buy_id: id, adapter_config_id: B }, { attempts: 1, maxAttempts: 8 }, deps);
    expect((await uploads()).map((u) => u.calls)).toEqual([1, 1]);

    // A changed creative is sent again, to both, under the same ids.
    await call(buyer, 'sync_creatives', { idempotency_key: `s-${Math.random()}`, account: ACCOUNT, creatives: [banner('https://acme.example/b')] });
    await waitFor(async () => (await uploads()).every((u) => u.calls === 2), 10_000);
    const again = await uploads();
    expect(again.map((u) => u.creative_id)).toEqual(up.map((u) => u.creative_id));
    expect(again.every((u) => JSON.stringify(u.content).includes('https://acme.example/b'))).toBe(true);
  });

  it('creative assignments made in create_media_buy reach the ad servers after booking, with no new upload', async () => {
    const before = (await uploads()).map((u) => u.calls);
    const { id, packages } = await create(displayOnBoth('cr-banner'));
    await waitFor(async () => (await assignedAt(id, A))?.[packages[0]!]?.length && (await assignedAt(id, B))?.[packages[1]!]?.length, 10_000);
    expect((await uploads()).map((u) => u.calls)).toEqual(before);
  });
});

describe('jobs under keys made of a new id (addNewJobsSql)', () => {
  it('queues each job once with its attempts and run time; a key already held keeps its job', async () => {
    const prefix = `new-key-test:${Math.random()}`;
    const later = new Date(Date.now() + 3_600_000);
    const spec = (n: number, note: string): JobSpec => ({ identifier: 'notify_slack', payload: { n, note }, key: `${prefix}:${n}`, max_attempts: 3, run_at: later.toISOString() });
    const queue = async (specs: JobSpec[]) => (await t.app.database.db.execute<{ n: number }>(dsql`select ${addNewJobsSql(specs)} as n`))[0]!.n;
    const held = () =>
      sql<{ key: string; payload: { note: string }; max_attempts: number; run_at: Date; task_identifier: string }[]>`
        select j.key, j.payload, j.max_attempts, j.run_at, t.identifier as task_identifier
        from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
        where j.key like ${`${prefix}:%`} order by j.key`;

    expect(await queue([spec(1, 'first'), spec(2, 'first')])).toBe(2);
    const jobs = await held();
    expect(jobs.map((j) => [j.key, j.payload.note, j.max_attempts, j.task_identifier])).toEqual([
      [`${prefix}:1`, 'first', 3, 'notify_slack'],
      [`${prefix}:2`, 'first', 3, 'notify_slack'],
    ]);
    expect(jobs.every((j) => Math.abs(j.run_at.getTime() - later.getTime()) < 1000)).toBe(true);
    // The insert-only mode: why the keys must be new. A held key keeps its job as it was.
    expect(await queue([spec(1, 'second')])).toBe(1);
    expect((await held()).map((j) => j.payload.note)).toEqual(['first', 'first']);
    expect(() => addNewJobsSql([{ ...spec(3, 'x'), key: null }])).toThrow(/needs a key/);
    await sql`select graphile_worker.remove_job(key) from graphile_worker.jobs where key like ${`${prefix}:%`}`;
  });
});
