/**
 * What the benchmarks share: a throwaway database on an existing PostgreSQL
 * server (migrated and seeded with the built CLI), the server and worker child
 * processes, a keep-alive create_media_buy caller on the stateless HTTP path,
 * fulfilment progress, percentiles, and clean-up that runs on exit, error or Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { postgresTarget } from '../src/db/client.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
/** One key per bench run, shared by its server and worker processes. */
const BENCH_SECRET_KEY = randomBytes(32).toString('base64');

/** Node flags of `npm start` (package.json) and the Docker image (NODE_OPTIONS): a smaller young generation. */
export const SERVER_NODE_ARGS = '--max-semi-space-size=8 --max-old-space-size=192';
export const DEFAULT_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// ---------------------------------------------------------------- helpers

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const nowNs = () => process.hrtime.bigint();
export const nsToMs = (ns: bigint) => Number(ns) / 1e6;
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
/** Keeps passwords out of printed URLs. */
export const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** Run `node dist/cli.js ...` to completion; reject with its output on failure. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { SALES_AGENT_SECRET_KEY: BENCH_SECRET_KEY, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`sales-agent ${args.join(' ')} exited with ${code}:\n${out}`))));
  });
}

export function percentiles(samplesMs: number[]) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN);
  const r2 = (n: number) => Math.round(n * 100) / 100;
  return { count: s.length, p50: r2(at(50)), p95: r2(at(95)), p99: r2(at(99)), max: r2(s.at(-1) ?? NaN), mean: r2(s.reduce((a, b) => a + b, 0) / (s.length || 1)) };
}
export type Stats = ReturnType<typeof percentiles>;

export function readRssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined; // the process is gone, or no /proc (not Linux)
  }
}

/** CPU time (user + system, ms) process pid has used so far, from /proc/<pid>/stat; undefined once it is gone. */
export function readCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S; // utime, stime
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS_PER_S = 100; // USER_HZ, 100 on every Linux this runs on

export interface CpuSample {
  /** The server and worker processes, summed. */
  server: number;
  /** The worker processes alone (the pids after the first), when the worker runs apart. */
  workers: number;
  /** PostgreSQL backends connected to the bench database, by pid. */
  backends: Map<number, number>;
  /** This bench process (the clients). */
  client: number;
}

