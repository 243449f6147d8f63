/**
 * POSTs to addresses a buyer or an operator gave (webhooks, Slack). Unless
 * private networks are allowed, the connection goes only to a public address:
 * the name is resolved once, by the lookup the socket connects with, and every
 * address it gives is checked there. Checking a name and then letting fetch
 * resolve it again would let a name that answers differently the second time
 * (DNS rebinding) reach loopback or the cloud metadata address.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { isLiteralPrivateHost, isPrivateAddress, urlHost } from '../domain/webhooks.js';

/** The address is not a public one (or the name resolves to one): the request was not sent. */
export class PrivateAddressError extends Error {
  readonly code = 'EPRIVATEADDRESS';
  constructor(host: string) {
    super(`${host} is, or resolves to, a private or loopback address`);
    this.name = 'PrivateAddressError';
  }
}

type LookupAll = (hostname: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;
type SocketLookup = NonNullable<net.TcpNetConnectOpts['lookup']>;

/** A socket lookup that resolves with `resolve` and fails with PrivateAddressError if any address is not public. */
export function publicOnlyLookup(resolve: LookupAll = dns.lookup): SocketLookup {
  return ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
      if (addresses.some((a) => isPrivateAddress(a.address))) return callback(new PrivateAddressError(hostname), '');
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as SocketLookup;
}

export interface PostOptions {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Loopback and private addresses may be reached (a seller's own network, tests). */
  allowPrivate: boolean;
  /** The resolver (tests give their own; default: the system's). */
  resolve?: LookupAll;
}

/** How much of a response body is read (and, but for postForBody, thrown away) before the connection is closed. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POST `body` to `url` (http or https, redirects not followed) and resolve with the response status.
 * Rejects with PrivateAddressError when the address is not allowed, and with the network error otherwise
 * (a name that does not resolve, a refused connection, the timeout).
 */
export async function postTo(url: string, opts: PostOptions): Promise<number> {
  return (await post(url, opts, false)).status;
}

/** postTo, also giving the response body (its first 64 KiB, as UTF-8; a longer one is cut there). */
export function postForBody(url: string, opts: PostOptions): Promise<{ status: number; body: string }> {
  return post(url, opts, true);
}

function post(url: string, opts: PostOptions, keepBody: boolean): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const host = urlHost(u);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(new Error(`unsupported protocol ${u.protocol}`));
  if (!opts.allowPrivate && isLiteralPrivateHost(host)) return Promise.reject(new PrivateAddressError(host));
  const request = u.protocol === 'https:' ? https.request : http.request;
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(u, {
      method: 'POST',
      headers: { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) },
      agent: false,
      // An address literal is connected to as it is (checked above); a name goes through the checking lookup.
      lookup: opts.allowPrivate ? undefined : publicOnlyLookup(opts.resolve),
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })), opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let read = 0;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, body: keepBody ? Buffer.concat(chunks).toString('utf8') : '' });
      };
      res.on('data', (chunk: Buffer) => {
        if (keepBody && read < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - read));
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) {
          res.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('error', done); // the status is what counts; a body cut short does not change it
      res.on('close', done);
    });
    req.end(opts.body);
  });
}
