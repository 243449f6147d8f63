/**
 * Postgres goes away and comes back (a restart, a failover): the server and the
 * worker, each its own process, carry on by themselves. Jobs queued or running
 * when the database went down are fulfilled afterwards, each order booked once;
 * the server answers again, and its LISTEN is back, so a subscriber hears of
 * bookings made after the restart. Runs on its own embedded Postgres (the
 * shared one is not ours to restart). Needs `npm run build`.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/client.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { seedDemo } from '../../src/seed/demo.js';
import { buyRequest, rawCall, waitFor } from '../helpers/app.js';
import { killAll, startServer, startWorkerProcess, waitOn, type Proc } from '../helpers/processes.js';

const token = 'restart-test-token';
const logger = createLogger('silent');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

describe('a Postgres restart under a running server and worker', () => {
  let dir: string;
  let port: number;
  let pg: EmbeddedDatabase;
  let sql: postgres.Sql;
  let server: { proc: Proc; url: string };
  let worker: Proc;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sales-agent-pg-restart-'));
    port = await freePort();
    pg = await startEmbeddedPostgres(dir, logger, { port });
    await migrateDatabase(pg.url, logger);
    const d = connect(pg.url, { max: 1 });
    // Slow enough an ad server that bookings are in flight when the database stops.
    await seedDemo(d.db, { token, adapterLatencyMs: 800 });
    await d.close();
    sql = postgres(pg.url, { max: 2, onnotice: () => {} });
    server = await startServer('server', pg.url);
    worker = await startWorkerProcess('worker', pg.url, sql);
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await sql?.end({ timeout: 1 }).catch(() => {});
    await pg?.stop().catch(() => {});
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('loses no job and books no order twice; the server answers and pushes again', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const create = async () => {
      const r = await rawCall(server.url, 'create_media_buy', buyRequest(), auth);
      expect(r.status).toBe(200);
      expect(r.body.result?.isError).toBeFalsy();
      return (r.body.result!.structuredContent as { media_buy_id: string }).media_buy_id;
    };
    const before = await Promise.all(Array.from({ length: 12 }, create));
    // Let the worker pick them up: some are mid-booking at the ad server when Postgres stops.
    await waitOn(worker, async () => (await sql`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'fulfil_media_buy' and locked_at is not null`)[0]!.n > 0, 10_000);
    await sql.end({ timeout: 1 });
    await pg.stop();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503);
    await sleep(1_500);

    pg = await startEmbeddedPostgres(dir, logger, { port });
    sql = postgres(pg.url, { max: 2, onnotice: () => {} });
    // The server reconnects on its own.
    await waitFor(async () => (await fetch(`${server.url}/healthz`)).status === 200, 20_000, 100);

    // Its LISTEN is back: a subscriber hears of a booking made after the restart.
    const client = new Client({ name: 'restart-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: auth } }));
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    const after = await create();
    await client.subscribeResource({ uri: `media-buy://${after}` });

    // The same worker process fulfils everything, old and new, each order once.
    const ids = [...before, after];
    await waitOn(
      worker,
      async () => (await sql`select count(*)::int as n from workflow_steps where step_type = 'create_media_buy' and status = 'completed'`)[0]!.n === ids.length,
      60_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n-- the worker's log (end):\n${worker.stderr().slice(-6000)}`);
    });
    const booked = await sql<{ id: string }[]>`select media_buy_id as id from adapter_orders where state = 'booked'`;
    expect(booked.map((r) => r.id).sort()).toEqual([...ids].sort());
    const orders = await sql<{ n: number; calls: number }[]>`select count(*)::int as n, coalesce(max(calls), 0)::int as calls from mock_ad_server.orders`;
    expect(orders[0]!.n).toBe(ids.length);
    await waitFor(async () => updated.includes(`media-buy://${after}`), 10_000);
    await client.close();
    expect(worker.exited()).toBe(false);
    expect(server.proc.exited()).toBe(false);
  }, 120_000);
});
