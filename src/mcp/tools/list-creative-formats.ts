/** list_creative_formats: the formats this seller's products accept. */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { defineTool } from '../define-tool.js';

interface Input {
  format_ids?: { id: string; agent_url?: string }[];
  name_search?: string;
  asset_types?: string[];
  max_width?: number;
  max_height?: number;
  min_width?: number;
  min_height?: number;
  [k: string]: unknown;
}

function dims(spec: Record<string, unknown>): { width?: number; height?: number } {
  const renders = spec.renders as { dimensions?: { width?: number; height?: number } }[] | undefined;
  return renders?.[0]?.dimensions ?? {};
}

export default defineTool({
  name: 'list_creative_formats',
  title: 'List creative formats',
  description:
    'List the creative formats this seller accepts (display sizes, video, audio...). Filter by format_ids, name_search, asset_types or dimensions. Use the format_id objects in create_media_buy packages and sync_creatives.',
  input: TOOL_REQUEST_SCHEMAS.list_creative_formats! as z.ZodType<Input>,
  output: z.looseObject({ formats: z.array(z.looseObject({ format_id: z.looseObject({ id: z.string() }) })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'optional',
  async handle(input, ctx) {
    if (!ctx.tenant) return { formats: [] };
    const rows = (await ctx.catalog.get(ctx.tenant.id)).formats;
    const formats = rows.filter((f) => {
      if (input.format_ids?.length && !input.format_ids.some((w) => w.id === f.id)) return false;
      if (input.name_search && !f.name.toLowerCase().includes(input.name_search.toLowerCase())) return false;
      const assets = (f.spec.assets as { asset_type?: string }[] | undefined) ?? [];
      if (input.asset_types?.length && !assets.some((a) => a.asset_type && input.asset_types!.includes(a.asset_type))) return false;
      const { width, height } = dims(f.spec);
      if (input.max_width !== undefined && width !== undefined && width > input.max_width) return false;
      if (input.max_height !== undefined && height !== undefined && height > input.max_height) return false;
      if (input.min_width !== undefined && (width === undefined || width < input.min_width)) return false;
      if (input.min_height !== undefined && (height === undefined || height < input.min_height)) return false;
      return true;
    });
    return {
      formats: formats.map((f) => ({ format_id: { agent_url: f.agentUrl, id: f.id }, name: f.name, type: f.type, ...f.spec })),
    };
  },
});
