/** Reads that must agree (a buy and its packages, orders and steps) run in one snapshot. */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, inSnapshot, type Database } from '../../src/db/client.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

describe('inSnapshot', () => {
  let db: TestDb;
  let d: Database;
  beforeAll(async () => {
    db = await createTestDb();
    d = connect(db.url, { max: 3 });
  });
  afterAll(async () => {
    await d?.close();
    await db?.drop();
  });

  const isolation = async (q: Parameters<Parameters<typeof inSnapshot>[1]>[0]) =>
    (await q.execute<{ i: string; ro: string }>(sql`select current_setting('transaction_isolation') as i, current_setting('transaction_read_only') as ro`))[0];

  it('reads from the pool in one read-only repeatable-read transaction: a commit in between is not seen', async () => {
    expect(await inSnapshot(d.db, isolation)).toEqual({ i: 'repeatable read', ro: 'on' });
    await d.db.execute(sql`create table snap_probe (n int)`);
    const seen = await inSnapshot(d.db, async (q) => {
      const before = await q.execute<{ n: number }>(sql`select count(*)::int as n from snap_probe`);
      await d.sql`insert into snap_probe values (1)`; // another connection commits meanwhile
      const after = await q.execute<{ n: number }>(sql`select count(*)::int as n from snap_probe`);
      return [before[0]!.n, after[0]!.n];
    });
    expect(seen).toEqual([0, 0]);
    expect((await d.db.execute<{ n: number }>(sql`select count(*)::int as n from snap_probe`))[0]!.n).toBe(1);
  });

  it('inside a transaction, reads in that transaction (its own writes included)', async () => {
    const r = await d.db.transaction(async (tx) => {
      await tx.execute(sql`insert into snap_probe values (2)`);
      return inSnapshot(tx, async (q) => ({ ...(await isolation(q)), n: (await q.execute<{ n: number }>(sql`select count(*)::int as n from snap_probe`))[0]!.n }));
    });
    expect(r).toEqual({ i: 'read committed', ro: 'off', n: 2 });
  });

  it('pages through a buyer’s buys by index, newest first, without sorting them all', async () => {
    // The shape listMediaBuys sends (cursor row comparison, millisecond order): the planner must walk
    // media_buys_principal_recent_idx rather than sort every buy the buyer has.
    const plan = await d.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      const [row] = await tx.execute<{ 'QUERY PLAN': unknown }>(sql.raw(`explain (format json)
        select * from media_buys
        where tenant_id = 'demo' and principal_id = 'p1'
          and (date_trunc('milliseconds', created_at at time zone 'UTC'), id) < ('2026-01-01T00:00:00.000Z'::timestamp, 'mb_x')
        order by date_trunc('milliseconds', created_at at time zone 'UTC') desc, id desc limit 11`));
      return JSON.stringify(row!['QUERY PLAN']);
    });
    expect(plan).toContain('media_buys_principal_recent_idx');
    expect(plan).not.toContain('"Node Type":"Sort"');
  });
});