/** Where the CPU goes: the server (and worker) processes, the database's backends, the bench's clients. */
export async function sampleCpu(db: postgres.Sql, dbName: string, pids: number[]): Promise<CpuSample> {
  const rows = await db<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${dbName}`;
  const backends = new Map<number, number>();
  for (const { pid } of rows) {
    const ms = readCpuMs(pid);
    if (ms !== undefined) backends.set(pid, ms);
  }
  const usage = process.cpuUsage();
  const ms = pids.map((pid) => readCpuMs(pid) ?? 0);
  return { server: ms.reduce((a, b) => a + b, 0), workers: ms.slice(1).reduce((a, b) => a + b, 0), backends, client: (usage.user + usage.system) / 1000 };
}

/** CPU ms used between two samples (backends that exited in between are not counted). */
export function cpuBetween(a: CpuSample, b: CpuSample): { server_ms: number; worker_ms: number; postgres_ms: number; client_ms: number } {
  let pg = 0;
  for (const [pid, ms] of b.backends) pg += ms - (a.backends.get(pid) ?? 0);
  return { server_ms: Math.round(b.server - a.server), worker_ms: Math.round(b.workers - a.workers), postgres_ms: Math.round(pg), client_ms: Math.round(b.client - a.client) };
}


// ---------------------------------------------------------------- the database

export interface BenchDatabase {
  name: string;
  url: string;
  /** The demo buyer's token. */
  token: string;
  /** A small pool on the bench database, for progress queries. */
  sql: postgres.Sql;
}

/** Create sa_bench_<random> on the server at adminUrl, migrate it and seed the demo tenant; dropped at clean-up. */
export async function createBenchDatabase(adminUrl: string, seed: { adapterLatencyMs: number }): Promise<BenchDatabase> {
  const adminTarget = postgresTarget(adminUrl);
  const admin = postgres(adminTarget.url, { max: 1, onnotice: () => {}, connection: { application_name: 'sales-agent-bench' }, ...(adminTarget.host && { host: adminTarget.host }) });
  cleanups.push(() => admin.end({ timeout: 5 }));
  const name = `sa_bench_${randomBytes(6).toString('hex')}`;
  await admin`create database ${admin(name)}`;
  cleanups.push(async () => {
    if (process.env.BENCH_KEEP_DB) {
      log(`kept database ${name}`);
      return;
    }
    await admin`drop database if exists ${admin(name)} with (force)`;
    log(`dropped database ${name}`);
  });
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  log(`created database ${name} on ${redact(adminUrl)}`);
  const token = `bench_${randomBytes(24).toString('base64url')}`;
  const env = { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' };
  await runCli(['migrate'], env);
  await runCli(['seed', 'demo', '--token', token, '--adapter-latency-ms', String(seed.adapterLatencyMs)], env);
  log('migrated and seeded the demo tenant');
  const target = postgresTarget(url);
  const sql = postgres(target.url, { max: 2, onnotice: () => {}, connection: { application_name: 'sales-agent-bench' }, ...(target.host && { host: target.host }) });
  cleanups.push(() => sql.end({ timeout: 5 }));
  return { name, url, token, sql };
}

// ---------------------------------------------------------------- server and worker processes

export interface ServerOptions {
  port: number;
  workerConcurrency: number;
  /** Serve with --no-worker (workers run as separate processes). */
  noWorker?: boolean;
  env?: Record<string, string>;
}

export interface Server {
  child: ChildProcess;
  url: string;
  /** Lines the server wrote to stderr (LOG_LEVEL=warn: warnings and errors). */
  logLines: string[];
  logLineCount(): number;
}

export async function startServer(opts: ServerOptions, databaseUrl: string): Promise<Server> {
  // The server runs with the node flags `npm start` and the Docker image use (SERVER_NODE_ARGS);
  // BENCH_SERVER_NODE_ARGS replaces them, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? SERVER_NODE_ARGS).split(/\s+/).filter(Boolean);
  const noWorker = opts.noWorker ? ['--no-worker'] : [];
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--port', String(opts.port), '--host', '127.0.0.1', ...noWorker], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      SALES_AGENT_WORKER_CONCURRENCY: String(opts.workerConcurrency),
      // As a deployment runs: secrets sealed at rest (and no start-up warning about it).
      SALES_AGENT_SECRET_KEY: process.env.SALES_AGENT_SECRET_KEY ?? BENCH_SECRET_KEY,
      ...opts.env,
    },
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
export async function startWorkerProcess(opts: Pick<ServerOptions, 'workerConcurrency'>, databaseUrl: string): Promise<ChildProcess> {
  // BENCH_WORKER_NODE_ARGS replaces the worker's node flags, as BENCH_SERVER_NODE_ARGS does the server's.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? SERVER_NODE_ARGS).split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', SALES_AGENT_WORKER_CONCURRENCY: String(opts.workerConcurrency), SALES_AGENT_SECRET_KEY: process.env.SALES_AGENT_SECRET_KEY ?? BENCH_SECRET_KEY },
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

export async function stopServer(child: ChildProcess): Promise<void> {
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

export function describeLogLine(line: string): string {
  try {
    const j = JSON.parse(line) as { level?: string; msg?: string; error?: { message?: string; cause?: { message?: string } } };
    const cause = j.error?.cause?.message ? ` (cause: ${j.error.cause.message})` : '';
    const err = j.error?.message ? `: ${j.error.message.split('\n')[0]!.slice(0, 200)}${cause}` : '';
    return `${j.level} ${j.msg}${err}`;
  } catch {
    return line;
  }
}

// ---------------------------------------------------------------- the client

export interface CallResult {
  ok: boolean;
  ms: number;
  error?: string;
  mediaBuyId?: string;
}

export function flight() {
  const start = new Date(Date.now() + 24 * 3600_000);
  const end = new Date(start.getTime() + 30 * 24 * 3600_000);
  return { start_time: start.toISOString(), end_time: end.toISOString() };
}

/** One stateless JSON-RPC tools/call create_media_buy, as tests/helpers/app.ts buyRequest() builds it. */
export interface RpcResult {
  ok: boolean;
  ms: number;
  error?: string;
  result?: { isError?: boolean; structuredContent?: Record<string, unknown> };
}

/** JSON-RPC over stateless POST /mcp on keep-alive connections; a JSON-RPC error or a tool error is not ok. */
export function createRpcCaller(serverUrl: string, token: string, agent: http.Agent) {
  const target = new URL(`${serverUrl}/mcp`);
  let seq = 0;
  return function rpc(method: string, params?: unknown): Promise<RpcResult> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: ++seq, method, ...(params !== undefined && { params }) });
    const t0 = nowNs();
    return new Promise<RpcResult>((resolve) => {
      const done = (error?: string, result?: RpcResult['result']) => resolve({ ok: error === undefined, ms: nsToMs(nowNs() - t0), error, result });
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
              const msg = JSON.parse(text) as { error?: { message?: string }; result?: RpcResult['result'] };
              if (msg.error) return done(`JSON-RPC error: ${msg.error.message}`);
              if (msg.result?.isError) return done(`tool error: ${JSON.stringify(msg.result.structuredContent).slice(0, 200)}`);
              done(undefined, msg.result);
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

/** A caller that books one buy per call, each under its own idempotency key. */
export function createBuyCaller(serverUrl: string, token: string, agent: http.Agent) {
  const rpc = createRpcCaller(serverUrl, token, agent);
  const runId = randomBytes(4).toString('hex');
  let seq = 0;
  return async function call(): Promise<CallResult> {
    const r = await rpc('tools/call', {
      name: 'create_media_buy',
      arguments: {
        idempotency_key: `bench-${runId}-${++seq}`,
        account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
        brand: { domain: 'acme-drinks.example' },
        ...flight(),
        packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }],
      },
    });
    if (!r.ok) return { ok: false, ms: r.ms, error: r.error };
    const mediaBuyId = r.result?.structuredContent?.media_buy_id;
    if (typeof mediaBuyId !== 'string') return { ok: false, ms: r.ms, error: `no media_buy_id: ${JSON.stringify(r.result).slice(0, 200)}` };
    return { ok: true, ms: r.ms, mediaBuyId };
  };
}

export interface PhaseResult {
  calls: number;
  errors: number;
  errorSamples: Record<string, number>;
  latencyMs: number[];
  wallMs: number;
}

/** `clients` loops pull from one shared counter until `total` calls have been made. */
export async function runPhase(call: () => Promise<CallResult>, total: number, clients: number): Promise<PhaseResult> {
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

export interface Progress {
  buys: number;
  completed: number;
  failed: number;
}

export async function fulfilmentProgress(db: postgres.Sql): Promise<Progress> {
  const [row] = await db<{ buys: string; completed: string; failed: string }[]>`
    select (select count(*) from media_buys) as buys,
           count(*) filter (where status = 'completed') as completed,
           count(*) filter (where status in ('failed', 'rejected', 'canceled')) as failed
    from workflow_steps where step_type = 'create_media_buy'`;
  return { buys: Number(row!.buys), completed: Number(row!.completed), failed: Number(row!.failed) };
}

/** Poll until every buy's create_media_buy step is completed (or has ended in failure). */
export async function waitForFulfilment(db: postgres.Sql, timeoutMs: number): Promise<{ doneAtNs: bigint | undefined; last: Progress }> {
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
    await sleep(50);
  }
}

/** Generous upper bound for the worker to book `buys` orders. */
// ---------------------------------------------------------------- clean-up

export const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
/** Runs every registered cleanup once, newest first, whatever fails. */
export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      await fn().catch((err) => log(`cleanup step failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  })());
}

// Always clean up: on normal exit, on errors and on Ctrl-C. A Ctrl-C under
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

export function runBench(main: () => Promise<number>): void {
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
}
