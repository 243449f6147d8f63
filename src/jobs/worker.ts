/**
 * The Graphile Worker runner: tasks are given as a taskList object (works on
 * Node 20), the periodic ones scheduled by the crontab in catalog.ts. Many of
 * these may run against one Postgres; jobs, and each crontab tick, are shared.
 *
 * Crash recovery: Graphile Worker marks a running job with its pool's id and
 * frees jobs left locked by a vanished pool only after 4 hours. So each pool
 * records a heartbeat (worker_heartbeats) and, at start-up and on every beat,
 * frees the jobs of pools whose heartbeat went stale (forceUnlockWorkers),
 * and of pools that died before their first beat (sweepOrphans).
 * A job freed while its old owner somehow still ran it is simply run twice:
 * tasks are idempotent (adapter calls carry idempotency keys).
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { Logger as GwLogger, parseCronItems, run, type JobHelpers, type Runner, type TaskList, type WorkerPool } from 'graphile-worker';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { connect, rerunOnBrokenConnection, type Database } from '../db/client.js';
import { createAdapterRegistry, type AdapterFactory } from '../adapters/registry.js';
import type { Logger } from '../logger.js';
import type { Retention } from '../config.js';
import { fulfilMediaBuy, type JobInfo, type TaskDeps } from './tasks/fulfil-media-buy.js';
import { deliverWebhook } from './tasks/deliver-webhook.js';
import { syncMediaBuyUpdate } from './tasks/sync-media-buy-update.js';
import { cancelAdapterOrder } from './tasks/cancel-adapter-order.js';
import { syncAdapterCreatives } from './tasks/sync-adapter-creatives.js';
import { collectDelivery } from './tasks/collect-delivery.js';
import { scheduleDeliveryCollection } from './tasks/schedule-delivery-collection.js';
import { advanceFlights } from './tasks/advance-flights.js';
import { closeStrandedWebhooks } from './tasks/close-stranded-webhooks.js';
import { pruneIdempotency } from './tasks/prune-idempotency-records.js';
import { pruneHistory } from './tasks/prune-history.js';
import { sendDeliveryReports } from './tasks/send-delivery-reports.js';
import { notifySlack } from './tasks/notify-slack.js';
import { proveNotificationConfigs } from './tasks/prove-notification-configs.js';
import { CRON_ITEMS, JOBS } from './catalog.js';
import { every } from './every.js';
import { startQueueVacuum, type QueueVacuumOptions } from './queue-vacuum.js';

interface Running {
  runner: Runner;
  events: EventEmitter;
  pool: WorkerPool;
}

export interface Worker {
  runner: Runner;
  events: EventEmitter;
  /** Graphile Worker's pool id, as written in jobs.locked_by and worker_heartbeats.pool_id. */
  poolId: string;
  stop(): Promise<void>;
}

/** Extra attempts a job cut short on its last attempt may get (see retryInterrupted in startWorker). */
export const INTERRUPTED_RETRIES = 3;
/** The tasks that settle their own last attempt, so an exhausted job of theirs was interrupted; with the most attempts such a job may reach. */
const RESUMABLE_CAPS = (['fulfil_media_buy', 'sync_media_buy_update', 'cancel_adapter_order', 'sync_adapter_creatives', 'deliver_webhook', 'prove_notification_configs'] as const).map((task) => ({
  task,
  cap: JOBS[task].maxAttempts + INTERRUPTED_RETRIES,
}));

/** How often a worker process beats, and how long a silent one has before its jobs are taken back. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const HEARTBEAT_STALE_MS = 30_000;

/**
 * Graphile Worker gives every running job the same abort signal. Each listener added to an
 * EventTarget costs a walk over those already there (it checks for duplicates), so with
 * thousands of jobs waiting on a slow ad server, listening on the shared signal once per
 * adapter call grows quadratically (measured: the mock adapter's abortable sleep was the
 * largest JavaScript item in the worker at 2,000 ms). So each job gets its own controller,
 * aborted from a single listener on the shared signal, and drops it when it ends.
 */
const jobControllers = new WeakMap<AbortSignal, Set<AbortController>>();
function jobSignal(shared: AbortSignal): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // a job may listen many times over (creative uploads in parallel)
  if (shared.aborted) {
    controller.abort(shared.reason);
    return { signal: controller.signal, release: () => undefined };
  }
  let running = jobControllers.get(shared);
  if (!running) {
    const set = new Set<AbortController>();
    jobControllers.set(shared, set);
    shared.addEventListener('abort', () => {
      for (const c of set) c.abort(shared.reason);
      set.clear();
    }, { once: true });
    running = set;
  }
  running.add(controller);
  return { signal: controller.signal, release: () => void running.delete(controller) };
}

