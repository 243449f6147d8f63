/**
 * The console's sign-in throttle, in Postgres so that every replica counts the
 * same failures. A key (a hash of an email or of a client address) counts the
 * failures of a fixed window that starts with its first failure.
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';

/** A text[] of these values (drizzle would send a JS array as a row of parameters). */
const textArray = (values: string[]) => sql`array[${sql.join(values.map((v) => sql`${v}`), sql`, `)}]::text[]`;

/**
 * Count one more failure for each key (the window restarts for a key whose
 * window has passed) and return each key's count, in order. One statement, so
 * parallel sign-ins on any replica each get their own number. Rows whose
 * window has passed are deleted on the way.
 */
export async function countLoginFailure(db: Queryable, keyHashes: string[], windowSeconds: number): Promise<number[]> {
  const keys = textArray(keyHashes);
  const rows = await db.execute<{ key_hash: string; failures: number }>(sql`
    with expired as (
      delete from login_failures where window_ends_at < now() and key_hash <> all(${keys})
    )
    insert into login_failures (key_hash, failures, window_ends_at)
    select k, 1, now() + make_interval(secs => ${windowSeconds}) from unnest(${keys}) as k
    on conflict (key_hash) do update set
      failures = case when login_failures.window_ends_at > now() then login_failures.failures + 1 else 1 end,
      window_ends_at = case when login_failures.window_ends_at > now() then login_failures.window_ends_at else excluded.window_ends_at end
    returning key_hash, failures`);
  const byKey = new Map(rows.map((r) => [r.key_hash, Number(r.failures)]));
  return keyHashes.map((k) => byKey.get(k) ?? 0);
}

/** The sign-in succeeded: take back the failure counted while its password was checked. */
export async function forgiveLoginFailure(db: Queryable, keyHashes: string[]): Promise<void> {
  await db.execute(sql`update login_failures set failures = greatest(failures - 1, 0) where key_hash = any(${textArray(keyHashes)})`);
}
