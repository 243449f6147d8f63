/**
 * The Graphile Worker runner: tasks are given as a taskList object (works on
 * Node 20). Many of these may run against one Postgres; jobs are shared.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { Logger as GwLogger, run, type JobHelpers, type Runner, type TaskList } from 'graphile-worker';
import pg from 'pg';
import type { Database } from '../db/client.js';
import { createAdapterRegistry, type AdapterFactory } from '../adapters/registry.js';
import type { Logger } from '../logger.js';
import { fulfilMediaBuy, type JobInfo } from './tasks/fulfil-media-buy.js';
import { deliverWebhook } from './tasks/deliver-webhook.js';
import { syncMediaBuyUpdate } from './tasks/sync-media-buy-update.js';

export interface Worker {
  runner: Runner;
  events: EventEmitter;
  stop(): Promise<void>;
}

// Graphile Worker shares one abort signal among all running jobs; each adapter call listens on it.
const jobInfo = (h: JobHelpers): JobInfo => {
  if (h.abortSignal) setMaxListeners(0, h.abortSignal);
  return { attempts: h.job.attempts, maxAttempts: h.job.max_attempts, signal: h.abortSignal };
};

export function graphileLogger(logger: Logger): GwLogger {
  return new GwLogger((scope) => (level, message, meta) => {
    const fields = { component: 'graphile-worker', ...scope, ...(meta as object) };
    if (level === 'error') logger.error(message, fields);
    else if (level === 'warning') logger.warn(message, fields);
    else logger.debug(message, fields);
  });
}

export async function startWorker(opts: {
  database: Database;
  logger: Logger;
  concurrency: number;
  adapters?: AdapterFactory;
  pollInterval?: number;
}): Promise<Worker> {
  const { database, logger } = opts;
  const deps = { db: database.db, adapters: opts.adapters ?? createAdapterRegistry(database.db), logger };
  const taskList: TaskList = {
    fulfil_media_buy: async (payload, helpers) => fulfilMediaBuy(payload, jobInfo(helpers), deps),
    sync_media_buy_update: async (payload, helpers) => syncMediaBuyUpdate(payload, jobInfo(helpers), deps),
    deliver_webhook: async (payload, helpers) => deliverWebhook(payload, jobInfo(helpers), deps),
  };
  const pgPool = new pg.Pool({ connectionString: database.url, max: opts.concurrency + 2 });
  // 57P01: the server is shutting down (e.g. Ctrl-C reached the embedded Postgres too); expected during shutdown.
  const poolError = (what: string) => (err: Error & { code?: string }) =>
    err.code === '57P01' ? logger.debug(what, { error: err.message }) : logger.warn(what, { error: err });
  pgPool.on('error', poolError('worker pool error'));
  pgPool.on('connect', (client) => client.on('error', poolError('worker client error')));
  const events = new EventEmitter();
  events.on('pool:fatalError', ({ error }) => logger.error('worker pool fatal error', { error }));
  events.on('worker:fatalError', ({ error }) => logger.error('worker fatal error', { error }));
  const runner = await run({
    pgPool,
    taskList,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    pollInterval: opts.pollInterval ?? 2000,
    parsedCronItems: [],
    events,
    logger: graphileLogger(logger),
    // Flush job completions before stop() resolves, so a finished job is never re-run after a clean shutdown.
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  logger.info('worker started', { concurrency: opts.concurrency });
  let stopping: Promise<void> | undefined;
  return {
    runner,
    events,
    stop: () =>
      (stopping ??= (async () => {
        await runner.stop();
        await pgPool.end();
        logger.info('worker stopped');
      })()),
  };
}
