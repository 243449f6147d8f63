/**
 * Bring stored secrets under the current key: values stored plain (before a
 * key was configured) or sealed with an older key (before a rotation) are
 * sealed again. Runs at start-up under the migration lock. Each row is written
 * only if it has not changed since it was read, so an operator's edit made
 * meanwhile is never overwritten. A value that no configured key opens is left
 * as it is and reported.
 */
import type postgres from 'postgres';
import type { Logger } from '../../logger.js';
import { isSealed, isSecretKey, openAdapterSettings, sealAdapterSettings, SecretKeyError, secretContext, type SecretBox } from '../../services/secret-box.js';
import { openPrivateJwk, sealPrivateJwk } from './signing-keys.js';

export async function resealStoredSecrets(sql: postgres.Sql | postgres.ReservedSql, box: SecretBox, logger: Logger): Promise<{ resealed: number; unreadable: number }> {
  if (!box.encrypting) return { resealed: 0, unreadable: 0 };
  let resealed = 0;
  let unreadable = 0;
  /** Open with the keys we have, seal with the current one; undefined when no key opens it. */
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof SecretKeyError)) throw err;
      unreadable++;
      logger.error('a stored secret could not be opened; it stays as it is', { error: err.message });
      return undefined;
    }
  };

  const adapters = await sql<{ id: string; settings: Record<string, unknown> }[]>`select id, settings from adapter_configs`;
  for (const a of adapters) {
    const stale = Object.entries(a.settings).some(([k, v]) => isSecretKey(k) && typeof v === 'string' && box.stale(v));
    if (!stale) continue;
    const next = attempt(() => {
      // Re-seal what another key sealed: open it first, then seal under the current key.
      const opened = openAdapterSettings(box, a.id, a.settings);
      return sealAdapterSettings(box, a.id, opened);
    });
    if (!next) continue;
    const n = await sql`update adapter_configs set settings = ${JSON.stringify(next)}::jsonb where id = ${a.id} and settings = ${JSON.stringify(a.settings)}::jsonb`;
    resealed += n.count;
  }

  const keys = await sql<{ kid: string; private_jwk: Record<string, string> }[]>`select kid, private_jwk from signing_keys`;
  for (const k of keys) {
    const stored = k.private_jwk;
    if (typeof stored.sealed === 'string' && !box.stale(stored.sealed)) continue;
    const next = attempt(() => sealPrivateJwk(box, k.kid, openPrivateJwk(box, k.kid, stored)));
    if (!next) continue;
    const n = await sql`update signing_keys set private_jwk = ${JSON.stringify(next)}::jsonb where kid = ${k.kid} and private_jwk = ${JSON.stringify(stored)}::jsonb`;
    resealed += n.count;
  }

  const slack = await sql<{ tenant_id: string; url: string }[]>`select tenant_id, slack_webhook_url as url from tenant_notifications where slack_webhook_url is not null`;
  for (const s of slack) {
    if (!box.stale(s.url)) continue;
    const ctx = secretContext.slackWebhook(s.tenant_id);
    const next = attempt(() => box.seal(isSealed(s.url) ? box.open(s.url, ctx) : s.url, ctx));
    if (!next) continue;
    const n = await sql`update tenant_notifications set slack_webhook_url = ${next} where tenant_id = ${s.tenant_id} and slack_webhook_url = ${s.url}`;
    resealed += n.count;
  }
  if (resealed > 0) logger.info('sealed stored secrets under the current key', { count: resealed });
  return { resealed, unreadable };
}
