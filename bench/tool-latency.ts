/**
 * One client, one call at a time: the latency of `ping` (the HTTP and JSON-RPC
 * floor), the discovery tools and create_media_buy, over stateless POST /mcp
 * with keep-alive, against a fresh database and `sales-agent serve`.
 *
 *   npx tsx bench/tool-latency.ts [--calls 500] [--warmup 100] [--no-worker | --worker-processes N] [--database-url URL]
 *
 * --no-worker serves without the in-process worker (nothing fulfils the buys),
 * to see what fulfilment adds to create_media_buy; --worker-processes N fulfils
 * in N separate `sales-agent worker` processes instead.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { cleanups, createBenchDatabase, createBuyCaller, createRpcCaller, DEFAULT_DATABASE_URL, log, percentiles, runBench, startServer, startWorkerProcess, stopServer } from './lib.js';

const { values: o } = parseArgs({
  options: {
    calls: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '100' },
    'no-worker': { type: 'boolean', default: false },
    'worker-processes': { type: 'string', default: '0' },
    'database-url': { type: 'string' },
  },
});
const calls = Number(o.calls);
const warmup = Number(o.warmup);

runBench(async () => {
  const bench = await createBenchDatabase(o['database-url'] ?? DEFAULT_DATABASE_URL, { adapterLatencyMs: 0 });
  const workerProcesses = Number(o['worker-processes']);
  const server = await startServer({ port: 0, workerConcurrency: 16, noWorker: o['no-worker'] || workerProcesses > 0 }, bench.url);
  cleanups.push(() => stopServer(server.child));
  for (let i = 0; i < workerProcesses; i++) {
    const w = await startWorkerProcess({ workerConcurrency: 16 }, bench.url);
    cleanups.push(() => stopServer(w));
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(async () => agent.destroy());

  const call = createRpcCaller(server.url, bench.token, agent);
  const rpc = async (method: string, params?: unknown) => {
    const r = await call(method, params);
    if (!r.ok) throw new Error(`${method}: ${r.error}`);
    return r.ms;
  };
  const buy = createBuyCaller(server.url, bench.token, agent);
  const cases: [string, () => Promise<number>][] = [
    ['ping', () => rpc('ping')],
    ['get_adcp_capabilities', () => rpc('tools/call', { name: 'get_adcp_capabilities', arguments: {} })],
    ['get_products (brief)', () => rpc('tools/call', { name: 'get_products', arguments: { brief: 'video for a sports drink' } })],
    ['list_creative_formats', () => rpc('tools/call', { name: 'list_creative_formats', arguments: {} })],
    [
      'create_media_buy',
      async () => {
        const r = await buy();
        if (!r.ok) throw new Error(`create_media_buy: ${r.error}`);
        return r.ms;
      },
    ],
    // After the creates above: a page of the caller's buys, each with packages, orders and steps.
    ['get_media_buys (10 latest)', () => rpc('tools/call', { name: 'get_media_buys', arguments: { pagination: { max_results: 10 } } })],
  ];
  const lines = ['', `one client, sequential calls (${calls} measured after ${warmup} warmup each)${workerProcesses > 0 ? `, ${workerProcesses} worker process(es)` : o['no-worker'] ? ', no worker' : ', worker in-process'}`, '  call                         p50 ms   p95 ms   p99 ms'];
  for (const [name, fn] of cases) {
    log(name);
    for (let i = 0; i < warmup; i++) await fn();
    const ms: number[] = [];
    for (let i = 0; i < calls; i++) ms.push(await fn());
    const s = percentiles(ms);
    lines.push(`  ${name.padEnd(26)} ${s.p50.toFixed(2).padStart(8)} ${s.p95.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
});
