/**
 * AdCP webhook rules, pure: the payload (mcp-webhook-payload), legacy signing
 * (Bearer or HMAC-SHA256 over "timestamp.body"), and which addresses a webhook
 * may reach.
 */
import { createHmac, randomUUID } from 'node:crypto';
import net from 'node:net';
import { AdcpError } from './errors.js';

export interface PushConfig {
  url: string;
  token?: string;
  authentication?: { schemes?: string[]; credentials?: string };
}

export function webhookPayload(p: { taskId: string; taskType: string; status: string; message?: string; result?: Record<string, unknown>; url: string }): Record<string, unknown> {
  // The buyer may embed an operation id as the URL's last segment; echo it so they can correlate.
  const last = new URL(p.url).pathname.split('/').filter(Boolean).at(-1);
  const operationId = last && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(last) ? last : undefined;
  return {
    idempotency_key: `whk_${randomUUID()}`,
    ...(operationId && { operation_id: operationId }),
    task_id: p.taskId,
    task_type: p.taskType,
    protocol: 'media-buy',
    status: p.status,
    timestamp: new Date().toISOString(),
    ...(p.message && { message: p.message }),
    ...(p.result && { result: p.result }),
  };
}

/** Headers that authenticate a delivery, per the buyer's legacy authentication block. */
export function signingHeaders(body: string, auth: PushConfig['authentication'] | null | undefined, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const headers: Record<string, string> = { 'x-adcp-timestamp': timestamp };
  const schemes = auth?.schemes ?? [];
  if (auth?.credentials && schemes.includes('HMAC-SHA256')) {
    headers['x-adcp-signature'] = `sha256=${createHmac('sha256', auth.credentials).update(`${timestamp}.${body}`).digest('hex')}`;
  } else if (auth?.credentials && schemes.includes('Bearer')) {
    headers.authorization = `Bearer ${auth.credentials}`;
  }
  return headers;
}

export function isPrivateAddress(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const v6 = ip.toLowerCase();
  if (v6.startsWith('::ffff:')) return isPrivateAddress(v6.slice(7));
  return v6 === '::1' || v6 === '::' || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('fe80');
}

export const isLocalHostname = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost');

/** Request-time check of a push_notification_config URL. */
export function checkWebhookUrl(url: string, allowPrivate: boolean): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AdcpError('VALIDATION_ERROR', 'push_notification_config.url is not a valid URL.', { field: 'push_notification_config.url', suggestion: 'Send an absolute https:// URL.' });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new AdcpError('VALIDATION_ERROR', 'push_notification_config.url must be http(s).', { field: 'push_notification_config.url', suggestion: 'Send an https:// URL.' });
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const literalPrivate = (net.isIP(host) && isPrivateAddress(host)) || isLocalHostname(host);
  if (literalPrivate && !allowPrivate) {
    throw new AdcpError('VALIDATION_ERROR', 'push_notification_config.url points at a private or loopback address.', {
      field: 'push_notification_config.url',
      suggestion: 'Use a public URL; loopback webhooks are allowed for sandbox accounts only.',
    });
  }
}
