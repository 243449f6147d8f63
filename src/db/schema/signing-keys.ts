/**
 * The seller's own signing keys: one active Ed25519 key per tenant and purpose
 * (today only AdCP webhook signing, RFC 9421). The public half is published in
 * /.well-known/jwks.json; the private half stays in this table and is never
 * logged or returned by any tool. A retired key stays published for a while so
 * webhooks signed just before a rotation still verify.
 */
import { sql } from 'drizzle-orm';
import { index, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { tenants } from './tenants.js';

export interface PublicJwk {
  kid: string;
  kty: string;
  crv?: string;
  x?: string;
  alg?: string;
  use?: string;
  key_ops?: string[];
  adcp_use?: string;
}

export const signingKeys = pgTable(
  'signing_keys',
  {
    /** The JWK kid, as sent in Signature-Input keyid. Random: it names no tenant. */
    kid: text('kid').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** AdCP key purpose (adcp_use): webhook-signing. */
    purpose: text('purpose').notNull(),
    /** AdCP wire algorithm: ed25519. */
    alg: text('alg').notNull(),
    publicJwk: jsonb('public_jwk').$type<PublicJwk>().notNull(),
    /** The private JWK (d). Read only by the webhook signer. */
    privateJwk: jsonb('private_jwk').$type<Record<string, string>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    retiredAt: timestamp('retired_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('signing_keys_active_uq').on(t.tenantId, t.purpose).where(sql`${t.retiredAt} is null`),
    index('signing_keys_tenant_idx').on(t.tenantId),
  ],
);
