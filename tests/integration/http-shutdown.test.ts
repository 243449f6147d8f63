/**
 * Closing the HTTP server (SIGTERM in a rolling restart) answers the requests under way before it ends the
 * connections; a session's event stream, which never ends by itself, does not hold it up.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAIN_MS } from '../../src/mcp/http.js';
import { httpClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ http: true });
});
afterAll(async () => {
  await t?.close();
});

/** A stateless tools/call whose body is sent in two halves; `between` runs once the first half is on its way. */
function callInTwoHalves(url: string, token: string, between: () => Promise<void>): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_products', arguments: { brief: 'CTV for a sports drink' } } });
  const u = new URL(`${url}/mcp`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 20));
    between().then(() => req.end(body.slice(20)), reject);
  });
}

describe('HTTP server close', () => {
  it('answers a call under way, and does not wait for an open event stream', async () => {
    const client = await httpClient(t); // a session, whose client opens its event stream
    await waitFor(async () => t.http!.sessionCount() > 0);
    let closing: Promise<void> | undefined;
    let closedAfter = 0;
    const answer = callInTwoHalves(t.http!.url, t.token, async () => {
      // The request has reached the server (its headers are read) when close() starts.
      await new Promise((r) => setTimeout(r, 200));
      const started = performance.now();
      closing = t.http!.close().then(() => void (closedAfter = performance.now() - started));
      await new Promise((r) => setTimeout(r, 200));
    });
    const { status, body } = await answer;
    expect(status).toBe(200);
    expect(JSON.parse(body).result.structuredContent.products.length).toBeGreaterThan(0);
    await closing;
    expect(closedAfter).toBeLessThan(DRAIN_MS);
    await client.close().catch(() => {});
    // No new connections once closed.
    await expect(fetch(`${t.http!.url}/healthz`)).rejects.toThrow();
  });
});
