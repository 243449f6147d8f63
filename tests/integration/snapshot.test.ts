/** Reads that must agree (a buy and its packages, orders and steps) run in one snapshot. */
import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, inSnapshot, type Database } from '../../src/db/client.js';
import { getMediaBuy, listMediaBuys } from '../../src/db/queries/media-buys.js';
import { adapterOrders, mediaBuys, mediaPackages, workflowSteps } from '../../src/db/schema/index.js';
import { seedDemo } from '../../src/seed/demo.js';
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

describe('a media buy with its packages, orders and steps, in one statement (listings: with its packages)', () => {
  let db: TestDb;
  let d: Database;
  const scope = { tenantId: 'demo', principalId: 'prn_demo_buyer' };
  beforeAll(async () => {
    db = await createTestDb();
    d = connect(db.url, { max: 2 });
    await seedDemo(d.db, { token: 'one-statement' });
    // Amounts past what a double holds exactly, a null next to set values, two of each child in a known order.
    await d.sql`insert into media_buys (id, tenant_id, principal_id, status, total_budget, currency, start_time, end_time, raw_request)
                values ('mb_one', 'demo', 'prn_demo_buyer', 'active', '98765432109876.5432', 'USD', '2027-01-01T00:00:00.123Z', '2027-02-01T00:00:00Z', '{"context": {"k": 1}}')`;
    await d.sql`insert into media_packages (id, media_buy_id, tenant_id, product_id, pricing_option_id, pricing_model, budget, bid_price, impressions, targeting, package_config, position, created_at)
                values ('pkg_b', 'mb_one', 'demo', 'ctv_primetime', 'po', 'cpm', '12345678901234.5678', null, '12345678901234567890', '{"geo": ["US"]}', '{}', 1, '2026-01-01T00:00:00.000001Z'),
                       ('pkg_a', 'mb_one', 'demo', 'ctv_primetime', 'po', 'cpm', '0.0001', '9.9999', null, null, '{"x": [1, {"y": null}]}', 0, '2026-01-01T00:00:00Z')`;
    await d.sql`insert into adapter_orders (id, tenant_id, media_buy_id, adapter_config_id, adapter_type, state, external_line_item_ids, idempotency_key, created_at)
                values ('ao_1', 'demo', 'mb_one', 'adp_demo_mock', 'mock', 'booked', '{"pkg_a": "li_1"}', 'k1', '2026-01-01T00:00:01Z')`;
    await d.sql`insert into workflow_steps (id, tenant_id, principal_id, media_buy_id, step_type, status, owner, request, created_at)
                values ('task_2', 'demo', 'prn_demo_buyer', 'mb_one', 'update_media_buy', 'completed', 'system', null, '2026-01-02T00:00:00Z'),
                       ('task_1', 'demo', 'prn_demo_buyer', 'mb_one', 'create_media_buy', 'completed', 'system', '{"a": 1}', '2026-01-01T00:00:00Z')`;
  });
  afterAll(async () => {
    await d?.close();
    await db?.drop();
  });

  it('reads exactly what separate selects read: same types, exact amounts, the same order', async () => {
    const [buy] = await d.db.select().from(mediaBuys).where(eq(mediaBuys.id, 'mb_one'));
    const expected = {
      buy,
      // A buy made before buys had accounts has none.
      account: null,
      packages: await d.db.select().from(mediaPackages).where(eq(mediaPackages.mediaBuyId, 'mb_one')).orderBy(asc(mediaPackages.position)),
      adapterOrders: await d.db.select().from(adapterOrders).where(eq(adapterOrders.mediaBuyId, 'mb_one')),
      steps: await d.db.select().from(workflowSteps).where(eq(workflowSteps.mediaBuyId, 'mb_one')).orderBy(asc(workflowSteps.createdAt)),
      // No creative assigned (tests/integration/creatives.test.ts reads some).
      creativeApprovals: [],
    };
    expect(expected.packages.map((p) => p.budget)).toEqual(['0.0001', '12345678901234.5678']);
    const one = await getMediaBuy(d.db, { ...scope, id: 'mb_one' });
    expect(one).toEqual(expected);
    expect(one!.packages[1]!.createdAt).toBeInstanceOf(Date);
    // Listings read the buy and its packages; of the stored request only its context, and no webhook configs.
    const listed = { buy: { ...buy, rawRequest: { context: { k: 1 } }, pushNotificationConfig: null, reportingWebhook: null }, account: null, packages: expected.packages, creativeApprovals: [] };
    expect(await listMediaBuys(d.db, { ...scope, limit: 10 })).toEqual([listed]);
    // Another buyer's buy is not read.
    expect(await getMediaBuy(d.db, { tenantId: 'demo', principalId: 'prn_other', id: 'mb_one' })).toBeUndefined();
  });
});
