/**
 * Secrets at rest (the seller's, and buyers' own webhook and governance
 * credentials) across the life of a deployment: stored plain before a key
 * was configured, sealed at the next start-up, re-sealed after a rotation, and
 * left alone (and reported) when no configured key opens them.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterError } from '../../src/adapters/port.js';
import { createAdapterRegistry } from '../../src/adapters/registry.js';
import { connect, type Database } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { getNotificationSettings, openSlackWebhook, setSlackWebhook } from '../../src/db/queries/notifications.js';
import { ensureWebhookSigningKey } from '../../src/db/queries/signing-keys.js';
import { createLogger } from '../../src/logger.js';
import { seedDemo } from '../../src/seed/demo.js';
import { configureSecretBox, createSecretBox, secretContext, type SecretBox } from '../../src/services/secret-box.js';
import { createTestDb, tablesHolding, type TestDb } from '../helpers/db.js';

const [k1, k2, k3] = [randomBytes(32), randomBytes(32), randomBytes(32)];
const SLACK = 'https://hooks.slack.com/services/T0/B0/slack-secret-path';
/** A buyer's own credentials, as an older version stored them: plain, in a reporting webhook, a task's push config (with its validation token), a pending delivery and a governance agent. */
const BUYER = {
  reporting: 'buyer-hmac-secret-reporting-0123456789',
  step: 'buyer-bearer-step-0123456789',
  stepToken: 'buyer-validation-token-step-0123456789',
  delivery: 'buyer-bearer-delivery-0123456789',
  governance: 'buyer-governance-0123456789',
};
const buyerContext = secretContext.buyerCredentials('demo', 'prn_demo_buyer');

