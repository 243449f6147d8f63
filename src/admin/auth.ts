/**
 * Who is calling the console. Pages accept only an operator session (cookie);
 * the JSON API accepts a session (with its CSRF token in x-csrf-token on
 * writes) or an admin API key (Authorization: Bearer). Buyer tokens are not
 * looked up here at all, so they never work on /admin; and /mcp never reads
 * these cookies or keys, so an operator never passes for a buyer there.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Queryable } from '../db/client.js';
import { createSession, deleteSession, findApiKey, findSession, touchApiKey, type Role } from '../db/queries/operators.js';
import { hashToken } from '../domain/ids.js';
import { safeEqual } from './passwords.js';

export const SESSION_COOKIE = 'sa_console';
/** Double-submit token for the login form, before there is a session. */
export const LOGIN_CSRF_COOKIE = 'sa_console_login';
export const SESSION_TTL_MS = 12 * 3600_000;

export interface Operator {
  kind: 'session' | 'api_key';
  /** Operator id, or API key id. */
  id: string;
  /** Email, or API key name. */
  label: string;
  role: Role;
  tenantId: string;
  tenantName: string;
  /** Session only. */
  csrfToken?: string;
  sessionHash?: string;
  mustChangePassword?: boolean;
}

export const actorOf = (op: Operator) => (op.kind === 'session' ? `operator:${op.label}` : `api_key:${op.label}`);

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (!k || k in out) continue;
    try {
      out[k] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // a malformed cookie is ignored
    }
  }
  return out;
}

/** Behind a TLS-terminating proxy (x-forwarded-proto) or a public https URL, cookies are Secure. */
export function isHttps(req: IncomingMessage, publicUrl: string | undefined): boolean {
  const proto = req.headers['x-forwarded-proto'];
  if (typeof proto === 'string' && proto.split(',')[0]!.trim() === 'https') return true;
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  return !!publicUrl?.startsWith('https:');
}

export function cookie(name: string, value: string, opts: { secure: boolean; maxAgeSeconds?: number; path?: string }): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${opts.path ?? '/admin'}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
    ...(opts.maxAgeSeconds !== undefined ? [`Max-Age=${opts.maxAgeSeconds}`] : []),
  ].join('; ');
}

export const newSecret = (bytes = 32) => randomBytes(bytes).toString('base64url');

export async function startSession(db: Queryable, p: { operatorId: string; tenantId: string }): Promise<{ token: string; csrfToken: string; expiresAt: Date }> {
  const token = newSecret();
  const csrfToken = newSecret(24);
  const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
  await createSession(db, { tokenHash: hashToken(token), operatorId: p.operatorId, tenantId: p.tenantId, csrfToken, expiresAt });
  return { token, csrfToken, expiresAt };
}

export async function endSession(db: Queryable, sessionHash: string): Promise<void> {
  await deleteSession(db, sessionHash);
}

export async function sessionOperator(db: Queryable, headers: IncomingHttpHeaders): Promise<Operator | undefined> {
  const token = parseCookies(headers.cookie)[SESSION_COOKIE];
  if (!token) return undefined;
  const sessionHash = hashToken(token);
  const s = await findSession(db, sessionHash);
  if (!s) return undefined;
  return {
    kind: 'session',
    id: s.operatorId,
    label: s.email,
    role: s.role,
    tenantId: s.tenantId,
    tenantName: s.tenantName,
    csrfToken: s.csrfToken,
    sessionHash,
    mustChangePassword: s.mustChangePassword,
  };
}

export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(typeof headers.authorization === 'string' ? headers.authorization.trim() : '');
  return m?.[1];
}

export async function apiKeyOperator(db: Queryable, key: string): Promise<Operator | undefined> {
  const row = await findApiKey(db, hashToken(key));
  if (!row) return undefined;
  void touchApiKey(db, row.id).catch(() => {});
  return { kind: 'api_key', id: row.id, label: row.name, role: row.role as Role, tenantId: row.tenantId, tenantName: row.tenantName };
}

export const csrfMatches = (op: Operator, given: unknown): boolean => typeof given === 'string' && !!op.csrfToken && safeEqual(given, op.csrfToken);

export function newApiKey(): string {
  return `saa_${newSecret()}`;
}
