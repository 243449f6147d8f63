/**
 * Fulfilment throughput: buys per second reaching their final status with 1, 2
 * and 4 `sales-agent worker` processes (the scale-out topology: the server runs
 * with --no-worker).
 *
 * For each worker count: a fresh database, a server, and --buys create_media_buy
 * calls while no worker runs, so every fulfilment job waits in the queue. Their
 * jobs are then held back (run_at moved an hour ahead), the worker processes are
 * started and, once all of them are up, released at once (run_at = now() and a
 * jobs:insert nudge). The rate is buys / (time from the release until the last
 * buy's create_media_buy step is completed). Build first: `npm run build`.
 *
 *   npx tsx bench/fulfilment.ts [--buys 4000] [--workers 1,2,4] [--worker-concurrency 16]
 *     [--adapter-latency-ms 0] [--clients 32] [--database-url URL] [--json]
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import {
  CLI,
  cleanups,
  cpuBetween,
  createBenchDatabase,
  createBuyCaller,
  DEFAULT_DATABASE_URL,
  fulfilmentProgress,
  log,
  nowNs,
  nsToMs,
  runBench,
  runPhase,
  sampleCpu,
  startServer,
  startWorkerProcess,
  stopServer,
  waitForFulfilment,
} from './lib.js';

function parseOptions() {
  const { values } = parseArgs({
    options: {
      buys: { type: 'string', default: '4000' },
      workers: { type: 'string', default: '1,2,4' },
      'worker-concurrency': { type: 'string', default: '16' },
      'adapter-latency-ms': { type: 'string', default: '0' },
      clients: { type: 'string', default: '32' },
      'database-url': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const workers = values.workers.split(',').map(Number);
  if (workers.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new Error('--workers takes a list of counts from 1 to 16, e.g. 1,2,4');
  return {
    buys: Number(values.buys),
    workers,
    workerConcurrency: Number(values['worker-concurrency']),
    adapterLatencyMs: Number(values['adapter-latency-ms']),
    clients: Number(values.clients),
    databaseUrl: values['database-url'] ?? DEFAULT_DATABASE_URL,
    json: values.json === true,
  };
}

interface RunResult {
  worker_processes: number;
  buys: number;
  seconds: number;
  buys_per_s: number;
  completed: number;
  failed: number;
  /** CPU per buy from the release to the last completion: the worker processes, and the bench database's backends. */
  cpu_ms_per_buy: { workers: number; postgres: number };
}

async function runOnce(o: ReturnType<typeof parseOptions>, processes: number): Promise<RunResult> {
  const bench = await createBenchDatabase(o.databaseUrl, { adapterLatencyMs: o.adapterLatencyMs });
  const server = await startServer({ port: 0, workerConcurrency: o.workerConcurrency, noWorker: true }, bench.url);
  cleanups.push(() => stopServer(server.child));
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  const calls = await runPhase(createBuyCaller(server.url, bench.token, agent), o.buys, o.clients);
  agent.destroy();
  if (calls.errors > 0) throw new Error(`${calls.errors} create_media_buy calls failed: ${JSON.stringify(calls.errorSamples)}`);
  log(`${processes} worker(s): ${o.buys} buys queued in ${(calls.wallMs / 1000).toFixed(1)} s`);

  // Hold the jobs back while the workers start, so no worker gets a head start.
  await bench.sql`update graphile_worker._private_jobs set run_at = now() + interval '1 hour' where task_id = (select id from graphile_worker._private_tasks where identifier = 'fulfil_media_buy')`;
  const workers: ChildProcess[] = await Promise.all(Array.from({ length: processes }, () => startWorkerProcess(o, bench.url)));
  for (const w of workers) cleanups.push(() => stopServer(w));
  const cpuStart = await sampleCpu(bench.sql, bench.name, workers.map((w) => w.pid!));
  const t0 = nowNs();
  await bench.sql`update graphile_worker._private_jobs set run_at = now() where task_id = (select id from graphile_worker._private_tasks where identifier = 'fulfil_media_buy')`;
  await bench.sql`select pg_notify('jobs:insert', ${JSON.stringify({ count: o.buys })})`;
  const { doneAtNs, last } = await waitForFulfilment(bench.sql, 600_000);
  if (!doneAtNs) throw new Error(`${last.buys - last.completed - last.failed} buys still unfulfilled after 10 minutes`);
  const seconds = nsToMs(doneAtNs - t0) / 1000;
  const cpu = cpuBetween(cpuStart, await sampleCpu(bench.sql, bench.name, workers.map((w) => w.pid!)));
  const p = await fulfilmentProgress(bench.sql);
  await Promise.all([...workers.map(stopServer), stopServer(server.child)]);
  return { worker_processes: processes, buys: o.buys, seconds: Math.round(seconds * 1000) / 1000, buys_per_s: Math.round((o.buys / seconds) * 10) / 10, completed: p.completed, failed: p.failed,
    cpu_ms_per_buy: { workers: Math.round((cpu.server_ms / o.buys) * 100) / 100, postgres: Math.round((cpu.postgres_ms / o.buys) * 100) / 100 } };
}

async function main(): Promise<number> {
  const o = parseOptions();
  if (!existsSync(CLI)) {
    process.stderr.write('dist/cli.js not found. Build the server first: npm run build\n');
    return 2;
  }
  const results: RunResult[] = [];
  for (const n of o.workers) results.push(await runOnce(o, n));
  const lines = [
    '',
    `fulfilment throughput (${o.buys} queued buys, adapter latency ${o.adapterLatencyMs} ms, worker concurrency ${o.workerConcurrency}, ${process.version})`,
    '  worker processes   seconds    buys/s   completed  failed   CPU ms per buy: workers  postgres',
    ...results.map(
      (r) =>
        `  ${String(r.worker_processes).padStart(16)} ${r.seconds.toFixed(2).padStart(9)} ${r.buys_per_s.toFixed(1).padStart(9)} ${String(r.completed).padStart(11)} ${String(r.failed).padStart(7)}   ${r.cpu_ms_per_buy.workers.toFixed(2).padStart(22)} ${r.cpu_ms_per_buy.postgres.toFixed(2).padStart(9)}`,
    ),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  if (o.json) process.stdout.write(`${JSON.stringify({ adapter_latency_ms: o.adapterLatencyMs, worker_concurrency: o.workerConcurrency, results })}\n`);
  return results.every((r) => r.failed === 0) ? 0 : 1;
}

runBench(main);
