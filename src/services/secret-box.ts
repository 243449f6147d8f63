/**
 * Secrets at rest: the seller's webhook-signing private keys, adapter
 * credentials (the credential-like keys of adapter_configs.settings), the
 * Slack webhook URL and buyers' own credentials (legacy webhook auth, governance
 * agents) are stored sealed with AES-256-GCM, so a database dump or backup
 * alone does not give them away.
 *
 * A sealed value is `enc:v1:<kid>:<base64url(iv | ciphertext | tag)>`, where kid
 * names the key (a hash prefix, not the key). The row it belongs to (for a
 * buyer's credentials, the buyer) is bound in as associated data (`context`), so
 * a sealed value copied into another row or field does not open. Values stored
 * before a key was configured are plain and still read; start-up
 * (db/queries/secrets.ts) seals them, re-seals what an older key sealed, and
 * refuses to run without the key that sealed them.
 *
 * Keys: SALES_AGENT_SECRET_KEY, 32 bytes in base64 or hex. A comma-separated
 * list rotates: the first key seals, every key opens. On the embedded database
 * with no key set, a key is made once in the data folder (secret.key, mode 0600);
 * with a key set, the folder's key still opens. With an external DATABASE_URL and
 * no key, secrets are stored plain and the server says so at start-up.
 *
 * The box is configured once per process (configureSecretBox) and read by the
 * few queries that store or read a secret.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_FILE = 'secret.key';

/** unknown_key: sealed with a key not configured; damaged: the key is there but the value does not open (altered, or moved); bad_key: a configured key is malformed. */
export class SecretKeyError extends Error {
  constructor(
    message: string,
    readonly reason: 'unknown_key' | 'damaged' | 'bad_key',
    readonly kid?: string,
  ) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

export interface SecretBox {
  /** Whether seal() encrypts (a key is configured). */
  readonly encrypting: boolean;
  /** The id of the key seal() uses (a hash prefix, safe to show). */
  readonly kid: string | undefined;
  /** Seal a value for the given context; plain when no key is configured. */
  seal(value: string, context: string): string;
  /** The plain value of a stored one (sealed or plain). Throws SecretKeyError if no configured key opens it. */
  open(stored: string, context: string): string;
  /** A stored value that seal() would store differently: plain while a key is set, or sealed by a key other than the current one. */
  stale(stored: string): boolean;
}

export const isSealed = (stored: string): boolean => stored.startsWith(PREFIX);

/** The key id a sealed value names (undefined for a plain value). */
export const sealedKid = (stored: string): string | undefined => (isSealed(stored) ? stored.slice(PREFIX.length, stored.indexOf(':', PREFIX.length)) : undefined);

/** Settings keys that hold credentials: sealed at rest, write-only in the console, redacted in logs and views. */
const SECRET_KEY = /secret|token|password|passwd|credential|authorization|api[_-]?key|private[_-]?key|service[_-]?account|refresh/i;
export const isSecretKey = (key: string): boolean => SECRET_KEY.test(key);

/** What each sealed value is bound to (its row and field). */
export const secretContext = {
  adapterSetting: (adapterConfigId: string, key: string) => `adapter_configs/${adapterConfigId}/settings.${key}`,
  signingKey: (kid: string) => `signing_keys/${kid}/private_jwk`,
  slackWebhook: (tenantId: string) => `tenant_notifications/${tenantId}/slack_webhook_url`,
  /**
   * A buyer's own credentials (the legacy Bearer token or HMAC secret of its webhooks, its governance agents'):
   * bound to the buyer, not to one row, because a media buy's push config is copied to its workflow steps and
   * webhook deliveries as it is; a value moved to another buyer's row does not open.
   */
  buyerCredentials: (tenantId: string, principalId: string) => `principals/${tenantId}/${principalId}/credentials`,
};

const kidOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

/** Keys from SALES_AGENT_SECRET_KEY: comma-separated, each 32 bytes as base64 (standard or url) or 64 hex digits. */
export function parseSecretKeys(raw: string): Buffer[] {
  const parts = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new SecretKeyError('SALES_AGENT_SECRET_KEY is empty', 'bad_key');
  return parts.map((p, i) => {
    const key = /^[0-9a-f]{64}$/i.test(p)
      ? Buffer.from(p, 'hex')
      : /^[A-Za-z0-9+/]+={0,2}$/.test(p) || /^[A-Za-z0-9_-]+$/.test(p)
        ? Buffer.from(p, 'base64')
        : Buffer.alloc(0);
    if (key.length !== 32) {
      throw new SecretKeyError(`SALES_AGENT_SECRET_KEY: key ${i + 1} is not 32 bytes in base64 or hex (make one with: openssl rand -base64 32)`, 'bad_key');
    }
    if (key.every((b) => b === key[0])) throw new SecretKeyError(`SALES_AGENT_SECRET_KEY: key ${i + 1} is one byte repeated; use a random key (openssl rand -base64 32)`, 'bad_key');
    return key;
  });
}

export function createSecretBox(keys: Buffer[]): SecretBox {
  const byKid = new Map(keys.map((k) => [kidOf(k), k]));
  const current = keys[0];
  const currentKid = current && kidOf(current);
  return {
    encrypting: current !== undefined,
    kid: currentKid,
    seal(value, context) {
      if (!current) return value;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([iv, cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${PREFIX}${currentKid}:${body.toString('base64url')}`;
    },
    open(stored, context) {
      if (!isSealed(stored)) return stored;
      const rest = stored.slice(PREFIX.length);
      const colon = rest.indexOf(':');
      const kid = rest.slice(0, colon);
      const key = byKid.get(kid);
      if (!key) {
        throw new SecretKeyError(
          current
            ? `a stored secret (${context}) is sealed with key ${kid}, which is not in SALES_AGENT_SECRET_KEY`
            : `a stored secret (${context}) is sealed with key ${kid}, but no SALES_AGENT_SECRET_KEY is set`,
          'unknown_key',
          kid,
        );
      }
      const body = Buffer.from(rest.slice(colon + 1), 'base64url');
      if (body.length < IV_BYTES + TAG_BYTES) throw new SecretKeyError(`a stored secret (${context}) is damaged`, 'damaged', kid);
      const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretKeyError(`a stored secret (${context}) does not open with key ${kid}: altered, or moved from another row`, 'damaged', kid);
      }
    },
    stale(stored) {
      if (!current) return false;
      return !stored.startsWith(`${PREFIX}${currentKid}:`);
    },
  };
}

/** The key kept beside an embedded database, if one was made. */
export async function existingEmbeddedKey(dataDir: string): Promise<Buffer | undefined> {
  const file = path.join(dataDir, KEY_FILE);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  try {
    return parseSecretKeys(text.trim())[0];
  } catch {
    throw new SecretKeyError(`${file} does not hold a 32-byte key (base64); restore it from a backup, or set SALES_AGENT_SECRET_KEY to the key it held`, 'bad_key');
  }
}

/** The key kept beside an embedded database: read it, or make it on first start. */
export async function embeddedSecretKey(dataDir: string): Promise<Buffer> {
  const existing = await existingEmbeddedKey(dataDir);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, KEY_FILE);
  const key = randomBytes(32);
  // Written whole under a temporary name, then linked into place: a crash never leaves a partial key, and of
  // two processes starting at once one links first and the other reads its key.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, key.toString('base64') + '\n', { mode: 0o600, flush: true });
  try {
    await chmod(tmp, 0o600);
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return (await existingEmbeddedKey(dataDir))!;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return key;
}

/** Adapter settings as stored: each credential-like string value (given plain) sealed. */
export function sealAdapterSettings(b: SecretBox, adapterConfigId: string, settings: Record<string, unknown>): Record<string, unknown> {
  return mapSecrets(settings, (v, k) => b.seal(v, secretContext.adapterSetting(adapterConfigId, k)));
}

/** Adapter settings as an adapter uses them: each sealed value opened. */
export function openAdapterSettings(b: SecretBox, adapterConfigId: string, settings: Record<string, unknown>): Record<string, unknown> {
  return mapSecrets(settings, (v, k) => b.open(v, secretContext.adapterSetting(adapterConfigId, k)));
}

/** The object with fn applied to each string value under a secret key (`isSecret`): the same object when none changes. */
function mapSecrets<O extends Record<string, unknown>>(settings: O, fn: (v: string, k: string) => string, isSecret: (key: string) => boolean = isSecretKey): O {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(settings)) {
    if (typeof v !== 'string' || !isSecret(k)) continue;
    const next = fn(v, k);
    if (next !== v) (out ??= { ...settings })[k] = next;
  }
  return (out as O | undefined) ?? settings;
}

/**
 * Where buyers put secrets: an `authentication` block's `credentials` (push_notification_config,
 * reporting_webhook, governance agents), and a webhook config's validation `token`, which AdCP echoes
 * in each webhook payload. Stored, the token lives in the authentication block beside the credentials
 * (so it goes wherever they go: sealed at rest, re-sealed after a key rotation, dropped once nothing
 * signs with them) and is put back in the payload only when a delivery is sent.
 */
export interface HasAuthentication {
  authentication?: { credentials?: unknown; token?: unknown; [k: string]: unknown } | null;
  [k: string]: unknown;
}

/** The secrets in a buyer's authentication block. */
export const isBuyerSecret = (key: string): boolean => key === 'credentials' || key === 'token';

/** A buyer's authentication block with its secrets sealed (the same object when none changes). */
export function sealBuyerAuthentication<A extends Record<string, unknown>>(b: SecretBox, context: string, auth: A): A {
  return mapSecrets(auth, (v) => b.seal(v, context), isBuyerSecret);
}

/** A buyer's webhook config as stored: its token moved into its authentication block, and the block's secrets sealed (the same object when it has none). */
export function sealBuyerCredentials<T extends HasAuthentication | null | undefined>(b: SecretBox, context: string, config: T): T {
  if (!config) return config;
  const { token, ...rest } = config as HasAuthentication & { token?: unknown };
  const auth = { ...config.authentication, ...(typeof token === 'string' && { token }) };
  const sealed = sealBuyerAuthentication(b, context, auth);
  return typeof token === 'string' || sealed !== auth ? ({ ...rest, authentication: sealed } as T) : config;
}

/** A stored authentication block as a signer uses it: its credentials and token opened. Throws SecretKeyError if they do not open. */
export function openBuyerCredentials<T extends Record<string, unknown> | null | undefined>(b: SecretBox, context: string, auth: T): T {
  return auth ? mapSecrets(auth, (v) => b.open(v, context), isBuyerSecret) : auth;
}

let box: SecretBox = createSecretBox([]);

/** Set the process's box (at boot, before anything stores or reads a secret). */
export function configureSecretBox(b: SecretBox): void {
  box = b;
}

export function secretBox(): SecretBox {
  return box;
}
