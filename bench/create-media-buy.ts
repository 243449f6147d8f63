/**
 * Load benchmark for create_media_buy on the stateless HTTP hot path.
 *
 * It creates a throwaway database on an existing PostgreSQL server, migrates and
 * seeds it with the built CLI (dist/cli.js), starts `sales-agent serve` as a child
 * process (worker in-process) and fires tools/call create_media_buy requests at
 * POST /mcp over keep-alive connections: a warmup, a 1-client phase for baseline
 * latency, then the measured phase with --clients concurrent loops (the worker is
 * let finish each earlier phase's buys first, so phases do not overlap). It reports
 * latency percentiles, throughput, errors, the server's peak RSS and how long the
 * worker takes to fulfil (book at the mock ad server) every buy. The database and
 * the server are always torn down. Build first: `npm run build`.
 *
 *   npx tsx bench/create-media-buy.ts [--clients 32] [--requests 2000] [--adapter-latency-ms 0]
 *     [--warmup 2000] [--single-client-calls 1000] [--worker-concurrency 16] [--database-url URL] [--port 0] [--json]
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CLI,
  cleanups,
  cpuBetween,
  createBenchDatabase,
  createBuyCaller,
  DEFAULT_DATABASE_URL,
  describeLogLine,
  fulfilmentProgress,
  log,
  nowNs,
  nsToMs,
  percentiles,
  readRssMb,
  runBench,
  runPhase,
  sampleCpu,
  startServer,
  startWorkerProcess,
  stopServer,
  waitForFulfilment,
  type Server,
  type Stats,
} from './lib.js';

const RSS_SAMPLE_MS = 100;

// ---------------------------------------------------------------- options

const USAGE = `Usage: npx tsx bench/create-media-buy.ts [options]
  --clients N              concurrent client loops in the measured phase (default 32)
  --requests N             calls in the measured phase (default 2000)
  --adapter-latency-ms N   mock ad server latency per order, seeded into the demo tenant (default 0)
  --warmup N               unmeasured calls before measuring (default 2000: the server's JIT and caches
                           settle over the first ~2,000 calls; after 200, the 1-client p50 is 1-2 ms higher)
  --single-client-calls N  calls in the 1-client phase (default 1000)
  --worker-concurrency N   SALES_AGENT_WORKER_CONCURRENCY for each worker (default 16)
  --worker-processes N     0: the worker runs inside the server (default); N > 0: the server runs
                           with --no-worker and N separate \`sales-agent worker\` processes fulfil
  --database-url URL       admin URL of the PostgreSQL server (default $BENCH_DATABASE_URL
                           or postgres://postgres@127.0.0.1:5432/postgres)
  --port N                 server port (default 0: a free one)
  --json                   also print the result as one JSON line
Other server settings pass through the environment (e.g. SALES_AGENT_DB_POOL);
BENCH_SERVER_NODE_ARGS gives the server extra node flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '32' },
      requests: { type: 'string', default: '2000' },
      'adapter-latency-ms': { type: 'string', default: '0' },
      warmup: { type: 'string', default: '2000' },
      'single-client-calls': { type: 'string', default: '1000' },
      'database-url': { type: 'string' },
      port: { type: 'string', default: '0' },
      'worker-concurrency': { type: 'string', default: '16' },
      'worker-processes': { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name: keyof typeof values, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) usageError(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  return {
    clients: int('clients', 1, 10_000),
    requests: int('requests', 1),
    adapterLatencyMs: int('adapter-latency-ms', 0, 600_000),
    warmup: int('warmup', 0),
    singleClientCalls: int('single-client-calls', 1),
    port: int('port', 0, 65535),
    workerConcurrency: int('worker-concurrency', 1, 4096),
    workerProcesses: int('worker-processes', 0, 64),
    databaseUrl: values['database-url'] ?? DEFAULT_DATABASE_URL,
    json: values.json === true,
  };
}
type Options = ReturnType<typeof parseOptions>;

function usageError(msg: string): never {
  process.stderr.write(`${msg}\n\n${USAGE}\n`);
  process.exit(2);
}

const drainTimeoutMs = (buys: number, o: Options) => 120_000 + Math.ceil((buys * o.adapterLatencyMs) / o.workerConcurrency);

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const o = parseOptions();
  if (!existsSync(CLI)) {
    process.stderr.write(`${path.relative(process.cwd(), CLI) || CLI} not found. Build the server first: npm run build\n`);
    return 2;
  }

  // 1-2. A fresh database on the given server, migrated and seeded with the built CLI.
  const bench = await createBenchDatabase(o.databaseUrl, { adapterLatencyMs: o.adapterLatencyMs });
  const { url: databaseUrl, token, sql: db } = bench;

  // 3. The server.
  const server = await startServer({ ...o, noWorker: o.workerProcesses > 0 }, databaseUrl);
  cleanups.push(() => stopServer(server.child));
  const pid = server.child.pid!;
  const processPids = [pid];
  log(`server pid ${pid} at ${server.url} (worker concurrency ${o.workerConcurrency})`);
  for (let i = 0; i < o.workerProcesses; i++) {
    const w = await startWorkerProcess(o, databaseUrl);
    cleanups.push(() => stopServer(w));
    processPids.push(w.pid!);
    log(`worker process ${i + 1} pid ${w.pid}`);
  }

  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  cleanups.push(async () => agent.destroy());
  const call = createBuyCaller(server.url, token, agent);

  // 4. Warmup, then let its fulfilment finish so it does not overlap what is measured.
  const settle = async (what: string) => {
    const t0 = nowNs();
    const before = await fulfilmentProgress(db);
    const outstanding = before.buys - before.completed - before.failed;
    if (outstanding === 0) return;
    const { doneAtNs, last } = await waitForFulfilment(db, drainTimeoutMs(outstanding, o));
    if (!doneAtNs) throw new Error(`${what}: ${last.buys - last.completed - last.failed} buys still unfulfilled after the timeout`);
    log(`  ${what}: fulfilled ${outstanding} outstanding buys in ${(nsToMs(doneAtNs - t0) / 1000).toFixed(2)} s`);
  };
  if (o.warmup > 0) {
    log(`warmup: ${o.warmup} calls, ${o.clients} clients`);
    const w = await runPhase(call, o.warmup, o.clients);
    if (w.errors) log(`  warmup had ${w.errors} errors: ${JSON.stringify(w.errorSamples)}`);
    if (w.errors === w.calls) throw new Error(`every warmup call failed; first server log lines:\n${server.logLines.slice(0, 3).map(describeLogLine).join('\n')}`);
    await settle('warmup');
  }
  // A fresh database has no planner statistics; in a running system autovacuum gathers them within its
  // naptime (a minute), sooner than these phases last. Without them the first plans can scan a whole tenant.
  // Graphile Worker's queue is left alone: analysed now, while it is empty, it would be planned as empty
  // whatever it holds later (see bench/README.md).
  const ours = await db<{ t: string }[]>`
    select format('%I.%I', schemaname, relname) as t from pg_stat_user_tables where schemaname <> 'graphile_worker'`;
  await db.unsafe(`analyze ${ours.map((r) => r.t).join(', ')}`);
  const rssIdleMb = readRssMb(pid);

  // 5a. One client, for the uncontended latency.
  log(`1-client phase: ${o.singleClientCalls} calls`);
  const single = await runPhase(call, o.singleClientCalls, 1);
  await settle('1-client phase');

  // 5b. The measured phase, with RSS sampling (6).
  log(`measured phase: ${o.requests} calls, ${o.clients} clients`);
  let rssPeakMb = readRssMb(pid) ?? 0;
  const sampler = setInterval(() => (rssPeakMb = Math.max(rssPeakMb, readRssMb(pid) ?? 0)), RSS_SAMPLE_MS);
  cleanups.push(async () => clearInterval(sampler));
  const cpuStart = await sampleCpu(db, bench.name, processPids);
  const startNs = nowNs();
  const measured = await runPhase(call, o.requests, o.clients);
  const endNs = nowNs();
  const cpuEnd = await sampleCpu(db, bench.name, processPids);
  clearInterval(sampler);
  rssPeakMb = Math.max(rssPeakMb, readRssMb(pid) ?? 0);

  // 7. Time until every buy is fulfilled.
  const atEnd = await fulfilmentProgress(db);
  const outstandingAtEnd = atEnd.buys - atEnd.completed - atEnd.failed;
  log(`waiting for fulfilment: ${outstandingAtEnd} of ${atEnd.buys} buys outstanding`);
  const { doneAtNs, last } = await waitForFulfilment(db, drainTimeoutMs(outstandingAtEnd, o));
  const cpuDrained = await sampleCpu(db, bench.name, processPids);
  const [retryRow] = await db<{ n: string }[]>`select count(*) as n from adapter_orders where attempts > 1`;
  const rssAfterMb = readRssMb(pid);

  // 8. Report.
  const measuredBuys = o.requests - measured.errors;
  const singleStats = percentiles(single.latencyMs);
  const multiStats = percentiles(measured.latencyMs);
  const result: BenchResult = {
    config: {
      clients: o.clients,
      requests: o.requests,
      warmup: o.warmup,
      single_client_calls: o.singleClientCalls,
      adapter_latency_ms: o.adapterLatencyMs,
      worker_concurrency: o.workerConcurrency,
      worker_processes: o.workerProcesses,
      server_db_pool: Number(process.env.SALES_AGENT_DB_POOL || 10),
      node: process.version,
    },
    latency_ms: { one_client: singleStats, n_clients: multiStats },
    throughput_calls_per_s: {
      one_client: Math.round((single.calls / (single.wallMs / 1000)) * 10) / 10,
      n_clients: Math.round((measured.calls / (measured.wallMs / 1000)) * 10) / 10,
    },
    measured_wall_s: Math.round(measured.wallMs) / 1000,
    errors: { one_client: single.errors, n_clients: measured.errors, samples: { ...single.errorSamples, ...measured.errorSamples } },
    server_rss_mb: { after_warmup: round1(rssIdleMb), peak_during_measured: round1(rssPeakMb), after_drain: round1(rssAfterMb) },
    fulfilment: {
      buys_total: last.buys,
      outstanding_at_end_of_calls: outstandingAtEnd,
      completed: last.completed,
      failed: last.failed,
      retried_orders: Number(retryRow?.n ?? 0),
      all_done: doneAtNs !== undefined,
      drain_after_last_call_s: doneAtNs ? round3(nsToMs(doneAtNs - endNs) / 1000) : null,
      done_after_phase_start_s: doneAtNs ? round3(nsToMs(doneAtNs - startNs) / 1000) : null,
      buys_per_s: doneAtNs ? Math.round((measuredBuys / (nsToMs(doneAtNs - startNs) / 1000)) * 10) / 10 : null,
      drain_buys_per_s: doneAtNs && outstandingAtEnd > 0 ? Math.round((outstandingAtEnd / (nsToMs(doneAtNs - endNs) / 1000)) * 10) / 10 : null,
    },
    cpu_ms: { measured_phase: cpuBetween(cpuStart, cpuEnd), phase_and_drain: cpuBetween(cpuStart, cpuDrained) },
    server_log_lines: server.logLineCount(),
  };
  printSummary(result, server);
  if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  return measured.errors + single.errors > 0 || doneAtNs === undefined ? 1 : 0;
}

interface BenchResult {
  config: { clients: number; requests: number; warmup: number; single_client_calls: number; adapter_latency_ms: number; worker_concurrency: number; worker_processes: number; server_db_pool: number; node: string };
  latency_ms: { one_client: Stats; n_clients: Stats };
  throughput_calls_per_s: { one_client: number; n_clients: number };
  measured_wall_s: number;
  errors: { one_client: number; n_clients: number; samples: Record<string, number> };
  server_rss_mb: { after_warmup: number | null; peak_during_measured: number | null; after_drain: number | null };
  fulfilment: {
    buys_total: number;
    outstanding_at_end_of_calls: number;
    completed: number;
    failed: number;
    retried_orders: number;
    all_done: boolean;
    drain_after_last_call_s: number | null;
    done_after_phase_start_s: number | null;
    /** Buys of the measured phase over (all fulfilled - phase start). */
    buys_per_s: number | null;
    /** Buys outstanding at the last call over (all fulfilled - last call). */
    drain_buys_per_s: number | null;
  };
  /** CPU time used by the server (and worker) processes, the database's backends and the bench's clients. */
  cpu_ms: { measured_phase: CpuSplit; phase_and_drain: CpuSplit };
  server_log_lines: number;
}
type CpuSplit = ReturnType<typeof cpuBetween>;