type Task = (payload: unknown, job: JobInfo, deps: TaskDeps) => Promise<unknown>;
/** How long a task whose database connection broke waits for the database to answer again before it gives up the attempt. */
const RECONNECT_WAIT_MS = 15_000;
const asTask = (task: Task, deps: TaskDeps) => async (payload: unknown, h: JobHelpers): Promise<void> => {
  const own = h.abortSignal ? jobSignal(h.abortSignal) : undefined;
  try {
    // The connection broke under the task (a Postgres restart, a failover). Failing the attempt would cost the job
    // Graphile Worker's backoff (e^attempts seconds: 20 s by the third) for an outage of a moment; so once the database
    // answers again, run it again now. Tasks are idempotent, and each rerun counts as one more attempt, over the job's
    // allowance: the task knows an earlier run may have reached the ad server, and has as many attempts left.
    await rerunOnBrokenConnection(
      (rerun) => task(payload, { attempts: h.job.attempts + rerun, maxAttempts: h.job.max_attempts + rerun, signal: own?.signal }, deps),
      {
        ready: async () => !own?.signal.aborted && (await databaseAnswers(deps, RECONNECT_WAIT_MS, own?.signal)),
        onRerun: (err, rerun) => deps.logger.warn('task lost its database connection; running it again', { task: h.job.task_identifier, job_id: h.job.id, attempt: h.job.attempts, rerun, error: err }),
      },
    );
  } finally {
    own?.release();
  }
};

/** Whether the tasks' database answers within `timeoutMs` (asked every quarter second). */
async function databaseAnswers(deps: TaskDeps, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await deps.db.execute(sql`select 1`);
      return true;
    } catch {
      if (Date.now() + 250 > deadline || signal?.aborted) return false;
      await sleep(250, undefined, { signal }).catch(() => undefined);
    }
  }
}

/** The database connection went away (server shutting down, socket closed): expected once we are stopping. */
const LOST_CONNECTION = /57P0[123]|terminating connection|Connection terminated|CONNECTION_(CLOSED|ENDED|DESTROYED)|ECONNRESET|ECONNREFUSED/;
const lostConnection = (err: unknown) => LOST_CONNECTION.test(err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : String(err));

/** `stopping`: while it returns true, Graphile Worker's complaints about a lost connection are logged at debug (any other error still shows). */
export function graphileLogger(logger: Logger, stopping: () => boolean = () => false): GwLogger {
  return new GwLogger((scope) => (level, message, meta) => {
    const fields = { component: 'graphile-worker', ...scope, ...(meta as object) };
    if (stopping() && (lostConnection(message) || lostConnection((meta as { error?: unknown } | undefined)?.error))) return logger.debug(message, fields);
    // Its advice that the pool be as large as the concurrency predates batched fetching (our local queue).
    if (message.startsWith('WARNING: having maxPoolSize')) return logger.debug(message, fields);
    // A failed attempt that will be retried (an ad server or a webhook receiver that is down for a while) is a warning; the last one an error.
    const job = (meta as { failure?: boolean; job?: { attempts?: number; max_attempts?: number } } | undefined)?.failure ? (meta as { job?: { attempts?: number; max_attempts?: number } }).job : undefined;
    if (level === 'error' && job && (job.attempts ?? 0) < (job.max_attempts ?? 0)) return logger.warn(message, fields);
    if (level === 'error') logger.error(message, fields);
    else if (level === 'warning') logger.warn(message, fields);
    else logger.debug(message, fields);
  });
}

/** How long after a named queue's job ends its queue's next job is fetched, and fetched again. */
const LANE_NUDGE_MS = 20;
const LANE_RENUDGE_MS = 250;

