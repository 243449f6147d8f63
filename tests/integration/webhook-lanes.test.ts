/**
 * Webhook deliveries to one buyer run in a few named queues (lanes), so a buyer whose receiver hangs holds
 * at most that many worker slots: other buyers' webhooks (and bookings) go on meanwhile.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueWebhook, webhookQueue, WEBHOOK_LANES } from '../../src/db/queries/webhooks.js';
import { newId } from '../../src/domain/ids.js';
import { webhookPayload } from '../../src/domain/webhooks.js';
import { startWorker } from '../../src/jobs/worker.js';
import { createLogger } from '../../src/logger.js';
import { addBuyer, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let sql: postgres.Sql;
let hanging: http.Server;
let answering: http.Server;
const url = (s: http.Server, path: string) => `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  await addBuyer(t, { id: 'prn_lanes_other', token: 'tok_lanes_other_buyer' });
  hanging = http.createServer(() => {}); // takes the request, never answers
  answering = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end()));
  await Promise.all([hanging, answering].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
});
afterAll(async () => {
  for (const s of [hanging, answering]) {
    s?.closeAllConnections();
    s?.close();
  }
  await sql?.end();
  await t?.close();
});

async function queue(principalId: string, taskId: string, to: string): Promise<string> {
  const id = newId('whd');
  await queueWebhook(t.app.database.db, { id, tenantId: 'demo', principalId, taskId, mediaBuyId: null, url: to, authentication: null, payload: webhookPayload({ taskId, taskType: 'create_media_buy', status: 'completed', url: to }), allowPrivateNetwork: true });
  return id;
}

describe('webhook lanes', () => {
  it('keeps a task’s deliveries in one lane, and a buyer’s in at most WEBHOOK_LANES', () => {
    expect(webhookQueue('prn_a', 'task_1')).toBe(webhookQueue('prn_a', 'task_1'));
    expect(new Set(Array.from({ length: 50 }, (_, i) => webhookQueue('prn_a', `task_${i}`))).size).toBe(WEBHOOK_LANES);
    expect(webhookQueue('prn_a', 'task_1')).not.toBe(webhookQueue('prn_b', 'task_1'));
  });

  it("holds a buyer whose receiver hangs to its lanes: another buyer's webhook goes out meanwhile", async () => {
    // More hanging deliveries than the worker has slots; more slots than one buyer's lanes.
    const hung = await Promise.all(Array.from({ length: 20 }, (_, i) => queue('prn_demo_buyer', `task_hang_${i}`, url(hanging, '/hang'))));
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: WEBHOOK_LANES * 2 });
    try {
      await waitFor(async () => (await sql`select count(*)::int as n from graphile_worker.jobs where locked_at is not null`)[0]!.n >= 1, 5_000);
      const started = Date.now();
      const other = await queue('prn_lanes_other', 'task_other_buyer', url(answering, '/ok'));
      await waitFor(async () => (await sql`select status from webhook_deliveries where id = ${other}`)[0]?.status === 'delivered', 15_000, 50);
      // Well within the 10 s a hanging attempt holds its slot.
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await sql`select count(*)::int as n from graphile_worker.jobs where locked_at is not null and key in ${sql(hung.map((id) => `webhook:${id}`))}`)[0]!.n).toBeLessThanOrEqual(WEBHOOK_LANES);
    } finally {
      hanging.closeAllConnections();
      await worker.stop();
    }
  }, 30_000);

  it('sends a lane’s next delivery as soon as the one before it is done, not at the next poll', async () => {
    // One task's deliveries share a lane, one at a time. With a poll a minute apart, only the lane's release can start each next one.
    // The hanging buyer's deliveries above go: they would come first in the worker's fetch and hold its slots.
    await sql`select graphile_worker.remove_job(key) from graphile_worker.jobs where queue_name like 'webhooks:prn_demo_buyer:%'`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await queue('prn_lanes_other', 'task_lane_in_turn', url(answering, `/turn/${i}`)));
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 4, pollInterval: 60_000 });
    try {
      await waitFor(async () => (await sql`select count(*)::int as n from webhook_deliveries where id in ${sql(ids)} and status = 'delivered'`)[0]!.n === ids.length, 15_000, 50);
    } finally {
      await worker.stop();
    }
  }, 40_000);
});
