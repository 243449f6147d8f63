/**
 * The AdCP request schemas' patterns, formats and bounds, which the SDK's zod
 * schemas do not carry, are checked against the JSON Schemas (src/mcp/request-constraints.ts):
 * what is reported, how, and that AdCP 3.1 keeps every such constraint of 3.0
 * (so a valid 3.1 request is never refused by one).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSTRAINT_KEYWORDS, constraintIssues, GENERATED_VALIDATORS, pointerToField, requestValidator } from '../../src/mcp/request-constraints.js';
import { FORMAT_HINTS, PATTERN_HINTS } from '../../src/domain/adcp-patterns.js';
import { compileRequestValidator, PART_KEYS, requestSchemaId, schemaById } from '../../src/mcp/request-schemas.js';
import { TOOLS } from '../../src/mcp/tools/index.js';
import { ADCP_31_SCHEMAS, have31Schemas } from '../helpers/adcp-schema.js';

const create = (extra: Record<string, unknown> = {}, pkg: Record<string, unknown> = {}) => ({
  idempotency_key: 'abcdefghijklmnop-0001',
  account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
  brand: { domain: 'acme-drinks.example' },
  start_time: 'asap',
  end_time: '2030-01-01T00:00:00Z',
  packages: [{ product_id: 'p1', budget: 1000, pricing_option_id: 'po1', ...pkg }],
  ...extra,
});

describe('request constraints', () => {
  it('finds nothing in a valid request, and names each pattern, format and bound broken, with what to send', () => {
    expect(constraintIssues('create_media_buy', create())).toEqual([]);
    expect(constraintIssues('create_media_buy', create({ start_time: '2030-01-01T00:00:00+02:00' }))).toEqual([]);
    const issues = constraintIssues(
      'create_media_buy',
      create({ account: { brand: { domain: 'ACME.example' }, operator: 'agency.example' }, end_time: 'next week' }, { targeting_overlay: { geo_countries: ['US', 'uk'], language: ['EN'] }, budget: 1000 }),
    );
    expect(issues).toHaveLength(4);
    expect(issues).toEqual(
      expect.arrayContaining([
        { pointer: '/account/brand/domain', keyword: 'pattern', message: '"ACME.example" is not a domain name in lower case, without scheme or path (e.g. acme-drinks.example)' },
        { pointer: '/end_time', keyword: 'format', message: '"next week" is not an RFC 3339 date-time with a time zone (e.g. 2026-12-01T00:00:00Z)' },
        { pointer: '/packages/0/targeting_overlay/geo_countries/1', keyword: 'pattern', message: '"uk" is not an ISO 3166-1 alpha-2 country code in capitals (e.g. US, GB, DE)' },
        { pointer: '/packages/0/targeting_overlay/language/0', keyword: 'pattern', message: '"EN" is not an ISO 639-1 language code in lower case (e.g. en, es, fr)' },
      ]),
    );
    // A union of a constant and a form names the constant too.
    expect(constraintIssues('create_media_buy', create({ start_time: 'ASAP' }))).toEqual([
      { pointer: '/start_time', keyword: 'format', message: '"ASAP" is not an RFC 3339 date-time with a time zone or "asap" (e.g. 2026-12-01T00:00:00Z)' },
    ]);
    // Bounds without a hint read as Ajv words them; a secret is never echoed, only its length.
    const secret = 'my-real-hmac-secret-123';
    const [short] = constraintIssues('create_media_buy', create({ push_notification_config: { url: 'https://b.example/h', authentication: { schemes: ['HMAC-SHA256'], credentials: secret } } }));
    expect(short).toEqual({ pointer: '/push_notification_config/authentication/credentials', keyword: 'minLength', message: 'the 23-character credentials: must NOT have fewer than 32 characters' });
    const [bound] = constraintIssues('create_media_buy', create({}, { budget: -5 }));
    expect(bound).toEqual({ pointer: '/packages/0/budget', keyword: 'minimum', message: '-5: must be >= 0' });
  });

  it('judges a tagged union by the branch its tag names: no issue from another branch, none for a tag it does not know', () => {
    const creative = (asset: Record<string, unknown>) => ({ creative_id: 'cr_1', name: 'c', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'video_30s' }, assets: { main: asset } });
    // An image URL that is no URI: one issue (not a second from the URL-template branch of another asset type).
    expect(constraintIssues('creative_asset', creative({ asset_type: 'image', url: 'https://cdn.example/a b.png', width: 300, height: 250 }), { at: '/creatives/0' })).toEqual([
      { pointer: '/creatives/0/assets/main/url', keyword: 'format', message: expect.stringContaining('is not a valid absolute URI') },
    ]);
    // AdCP 3.1 asset types (a pixel tracker) are zod's to judge, not reported against the image branch's url.
    expect(constraintIssues('creative_asset', creative({ asset_type: 'pixel_tracker', url: 'https://t.example/i?cb={CACHEBUSTER}' }))).toEqual([]);
  });

  it('takes a VAST or DAAST tag URL with cache-busting macros, as AdCP 3.1 does (a URI template there, a URI in 3.0)', () => {
    const vast = { asset_type: 'vast', delivery_type: 'url', url: 'https://adserver.example/vast?cb={CACHEBUSTER}' };
    const creative = { creative_id: 'cr_1', name: 'c', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'video_30s' }, assets: { vast } };
    expect(constraintIssues('creative_asset', creative)).toEqual([]);
    expect(constraintIssues('creative_asset', { ...creative, assets: { daast: { asset_type: 'daast', delivery_type: 'url', url: 'https://adserver.example/daast?cb=[CACHEBUSTING]' } } })).toEqual([]);
    expect(constraintIssues('create_media_buy', create({}, { creatives: [creative] }))).toEqual([]);
  });

  it('refuses targeting codes in another form than AdCP gives, naming the item and an example', () => {
    for (const [targeting, pointer, example] of [
      [{ geo_countries: ['US', 'gb'] }, '/packages/0/targeting_overlay/geo_countries/1', 'US, GB, DE'],
      [{ geo_countries_exclude: ['USA'] }, '/packages/0/targeting_overlay/geo_countries_exclude/0', 'US, GB, DE'],
      [{ geo_regions: ['california'] }, '/packages/0/targeting_overlay/geo_regions/0', 'US-CA, GB-SCT'],
      [{ geo_regions_exclude: ['US_CA'] }, '/packages/0/targeting_overlay/geo_regions_exclude/0', 'US-CA, GB-SCT'],
      [{ language: ['EN'] }, '/packages/0/targeting_overlay/language/0', 'en, es, fr'],
    ] as const) {
      const issues = constraintIssues('update_media_buy', { media_buy_id: 'mb_1', packages: [{ package_id: 'pkg_1', targeting_overlay: targeting }] });
      expect(issues).toEqual([{ pointer, keyword: 'pattern', message: expect.stringContaining(`(e.g. ${example})`) }]);
    }
  });

  it('leaves the shape to zod: a missing field, a wrong type or an unknown enumeration value is not its to report', () => {
    expect(constraintIssues('create_media_buy', { packages: 'lots' })).toEqual([]);
    expect(constraintIssues('create_media_buy', create({}, { pacing: 'fastest' }))).toEqual([]);
    expect(constraintIssues('comply_test_controller', { anything: 1 })).toEqual([]);
  });

  it('writes JSON pointers as field paths', () => {
    expect(pointerToField('/packages/0/targeting_overlay/geo_countries/12')).toBe('packages[0].targeting_overlay.geo_countries[12]');
    expect(pointerToField('/a~1b/c~0d')).toBe('a/b.c~d');
    expect(pointerToField('')).toBe('');
  });

  it('has a request schema for every tool but the 2.5 one and the test controller, and the built validators judge as a fresh compile', () => {
    const without = TOOLS.filter((t) => !requestSchemaId(t.name)).map((t) => t.name);
    expect(without.sort()).toEqual(['comply_test_controller', 'list_authorized_properties']);
    const samples = [create(), create({ start_time: 'tomorrow' }), create({}, { targeting_overlay: { geo_regions: ['us-ca'] } })];
    for (const tool of ['create_media_buy', 'get_products']) {
      const built = requestValidator(tool);
      const fresh = compileRequestValidator(tool)!;
      expect(existsSync(GENERATED_VALIDATORS)).toBe(true);
      for (const s of samples) {
        expect(built!(s)).toBe(fresh(s));
        expect(built!.errors).toEqual(fresh.errors);
      }
    }
  });

  type Node = Record<string, unknown>;
  /** A schema by its $id: 3.0 as compiled here (LOOSENED_IN_31 applied), 3.1.19 from the reference schemas. */
  const byId = (id: string): Node => {
    if (id.startsWith('/schemas/3.0')) return schemaById(id.split('#')[0]!)!;
    return JSON.parse(readFileSync(path.join(ADCP_31_SCHEMAS, id.replace('/schemas/3.1.19/', '').split('#')[0]!), 'utf8')) as Node;
  };
  /**
   * Every (place, keyword, value) of the given keywords, through properties, items, unions and $refs. A place
   * names the branch it is in by the branch's constant properties ({asset_type=vast}{delivery_type=url}), so a
   * constraint one branch of a union loosened is not hidden by another branch keeping it.
   */
  const keywordsAt = (id: string, keywords: Iterable<string>): Set<string> => {
    const out = new Set<string>();
    const wanted = [...keywords];
    const walk = (x: unknown, at: string, seen: Set<string>, depth: number): void => {
      if (depth > 60 || x === null || typeof x !== 'object') return;
      if (Array.isArray(x)) return x.forEach((v) => walk(v, at, seen, depth + 1));
      const n = x as Node;
      const props = (n.properties ?? {}) as Record<string, Node>;
      const tag = Object.entries(props).filter(([, p]) => typeof p?.const === 'string').map(([k, p]) => `${k}=${String(p.const)}`).sort().join(',');
      const here = tag ? `${at}{${tag}}` : at;
      if (typeof n.$ref === 'string' && n.$ref.startsWith('/schemas/') && !seen.has(n.$ref)) walk(byId(n.$ref), here, new Set([...seen, n.$ref]), depth + 1);
      for (const k of wanted) if (k in n) out.add(`${here} ${k} ${JSON.stringify(n[k])}`);
      for (const [k, v] of Object.entries(n)) {
        if (k === 'properties' || k === 'patternProperties') for (const [p, s] of Object.entries(v as Node)) walk(s, `${here}.${p}`, seen, depth + 1);
        else if (k === 'items' || k === 'additionalProperties') walk(v, `${here}[]`, seen, depth + 1);
        else if (['oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else'].includes(k)) walk(v, here, seen, depth + 1);
      }
    };
    walk(byId(id), '', new Set([id]), 0);
    return out;
  };
  const validatorKeys = () => [...TOOLS.map((t) => t.name), ...PART_KEYS].filter((k) => requestSchemaId(k));

  it('has words for every pattern and format the requests are checked against', () => {
    const values = new Set<string>();
    for (const key of validatorKeys()) for (const c of keywordsAt(requestSchemaId(key)!, ['pattern', 'format'])) values.add(c.slice(c.lastIndexOf(' ', c.length) + 1));
    const keywords = [...values].map((v) => JSON.parse(v) as string);
    expect(keywords.length).toBeGreaterThan(10);
    expect(keywords.filter((v) => !PATTERN_HINTS[v] && !FORMAT_HINTS[v])).toEqual([]);
  });

  /** Places 3.1 took out of the request, its object closed (additionalProperties false): no 3.1 request has a value there. */
  const GONE_IN_31 = ['.accounts[].governance_agents[].categories'];

  it.skipIf(!have31Schemas)('are all kept (or tightened) by AdCP 3.1.19 at the same places, so no valid 3.1 request is refused by one', () => {
    let compared = 0;
    for (const key of validatorKeys()) {
      const id30 = requestSchemaId(key)!;
      const id31 = id30.replace(/^\/schemas\/3\.0\.\d+\//, '/schemas/3.1.19/');
      if (!existsSync(path.join(ADCP_31_SCHEMAS, id31.replace('/schemas/3.1.19/', '')))) continue;
      const kept = keywordsAt(id31, CONSTRAINT_KEYWORDS);
      const mine = keywordsAt(id30, CONSTRAINT_KEYWORDS);
      expect(mine.size, key).toBeGreaterThan(0);
      // Kept, or tightened: a bound 3.1 lowered (a maximum) or raised (a minimum) holds for every 3.1 request.
      const tightened = (c: string) => {
        const [at, keyword, value] = c.split(' ') as [string, string, string];
        const sign = /^(max|exclusiveMax)/.test(keyword) ? 1 : /^(min|exclusiveMin)/.test(keyword) ? -1 : 0;
        return sign !== 0 && [...kept].some((k) => k.startsWith(`${at} ${keyword} `) && sign * Number(k.split(' ')[2]) <= sign * Number(value));
      };
      const dropped = [...mine].filter((c) => !kept.has(c) && !tightened(c) && !GONE_IN_31.some((g) => c.startsWith(g)));
      expect(dropped, key).toEqual([]);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(10);
  });
});
