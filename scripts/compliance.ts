/**
 * `npm run compliance`: the official AdCP compliance storyboards (shipped in
 * @adcp/sdk, run offline) against this server. Each bundle gets a fresh
 * database, seeded with `sales-agent seed compliance`, and its own server
 * process, because storyboards reuse fixed idempotency keys. Prints passed /
 * failed / skipped steps per bundle and exits non-zero if any step failed or
 * was skipped.
 *
 * Most bundles run through the SDK's CLI (`adcp storyboard run`, read as JSON:
 * it exits 0 even when steps fail). The bundles that watch our webhooks run the
 * same runner in-process (the SDK's comply()), with the CLI's
 * `--webhook-receiver` settings plus what the CLI has no flag for: the seller's
 * webhook-signing keys, which the RFC 9421 signature step needs (without them it
 * is skipped). The runner finds them as a buyer would: the agent's
 * /.well-known/brand.json, its agents[] jwks_uri, then the key by kid.
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

/**
 * webhooks: host the runner's webhook receiver and verify our webhook signatures; apiKey: the test kit declares
 * the buyer's token as its API key (auth.api_key, probed on list_creatives), which the CLI has no flag for.
 * Both run in-process (see above).
 */
const BUNDLES: { id: string; webhooks?: boolean; apiKey?: boolean }[] = [
  { id: 'media_buy_seller' },
  { id: 'sales-guaranteed' },
  { id: 'sales-non-guaranteed' },
  { id: 'media_buy_state_machine' },
  { id: 'idempotency', webhooks: true },
  { id: 'error_compliance' },
  { id: 'schema_validation' },
  { id: 'deterministic_testing' },
  // We declare sponsored_intelligence in supported_protocols, which commits us to its baseline storyboard.
  { id: 'si_baseline' },
  { id: 'webhook_emission', webhooks: true },
  // Universal storyboards, which a capability-driven run adds to every agent's.
  { id: 'capability_discovery' },
  { id: 'v3_envelope_integrity' },
  { id: 'security_baseline', apiKey: true },
  { id: 'get_media_buys_pagination_integrity' },
  { id: 'pagination_integrity' },
  { id: 'pagination_integrity_list_accounts' },
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

const TIMEOUT_S = 600;

async function runCli(url: string, bundle: string, token: string): Promise<Result> {
  const args = ['storyboard', 'run', url, bundle, '--auth', token, '--allow-http', '--json', '--timeout', String(TIMEOUT_S)];
  const { stdout } = await run(ADCP, args, { env: { ...process.env, NODE_NO_WARNINGS: '1' }, maxBuffer: 64 * 1024 * 1024 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '{}' }));
  return JSON.parse(stdout.slice(stdout.indexOf('{'))) as Result;
}

/**
 * The SDK's runner in-process: for webhooks, what `adcp storyboard run <url> <bundle> --webhook-receiver` does plus
 * the webhook-signing keys (webhook_signing); for apiKey, a test kit holding the token.
 */
async function runInProcess(url: string, bundle: (typeof BUNDLES)[number], token: string, verbose: boolean): Promise<Result> {
  const { comply } = await import('@adcp/sdk/testing');
  const { BrandJsonJwksResolver } = await import('@adcp/sdk/signing/server');
  const agent = url.replace(/\/mcp$/, '');
  const webhooks = bundle.webhooks && {
    webhook_receiver: { mode: 'loopback_mock' as const },
    contracts: ['webhook_receiver_runner'],
    webhook_signing: { jwks: new BrandJsonJwksResolver(`${agent}/.well-known/brand.json`, { agentType: 'sales', allowPrivateIp: true }) },
  };
  const options = {
    storyboards: [bundle.id],
    auth: { type: 'bearer' as const, token },
    allow_http: true,
    timeout_ms: TIMEOUT_S * 1000,
    ...webhooks,
    ...(bundle.apiKey && { test_kit: { auth: { api_key: token, probe_task: 'list_creatives' } } }),
  };
  // The runner logs progress on the console; keep stdout for the table.
  const saved = { log: console.log, info: console.info, warn: console.warn };
  const quiet = verbose ? console.error.bind(console) : () => {};
  Object.assign(console, { log: quiet, info: quiet, warn: quiet });
  try {
    return (await comply(url, options as Parameters<typeof comply>[1])) as unknown as Result;
  } catch (err) {
    console.error(`  ${bundle.id}: ${err instanceof Error ? err.message : String(err)}`);
    return {};
  } finally {
    Object.assign(console, saved);
  }
}

/**
 * Passed / failed / skipped from the steps themselves: the runner's summary leaves
 * out a failed step of an optional phase (webhook_emission's signature check is
 * one), which would otherwise pass unseen.
 */
function countSteps(result: Result): Summary {
  const steps = (result.tracks ?? []).flatMap((t) => (t.scenarios ?? []).flatMap((sc) => sc.steps ?? []));
  if (steps.length === 0) return result.summary ?? { steps_passed: 0, steps_failed: 1, steps_skipped: 0 };
  return {
    steps_passed: steps.filter((st) => st.passed && !st.skipped).length,
    steps_failed: steps.filter((st) => !st.passed && !st.skipped).length,
    steps_skipped: steps.filter((st) => st.skipped).length,
  };
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
    const result = bundle.webhooks || bundle.apiKey ? await runInProcess(url, bundle, token, verbose) : await runCli(url, bundle.id, token);
    const s = countSteps(result);
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
  // Any storyboard id may be named (an id not listed above runs through the CLI).
  const chosen = values.bundles ? values.bundles.split(',').map((id) => BUNDLES.find((b) => b.id === id) ?? { id }) : BUNDLES;
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
