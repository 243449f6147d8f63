/**
 * `npm run compliance`: the official AdCP compliance storyboards (shipped in
 * @adcp/sdk, run offline by its CLI) against this server. Each bundle gets a
 * fresh database, seeded with `sales-agent seed compliance`, and its own server
 * process, because storyboards reuse fixed idempotency keys. Prints passed /
 * failed / skipped steps per bundle (read from the CLI's JSON: it exits 0 even
 * when steps fail) and exits non-zero if any step failed or was skipped.
 *
 *   npm run compliance [-- --bundles a,b] [-- --verbose]
 * Uses DATABASE_URL's server if set (any database on it), else the Postgres at
 * 127.0.0.1:5432 if it answers, else an embedded Postgres in a temp folder.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import postgres from 'postgres';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded.js';
import { createLogger } from '../src/logger.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli.js');
const ADCP = path.join(ROOT, 'node_modules/.bin/adcp');

const BUNDLES: { id: string; flags?: string[] }[] = [
  { id: 'media_buy_seller' },
  { id: 'sales-guaranteed' },
  { id: 'sales-non-guaranteed' },
  { id: 'media_buy_state_machine' },
  { id: 'idempotency', flags: ['--webhook-receiver'] },
  { id: 'error_compliance' },
  { id: 'schema_validation' },
  { id: 'deterministic_testing' },
  // We declare sponsored_intelligence in supported_protocols, which commits us to its baseline storyboard.
  { id: 'si_baseline' },
  { id: 'webhook_emission', flags: ['--webhook-receiver'] },
];

interface Summary {
  steps_passed: number;
  steps_failed: number;
  steps_skipped: number;
}
interface Result {
  summary?: Summary;
  overall_status?: string;
  failures?: { storyboard_id: string; step_id: string; validation?: { description?: string; actual?: unknown; expected?: unknown }; expected?: string }[];
  tracks?: { scenarios?: { scenario: string; steps?: { step: string; task: string; passed: boolean; skipped?: boolean; skip_reason?: string; error?: string }[] }[] }[];
}

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

async function serverUrl(): Promise<{ url: string; embedded?: EmbeddedDatabase; dir?: string }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL };
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  try {
    const probe = postgres(local, { max: 1, connect_timeout: 2, onnotice: () => {} });
    await probe`select 1`;
    await probe.end();
    return { url: local };
  } catch {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sales-agent-compliance-'));
    const embedded = await startEmbeddedPostgres(dir, createLogger('warn'));
    return { url: embedded.url, embedded, dir };
  }
}

async function runBundle(admin: postgres.Sql, server: string, bundle: (typeof BUNDLES)[number], verbose: boolean): Promise<Summary> {
  const db = `sa_compliance_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${db}`);
  const token = `compliance-${randomBytes(12).toString('hex')}`;
  const env = { ...process.env, DATABASE_URL: withDb(server, db), LOG_LEVEL: verbose ? 'info' : 'warn' };
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await run('node', [CLI, 'seed', 'compliance', '--token', token], { env });
    child = spawn('node', [CLI, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', verbose ? 'inherit' : 'ignore'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d) => {
        out += d.toString();
        const m = /serving MCP at (http:\/\/\S+\/mcp)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const args = ['storyboard', 'run', url, bundle.id, '--auth', token, '--allow-http', '--json', '--timeout', '600', ...(bundle.flags ?? [])];
    const { stdout } = await run(ADCP, args, { env: { ...process.env, NODE_NO_WARNINGS: '1' }, maxBuffer: 64 * 1024 * 1024 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '{}' }));
    const result = JSON.parse(stdout.slice(stdout.indexOf('{'))) as Result;
    const s = result.summary ?? { steps_passed: 0, steps_failed: 1, steps_skipped: 0 };
    if (verbose || s.steps_failed || s.steps_skipped) {
      for (const track of result.tracks ?? [])
        for (const sc of track.scenarios ?? [])
          for (const st of sc.steps ?? []) {
            if (!st.passed || st.skipped) {
              console.log(`    ${st.skipped ? 'skip' : 'FAIL'} ${sc.scenario} / ${st.step} (${st.task})${st.skip_reason ? ` [${st.skip_reason}]` : ''}${st.error ? `: ${String(st.error).slice(0, 200)}` : ''}`);
            }
          }
      for (const f of result.failures ?? []) {
        console.log(`    ✗ ${f.storyboard_id}/${f.step_id}: ${f.validation?.description ?? f.expected ?? ''} ${f.validation?.actual !== undefined ? `(got ${JSON.stringify(f.validation.actual).slice(0, 200)})` : ''}`);
      }
    }
    return s;
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await admin.unsafe(`drop database if exists ${db} with (force)`);
  }
}

async function main() {
  const { values } = parseArgs({ options: { bundles: { type: 'string' }, verbose: { type: 'boolean', default: false } } });
  const chosen = values.bundles ? BUNDLES.filter((b) => values.bundles!.split(',').includes(b.id)) : BUNDLES;
  await fs.access(CLI).catch(() => {
    throw new Error('dist/cli.js not found: run `npm run build` first');
  });
  const { url, embedded, dir } = await serverUrl();
  const admin = postgres(withDb(url, 'postgres'), { max: 1, onnotice: () => {} });
  const totals = { passed: 0, failed: 0, skipped: 0 };
  try {
    console.log(`${'bundle'.padEnd(26)} passed  failed  skipped`);
    for (const b of chosen) {
      const s = await runBundle(admin, url, b, values.verbose);
      totals.passed += s.steps_passed;
      totals.failed += s.steps_failed;
      totals.skipped += s.steps_skipped;
      console.log(`${b.id.padEnd(26)} ${String(s.steps_passed).padStart(6)}  ${String(s.steps_failed).padStart(6)}  ${String(s.steps_skipped).padStart(7)}`);
    }
    console.log(`${'total'.padEnd(26)} ${String(totals.passed).padStart(6)}  ${String(totals.failed).padStart(6)}  ${String(totals.skipped).padStart(7)}`);
  } finally {
    await admin.end();
    await embedded?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }
  process.exitCode = totals.failed || totals.skipped ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
