/** Resolving a bearer token to its buyer and tenant. */
import { and, eq, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { principals, tenants, type TenantSettings } from '../schema/index.js';
import { hashToken } from '../../domain/ids.js';

export interface Principal {
  id: string;
  tenantId: string;
  name: string;
  platformMappings: Record<string, unknown>;
}

export interface Tenant {
  id: string;
  name: string;
  publisherDomain: string | null;
  settings: TenantSettings;
}

export async function findPrincipalByToken(db: Queryable, token: string): Promise<{ principal: Principal; tenant: Tenant; suspended: boolean } | undefined> {
  return findPrincipalWhere(db, eq(principals.tokenHash, hashToken(token)));
}

/** A buyer by id, with its tenant (a job acting for it). */
export async function findPrincipal(db: Queryable, p: { tenantId: string; principalId: string }): Promise<{ principal: Principal; tenant: Tenant; suspended: boolean } | undefined> {
  return findPrincipalWhere(db, and(eq(principals.tenantId, p.tenantId), eq(principals.id, p.principalId))!);
}

async function findPrincipalWhere(db: Queryable, where: SQL): Promise<{ principal: Principal; tenant: Tenant; suspended: boolean } | undefined> {
  const rows = await db
    .select({
      id: principals.id,
      tenantId: principals.tenantId,
      name: principals.name,
      platformMappings: principals.platformMappings,
      suspendedAt: principals.suspendedAt,
      tName: tenants.name,
      tDomain: tenants.publisherDomain,
      tSettings: tenants.settings,
    })
    .from(principals)
    .innerJoin(tenants, eq(tenants.id, principals.tenantId))
    .where(where)
    .limit(1);
  const r = rows[0];
  if (!r) return undefined;
  return {
    principal: { id: r.id, tenantId: r.tenantId, name: r.name, platformMappings: r.platformMappings },
    tenant: { id: r.tenantId, name: r.tName, publisherDomain: r.tDomain, settings: r.tSettings },
    suspended: r.suspendedAt !== null,
  };
}


/** The tenant anonymous callers see: the only tenant, or the one named "demo". */
export async function defaultTenant(db: Queryable): Promise<Tenant | undefined> {
  const rows = await db.select().from(tenants).orderBy(tenants.createdAt).limit(2);
  const t = rows.length === 1 ? rows[0] : (rows.find((r) => r.id === 'demo') ?? rows[0]);
  return t && { id: t.id, name: t.name, publisherDomain: t.publisherDomain, settings: t.settings };
}
