/**
 * The agent as it runs in production: separate OS processes (dist/cli.js) on
 * one Postgres. A worker SIGKILLed mid-batch loses nothing and books nothing
 * twice; buys made on one server are pushed to subscribers on another; jobs
 * wait in Postgres while no worker runs. Needs `npm run build`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/client.js';
import { seedDemo } from '../../src/seed/demo.js';
import { buyRequest, call, memoryClient, rawCall, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { addOperator, Browser } from '../helpers/console.js';
import { killAll, startServer, startWorkerProcess, waitOn, type Proc } from '../helpers/processes.js';

afterAll(killAll);

// ---------------------------------------------------------------- database probes

const count = async (sql: postgres.Sql, query: string) => Number((await sql.unsafe<{ n: string }[]>(query))[0]!.n);
const booked = (sql: postgres.Sql) => count(sql, `select count(*) as n from adapter_orders where state = 'booked'`);
/** fulfil_media_buy jobs in the queue (other job types, e.g. cron's, are not this file's business). */
const fulfilJobs = (sql: postgres.Sql, where = 'true') => count(sql, `select count(*) as n from graphile_worker.jobs where task_identifier = 'fulfil_media_buy' and (${where})`);
const completedSteps = (sql: postgres.Sql) => count(sql, `select count(*) as n from workflow_steps where step_type = 'create_media_buy' and status = 'completed'`);

async function mcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'process-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/**
 * For a describe block: an in-process app without a worker (create_media_buy stores the buys and
 * enqueues their jobs; worker processes started by the tests run them) and a handle on its database.
 */
function appWithoutWorker(adapterLatencyMs: number, setup?: (t: TestApp, sql: postgres.Sql) => Promise<void>): { t: TestApp; sql: postgres.Sql } {
  const env = {} as { t: TestApp; sql: postgres.Sql };
  beforeAll(async () => {
    env.t = await startTestApp({ worker: false, adapterLatencyMs });
    env.sql = postgres(env.t.db.url, { max: 2, onnotice: () => {} });
    await setup?.(env.t, env.sql);
  });
  afterAll(async () => {
    await killAll();
    await env.sql?.end();
    await env.t?.close();
  });
  return env;
}

// ---------------------------------------------------------------- tests

