/**
 * Prometheus metrics for GET /metrics: what this process served (tool calls by
 * outcome and latency), how it is doing (memory, event-loop delay, sessions),
 * and the state of the work shared by every process, read from Postgres when
 * scraped (jobs waiting and failing, bookings and webhooks in flight, approvals
 * waiting, live workers). Recording a call is a few array writes; the queries
 * run at most every 10 s whatever the number of scrapers, one read at a time,
 * and a scrape waits at most 3 s for them (then reports the database down).
 *
 * Every replica reports the shared gauges alike (they come from one database):
 * aggregate them with max(), not sum(). Labels have bounded values: tool names
 * are the registered tools, error codes AdCP's.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type postgres from 'postgres';

/** Seconds; tuned to this server: most calls take 0.3-5 ms, a loaded one tens of ms. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface ToolStats {
  counts: number[]; // per bucket (not cumulative), plus +Inf at the end
  sum: number;
  errors: Map<string, number>;
}

/** Event-loop delay is sampled every LOOP_RESOLUTION_MS and summarised per minute. */
const LOOP_RESOLUTION_MS = 10;
const LOOP_WINDOW_MS = 60_000;
/** The shared gauges are read at most this often, however many scrapers ask; a read gets this long. */
const SHARED_TTL_MS = 10_000;
const SHARED_DEADLINE_MS = 3_000;

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export class Metrics {
  private readonly tools = new Map<string, ToolStats>();
  private readonly loop: IntervalHistogram;
  private readonly rotate: NodeJS.Timeout;
  private lastMinute: LoopDelay | undefined;
  private shared: { at: number; value: Promise<Shared | undefined> } | undefined;

  constructor(private readonly opts: { sharedTtlMs?: number } = {}) {
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
    // Summarised per minute on a timer, not per scrape: two scrapers (or one HEAD) do not split the window.
    this.rotate = setInterval(() => {
      this.lastMinute = this.loopDelay();
      this.loop.reset();
    }, LOOP_WINDOW_MS).unref();
  }

  /** Seconds; the sampling interval itself is not delay (the histogram counts it in). */
  private loopDelay(): LoopDelay {
    const s = (ns: number) => (this.loop.count === 0 ? 0 : Math.max(0, ns / 1e9 - LOOP_RESOLUTION_MS / 1000));
    return { p50: s(this.loop.percentile(50)), p99: s(this.loop.percentile(99)), max: s(this.loop.max) };
  }

  /** The shared gauges, read once per SHARED_TTL_MS by one query at a time, within SHARED_DEADLINE_MS. */
  private sharedGauges(sql: postgres.Sql): Promise<Shared | undefined> {
    const now = Date.now();
    if (!this.shared || now - this.shared.at >= (this.opts.sharedTtlMs ?? SHARED_TTL_MS)) {
      const read = sharedGauges(sql).catch(() => undefined);
      const deadline = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), SHARED_DEADLINE_MS).unref());
      this.shared = { at: now, value: Promise.race([read, deadline]) };
    }
    return this.shared.value;
  }

  /** One tool call: its duration and, when it answered with an error, the AdCP code. */
  toolCall(tool: string, seconds: number, errorCode?: string): void {
    let s = this.tools.get(tool);
    if (!s) this.tools.set(tool, (s = { counts: new Array(BUCKETS.length + 1).fill(0), sum: 0, errors: new Map() }));
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    if (errorCode) s.errors.set(errorCode, (s.errors.get(errorCode) ?? 0) + 1);
  }

  stop(): void {
    clearInterval(this.rotate);
    this.loop.disable();
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async render(opts: { sql: postgres.Sql; sessions?: () => number }): Promise<string> {
    const out: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family('sales_agent_tool_call_duration_seconds', 'histogram', 'MCP tool calls served by this process, by tool, with their duration.');
    for (const [tool, s] of [...this.tools].sort(([a], [b]) => a.localeCompare(b))) {
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += s.counts[i]!;
        out.push(`sales_agent_tool_call_duration_seconds_bucket{tool="${tool}",le="${le}"} ${cumulative}`);
      });
      cumulative += s.counts[BUCKETS.length]!;
      out.push(`sales_agent_tool_call_duration_seconds_bucket{tool="${tool}",le="+Inf"} ${cumulative}`);
      out.push(`sales_agent_tool_call_duration_seconds_sum{tool="${tool}"} ${s.sum}`);
      out.push(`sales_agent_tool_call_duration_seconds_count{tool="${tool}"} ${cumulative}`);
    }
    family('sales_agent_tool_errors_total', 'counter', 'MCP tool calls answered with an AdCP error, by tool and error code.');
    for (const [tool, s] of this.tools) {
      for (const [code, n] of [...s.errors].sort(([a], [b]) => a.localeCompare(b))) out.push(`sales_agent_tool_errors_total{tool="${tool}",code="${label(code)}"} ${n}`);
    }

    const mem = process.memoryUsage();
    family('process_resident_memory_bytes', 'gauge', 'Resident memory of this process.');
    out.push(`process_resident_memory_bytes ${mem.rss}`);
    family('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.');
    out.push(`nodejs_heap_used_bytes ${mem.heapUsed}`);
    family('nodejs_eventloop_delay_seconds', 'gauge', 'Event-loop delay over the last full minute (the current one until a minute has passed), by quantile.');
    const loop = this.lastMinute ?? this.loopDelay();
    out.push(`nodejs_eventloop_delay_seconds{quantile="0.5"} ${loop.p50}`, `nodejs_eventloop_delay_seconds{quantile="0.99"} ${loop.p99}`, `nodejs_eventloop_delay_seconds{quantile="1"} ${loop.max}`);
    if (opts.sessions) {
      family('sales_agent_mcp_sessions', 'gauge', 'MCP sessions this process holds in memory.');
      out.push(`sales_agent_mcp_sessions ${opts.sessions()}`);
    }

    const shared = await this.sharedGauges(opts.sql);
    family('sales_agent_database_up', 'gauge', 'Whether the shared gauges below could be read from Postgres at this scrape.');
    out.push(`sales_agent_database_up ${shared ? 1 : 0}`);
    if (shared) {
      family('sales_agent_jobs', 'gauge', 'Background jobs in Postgres (all workers), by task and state: ready, scheduled (waiting to run or retry), running, failed (out of attempts).');
      for (const r of shared.jobs) out.push(`sales_agent_jobs{task="${label(r.task)}",state="${r.state}"} ${r.n}`);
      family('sales_agent_adapter_orders_in_flight', 'gauge', 'Orders at ad servers not yet settled, by adapter type and state.');
      for (const r of shared.orders) out.push(`sales_agent_adapter_orders_in_flight{adapter_type="${label(r.adapter_type)}",state="${label(r.state)}"} ${r.n}`);
      family('sales_agent_webhooks_pending', 'gauge', 'AdCP webhooks to buyers not yet delivered, by status.');
      for (const r of shared.webhooks) out.push(`sales_agent_webhooks_pending{status="${label(r.status)}"} ${r.n}`);
      family('sales_agent_approvals_pending', 'gauge', 'Media buys waiting for a human approval.');
      out.push(`sales_agent_approvals_pending ${shared.approvals}`);
      family('sales_agent_workers', 'gauge', 'Worker pools with a heartbeat in the last minute.');
      out.push(`sales_agent_workers ${shared.workers}`);
    }
    return out.join('\n') + '\n';
  }
}

