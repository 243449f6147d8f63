/**
 * Stored secrets (the seller's: adapter credentials, signing keys, the Slack
 * URL; buyers': legacy webhook and governance-agent credentials, webhook
 * validation tokens) against the configured keys, at start-up under the
 * migration lock, in one transaction that locks only the rows it rewrites:
 * - values stored plain (before a key was configured) or sealed with an older
 *   key (before a rotation) are sealed under the current key;
 * - a value sealed with a key that is not configured stops the start-up: a
 *   process that cannot read the secrets must not take jobs that need them
 *   (they would fail, and their media buys be rejected) nor write new ones;
 * - a value that its key does not open (altered, or moved between rows) is
 *   reported and left as it is.
 * Returns how many values each key now seals (`plain` for unsealed ones).
 */
import type postgres from 'postgres';
import type { Logger } from '../../logger.js';
import {
  isBuyerSecret,
  isSecretKey,
  openAdapterSettings,
  openBuyerCredentials,
  sealAdapterSettings,
  sealBuyerAuthentication,
  sealedKid,
  SecretKeyError,
  secretContext,
  type HasAuthentication,
  type SecretBox,
} from '../../services/secret-box.js';
import { openPrivateJwk, sealPrivateJwk } from './signing-keys.js';

export type SecretCensus = Record<string, number>;

export async function resealStoredSecrets(sql: postgres.ReservedSql, box: SecretBox, logger: Logger): Promise<SecretCensus> {
  await sql`begin`;
  try {
    const census = await reseal(sql, box, logger);
    await sql`commit`;
    return census;
  } catch (err) {
    await sql`rollback`.catch(() => {});
    throw err;
  }
}

