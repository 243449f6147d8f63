/** Responses and request types shared by the console's pages and API (src/admin/router.ts routes to them). */
import type http from 'node:http';
import type { AppServices } from '../mcp/server.js';
import type { AdminDeps } from './actions.js';
import type { Operator } from './auth.js';
import { html, page } from './html.js';

export interface AdminRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** Set for every route but the public ones. */
  op: Operator;
  deps: AdminDeps;
  app: AppServices;
  /** Cookies get Secure behind https. */
  secure: boolean;
  /** The console's own base URL (for links in Slack messages). */
  baseUrl: string;
  form(): Promise<URLSearchParams>;
  json(): Promise<unknown>;
}

export type Handler = (r: AdminRequest) => Promise<void>;

export interface Route {
  method: string;
  /** e.g. /admin/media-buys/:id */
  path: string;
  kind: 'public' | 'page' | 'api';
  handle: Handler;
}

export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export function sendHtml(res: http.ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function redirect(res: http.ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location, 'content-length': 0, ...headers });
  res.end();
}

/** Only our own console paths may be redirect targets. */
export function localPath(p: string | null | undefined, fallback: string): string {
  return p && /^\/admin(\/[A-Za-z0-9_.~%\-/]*)?(\?[A-Za-z0-9_.~%\-=&]*)?$/.test(p) && !p.includes('//') ? p : fallback;
}

export const apiError = (res: http.ServerResponse, status: number, code: string, message: string, extra: Record<string, unknown> = {}) =>
  sendJson(res, status, { error: { code, message, ...extra } }, status === 401 ? { 'www-authenticate': 'Bearer realm="admin"' } : {});

export function errorPage(r: Pick<AdminRequest, 'res'> & { op?: Operator }, status: number, message: string, back = '/admin/queue'): void {
  const body = html`<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : status === 409 ? 'Already decided' : 'Could not do that'}</h1>
    <p class="notice bad" role="alert">${message}</p><p><a href="${back}">Back</a></p>`;
  sendHtml(r.res, status, page({ title: 'Error', tenantName: r.op?.tenantName, who: r.op?.label, role: r.op?.role, csrf: r.op?.csrfToken }, body));
}

