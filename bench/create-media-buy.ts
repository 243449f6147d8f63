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
 *     [--warmup 200] [--worker-concurrency 16] [--database-url URL] [--port 0] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const SINGLE_CLIENT_CALLS = 300;
const RSS_SAMPLE_MS = 100;
const DRAIN_POLL_MS = 50;

// ---------------------------------------------------------------- options

const USAGE = `Usage: npx tsx bench/create-media-buy.ts [options]
  --clients N              concurrent client loops in the measured phase (default 32)
  --requests N             calls in the measured phase (default 2000)
  --adapter-latency-ms N   mock ad server latency per order, seeded into the demo tenant (default 0)
  --warmup N               unmeasured calls before measuring (default 200)
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
      warmup: { type: 'string', default: '200' },
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
    port: int('port', 0, 65535),
    workerConcurrency: int('worker-concurrency', 1, 256),
    workerProcesses: int('worker-processes', 0, 64),
    databaseUrl: values['database-url'] ?? process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    json: values.json === true,
  };
}
type Options = ReturnType<typeof parseOptions>;

function usageError(msg: string): never {
  process.stderr.write(`${msg}\n\n${USAGE}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nowNs = () => process.hrtime.bigint();
const nsToMs = (ns: bigint) => Number(ns) / 1e6;
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
/** Keeps passwords out of printed URLs. */
const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** Run `node dist/cli.js ...` to completion; reject with its output on failure. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`sales-agent ${args.join(' ')} exited with ${code}:\n${out}`))));
  });
}

function percentiles(samplesMs: number[]) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN);
  const r2 = (n: number) => Math.round(n * 100) / 100;
  return { count: s.length, p50: r2(at(50)), p95: r2(at(95)), p99: r2(at(99)), max: r2(s.at(-1) ?? NaN), mean: r2(s.reduce((a, b) => a + b, 0) / (s.length || 1)) };
}
type Stats = ReturnType<typeof percentiles>;

function readRssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined; // the process is gone, or no /proc (not Linux)
  }
}

// ---------------------------------------------------------------- the server child

interface Server {
  child: ChildProcess;
  url: string;
  /** Lines the server wrote to stderr (LOG_LEVEL=warn: warnings and errors). */
  logLines: string[];
  logLineCount(): number;
}

async function startServer(opts: Options, databaseUrl: string): Promise<Server> {
  // BENCH_SERVER_NODE_ARGS passes node flags to the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const noWorker = opts.workerProcesses > 0 ? ['--no-worker'] : [];
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--port', String(opts.port), '--host', '127.0.0.1', ...noWorker], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', SALES_AGENT_WORKER_CONCURRENCY: String(opts.workerConcurrency) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logLines: string[] = [];
  let logCount = 0;
  let stderrBuf = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderrBuf += d;
    const lines = stderrBuf.split('\n');
    stderrBuf = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      logCount++;
      if (logLines.length < 20) logLines.push(line);
    }
  });
  // The server prints "serving MCP at http://host:port/mcp" once it listens (port 0 resolved).
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s; stderr:\n${logLines.join('\n')}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /serving MCP at (http:\/\/\S+?)\/mcp/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited during start (code ${code}, signal ${signal}); stderr:\n${[...logLines, stderrBuf].join('\n')}`));
    });
    child.once('error', reject);
  });
  // Then wait for /healthz to answer 200 (it runs `select 1`).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`GET ${url}/healthz did not return 200 within 30 s (last status ${status})`);
    await sleep(100);
  }
  return { child, url, logLines, logLineCount: () => logCount };
}

/** A separate `sales-agent worker` process; resolves once it logs that it started. */
async function startWorkerProcess(opts: Options, databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', SALES_AGENT_WORKER_CONCURRENCY: String(opts.workerConcurrency) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`worker did not start within 60 s:\n${err}`)), 60_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-4000);
      if (err.includes('"worker started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited during start (code ${code}):\n${err}`)));
  });
  child.stderr!.resume();
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    log('server did not stop within 5 s of SIGTERM; sending SIGKILL');
    child.kill('SIGKILL');
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------- the client

interface CallResult {
  ok: boolean;
  ms: number;
  error?: string;
}

function flight() {
  const start = new Date(Date.now() + 24 * 3600_000);
  const end = new Date(start.getTime() + 30 * 24 * 3600_000);
  return { start_time: start.toISOString(), end_time: end.toISOString() };
}