describe('a worker SIGKILLed mid-batch', () => {
  const BUYS = 200;
  const env = appWithoutWorker(50);

  it('loses no buy and books none twice once a new worker takes over', async () => {
    const { t, sql } = env;
    const timings: Record<string, number> = {};
    let mark = performance.now();
    const lap = (what: string) => {
      timings[what] = Math.round(performance.now() - mark);
      mark = performance.now();
    };

    const client = await memoryClient(t);
    const ids: string[] = [];
    for (let i = 0; i < BUYS; i += 25) {
      const batch = await Promise.all(Array.from({ length: Math.min(25, BUYS - i) }, () => call(client, 'create_media_buy', buyRequest())));
      for (const r of batch) {
        expect(r.isError).toBe(false);
        ids.push(r.data.media_buy_id as string);
      }
    }
    await client.close();
    expect(await fulfilJobs(sql)).toBe(BUYS);
    lap('create 200 buys');

    const first = await startWorkerProcess('worker-1', t.db.url, sql);
    lap('worker-1 ready');
    await waitOn(first, async () => (await booked(sql)) >= 20, 20_000, 5);
    const exit = await first.stop('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    lap('worker-1 runs until SIGKILL');

    const bookedAtKill = await booked(sql);
    const [dead] = await sql<{ pool_id: string }[]>`select pool_id from worker_heartbeats where pid = ${first.pid}`;
    const byDead = `locked_by = '${dead!.pool_id}'`;
    const lockedByDead = await fulfilJobs(sql, byDead);
    expect(bookedAtKill).toBeGreaterThan(0);
    expect(bookedAtKill).toBeLessThan(BUYS);
    // Jobs it was running stay locked by the dead pool: Graphile Worker alone would leave them for 4 hours.
    expect(lockedByDead).toBeGreaterThan(0);

    // A new worker runs everything else, but leaves the dead pool's jobs alone while its heartbeat looks fresh.
    const second = await startWorkerProcess('worker-2', t.db.url, sql);
    lap('worker-2 ready');
    const notDead = `locked_by is distinct from '${dead!.pool_id}'`;
    await waitOn(second, async () => (await fulfilJobs(sql, notDead)) === 0, 20_000, 25);
    await sleep(500);
    expect(await fulfilJobs(sql, notDead)).toBe(0);
    expect(await fulfilJobs(sql, byDead)).toBe(lockedByDead);
    lap('worker-2 runs the free jobs');

    // The dead pool stops beating for the stale interval (30 s; here, by moving its last beat back):
    // worker-2's next beat (every 5 s) frees its jobs, and worker-2 runs them.
    await sql`update worker_heartbeats set heartbeat_at = now() - interval '1 hour' where pool_id = ${dead!.pool_id}`;
    await waitOn(second, async () => (await completedSteps(sql)) === BUYS, 15_000, 50);
    lap('worker-2 finishes the rest');

    // Every buy completed, each booked exactly once at the ad server and recorded once here.
    const steps = await sql<{ media_buy_id: string; status: string }[]>`select media_buy_id, status from workflow_steps where step_type = 'create_media_buy'`;
    expect(steps).toHaveLength(BUYS);
    expect(new Set(steps.map((s) => s.media_buy_id))).toEqual(new Set(ids));
    expect(steps.every((s) => s.status === 'completed')).toBe(true);
    expect(await count(sql, `select count(*) as n from media_buys where status in ('rejected', 'canceled')`)).toBe(0);

    const [orders] = await sql<{ rows: number; keys: number; buys: number; calls: number }[]>`
      select count(*)::int as rows, count(distinct idempotency_key)::int as keys,
             count(distinct request->>'media_buy_id')::int as buys, sum(calls)::int as calls
      from mock_ad_server.orders`;
    expect(orders).toMatchObject({ rows: BUYS, keys: BUYS, buys: BUYS });
    // Each buy's one order is the one its idempotency key names.
    expect(await count(sql, `select count(*) as n from media_buys b where (select count(*) from mock_ad_server.orders o where o.idempotency_key like b.id || '/%') = 1`)).toBe(BUYS);

    const [ours] = await sql<{ rows: number; pairs: number; booked: number; matched: number }[]>`
      select count(*)::int as rows, count(distinct (media_buy_id, adapter_config_id))::int as pairs,
             count(*) filter (where state = 'booked')::int as booked,
             count(*) filter (where exists (select 1 from mock_ad_server.orders o where o.idempotency_key = a.idempotency_key and o.order_id = a.external_order_id))::int as matched
      from adapter_orders a`;
    expect(ours).toEqual({ rows: BUYS, pairs: BUYS, booked: BUYS, matched: BUYS });

    // Nothing left in the queue; the dead pool's heartbeat is gone, the live one remains.
    await waitFor(async () => (await fulfilJobs(sql)) === 0, 10_000, 50); // Graphile deletes a job after the task's commit
    const beats = await sql<{ pid: number }[]>`select pid from worker_heartbeats`;
    expect(beats.map((b) => b.pid)).toEqual([second.pid]);
    expect(second.stderr()).toContain('freed the jobs of a worker that stopped beating');
    expect(second.stderr()).not.toMatch(/"level":"error"/);

    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await count(sql, `select count(*) as n from worker_heartbeats`)).toBe(0);
    lap('worker-2 stops');
    console.info('kill test', { ...timings, bookedAtKill, lockedByDead, adServerCalls: orders!.calls, repeatedCalls: orders!.calls - BUYS });
  }, 45_000);
});