/** Label values are ids and codes; escape anyway. */
const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

interface Shared {
  jobs: { task: string; state: string; n: number }[];
  orders: { adapter_type: string; state: string; n: number }[];
  webhooks: { status: string; n: number }[];
  approvals: number;
  workers: number;
}

async function sharedGauges(sql: postgres.Sql): Promise<Shared> {
  // One read-only transaction with a timeout: a slow scrape must not hold a connection the tools need.
  return sql.begin('read only', async (tx) => {
    await tx`set local statement_timeout = '2s'`;
    const [jobs, orders, webhooks, [counts]] = await Promise.all([
      tx<Shared['jobs']>`
        select task_identifier as task,
               case when locked_at is not null then 'running'
                    when attempts >= max_attempts then 'failed'
                    when run_at > now() then 'scheduled'
                    else 'ready' end as state,
               count(*)::int as n
        from graphile_worker.jobs group by 1, 2 order by 1, 2`,
      tx<Shared['orders']>`
        select coalesce(a.adapter_type, 'unknown') as adapter_type, o.state, count(*)::int as n
        from adapter_orders o left join adapter_configs a on a.id = o.adapter_config_id
        where o.state not in ('booked', 'failed', 'canceled') group by 1, 2 order by 1, 2`,
      tx<Shared['webhooks']>`
        select status, count(*)::int as n from webhook_deliveries where status not in ('delivered', 'failed') group by 1 order by 1`,
      tx<{ approvals: number; workers: number }[]>`
        select (select count(*)::int from workflow_steps where status = 'requires_approval') as approvals,
               (select count(*)::int from worker_heartbeats where heartbeat_at > now() - interval '1 minute') as workers`,
    ]);
    return { jobs: [...jobs], orders: [...orders], webhooks: [...webhooks], approvals: counts!.approvals, workers: counts!.workers };
  });
}
