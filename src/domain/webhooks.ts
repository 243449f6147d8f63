/**
 * AdCP webhook rules, pure: the payload (mcp-webhook-payload), the signing mode
 * (the buyer's legacy Bearer or HMAC-SHA256 block when given, else RFC 9421 per
 * src/domain/webhook-signing.ts), and which addresses a webhook may reach.
 */
import { createHmac, randomUUID } from 'node:crypto';
import net from 'node:net';
import { AdcpError } from './errors.js';
import type { AdcpRelease } from './adcp-release.js';

export interface WebhookAuthentication {
  schemes?: string[];
  credentials?: string;
  /** The config's validation token, as stored (sealed beside the credentials; see sealBuyerCredentials). */
  token?: string;
}

export interface PushConfig {
  url: string;
  token?: string;
  operation_id?: string;
  authentication?: WebhookAuthentication;
}

/** What a stored request holds in place of a credential. */
export const CREDENTIALS_NOT_KEPT = '[not kept]';

/**
 * A request as kept for the record (media_buys.raw_request, workflow_steps.request):
 * every authentication block's credentials, and every webhook config's token,
 * replaced. They are stored sealed only where webhooks are signed and sent from
 * (the task's push config, the buy's reporting webhook, a pending delivery).
 * Returns the same object when there are none.
 */
export function withoutCredentials<T>(value: T, depth = 0): T {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const next = withoutCredentials(v, depth + 1);
      if (next !== v) (out ??= [...value])[i] = next;
    });
    return (out ?? value) as T;
  }
  let out: Record<string, unknown> | undefined;
  // A webhook config (it has a url): its validation token is a secret too.
  const webhook = typeof (value as { url?: unknown }).url === 'string';
  for (const [k, v] of Object.entries(value)) {
    const next =
      k === 'authentication' && v && typeof v === 'object' && typeof (v as { credentials?: unknown }).credentials === 'string'
        ? { ...v, credentials: CREDENTIALS_NOT_KEPT }
        : webhook && k === 'token' && typeof v === 'string'
          ? CREDENTIALS_NOT_KEPT
          : withoutCredentials(v, depth + 1);
    if (next !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = next;
  }
  return (out ?? value) as T;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The operation a webhook reports on (AdCP 3.1 requires it on every payload):
 * the buyer's push_notification_config.operation_id, echoed verbatim; else, for
 * an AdCP 3.0 buyer (as its compliance runner registers them), a UUID as the
 * URL's last segment (3.1 forbids reading the URL: its buyers send the field);
 * else (a reporting webhook, whose config has no operation_id, or a buyer that
 * gave none) our task id, which is stable for the operation.
 */
function operationIdOf(url: string, explicit: string | undefined, taskId: string, release: AdcpRelease): string {
  if (explicit) return explicit;
  if (release !== '3.0') return taskId;
  const last = new URL(url).pathname.split('/').filter(Boolean).at(-1);
  return last && UUID.test(last) ? last : taskId;
}

export function webhookPayload(p: {
  taskId: string;
  taskType: string;
  status: string;
  message?: string;
  result?: Record<string, unknown>;
  url: string;
  operationId?: string;
  /** The release the task was asked in (3.0 when unknown). */
  release?: AdcpRelease;
}): Record<string, unknown> {
  const operationId = operationIdOf(p.url, p.operationId, p.taskId, p.release ?? '3.0');
  return {
    idempotency_key: `whk_${randomUUID()}`,
    operation_id: operationId,
    task_id: p.taskId,
    task_type: p.taskType,
    protocol: 'media-buy',
    status: p.status,
    timestamp: new Date().toISOString(),
    ...(p.message && { message: p.message }),
    // No `token`: the buyer's validation token is kept sealed, and deliver_webhook adds it as it sends.
    ...(p.result && { result: p.result }),
  };
}

/**
 * Headers for the buyer's legacy authentication block, or null when there is none:
 * per AdCP, the block's presence selects Bearer or HMAC-SHA256 and its absence selects
 * RFC 9421 signing (never both on one delivery).
 */
export function legacyAuthHeaders(body: string, auth: WebhookAuthentication | null | undefined, now = Date.now()): Record<string, string> | null {
  const schemes = auth?.schemes ?? [];
  if (!auth?.credentials) return null;
  if (schemes.includes('HMAC-SHA256')) {
    const timestamp = String(Math.floor(now / 1000));
    return { 'x-adcp-timestamp': timestamp, 'x-adcp-signature': `sha256=${createHmac('sha256', auth.credentials).update(`${timestamp}.${body}`).digest('hex')}` };
  }
  if (schemes.includes('Bearer')) return { authorization: `Bearer ${auth.credentials}` };
  return null;
}

/** An IPv4 address outside the public unicast space: private, loopback, link-local, shared (CGNAT), benchmark, multicast, reserved. */
function privateV4(ip: string): boolean {
  const [a, b, c] = ip.split('.').map(Number) as [number, number, number];
  return (
    a === 0 || a === 10 || a === 127 || a >= 224 || // this network, private, loopback, multicast and reserved (240/4), broadcast
    (a === 100 && b >= 64 && b <= 127) || // shared address space (CGNAT)
    (a === 169 && b === 254) || // link-local (cloud metadata)
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments (192.0.0/24) and TEST-NET-1 (192.0.2/24)
    (a === 192 && b === 88 && c === 99) || // 6to4 relay anycast
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    (a === 198 && b === 51 && c === 100) || // TEST-NET-2
    (a === 203 && b === 0 && c === 113) // TEST-NET-3
  );
}

/** An IPv6 address as its eight 16-bit groups; undefined when it is not one. */
function groups6(ip: string): number[] | undefined {
  let s = ip.toLowerCase().split('%')[0]!;
  // A dotted IPv4 tail (::ffff:127.0.0.1) becomes two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    if (!net.isIPv4(tail[1]!)) return undefined;
    const [a, b, c, d] = tail[1]!.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, -tail[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const fill = s.includes('::') ? 8 - left.length - right.length : 0;
  const all = [...left, ...Array.from({ length: fill }, () => '0'), ...right];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16));
}

