/**
 * The AdCP webhook-signing profile (RFC 9421, tag adcp/webhook-signing/v1), as
 * the SDK implements it: a new Ed25519 key in the shape the JWKS publishes, and
 * the Signature / Signature-Input / Content-Digest headers for one delivery.
 * Used when the buyer gave no legacy authentication (Bearer or HMAC).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { pemToAdcpJwk, signWebhook } from '@adcp/sdk/signing/client';
import type { PublicJwk } from '../db/schema/signing-keys.js';

export const WEBHOOK_SIGNING_PURPOSE = 'webhook-signing';
export const WEBHOOK_SIGNING_PROFILE = 'adcp/webhook-signing/v1';
export const WEBHOOK_SIGNING_ALG = 'ed25519';

export interface NewSigningKey {
  kid: string;
  publicJwk: PublicJwk;
  privateJwk: Record<string, string>;
}

/** A fresh Ed25519 webhook-signing key. The kid is random, so the published JWKS names no tenant. */
export function newWebhookSigningKey(): NewSigningKey {
  const kid = `adcp-wh-${randomBytes(9).toString('base64url')}`;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicJwk = pemToAdcpJwk(publicKey.export({ type: 'spki', format: 'pem' }).toString(), { kid, algorithm: WEBHOOK_SIGNING_ALG, adcp_use: WEBHOOK_SIGNING_PURPOSE }) as PublicJwk;
  const { crv, x, d, kty } = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  return { kid, publicJwk, privateJwk: { kty: kty!, crv: crv!, x: x!, d: d! } };
}

/**
 * Headers that sign one POST of `body` to `url`. Signed afresh for every attempt:
 * each carries its own created/expires window and nonce, while the payload (and its
 * idempotency_key) stays the same.
 */
export function webhookSignatureHeaders(p: { url: string; body: string; contentType: string; key: { kid: string; privateJwk: Record<string, string> } }): Record<string, string> {
  const signed = signWebhook(
    { method: 'POST', url: p.url, headers: { 'content-type': p.contentType }, body: p.body },
    { keyid: p.key.kid, alg: WEBHOOK_SIGNING_ALG, privateKey: { kty: 'OKP', ...p.key.privateJwk, kid: p.key.kid } },
  );
  return signed.headers;
}
