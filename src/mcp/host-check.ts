/**
 * DNS-rebinding protection. An agent listening on a loopback address answers
 * only requests addressed to a loopback name, and, when a browser says where the
 * request comes from (Origin), only from a loopback origin: a web page elsewhere
 * cannot reach a local agent through its visitor's browser. Bound to any other
 * address (a container, behind a proxy) the check is off.
 */
import net from 'node:net';
import type http from 'node:http';
import { isLocalHostname } from '../domain/webhooks.js';

const unbracket = (name: string) => name.replace(/^\[(.*)\]$/, '$1');

function isLoopbackName(raw: string): boolean {
  const name = unbracket(raw.toLowerCase());
  if (isLocalHostname(name)) return true;
  if (net.isIPv4(name)) return name.startsWith('127.');
  return net.isIPv6(name) && (name === '::1' || name === '::ffff:127.0.0.1');
}

/** Whether a server bound to `host` must check Host and Origin. */
export const isLoopbackBind = (host: string): boolean => isLoopbackName(host);

/** Whether a connection's peer address (socket.remoteAddress) is this machine, IPv4-mapped forms included. */
export const isLoopbackPeer = (address: string): boolean => isLoopbackName(address) || /^::ffff:127\./i.test(address);

function hostnameOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

export function requestAllowed(headers: http.IncomingHttpHeaders): boolean {
  const host = headers.host;
  const name = typeof host === 'string' ? hostnameOf(`http://${host}`) : undefined;
  if (!name || !isLoopbackName(name)) return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  const from = hostnameOf(origin);
  return from !== undefined && isLoopbackName(from);
}