describe('secrets at rest', () => {
  let db: TestDb;
  let d: Database;
  let sql: postgres.Sql;
  const lines: string[] = [];
  const logger = createLogger('info', {}, (l) => lines.push(l));
  const stored = async () => {
    const [a] = await sql<{ api_key: string; region: string }[]>`select settings->>'api_key' as api_key, settings->>'region' as region from adapter_configs where id = 'adp_demo_mock'`;
    const [k] = await sql<{ j: string }[]>`select private_jwk::text as j from signing_keys where tenant_id = 'demo'`;
    const [n] = await sql<{ u: string }[]>`select slack_webhook_url as u from tenant_notifications where tenant_id = 'demo'`;
    const [b] = await sql<{ reporting: string; step: string; stepToken: string; delivery: string; governance: string }[]>`
      select (select reporting_webhook #>> '{authentication,credentials}' from media_buys where id = 'mb_secrets') as reporting,
             (select push_notification_config #>> '{authentication,credentials}' from workflow_steps where id = 'task_secrets') as step,
             (select push_notification_config #>> '{authentication,token}' from workflow_steps where id = 'task_secrets') as "stepToken",
             (select authentication ->> 'credentials' from webhook_deliveries where id = 'whd_secrets') as delivery,
             (select details #>> '{governance_agents,0,authentication,credentials}' from accounts where id = 'acc_secrets') as governance`;
    return { apiKey: a!.api_key, region: a!.region, jwk: k!.j, slack: n!.u, buyer: b! };
  };
  /** Start up with these keys: configure the box, then migrate (which re-seals). */
  const boot = async (box: SecretBox) => {
    configureSecretBox(box);
    await migrateDatabase(db.url, logger);
  };

  beforeAll(async () => {
    db = await createTestDb();
    d = connect(db.url, { max: 2 });
    sql = postgres(db.url, { max: 1, onnotice: () => {} });
    // A deployment that ran without a key: everything stored plain.
    configureSecretBox(createSecretBox([]));
    await seedDemo(d.db, { token: 'secrets-test' });
    await sql`update adapter_configs set settings = settings || '{"api_key": "sk-live-plain", "region": "eu"}'::jsonb where id = 'adp_demo_mock'`;
    await setSlackWebhook(d.db, { tenantId: 'demo', url: SLACK, consoleUrl: null });
    await ensureWebhookSigningKey(d.db, 'demo');
    const auth = (credentials: string) => sql.json({ schemes: ['Bearer'], credentials });
    await sql`insert into accounts (id, tenant_id, principal_id, name, brand, brand_domain, operator, details)
              values ('acc_secrets', 'demo', 'prn_demo_buyer', 'secrets', ${sql.json({ domain: 'secrets.example' })}, 'secrets.example', 'secrets.example',
                      ${sql.json({ governance_agents: [{ url: 'https://gov.example', authentication: { schemes: ['Bearer'], credentials: BUYER.governance } }] })})`;
    await sql`insert into media_buys (id, tenant_id, principal_id, status, total_budget, currency, start_time, end_time, raw_request, reporting_next_at, reporting_webhook)
              values ('mb_secrets', 'demo', 'prn_demo_buyer', 'active', 100, 'USD', now(), now() + interval '1 day', '{}', now() + interval '1 day',
                      ${sql.json({ url: 'https://buyer.example/r', reporting_frequency: 'daily', authentication: { schemes: ['HMAC-SHA256'], credentials: BUYER.reporting } })})`;
    await sql`insert into workflow_steps (id, tenant_id, principal_id, media_buy_id, step_type, status, owner, push_notification_config)
              values ('task_secrets', 'demo', 'prn_demo_buyer', 'mb_secrets', 'update_media_buy', 'pending', 'system',
                      ${sql.json({ url: 'https://buyer.example/t', authentication: { schemes: ['Bearer'], credentials: BUYER.step, token: BUYER.stepToken } })})`;
    await sql`insert into webhook_deliveries (id, tenant_id, principal_id, task_id, url, authentication, payload, idempotency_key, sequence)
              values ('whd_secrets', 'demo', 'prn_demo_buyer', 'task_secrets', 'https://buyer.example/t', ${auth(BUYER.delivery)}, '{}', 'whk_secrets', 1)`;
  });
  afterAll(async () => {
    configureSecretBox(createSecretBox([]));
    await sql?.end();
    await d?.close();
    await db?.drop();
  });

  it('seals what was stored plain at the next start-up with a key, and everything still reads', async () => {
    const before = await stored();
    const jwkBefore = (await ensureWebhookSigningKey(d.db, 'demo')).privateJwk;
    expect(before).toMatchObject({ apiKey: 'sk-live-plain', slack: SLACK, buyer: BUYER });
    expect(await tablesHolding(sql, BUYER.step)).toEqual(['public.workflow_steps']);
    expect(JSON.parse(before.jwk).d).toBe(jwkBefore.d);

    await boot(createSecretBox([k1]));
    const after = await stored();
    expect(after.apiKey).toMatch(/^enc:v1:/);
    expect(after.region).toBe('eu'); // not a credential: stays readable
    expect(after.slack).toMatch(/^enc:v1:/);
    expect(JSON.parse(after.jwk)).toEqual({ sealed: expect.stringMatching(/^enc:v1:/) });
    for (const v of [after.apiKey, after.slack, after.jwk]) expect(v).not.toMatch(/sk-live-plain|slack-secret-path/);
    expect(after.jwk).not.toContain(jwkBefore.d);
    for (const [k, v] of Object.entries(after.buyer)) {
      expect(v).toMatch(/^enc:v1:/);
      // Bound to the buyer: they open for it, and only for it.
      expect(createSecretBox([k1]).open(v, buyerContext)).toBe(BUYER[k as keyof typeof BUYER]);
      expect(() => createSecretBox([k1]).open(v, secretContext.buyerCredentials('demo', 'prn_other'))).toThrow(/does not open/);
    }
    for (const v of Object.values(BUYER)) expect(await tablesHolding(sql, v)).toEqual([]);

    // Readers get the plain values back.
    expect((await ensureWebhookSigningKey(d.db, 'demo')).privateJwk).toEqual(jwkBefore);
    expect(openSlackWebhook('demo', (await getNotificationSettings(d.db, 'demo'))!.slackWebhookUrl!)).toBe(SLACK);
    expect(createSecretBox([k1]).open(after.apiKey, secretContext.adapterSetting('adp_demo_mock', 'api_key'))).toBe('sk-live-plain');
    expect(lines.some((l) => l.includes('sealed stored secrets under the current key') && l.includes('"count":7'))).toBe(true);

    // A second start-up with the same key has nothing to do.
    lines.length = 0;
    await boot(createSecretBox([k1]));
    expect(await stored()).toEqual(after);
    expect(lines.join('\n')).not.toContain('sealed stored secrets');
  });

  it('re-seals under the new key after a rotation (new key first, old key after it)', async () => {
    const sealedWithK1 = await stored();
    await boot(createSecretBox([k2, k1]));
    const after = await stored();
    expect(after.apiKey).not.toBe(sealedWithK1.apiKey);
    // Only the new key is needed from now on.
    const onlyK2 = createSecretBox([k2]);
    configureSecretBox(onlyK2);
    expect(onlyK2.stale(after.apiKey) || onlyK2.stale(after.slack) || onlyK2.stale(JSON.parse(after.jwk).sealed)).toBe(false);
    for (const [k, v] of Object.entries(after.buyer)) {
      expect(onlyK2.stale(v)).toBe(false);
      expect(onlyK2.open(v, buyerContext)).toBe(BUYER[k as keyof typeof BUYER]);
    }
    expect(openSlackWebhook('demo', (await getNotificationSettings(d.db, 'demo'))!.slackWebhookUrl!)).toBe(SLACK);
    expect(onlyK2.open(after.apiKey, secretContext.adapterSetting('adp_demo_mock', 'api_key'))).toBe('sk-live-plain');
  });

  it('refuses to start without the key that sealed them, changing nothing', async () => {
    const sealedWithK2 = await stored();
    for (const box of [createSecretBox([k3]), createSecretBox([])]) {
      await expect(boot(box)).rejects.toThrow(/stored secrets are sealed with key [0-9a-f]{8}, which this process does not have/);
      expect(await stored()).toEqual(sealedWithK2);
    }
    await boot(createSecretBox([k2])); // the right key: starts
  });

  it("drops a buyer's credentials from a task once it ends, and from a buy's reporting webhook once its last report is queued", async () => {
    await sql`update workflow_steps set status = 'in_progress' where id = 'task_secrets'`;
    expect((await stored()).buyer.step).toMatch(/^enc:v1:/); // still live
    await sql`update workflow_steps set status = 'completed' where id = 'task_secrets'`;
    await sql`update media_buys set reporting_next_at = null where id = 'mb_secrets'`;
    const [row] = await sql`select (select push_notification_config from workflow_steps where id = 'task_secrets') as step,
                                   (select reporting_webhook from media_buys where id = 'mb_secrets') as reporting`;
    expect(row).toEqual({ step: { url: 'https://buyer.example/t' }, reporting: { url: 'https://buyer.example/r', reporting_frequency: 'daily' } });
  });

  it('reports a sealed value moved to another row (it does not open there) and leaves it; adapters fail without the detail', async () => {
    configureSecretBox(createSecretBox([k2]));
    const before = await stored();
    // The adapter's sealed key copied into the Slack field: same key, wrong context.
    await sql`update tenant_notifications set slack_webhook_url = ${before.apiKey} where tenant_id = 'demo'`;
    lines.length = 0;
    await boot(createSecretBox([k2]));
    expect((await stored()).slack).toBe(before.apiKey);
    const errors = lines.filter((l) => l.includes('"level":"error"'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/tenant_notifications\/demo\/slack_webhook_url.*does not open/);

    // An adapter whose credential does not open: a generic reason (it may reach the buyer), the detail in the log.
    await sql`update adapter_configs set settings = jsonb_set(settings, '{api_key}', to_jsonb(${before.slack}::text)) where id = 'adp_demo_mock'`;
    const [row] = await sql<{ settings: Record<string, unknown> }[]>`select settings from adapter_configs where id = 'adp_demo_mock'`;
    lines.length = 0;
    let thrown: unknown;
    try {
      createAdapterRegistry(d.db, logger)({ id: 'adp_demo_mock', adapterType: 'mock', settings: row!.settings });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AdapterError);
    expect(thrown).toMatchObject({ permanent: false, message: "the seller's ad server credentials could not be read" });
    expect(lines.join('\n')).toMatch(/adapter credentials could not be opened.*adp_demo_mock/);
  });
});
