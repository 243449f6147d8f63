/**
 * AdCP 3.1's added enumeration values are accepted by the 3.0 request schemas' validation
 * (src/mcp/adcp31-values.ts), restored in the parsed input, and nothing else is let through.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { ADCP31_ADDED_VALUES, parseAcceptingAdcp31Values } from '../../src/mcp/adcp31-values.js';
import { TOOLS } from '../../src/mcp/tools/index.js';
import { ADCP_31_SCHEMAS, have31Schemas } from '../helpers/adcp-schema.js';

const input = (name: string) => TOOLS.find((t) => t.name === name)!.input;
const create = (extra: Record<string, unknown>, pkg: Record<string, unknown> = {}) => ({
  idempotency_key: 'abcdefghijklmnop-0001',
  account: { account_id: 'acc_1' },
  brand: { domain: 'acme.com' },
  start_time: 'asap',
  end_time: '2030-01-01T00:00:00Z',
  packages: [{ product_id: 'p1', budget: 1000, pricing_option_id: 'po1', ...pkg }],
  ...extra,
});

describe('AdCP 3.1 enumeration values', () => {
  it.skipIf(!have31Schemas)('are the 3.1.19 reference schemas’ own', () => {
    for (const [ref, w] of Object.entries(ADCP31_ADDED_VALUES)) {
      const [file, pointer] = ref.split('#');
      let node = JSON.parse(readFileSync(path.join(ADCP_31_SCHEMAS, file!), 'utf8'));
      for (const key of (pointer ?? '').split('/').filter(Boolean)) node = node[key];
      expect(node.enum, ref).toEqual(w.values31);
      for (const v of w.added) expect(w.values31, ref).toContain(v);
    }
  });

  it('are refused by the 3.0 schemas alone (else this layer would be pointless)', () => {
    expect(input('create_media_buy').safeParse(create({ reporting_webhook: { url: 'https://buyer.example/r', authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' }, reporting_frequency: 'daily', requested_metrics: ['cpm'] } })).success).toBe(false);
  });

  it('are accepted and kept: a metric, a creative status, a product field, an asset type', () => {
    const rw = { url: 'https://buyer.example/r', authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' }, reporting_frequency: 'daily', requested_metrics: ['clicks', 'cpm', 'brand_lift'] };
    const parsed = parseAcceptingAdcp31Values(input('create_media_buy'), create({ reporting_webhook: rw }));
    expect(parsed.success).toBe(true);
    expect((parsed.data as { reporting_webhook: { requested_metrics: string[] } }).reporting_webhook.requested_metrics).toEqual(['clicks', 'cpm', 'brand_lift']);

    const statuses = parseAcceptingAdcp31Values(input('list_creatives'), { filters: { statuses: ['approved', 'suspended'] } });
    expect(statuses.success && (statuses.data as { filters: { statuses: string[] } }).filters.statuses).toEqual(['approved', 'suspended']);
    const fields = parseAcceptingAdcp31Values(input('get_products'), { buying_mode: 'brief', brief: 'x', fields: ['product_id', 'format_options'] });
    expect(fields.success && (fields.data as { fields: string[] }).fields).toEqual(['product_id', 'format_options']);
    const assets = parseAcceptingAdcp31Values(input('list_creative_formats'), { asset_types: ['published_post'] });
    expect(assets.success && (assets.data as { asset_types: string[] }).asset_types).toEqual(['published_post']);
  });

  it('are found inside a union branch (an optimization goal of kind event)', () => {
    const goal = { kind: 'event', event_sources: [{ event_source_id: 'es1', event_type: 'follow' }] };
    const parsed = parseAcceptingAdcp31Values(input('create_media_buy'), create({}, { optimization_goals: [goal] }));
    expect(parsed.success).toBe(true);
    const out = parsed.data as { packages: { optimization_goals: { event_sources: { event_type: string }[] }[] }[] };
    expect(out.packages[0]!.optimization_goals[0]!.event_sources[0]!.event_type).toBe('follow');
  });

  it('are accepted in creative assets (VAST tracking events) and task filters (task types, protocols)', () => {
    // sync_creatives judges each creative on its own, with the SDK's creative-asset schema.
    const creativeAsset = (TOOL_REQUEST_SCHEMAS.sync_creatives as unknown as z.ZodObject<{ creatives: z.ZodArray<z.ZodType> }>).shape.creatives.element;
    const vast = { asset_type: 'vast', delivery_type: 'url', url: 'https://ads.example/vast.xml', tracking_events: ['start', 'acceptInvitation'] };
    const creative = { creative_id: 'c1', name: 'Spot', format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'video_30s' }, assets: { video: vast } };
    expect(creativeAsset.safeParse(creative).success).toBe(false);
    const synced = parseAcceptingAdcp31Values(creativeAsset, creative);
    expect(synced.success).toBe(true);
    expect((synced.data as { assets: { video: { tracking_events: string[] } } }).assets.video.tracking_events).toEqual(['start', 'acceptInvitation']);
    const tasks = parseAcceptingAdcp31Values(input('tasks/list'), { filters: { task_types: ['create_media_buy', 'get_products'], protocol: 'measurement' } });
    expect(tasks.success && tasks.data).toMatchObject({ filters: { task_types: ['create_media_buy', 'get_products'], protocol: 'measurement' } });
  });

  it('leave the 3.1 value out of the errors when something else is wrong', () => {
    const goal = { kind: 'event', event_sources: [{ event_source_id: 'es1', event_type: 'follow' }] };
    const parsed = parseAcceptingAdcp31Values(input('create_media_buy'), create({}, { budget: 'lots', optimization_goals: [goal] }));
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toEqual(['packages.0.budget']);
  });

  it('let nothing else through, and report only what is wrong', () => {
    const bogus = parseAcceptingAdcp31Values(input('create_media_buy'), create({ reporting_webhook: { url: 'https://buyer.example/r', authentication: { schemes: ['Bearer'], credentials: 'bearer-token-0123456789-abcdefghij' }, reporting_frequency: 'daily', requested_metrics: ['cpm', 'not_a_metric'] } }));
    expect(bogus.success).toBe(false);
    expect(bogus.error!.issues.map((i) => i.path.join('.'))).toEqual(['reporting_webhook.requested_metrics.1']);
    // A 3.1 value where another enumeration is expected stays refused.
    const elsewhere = parseAcceptingAdcp31Values(input('list_creatives'), { filters: { statuses: ['cpm'] } });
    expect(elsewhere.success).toBe(false);
    // An enumeration that merely shares a value is not widened.
    const unrelated = parseAcceptingAdcp31Values(z.object({ s: z.enum(['processing', 'done']) }), { s: 'suspended' });
    expect(unrelated.success).toBe(false);
  });
});
