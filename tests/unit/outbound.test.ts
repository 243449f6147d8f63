/**
 * Outbound POSTs (webhooks, Slack): a name is resolved once, by the lookup the
 * socket connects with, so the address checked is the address reached (no DNS
 * rebinding between a check and the request).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postTo, PrivateAddressError } from '../../src/services/outbound.js';

const hits: { url: string; body: string }[] = [];
let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push({ url: req.url ?? '', body });
      if (req.url === '/silent') return; // never answers
      if (req.url === '/big') {
        res.writeHead(200);
        return res.end(Buffer.alloc(1024 * 1024, 'x'));
      }
      res.writeHead(req.url === '/teapot' ? 418 : 204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** A resolver answering `answers` (in turn) for any name, counting its calls. */
function resolver(...answers: string[][]) {
  const calls: string[] = [];
  const resolve = (hostname: string, _o: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, a: dns.LookupAddress[]) => void) => {
    const next = answers[Math.min(calls.length, answers.length - 1)]!;
    calls.push(hostname);
    cb(null, next.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return { resolve, calls };
}

const post = (url: string, allowPrivate: boolean, resolve?: ReturnType<typeof resolver>['resolve'], timeoutMs = 5_000) =>
  postTo(url, { headers: { 'content-type': 'application/json' }, body: '{"a":1}', timeoutMs, allowPrivate, resolve });

describe('postTo', () => {
  it('posts the body and resolves with the status when private addresses are allowed', async () => {
    const before = hits.length;
    await expect(post(`http://127.0.0.1:${port}/ok`, true)).resolves.toBe(204);
    await expect(post(`http://127.0.0.1:${port}/teapot`, true)).resolves.toBe(418);
    expect(hits.slice(before)).toEqual([
      { url: '/ok', body: '{"a":1}' },
      { url: '/teapot', body: '{"a":1}' },
    ]);
  });

  it('connects to the address its own lookup checked: a name answering with loopback is never reached', async () => {
    const before = hits.length;
    const r = resolver(['127.0.0.1']);
    await expect(post(`http://hooks.example.com:${port}/rebound`, false, r.resolve)).rejects.toBeInstanceOf(PrivateAddressError);
    // One resolution, by the socket's lookup: nothing else could resolve the name again and connect elsewhere.
    expect(r.calls).toEqual(['hooks.example.com']);
    expect(hits.length).toBe(before);
  });

  it('refuses a name when any of its addresses is private', async () => {
    const r = resolver(['93.184.216.34', '::ffff:169.254.169.254']);
    await expect(post(`http://hooks.example.com:${port}/mixed`, false, r.resolve)).rejects.toBeInstanceOf(PrivateAddressError);
  });

  it('refuses private address literals in every spelling before connecting', async () => {
    const before = hits.length;
    for (const url of [`http://127.0.0.1:${port}/x`, `http://2130706433:${port}/x`, `http://[::ffff:127.0.0.1]:${port}/x`, `http://localhost.:${port}/x`, `http://0:${port}/x`]) {
      await expect(post(url, false), url).rejects.toBeInstanceOf(PrivateAddressError);
    }
    expect(hits.length).toBe(before);
  });

  it('gives the network error of a name that does not resolve, for the caller to retry', async () => {
    const resolve = (_h: string, _o: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, a: dns.LookupAddress[]) => void) =>
      cb(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' }), []);
    const err = await post(`http://nowhere.invalid:${port}/x`, false, resolve).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(PrivateAddressError);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
  });

  it('gives up on a receiver that does not answer within the timeout, and stops reading a large body', async () => {
    const started = Date.now();
    await expect(post(`http://127.0.0.1:${port}/silent`, true, undefined, 300)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(3_000);
    await expect(post(`http://127.0.0.1:${port}/big`, true)).resolves.toBe(200);
  });

  it('refuses other protocols', async () => {
    await expect(post('ftp://example.com/x', true)).rejects.toThrow(/unsupported protocol/);
  });
});
