import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EmptyResultSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import nodeHttp from 'node:http';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATELESS_NEEDS_SESSION } from '../../src/mcp/http.js';
import { buyRequest, call, httpClient, rawCall, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let url: string;
let sql: postgres.Sql;

beforeAll(async () => {
  t = await startTestApp({ worker: true, http: true });
  url = t.http!.url;
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await t?.close();
});

/** A raw request with chosen Host and Origin headers (fetch will not set Host). */
function requestWith(headers: Record<string, string>): Promise<number> {
  const u = new URL(`${url}/mcp`);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP transport', () => {
  it('bound to a loopback address, refuses requests addressed to another host or sent from another origin (DNS rebinding)', async () => {
    const port = new URL(url).port;
    expect(await requestWith({ host: `127.0.0.1:${port}` })).toBe(200);
    expect(await requestWith({ host: `localhost:${port}`, origin: `http://localhost:${port}` })).toBe(200);
    expect(await requestWith({ host: `[::1]:${port}`, origin: 'http://127.0.0.1:5173' })).toBe(200);
    expect(await requestWith({ host: `rebind.attacker.example:${port}` })).toBe(403);
    expect(await requestWith({ host: `127.0.0.1:${port}`, origin: 'https://attacker.example' })).toBe(403);
    expect(await requestWith({ host: `127.0.0.1:${port}`, origin: 'null' })).toBe(403);
  });

  it('GET /healthz answers 200 when the database answers', async () => {
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it.each([['application/json'], ['application/json, text/event-stream'], ['*/*']])('answers a stateless tools/call with Accept %s as a JSON body', async (accept) => {
    const res = await rawCall(url, 'get_products', { brief: 'podcast sponsorship' }, { accept, authorization: `Bearer ${t.token}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const result = res.body.result!;
    expect(result.isError).toBeFalsy();
    const products = (result.structuredContent as { products: { product_id: string; pricing_options: unknown[] }[] }).products;
    expect(products[0]!.product_id).toBe('audio_podcast_host_read');
    expect(products[0]!.pricing_options.length).toBeGreaterThan(0);
  });

  it('accepts x-adcp-auth and creates a media buy statelessly', async () => {
    const res = await rawCall(url, 'create_media_buy', buyRequest(), { 'x-adcp-auth': t.token });
    expect(res.status).toBe(200);
    expect((res.body.result!.structuredContent as { media_buy_id: string }).media_buy_id).toMatch(/^mb_/);
  });

  it('refuses an unknown token with 401, and buying anonymously with 401 and AUTH_REQUIRED', async () => {
    const bad = await rawCall(url, 'get_products', {}, { authorization: 'Bearer not-a-token' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="http:\/\/.+\/mcp", error="invalid_token"$/);
    // AdCP's authentication baseline: a protected operation without credentials is refused at the HTTP layer, with a challenge.
    const anon = await rawCall(url, 'create_media_buy', { ...buyRequest(), context: { c: 1 } });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer realm="http:\/\/.+\/mcp"$/);
    expect(anon.body.result).toBeUndefined();
    expect(anon.body.error).toMatchObject({ code: -32001, message: expect.stringMatching(/^AUTH_REQUIRED: create_media_buy requires an authenticated buyer\. Send your token/) });
    expect(anon.body.error!.data).toMatchObject({ status: 'failed', adcp_error: { code: 'AUTH_REQUIRED' }, context: { c: 1 } });
    const v31 = await rawCall(url, 'get_media_buys', { adcp_version: '3.1' });
    expect(v31.status).toBe(401);
    expect(v31.body.error!.data).toMatchObject({ adcp_error: { code: 'AUTH_MISSING' } });
    // On a session too: an anonymous MCP client discovers, and its buying call fails with the status and the reason.
    const anonClient: Client = await httpClient(t, null);
    expect((await anonClient.callTool({ name: 'list_creative_formats', arguments: {} })).isError).toBeFalsy();
    await expect(anonClient.callTool({ name: 'get_media_buys', arguments: {} })).rejects.toThrow(/AUTH_REQUIRED: get_media_buys requires an authenticated buyer/);
    await (anonClient.transport as StreamableHTTPClientTransport).terminateSession();
    await anonClient.close();
    // Discovery stays open to anonymous callers, and nothing was written.
    const open = await rawCall(url, 'get_adcp_capabilities', {});
    expect(open.status).toBe(200);
    expect(open.body.result!.structuredContent).toMatchObject({ status: 'completed' });
  });

  it('answers stateless tools/list, batches, notifications, and unknown tools', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw JSON-RPC bodies
    const post = (body: unknown) => fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
    const list: any = await (await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' })).json();
    expect(list.result.tools.map((x: { name: string }) => x.name)).toContain('create_media_buy');
    const batch: any = await (await post([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_adcp_capabilities', arguments: {} } }])).json();
    expect(batch).toHaveLength(2);
    expect(batch[1].result.structuredContent.adcp.major_versions).toEqual([3]);
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    const unknown: any = await (await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'nope', arguments: {} } })).json();
    expect(unknown.error.code).toBe(-32602);
    const bad = await fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(bad.status).toBe(400);
  });

  it('runs a session: tools, subscription pushed over the GET stream, and DELETE to close', async () => {
    await sql`update adapter_configs set settings = '{"latency_ms": 200}'::jsonb where id = 'adp_demo_mock'`;
    const client: Client = await httpClient(t);
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    try {
      expect(t.http!.sessionCount()).toBe(1);
      const { data } = await call(client, 'create_media_buy', buyRequest());
      const uri = `media-buy://${data.media_buy_id}`;
      await client.subscribeResource({ uri });
      await waitFor(async () => {
        const res = await client.readResource({ uri });
        const state = JSON.parse((res.contents[0] as { text: string }).text);
        return state.fulfilment[0].state === 'booked';
      });
      await waitFor(async () => updates.includes(uri));

      // Another principal cannot use this session.
      const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
      const hijack = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      });
      expect(hijack.status).toBe(403);

      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await waitFor(async () => t.http!.sessionCount() === 0);
    } finally {
      await client.close();
    }
  });

  it('honours logging/setLevel per session: at "error", a session hears of changes without their info lines', async () => {
    const quiet: Client = await httpClient(t);
    const chatty: Client = await httpClient(t);
    const lines = { quiet: [] as string[], chatty: [] as string[] };
    const updates: string[] = [];
    quiet.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void lines.quiet.push(n.params.level));
    chatty.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void lines.chatty.push(n.params.level));
    quiet.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    try {
      await quiet.setLoggingLevel('error');
      await quiet.subscribeResource({ uri: 'media-buys://' });
      await chatty.subscribeResource({ uri: 'media-buys://' });
      await call(chatty, 'create_media_buy', buyRequest());
      // Created, then booked: an info line would have come between the two updates, on the same stream.
      await waitFor(async () => updates.length >= 2 && lines.chatty.length >= 2);
      expect(lines.chatty).toContain('info');
      expect(lines.quiet).toEqual([]);
    } finally {
      for (const c of [quiet, chatty]) {
        await (c.transport as StreamableHTTPClientTransport).terminateSession();
        await c.close();
      }
    }
  });

  it('primes each POST event stream with an event id and a retry interval for 2025-11-25 clients', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${t.token}` };
    const init = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    const session = { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
    await (await fetch(`${url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
    const res = await fetch(`${url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const [priming, answer] = (await res.text()).split('\n\n');
    expect(priming).toMatch(/^id: \S+\nretry: 1000\ndata: $/);
    expect(answer).toContain('"id":2');
    await fetch(`${url}/mcp`, { method: 'DELETE', headers: session });
  });

  it('answers 404 for an unknown session', async () => {
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(404);
  });
});

describe('JSON-RPC on /mcp as MCP 2025-11-25 has it', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw JSON-RPC bodies
  const post = async (body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> => {
    const res = await fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };

  /** A session opened with a raw initialize: the headers its requests carry. */
  async function rawSession(): Promise<Record<string, string>> {
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    await res.text();
    const headers = { accept: 'application/json, text/event-stream', authorization: `Bearer ${t.token}`, 'mcp-session-id': res.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
    expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
    return headers;
  }

  it('refuses a body over 4 MB with 413, on a session as without one', async () => {
    const big = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_products', arguments: { brief: 'x'.repeat(4 * 1024 * 1024) } } };
    const session = await rawSession();
    for (const headers of [{}, session]) {
      const res = await post(big, headers);
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe(-32600);
    }
    await fetch(`${url}/mcp`, { method: 'DELETE', headers: session });
  });

  it('without a session, refuses an unsupported MCP-Protocol-Version with 400 and answers a supported one', async () => {
    const bad = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-protocol-version': '1999-01-01' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(-32000);
    expect(bad.body.error.message).toMatch(/Unsupported protocol version: 1999-01-01 \(supported versions: 2025-11-25, /);
    expect(bad.headers.get('mcp-protocol-version')).toBeNull();
    const good = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-protocol-version': '2025-06-18' });
    expect(good.status).toBe(200);
    expect(good.headers.get('mcp-protocol-version')).toBe('2025-06-18');
  });

  it('without a session, answers each malformed message with the JSON-RPC code for what is wrong', async () => {
    const code = async (message: unknown) => (await post(message)).body.error?.code;
    // Not a request: no jsonrpc, another version, an id that is an object, an array or null (MCP ids are strings or integers).
    expect(await code({ id: 1, method: 'ping' })).toBe(-32600);
    expect(await code({ jsonrpc: '1.0', id: 1, method: 'ping' })).toBe(-32600);
    expect(await code({ jsonrpc: '2.0', id: { a: 1 }, method: 'ping' })).toBe(-32600);
    expect(await code({ jsonrpc: '2.0', id: [1], method: 'ping' })).toBe(-32600);
    expect(await code({ jsonrpc: '2.0', id: null, method: 'ping' })).toBe(-32600);
    expect(await code({ jsonrpc: '2.0', id: 1, method: 'ping', params: 'x' })).toBe(-32600);
    const invalid = await post({ jsonrpc: '2.0', id: 7, method: 'ping', params: 'x' });
    expect(invalid.body).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32600 } });
    // An initialize it cannot read is invalid params, not a want of a session.
    const init = await post({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } });
    expect(init.status).toBe(200);
    expect(init.body.error.code).toBe(-32602);
    expect(init.body.error.message).toMatch(/clientInfo/);
    // A method MCP does not have, or this agent does not serve, is not found; one a session serves says so.
    expect(await code({ jsonrpc: '2.0', id: 3, method: 'no/such/method' })).toBe(-32601);
    expect(await code({ jsonrpc: '2.0', id: 4, method: 'prompts/list' })).toBe(-32601);
    const read = await post({ jsonrpc: '2.0', id: 5, method: 'resources/read', params: { uri: 'media-buys://' } });
    expect(read.body.error).toMatchObject({ code: -32600, message: expect.stringMatching(/needs a session/) });
    // A valid message beside an invalid one in a batch is answered.
    const batch = await post([{ jsonrpc: '2.0', id: 6, method: 'ping' }, { id: 7, method: 'ping' }]);
    expect(batch.body).toEqual([{ jsonrpc: '2.0', id: 6, result: {} }, expect.objectContaining({ id: 7, error: expect.objectContaining({ code: -32600 }) })]);
  });

  it('on a session, answers params the MCP schema refuses with -32602, naming the problem', async () => {
    const client: Client = await httpClient(t);
    try {
      const refused: [string, Record<string, unknown>][] = [
        ['tools/call', { name: 'get_products', arguments: 'str' }],
        ['resources/read', {}],
        ['logging/setLevel', { level: 'loud' }],
        ['tasks/get', {}],
      ];
      for (const [method, params] of refused) {
        const err = await client.request({ method, params } as never, EmptyResultSchema).catch((e: unknown) => e);
        expect(err, method).toMatchObject({ code: -32602, message: expect.stringContaining(`Invalid params for ${method}: params.`) });
      }
      expect((await call(client, 'get_adcp_capabilities')).isError).toBe(false);
    } finally {
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await client.close();
    }
  });

  it('without a session, sends to one only methods a session answers', async () => {
    const session = await rawSession();
    for (const method of STATELESS_NEEDS_SESSION) {
      const res = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...session, 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} }) });
      expect(await res.text(), method).not.toContain('-32601');
    }
    await fetch(`${url}/mcp`, { method: 'DELETE', headers: session });
  });
});
