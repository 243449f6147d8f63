/**
 * The console's sign-in throttle, in Postgres so that every replica counts the
 * same failures. A key (a hash of an email or of a client address) counts the
 * failures of a fixed window that starts with its first failure; its row is
 * deleted some time after the window has passed.
 */
import { sql } from 'drizzle-orm';
import { textArray, type Db, type Queryable } from '../client.js';

const REFUSED = Symbol('refused');

/**
 * Count an attempt as failed under each key (the window restarts for a key
 * whose window has passed), unless that makes any key exceed its limit: then
 * nothing is counted and the answer is false. One transaction, so parallel
 * sign-ins on any replica each get their own number, and a refused attempt adds
 * nothing (an address past its limit cannot push the emails it names past theirs).
 */
export async function admitLoginAttempt(db: Db, keys: { hash: string; limit: number }[], windowSeconds: number): Promise<boolean> {
  let admitted: boolean;
  try {
    await db.transaction(async (tx) => {
      const rows = await tx.execute<{ key_hash: string; failures: number }>(sql`
        insert into login_failures (key_hash, failures, window_ends_at)
        select k, 1, now() + make_interval(secs => ${windowSeconds}) from unnest(${textArray(keys.map((k) => k.hash))}) as k
        on conflict (key_hash) do update set
          failures = case when login_failures.window_ends_at > now() then login_failures.failures + 1 else 1 end,
          window_ends_at = case when login_failures.window_ends_at > now() then login_failures.window_ends_at else excluded.window_ends_at end
        returning key_hash, failures`);
      const counted = new Map(rows.map((r) => [r.key_hash, Number(r.failures)]));
      if (keys.some((k) => (counted.get(k.hash) ?? 0) > k.limit)) throw REFUSED; // rolls the counts back
    });
    admitted = true;
  } catch (err) {
    if (err !== REFUSED) throw err;
    admitted = false;
  }
  // Some rows whose window has passed go, a batch at a time and skipping any another sign-in holds.
  await db
    .execute(sql`delete from login_failures where ctid = any(array(
      select ctid from login_failures where window_ends_at < now() limit 100 for update skip locked))`)
    .catch(() => {});
  return admitted;
}

/** The sign-in succeeded: take back the failure counted while its password was checked. */
export async function forgiveLoginFailure(db: Queryable, keyHashes: string[]): Promise<void> {
  await db.execute(sql`update login_failures set failures = greatest(failures - 1, 0) where key_hash = any(${textArray(keyHashes)})`);
}
