/**
 * Bearer token -> caller (principal + tenant). Lookups are by SHA-256 of the
 * token and cached briefly, so the hot path usually skips the query. A token
 * replaced (rotated) or a buyer removed is announced on the events channel by a
 * trigger, and that buyer's entries go at once; CACHE_TTL_MS bounds the rest
 * (a lost LISTEN connection clears everything). A caller carries its tenant's
 * settings (manual approval, creative review...): a change to the tenant,
 * announced on the events channel, drops that tenant's callers at once. A buyer
 * the seller suspended still resolves (its token is valid), marked suspended.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Database } from '../db/client.js';
import { defaultTenant, findPrincipalByToken } from '../db/queries/principals.js';
import type { Caller } from './context.js';
import type { NotificationHub } from './notify.js';

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
  /** Bumped by every drop: a lookup that started before one does not cache what it read. */
  private generation = 0;

  constructor(
    private readonly db: Database['db'],
    hub?: NotificationHub,
  ) {
    hub?.onEvent((e) => {
      if (e.kind === 'catalog') this.forget((c) => c.tenant?.id === e.tenant_id);
      else if (e.kind === 'principal') this.forget((c) => c.principal?.id === e.principal_id);
    });
    hub?.onResync(() => {
      this.generation++;
      this.cache.clear();
      this.anon = undefined;
    });
  }

  /** Drop the cached callers a change made stale (a tenant's, a buyer's). */
  private forget(stale: (caller: Caller) => boolean): void {
    this.generation++;
    for (const [token, hit] of this.cache) if (hit.caller && stale(hit.caller)) this.cache.delete(token);
    if (this.anon && stale(this.anon.caller)) this.anon = undefined;
  }

  /** The caller for a token; null when the token is unknown. No token means anonymous. */
  async resolve(token: string | undefined): Promise<Caller | null> {
    const now = Date.now();
    const generation = this.generation;
    if (!token) {
      if (this.anon && this.anon.expires > now) return this.anon.caller;
      const caller: Caller = { tenant: await defaultTenant(this.db), principal: undefined };
      if (generation === this.generation) this.anon = { caller, expires: now + CACHE_TTL_MS };
      return caller;
    }
    const hit = this.cache.get(token);
    if (hit && hit.expires > now) return hit.caller;
    const found = await findPrincipalByToken(this.db, token);
    const caller: Caller | null = found ? { tenant: found.tenant, principal: found.principal, ...(found.suspended && { suspended: true }) } : null;
    if (generation !== this.generation) return caller;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(token, { caller, expires: now + CACHE_TTL_MS });
    return caller;
  }
}