/** One stateless JSON-RPC tools/call create_media_buy, as tests/helpers/app.ts buyRequest() builds it. */
function createBuyCaller(serverUrl: string, token: string, agent: http.Agent) {
  const target = new URL(`${serverUrl}/mcp`);
  const runId = randomBytes(4).toString('hex');
  let seq = 0;
  return function call(): Promise<CallResult> {
    const id = ++seq;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: {
        name: 'create_media_buy',
        arguments: {
          idempotency_key: `bench-${runId}-${id}`,
          account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
          brand: { domain: 'acme-drinks.example' },
          ...flight(),
          packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }],
        },
      },
    });
    const t0 = nowNs();
    return new Promise<CallResult>((resolve) => {
      const done = (error?: string) => resolve({ ok: error === undefined, ms: nsToMs(nowNs() - t0), error });
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            authorization: `Bearer ${token}`,
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => done(`response: ${e.message}`));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return done(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
            try {
              const msg = JSON.parse(text) as { error?: { message?: string }; result?: { isError?: boolean; structuredContent?: { media_buy_id?: string } } };
              if (msg.error) return done(`JSON-RPC error: ${msg.error.message}`);
              if (msg.result?.isError) return done(`tool error: ${JSON.stringify(msg.result.structuredContent).slice(0, 200)}`);
              if (!msg.result?.structuredContent?.media_buy_id) return done(`no media_buy_id: ${text.slice(0, 200)}`);
              done();
            } catch {
              done(`unparseable body: ${text.slice(0, 200)}`);
            }
          });
        },
      );
      req.on('error', (e) => done(`request: ${e.message}`));
      req.end(body);
    });
  };
}

interface PhaseResult {
  calls: number;
  errors: number;
  errorSamples: Record<string, number>;
  latencyMs: number[];
  wallMs: number;
}

/** `clients` loops pull from one shared counter until `total` calls have been made. */
async function runPhase(call: () => Promise<CallResult>, total: number, clients: number): Promise<PhaseResult> {
  const r: PhaseResult = { calls: 0, errors: 0, errorSamples: {}, latencyMs: [], wallMs: 0 };
  let next = 0;
  const loop = async () => {
    while (next < total) {
      next++;
      const res = await call();
      r.calls++;
      if (res.ok) r.latencyMs.push(res.ms);
      else {
        r.errors++;
        const key = res.error!.slice(0, 160);
        r.errorSamples[key] = (r.errorSamples[key] ?? 0) + 1;
      }
    }
  };
  const t0 = nowNs();
  await Promise.all(Array.from({ length: Math.min(clients, total) }, loop));
  r.wallMs = nsToMs(nowNs() - t0);
  return r;
}

// ---------------------------------------------------------------- fulfilment

interface Progress {
  buys: number;
  completed: number;
  failed: number;
}

async function fulfilmentProgress(db: postgres.Sql): Promise<Progress> {
  const [row] = await db<{ buys: string; completed: string; failed: string }[]>`
    select (select count(*) from media_buys) as buys,
           count(*) filter (where status = 'completed') as completed,
           count(*) filter (where status in ('failed', 'rejected', 'canceled')) as failed
    from workflow_steps where step_type = 'create_media_buy'`;
  return { buys: Number(row!.buys), completed: Number(row!.completed), failed: Number(row!.failed) };
}

/** Poll until every buy's create_media_buy step is completed (or has ended in failure). */
async function waitForFulfilment(db: postgres.Sql, timeoutMs: number): Promise<{ doneAtNs: bigint | undefined; last: Progress }> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const p = await fulfilmentProgress(db);
    if (p.completed + p.failed >= p.buys) return { doneAtNs: nowNs(), last: p };
    if (Date.now() > deadline) return { doneAtNs: undefined, last: p };
    if (Date.now() - lastReport > 10_000) {
      log(`  fulfilment: ${p.completed}/${p.buys} completed${p.failed ? `, ${p.failed} failed` : ''}`);
      lastReport = Date.now();
    }
    await sleep(DRAIN_POLL_MS);
  }
}

/** Generous upper bound for the worker to book `buys` orders. */
const drainTimeoutMs = (buys: number, o: Options) => 120_000 + Math.ceil((buys * o.adapterLatencyMs) / o.workerConcurrency);