/**
 * Whether an address is not a public unicast one, so that a webhook must not reach it. IPv6 forms that carry an
 * IPv4 address (mapped ::ffff:a.b.c.d in any spelling, compatible ::a.b.c.d, NAT64 64:ff9b::/96) are judged by it.
 */
export function isPrivateAddress(ip: string): boolean {
  if (net.isIPv4(ip)) return privateV4(ip);
  const g = groups6(ip);
  if (!g) return true; // not an address we can read: never a webhook target
  const v4 = (i: number) => `${g[i]! >> 8}.${g[i]! & 255}.${g[i + 1]! >> 8}.${g[i + 1]! & 255}`;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(5) && g[5] === 0xffff) return privateV4(v4(6)); // IPv4-mapped
  if (zeros(4) && g[4] === 0xffff && g[5] === 0) return privateV4(v4(6)); // IPv4-translated (SIIT) ::ffff:0:a.b.c.d
  if (zeros(6)) return g[6] === 0 && g[7]! <= 1 ? true : privateV4(v4(6)); // ::, ::1, IPv4-compatible
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return privateV4(v4(6)); // NAT64
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return true; // local-use NAT64 (64:ff9b:1::/48)
  if (g[0] === 0x2002) return privateV4(v4(1)); // 6to4: the IPv4 address in groups 1-2
  if (g[0] === 0x2001 && g[1] === 0) return true; // Teredo: tunnels to an (obfuscated) IPv4 address
  if (g[0] === 0x100 && g[1] === 0 && g[2] === 0 && g[3] === 0) return true; // discard-only 100::/64
  const first = g[0]!;
  return (
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xffc0) === 0xfec0 || // site-local fec0::/10 (deprecated)
    (first & 0xff00) === 0xff00 || // multicast
    (first === 0x2001 && g[1] === 0x0db8) // documentation
  );
}

export const isLocalHostname = (host: string): boolean => {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
};

/** A URL's host as an address or name: IPv6 without its brackets. */
export const urlHost = (u: URL): string => u.hostname.replace(/^\[|\]$/g, '');

