/**
 * Does create_media_buy's latency depend on the ad server's? Runs
 * bench/create-media-buy.ts with the mock adapter at 0 ms and at 2,000 ms,
 * alternating, --rounds times each, and prints every run and the medians of
 * p50/p99, calls/s and peak RSS per latency, with the 2,000-over-0 ratios.
 *
 * A fair comparison needs the worker to keep up in both cases: at 2,000 ms a
 * worker running 16 jobs at once books 8 buys/s, so it would idle through the
 * measured phase and leave the whole CPU to the calls, while at 0 ms it books
 * every buy as it comes. --worker-concurrency (default 2048) must be at least
 * calls/s x 2 s, so that both runs book every buy during the phase, the one
 * 2 s later. Alternating runs spreads this machine's drift over both sides.
 *
 *   npx tsx bench/adapter-latency.ts [--rounds 3] [--requests 6000] [--clients 32]
 *     [--worker-concurrency 2048] [--latencies 0,2000] [--database-url URL]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, log } from './lib.js';

const { values: o } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '6000' },
    clients: { type: 'string', default: '32' },
    'worker-concurrency': { type: 'string', default: '2048' },
    'worker-processes': { type: 'string', default: '0' },
    latencies: { type: 'string', default: '0,2000' },
    'database-url': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const latencies = o.latencies!.split(',').map(Number);
if (latencies.length !== 2 || latencies.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--latencies takes two whole numbers, e.g. 0,2000');

interface Run {
  latency: number;
  p50: number;
  p99: number;
  callsPerS: number;
  rssPeakMb: number;
  outstandingAtEnd: number;
  /** CPU ms per call during the measured phase: server (and worker) processes, Postgres. */
  serverCpu: number;
  pgCpu: number;
}

function runOnce(latency: number): Promise<Run> {
  const args = [
    path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
    path.join(ROOT, 'bench/create-media-buy.ts'),
    '--json',
    '--adapter-latency-ms', String(latency),
    '--requests', o.requests!,
    '--clients', o.clients!,
    '--worker-concurrency', o['worker-concurrency']!,
    '--worker-processes', o['worker-processes']!,
    ...(o['database-url'] ? ['--database-url', o['database-url']] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line);
        if (code !== 0) return reject(new Error(`run at ${latency} ms failed (exit ${code}):\n${out}`));
        resolve({
          latency,
          p50: r.latency_ms.n_clients.p50,
          p99: r.latency_ms.n_clients.p99,
          callsPerS: r.throughput_calls_per_s.n_clients,
          rssPeakMb: r.server_rss_mb.peak_during_measured,
          outstandingAtEnd: r.fulfilment.outstanding_at_end_of_calls,
          serverCpu: r.cpu_ms.measured_phase.server_ms / r.config.requests,
          pgCpu: r.cpu_ms.measured_phase.postgres_ms / r.config.requests,
        });
      } catch {
        reject(new Error(`run at ${latency} ms gave no result (exit ${code}):\n${out}`));
      }
    });
  });
}

const row = (r: Omit<Run, 'outstandingAtEnd'>) =>
  `${String(r.latency).padStart(10)} ${r.p50.toFixed(1).padStart(10)} ${r.p99.toFixed(1).padStart(10)} ${r.callsPerS.toFixed(1).padStart(10)} ${r.rssPeakMb.toFixed(1).padStart(13)}` +
  `   ${r.serverCpu.toFixed(2).padStart(19)} ${r.pgCpu.toFixed(2).padStart(9)}`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main() {
  const runs: Run[] = [];
  const rounds = Number(o.rounds);
  for (let i = 0; i < rounds; i++) {
    for (const latency of i % 2 ? [...latencies].reverse() : latencies) {
      log(`round ${i + 1}/${rounds}: adapter latency ${latency} ms`);
      const r = await runOnce(latency);
      runs.push(r);
      log(`  p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.callsPerS} calls/s, peak RSS ${r.rssPeakMb} MB`);
    }
  }
  const side = (latency: number) => {
    const mine = runs.filter((r) => r.latency === latency);
    return {
      latency,
      p50: median(mine.map((r) => r.p50)),
      p99: median(mine.map((r) => r.p99)),
      callsPerS: median(mine.map((r) => r.callsPerS)),
      rssPeakMb: Math.max(...mine.map((r) => r.rssPeakMb)),
      serverCpu: median(mine.map((r) => r.serverCpu)),
      pgCpu: median(mine.map((r) => r.pgCpu)),
    };
  };
  const [a, b] = latencies.map(side) as [ReturnType<typeof side>, ReturnType<typeof side>];
  const pct = (x: number, y: number) => `${(((y - x) / x) * 100).toFixed(1)} %`;
  const lines = [
    '',
    `create_media_buy vs adapter latency: ${rounds} alternating rounds, ${o.requests} calls with ${o.clients} clients, worker concurrency ${o['worker-concurrency']}` +
      (o['worker-processes'] !== '0' ? `, ${o['worker-processes']} worker process(es)` : ', worker in-process'),
    '  run  adapter ms     p50 ms     p99 ms    calls/s   peak RSS MB   CPU ms/call: server  postgres   unbooked at the last call',
    ...runs.map((r, i) => `  ${String(i + 1).padStart(3)}  ${row(r)}   ${r.outstandingAtEnd}`),
    '  median (RSS: max)',
    ...[a, b].map((s) => `       ${row(s)}`),
    `  ${b.latency} ms against ${a.latency} ms: p50 ${pct(a.p50, b.p50)}, p99 ${pct(a.p99, b.p99)}, calls/s ${pct(a.callsPerS, b.callsPerS)}, ` +
      `CPU per call: server ${pct(a.serverCpu, b.serverCpu)}, postgres ${pct(a.pgCpu, b.pgCpu)}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  if (o.json) process.stdout.write(`${JSON.stringify({ runs, median: [a, b] })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
