/**
 * GET /metrics: tool calls served by this process (latency histogram, AdCP
 * error codes) and the shared state of the work read from Postgres (jobs,
 * bookings in flight, approvals waiting), in the Prometheus text format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { approveMediaBuy } from '../../src/services/approval.js';
import { Metrics } from '../../src/services/metrics.js';
import { buyRequest, rawCall, startTestApp, type TestApp } from '../helpers/app.js';

/** Samples by series, e.g. `sales_agent_jobs{task="fulfil_media_buy",state="ready"}` → 1. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

describe('GET /metrics', () => {
  let t: TestApp;
  let url: string;
  const scrape = async (base = url, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/metrics`, { headers });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  beforeAll(async () => {
    t = await startTestApp({ http: true, worker: false, approval: 'manual' });
    url = t.http!.url;
    // The shared gauges are cached for 10 s in a deployment; here each scrape reads them.
    t.app.services.metrics!.stop();
    t.app.services.metrics = new Metrics({ sharedTtlMs: 0 });
  });
  afterAll(async () => {
    t?.app.services.metrics?.stop();
    await t?.close();
  });

  it('counts and times tool calls by tool, with the AdCP code of each error', async () => {
    const auth = { authorization: `Bearer ${t.token}` };
    for (let i = 0; i < 3; i++) expect((await rawCall(url, 'get_products', { brief: 'video' }, auth)).body.result?.isError).toBeFalsy();
    expect((await rawCall(url, 'create_media_buy', buyRequest(), auth)).body.result?.isError).toBeFalsy();
    expect((await rawCall(url, 'create_media_buy', buyRequest({ total_budget: -5 }), auth)).body.result?.isError).toBe(true);
    expect((await rawCall(url, 'get_media_buys', {})).status).toBe(401); // no token
    expect((await rawCall(url, 'get_media_buys', { adcp_version: '3.1' })).body.error?.data).toMatchObject({ adcp_error: { code: 'AUTH_MISSING' } });

    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parse(res.text);
    expect(m.get('sales_agent_tool_call_duration_seconds_count{tool="get_products"}')).toBe(3);
    expect(m.get('sales_agent_tool_call_duration_seconds_count{tool="create_media_buy"}')).toBe(2);
    expect(m.get('sales_agent_tool_errors_total{tool="create_media_buy",code="VALIDATION_ERROR"}')).toBe(1);
    // One failure, one label: counted under its 3.1 code whichever release the caller spoke (3.0 says AUTH_REQUIRED).
    expect(m.get('sales_agent_tool_errors_total{tool="get_media_buys",code="AUTH_MISSING"}')).toBe(2);
    expect(m.has('sales_agent_tool_errors_total{tool="get_media_buys",code="AUTH_REQUIRED"}')).toBe(false);
    expect(m.has('sales_agent_tool_errors_total{tool="get_products",code="VALIDATION_ERROR"}')).toBe(false);
    // A histogram: cumulative buckets ending in +Inf = count, and a positive sum.
    const buckets = [...m].filter(([k]) => k.startsWith('sales_agent_tool_call_duration_seconds_bucket{tool="get_products"')).map(([, v]) => v);
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(buckets.at(-1)).toBe(3);
    expect(m.get('sales_agent_tool_call_duration_seconds_sum{tool="get_products"}')).toBeGreaterThan(0);
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(10e6);
    // Every family announces itself once, typed, before its samples.
    for (const [name, type] of [['sales_agent_tool_call_duration_seconds', 'histogram'], ['sales_agent_tool_errors_total', 'counter'], ['sales_agent_database_up', 'gauge'], ['nodejs_eventloop_delay_seconds', 'gauge']]) {
      expect(res.text.split('\n').filter((l) => l === `# TYPE ${name} ${type}`)).toHaveLength(1);
      expect(res.text.indexOf(`# TYPE ${name} `)).toBeLessThan(res.text.indexOf(`\n${name}`));
    }
    expect(m.get('nodejs_eventloop_delay_seconds{quantile="0.5"}')).toBeGreaterThanOrEqual(0);
    expect(m.get('sales_agent_database_up')).toBe(1);
  });

  it('reports the work waiting in Postgres: approvals, then the job and the booking an approval queues', async () => {
    const auth = { authorization: `Bearer ${t.token}` };
    const created = await Promise.all([0, 1].map(() => rawCall(url, 'create_media_buy', buyRequest(), auth)));
    const [first] = created.map((r) => (r.body.result!.structuredContent as { task_id: string }).task_id);
    let m = parse((await scrape()).text);
    const approvals = m.get('sales_agent_approvals_pending')!;
    expect(approvals).toBeGreaterThanOrEqual(2);
    expect(m.get('sales_agent_jobs{task="fulfil_media_buy",state="ready"}')).toBeUndefined();

    expect((await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId: first!, actor: 'ops@demo' })).ok).toBe(true);
    m = parse((await scrape()).text);
    expect(m.get('sales_agent_approvals_pending')).toBe(approvals - 1);
    // No worker runs in this app: the approved buy's booking waits, ready.
    expect(m.get('sales_agent_jobs{task="fulfil_media_buy",state="ready"}')).toBe(1);
    expect(m.get('sales_agent_adapter_orders_in_flight{adapter_type="mock",state="queued"}')).toBe(1);
    expect(m.get('sales_agent_workers')).toBe(0);
  });

  it('without a token, refuses what a reverse proxy on this host forwards', async () => {
    expect((await scrape(url, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
    expect((await scrape(url, { forwarded: 'for=203.0.113.9' })).status).toBe(403);
    expect((await scrape(url)).status).toBe(200);
  });

  it('asks for the metrics token when one is configured', async () => {
    const token = 'metrics-token-0123456789';
    const guarded: HttpServer = await startHttpServer(t.app.services, { host: '127.0.0.1', port: 0, metricsToken: token });
    try {
      expect((await scrape(guarded.url)).status).toBe(401);
      expect((await scrape(guarded.url, { authorization: 'Bearer metrics-token-wrong' })).status).toBe(401);
      expect((await scrape(guarded.url, { authorization: `Bearer ${t.token}` })).status).toBe(401); // a buyer's token is not it
      const ok = await scrape(guarded.url, { authorization: `Bearer ${token}` });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('sales_agent_tool_call_duration_seconds_count{tool="get_products"}');
    } finally {
      await guarded.close();
    }
  });
});
