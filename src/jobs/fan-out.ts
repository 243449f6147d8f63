/**
 * Fan-out: a media buy reaches the ad servers in parts, one per adapter its
 * packages map to, and each part is its own job, so parts run in parallel on
 * any worker. These functions write the parts' bookkeeping rows and queue their
 * jobs inside the caller's transaction. Job keys are made of our ids, so a part
 * is queued once however often the caller asks.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/client.js';
import { newId } from '../domain/ids.js';
import { CLOSED_BUY_STATUSES } from '../domain/status.js';
import { JOBS, type JobName, type JobPayload } from './catalog.js';

/** The idempotency key of a part's order at its ad server. */
export const orderKey = (mediaBuyId: string, adapterConfigId: string) => `${mediaBuyId}/${adapterConfigId}`;

export const jobKeys = {
  fulfil: (mediaBuyId: string, adapterConfigId: string) => `fulfil:${mediaBuyId}:${adapterConfigId}`,
  update: (stepId: string, adapterConfigId: string) => `update:${stepId}:${adapterConfigId}`,
  cancel: (mediaBuyId: string, adapterConfigId: string) => `cancel:${mediaBuyId}:${adapterConfigId}`,
  creatives: (mediaBuyId: string, adapterConfigId: string) => `creatives:${mediaBuyId}:${adapterConfigId}`,
};

export interface JobSpec {
  identifier: JobName;
  payload: unknown;
  /** Graphile Worker's job key (null: none). */
  key: string | null;
  max_attempts: number;
  /** ISO time to run at (absent: now). */
  run_at?: string;
  /** Graphile Worker's named queue: its jobs run one at a time (absent: none). */
  queue?: string;
}

export function jobSpec<N extends JobName>(name: N, payload: JobPayload<N>, key: string, opts: { queue?: string } = {}): JobSpec {
  return { identifier: name, payload: JOBS[name].payload.parse(payload), key, max_attempts: JOBS[name].maxAttempts, ...(opts.queue && { queue: opts.queue }) };
}

/**
 * A scalar subquery that queues these jobs with one graphile_worker.add_jobs
 * call and yields how many it queued (add_job per job would run the same
 * function once per job, through a wrapper).
 */
export function addJobsSql(specs: JobSpec[]): SQL {
  if (specs.length === 0) return sql`0`;
  return sql`(select count(*)::int from graphile_worker.add_jobs(array(
    select row(j.identifier, j.payload::json, j.queue, j.run_at, j.max_attempts, j.key, null, null)::graphile_worker.job_spec
    from jsonb_to_recordset(${JSON.stringify(specs)}::jsonb) as j(identifier text, payload jsonb, key text, max_attempts smallint, run_at timestamptz, queue text))))`;
}

/**
 * addJobsSql for jobs whose keys contain an id minted for this very statement
 * (a new media buy's, a new webhook delivery's): no job can hold such a key
 * yet, so Graphile Worker's insert-only key mode (add_job with job_key_mode
 * 'unsafe_dedupe', which keeps an existing job of the same key instead of
 * replacing it) does exactly what add_jobs' replace would. It is cheaper on the
 * hot path: add_jobs' statements take the specs as an array, so Postgres plans
 * them again on every call (about 0.8 ms of its CPU per create_media_buy
 * under load), while add_job's take scalars and keep their cached plans.
 */
export function addNewJobsSql(specs: JobSpec[]): SQL {
  if (specs.length === 0) return sql`0`;
  if (specs.some((s) => s.key === null)) throw new Error('addNewJobsSql: every job needs a key made of a new id');
  return sql`(select count(*)::int
    from jsonb_to_recordset(${JSON.stringify(specs)}::jsonb) as j(identifier text, payload jsonb, key text, max_attempts int, run_at timestamptz, queue text),
         lateral graphile_worker.add_job(j.identifier, j.payload::json, queue_name => j.queue, run_at => j.run_at, max_attempts => j.max_attempts,
                                         job_key => j.key, job_key_mode => 'unsafe_dedupe') as added)`;
}

export async function addJobs(db: Queryable, specs: JobSpec[]): Promise<void> {
  if (specs.length) await db.execute(sql`select ${addJobsSql(specs)} as n`);
}

export interface FulfilmentPlan {
  /** adapter_orders rows to insert, queued. */
  parts: { id: string; adapter_config_id: string; adapter_type: string; idempotency_key: string }[];
  jobs: JobSpec[];
}

/** The parts of a buy and their fulfil_media_buy jobs, one per adapter. */
export function planFulfilment(tenantId: string, mediaBuyId: string, adapters: { id: string; adapterType: string }[]): FulfilmentPlan {
  const unique = [...new Map(adapters.map((a) => [a.id, a])).values()];
  return {
    parts: unique.map((a) => ({ id: newId('ao'), adapter_config_id: a.id, adapter_type: a.adapterType, idempotency_key: orderKey(mediaBuyId, a.id) })),
    jobs: unique.map((a) => jobSpec('fulfil_media_buy', { v: 1, tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: a.id }, jobKeys.fulfil(mediaBuyId, a.id))),
  };
}