async function reseal(sql: postgres.ReservedSql, box: SecretBox, logger: Logger): Promise<SecretCensus> {
  const census: SecretCensus = {};
  const unknownKeys = new Set<string>();
  let resealed = 0;
  const count = (v: string) => {
    const kid = sealedKid(v) ?? 'plain';
    census[kid] = (census[kid] ?? 0) + 1;
  };
  /**
   * Every stored value is opened (so one that does not open is found at start-up, not by a job);
   * the stale ones are sealed again from what was opened. Returns the new stored value, or undefined to leave it.
   */
  const check = <O, T>(stale: boolean, open: () => O, reseal: (opened: O) => T): T | undefined => {
    try {
      const opened = open();
      return stale && box.encrypting ? reseal(opened) : undefined;
    } catch (err) {
      if (!(err instanceof SecretKeyError)) throw err;
      if (err.reason === 'unknown_key') unknownKeys.add(err.kid!);
      else logger.error('a stored secret does not open with its key; it stays as it is', { error: err.message });
      return undefined;
    }
  };

  // No row locks: a rewrite applies only if the row still holds what was read (compared as Postgres renders
  // it), so an operator's edit made meanwhile wins and is looked at again at the next start.
  const adapters = await sql<{ id: string; settings: Record<string, unknown>; raw: string }[]>`select id, settings, settings::text as raw from adapter_configs order by id`;
  for (const a of adapters) {
    const secrets = Object.entries(a.settings).filter((e): e is [string, string] => isSecretKey(e[0]) && typeof e[1] === 'string');
    const next = check(
      secrets.some(([, v]) => box.stale(v)),
      () => openAdapterSettings(box, a.id, a.settings),
      (opened) => sealAdapterSettings(box, a.id, opened),
    );
    if (next) {
      resealed += (await sql`update adapter_configs set settings = ${JSON.stringify(next)}::jsonb where id = ${a.id} and settings::text = ${a.raw}`).count;
    }
    for (const [k, v] of Object.entries(next ?? a.settings)) if (isSecretKey(k) && typeof v === 'string') count(v);
  }

  const keys = await sql<{ kid: string; private_jwk: Record<string, string>; raw: string }[]>`select kid, private_jwk, private_jwk::text as raw from signing_keys order by kid`;
  for (const k of keys) {
    const sealed = typeof k.private_jwk.sealed === 'string' ? k.private_jwk.sealed : undefined;
    const next = check(
      sealed ? box.stale(sealed) : box.encrypting,
      () => openPrivateJwk(box, k.kid, k.private_jwk),
      (opened) => sealPrivateJwk(box, k.kid, opened),
    );
    if (next) {
      resealed += (await sql`update signing_keys set private_jwk = ${JSON.stringify(next)}::jsonb where kid = ${k.kid} and private_jwk::text = ${k.raw}`).count;
    }
    count((next ?? k.private_jwk).sealed ?? 'plain');
  }

  const slack = await sql<{ tenant_id: string; url: string }[]>`
    select tenant_id, slack_webhook_url as url from tenant_notifications where slack_webhook_url is not null order by tenant_id`;
  for (const s of slack) {
    const ctx = secretContext.slackWebhook(s.tenant_id);
    const next = check(box.stale(s.url), () => box.open(s.url, ctx), (opened) => box.seal(opened, ctx));
    if (next) {
      resealed += (await sql`update tenant_notifications set slack_webhook_url = ${next} where tenant_id = ${s.tenant_id} and slack_webhook_url = ${s.url}`).count;
    }
    count(next ?? s.url);
  }

  // Buyers' credentials (legacy webhook auth, governance agents), bound to the buyer. Only the rows that hold
  // them are read: partial indexes on each table (the credentials leave a task, a report, a delivery once it ends).
  /** A buyer's config, its credentials checked and counted: the config to store instead when they are stale. */
  const buyerConfig = (tenantId: string, principalId: string | null, config: HasAuthentication | null): HasAuthentication | undefined => {
    // Its authentication block's secrets: the credentials and the webhook's validation token.
    const secrets = (auth: Record<string, unknown>) => Object.entries(auth).flatMap(([k, v]) => (isBuyerSecret(k) && typeof v === 'string' ? [v] : []));
    const auth = config?.authentication;
    const stored = auth ? secrets(auth) : [];
    if (!auth || stored.length === 0 || !principalId) return undefined;
    const ctx = secretContext.buyerCredentials(tenantId, principalId);
    const next = check(
      stored.some((v) => box.stale(v)),
      () => openBuyerCredentials(box, ctx, auth),
      (opened) => ({ ...config, authentication: sealBuyerAuthentication(box, ctx, opened) }),
    );
    for (const v of secrets(next?.authentication ?? auth)) count(v);
    return next;
  };
  type Row = { id: string; tenant_id: string; principal_id: string | null; config: HasAuthentication | null; raw: string };
  const rewrite = async (rows: Row[], write: (id: string, next: HasAuthentication, raw: string) => Promise<{ count: number }>) => {
    for (const r of rows) {
      const next = buyerConfig(r.tenant_id, r.principal_id, r.config);
      if (next) resealed += (await write(r.id, next, r.raw)).count;
    }
  };
  await rewrite(
    await sql<Row[]>`select id, tenant_id, principal_id, reporting_webhook as config, reporting_webhook::text as raw
              from media_buys where (reporting_webhook -> 'authentication') is not null order by id`,
    (id, next, raw) => sql`update media_buys set reporting_webhook = ${JSON.stringify(next)}::jsonb where id = ${id} and reporting_webhook::text = ${raw}`,
  );
  await rewrite(
    await sql<Row[]>`select id, tenant_id, principal_id, push_notification_config as config, push_notification_config::text as raw
              from workflow_steps where (push_notification_config -> 'authentication') is not null order by id`,
    (id, next, raw) => sql`update workflow_steps set push_notification_config = ${JSON.stringify(next)}::jsonb where id = ${id} and push_notification_config::text = ${raw}`,
  );
  await rewrite(
    await sql<Row[]>`select id, tenant_id, principal_id, json_build_object('authentication', authentication) as config, authentication::text as raw
              from webhook_deliveries where authentication is not null order by id`,
    (id, next, raw) => sql`update webhook_deliveries set authentication = ${JSON.stringify(next.authentication)}::jsonb where id = ${id} and authentication::text = ${raw}`,
  );
  // AdCP 3.1 account notification subscribers (keyed by account and subscriber: the row id below is both, as JSON).
  await rewrite(
    await sql<Row[]>`select json_build_array(account_id, subscriber_id)::text as id, tenant_id, principal_id, json_build_object('authentication', authentication) as config, authentication::text as raw
              from account_notification_configs where authentication is not null order by account_id, subscriber_id`,
    (id, next, raw) => {
      const [accountId, subscriberId] = JSON.parse(id) as [string, string];
      return sql`update account_notification_configs set authentication = ${JSON.stringify(next.authentication)}::jsonb
                 where account_id = ${accountId} and subscriber_id = ${subscriberId} and authentication::text = ${raw}`;
    },
  );
  // Credentials a task's request carried for its job (sync_accounts' notification subscribers), by their place in it.
  const steps = await sql<{ id: string; tenant_id: string; principal_id: string | null; blocks: Record<string, Record<string, unknown>>; raw: string }[]>`
    select id, tenant_id, principal_id, request_credentials as blocks, request_credentials::text as raw from workflow_steps where request_credentials is not null order by id`;
  for (const st of steps) {
    const next = Object.fromEntries(Object.entries(st.blocks).map(([path, auth]) => [path, buyerConfig(st.tenant_id, st.principal_id, { authentication: auth })?.authentication ?? auth]));
    if (Object.entries(next).some(([path, auth]) => auth !== st.blocks[path])) {
      resealed += (await sql`update workflow_steps set request_credentials = ${JSON.stringify(next)}::jsonb where id = ${st.id} and request_credentials::text = ${st.raw}`).count;
    }
  }
  const accounts = await sql<{ id: string; tenant_id: string; principal_id: string; agents: HasAuthentication[]; raw: string }[]>`
    select id, tenant_id, principal_id, details -> 'governance_agents' as agents, (details -> 'governance_agents')::text as raw
    from accounts where jsonb_typeof(details -> 'governance_agents') = 'array' order by id`;
  for (const a of accounts) {
    const agents = a.agents.map((g) => buyerConfig(a.tenant_id, a.principal_id, g) ?? g);
    if (agents.some((g, i) => g !== a.agents[i])) {
      resealed += (await sql`update accounts set details = jsonb_set(details, '{governance_agents}', ${JSON.stringify(agents)}::jsonb) where id = ${a.id} and (details -> 'governance_agents')::text = ${a.raw}`).count;
    }
  }

  if (unknownKeys.size > 0) {
    const kids = [...unknownKeys].sort().join(', ');
    throw new SecretKeyError(
      `stored secrets are sealed with key ${kids}, which this process does not have (${box.encrypting ? 'not in SALES_AGENT_SECRET_KEY, nor the data folder\'s secret.key' : 'SALES_AGENT_SECRET_KEY is not set'}); ` +
        'start with the key that sealed them (a list "new,old" while rotating), as the other processes of this deployment do',
      'unknown_key',
    );
  }
  if (resealed > 0) logger.info('sealed stored secrets under the current key', { count: resealed });
  return census;
}
