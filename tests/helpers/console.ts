/**
 * The seller console as a browser without JavaScript sees it: a cookie jar,
 * forms posted with their CSRF token, and the JSON API with the session's
 * CSRF header or an admin API key.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';
import { insertOperator, type Role } from '../../src/db/queries/operators.js';
import { hashPassword } from '../../src/admin/passwords.js';
import { newId } from '../../src/domain/ids.js';

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, when the answer is JSON. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** An operator whose password is already chosen (no one-time password to replace). */
export async function addOperator(db: Db, p: { tenantId: string; email: string; role: Role; password?: string; mustChange?: boolean }): Promise<{ id: string; password: string }> {
  const password = p.password ?? `pw-${Math.random().toString(36).slice(2)}-long-enough`;
  const id = newId('op');
  await insertOperator(db, { id, tenantId: p.tenantId, email: p.email, role: p.role, passwordHash: await hashPassword(password) });
  if (!p.mustChange) await db.execute(sql`update operators set must_change_password = false where id = ${id}`);
  return { id, password };
}

export class Browser {
  readonly cookies = new Map<string, string>();
  csrf?: string;

  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Res> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(`${this.base}${path}`, { redirect: 'manual', ...init, headers: { ...(cookie && { cookie }), ...init.headers } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const k = pair!.slice(0, i);
      const v = pair!.slice(i + 1);
      if (/max-age=0/i.test(c) || v === '') this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    const text = await res.text();
    let body: unknown;
    if ((res.headers.get('content-type') ?? '').includes('application/json')) body = JSON.parse(text);
    return { status: res.status, headers: res.headers, text, body };
  }

  get(path: string): Promise<Res> {
    return this.fetch(path);
  }

  /** A form post; the CSRF token is added unless given (or set to null). */
  post(path: string, fields: Record<string, string | string[]> = {}, opts: { csrf?: string | null } = {}): Promise<Res> {
    const body = new URLSearchParams();
    const csrf = opts.csrf === undefined ? this.csrf : opts.csrf;
    if (csrf) body.set('_csrf', csrf);
    for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    return this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
  }

  /** Sign in through the login form; returns the redirect answer. Learns the session's CSRF token. */
  async login(email: string, password: string, extra: Record<string, string> = {}): Promise<Res> {
    const form = await this.get('/admin/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
    const res = await this.post('/admin/login', { email, password, ...extra }, { csrf: token ?? null });
    if (res.status === 303) await this.learnCsrf();
    return res;
  }

  async learnCsrf(): Promise<void> {
    const me = await this.get('/admin/api/me');
    this.csrf = me.body?.csrf_token;
  }

  /** The JSON API with this session (CSRF header on writes). */
  api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
    return this.fetch(`/admin/api${path}`, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(method !== 'GET' && this.csrf && { 'x-csrf-token': this.csrf }), ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  }
}

/** The JSON API with a bearer credential and no cookies. */
export async function apiWithKey(base: string, key: string, method: string, path: string, body?: unknown): Promise<Res> {
  const res = await fetch(`${base}/admin/api${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: (res.headers.get('content-type') ?? '').includes('application/json') ? JSON.parse(text) : undefined };
}