describe('a worker stopped while its bookings wait on a slow ad server', () => {
  const BUYS = 40;
  const env = appWithoutWorker(120_000);

  it('cuts every adapter call short on SIGTERM, rejects nothing, and the next worker books each buy once', async () => {
    const { t, sql } = env;
    const client = await memoryClient(t);
    const batch = await Promise.all(Array.from({ length: BUYS }, () => call(client, 'create_media_buy', buyRequest())));
    for (const r of batch) expect(r.isError).toBe(false);
    await client.close();

    const first = await startWorkerProcess('worker-1', t.db.url, sql, { SALES_AGENT_WORKER_CONCURRENCY: '64' });
    await waitOn(first, async () => (await fulfilJobs(sql, 'locked_at is not null')) === BUYS, 15_000, 20);
    const stopping = performance.now();
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    // Every job was two minutes from done: only aborting the adapter calls lets the worker stop this soon.
    expect(performance.now() - stopping).toBeLessThan(15_000);
    expect(await count(sql, `select count(*) as n from adapter_orders where state <> 'queued'`)).toBe(0);
    expect(await fulfilJobs(sql, 'locked_at is null')).toBe(BUYS);

    await sql`update adapter_configs set settings = settings || '{"latency_ms": 0}'::jsonb where id = 'adp_demo_mock'`;
    const second = await startWorkerProcess('worker-2', t.db.url, sql);
    // Graphile Worker retries the aborted jobs after its backoff (about e^1 s).
    await waitOn(second, async () => (await completedSteps(sql)) === BUYS, 20_000, 50);
    expect(await count(sql, `select count(*) as n from mock_ad_server.orders`)).toBe(BUYS);
    expect(await count(sql, `select count(*) as n from media_buys where status = 'rejected'`)).toBe(0);
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('a worker SIGKILLed mid-batch of buys that span two ad servers', () => {
  const BUYS = 60;
  const env = appWithoutWorker(50, async (t, sql) => {
    await sql`insert into adapter_configs (id, tenant_id, name, adapter_type, settings) values ('adp_mock_b', 'demo', 'Mock B', 'mock', ${sql.json({ latency_ms: 80 })})`;
    await sql`update products set adapter_config_id = 'adp_mock_b' where tenant_id = 'demo' and id = 'display_sports_section'`;
    t.app.services.catalog.invalidate('demo');
  });

  it('confirms every buy once both parts are booked, each exactly once at its ad server', async () => {
    const { t, sql } = env;
    const client = await memoryClient(t);
    const packages = [
      { product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 },
      { product_id: 'display_sports_section', pricing_option_id: 'sports_cpm_fixed', budget: 5000 },
    ];
    for (let i = 0; i < BUYS; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => call(client, 'create_media_buy', buyRequest({ packages }))));
      for (const r of batch) expect(r.isError).toBe(false);
    }
    await client.close();
    expect(await fulfilJobs(sql)).toBe(2 * BUYS);

    const first = await startWorkerProcess('worker-1', t.db.url, sql);
    await waitOn(first, async () => (await booked(sql)) >= 20, 20_000, 5);
    await first.stop('SIGKILL');
    expect(await booked(sql)).toBeLessThan(2 * BUYS);
    const [dead] = await sql<{ pool_id: string }[]>`select pool_id from worker_heartbeats where pid = ${first.pid}`;
    const second = await startWorkerProcess('worker-2', t.db.url, sql);
    await sql`update worker_heartbeats set heartbeat_at = now() - interval '1 hour' where pool_id = ${dead!.pool_id}`;
    await waitOn(second, async () => (await completedSteps(sql)) === BUYS, 20_000, 50);

    // Two parts per buy, both booked, each one order at its own ad server, matched to what we recorded.
    const [ours] = await sql<{ rows: number; booked: number; matched: number }[]>`
      select count(*)::int as rows, count(*) filter (where state = 'booked')::int as booked,
             count(*) filter (where exists (select 1 from mock_ad_server.orders o where o.idempotency_key = a.idempotency_key and o.order_id = a.external_order_id))::int as matched
      from adapter_orders a`;
    expect(ours).toEqual({ rows: 2 * BUYS, booked: 2 * BUYS, matched: 2 * BUYS });
    expect(await count(sql, `select count(*) as n from mock_ad_server.orders`)).toBe(2 * BUYS);
    expect(await count(sql, `select count(*) as n from media_buys b where (select count(*) from mock_ad_server.orders o where o.request->>'media_buy_id' = b.id) = 2`)).toBe(BUYS);
    await waitFor(async () => (await fulfilJobs(sql)) === 0, 10_000, 50); // Graphile deletes a job after the task's commit
    expect(second.stderr()).not.toMatch(/"level":"error"/);
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 45_000);
});

describe('two servers and a worker, each its own process, on one database', () => {
  const token = 'process-test-token';
  let db: TestDb;
  let sql: postgres.Sql;
  let a: { proc: Proc; url: string };
  let b: { proc: Proc; url: string };
  const workers: Proc[] = [];
  beforeAll(async () => {
    db = await createTestDb();
    const d = connect(db.url, { max: 1 });
    // Slow enough an ad server that a subscriber is in place before the booking lands.
    await seedDemo(d.db, { token, adapterLatencyMs: 1500 });
    await d.close();
    sql = postgres(db.url, { max: 2, onnotice: () => {} });
    [a, b] = await Promise.all([startServer('server-A', db.url), startServer('server-B', db.url)]);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
  });
  afterAll(async () => {
    const servers = [a, b].filter((s) => s !== undefined);
    const exits = await Promise.all(servers.map((s) => s.proc.stop('SIGTERM')));
    await killAll();
    await sql?.end();
    await db?.drop();
    // Both servers shut down cleanly on SIGTERM and logged no error along the way.
    expect(exits).toEqual(servers.map(() => ({ code: 0, signal: null })));
    for (const s of servers) expect(s.proc.stderr()).not.toMatch(/"level":"error"/);
  });

  it('keeps jobs in Postgres while no worker runs; a restarted worker fulfils them', async () => {
    const first = await startWorkerProcess('worker-1', db.url, sql);
    workers.push(first);
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    // No worker now: buys are created on both servers over the stateless HTTP path.
    const auth = { authorization: `Bearer ${token}` };
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => rawCall(i % 2 ? a.url : b.url, 'create_media_buy', buyRequest(), auth)),
    );
    const ids = created.map((r) => {
      expect(r.status).toBe(200);
      expect(r.body.result?.isError).toBeFalsy();
      return (r.body.result!.structuredContent as { media_buy_id: string }).media_buy_id;
    });
    await sleep(300);
    expect(await fulfilJobs(sql, 'locked_by is null')).toBe(20);
    expect(await count(sql, `select count(*) as n from adapter_orders where state <> 'queued'`)).toBe(0);

    const second = await startWorkerProcess('worker-2', db.url, sql);
    workers.push(second);
    await waitOn(second, async () => (await completedSteps(sql)) === 20, 15_000, 50);
    const rows = await sql<{ id: string }[]>`select b.id from media_buys b join adapter_orders o on o.media_buy_id = b.id and o.state = 'booked'`;
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(await count(sql, `select count(*) as n from mock_ad_server.orders`)).toBe(20);
    await waitFor(async () => (await fulfilJobs(sql)) === 0, 10_000, 50); // Graphile deletes a job after the task's commit
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('pushes the booking to subscribers on both servers; the task is visible from the other server', async () => {
    const clientA = await mcpClient(a.url, token);
    const clientB = await mcpClient(b.url, token);
    try {
      const { isError, data } = await call(clientA, 'create_media_buy', buyRequest());
      expect(isError).toBe(false);
      const uri = `media-buy://${data.media_buy_id}`;
      const read = async (c: Client) => JSON.parse(((await c.readResource({ uri })).contents[0] as { text: string }).text);
      // What each subscriber read after each push. The create's own change event may still be on its
      // way over LISTEN when the subscription lands (a push that reads "queued"); the booking's must follow.
      const seen = { A: [] as string[], B: [] as string[] };
      clientA.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
        if (n.params.uri === uri) seen.A.push((await read(clientA)).fulfilment[0].state);
      });
      clientB.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
        if (n.params.uri === uri) seen.B.push((await read(clientB)).fulfilment[0].state);
      });
      await Promise.all([clientA.subscribeResource({ uri }), clientB.subscribeResource({ uri })]);
      const before = await read(clientB);
      expect(before.fulfilment[0].state).toBe('queued'); // B knows the buy A made, before the booking
      // Only now a worker: the booking cannot land before both subscriptions are in place.
      workers.push(await startWorkerProcess('worker', db.url, sql));

      await waitFor(async () => seen.A.includes('booked') && seen.B.includes('booked'), 10_000, 25);
      const after = await read(clientB);
      expect(after.fulfilment[0].state).toBe('booked');

      const taskId = after.workflow_step.task_id as string;
      const task = await call(clientB, 'tasks/get', { task_id: taskId });
      expect(task.isError).toBe(false);
      expect(task.data).toMatchObject({ task_id: taskId, task_type: 'create_media_buy', status: 'completed', result: { media_buy_id: data.media_buy_id } });
      const list = await call(clientB, 'tasks/list', { filters: { task_ids: [taskId] } });
      expect((list.data.tasks as { task_id: string; status: string }[]).map((x) => [x.task_id, x.status])).toEqual([[taskId, 'completed']]);
    } finally {
      await Promise.all([clientA.close(), clientB.close()]);
    }
  });

  it("shares the console's sign-in limit: failures on one server count on the other", async () => {
    const d = connect(db.url, { max: 1 });
    const { password } = await addOperator(d.db, { tenantId: 'demo', email: 'ops@demo.example', role: 'admin' });
    await d.close();
    const [onA, onB] = [new Browser(a.url), new Browser(b.url)];
    for (let i = 0; i < 10; i++) expect((await (i % 2 ? onA : onB).login('ops@demo.example', `wrong-guess-${i}`)).status).toBe(401);
    // Ten failures in all, five on each: neither server alone saw enough, together they did.
    expect((await onA.login('ops@demo.example', password)).status).toBe(429);
    expect((await onB.login('ops@demo.example', password)).status).toBe(429);
    // Counted under hashes (per email and address, per email, per address): neither the email nor the address is stored.
    expect(await count(sql, `select count(*) as n from login_failures`)).toBe(3);
    expect(await count(sql, `select count(*) as n from login_failures where key_hash like '%ops@demo%' or key_hash like '%127.0.0.1%'`)).toBe(0);
  });
});
