/**
 * A worker process killed after its pool took jobs but before its first
 * heartbeat leaves those jobs locked by a pool id no heartbeat row names
 * (Graphile Worker itself would free them only after 4 hours). A running
 * worker frees them once they have been locked for the stale time, and leaves
 * alone the jobs of pools that beat, and jobs locked only moments ago.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** Queue a no-op job (the demo tenant has no Slack) and lock it as pool `poolId` did `ago` before now. */
async function lockedJob(key: string, poolId: string, ago: string): Promise<void> {
  await sql`select graphile_worker.add_job('notify_slack', ${sql.json({ v: 1, tenant_id: 'demo', event: 'approval_required', media_buy_id: `mb_${key}` })}::json, job_key => ${key})`;
  await sql`update graphile_worker._private_jobs set locked_by = ${poolId}, locked_at = now() - ${ago}::interval, attempts = 1 where key = ${key}`;
}
const jobState = async (key: string) => (await sql<{ locked_by: string | null }[]>`select locked_by from graphile_worker.jobs where key = ${key}`)[0];

describe('jobs of a worker that died before its first heartbeat', () => {
  it('are freed and run by a live worker; jobs of beating pools and fresh locks are left alone', async () => {
    await sql`insert into worker_heartbeats (pool_id, hostname, pid) values ('pool-alive', 'elsewhere', 1)`;
    await lockedJob('orphan', 'pool-never-beat', '1 hour');
    await lockedJob('alive', 'pool-alive', '1 hour');
    await lockedJob('fresh', 'pool-just-started', '0 seconds');
    const worker = await startWorker({ database: t.app.database, logger: createLogger('silent'), concurrency: 1, heartbeat: { intervalMs: 100, staleMs: 60_000 } });
    try {
      // The orphan is freed at the worker's first beat and then runs (done: the row is gone).
      await waitFor(async () => (await jobState('orphan')) === undefined, 10_000);
      expect(await jobState('alive')).toEqual({ locked_by: 'pool-alive' });
      expect(await jobState('fresh')).toEqual({ locked_by: 'pool-just-started' });
    } finally {
      await worker.stop();
    }
  });
});
