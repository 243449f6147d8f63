/**
 * The worker's vacuum of Graphile Worker's job table (src/jobs/queue-vacuum.ts),
 * in a database of its own: statistics other tests' jobs flush late would move
 * the dead-row counts these tests read.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_TABLE, queueVacuumCheck } from '../../src/jobs/queue-vacuum.js';
import { startWorker } from '../../src/jobs/worker.js';
import { createLogger } from '../../src/logger.js';
import { startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let sql: postgres.Sql;

beforeAll(async () => {
  t = await startTestApp({ worker: false });
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await t?.close();
});

describe('job queue vacuum', () => {
  // Only our vacuums count (vacuum_count); autovacuum, on in an embedded Postgres, is kept off the table.
  beforeAll(async () => {
    await sql.unsafe(`alter table ${QUEUE_TABLE} set (autovacuum_enabled = false)`);
  });
  const stats = async () =>
    (await sql`select vacuum_count::int as n, n_dead_tup::int as dead from pg_stat_user_tables where relid = to_regclass(${QUEUE_TABLE})`)[0]! as unknown as { n: number; dead: number };
  /** Leaves `n` dead rows in the job table (jobs of a task no worker runs, queued then deleted) and flushes the statistics. */
  const churn = async (n: number) => {
    const c = await sql.reserve();
    try {
      await c`select count(*) from graphile_worker.add_jobs(array(
        select row('queue_vacuum_probe', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, ${n}::int)))`;
      await c`delete from graphile_worker._private_jobs where task_id = (select id from graphile_worker._private_tasks where identifier = 'queue_vacuum_probe')`;
      await c`select pg_stat_force_next_flush()`;
      await c`select 1`;
    } finally {
      c.release();
    }
  };

  it('vacuums once the threshold of rows died since the last vacuum, and backs off from rows it cannot remove', async () => {
    await sql.unsafe(`vacuum ${QUEUE_TABLE}`);
    const check = queueVacuumCheck(sql, 40);
    const start = await stats();
    await churn(39);
    await waitFor(async () => (await stats()).dead >= 39);
    expect(await check()).toBe(false);
    expect((await stats()).n).toBe(start.n);
    await churn(1);
    await waitFor(async () => (await stats()).dead >= 40);
    expect(await check()).toBe(true);
    expect(await stats()).toEqual({ n: start.n + 1, dead: 0 });

    // An open snapshot keeps rows that died after it: the vacuum leaves them, and the next check does not try again.
    const reader = await sql.reserve();
    try {
      await reader`begin isolation level repeatable read`;
      await reader`select count(*) from graphile_worker._private_jobs`;
      await churn(40);
      await waitFor(async () => (await stats()).dead >= 40);
      expect(await check()).toBe(true);
      expect(await stats()).toEqual({ n: start.n + 2, dead: 40 });
      expect(await check()).toBe(false);
      await reader`commit`;
    } finally {
      reader.release();
    }
    await churn(40);
    await waitFor(async () => (await stats()).dead >= 80);
    expect(await check()).toBe(true);
    expect(await stats()).toEqual({ n: start.n + 3, dead: 0 });
  });

  it('is done by a running worker as jobs churn', async () => {
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 1, queueVacuum: { intervalMs: 50, deadRows: 30 } });
    try {
      const before = await stats();
      await churn(30);
      await waitFor(async () => (await stats()).n > before.n);
    } finally {
      await worker.stop();
    }
  });
});
