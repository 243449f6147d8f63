/**
 * Idle MCP sessions leave the replica's memory (SESSION_IDLE_MS) and come back
 * from Postgres on their next request, subscriptions included; a session with
 * an open GET stream stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { buyRequest, call, rawCall, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

let t: TestApp;
let http: HttpServer;

beforeAll(async () => {
  t = await startTestApp({ worker: true, adapterLatencyMs: 1500 });
  http = await startHttpServer(t.app.services, { host: '127.0.0.1', port: 0, sessionIdleMs: 150 });
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

const headers = (sessionId?: string) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  authorization: `Bearer ${t.token}`,
  ...(sessionId && { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }),
});

async function post(sessionId: string | undefined, body: unknown): Promise<Response> {
  return fetch(`${http.url}/mcp`, { method: 'POST', headers: headers(sessionId), body: JSON.stringify(body) });
}

describe('idle sessions', () => {
  it('releases a session with no open request, and its next request takes it over from Postgres with its subscriptions', async () => {
    const init = await post(undefined, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    expect((await post(sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);

    // A buy whose booking (1.5 s at the mock ad server) finishes while the session is out of memory.
    const created = await rawCall(http.url, 'create_media_buy', buyRequest(), { authorization: `Bearer ${t.token}` });
    const mediaBuyId = (created.body.result?.structuredContent as { media_buy_id: string }).media_buy_id;
    const uri = `media-buy://${mediaBuyId}`;
    const sub = await post(sessionId, { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri } });
    expect(sub.status).toBe(200);
    await sub.text();
    expect(http.sessionCount()).toBe(1);
    const updatedAt = async () => new Date((await t.app.database.sql<{ updated_at: string }[]>`select updated_at from mcp_sessions where id = ${sessionId}`)[0]!.updated_at).getTime();
    const before = await updatedAt();

    await waitFor(async () => http.sessionCount() === 0, 5_000);
    // Released, its row is touched: the retention period (prune.ts) starts again.
    await waitFor(async () => (await updatedAt()) > before, 5_000);

    // The GET stream takes the session back; the booking reaches it (live, or as the catch-up of what changed).
    const abort = new AbortController();
    const stream = await fetch(`${http.url}/mcp`, { method: 'GET', headers: { ...headers(sessionId), accept: 'text/event-stream' }, signal: abort.signal });
    expect(stream.status).toBe(200);
    expect(http.sessionCount()).toBe(1);
    let text = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
      } catch {
        // aborted below
      }
    })();
    try {
      await waitFor(async () => text.includes('notifications/resources/updated') && text.includes(uri), 10_000);
      const [state] = await t.app.database.sql<{ state: string }[]>`select state from adapter_orders where media_buy_id = ${mediaBuyId}`;
      expect(state?.state).toBe('booked');
      // Held by its open stream, the session is not released again.
      await new Promise((r) => setTimeout(r, 500));
      expect(http.sessionCount()).toBe(1);
    } finally {
      abort.abort();
      await reading;
    }
    await waitFor(async () => http.sessionCount() === 0, 5_000);
  });

  it('does not release a session while a request is taking it over, however slow the database', async () => {
    const init = await post(undefined, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    expect((await post(sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    await waitFor(async () => http.sessionCount() === 0, 5_000);
    // Hold the session's row: the take-over's announcement waits for it, for several idle periods.
    const held = await t.app.database.sql.reserve();
    try {
      await held`begin`;
      await held`select 1 from mcp_sessions where id = ${sessionId} for update`;
      const answer = post(sessionId, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_products', arguments: { brief: 'video' } } });
      await waitFor(async () => http.sessionCount() === 1, 5_000);
      await new Promise((r) => setTimeout(r, 600));
      await held`commit`;
      const res = await answer;
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('products');
    } finally {
      held.release();
    }
  });

  it('keeps an SDK client working across a release', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${http.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${t.token}` } } });
    const client = new Client({ name: 'idle-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const before = await call(client, 'get_products', { brief: 'video' });
      expect(before.isError).toBe(false);
      // The SDK client keeps a GET stream open; drop it, as a client that went away would.
      await waitFor(async () => http.sessionCount() === 1, 5_000);
      http.server.closeAllConnections();
      await waitFor(async () => http.sessionCount() === 0, 5_000);
      const after = await call(client, 'get_products', { brief: 'video' });
      expect(after.isError).toBe(false);
      expect((after.data.products as unknown[]).length).toBe((before.data.products as unknown[]).length);
      expect(http.sessionCount()).toBe(1);
    } finally {
      await client.close();
    }
  });
});
