/**
 * Bearer token -> caller (principal + tenant). Lookups are by SHA-256 of the
 * token and cached briefly, so the hot path usually skips the query; a revoked
 * token stops working within CACHE_TTL_MS.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Database } from '../db/client.js';
import { defaultTenant, findPrincipalByToken } from '../db/queries/principals.js';
import type { Caller } from './context.js';

const CACHE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;

export function tokenFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const x = headers['x-adcp-auth'];
  if (typeof x === 'string' && x.trim()) return x.trim();
  return undefined;
}

export class Authenticator {
  private readonly cache = new Map<string, { caller: Caller | null; expires: number }>();
  private anon?: { caller: Caller; expires: number };

  constructor(private readonly db: Database['db']) {}

  /** The caller for a token; null when the token is unknown. No token means anonymous. */
  async resolve(token: string | undefined): Promise<Caller | null> {
    const now = Date.now();
    if (!token) {
      if (this.anon && this.anon.expires > now) return this.anon.caller;
      const caller: Caller = { tenant: await defaultTenant(this.db), principal: undefined };
      this.anon = { caller, expires: now + CACHE_TTL_MS };
      return caller;
    }
    const hit = this.cache.get(token);
    if (hit && hit.expires > now) return hit.caller;
    const found = await findPrincipalByToken(this.db, token);
    const caller = found ? { tenant: found.tenant, principal: found.principal } : null;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(token, { caller, expires: now + CACHE_TTL_MS });
    return caller;
  }
}
