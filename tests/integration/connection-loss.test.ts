/**
 * A database connection that breaks under work in progress (a Postgres restart or failover): a tool call runs
 * again at once when that is harmless (a read, or a write with an idempotency key, as AdCP 3 requires of every
 * write), and so does a resource read, whose other failures answer a generic error rather than the failed SQL;
 * a worker task runs again as soon as the database answers, within its job attempt, and such a failure under an
 * adapter is never taken for the ad server's verdict. The break is made by holding a lock the work needs, and
 * terminating the backend that waits on it.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { DrizzleQueryError } from 'drizzle-orm';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMockAdapter } from '../../src/adapters/mock/mock-adapter.js';
import { fulfilMediaBuy } from '../../src/jobs/tasks/fulfil-media-buy.js';
import { INTERNAL_ERROR_MESSAGE } from '../../src/mcp/guard.js';
import { startWorker } from '../../src/jobs/worker.js';
import { createLogger } from '../../src/logger.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let sql: postgres.Sql;

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  sql = postgres(t.db.url, { max: 3, onnotice: () => {} });
  buyer = await memoryClient(t);
});
afterAll(async () => {
  await buyer?.close();
  await sql?.end();
  await t?.close();
});

/**
 * Start `act` while `lock` is held; once a backend of `app` waits on the lock, terminate it (the break), then
 * release the lock. Resolves with what `act` gave and how many backends were cut.
 */
async function cutUnder<T>(app: string, lock: (tx: postgres.TransactionSql) => Promise<unknown>, act: () => Promise<T>): Promise<{ result: T; cut: number }> {
  let pending: Promise<T> | undefined;
  const cut = await sql.begin(async (tx) => {
    await lock(tx);
    pending = act();
    pending.catch(() => undefined);
    // Asked outside the transaction: inside it, its view of pg_stat_activity would stay as first read.
    return waitFor(async () => {
      const r = await sql`select pg_terminate_backend(pid) as done from pg_stat_activity
        where datname = current_database() and application_name = ${app} and wait_event_type = 'Lock'`;
      return r.filter((x) => x.done).length;
    }, 10_000);
  });
  return { result: await pending!, cut };
}

/**
 * Each connection cut mid-query fails the first query of its reconnection with the old error (a postgres.js quirk;
 * see brokenDatabaseConnection). So that one test's cut does not reach into the next, every pooled connection of the
 * app runs a query (all at once, so each needs its own), twice: the first round takes such errors, the second shows none left.
 */
async function healPool(): Promise<void> {
  const pool = t.app.database.sql;
  const round = () => Promise.allSettled(Array.from({ length: pool.options.max }, () => pool`select pg_sleep(0.02)`));
  await round();
  expect((await round()).filter((r) => r.status === 'rejected')).toEqual([]);
}

const lockBuys = (tx: postgres.TransactionSql) => tx`lock table media_buys in access exclusive mode`;
const buysWithKey = async (key: string) => (await sql`select count(*)::int as n from media_buys where idempotency_key = ${key}`)[0]!.n;

describe('a tool call whose database connection breaks', () => {
  beforeEach(healPool);

  it('a read runs again and answers', async () => {
    const { result, cut } = await cutUnder('sales-agent', lockBuys, () => call(buyer, 'get_media_buys', {}));
    expect(cut).toBeGreaterThan(0);
    expect(result.isError, JSON.stringify(result.data)).toBe(false);
    expect(Array.isArray(result.data.media_buys)).toBe(true);
  });

  it('a resource read runs again and answers', async () => {
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    const uri = `media-buy://${data.media_buy_id as string}`;
    const { result, cut } = await cutUnder('sales-agent', lockBuys, () => buyer.readResource({ uri }));
    expect(cut).toBeGreaterThan(0);
    expect(JSON.parse((result.contents[0] as { text: string }).text)).toMatchObject({ media_buy_id: data.media_buy_id });
  });

  it('a resource read that fails otherwise answers a generic error, never the failed SQL', async () => {
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    await sql`alter table media_buys rename to media_buys_away`;
    try {
      const err = await buyer.readResource({ uri: `media-buy://${data.media_buy_id as string}` }).then(
        () => undefined,
        (e: unknown) => e as McpError,
      );
      expect(err).toBeInstanceOf(McpError);
      expect(err!.code).toBe(ErrorCode.InternalError);
      expect(err!.message).toContain(INTERNAL_ERROR_MESSAGE);
      expect(err!.message).not.toMatch(/select|media_buys|Failed query/i);
    } finally {
      await sql`alter table media_buys_away rename to media_buys`;
    }
  });

  it('a create with an idempotency key runs again and makes the buy once', async () => {
    const req = buyRequest();
    const { result, cut } = await cutUnder('sales-agent', lockBuys, () => call(buyer, 'create_media_buy', req));
    expect(cut).toBeGreaterThan(0);
    expect(result.isError, JSON.stringify(result.data)).toBe(false);
    expect(result.data.media_buy_id).toMatch(/^mb_/);
    expect(result.data.replayed).toBeUndefined();
    expect(await buysWithKey(req.idempotency_key)).toBe(1);
  });
});

describe('a worker task whose database connection breaks', () => {
  it('runs again once the database answers: booked once, and the job attempt does not fail', async () => {
    await sql`delete from graphile_worker._private_jobs`;
    const { isError, data } = await call(buyer, 'create_media_buy', buyRequest());
    expect(isError, JSON.stringify(data)).toBe(false);
    const id = data.media_buy_id as string;
    const errors: string[] = [];
    // The buy's row is held: the task books at the ad server, then waits on it to record the booking.
    const { result: worker, cut } = await cutUnder('sales-agent-worker', (tx) => tx`select 1 from media_buys where id = ${id} for update`, async () => {
      const w = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 1 });
      w.events.on('job:error', ({ error }: { error: unknown }) => void errors.push(String(error)));
      return w;
    });
    try {
      expect(cut).toBe(1);
      await waitFor(async () => (await sql`select state from adapter_orders where media_buy_id = ${id}`)[0]?.state === 'booked', 10_000);
      // Asked twice (the run that was cut, and the one after), one order made.
      const orders = await sql`select calls from mock_ad_server.orders where idempotency_key like ${`${id}/%`}`;
      expect(orders.map((o) => o.calls)).toEqual([2]);
      await waitFor(async () => (await sql`select 1 from graphile_worker.jobs where key like ${`fulfil:${id}:%`}`).length === 0, 10_000);
      expect(errors).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});

describe('an adapter whose own database queries fail (the mock keeps its state in ours)', () => {
  it('is no verdict of the ad server: even on the last attempt the buy is not rejected, and the error goes up as it came', async () => {
    const { data } = await call(buyer, 'create_media_buy', buyRequest());
    const id = data.media_buy_id as string;
    const broken = new DrizzleQueryError('insert into "mock_ad_server"."orders"', [], Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
    const mock = createMockAdapter(t.app.database.db, {});
    const deps = { db: t.app.database.db, logger: createLogger('silent'), adapters: () => ({ ...mock, createOrder: () => Promise.reject(broken) }) };
    await expect(fulfilMediaBuy({ v: 1, tenant_id: 'demo', media_buy_id: id, adapter_config_id: 'adp_demo_mock' }, { attempts: 8, maxAttempts: 8 }, deps)).rejects.toBe(broken);
    const [buy] = await sql`select status from media_buys where id = ${id}`;
    expect(buy!.status).not.toBe('rejected');
    const parts = await sql`select state from adapter_orders where media_buy_id = ${id}`;
    expect(parts.filter((p) => p.state === 'failed')).toEqual([]);
  });
});
