/**
 * Per-process cache of the accounts buying tools look up by account_id or by
 * natural key (brand + operator + sandbox): one query fewer on the hot
 * create_media_buy path. A trigger on `accounts` announces every change to an
 * account on the events channel, and the tenant's entries go at once (all of
 * them, after a lost LISTEN connection); TTL_MS bounds the rest. Only accounts
 * found are kept: an unknown key is asked again (it may be opened meanwhile).
 * The entry is the query's promise, stored before it runs, so a change
 * announced while it runs drops it and no stale row outlives the announcement.
 */
import type { Queryable } from '../db/client.js';
import { getAccountById, getAccountByNaturalKey, type AccountRow, type NaturalKey } from '../db/queries/accounts.js';
import type { NotificationHub } from './notify.js';

const TTL_MS = 30_000;
const MAX_PER_TENANT = 10_000;

type Scope = { tenantId: string; principalId: string };

export class AccountCache {
  private readonly tenants = new Map<string, Map<string, { row: Promise<AccountRow | undefined>; expires: number }>>();

  constructor(hub?: NotificationHub) {
    hub?.onEvent((e) => {
      if (e.kind === 'account') this.tenants.delete(e.tenant_id);
    });
    hub?.onResync(() => this.tenants.clear());
  }

  /** Drop the tenant's entries now: for a tool that has just changed accounts (the trigger's event follows). */
  forget(tenantId: string): void {
    this.tenants.delete(tenantId);
  }

  byId(db: Queryable, p: Scope & { accountId: string }): Promise<AccountRow | undefined> {
    return this.lookup(p.tenantId, `id|${p.principalId}|${p.accountId}`, () => getAccountById(db, p));
  }

  byNaturalKey(db: Queryable, p: Scope & NaturalKey): Promise<AccountRow | undefined> {
    const key = `nk|${p.principalId}|${p.brandDomain}|${p.brandId}|${p.operator}|${p.sandbox}`;
    return this.lookup(p.tenantId, key, () => getAccountByNaturalKey(db, p));
  }

  private lookup(tenantId: string, key: string, read: () => Promise<AccountRow | undefined>): Promise<AccountRow | undefined> {
    const now = Date.now();
    let entries = this.tenants.get(tenantId);
    const hit = entries?.get(key);
    if (hit && hit.expires > now) return hit.row;
    if (!entries) this.tenants.set(tenantId, (entries = new Map()));
    if (entries.size >= MAX_PER_TENANT) entries.clear();
    const row = read();
    const entry = { row, expires: now + TTL_MS };
    entries.set(key, entry);
    const forget = () => {
      if (this.tenants.get(tenantId)?.get(key) === entry) this.tenants.get(tenantId)!.delete(key);
    };
    row.then((r) => r === undefined && forget(), forget);
    return row;
  }
}
