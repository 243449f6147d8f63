/**
 * What the audit trail of buying tool calls costs (src/services/audit.ts).
 *
 * 1. The request path: AuditTrail.toolCall() as invokeTool() calls it after a
 *    create_media_buy, with the database write stubbed out, so only the
 *    synchronous work a request pays is timed (ns per call).
 * 2. The write path: the same entries written by the trail's batched inserts
 *    into a throwaway database (rows per second, statements issued).
 *
 *   npx tsx bench/audit-trail.ts [--calls 200000] [--rows 50000] [--database-url URL]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { connect, type Db } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { AuditTrail } from '../src/services/audit.js';
import { cleanups, DEFAULT_DATABASE_URL, log, nowNs, nsToMs, redact, runBench } from './lib.js';

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '200000' }, rows: { type: 'string', default: '50000' }, 'database-url': { type: 'string', default: DEFAULT_DATABASE_URL }, json: { type: 'boolean', default: false } },
});
const calls = Number(values.calls);
const rows = Number(values.rows);
const logger = createLogger('warn');

const caller = { tenant: { id: 'demo' }, principal: { id: 'prn_demo_buyer' } };
const args = { idempotency_key: 'idem-bench-audit-0001', buyer_ref: 'bench', packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }] };
const body = { media_buy_id: 'mb_benchbenchbench01', status: 'pending_creatives', packages: [{ package_id: 'pkg_1' }] };
const result: CallToolResult = { content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };

runBench(async () => {
  // 1. Request path: no database (the insert resolves at once).
  let statements = 0;
  const stub = { execute: async () => void statements++ } as unknown as Db;
  const cpuTrail = new AuditTrail(stub, logger);
  for (let i = 0; i < 10_000; i++) cpuTrail.toolCall('create_media_buy', args, result, caller);
  await cpuTrail.flush();
  statements = 0;
  const t0 = nowNs();
  for (let i = 0; i < calls; i++) cpuTrail.toolCall('create_media_buy', args, result, caller);
  const perCallNs = Number(nowNs() - t0) / calls;
  await cpuTrail.close();
  log(`request path: ${perCallNs.toFixed(0)} ns per toolCall() over ${calls} calls (${statements} batched statements for them)`);

  // 2. Write path: a real database.
  const admin = postgres(values['database-url'], { max: 1, onnotice: () => {} });
  cleanups.push(() => admin.end({ timeout: 5 }));
  const name = `sa_bench_${randomBytes(6).toString('hex')}`;
  await admin`create database ${admin(name)}`;
  cleanups.push(async () => void (await admin`drop database if exists ${admin(name)} with (force)`));
  const u = new URL(values['database-url']);
  u.pathname = `/${name}`;
  log(`created database ${name} on ${redact(values['database-url'])}`);
  await migrateDatabase(u.toString(), logger);
  const database = connect(u.toString(), { max: 4 });
  cleanups.push(() => database.close());
  const bench = { sql: database.sql };
  const trail = new AuditTrail(database.db, logger);
  const t1 = nowNs();
  for (let i = 0; i < rows; i++) {
    trail.toolCall('create_media_buy', args, result, caller);
    // Let the flush timer and the inserts run, as they would between requests.
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await trail.close();
  const writeMs = nsToMs(nowNs() - t1);
  const [n] = await bench.sql<{ n: number }[]>`select count(*)::int as n from audit_log`;
  log(`write path: ${n!.n} rows in ${writeMs.toFixed(0)} ms (${Math.round((n!.n / writeMs) * 1000)} rows/s)`);
  const out = { per_call_ns: Math.round(perCallNs), batched_statements_for_calls: statements, rows_written: n!.n, write_ms: Math.round(writeMs) };
  if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else process.stdout.write(`toolCall(): ${out.per_call_ns} ns/call; ${out.rows_written} rows written in ${out.write_ms} ms\n`);
  return n!.n === rows ? 0 : 1;
});
