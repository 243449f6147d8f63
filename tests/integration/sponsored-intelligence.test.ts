/** Sponsored Intelligence through a real MCP client: offerings, a session's life, timeouts, scoping and the test controller. */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseProblems } from '../helpers/adcp-schema.js';
import { addBuyer, buyRequest, call, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let other: Client;
let anon: Client;
let sql: postgres.Sql;
let n = 0;

const key = () => `si-test-key-${++n}-${Date.now()}`;
const identity = { consent_granted: true, consent_scope: ['locale'], user: { locale: 'en-US' } };

/** Call an SI tool; the reply must match its AdCP schema (success) or carry valid AdCP errors. */
async function si(tool: string, args: Record<string, unknown>, client = buyer) {
  const res = await call(client, tool, args);
  expect(responseProblems(tool, res.data, res.isError)).toEqual([]);
  return res;
}

async function open(args: Record<string, unknown> = {}, client = buyer) {
  const res = await si('si_initiate_session', { intent: 'The user wants to advertise a sports drink on CTV', identity, idempotency_key: key(), ...args }, client);
  expect(res.isError, JSON.stringify(res.data)).toBe(false);
  return res.data as { session_id: string; session_status: string; response: { message: string; ui_elements: { type: string; data: Record<string, unknown> }[] } };
}

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
  anon = await memoryClient(t, null);
  sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  await addBuyer(t, { id: 'prn_si_b', token: 'tok_si_other_host', name: 'Host B' });
  other = await memoryClient(t, 'tok_si_other_host');
});
afterAll(async () => {
  await Promise.all([buyer?.close(), other?.close(), anon?.close()]);
  await sql?.end();
  await t?.close();
});

describe('capabilities', () => {
  it('declares sponsored_intelligence with the SI endpoint, and force_session_status for sandbox callers', async () => {
    const res = await si('get_adcp_capabilities', { account: { brand: { domain: 'x.example' }, operator: 'x.example', sandbox: true } });
    expect(res.data.supported_protocols).toEqual(expect.arrayContaining(['media_buy', 'sponsored_intelligence']));
    expect(res.data.sponsored_intelligence).toMatchObject({ endpoint: { transports: [{ type: 'mcp', url: expect.stringMatching(/\/mcp$/) }] }, capabilities: { modalities: { conversational: true } } });
    expect((res.data.compliance_testing as { scenarios: string[] }).scenarios).toContain('force_session_status');
  });
});

describe('si_get_offering', () => {
  it('describes a product as an offering, with related products for the intent and an offering_token', async () => {
    const res = await si('si_get_offering', { offering_id: 'ctv_primetime', intent: 'streaming tv', include_products: true, product_limit: 2, context: { c: 1 } });
    expect(res.data).toMatchObject({ available: true, offering_id: 'ctv_primetime', offering: { offering_id: 'ctv_primetime', title: 'CTV Primetime on Demo Stream', price_hint: '42.00 USD CPM' }, context: { c: 1 } });
    const matching = res.data.matching_products as { product_id: string; price?: string }[];
    expect(matching).toHaveLength(2);
    expect(matching.every((p) => p.product_id.startsWith('ctv_') && p.price)).toBe(true);
    expect(res.data.total_matching).toBeGreaterThan(2); // "streaming" also matches streaming audio: product_limit cut the list
    expect(res.data.offering_token).toMatch(/^ofr\./);
  });

  it('answers available: false with alternatives for an unknown offering, and the same for one the caller may not see', async () => {
    const unknown = await si('si_get_offering', { offering_id: 'nope', intent: 'podcast audio' });
    expect(unknown.isError).toBe(false);
    expect(unknown.data).toMatchObject({ available: false, unavailable_reason: 'not_found' });
    expect(unknown.data.alternative_offering_ids).toEqual(expect.arrayContaining(['audio_podcast_host_read']));

    await sql`update products set allowed_principal_ids = array['prn_si_b'] where id = 'audio_podcast_host_read'`;
    t.app.services.catalog.invalidate();
    try {
      const hidden = await si('si_get_offering', { offering_id: 'audio_podcast_host_read' });
      const { checked_at: _a, ...h } = hidden.data;
      const { checked_at: _b, ...u } = (await si('si_get_offering', { offering_id: 'never_existed' })).data;
      expect(h).toMatchObject({ available: false, unavailable_reason: 'not_found' });
      expect(Object.keys(h).sort()).toEqual(Object.keys(u).sort());
      expect((await si('si_get_offering', { offering_id: 'audio_podcast_host_read' }, other)).data.available).toBe(true);
    } finally {
      await sql`update products set allowed_principal_ids = null where id = 'audio_podcast_host_read'`;
      t.app.services.catalog.invalidate();
    }
  });

  it('hides prices from anonymous callers', async () => {
    const res = await si('si_get_offering', { offering_id: 'ctv_primetime', include_products: true }, anon);
    expect(res.data.available).toBe(true);
    expect((res.data.offering as Record<string, unknown>).price_hint).toBeUndefined();
    expect((res.data.matching_products as Record<string, unknown>[])[0]!.price).toBeUndefined();
  });
});

