/**
 * Resumable notification streams: a session's GET stream is logged in Postgres
 * (mcp_events), so a client that drops it and comes back with Last-Event-ID
 * gets the notifications/resources/updated it missed, on the same replica or
 * another one, which then takes the session over. Replica A serves MCP, replica
 * B serves MCP and runs the worker; both on one database.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type RunningApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { pruneMcpState, MCP_RETENTION } from '../../src/mcp/prune.js';
import { approveMediaBuy } from '../../src/services/approval.js';
import { buyRequest, rawCall, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

const PROTOCOL = '2025-11-25';

interface Replica {
  app: RunningApp;
  http: HttpServer;
  url: string;
  close(): Promise<void>;
}

async function replica(t: TestApp, worker: boolean): Promise<Replica> {
  const config = { ...loadConfig({ DATABASE_URL: t.db.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' }), workerConcurrency: 4, dbPoolSize: 5 };
  const app = await bootApp(config, createLogger(config.logLevel, { test: true }), { worker });
  const http = await startHttpServer(app.services, { host: '127.0.0.1', port: 0 });
  return { app, http, url: http.url, close: async () => (await http.close(), await app.close()) };
}

// ---------------------------------------------------------------- a raw streamable-HTTP client

interface SseEvent {
  id?: string;
  data: string;
}
type Rpc = { jsonrpc: '2.0'; id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> };

/** Reads an SSE response as it arrives. */
class SseStream {
  readonly events: SseEvent[] = [];
  private done = false;
  constructor(
    res: Response,
    private readonly abort?: AbortController,
  ) {
    void this.pump(res.body!);
  }
  private async pump(body: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const ev: SseEvent = { data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('id:')) ev.id = line.slice(3).trim();
            else if (line.startsWith('data:')) ev.data += line.slice(5).trim();
          }
          if (ev.data || ev.id) this.events.push(ev);
        }
      }
    } catch {
      // aborted
    }
    this.done = true;
  }
  messages(): (Rpc & { eventId?: string })[] {
    return this.events.filter((e) => e.data).map((e) => ({ ...(JSON.parse(e.data) as Rpc), eventId: e.id }));
  }
  async find(pred: (m: Rpc & { eventId?: string }) => boolean, timeoutMs = 10_000) {
    return waitFor(async () => this.messages().find(pred) ?? (this.done && !this.messages().some(pred) ? undefined : undefined), timeoutMs);
  }
  close() {
    this.abort?.abort();
  }
}

class RawSession {
  private seq = 0;
  constructor(
    private url: string,
    private readonly token: string,
    readonly id: string,
  ) {}

  static async open(url: string, token: string): Promise<RawSession> {
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('mcp-session-id')!;
    await new SseStream(res).find((m) => m.id === 0);
    const s = new RawSession(url, token, id);
    await s.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return s;
  }

  /** Talk to another replica from now on (as a load balancer might send us). */
  moveTo(url: string) {
    this.url = url;
  }

  private headers(extra: Record<string, string> = {}) {
    return { authorization: `Bearer ${this.token}`, 'mcp-session-id': this.id, 'mcp-protocol-version': PROTOCOL, ...extra };
  }

  post(body: Rpc) {
    return fetch(`${this.url}/mcp`, { method: 'POST', headers: this.headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }), body: JSON.stringify(body) });
  }

  async request(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = ++this.seq;
    const res = await this.post({ jsonrpc: '2.0', id, method, params });
    expect(res.status).toBe(200);
    const answer = await new SseStream(res).find((m) => m.id === id);
    return answer.result!;
  }

  async listen(lastEventId?: string): Promise<SseStream> {
    const abort = new AbortController();
    const res = await fetch(`${this.url}/mcp`, { headers: this.headers({ accept: 'text/event-stream', ...(lastEventId && { 'last-event-id': lastEventId }) }), signal: abort.signal });
    expect(res.status).toBe(200);
    return new SseStream(res, abort);
  }
}

const updated = (uri: string) => (m: Rpc) => m.method === 'notifications/resources/updated' && m.params?.uri === uri;
const statusLine = (text: string) => (m: Rpc) => m.method === 'notifications/message' && String(m.params?.data).includes(text);

// ---------------------------------------------------------------- the tests

let t: TestApp;
let a: Replica;
let b: Replica;
let sql: postgres.Sql;

beforeAll(async () => {
  // A serves MCP without a worker; B serves MCP and runs the worker. Buys wait for the seller, then book in 1.2 s (time to close a replica first, on a loaded runner).
  t = await startTestApp({ http: true, worker: false, approval: 'manual', adapterLatencyMs: 1200 });
  a = { app: t.app, http: t.http!, url: t.http!.url, close: async () => {} };
  b = await replica(t, true);
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await b?.close();
  await t?.close();
});