/** Private or loopback on its face (a private address, or a localhost name), before any DNS lookup. */
export const isLiteralPrivateHost = (host: string): boolean => (net.isIP(host) !== 0 && isPrivateAddress(host)) || isLocalHostname(host);

/**
 * Request-time check of the credentials in a buyer's authentication block (`field` names the block):
 * a value that reads as sealed (`enc:`) would be taken for one when opened, so it is refused.
 */
export function checkCredentials(auth: unknown, field: string): void {
  const credentials = auth && typeof auth === 'object' ? (auth as { credentials?: unknown }).credentials : undefined;
  refuseSealedLooking(credentials, `${field}.credentials`, 'Send the token or shared secret itself (at least 32 characters), generated at random.');
}

/** A buyer's secret that reads as sealed (`enc:`) would be taken for one when opened: refused. */
function refuseSealedLooking(value: unknown, field: string, suggestion: string): void {
  if (typeof value === 'string' && value.startsWith('enc:')) throw new AdcpError('VALIDATION_ERROR', `${field} must not begin with "enc:".`, { field, suggestion });
}

/** Request-time check of a webhook the buyer configured (`field`: push_notification_config or reporting_webhook): its URL, then its credentials. */
export function checkWebhookConfig(config: { url?: unknown; authentication?: unknown; token?: unknown }, allowPrivate: boolean, field: string): void {
  checkWebhookUrl(String(config.url ?? ''), allowPrivate, `${field}.url`);
  checkCredentials(config.authentication, `${field}.authentication`);
  // Stored sealed too (in the authentication block), so the same rule holds.
  refuseSealedLooking(config.token, `${field}.token`, 'Send a random token of your own (at least 16 characters).');
}

/** The longest webhook URL taken (it is stored with the task and every delivery). */
export const MAX_WEBHOOK_URL = 4096;

/**
 * `httpsOnly`: plain http is refused unless private addresses are allowed (a seller's own network, sandbox testing),
 * as AdCP requires of account-level notification URLs. Returns the URL normalized (WHATWG: host in lower case and
 * punycode, default port dropped, path dot-segments resolved).
 */
export function checkWebhookUrl(url: string, allowPrivate: boolean, field: string, opts: { httpsOnly?: boolean } = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AdcpError('VALIDATION_ERROR', `${field} is not a valid URL.`, { field, suggestion: 'Send an absolute https:// URL.' });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new AdcpError('VALIDATION_ERROR', `${field} must be http(s).`, { field, suggestion: 'Send an https:// URL.' });
  }
  if (opts.httpsOnly && u.protocol !== 'https:' && !allowPrivate) {
    throw new AdcpError('VALIDATION_ERROR', `${field} must use https.`, { field, suggestion: 'Send an https:// URL.' });
  }
  // A password in the URL would be stored and shown as the URL is, and sent in clear with every delivery.
  if (u.username || u.password) {
    throw new AdcpError('VALIDATION_ERROR', `${field} must not carry a user name or password.`, { field, suggestion: 'Put the credential in authentication (Bearer or HMAC-SHA256), or leave it out to have deliveries signed (RFC 9421).' });
  }
  if (url.length > MAX_WEBHOOK_URL) {
    throw new AdcpError('VALIDATION_ERROR', `${field} is longer than ${MAX_WEBHOOK_URL} characters.`, { field, suggestion: 'Send a shorter URL.' });
  }
  if (isLiteralPrivateHost(urlHost(u)) && !allowPrivate) {
    throw new AdcpError('VALIDATION_ERROR', `${field} points at a private or loopback address.`, {
      field,
      suggestion: 'Use a public URL; loopback webhooks are allowed for sandbox accounts only.',
    });
  }
  return u.href;
}

/**
 * May this account's webhooks reach private and loopback addresses? When the seller allows it tenant-wide
 * (allow_private_webhooks), or for a sandbox account of a tenant under compliance testing (test_controller
 * enabled). A buyer opens sandbox accounts itself, so being one is not enough: it would let any buyer aim
 * the seller's worker at its internal network.
 */
export function privateWebhooksAllowed(settings: { allow_private_webhooks?: boolean; test_controller?: string }, sandbox: boolean): boolean {
  return !!settings.allow_private_webhooks || (sandbox && settings.test_controller === 'enabled');
}
