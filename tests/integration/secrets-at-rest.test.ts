/**
 * Secrets at rest across the life of a deployment: stored plain before a key
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
import { createTestDb, type TestDb } from '../helpers/db.js';

const [k1, k2, k3] = [randomBytes(32), randomBytes(32), randomBytes(32)];
const SLACK = 'https://hooks.slack.com/services/T0/B0/slack-secret-path';

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
    return { apiKey: a!.api_key, region: a!.region, jwk: k!.j, slack: n!.u };
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
    expect(before).toMatchObject({ apiKey: 'sk-live-plain', slack: SLACK });
    expect(JSON.parse(before.jwk).d).toBe(jwkBefore.d);

    await boot(createSecretBox([k1]));
    const after = await stored();
    expect(after.apiKey).toMatch(/^enc:v1:/);
    expect(after.region).toBe('eu'); // not a credential: stays readable
    expect(after.slack).toMatch(/^enc:v1:/);
    expect(JSON.parse(after.jwk)).toEqual({ sealed: expect.stringMatching(/^enc:v1:/) });
    for (const v of Object.values(after)) expect(v).not.toMatch(/sk-live-plain|slack-secret-path/);
    expect(after.jwk).not.toContain(jwkBefore.d);

    // Readers get the plain values back.
    expect((await ensureWebhookSigningKey(d.db, 'demo')).privateJwk).toEqual(jwkBefore);
    expect(openSlackWebhook('demo', (await getNotificationSettings(d.db, 'demo'))!.slackWebhookUrl!)).toBe(SLACK);
    expect(createSecretBox([k1]).open(after.apiKey, secretContext.adapterSetting('adp_demo_mock', 'api_key'))).toBe('sk-live-plain');
    expect(lines.some((l) => l.includes('sealed stored secrets under the current key') && l.includes('"count":3'))).toBe(true);

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
