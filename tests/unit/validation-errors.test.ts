/**
 * Validation errors speak of what the agent wrote: the branch of a union it meant (by the keys it
 * sent and the discriminators it set), every choice of an enumeration, each accepted form when the
 * value fits none. An agent repairs its request from these.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseAcceptingAdcp31Values } from '../../src/mcp/adcp31-values.js';
import { validationError } from '../../src/mcp/define-tool.js';
import { TOOLS } from '../../src/mcp/tools/index.js';

type Answer = { message: string; field: string; issues: { pointer: string; keyword: string; message: string }[] };
function answer(tool: string, args: Record<string, unknown>): Answer {
  const input = TOOLS.find((t) => t.name === tool)!.input;
  const parsed = parseAcceptingAdcp31Values(input, args);
  expect(parsed.success, 'the request should be refused').toBe(false);
  return validationError(parsed.error!.issues, args, input).toJSON() as unknown as Answer;
}
const create = (extra: Record<string, unknown>) => ({
  idempotency_key: 'abcdefghijklmnop-0001',
  account: { account_id: 'acc_1' },
  brand: { domain: 'acme.com' },
  start_time: 'asap',
  end_time: '2030-01-01T00:00:00Z',
  packages: [{ product_id: 'p1', budget: 1000, pricing_option_id: 'po1' }],
  ...extra,
});

describe('validation errors', () => {
  it('follow the form of an account the agent chose (brand + operator, not account_id)', () => {
    expect(answer('create_media_buy', create({ account: { brand: { domain: 'acme.com' } } }))).toMatchObject({ field: 'account.operator' });
    expect(answer('create_media_buy', create({ account: { brand: 'acme.com', operator: 'agency.example' } }))).toMatchObject({ field: 'account.brand' });
  });

  it('name the faults of the sync_accounts entry form the agent wrote, not the settings-update form it did not', () => {
    const a = answer('sync_accounts', { idempotency_key: 'abcdefghijklmnop-0001', accounts: [{ brand: { domain: 'acme.com' }, billing: 'brand' }] });
    expect(a.issues.map((i) => i.pointer).sort()).toEqual(['/accounts/0/billing', '/accounts/0/operator']);
  });

  it('keep to the asset type the creative names and point at the field that is wrong', () => {
    const creative = ((TOOL_REQUEST_SCHEMAS.sync_creatives as unknown as z.ZodObject).shape.creatives as z.ZodArray<z.ZodType>).element;
    const c = {
      creative_id: 'c1',
      name: 'Spot',
      format_id: { agent_url: 'https://creative.adcontextprotocol.org', id: 'video_30s' },
      assets: { video: { asset_type: 'video', url: 'https://x.example/v.mp4', width: 1920, height: 1080, duration_ms: '30000' } },
    };
    const parsed = creative.safeParse(c);
    expect(parsed.success).toBe(false);
    const issues = parsed.error!.issues.map((x) => ({ ...x, path: ['creatives', 0, ...x.path] }));
    const a = validationError(issues, { creatives: [c] }, z.object({ creatives: z.array(creative) })).toJSON() as unknown as Answer;
    expect(a.field).toBe('creatives[0].assets.video.duration_ms');
  });

  it('point into a list at the item that is wrong, with every choice', () => {
    const a = answer('get_media_buys', { status_filter: ['active', 'running'] });
    expect(a.issues[0]).toMatchObject({ pointer: '/status_filter/1', keyword: 'enum' });
    expect(a.issues[0]!.message).toContain('"pending_creatives"|"pending_start"|"active"');
  });

  it('name each accepted form when a value fits none', () => {
    const a = answer('create_media_buy', create({ start_time: 1893456000 }));
    expect(a).toMatchObject({ field: 'start_time' });
    expect(a.message).toContain('expected "asap" or a value of type string');
  });

  it('spell out the object expected where the tool listing trims the schema', () => {
    const a = answer('create_media_buy', create({ packages: [{ product_id: 'p1', budget: 1000, pricing_option_id: 'po1', format_ids: ['display_300x250'] }] }));
    expect(a.issues[0]).toMatchObject({ pointer: '/packages/0/format_ids/0', keyword: 'type' });
    expect(a.message).toContain('expected {agent_url: string, id: string');
  });
});