export async function startWorker(opts: {
  database: Database;
  logger: Logger;
  concurrency: number;
  adapters?: AdapterFactory;
  pollInterval?: number;
  heartbeat?: { intervalMs?: number; staleMs?: number };
  /** Vacuuming the job table once it has churned (queue-vacuum.ts); false: leave it to autovacuum. */
  queueVacuum?: QueueVacuumOptions | false;
  /** The seller's retention settings, for prune_history (absent: the defaults). */
  retention?: Retention;
}): Promise<Worker> {
  const { logger } = opts;
  // Tasks get their own pool whose commits skip the WAL flush wait: each job's completion is committed
  // synchronously after the task's writes (by Graphile Worker, on its own pool), and that flush covers them.
  const database = connect(opts.database.url, { max: Math.min(opts.concurrency, 10), applicationName: 'sales-agent-worker', asyncCommit: true });
  const deps: TaskDeps = { db: database.db, adapters: opts.adapters ?? createAdapterRegistry(database.db, logger), logger, retention: opts.retention };
  const tasks: Record<string, Task> = {
    fulfil_media_buy: fulfilMediaBuy,
    sync_media_buy_update: syncMediaBuyUpdate,
    cancel_adapter_order: cancelAdapterOrder,
    sync_adapter_creatives: syncAdapterCreatives,
    deliver_webhook: deliverWebhook,
    collect_delivery: collectDelivery,
    schedule_delivery_collection: scheduleDeliveryCollection,
    advance_flights: advanceFlights,
    send_delivery_reports: sendDeliveryReports,
    notify_slack: notifySlack,
    prove_notification_configs: proveNotificationConfigs,
    close_stranded_webhooks: closeStrandedWebhooks,
    prune_idempotency_records: pruneIdempotency,
    prune_history: pruneHistory,
  };
  const taskList: TaskList = Object.fromEntries(Object.entries(tasks).map(([name, task]) => [name, asTask(task, deps)]));
  // Jobs are fetched and completed in batches (the local queue below) and tasks use their own pool, so Graphile
  // Worker needs a few connections however many jobs run at once; concurrency is mostly adapter calls waiting.
  // Its commits stay synchronous (tried async, and reverted): taking a job flushes its attempt count before the
  // task calls out (fulfil_media_buy's "may have booked" rests on it), and the tasks' earlier async writes with it
  // (a webhook is sent only once the booking it reports is durable).
  const pgPool = new pg.Pool({ connectionString: database.url, max: Math.min(opts.concurrency, 8) + 2 });
  // 57P01: the server is shutting down (e.g. Ctrl-C reached the embedded Postgres too); expected during shutdown.
  // Also expected once we are stopping: Ctrl-C reaches an embedded Postgres at the same time as us.
  let stopped = false;
  const poolError = (what: string) => (err: Error & { code?: string }) =>
    err.code === '57P01' || (stopped && lostConnection(err)) ? logger.debug(what, { error: err.message }) : logger.warn(what, { error: err });
  pgPool.on('error', poolError('worker pool error'));
  pgPool.on('connect', (client) => client.on('error', poolError('worker client error')));
  /** Start a Graphile Worker pool on pgPool; it runs until stopped, or until a fatal error (e.g. the database went away) ends it. */
  const launch = async (): Promise<Running> => {
    const events = new EventEmitter();
    events.on('pool:fatalError', ({ error }) => logger.error('worker pool fatal error', { error }));
    events.on('worker:fatalError', ({ error }) => logger.error('worker fatal error', { error }));
    let pool: WorkerPool | undefined;
    events.on('pool:create', ({ workerPool }: { workerPool: WorkerPool }) => (pool ??= workerPool));
    // A job of a named queue (a buyer's webhook lane) holds its queue until its completion is written; nothing
    // announces the release, so the queue's next job waited for the next poll (2 s): a buyer's webhooks went out at
    // about one per lane per poll. A moment after such a job ends (its batched completion written by then, as a
    // rule) the local queue fetches again, and once more later in case the write was slow; a fetch that finds
    // nothing costs one query. Other processes' workers still find the job at their next poll.
    let nudging = false;
    events.on('job:complete', ({ job }: { job: { job_queue_id: number | null } }) => {
      if (job.job_queue_id === null || nudging) return;
      nudging = true;
      setTimeout(() => {
        nudging = false;
        pool?.nudge(1);
        setTimeout(() => pool?.nudge(1), LANE_RENUDGE_MS).unref();
      }, LANE_NUDGE_MS).unref();
    });
    const runner = await run({
      pgPool,
      taskList,
      concurrency: opts.concurrency,
      noHandleSignals: true,
      pollInterval: opts.pollInterval ?? 2000,
      parsedCronItems: parseCronItems(CRON_ITEMS),
      events,
      logger: graphileLogger(logger, () => stopped),
      // Fewer round trips (and commits) per job: idle workers share one batched fetch (a local queue the size of the
      // pool; release() hands unstarted jobs back on a clean stop), and completions/failures are written in batches
      // gathered over 1 ms. stop() flushes both batchers before it resolves, so a finished job is not re-run after
      // a clean shutdown; after a crash the batch is re-run, which idempotent tasks allow.
      preset: { worker: { localQueue: { size: opts.concurrency }, completeJobBatchDelay: 1, failJobBatchDelay: 1 } },
    });
    if (!pool) {
      await runner.stop();
      throw new Error('graphile-worker did not report its worker pool');
    }
    return { runner, events, pool };
  };
  let current: Running;
  try {
    current = await launch();
  } catch (err) {
    await Promise.allSettled([pgPool.end(), database.close()]);
    throw err;
  }
  const intervalMs = opts.heartbeat?.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  const staleMs = opts.heartbeat?.staleMs ?? HEARTBEAT_STALE_MS;
  /**
   * A pool's id is known only once it runs, so a process killed between starting its pool and its first
   * beat leaves jobs locked by a pool that never had a heartbeat row (Graphile Worker would free them after
   * 4 hours). Every live pool beats within moments of starting, so jobs locked longer than the stale time
   * by a pool with no row belong to a dead one. This scans the job table, so it runs once per stale time.
   */
  let lastSweep = 0;
  const sweepOrphans = async () =>
    database.sql<{ pool_id: string; jobs: number }[]>`
      with orphans as (
        select j.locked_by as pool_id, count(*)::int as jobs from graphile_worker.jobs j
        where j.locked_by is not null and j.locked_at < now() - make_interval(secs => ${staleMs / 1000})
          and not exists (select 1 from worker_heartbeats h where h.pool_id = j.locked_by)
        group by j.locked_by
      )
      select orphans.pool_id, orphans.jobs from orphans, lateral graphile_worker.force_unlock_workers(array[orphans.pool_id]) as unlocked`;
  /**
   * A job whose last attempt was cut short (its worker killed or stopped mid-call, the database gone from
   * under it) is left with every attempt used: Graphile Worker never runs it again, and the buy, update,
   * cancel or webhook it carries would wait for ever. These tasks settle their own last attempt (reject,
   * failed) rather than throw, so an exhausted job of theirs was interrupted: it gets one more attempt, up
   * to INTERRUPTED_RETRIES over its allowance. Run with the orphan sweep, once per stale time.
   */
  const retryInterrupted = async () =>
    database.sql<{ task: string; id: string }[]>`
      with spent as (
        select j.id, j.attempts, j.task_identifier from graphile_worker.jobs j
        join jsonb_to_recordset(${JSON.stringify(RESUMABLE_CAPS)}::jsonb) as c(task text, cap int) on c.task = j.task_identifier
        where j.locked_at is null and j.attempts >= j.max_attempts and j.max_attempts < c.cap
      )
      select spent.task_identifier as task, spent.id::text as id
      from spent, lateral graphile_worker.reschedule_jobs(array[spent.id], run_at => now(), max_attempts => spent.attempts + 1) as rescheduled`;
  const beat = async () => {
    const id = current.pool.id;
    await database.sql`insert into worker_heartbeats (pool_id, hostname, pid) values (${id}, ${os.hostname()}, ${process.pid})
      on conflict (pool_id) do update set heartbeat_at = now()`;
    // One statement: the stale row goes and its pool's jobs are freed together (or neither); concurrent beats split the rows.
    const freed = await database.sql<{ pool_id: string; hostname: string; pid: number; jobs: number }[]>`
      with dead as (
        delete from worker_heartbeats where heartbeat_at < now() - make_interval(secs => ${staleMs / 1000}) returning pool_id, hostname, pid
      )
      select dead.pool_id, dead.hostname, dead.pid,
             (select count(*)::int from graphile_worker.jobs j where j.locked_by = dead.pool_id) as jobs
      from dead, lateral graphile_worker.force_unlock_workers(array[dead.pool_id]) as unlocked`;
    for (const d of freed) logger.warn('freed the jobs of a worker that stopped beating', { pool_id: d.pool_id, hostname: d.hostname, pid: d.pid, jobs: d.jobs });
    // The job-table scans, once per stale time; jobs just freed from a dead pool are looked at for a cut-short last attempt at once.
    const sweeping = Date.now() - lastSweep >= staleMs;
    if (sweeping) lastSweep = Date.now();
    const orphaned = sweeping ? await sweepOrphans() : [];
    for (const d of orphaned) logger.warn('freed the jobs of a worker that died before its first heartbeat', { pool_id: d.pool_id, jobs: d.jobs });
    const resumed = sweeping || freed.length > 0 ? await retryInterrupted() : [];
    for (const r of resumed) logger.warn('a job whose last attempt was cut short gets one more', { task: r.task, job_id: r.id });
    // Freeing sends no jobs:insert notification; wake our idle workers rather than wait for the next poll.
    const jobs = [...freed, ...orphaned].reduce((n, d) => n + d.jobs, 0) + resumed.length;
    if (jobs > 0) current.pool.nudge(jobs);
  };
  /**
   * A pool ends by itself only on a fatal error, typically Postgres going away while jobs ran (their outcome
   * could not be written). Its jobs stay locked by its id, and this process would otherwise beat on with no
   * pool taking jobs: so free them and start a new pool, retrying with backoff until the database answers.
   */
  let relaunching: Promise<void> | undefined;
  const stopSignal = new AbortController();
  const supervise = (r: Running) => {
    let handled = false;
    const died = (err: unknown) => {
      if (stopped || handled) return;
      handled = true;
      logger.error('worker pool stopped unexpectedly; starting a new one', { pool_id: r.pool.id, error: err });
      // Stop the rest of the old runner (its cron) without waiting on it: after a failed batch write the old
      // pool may never finish terminating (its batcher waits for a write that will not come).
      r.runner.stop().catch(() => {});
      relaunching = relaunch(r.pool.id).finally(() => (relaunching = undefined));
    };
    // A shutdown we did not ask for has finished releasing its workers (whether or not it then terminates).
    r.events.on('pool:gracefulShutdown:complete', () => died(new Error('graceful shutdown after a fatal error')));
    r.events.on('pool:gracefulShutdown:error', ({ error }: { error: unknown }) => died(error));
    void r.pool.promise.then(
      () => died(new Error('worker pool exited')),
      (err: unknown) => died(err),
    );
  };
  const relaunch = async (deadPoolId: string) => {
    for (let attempt = 0; !stopped; attempt++) {
      const waited = await sleep(Math.min(30_000, 500 * 2 ** attempt), true, { signal: stopSignal.signal }).catch(() => false);
      if (stopped || !waited) return;
      try {
        await database.sql`
          with gone as (delete from worker_heartbeats where pool_id = ${deadPoolId})
          select graphile_worker.force_unlock_workers(array[${deadPoolId}::text])`;
        current = await launch();
        supervise(current);
        logger.info('worker pool restarted', { pool_id: current.pool.id, replaces: deadPoolId });
        void heartbeat.runNow();
        return;
      } catch (err) {
        logger.warn('worker pool restart failed; retrying', { attempt: attempt + 1, error: err });
      }
    }
  };
  supervise(current);
  const vacuum = opts.queueVacuum === false ? undefined : startQueueVacuum(database.sql, logger, opts.queueVacuum);
  // The first beat (registration, and freeing the jobs of pools found dead) is not awaited: the caller's signal handlers come first.
  const heartbeat = every(intervalMs, () => beat().catch((err) => logger.warn('worker heartbeat failed', { error: err })), { now: true });
  logger.info('worker started', { concurrency: opts.concurrency, pool_id: current.pool.id });
  let stopping: Promise<void> | undefined;
  return {
    get runner() {
      return current.runner;
    },
    get events() {
      return current.events;
    },
    get poolId() {
      return current.pool.id;
    },
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        stopSignal.abort();
        await heartbeat.stop();
        await vacuum?.stop();
        await relaunching;
        await current.runner.stop().catch((err: unknown) => logger.warn('worker pool stop failed', { error: err }));
        // Jobs are released by now; without the row nobody will look for this pool again.
        // If the database is already gone (Ctrl-C reached an embedded Postgres too), the row simply goes stale.
        await database.sql`delete from worker_heartbeats where pool_id = ${current.pool.id}`.catch((err) =>
          lostConnection(err) ? logger.debug('could not remove the worker heartbeat', { error: err }) : logger.warn('could not remove the worker heartbeat', { error: err }),
        );
        await pgPool.end();
        await database.close();
        logger.info('worker stopped');
      })()),
  };
}
