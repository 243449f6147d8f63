#!/usr/bin/env node
/**
 * sales-agent serve | worker | migrate | seed demo
 * Logs go to stderr; stdout carries only MCP (stdio) or the lines a person asked for.
 */
import { parseArgs } from 'node:util';
import { bootApp, resolveDatabase } from './app.js';
import { warnIfDriverUnpatched } from './db/driver-check.js';
import { loadConfig, type Config } from './config.js';
import { brokenDatabaseConnection, connect } from './db/client.js';
import { EmbeddedDatabaseError, takeOverShutdownSignals } from './db/embedded.js';
import { DatabaseUnreachableError, migrateDatabase } from './db/migrate.js';
import { createLogger, type Logger } from './logger.js';
import { startHttpServer } from './mcp/http.js';
import { serveStdio } from './mcp/stdio.js';
import { seedCompliance } from './seed/compliance.js';
import { seedDemo } from './seed/demo.js';
import { startWorker } from './jobs/worker.js';
import { adminCommand } from './admin/cli.js';
import { secretBox, SecretKeyError } from './services/secret-box.js';

const USAGE = `Usage:
  sales-agent serve [--transport http|stdio] [--host 127.0.0.1] [--port 3000] [--no-worker]
  sales-agent worker
  sales-agent migrate
  sales-agent seed demo|compliance [--token TOKEN] [--approval auto|manual] [--adapter-latency-ms N]
  sales-agent admin create-user --tenant TENANT --email EMAIL [--role admin|viewer]
  sales-agent admin disable-user --tenant TENANT --email EMAIL
  sales-agent admin rotate-signing-key --tenant TENANT [--revoke]

Environment: DATABASE_URL (unset: embedded Postgres in SALES_AGENT_DATA_DIR, default ./.data),
HOST, PORT, LOG_LEVEL, SALES_AGENT_TOKEN (stdio principal).`;

function fail(msg: string): never {
  process.stderr.write(`${msg}\n\n${USAGE}\n`);
  process.exit(2);
}

/** SIGINT or SIGTERM runs `fn` (which stops the embedded database last), then exits; a second signal exits at once. */
function onSignals(fn: () => Promise<void>): void {
  takeOverShutdownSignals();
  let count = 0;
  const handler = (sig: string) => {
    if (++count > 1) process.exit(130);
    fn().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown after ${sig} failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

async function serve(args: string[], config: Config, logger: Logger): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { transport: { type: 'string', default: 'http' }, host: { type: 'string' }, port: { type: 'string' }, 'no-worker': { type: 'boolean', default: false } },
  });
  const transport = values.transport;
  if (transport !== 'http' && transport !== 'stdio') fail(`--transport must be http or stdio, not ${transport}`);
  const host = values.host ?? config.host;
  const port = values.port !== undefined ? Number(values.port) : config.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number`);
  const app = await bootApp({ ...config, host, port }, logger, { worker: !values['no-worker'], seedIfEmpty: !config.databaseUrl });

  if (transport === 'stdio') {
    await serveStdio(app.services, config.token, async (code) => {
      await app.close();
      process.exit(code);
    });
    onSignals(() => app.close());
    return;
  }
  const http = await startHttpServer(app.services, { host, port, maxSessions: config.maxSessions, metricsToken: config.metricsToken });
  app.services.agentUrl = config.publicUrl ?? http.url;
  onSignals(async () => {
    await http.close();
    await app.close();
  });
  const lines = [`adcp-sales-agent serving MCP at ${http.url}/mcp${app.worker ? ' (worker in-process)' : ''}`];
  if (app.seeded) {
    lines.push(`Seeded the demo tenant.`, app.seeded.token ? `Buyer token: ${app.seeded.token}` : 'Buyer token: the one in SALES_AGENT_TOKEN');
    lines.push(`Try: curl -s ${http.url}/mcp -H 'content-type: application/json' -H 'authorization: Bearer <token>' -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_products","arguments":{"brief":"CTV for a sports drink"}}}'`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function worker(config: Config, logger: Logger): Promise<void> {
  warnIfDriverUnpatched(logger);
  const { url, embedded } = await resolveDatabase(config, logger);
  try {
    await migrateDatabase(url, logger);
  } catch (err) {
    await embedded?.stop(); // e.g. stored secrets this process has no key for
    throw err;
  }
  const database = connect(url, { max: 4 });
  const w = await startWorker({ database, logger, concurrency: config.workerConcurrency, retention: config.retention });
  onSignals(async () => {
    await w.stop();
    await database.close();
    await embedded?.stop();
  });
}

