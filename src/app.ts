/**
 * Boot and shutdown of one process: database (external or embedded), migrations,
 * the LISTEN hub, and optionally the in-process worker. The transports and the
 * CLI build on this; tests use it too.
 */
import type { Config } from './config.js';
import { connect, type Database } from './db/client.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { migrateDatabase } from './db/migrate.js';
import { warnIfDriverUnpatched } from './db/driver-check.js';
import { tenants } from './db/schema/index.js';
import { startWorker, type Worker } from './jobs/worker.js';
import type { Logger } from './logger.js';
import { AccountCache } from './mcp/account-cache.js';
import { CatalogCache } from './mcp/catalog-cache.js';
import { NotificationHub } from './mcp/notify.js';
import type { AppServices } from './mcp/server.js';
import type { AdapterFactory } from './adapters/registry.js';
import { seedDemo } from './seed/demo.js';
import { configureSecretBox, createSecretBox, embeddedSecretKey, existingEmbeddedKey, parseSecretKeys, secretBox } from './services/secret-box.js';
import { AuditTrail } from './services/audit.js';
import { Metrics } from './services/metrics.js';

export interface RunningApp {
  services: AppServices;
  database: Database;
  hub: NotificationHub;
  worker?: Worker;
  embedded?: EmbeddedDatabase;
  /** Set when this boot seeded an empty database. */
  seeded?: { token?: string };
  close(): Promise<void>;
}

/**
 * The keys that seal stored secrets: SALES_AGENT_SECRET_KEY, else on the embedded database the key made in
 * its data folder. With both, the folder's key still opens (and start-up re-seals what it sealed).
 */
export async function secretKeys(config: Config): Promise<Buffer[]> {
  const configured = config.secretKey ? parseSecretKeys(config.secretKey) : [];
  if (config.databaseUrl) return configured;
  if (configured.length === 0) return [await embeddedSecretKey(config.dataDir)];
  const folder = await existingEmbeddedKey(config.dataDir);
  return folder && !configured.some((k) => k.equals(folder)) ? [...configured, folder] : configured;
}

/**
 * The database this process works on (DATABASE_URL, or the embedded one in the data folder, started here),
 * with the key that seals its secrets configured for the process.
 */
export async function resolveDatabase(config: Config, logger: Logger): Promise<{ url: string; embedded?: EmbeddedDatabase }> {
  configureSecretBox(createSecretBox(await secretKeys(config)));
  if (!secretBox().encrypting) {
    logger.warn("SALES_AGENT_SECRET_KEY is not set: adapter credentials, webhook-signing keys, the Slack URL and buyers' webhook credentials are stored unencrypted (make a key with: openssl rand -base64 32)");
  }
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedPostgres(config.dataDir, logger);
  return { url: embedded.url, embedded };
}

export async function bootApp(
  config: Config,
  logger: Logger,
  opts: { worker: boolean; seedIfEmpty?: boolean; adapters?: AdapterFactory; agentUrl?: string },
): Promise<RunningApp> {
  warnIfDriverUnpatched(logger);
  const { url, embedded } = await resolveDatabase(config, logger);
  try {
    await migrateDatabase(url, logger);
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const database = connect(url, { max: config.dbPoolSize });
  let seeded: RunningApp['seeded'];
  if (opts.seedIfEmpty) {
    const any = await database.db.select({ id: tenants.id }).from(tenants).limit(1);
    if (any.length === 0) {
      const res = await seedDemo(database.db, { token: config.token });
      seeded = { token: res.token };
      logger.info('seeded the demo tenant into the empty database', { tenant_id: res.tenantId });
    }
  }
  const hub = new NotificationHub(database.sql, logger);
  await hub.start();
  const worker = opts.worker ? await startWorker({ database, logger, concurrency: config.workerConcurrency, adapters: opts.adapters, retention: config.retention }) : undefined;
  const catalog = new CatalogCache(database.db, hub);
  const accounts = new AccountCache(hub);
  const audit = new AuditTrail(database.db, logger);
  const metrics = new Metrics();
  const services: AppServices = { database, logger, hub, catalog, accounts, audit, metrics, agentUrl: opts.agentUrl ?? config.publicUrl ?? `http://${config.host}:${config.port}` };
  let closing: Promise<void> | undefined;
  return {
    services,
    database,
    hub,
    worker,
    embedded,
    seeded,
    close: () =>
      (closing ??= (async () => {
        await worker?.stop().catch((err) => logger.warn('worker stop failed', { error: err }));
        await audit.close().catch((err) => logger.warn('audit trail flush failed', { error: err }));
        metrics.stop();
        await hub.stop();
        await database.close();
        await embedded?.stop();
      })()),
  };
}
