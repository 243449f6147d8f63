import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { secretKeys } from '../../src/app.js';
import {
  createSecretBox,
  embeddedSecretKey,
  isSealed,
  KEY_FILE,
  openAdapterSettings,
  parseSecretKeys,
  openBuyerCredentials,
  sealAdapterSettings,
  sealBuyerCredentials,
  secretContext,
  SecretKeyError,
  type HasAuthentication,
} from '../../src/services/secret-box.js';
import { CREDENTIALS_NOT_KEPT, withoutCredentials } from '../../src/domain/webhooks.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);

describe('secret box', () => {
  it('seals with AES-GCM bound to its context, and opens only there', () => {
    const box = createSecretBox([k1]);
    const sealed = box.seal('sk-live-123', 'adapter_configs/a/settings.api_key');
    expect(sealed).toMatch(/^enc:v1:[0-9a-f]{8}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('sk-live');
    expect(box.seal('sk-live-123', 'adapter_configs/a/settings.api_key')).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed, 'adapter_configs/a/settings.api_key')).toBe('sk-live-123');
    expect(() => box.open(sealed, 'adapter_configs/b/settings.api_key')).toThrow(SecretKeyError);
    // One bit flipped in the ciphertext (in the decoded bytes, so the change is real): the tag no longer matches.
    const at = sealed.lastIndexOf(':') + 1;
    const body = Buffer.from(sealed.slice(at), 'base64url');
    body[14]! ^= 0x01;
    expect(() => box.open(sealed.slice(0, at) + body.toString('base64url'), 'adapter_configs/a/settings.api_key')).toThrow(/altered/);
  });

  it('reads values stored plain before a key was set, and says which are stale', () => {
    const box = createSecretBox([k1]);
    expect(box.open('plain-value', 'x')).toBe('plain-value');
    expect(box.stale('plain-value')).toBe(true);
    expect(box.stale(box.seal('v', 'x'))).toBe(false);
    expect(box.stale(createSecretBox([k2]).seal('v', 'x'))).toBe(true);
  });

  it('rotates: the first key seals, every listed key opens', () => {
    const old = createSecretBox([k1]).seal('v', 'ctx');
    const rotated = createSecretBox(parseSecretKeys(`${k2.toString('base64')}, ${k1.toString('hex')}`));
    expect(rotated.open(old, 'ctx')).toBe('v');
    expect(rotated.stale(old)).toBe(true);
    expect(createSecretBox([k2]).open(rotated.seal('w', 'ctx'), 'ctx')).toBe('w'); // sealed with the first key
    expect(() => createSecretBox([k2]).open(old, 'ctx')).toThrow(/not in SALES_AGENT_SECRET_KEY/);
    expect(() => createSecretBox([]).open(old, 'ctx')).toThrow(/no SALES_AGENT_SECRET_KEY is set/);
  });

  it('without a key stores values as given', () => {
    const box = createSecretBox([]);
    expect(box.encrypting).toBe(false);
    expect(box.seal('v', 'ctx')).toBe('v');
    expect(box.stale('v')).toBe(false);
  });

  it('refuses keys that are not 32 bytes, naming which', () => {
    expect(() => parseSecretKeys('too-short')).toThrow(/key 1 is not 32 bytes/);
    expect(() => parseSecretKeys(`${k1.toString('base64url')},${randomBytes(16).toString('base64')}`)).toThrow(/key 2/);
    expect(() => parseSecretKeys(' , ')).toThrow(/empty/);
    expect(parseSecretKeys(k1.toString('base64url'))[0]!.equals(k1)).toBe(true);
    expect(() => parseSecretKeys(Buffer.alloc(32, 7).toString('base64'))).toThrow(/one byte repeated/);
  });

  it('seals only the credential-like adapter settings, and opens them back', () => {
    const box = createSecretBox([k1]);
    const stored = sealAdapterSettings(box, 'adp_1', { latency_ms: 5, api_key: 'k', network_code: '123', refresh_token: 'r' });
    expect(stored).toMatchObject({ latency_ms: 5, network_code: '123' });
    expect(isSealed(stored.api_key as string) && isSealed(stored.refresh_token as string)).toBe(true);
    expect(openAdapterSettings(box, 'adp_1', stored)).toEqual({ latency_ms: 5, api_key: 'k', network_code: '123', refresh_token: 'r' });
    expect(() => openAdapterSettings(box, 'adp_2', stored)).toThrow(SecretKeyError);
  });

  it("seals a buyer's webhook credentials for that buyer, and leaves a config without them as it is", () => {
    const box = createSecretBox([k1]);
    const ctx = secretContext.buyerCredentials('t1', 'prn_a');
    const config = { url: 'https://buyer.example/h', token: 'echo-me', authentication: { schemes: ['HMAC-SHA256'], credentials: 'shared-secret-0123456789abcdef0123' } };
    const stored = sealBuyerCredentials(box, ctx, config);
    // The validation token moves into the authentication block, sealed beside the credentials.
    expect(stored).toMatchObject({ url: config.url, authentication: { schemes: ['HMAC-SHA256'] } });
    expect(stored).not.toHaveProperty('token');
    expect(isSealed(stored.authentication.credentials)).toBe(true);
    expect(isSealed((stored.authentication as { token?: string }).token!)).toBe(true);
    expect(config.authentication.credentials).toBe('shared-secret-0123456789abcdef0123'); // the request itself is not changed
    expect(config.token).toBe('echo-me');
    expect(openBuyerCredentials(box, ctx, stored.authentication)).toEqual({ ...config.authentication, token: 'echo-me' });
    // A token alone makes an authentication block of its own.
    const tokenOnly: HasAuthentication = sealBuyerCredentials(box, ctx, { url: 'https://buyer.example/h', token: 'echo-me' } as HasAuthentication);
    expect(Object.keys(tokenOnly)).toEqual(['url', 'authentication']);
    expect(openBuyerCredentials(box, ctx, tokenOnly.authentication as { token?: string })).toEqual({ token: 'echo-me' });
    expect(() => openBuyerCredentials(box, secretContext.buyerCredentials('t1', 'prn_b'), stored.authentication)).toThrow(SecretKeyError);
    const plain = { url: 'https://buyer.example/h' };
    expect(sealBuyerCredentials(box, ctx, plain)).toBe(plain);
    expect(sealBuyerCredentials(box, ctx, null)).toBeNull();
    expect(openBuyerCredentials(box, ctx, null)).toBeNull();
  });

  it('keeps requests for the record without any credentials, and without copying one that has none', () => {
    const request = {
      packages: [{ product_id: 'p' }],
      push_notification_config: { url: 'https://b.example', token: 'token-0123456789', authentication: { schemes: ['Bearer'], credentials: 'bearer-0123456789' } },
      reporting_webhook: { url: 'https://b.example/r', authentication: { schemes: ['HMAC-SHA256'], credentials: 'hmac-0123456789' } },
      accounts: [{ governance_agents: [{ url: 'https://g.example', authentication: { schemes: ['Bearer'], credentials: 'gov-0123456789' } }] }],
    };
    const kept = withoutCredentials(request);
    expect(JSON.stringify(kept)).not.toMatch(/bearer-|hmac-|gov-|token-/);
    expect(kept.push_notification_config.token).toBe(CREDENTIALS_NOT_KEPT);
    expect(kept.push_notification_config.authentication).toEqual({ schemes: ['Bearer'], credentials: CREDENTIALS_NOT_KEPT });
    expect(kept.accounts[0]!.governance_agents[0]!.authentication.credentials).toBe(CREDENTIALS_NOT_KEPT);
    expect(kept.packages).toBe(request.packages);
    expect(request.push_notification_config.authentication.credentials).toBe('bearer-0123456789');
    const none = { packages: [{ product_id: 'p' }], push_notification_config: { url: 'https://b.example' } };
    expect(withoutCredentials(none)).toBe(none);
  });

  it('makes the embedded key once, readable by its owner only, and reuses it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'secret-key-'));
    try {
      const [a, b] = await Promise.all([embeddedSecretKey(dir), embeddedSecretKey(dir)]);
      expect(a.equals(b)).toBe(true);
      expect((await embeddedSecretKey(dir)).equals(a)).toBe(true);
      expect((await stat(path.join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
      expect(Buffer.from((await readFile(path.join(dir, KEY_FILE), 'utf8')).trim(), 'base64').equals(a)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SALES_AGENT_SECRET_KEY in the environment', () => {
  it('is checked when the config loads, without echoing the key', () => {
    const bad = 'not-a-key-but-a-secret-all-the-same';
    expect(() => loadConfig({ SALES_AGENT_SECRET_KEY: bad })).toThrow(/SALES_AGENT_SECRET_KEY: key 1 is not 32 bytes/);
    expect(() => loadConfig({ SALES_AGENT_SECRET_KEY: bad })).not.toThrow(new RegExp(bad));
    expect(loadConfig({ SALES_AGENT_SECRET_KEY: `${k1.toString('base64')},${k2.toString('hex')}` }).secretKey).toContain(',');
  });
});

describe('which keys a process uses', () => {
  it('on the embedded database: the folder key, made once; with SALES_AGENT_SECRET_KEY the folder key still opens', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'secret-keys-'));
    try {
      const embedded = loadConfig({ SALES_AGENT_DATA_DIR: dir });
      const [folder] = await secretKeys(embedded);
      expect((await secretKeys(embedded))[0]!.equals(folder!)).toBe(true);
      const withKey = await secretKeys({ ...embedded, secretKey: k1.toString('base64') });
      expect(withKey.map((k) => k.toString('hex'))).toEqual([k1.toString('hex'), folder!.toString('hex')]); // k1 seals, the folder's opens
      // With DATABASE_URL only what is configured counts (there is no folder of ours).
      expect(await secretKeys({ ...embedded, databaseUrl: 'postgres://x/y' })).toEqual([]);
      expect((await secretKeys({ ...embedded, databaseUrl: 'postgres://x/y', secretKey: k2.toString('hex') })).map((k) => k.toString('hex'))).toEqual([k2.toString('hex')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says which file holds no key instead of starting with a new one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'secret-keys-'));
    try {
      await writeFile(path.join(dir, KEY_FILE), '');
      await expect(embeddedSecretKey(dir)).rejects.toThrow(/secret\.key does not hold a 32-byte key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
