/** Identifiers and token hashing. Ids are prefixed so a stray id in a log says what it is. */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

const ID_BYTES = 10;
// Random bytes for ids are drawn 4 KiB at a time: one getrandom call per ~400 ids instead of one
// per id (a create_media_buy makes four or more; each system call is dearer in a VM).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

export function newId(prefix: string): string {
  if (poolOffset + ID_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.toString('base64url', poolOffset, (poolOffset += ID_BYTES));
  return `${prefix}_${bytes.replace(/[-_]/g, 'x').toLowerCase()}`;
}

export function newToken(): string {
  return `sat_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Stable hash of a JSON value, independent of key order. */
export function hashJson(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as object).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}
