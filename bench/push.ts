/**
 * Push: what the buyer waits for, and how fast the news reaches it.
 *
 * --sessions MCP clients (streamable HTTP sessions, the official SDK client) each
 * create buys and subscribe to media-buy://{id}; the mock ad server takes
 * --adapter-latency-ms to book each order, in --worker-processes separate worker
 * processes (0: the worker runs inside the server). The bench also LISTENs on
 * the events channel itself, so it knows when the worker's commit was announced.
 * It reports:
 *  - create_media_buy latency (the call returns once the buy is stored);
 *  - call → booked: from the call until the notification that the ad server has
 *    booked the order arrives, which is what the buyer would wait for on every
 *    call if the adapter were called inside the request (the old design), and
 *    the ratio of the two;
 *  - notification latency: from the booking commit's pg_notify reaching a
 *    listener to the client receiving notifications/resources/updated.
 * Build first: `npm run build`.
 *
 *   npx tsx bench/push.ts [--buys 400] [--sessions 8] [--adapter-latency-ms 2000]
 *     [--worker-processes 1] [--worker-concurrency 64] [--database-url URL] [--json]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { CLI, cleanups, createBenchDatabase, DEFAULT_DATABASE_URL, flight, log, nowNs, nsToMs, percentiles, runBench, sleep, startServer, startWorkerProcess, stopServer, type Stats } from './lib.js';

const EVENTS_CHANNEL = 'sales_agent_events';

function parseOptions() {
  const { values } = parseArgs({
    options: {
      buys: { type: 'string', default: '400' },
      sessions: { type: 'string', default: '8' },
      'adapter-latency-ms': { type: 'string', default: '2000' },
      'worker-processes': { type: 'string', default: '1' },
      'worker-concurrency': { type: 'string', default: '64' },
      'database-url': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const o = {
    buys: Number(values.buys),
    sessions: Number(values.sessions),
    adapterLatencyMs: Number(values['adapter-latency-ms']),
    workerProcesses: Number(values['worker-processes']),
    workerConcurrency: Number(values['worker-concurrency']),
    databaseUrl: values['database-url'] ?? DEFAULT_DATABASE_URL,
    json: values.json === true,
  };
  // The booking must come well after the subscription, to tell it from the creation's own event.
  if (o.adapterLatencyMs < 200) throw new Error('--adapter-latency-ms must be at least 200 for this bench');
  return o;
}

interface Buy {
  t0: bigint;
  respondedMs: number;
  /** When the bench's own LISTEN heard the booking (ms after t0). */
  announcedMs?: number;
  /** When the subscribed client got notifications/resources/updated for the booking (ms after t0). */
  notifiedMs?: number;
}

async function main(): Promise<number> {
  const o = parseOptions();
  if (!existsSync(CLI)) {
    process.stderr.write('dist/cli.js not found. Build the server first: npm run build\n');
    return 2;
  }
  const bench = await createBenchDatabase(o.databaseUrl, { adapterLatencyMs: o.adapterLatencyMs });
  const server = await startServer({ port: 0, workerConcurrency: o.workerConcurrency, noWorker: o.workerProcesses > 0 }, bench.url);
  cleanups.push(() => stopServer(server.child));
  for (let i = 0; i < o.workerProcesses; i++) {
    const w = await startWorkerProcess(o, bench.url);
    cleanups.push(() => stopServer(w));
  }

  const buys = new Map<string, Buy>();
  const early = new Map<string, bigint>(); // announcements that beat the create response (none expected)
  await bench.sql.listen(EVENTS_CHANNEL, (payload) => {
    const at = nowNs();
    const e = JSON.parse(payload) as { kind?: string; media_buy_id?: string; summary?: string };
    if (e.kind !== 'media_buy' || !e.media_buy_id || e.summary === 'created') return;
    const buy = buys.get(e.media_buy_id);
    if (!buy) early.set(e.media_buy_id, at);
    else buy.announcedMs ??= nsToMs(at - buy.t0);
  });

  const clients: Client[] = [];
  for (let i = 0; i < o.sessions; i++) {
    const client = new Client({ name: `push-bench-${i}`, version: '1' });
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      const at = nowNs();
      const buy = buys.get(n.params.uri.replace('media-buy://', ''));
      // The first update at least half the adapter latency after the call is the booking.
      if (buy && !buy.notifiedMs && nsToMs(at - buy.t0) > o.adapterLatencyMs / 2) buy.notifiedMs = nsToMs(at - buy.t0);
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${bench.token}` } } }));
    cleanups.push(() => client.close());
    clients.push(client);
  }
  log(`${o.sessions} MCP sessions open; creating ${o.buys} buys`);

  let next = 0;
  let errors = 0;
  await Promise.all(
    clients.map(async (client, c) => {
      while (next < o.buys) {
        const n = next++;
        const t0 = nowNs();
        const res = await client.callTool({
          name: 'create_media_buy',
          arguments: {
            idempotency_key: `push-${c}-${n}-${t0}`,
            account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
            brand: { domain: 'acme-drinks.example' },
            ...flight(),
            packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }],
          },
        });
        const respondedMs = nsToMs(nowNs() - t0);
        const id = (res.structuredContent as { media_buy_id?: string } | undefined)?.media_buy_id;
        if (res.isError || !id) {
          errors++;
          continue;
        }
        buys.set(id, { t0, respondedMs });
        await client.subscribeResource({ uri: `media-buy://${id}` });
      }
    }),
  );
  log(`created ${buys.size} buys (${errors} errors); waiting for the bookings`);
  const deadline = Date.now() + 120_000 + (o.buys * o.adapterLatencyMs) / o.workerConcurrency;
  while ([...buys.values()].some((b) => b.notifiedMs === undefined || b.announcedMs === undefined) && Date.now() < deadline) await sleep(100);

  const all = [...buys.values()];
  const done = all.filter((b) => b.notifiedMs !== undefined && b.announcedMs !== undefined);
  const call = percentiles(all.map((b) => b.respondedMs));
  const booked = percentiles(done.map((b) => b.notifiedMs!));
  const push = percentiles(done.map((b) => b.notifiedMs! - b.announcedMs!));
  const f = (s: Stats) => `p50 ${s.p50.toFixed(2)}  p95 ${s.p95.toFixed(2)}  p99 ${s.p99.toFixed(2)}  max ${s.max.toFixed(2)}`;
  process.stdout.write(
    [
      '',
      `push benchmark: ${o.buys} buys from ${o.sessions} MCP sessions, adapter latency ${o.adapterLatencyMs} ms, ${o.workerProcesses ? `${o.workerProcesses} worker process(es)` : 'worker in-process'} (concurrency ${o.workerConcurrency}), ${process.version}`,
      `  create_media_buy call (ms):          ${f(call)}`,
      `  call -> booked notification (ms):    ${f(booked)}`,
      `  old design / this design (p50):      ${(booked.p50 / call.p50).toFixed(0)}x (the buyer would wait ${booked.p50.toFixed(0)} ms per call instead of ${call.p50.toFixed(1)} ms)`,
      `  notification latency (ms):           ${f(push)}   (booking commit announced -> client notified)`,
      `  buys notified ${done.length} of ${all.length}; call errors ${errors}; announcements before the response ${early.size}`,
      '',
    ].join('\n'),
  );
  if (o.json) process.stdout.write(`${JSON.stringify({ config: o, create_call_ms: call, call_to_booked_ms: booked, notification_latency_ms: push, notified: done.length, buys: all.length, errors })}\n`);
  return done.length === o.buys && errors === 0 ? 0 : 1;
}

runBench(main);
