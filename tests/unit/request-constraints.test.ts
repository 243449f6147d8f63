/**
 * The AdCP request schemas' patterns, formats and bounds, which the SDK's zod
 * schemas do not carry, are checked against the JSON Schemas (src/mcp/request-constraints.ts):
 * what is reported, how, and that AdCP 3.1 keeps every such constraint of 3.0
 * (so a valid 3.1 request is never refused by one).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSTRAINT_KEYWORDS, constraintIssues, GENERATED_VALIDATORS, pointerToField, requestValidator } from '../../src/mcp/request-constraints.js';
import { compileRequestValidator, requestSchemaId } from '../../src/mcp/request-schemas.js';
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
    expect(issues).toEqual([
      { pointer: '/account/brand/domain', keyword: 'pattern', message: '"ACME.example" is not a domain name in lower case, without scheme or path (e.g. acme-drinks.example)' },
      { pointer: '/end_time', keyword: 'format', message: '"next week" is not an RFC 3339 date-time with a time zone (e.g. 2026-12-01T00:00:00Z)' },
      { pointer: '/packages/0/targeting_overlay/geo_countries/1', keyword: 'pattern', message: '"uk" is not an ISO 3166-1 alpha-2 country code in capitals (e.g. US, GB, DE)' },
      { pointer: '/packages/0/targeting_overlay/language/0', keyword: 'pattern', message: '"EN" is not an ISO 639-1 language code in lower case (e.g. en, es, fr)' },
    ].sort((a, b) => issues.findIndex((i) => i.pointer === a.pointer) - issues.findIndex((i) => i.pointer === b.pointer)));
    // Bounds without a hint read as Ajv words them, with the value.
    const [short] = constraintIssues('create_media_buy', create({ push_notification_config: { url: 'https://b.example/h', token: 'short' } }));
    expect(short).toEqual({ pointer: '/push_notification_config/token', keyword: 'minLength', message: '"short": must NOT have fewer than 16 characters' });
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

  /** Places 3.1 took out of the request, its object closed (additionalProperties false): no 3.1 request has a value there. */
  const GONE_IN_31 = ['.accounts[].governance_agents[].categories'];

  it.skipIf(!have31Schemas)('are all kept (or tightened) by AdCP 3.1.19 at the same places, so no valid 3.1 request is refused by one', () => {
    const require = createRequire(import.meta.url);
    const root30 = path.join(path.dirname(require.resolve('@adcp/sdk/package.json')), 'dist/lib/schemas-data/3.0');
    type Node = Record<string, unknown>;
    /** A schema by its $id ("/schemas/3.0.6/core/brand-ref.json"), from the SDK's 3.0 tree or the 3.1.19 reference. */
    const byId = (id: string): Node => {
      const [, version, rel] = /^\/schemas\/([^/]+)\/(.+?)(#.*)?$/.exec(id)!;
      return JSON.parse(readFileSync(path.join(version!.startsWith('3.0') ? root30 : ADCP_31_SCHEMAS, rel!), 'utf8')) as Node;
    };
    /** Every (place, keyword, value) of a constraint keyword, through properties, items, unions and $refs. */
    const constraints = (id: string): Set<string> => {
      const out = new Set<string>();
      const walk = (x: unknown, at: string, seen: Set<string>, depth: number): void => {
        if (depth > 60 || x === null || typeof x !== 'object') return;
        if (Array.isArray(x)) return x.forEach((v) => walk(v, at, seen, depth + 1));
        const n = x as Node;
        if (typeof n.$ref === 'string' && n.$ref.startsWith('/schemas/') && !seen.has(n.$ref)) walk(byId(n.$ref), at, new Set([...seen, n.$ref]), depth + 1);
        for (const k of CONSTRAINT_KEYWORDS) if (k in n) out.add(`${at} ${k} ${JSON.stringify(n[k])}`);
        for (const [k, v] of Object.entries(n)) {
          if (k === 'properties' || k === 'patternProperties') for (const [p, s] of Object.entries(v as Node)) walk(s, `${at}.${p}`, seen, depth + 1);
          else if (k === 'items' || k === 'additionalProperties') walk(v, `${at}[]`, seen, depth + 1);
          else if (['oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else'].includes(k)) walk(v, at, seen, depth + 1);
        }
      };
      walk(byId(id), '', new Set([id]), 0);
      return out;
    };
    let compared = 0;
    for (const tool of TOOLS) {
      const id30 = requestSchemaId(tool.name);
      if (!id30) continue;
      const id31 = id30.replace(/^\/schemas\/3\.0\.\d+\//, '/schemas/3.1.19/');
      if (!existsSync(path.join(ADCP_31_SCHEMAS, id31.replace('/schemas/3.1.19/', '')))) continue;
      const kept = constraints(id31);
      const mine = constraints(id30);
      expect(mine.size, tool.name).toBeGreaterThan(0);
      // Kept, or tightened: a bound 3.1 lowered (a maximum) or raised (a minimum) holds for every 3.1 request.
      const tightened = (c: string) => {
        const [at, keyword, value] = c.split(' ') as [string, string, string];
        const sign = /^(max|exclusiveMax)/.test(keyword) ? 1 : /^(min|exclusiveMin)/.test(keyword) ? -1 : 0;
        return sign !== 0 && [...kept].some((k) => k.startsWith(`${at} ${keyword} `) && sign * Number(k.split(' ')[2]) <= sign * Number(value));
      };
      const dropped = [...mine].filter((c) => !kept.has(c) && !tightened(c) && !GONE_IN_31.some((g) => c.startsWith(g)));
      expect(dropped, tool.name).toEqual([]);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(10);
  });
});