/** A buy awaiting the seller, with its approval task. */
async function pendingBuy(): Promise<{ mediaBuyId: string; taskId: string }> {
  const res = await rawCall(a.url, 'create_media_buy', buyRequest(), { authorization: `Bearer ${t.token}` });
  const taskId = String((res.body.result!.structuredContent as { task_id: string }).task_id);
  const [row] = await sql<{ media_buy_id: string }[]>`select media_buy_id from workflow_steps where id = ${taskId}`;
  return { mediaBuyId: row!.media_buy_id, taskId };
}

const booked = (mediaBuyId: string) => waitFor(async () => (await sql`select 1 from adapter_orders where media_buy_id = ${mediaBuyId} and state = 'booked'`).length > 0);
/** The session's log holds an event after `afterId` that mentions `text` (the holder stored what the client missed). */
const logged = (sessionId: string, afterId: string, text: string) =>
  waitFor(async () => (await sql`select 1 from mcp_events where session_id = ${sessionId} and id > ${Number(afterId)} and message::text like ${`%${text}%`}`).length > 0);

describe('resuming a notification stream with Last-Event-ID', () => {
  it('on the same replica: the change the worker made while the stream was down arrives on reconnect', async () => {
    const { mediaBuyId, taskId } = await pendingBuy();
    const uri = `media-buy://${mediaBuyId}`;
    const session = await RawSession.open(a.url, t.token);
    await session.request('resources/subscribe', { uri });
    const stream = await session.listen();

    expect((await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo' })).ok).toBe(true);
    const approved = await stream.find(updated(uri));
    expect(approved.eventId).toMatch(/^\d+$/);
    stream.close(); // the client drops its stream before the ad server has booked the order

    await booked(mediaBuyId);
    await logged(session.id, approved.eventId!, 'booked at the ad server');
    const seenBefore = stream.messages().length;

    const resumed = await session.listen(approved.eventId);
    const missed = await resumed.find(updated(uri));
    expect(Number(missed.eventId)).toBeGreaterThan(Number(approved.eventId));
    await resumed.find(statusLine('booked at the ad server'));
    // Nothing the client already had is sent again.
    expect(resumed.messages().every((m) => Number(m.eventId) > Number(approved.eventId))).toBe(true);
    expect(stream.messages().length).toBe(seenBefore);
    resumed.close();
  });

  it('on another replica: it takes the session over, replays what the first replica logged, and the first lets go', async () => {
    const { mediaBuyId, taskId } = await pendingBuy();
    const uri = `media-buy://${mediaBuyId}`;
    const session = await RawSession.open(a.url, t.token);
    await session.request('resources/subscribe', { uri });
    const onA = a.http.sessionCount();
    const stream = await session.listen();

    expect((await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo' })).ok).toBe(true);
    const approved = await stream.find(updated(uri));
    stream.close();
    await booked(mediaBuyId);
    await logged(session.id, approved.eventId!, 'booked at the ad server');

    session.moveTo(b.url);
    const resumed = await session.listen(approved.eventId);
    await resumed.find(statusLine('booked at the ad server'));
    expect((await resumed.find(updated(uri))).eventId).not.toBe(approved.eventId);
    await waitFor(async () => a.http.sessionCount() === onA - 1);

    // B now serves the session, subscriptions included: a new change reaches the resumed stream live.
    const read = await session.request('resources/read', { uri });
    expect(JSON.parse(String((read.contents as { text: string }[])[0]!.text)).fulfilment[0].state).toBe('booked');
    const pause = await session.request('tools/call', { name: 'update_media_buy', arguments: { media_buy_id: mediaBuyId, paused: true, idempotency_key: `pause-${mediaBuyId}` } });
    expect(pause.isError).toBeFalsy();
    await resumed.find(statusLine('updated by the buyer'));
    // Ids keep growing along the session across the hand-over: what B logs comes after what A logged.
    const ids = resumed.messages().map((m) => Number(m.eventId));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(ids.length);
    resumed.close();
  });

  it('on another replica: the logging level the session set holds there too', async () => {
    const { mediaBuyId, taskId } = await pendingBuy();
    const uri = `media-buy://${mediaBuyId}`;
    const session = await RawSession.open(a.url, t.token);
    expect(await session.request('logging/setLevel', { level: 'error' })).toEqual({});
    await session.request('resources/subscribe', { uri });

    session.moveTo(b.url);
    const stream = await session.listen();
    expect((await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo' })).ok).toBe(true);
    // Approved, then booked by B's worker: each update would come with an info line, on this stream.
    await waitFor(async () => stream.messages().filter(updated(uri)).length >= 2);
    expect(stream.messages().filter((m) => m.method === 'notifications/message')).toEqual([]);
    stream.close();
  });

  it('after its replica went away: the SDK client reconnects elsewhere and hears of what changed while no replica held it', async () => {
    const c = await replica(t, false);
    let target = c.url;
    let release!: () => void;
    let gate: Promise<void> = Promise.resolve();
    const transport = new StreamableHTTPClientTransport(new URL(`${c.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${t.token}` } },
      reconnectionOptions: { initialReconnectionDelay: 50, maxReconnectionDelay: 200, reconnectionDelayGrowFactor: 1, maxRetries: 50 },
      // A load balancer in front of the replicas.
      fetch: async (input, init) => {
        await gate;
        return fetch(String(input).replace(c.url, target), init);
      },
    });
    const client = new Client({ name: 'roaming-buyer', version: '1.0.0' });
    await client.connect(transport);
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));

    const { mediaBuyId, taskId } = await pendingBuy();
    const uri = `media-buy://${mediaBuyId}`;
    await client.subscribeResource({ uri });
    await waitFor(async () => (await sql`select 1 from mcp_sessions where id = ${transport.sessionId!} and subscriptions ? ${uri}`).length > 0);
    // The GET stream is open once a notification reaches it.
    await waitFor(async () => {
      if (updates.length === 0) await approveMediaBuy(t.app.database.db, { tenantId: 'demo', taskId, actor: 'ops@demo' });
      return updates.includes(uri);
    });

    // Replica C goes away; until the balancer sends the client to A, the worker books the order. No replica hears it for the session.
    gate = new Promise((r) => (release = r));
    target = a.url;
    await c.close();
    await booked(mediaBuyId);
    const heard = updates.length;
    release();

    // A reconnection and a take-over: slow on a loaded machine.
    await waitFor(async () => updates.length > heard, 20_000);
    expect(updates.slice(heard)).toContain(uri);
    // The same session goes on, on A.
    const read = (await client.readResource({ uri })).contents[0]!;
    expect(JSON.parse('text' in read ? read.text : '{}').fulfilment[0].state).toBe('booked');
    expect(a.http.sessionCount()).toBeGreaterThan(0);
    await client.close();
  });

  it('closing a session (DELETE) ends it everywhere: no replica takes it over', async () => {
    const session = await RawSession.open(a.url, t.token);
    const res = await fetch(`${a.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${t.token}`, 'mcp-session-id': session.id, 'mcp-protocol-version': PROTOCOL } });
    expect(res.status).toBe(200);
    session.moveTo(b.url);
    const again = await session.post({ jsonrpc: '2.0', id: 9, method: 'ping' });
    expect(again.status).toBe(404);
  });

  it('another caller cannot take a session over, and learns nothing of it', async () => {
    const session = await RawSession.open(a.url, t.token);
    const onB = b.http.sessionCount();
    const res = await fetch(`${b.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session.id, 'mcp-protocol-version': PROTOCOL },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(res.status).toBe(404);
    expect(b.http.sessionCount()).toBe(onB);
    // Its owner still has it.
    expect(await session.request('ping', {})).toEqual({});
  });

  it('prunes events older than the retention window', async () => {
    await sql`insert into mcp_events (session_id, stream_id, message, created_at) values ('old-session', '_GET_stream', '{}'::jsonb, now() - make_interval(secs => ${MCP_RETENTION.eventsSeconds + 60}))`;
    const { events } = await pruneMcpState(t.app.database);
    expect(events).toBeGreaterThanOrEqual(1);
    expect(await sql`select 1 from mcp_events where session_id = 'old-session'`).toHaveLength(0);
  });

  it('prunes anonymous sessions idle for an hour, buyers’ sessions after a week', async () => {
    const ago = (s: number) => sql`now() - make_interval(secs => ${s})`;
    await sql`insert into mcp_sessions (id, tenant_id, principal_id, updated_at) values
      ('anon-idle', null, null, ${ago(MCP_RETENTION.anonymousSessionsSeconds + 60)}),
      ('anon-recent', null, null, now()),
      ('buyer-idle-hours', 'demo', 'prn_demo_buyer', ${ago(MCP_RETENTION.anonymousSessionsSeconds + 60)}),
      ('buyer-idle-week', 'demo', 'prn_demo_buyer', ${ago(MCP_RETENTION.sessionsSeconds + 60)})`;
    await pruneMcpState(t.app.database);
    expect((await sql`select id from mcp_sessions where id in ('anon-idle', 'anon-recent', 'buyer-idle-hours', 'buyer-idle-week') order by id`).map((r) => r.id)).toEqual(['anon-recent', 'buyer-idle-hours']);
  });
});
