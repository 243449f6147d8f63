/**
 * /admin: the seller console (server-rendered pages, src/admin/web.ts) and its
 * JSON API (/admin/api, src/admin/api.ts), served by the MCP HTTP server.
 * This file does the plumbing both share: routing, bodies, security headers,
 * and who the caller is. Pages take an operator session (cookie) and a CSRF
 * token on every form; the API takes a session (CSRF token in x-csrf-token on
 * writes) or an admin API key (Authorization: Bearer). Anything else is 401.
 */
import type http from 'node:http';
import type { AppServices } from '../mcp/server.js';
import { AdminError, type AdminDeps } from './actions.js';
import { apiRoutes } from './api.js';
import { apiKeyOperator, bearerToken, csrfMatches, isHttps, sessionOperator, type Operator } from './auth.js';
import { html, page } from './html.js';
import { apiError, errorPage, redirect, sendHtml, type AdminRequest, type Route } from './respond.js';
import { webRoutes } from './web.js';

export type { AdminRequest, Route } from './respond.js';

const MAX_BODY = 1024 * 1024;

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new AdminError(413, 'BODY_TOO_LARGE', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Postgres stores no NUL in text or jsonb: input carrying one is refused up front (a 400, not a failed query). */
const NUL = '\u0000';
function hasNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes(NUL);
  if (depth > 32 || v === null || typeof v !== 'object') return false;
  return Object.entries(v as Record<string, unknown>).some(([k, x]) => k.includes(NUL) || hasNul(x, depth + 1));
}
const nulError = () => new AdminError(400, 'INVALID_CHARACTER', 'The request contains a NUL character.');

function compile(routes: Route[]) {
  return routes.map((r) => {
    const names: string[] = [];
    const re = new RegExp(
      `^${r.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([a-zA-Z]+)/g, (_, n: string) => {
        names.push(n);
        return '([^/]+)';
      })}/?$`,
    );
    return { ...r, re, names };
  });
}

export function createAdminHandler(app: AppServices): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const deps: AdminDeps = { db: app.database.db, logger: app.logger.child({ component: 'admin' }) };
  const routes = compile([...webRoutes, ...apiRoutes]);

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const isApi = path === '/admin/api' || path.startsWith('/admin/api/');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    let params: Record<string, string> = {};
    let allowed: string[] = [];
    const route = routes.find((r) => {
      const m = r.re.exec(path);
      if (!m) return false;
      if (r.method !== method) {
        allowed.push(r.method);
        return false;
      }
      try {
        params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      } catch {
        return false;
      }
      return true;
    });
    if (!route) {
      if (allowed.length) {
        allowed = [...new Set(allowed)];
        return isApi ? apiError(res, 405, 'METHOD_NOT_ALLOWED', `Use ${allowed.join(' or ')}.`) : errorPage({ res }, 405, `Use ${allowed.join(' or ')}.`);
      }
      return isApi ? apiError(res, 404, 'NOT_FOUND', 'No such endpoint.') : errorPage({ res }, 404, 'No such page.');
    }

    const secure = isHttps(req, app.agentUrl);
    const host = typeof req.headers.host === 'string' && /^[A-Za-z0-9.:[\]-]+$/.test(req.headers.host) ? req.headers.host : undefined;
    const baseUrl = app.agentUrl.startsWith('https:') || !host ? app.agentUrl : `${secure ? 'https' : 'http'}://${host}`;
    let formCache: Promise<URLSearchParams> | undefined;
    let jsonCache: Promise<unknown> | undefined;
    const r: AdminRequest = {
      req,
      res,
      url,
      params,
      op: undefined as unknown as Operator,
      deps,
      app,
      secure,
      baseUrl,
      form: () =>
        (formCache ??= readBody(req).then((b) => {
          const fd = new URLSearchParams(b);
          if ([...fd].some(([k, v]) => k.includes(NUL) || v.includes(NUL))) throw nulError();
          return fd;
        })),
      json: () =>
        (jsonCache ??= readBody(req).then((b) => {
          if (!b.trim()) return {};
          let body: unknown;
          try {
            body = JSON.parse(b) as unknown;
          } catch {
            throw new AdminError(400, 'INVALID_JSON', 'The body is not valid JSON.');
          }
          if (hasNul(body)) throw nulError();
          return body;
        })),
    };

    try {
      if (Object.values(params).some((v) => v.includes(NUL)) || [...url.searchParams].some(([k, v]) => k.includes(NUL) || v.includes(NUL))) throw nulError();
      if (route.kind === 'api') {
        // The API: an admin API key, or a session (whose writes carry the CSRF token in a header).
        const token = bearerToken(req.headers);
        if (req.headers.authorization !== undefined || req.headers['x-adcp-auth'] !== undefined) {
          const op = token ? await apiKeyOperator(deps.db, token) : undefined;
          if (!op) return apiError(res, 401, 'UNAUTHORIZED', 'Unknown or revoked admin API key. Buyer tokens do not work here.');
          r.op = op;
        } else {
          const op = await sessionOperator(deps.db, req.headers);
          if (!op) return apiError(res, 401, 'UNAUTHORIZED', 'Sign in at /admin/login, or send an admin API key as Authorization: Bearer.');
          if (method !== 'GET' && !csrfMatches(op, req.headers['x-csrf-token'])) return apiError(res, 403, 'CSRF', 'Writes with a session need its CSRF token in the x-csrf-token header (see GET /admin/api/me).');
          if (op.mustChangePassword && path !== '/admin/api/me') return apiError(res, 403, 'PASSWORD_CHANGE_REQUIRED', 'Choose a password at /admin/password first.');
          r.op = op;
        }
        if (method !== 'GET' && req.headers['content-length'] !== '0' && req.headers['content-length'] !== undefined && !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
          return apiError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'Send JSON (content-type: application/json).');
        }
        return await route.handle(r);
      }
      // Pages: bearer credentials are refused outright (buyer tokens and API keys alike).
      if (req.headers.authorization !== undefined || req.headers['x-adcp-auth'] !== undefined) {
        return sendHtml(res, 401, page({ title: 'Unauthorized' }, html`<h1>Unauthorized</h1><p>Bearer tokens are not accepted by the console pages; <a href="/admin/login">sign in</a>.</p>`), {
          'www-authenticate': 'Bearer realm="admin"',
        });
      }
      if (route.kind === 'public') return await route.handle(r);
      const op = await sessionOperator(deps.db, req.headers);
      if (!op) return redirect(res, method === 'GET' ? `/admin/login?next=${encodeURIComponent(url.pathname + url.search)}` : '/admin/login');
      r.op = op;
      if (method === 'POST' && !csrfMatches(op, (await r.form()).get('_csrf'))) {
        return errorPage(r, 403, 'This form has expired or did not come from the console. Reload the page and try again.');
      }
      if (op.mustChangePassword && path !== '/admin/password' && path !== '/admin/logout') return redirect(res, '/admin/password');
      return await route.handle(r);
    } catch (err) {
      if (err instanceof AdminError) {
        return isApi ? apiError(res, err.status, err.code, err.message, { ...(err.field && { field: err.field }), ...(err.details && { details: err.details }) }) : errorPage(r, err.status, err.message);
      }
      // Unexpected: logged here, answered like any console error (security headers, no detail).
      deps.logger.error('console request failed', { method, path, error: err });
      if (res.headersSent) return void res.end();
      return isApi ? apiError(res, 500, 'INTERNAL', 'Something went wrong on our side; it has been logged.') : errorPage(r, 500, 'Something went wrong on our side; it has been logged.');
    }
  };
}