async function seed(args: string[], config: Config, logger: Logger): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { token: { type: 'string' }, approval: { type: 'string' }, 'adapter-latency-ms': { type: 'string' } },
  });
  const fixture = positionals[0];
  if ((fixture !== 'demo' && fixture !== 'compliance') || positionals.length > 1) fail('seed takes "demo" or "compliance"');
  if (values.approval !== undefined && values.approval !== 'auto' && values.approval !== 'manual') fail('--approval must be auto or manual');
  const latency = values['adapter-latency-ms'] !== undefined ? Number(values['adapter-latency-ms']) : undefined;
  if (latency !== undefined && (!Number.isInteger(latency) || latency < 0)) fail('--adapter-latency-ms must be a whole number of milliseconds');
  const { url, embedded } = await resolveDatabase(config, logger);
  try {
    await migrateDatabase(url, logger);
    const database = connect(url, { max: 2 });
    try {
      const seedOpts = { token: values.token, approval: values.approval as 'auto' | 'manual' | undefined, adapterLatencyMs: latency };
      const res = fixture === 'compliance' ? await seedCompliance(database.db, seedOpts) : await seedDemo(database.db, seedOpts);
      process.stdout.write(`Seeded tenant "${res.tenantId}" with buyer ${res.principalId}.\n`);
      if (res.token && !values.token) process.stdout.write(`Buyer token (shown once): ${res.token}\n`);
      else if (!res.token) process.stdout.write('Buyer token unchanged (pass --token to set a new one).\n');
    } finally {
      await database.close();
    }
  } finally {
    await embedded?.stop();
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    fail((err as Error).message);
  }
  const logger = createLogger(config.logLevel, { service: 'sales-agent' });
  embeddedDataDir = config.databaseUrl ? undefined : config.dataDir;
  // A long-running process whose state lives in Postgres: a stray rejected promise is logged with its error, not
  // fatal. postgres.js leaves one behind for a connection that breaks mid-query (a Postgres restart or failover, the
  // queries themselves failing as they should): that is expected then, so a warning; anything else is an error.
  process.on('unhandledRejection', (reason) =>
    brokenDatabaseConnection(reason)
      ? logger.warn('a database connection broke (a rejection the driver left unhandled)', { error: reason })
      : logger.error('unhandled promise rejection', { error: reason }),
  );
  switch (command) {
    case 'serve':
      return serve(rest, config, logger);
    case 'worker':
      parseArgs({ args: rest, options: {} }); // takes no arguments: refuse any rather than run as if it had none
      return worker(config, logger);
    case 'migrate': {
      parseArgs({ args: rest, options: {} });
      const { url, embedded } = await resolveDatabase(config, logger);
      try {
        const { secrets } = await migrateDatabase(url, logger);
        process.stdout.write('Database migrated.\n');
        // What a rotation needs to know before it drops an old key.
        const held = Object.entries(secrets).map(([kid, n]) => (kid === 'plain' ? `${n} not sealed` : `${n} sealed with key ${kid}`));
        process.stdout.write(`Stored secrets: ${held.length ? held.join(', ') : 'none'}; ${secretBox().kid ? `new ones are sealed with key ${secretBox().kid}` : 'no key is set'}.\n`);
      } finally {
        await embedded?.stop();
      }
      return;
    }
    case 'seed':
      return seed(rest, config, logger);
    case 'admin':
      return adminCommand(rest, config, logger, fail);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command: ${command}`);
  }
}

/** Without DATABASE_URL: the data folder of the embedded database, which the messages below name instead. */
let embeddedDataDir: string | undefined;

/** Postgres refusing us (no such database or role, bad password) or nothing listening where DATABASE_URL points: a plain line, no stack. */
function databaseMisconfigured(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') return undefined;
  const refused = ['3D000', '28000', '28P01'].includes(e.code);
  const unreachable = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'].includes(e.code);
  if (!refused && !unreachable) return undefined;
  if (embeddedDataDir) {
    return `${e.message} (${e.code}). Check the embedded Postgres of the data folder ${embeddedDataDir} (SALES_AGENT_DATA_DIR)${unreachable ? ': its server does not answer (LOG_LEVEL=trace shows its log).' : ': embedded-postgres.json there must hold the password its database was made with.'}`;
  }
  return `${e.message} (${e.code}). Check DATABASE_URL${unreachable ? ': is Postgres running at that host and port?' : ': the database, user and password.'}`;
}

function oneLine(err: unknown): string | undefined {
  if (err instanceof DatabaseUnreachableError && embeddedDataDir) {
    return `no Postgres answered at ${err.where} within ${err.seconds} s: check the embedded Postgres of the data folder ${embeddedDataDir} (SALES_AGENT_DATA_DIR; LOG_LEVEL=trace shows its log)`;
  }
  if (err instanceof SecretKeyError || err instanceof DatabaseUnreachableError || err instanceof EmbeddedDatabaseError) return err.message;
  return databaseMisconfigured(err);
}

main().catch((err) => {
  // An option the command does not know, or one missing its value: the usage, as for any other bad argument.
  if (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_')) fail((err as Error).message);
  // A key problem, or a database that is not there or will not have us, is the operator's to fix: said plainly. Anything else with its stack.
  const text = oneLine(err) ?? (err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.stderr.write(`sales-agent: ${text}\n`);
  process.exit(1);
});
