/**
 * What one client can make a replica hold in memory is bounded: JSON-RPC batches (MAX_BATCH messages) and
 * live sessions (maxSessions: the least recently used idle one is released, and with none idle a new one
 * gets 503).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH, startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let http: HttpServer;

beforeAll(async () => {
  t = await startTestApp();
  http = await startHttpServer(t.app.services, { host: '127.0.0.1', port: 0, maxSessions: 2 });
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

const headers = (sessionId?: string) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  ...(sessionId && { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }),
});
const post = (body: unknown, sessionId?: string) => fetch(`${http.url}/mcp`, { method: 'POST', headers: headers(sessionId), body: JSON.stringify(body) });
const ping = (id: number) => ({ jsonrpc: '2.0', id, method: 'ping' });

async function initialize(): Promise<{ status: number; id: string | null }> {
  const res = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'limits', version: '1' } } });
  await res.text();
  const id = res.headers.get('mcp-session-id');
  if (id) expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, id)).status).toBe(202);
  return { status: res.status, id };
}

/** A GET event stream held open on the session, until the returned function is called. */
async function openStream(sessionId: string): Promise<() => void> {
  const abort = new AbortController();
  const res = await fetch(`${http.url}/mcp`, { method: 'GET', headers: { ...headers(sessionId), accept: 'text/event-stream' }, signal: abort.signal });
  expect(res.status).toBe(200);
  void res.body!.getReader().read().catch(() => {});
  return () => abort.abort();
}

describe('HTTP limits', () => {
  it('answers a batch up to MAX_BATCH messages, and refuses a larger or empty one as a whole', async () => {
    const ok = await post([ping(1), ping(2)]);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { id: number }[]).map((a) => a.id)).toEqual([1, 2]);

    const calls = Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'get_products', arguments: { buying_mode: 'wholesale' } } }));
    const big = await post(calls);
    expect(big.status).toBe(400);
    expect(await big.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining(`at most ${MAX_BATCH}`) } });

    const empty = await post([]);
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ error: { code: -32600 } });

    // The same limit inside a session.
    const { id } = await initialize();
    const inSession = await post(calls, id!);
    expect(inSession.status).toBe(400);
    await fetch(`${http.url}/mcp`, { method: 'DELETE', headers: headers(id!) });
  });

  it('answers methods /mcp does not take with 405, and a tools/call with no tool name with what to send', async () => {
    for (const method of ['PUT', 'PATCH']) {
      const res = await fetch(`${http.url}/mcp`, { method, headers: headers(), body: '{}' });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, POST, DELETE');
    }
    const nameless = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call' });
    expect(await nameless.json()).toMatchObject({ id: 3, error: { code: -32602, message: expect.stringContaining('params.name') } });
  });

  it('releases the least recently used idle session to make room, and refuses a new one when none is idle', async () => {
    await waitFor(async () => http.sessionCount() === 0, 5_000);
    const a = (await initialize()).id!;
    const b = (await initialize()).id!;
    expect(http.sessionCount()).toBe(2);
    const closeA = await openStream(a);
    // At the limit: b (idle) makes room for c; a has its stream open and stays.
    const c = (await initialize()).id!;
    expect(http.sessionCount()).toBe(2);
    // b comes back from Postgres on its next request, releasing c (idle) in turn.
    const again = await post(ping(7), b);
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('"id":7');
    expect(http.sessionCount()).toBe(2);

    const closeB = await openStream(b);
    try {
      // Every live session has a request open: nothing to release, so a new session waits.
      const refused = await initialize();
      expect(refused.status).toBe(503);
      expect(refused.id).toBeNull();
      // Stateless calls still work.
      const stateless = await post(ping(9));
      expect(stateless.status).toBe(200);
    } finally {
      closeA();
      closeB();
    }
    await waitFor(async () => (await initialize()).status === 200, 5_000);
    expect(c).not.toBe(a);
  });

  it('makes the holder of the most sessions give one up when none is idle, so streams held open cannot keep others out', async () => {
    await waitFor(async () => (await initialize()).status === 200, 5_000); // whatever the test before left is idle
    // An anonymous caller fills the replica with sessions and holds an event stream open on each.
    const hog = [(await initialize()).id!, (await initialize()).id!];
    const closers = await Promise.all(hog.map(openStream));
    try {
      expect((await initialize()).status).toBe(503); // the hog itself gets no more
      // A buyer holds none: the hog's least recently used session makes room (its stream ends).
      const res = await fetch(`${http.url}/mcp`, {
        method: 'POST',
        headers: { ...headers(), authorization: `Bearer ${t.token}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fair', version: '1' } } }),
      });
      expect(res.status).toBe(200);
      await res.text();
      const buyer = res.headers.get('mcp-session-id')!;
      expect(http.sessionCount()).toBe(2);
      const buyerHeaders = { ...headers(buyer), authorization: `Bearer ${t.token}` };
      const stream = new AbortController();
      const listening = await fetch(`${http.url}/mcp`, { method: 'GET', headers: { ...buyerHeaders, accept: 'text/event-stream' }, signal: stream.signal });
      expect(listening.status).toBe(200);
      void listening.body!.getReader().read().catch(() => {});
      try {
        // The session given up is still the hog's; taking it back now finds none idle and the hog holding no more than the buyer.
        expect((await post(ping(5), hog[0]!)).status).toBe(503);
        const mine = await fetch(`${http.url}/mcp`, { method: 'POST', headers: buyerHeaders, body: JSON.stringify(ping(6)) });
        expect(await mine.text()).toContain('"id":6');
      } finally {
        stream.abort();
      }
      await fetch(`${http.url}/mcp`, { method: 'DELETE', headers: buyerHeaders });
    } finally {
      for (const close of closers) close();
    }
  });

  it('never releases a session while its initialize is under way: many at once get a session or a 503, never a lost one', async () => {
    const init = async () => {
      const res = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'limits', version: '1' } } });
      await res.text();
      return res.status;
    };
    const statuses = await Promise.all(Array.from({ length: 20 }, init));
    for (const status of statuses) expect([200, 503]).toContain(status);
    expect(statuses).toContain(200);
    expect(http.sessionCount()).toBeLessThanOrEqual(2);
  });
});
