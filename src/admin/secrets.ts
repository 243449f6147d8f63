/**
 * Secrets in what the console shows: buyers' webhook credentials inside stored
 * requests, and adapter settings that are credentials. Such values are
 * write-only: shown as "set", never sent back to a browser or an API client.
 */

import { isSecretKey } from '../services/secret-box.js';

export { isSecretKey };

export const REDACTED = '[redacted]';

/** Where a buyer's webhook is configured (push_notification_config, reporting_webhook, ...). */
const WEBHOOK_KEY = /webhook|push_notification/i;

/** A webhook URL without user info, query or fragment: those may carry a credential (as in the webhook log). */
export function webhookUrlForDisplay(raw: string): string {
  if (!URL.canParse(raw)) return REDACTED;
  const u = new URL(raw);
  return u.username || u.password || u.search || u.hash ? `${u.origin}${u.pathname}` : raw;
}

/** A deep copy with the values under secret-looking keys replaced, and webhook URLs cut to origin and path. */
export function redactSecrets<T>(value: T, depth = 0, inWebhook = false): T {
  if (depth > 12 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1, inWebhook)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (isSecretKey(k) && v !== null && v !== undefined && v !== '') out[k] = REDACTED;
    else if (inWebhook && k === 'url' && typeof v === 'string') out[k] = webhookUrlForDisplay(v);
    else out[k] = redactSecrets(v, depth + 1, inWebhook || WEBHOOK_KEY.test(k));
  }
  return out as T;
}

/** Adapter settings split into what may be shown and the names of the secrets that are set. */
export function splitSettings(settings: Record<string, unknown>): { visible: Record<string, unknown>; secretKeys: string[] } {
  const visible: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (isSecretKey(k)) secretKeys.push(k);
    else visible[k] = v;
  }
  return { visible, secretKeys: secretKeys.sort() };
}

/**
 * New settings from the visible part an operator edited and secret changes:
 * a secret absent from `secrets` keeps its stored value, null removes it.
 * Secret-looking keys in `visible` are ignored (they go through `secrets`).
 */
export function mergeSettings(stored: Record<string, unknown>, visible: Record<string, unknown>, secrets: Record<string, string | null>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(visible)) if (!isSecretKey(k)) out[k] = v;
  for (const [k, v] of Object.entries(stored)) if (isSecretKey(k)) out[k] = v;
  for (const [k, v] of Object.entries(secrets)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** The path of a credential-like key nested inside a visible setting (top-level ones go through secrets). */
export function nestedSecretKey(settings: Record<string, unknown>): string | undefined {
  const walk = (v: unknown, at: string, depth: number): string | undefined => {
    if (depth > 8 || v === null || typeof v !== 'object') return undefined;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const here = Array.isArray(v) ? `${at}[${k}]` : `${at}.${k}`;
      if (!Array.isArray(v) && isSecretKey(k) && x !== null && x !== '') return here;
      const found = walk(x, here, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  for (const [k, v] of Object.entries(settings)) {
    const found = isSecretKey(k) ? undefined : walk(v, k, 0);
    if (found) return found;
  }
  return undefined;
}