// ---------------------------------------------------------------- main

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
/** Runs every registered cleanup once, newest first, whatever fails. */
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      await fn().catch((err) => log(`cleanup step failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  })());
}

async function main(): Promise<number> {
  const o = parseOptions();
  if (!existsSync(CLI)) {
    process.stderr.write(`${path.relative(process.cwd(), CLI) || CLI} not found. Build the server first: npm run build\n`);
    return 2;
  }

  // 1. A fresh database on the given server.
  const admin = postgres(o.databaseUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'sales-agent-bench' } });
  cleanups.push(() => admin.end({ timeout: 5 }));
  const dbName = `sa_bench_${randomBytes(6).toString('hex')}`;
  await admin`create database ${admin(dbName)}`;
  cleanups.push(async () => {
    await admin`drop database if exists ${admin(dbName)} with (force)`;
    log(`dropped database ${dbName}`);
  });
  const dbUrl = new URL(o.databaseUrl);
  dbUrl.pathname = `/${dbName}`;
  const databaseUrl = dbUrl.toString();
  log(`created database ${dbName} on ${redact(o.databaseUrl)}`);

  // 2. Migrate and seed with the built CLI.
  const token = `bench_${randomBytes(24).toString('base64url')}`;
  const cliEnv = { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' };
  await runCli(['migrate'], cliEnv);
  await runCli(['seed', 'demo', '--token', token, '--adapter-latency-ms', String(o.adapterLatencyMs)], cliEnv);
  log('migrated and seeded the demo tenant');

  const db = postgres(databaseUrl, { max: 2, onnotice: () => {}, connection: { application_name: 'sales-agent-bench' } });
  cleanups.push(() => db.end({ timeout: 5 }));

  // 3. The server.
  const server = await startServer(o, databaseUrl);
  cleanups.push(() => stopServer(server.child));
  const pid = server.child.pid!;
  log(`server pid ${pid} at ${server.url} (worker concurrency ${o.workerConcurrency})`);
  for (let i = 0; i < o.workerProcesses; i++) {
    const w = await startWorkerProcess(o, databaseUrl);
    cleanups.push(() => stopServer(w));
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
  const rssIdleMb = readRssMb(pid);

  // 5a. One client, for the uncontended latency.
  log(`1-client phase: ${SINGLE_CLIENT_CALLS} calls`);
  const single = await runPhase(call, SINGLE_CLIENT_CALLS, 1);
  await settle('1-client phase');

  // 5b. The measured phase, with RSS sampling (6).
  log(`measured phase: ${o.requests} calls, ${o.clients} clients`);
  let rssPeakMb = readRssMb(pid) ?? 0;
  const sampler = setInterval(() => (rssPeakMb = Math.max(rssPeakMb, readRssMb(pid) ?? 0)), RSS_SAMPLE_MS);
  cleanups.push(async () => clearInterval(sampler));
  const startNs = nowNs();
  const measured = await runPhase(call, o.requests, o.clients);
  const endNs = nowNs();
  clearInterval(sampler);
  rssPeakMb = Math.max(rssPeakMb, readRssMb(pid) ?? 0);

  // 7. Time until every buy is fulfilled.
  const atEnd = await fulfilmentProgress(db);
  const outstandingAtEnd = atEnd.buys - atEnd.completed - atEnd.failed;
  log(`waiting for fulfilment: ${outstandingAtEnd} of ${atEnd.buys} buys outstanding`);
  const { doneAtNs, last } = await waitForFulfilment(db, drainTimeoutMs(outstandingAtEnd, o));
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
      single_client_calls: SINGLE_CLIENT_CALLS,
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
  server_log_lines: number;
}

/** A server log line, shortened: JSON logs become "level msg: error message (cause)". */
function describeLogLine(line: string): string {
  try {
    const j = JSON.parse(line) as { level?: string; msg?: string; error?: { message?: string; cause?: { message?: string } } };
    const cause = j.error?.cause?.message ? ` (cause: ${j.error.cause.message})` : '';
    const err = j.error?.message ? `: ${j.error.message.split('\n')[0]!.slice(0, 200)}${cause}` : '';
    return `${j.level} ${j.msg}${err}`;
  } catch {
    return line;
  }
}

const round1 = (n: number | undefined) => (n === undefined ? null : Math.round(n * 10) / 10);
const round3 = (n: number) => Math.round(n * 1000) / 1000;

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
    `  server warn/error log lines: ${r.server_log_lines}`,
    ...server.logLines.slice(0, 5).map((l) => `    ${describeLogLine(l).slice(0, 400)}`),
    '',
  ];
  process.stdout.write(lines.filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n') + '\n');
}

// 9. Always clean up: on normal exit, on errors and on Ctrl-C. A Ctrl-C under
// `npx tsx` arrives twice within milliseconds (from the terminal and relayed by
// tsx), so only a second signal a moment later quits without cleaning up.
let interruptedAt = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interruptedAt) {
      if (Date.now() - interruptedAt > 1_000) process.exit(130);
      return;
    }
    interruptedAt = Date.now();
    log(`${sig}: cleaning up (press Ctrl-C again to quit at once)`);
    setTimeout(() => process.exit(130), 30_000).unref();
    cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(
    (code) => (process.exitCode = code),
    (err) => {
      if (!interruptedAt) log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    },
  )
  .finally(() => cleanup())
  .finally(() => {
    if (!interruptedAt) process.exit(process.exitCode ?? 0);
  });