/**
 * Queue fulfilment of a stored buy (after approval, or for a job queued
 * before fan-out): a part and a job for each adapter of its live packages
 * that has no part yet. Returns how many parts it queued.
 */
export async function enqueueFulfilment(db: Queryable, p: { tenantId: string; mediaBuyId: string }): Promise<number> {
  const adapters = await db.execute<{ id: string; adapter_type: string }>(sql`
    select distinct a.id, a.adapter_type from media_packages k join adapter_configs a on a.id = k.adapter_config_id and a.tenant_id = k.tenant_id
    where k.tenant_id = ${p.tenantId} and k.media_buy_id = ${p.mediaBuyId} and k.status <> 'canceled'
      and not exists (select 1 from adapter_orders o where o.media_buy_id = k.media_buy_id and o.adapter_config_id = a.id)`);
  if (adapters.length === 0) return 0;
  const plan = planFulfilment(p.tenantId, p.mediaBuyId, adapters.map((a) => ({ id: a.id, adapterType: a.adapter_type })));
  await db.execute(sql`
    with parts as (
      insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, idempotency_key)
      select x.id, ${p.tenantId}, ${p.mediaBuyId}, x.adapter_config_id, x.adapter_type, 'queued', x.idempotency_key
      from jsonb_to_recordset(${JSON.stringify(plan.parts)}::jsonb) as x(id text, adapter_config_id text, adapter_type text, idempotency_key text)
      returning 1
    )
    select (select count(*) from parts) as parts, ${addJobsSql(plan.jobs)} as jobs`);
  return plan.parts.length;
}

/**
 * update_media_buy's ad-server side (for a buy past approval): a
 * sync_media_buy_update job for each adapter holding packages of the buy
 * (canceled ones too: the cancellation must reach it), each tracked in
 * adapter_order_updates; the step completes when none is left queued. New
 * packages on an adapter the buy had no part at get a part of their own,
 * booked by fulfil_media_buy. Returns how many adapters it queued (0: nothing
 * to send, and the caller completes the step).
 */
export async function enqueueMediaBuyUpdate(db: Queryable, p: { tenantId: string; mediaBuyId: string; stepId: string }): Promise<number> {
  await enqueueFulfilment(db, { tenantId: p.tenantId, mediaBuyId: p.mediaBuyId });
  const adapters = await db.execute<{ id: string }>(sql`
    select distinct k.adapter_config_id as id from media_packages k
    where k.tenant_id = ${p.tenantId} and k.media_buy_id = ${p.mediaBuyId} and k.adapter_config_id is not null`);
  if (adapters.length === 0) return 0;
  const ids = adapters.map((a) => a.id);
  const jobs = ids.map((id) => jobSpec('sync_media_buy_update', { v: 1, tenant_id: p.tenantId, media_buy_id: p.mediaBuyId, step_id: p.stepId, adapter_config_id: id }, jobKeys.update(p.stepId, id)));
  await db.execute(sql`
    with parts as (
      insert into adapter_order_updates (step_id, adapter_config_id, tenant_id, media_buy_id)
      select ${p.stepId}, x.id, ${p.tenantId}, ${p.mediaBuyId} from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) as x(id)
      on conflict do nothing
      returning 1
    )
    select (select count(*) from parts) as parts, ${addJobsSql(jobs)} as jobs`);
  return ids.length;
}

/**
 * Creatives to the ad servers: a sync_adapter_creatives job for each part of
 * the named buys, and of the open buys these creatives are assigned to
 * (uploaded or changed creatives). Buys awaiting approval are left out: their
 * parts are booked, and their creatives sent, after approval.
 */
export async function enqueueCreativeSync(db: Queryable, p: { tenantId: string; principalId: string; mediaBuyIds?: string[]; creativeIds?: string[] }): Promise<number> {
  const buys = [...new Set(p.mediaBuyIds ?? [])];
  const creatives = [...new Set(p.creativeIds ?? [])];
  if (buys.length === 0 && creatives.length === 0) return 0;
  const pairs = await db.execute<{ media_buy_id: string; adapter_config_id: string }>(sql`
    select distinct k.media_buy_id, k.adapter_config_id
    from media_packages k join media_buys b on b.id = k.media_buy_id
    where b.tenant_id = ${p.tenantId} and b.principal_id = ${p.principalId} and k.adapter_config_id is not null
      and b.status <> 'pending_approval' and b.status not in ${CLOSED_BUY_STATUSES}
      and (b.id in (select jsonb_array_elements_text(${JSON.stringify(buys)}::jsonb))
           or exists (select 1 from creative_assignments a
                      where a.package_id = k.id and a.tenant_id = ${p.tenantId} and a.principal_id = ${p.principalId}
                        and a.creative_id in (select jsonb_array_elements_text(${JSON.stringify(creatives)}::jsonb))))`);
  await addJobs(
    db,
    pairs.map((x) => jobSpec('sync_adapter_creatives', { v: 1, tenant_id: p.tenantId, media_buy_id: x.media_buy_id, adapter_config_id: x.adapter_config_id }, jobKeys.creatives(x.media_buy_id, x.adapter_config_id))),
  );
  return pairs.length;
}