/** A server log line, shortened: JSON logs become "level msg: error message (cause)". */
const round1 = (n: number | undefined) => (n === undefined ? null : Math.round(n * 10) / 10);
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const cpuRow = (label: string, cpu: CpuSplit, buys: number) =>
  `    ${label.padEnd(14)}${[cpu.server_ms, cpu.postgres_ms, cpu.client_ms].map((ms) => (ms / buys).toFixed(2).padStart(9)).join(' ')}     (${((cpu.server_ms + cpu.postgres_ms + cpu.client_ms) / 1000).toFixed(1)} s in all)`;

function printSummary(r: BenchResult, server: Server): void {
  const c = r.config;
  const { one_client: single, n_clients: multi } = r.latency_ms;
  const f = r.fulfilment;
  const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-').padStart(9);
  const row = (label: string, s: Stats, tput: number) => `  ${label.padEnd(12)}${fmt(s.p50)}${fmt(s.p95)}${fmt(s.p99)}${fmt(s.max)}${fmt(s.mean)}   ${tput.toFixed(1).padStart(8)} calls/s  (${s.count} ok)`;
  const lines = [
    '',
    'create_media_buy benchmark (stateless POST /mcp, keep-alive)',
    `  config: ${c.requests} calls with ${c.clients} clients after ${c.warmup} warmup; ${c.single_client_calls} calls with 1 client`,
    `          adapter latency ${c.adapter_latency_ms} ms, ${c.worker_processes ? `${c.worker_processes} worker process(es)` : 'worker in-process'}, concurrency ${c.worker_concurrency}, server DB pool ${c.server_db_pool}, ${c.node}`,
    '',
    `  latency ms        p50      p95      p99      max     mean   throughput`,
    row('1 client', single, r.throughput_calls_per_s.one_client),
    row(`${c.clients} clients`, multi, r.throughput_calls_per_s.n_clients),
    `  measured phase wall time: ${r.measured_wall_s.toFixed(3)} s`,
    `  errors: ${r.errors.n_clients} of ${c.requests} (${c.clients} clients), ${r.errors.one_client} of ${c.single_client_calls} (1 client)`,
    ...Object.entries(r.errors.samples as Record<string, number>).map(([msg, n]) => `    ${n} x ${msg}`),
    `  server RSS: ${r.server_rss_mb.after_warmup} MB after warmup, peak ${r.server_rss_mb.peak_during_measured} MB during the measured phase, ${r.server_rss_mb.after_drain} MB after the drain`,
    '',
    `  fulfilment (create_media_buy step completed): ${f.outstanding_at_end_of_calls} of ${f.buys_total} buys outstanding when the last call returned`,
    f.all_done
      ? `    all fulfilled ${f.drain_after_last_call_s?.toFixed(3)} s after the last call (${f.done_after_phase_start_s?.toFixed(3)} s after the phase started)`
      : `    TIMED OUT: ${f.buys_total - f.completed - f.failed} buys still unfulfilled`,
    f.all_done ? `    rate: ${f.buys_per_s} buys/s over the phase${f.drain_buys_per_s !== null ? `, ${f.drain_buys_per_s} buys/s while draining` : ''}` : '',
    `    completed ${f.completed}, failed ${f.failed}, orders that needed a retry ${f.retried_orders}`,
    '',
    `  CPU ms per buy     server  postgres  bench client   (${r.config.worker_processes ? 'server + worker processes' : 'server with its worker'}; backends of the bench database)`,
    cpuRow('calls', r.cpu_ms.measured_phase, c.requests),
    cpuRow('calls + drain', r.cpu_ms.phase_and_drain, c.requests),
    ...(c.worker_processes
      ? [`    of the server column, the worker processes: ${(r.cpu_ms.measured_phase.worker_ms / c.requests).toFixed(2)} (calls), ${(r.cpu_ms.phase_and_drain.worker_ms / c.requests).toFixed(2)} (calls + drain)`]
      : []),
    `  server warn/error log lines: ${r.server_log_lines}`,
    ...server.logLines.slice(0, 5).map((l) => `    ${describeLogLine(l).slice(0, 400)}`),
    '',
  ];
  process.stdout.write(lines.filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n') + '\n');
}

runBench(main);