describe('a session', () => {
  it('opens with an answer from the catalogue, stores the transcript and runs to its end', async () => {
    const s = await open({ context: { correlation_id: 'open' }, supported_capabilities: { components: { standard: ['text', 'product_card'] } } });
    expect(s).toMatchObject({ session_status: 'active', session_ttl_seconds: 1800, context: { correlation_id: 'open' } });
    expect(s.session_id).toMatch(/^si_/);
    expect(s.response.ui_elements.map((e) => e.data.product_id)).toEqual(expect.arrayContaining(['ctv_primetime', 'ctv_run_of_network']));
    expect((s as unknown as { negotiated_capabilities: { components: { standard: string[] } } }).negotiated_capabilities.components.standard).toEqual(['text', 'product_card']);

    const reply = await si('si_send_message', { session_id: s.session_id, message: 'Do you have podcast sponsorships?', idempotency_key: key() });
    expect(reply.data).toMatchObject({ session_id: s.session_id, session_status: 'active' });
    const cards = (reply.data.response as { ui_elements: { data: { product_id: string; price: string } }[] }).ui_elements;
    expect(cards[0]!.data).toMatchObject({ product_id: 'audio_podcast_host_read', price: '5000.00 USD FLAT_RATE' });

    const picked = await si('si_send_message', { session_id: s.session_id, action_response: { action: 'select', payload: { product_id: 'display_sports_section' } }, idempotency_key: key() });
    expect((picked.data.response as { ui_elements: { data: { product_id: string } }[] }).ui_elements[0]!.data.product_id).toBe('display_sports_section');

    const turns = await sql`select seq, role, message from si_messages where session_id = ${s.session_id} order by seq`;
    expect(turns.map((r) => r.role)).toEqual(['user', 'agent', 'user', 'agent', 'user', 'agent']);
    expect(turns[2]!.message).toBe('Do you have podcast sponsorships?');

    const ended = await si('si_terminate_session', { session_id: s.session_id, reason: 'handoff_complete' });
    expect(ended.data).toMatchObject({ session_id: s.session_id, terminated: true, session_status: 'complete' });
    const again = await si('si_terminate_session', { session_id: s.session_id, reason: 'user_exit' });
    expect(again.data).toMatchObject({ terminated: true, session_status: 'complete' });

    const late = await si('si_send_message', { session_id: s.session_id, message: 'hello?', idempotency_key: key(), context: { c: 2 } });
    expect(late.isError).toBe(true);
    expect(late.data).toMatchObject({ session_id: s.session_id, session_status: 'complete', errors: [{ code: 'SESSION_TERMINATED', field: 'session_id', recovery: 'correctable' }], context: { c: 2 } });
  });

  it('replays a retried call instead of doing it twice, and refuses a key reused for another request', async () => {
    const k = key();
    const args = { intent: 'display banners', identity, idempotency_key: k };
    const first = await si('si_initiate_session', args);
    const retry = await si('si_initiate_session', args);
    expect(retry.data.session_id).toBe(first.data.session_id);
    expect(retry.data.replayed).toBe(true);
    const clash = await si('si_initiate_session', { ...args, intent: 'something else' });
    expect(clash.data.errors).toMatchObject([{ code: 'IDEMPOTENCY_CONFLICT' }]);

    const turn = { session_id: first.data.session_id, message: 'video please', idempotency_key: key() };
    await si('si_send_message', turn);
    await si('si_send_message', turn);
    const [row] = await sql`select turns from si_sessions where id = ${first.data.session_id as string}`;
    expect(row!.turns).toBe(4);
  });

  it('featured offering first, and an unknown offering does not stop the conversation', async () => {
    const token = (await si('si_get_offering', { offering_id: 'video_preroll_news', include_products: true })).data.offering_token as string;
    const s = await open({ intent: 'anything at all', offering_token: token });
    expect(s.response.ui_elements[0]!.data.product_id).toBe('video_preroll_news');
    const gone = await open({ offering_id: 'summer_promo_2019' });
    expect(gone.response.message).toMatch(/^The offering "summer_promo_2019" is not available\./);
    const [row] = await sql`select offering_id from si_sessions where id = ${gone.session_id}`;
    expect(row!.offering_id).toBeNull();
  });

  it('rejects user data without consent and a media buy that is not the caller\'s, writing nothing', async () => {
    const before = await sql`select count(*)::int as n from si_sessions`;
    const noConsent = await si('si_initiate_session', { intent: 'x', identity: { consent_granted: false, user: { email: 'a@b.example' } }, idempotency_key: key() });
    expect(noConsent.data.errors).toMatchObject([{ code: 'VALIDATION_ERROR', field: 'identity.user' }]);
    const buy = await call(other, 'create_media_buy', buyRequest());
    expect(buy.isError, JSON.stringify(buy.data)).toBe(false);
    const foreign = await si('si_initiate_session', { intent: 'x', identity, media_buy_id: buy.data.media_buy_id, idempotency_key: key() });
    expect(foreign.data.errors).toMatchObject([{ code: 'MEDIA_BUY_NOT_FOUND', field: 'media_buy_id' }]);
    expect(await sql`select count(*)::int as n from si_sessions`).toEqual(before);
    const noMessage = await si('si_send_message', { session_id: 'si_x', idempotency_key: key() });
    expect(noMessage.data.errors).toMatchObject([{ code: 'VALIDATION_ERROR', field: 'message' }]);
  });

  it('stores only the consent, not the user, when consent is not granted', async () => {
    const s = await open({ identity: { consent_granted: false, anonymous_session_id: 'anon-1' } });
    const [row] = await sql`select identity from si_sessions where id = ${s.session_id}`;
    expect(row!.identity).toEqual({ consent_granted: false, anonymous_session_id: 'anon-1' });
  });

  it('is invisible to another host: SESSION_NOT_FOUND, as for an id that never existed', async () => {
    const s = await open();
    for (const [tool, args] of [
      ['si_send_message', { session_id: s.session_id, message: 'hi', idempotency_key: key() }],
      ['si_terminate_session', { session_id: s.session_id, reason: 'user_exit' }],
    ] as const) {
      const theirs = await si(tool, args, other);
      const none = await si(tool, { ...args, session_id: 'si_never' }, other);
      expect(theirs.data.errors).toMatchObject([{ code: 'SESSION_NOT_FOUND', field: 'session_id' }]);
      expect((theirs.data.errors as { message: string }[])[0]!.message).toBe((none.data.errors as { message: string }[])[0]!.message);
    }
    const [row] = await sql`select status, turns from si_sessions where id = ${s.session_id}`;
    expect(row).toMatchObject({ status: 'active', turns: 2 });
  });

  it('times out after sitting idle: the next message ends it (session_timeout)', async () => {
    const s = await open();
    await sql`update si_sessions set last_active_at = now() - interval '31 minutes' where id = ${s.session_id}`;
    const res = await si('si_send_message', { session_id: s.session_id, message: 'still there?', idempotency_key: key() });
    expect(res.data).toMatchObject({ session_status: 'terminated', errors: [{ code: 'SESSION_TERMINATED' }] });
    const [row] = await sql`select status, termination_reason, turns from si_sessions where id = ${s.session_id}`;
    expect(row).toMatchObject({ status: 'terminated', termination_reason: 'session_timeout', turns: 2 });
  });

  it('terminates on user_exit', async () => {
    const s = await open();
    expect((await si('si_terminate_session', { session_id: s.session_id, reason: 'user_exit' })).data).toMatchObject({ terminated: true, session_status: 'terminated' });
    expect((await si('si_terminate_session', { session_id: 'si_unknown', reason: 'user_exit' })).data).toMatchObject({ terminated: false, errors: [{ code: 'SESSION_NOT_FOUND' }] });
  });
});

