/**
 * The seller's signing keys. A tenant's webhook-signing key is made on first
 * use, once: concurrent callers race on the partial unique index and all read
 * the winner. Public halves are published for every tenant (kids are random).
 */
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { signingKeys, type PublicJwk } from '../schema/index.js';
import { newWebhookSigningKey, WEBHOOK_SIGNING_ALG, WEBHOOK_SIGNING_PURPOSE } from '../../domain/webhook-signing.js';
import { secretBox, secretContext, type SecretBox } from '../../services/secret-box.js';

/** A retired key stays in the JWKS this long, so webhooks signed (or retried) before a rotation still verify. */
const RETIRED_KEY_GRACE_HOURS = 24 * 7;
/** The key is in the JWKS: active, or retired within the grace period. */
const PUBLISHED = sql`(${signingKeys.retiredAt} is null or ${signingKeys.retiredAt} > now() - make_interval(hours => ${RETIRED_KEY_GRACE_HOURS}))`;

export interface SigningKey {
  kid: string;
  privateJwk: Record<string, string>;
}

/** The private JWK as stored: `{ sealed }` while a secret key is configured, else the JWK itself. */
export function sealPrivateJwk(box: SecretBox, kid: string, jwk: Record<string, string>): Record<string, string> {
  return box.encrypting ? { sealed: box.seal(JSON.stringify(jwk), secretContext.signingKey(kid)) } : jwk;
}

export function openPrivateJwk(box: SecretBox, kid: string, stored: Record<string, string>): Record<string, string> {
  return typeof stored.sealed === 'string' ? (JSON.parse(box.open(stored.sealed, secretContext.signingKey(kid))) as Record<string, string>) : stored;
}

async function activeKey(db: Queryable, tenantId: string): Promise<SigningKey | undefined> {
  const [row] = await db
    .select({ kid: signingKeys.kid, privateJwk: signingKeys.privateJwk })
    .from(signingKeys)
    .where(and(eq(signingKeys.tenantId, tenantId), eq(signingKeys.purpose, WEBHOOK_SIGNING_PURPOSE), isNull(signingKeys.retiredAt)));
  return row && { kid: row.kid, privateJwk: openPrivateJwk(secretBox(), row.kid, row.privateJwk) };
}

/** The tenant's active webhook-signing key, made now if it has none. */
export async function ensureWebhookSigningKey(db: Queryable, tenantId: string): Promise<SigningKey> {
  const existing = await activeKey(db, tenantId);
  if (existing) return existing;
  const k = newWebhookSigningKey();
  await db.execute(sql`
    insert into signing_keys (kid, tenant_id, purpose, alg, public_jwk, private_jwk)
    values (${k.kid}, ${tenantId}, ${WEBHOOK_SIGNING_PURPOSE}, ${WEBHOOK_SIGNING_ALG}, ${JSON.stringify(k.publicJwk)}::jsonb, ${JSON.stringify(sealPrivateJwk(secretBox(), k.kid, k.privateJwk))}::jsonb)
    on conflict (tenant_id, purpose) where retired_at is null do nothing`);
  const key = await activeKey(db, tenantId);
  if (!key) throw new Error(`no webhook-signing key for tenant ${tenantId}`);
  return key;
}

/**
 * Replace the tenant's webhook-signing key (in the caller's transaction): the
 * active key is retired, stays in the JWKS for the grace period so webhooks
 * signed with it still verify, and a new key signs from now on. `revoke` (the
 * key leaked) drops it from the JWKS at once instead, so nothing signed with it
 * verifies any more. Two rotations at once make one new key.
 */
export async function rotateWebhookSigningKey(db: Queryable, tenantId: string, opts: { revoke?: boolean } = {}): Promise<{ kid: string; retiredKid: string | null }> {
  const retiredAt = opts.revoke ? sql`now() - make_interval(hours => ${RETIRED_KEY_GRACE_HOURS + 1})` : sql`now()`;
  const retired = await db.execute<{ kid: string }>(sql`
    update signing_keys set retired_at = ${retiredAt}
    where tenant_id = ${tenantId} and purpose = ${WEBHOOK_SIGNING_PURPOSE} and retired_at is null
    returning kid`);
  const key = await ensureWebhookSigningKey(db, tenantId);
  return { kid: key.kid, retiredKid: retired[0]?.kid ?? null };
}

/** The tenant's webhook-signing keys (public facts only), newest first; a retired key drops out of the JWKS after the grace period. */
export async function listWebhookSigningKeys(db: Queryable, tenantId: string): Promise<{ kid: string; alg: string; created_at: Date; retired_at: Date | null; published: boolean }[]> {
  return db.execute(sql`
    select kid, alg, created_at, retired_at,
           ${PUBLISHED} as published
    from signing_keys where tenant_id = ${tenantId} and purpose = ${WEBHOOK_SIGNING_PURPOSE}
    order by created_at desc`);
}

/** Give every tenant that has none its webhook-signing key, so a JWKS fetched now already holds every key a webhook may name. */
export async function ensureEveryWebhookSigningKey(db: Queryable): Promise<void> {
  const missing = await db.execute<{ id: string }>(sql`
    select t.id from tenants t
    where not exists (select 1 from signing_keys k where k.tenant_id = t.id and k.purpose = ${WEBHOOK_SIGNING_PURPOSE} and k.retired_at is null)`);
  for (const t of missing) await ensureWebhookSigningKey(db, t.id);
}

/** Public JWKs of every active key and of keys retired within the grace period, newest first. */
export async function publishedSigningKeys(db: Queryable): Promise<PublicJwk[]> {
  const rows = await db
    .select({ jwk: signingKeys.publicJwk })
    .from(signingKeys)
    .where(PUBLISHED)
    .orderBy(desc(signingKeys.createdAt));
  return rows.map((r) => r.jwk);
}