describe('comply_test_controller force_session_status', () => {
  const SANDBOX = { brand: { domain: 'si-sandbox.example' }, operator: 'si-sandbox.example', sandbox: true };
  const force = async (params: Record<string, unknown>) => (await call(buyer, 'comply_test_controller', { scenario: 'force_session_status', params, account: SANDBOX })).data;

  it('ends a sandbox session, after which messages fail; terminal sessions stay put', async () => {
    const buy = await call(buyer, 'create_media_buy', buyRequest({ account: SANDBOX }));
    expect(buy.isError, JSON.stringify(buy.data)).toBe(false);
    const s = await open({ media_buy_id: buy.data.media_buy_id });
    expect(await force({ session_id: s.session_id, status: 'terminated', termination_reason: 'session_timeout' })).toMatchObject({ success: true, previous_state: 'active', current_state: 'terminated' });
    const res = await si('si_send_message', { session_id: s.session_id, message: 'hello', idempotency_key: key() });
    expect(res.data).toMatchObject({ session_status: 'terminated', errors: [{ code: 'SESSION_TERMINATED' }] });
    expect(await force({ session_id: s.session_id, status: 'complete' })).toMatchObject({ success: false, error: 'INVALID_TRANSITION' });
    expect(await force({ session_id: s.session_id, status: 'terminated' })).toMatchObject({ success: true, current_state: 'terminated' });
    expect(await force({ session_id: 'si_nope', status: 'terminated' })).toMatchObject({ success: false, error: 'NOT_FOUND' });
    expect(await force({ session_id: s.session_id, status: 'active' })).toMatchObject({ success: false, error: 'INVALID_PARAMS' });
  });

  it('will not touch a session that is not sandbox data', async () => {
    const s = await open();
    expect(await force({ session_id: s.session_id, status: 'terminated' })).toMatchObject({ success: false, error: 'FORBIDDEN' });
    const [row] = await sql`select status from si_sessions where id = ${s.session_id}`;
    expect(row!.status).toBe('active');
  });
});
