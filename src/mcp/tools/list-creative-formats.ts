/**
 * list_creative_formats: the formats this seller's products accept, filtered as AdCP describes each
 * filter, in pages (max_results, cursor).
 *
 * AdCP 3.1's publisher_domain (and property_id) narrow the list to the formats of the caller's products
 * that sell that publisher's inventory (that property). AdCP resolves the filter from the publisher's
 * adagents.json first; a tool here only reads Postgres, so the answer is always the lowest tier, the
 * agent's own products, and says so (`source: "agent_derived"`).
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import type { ProductWithPricing } from '../../db/queries/inventory.js';
import type { Catalog } from '../catalog-cache.js';
import type { ToolContext } from '../context.js';
import { defineTool } from '../define-tool.js';
import { listQuery, pageOf, type PaginationRequest } from '../pagination.js';

type FormatIdRef = { id: string; agent_url?: string };

interface Input {
  format_ids?: FormatIdRef[];
  name_search?: string;
  asset_types?: string[];
  max_width?: number;
  max_height?: number;
  min_width?: number;
  min_height?: number;
  is_responsive?: boolean;
  wcag_level?: string;
  disclosure_positions?: string[];
  disclosure_persistence?: string[];
  output_format_ids?: FormatIdRef[];
  input_format_ids?: FormatIdRef[];
  /** AdCP 3.1. */
  publisher_domain?: string;
  property_id?: string;
  pagination?: PaginationRequest;
  [k: string]: unknown;
}

type Format = Catalog['formats'][number];
type Json = Record<string, unknown>;

const WCAG = ['A', 'AA', 'AAA'];
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Each render's width and height range: a fixed size is [w, w]; a responsive one spans its min and max (open when absent). */
function renderBoxes(spec: Json): { width: [number, number]; height: [number, number]; responsive: boolean }[] {
  const renders = Array.isArray(spec.renders) ? (spec.renders as Json[]) : [];
  return renders.flatMap((r) => {
    const d = r?.dimensions as Json | undefined;
    if (!d || typeof d !== 'object') return [];
    const responsive = (d.responsive as Json | undefined)?.width === true || (d.responsive as Json | undefined)?.height === true || (num(d.width) === undefined && num(d.height) === undefined);
    const range = (fixed: unknown, min: unknown, max: unknown): [number, number] => {
      const f = num(fixed);
      return f !== undefined ? [f, f] : [num(min) ?? 0, num(max) ?? Infinity];
    };
    return [{ width: range(d.width, d.min_width, d.max_width), height: range(d.height, d.min_height, d.max_height), responsive }];
  });
}

/** Every asset type a format takes, those inside repeatable groups included. */
function assetTypes(spec: Json): Set<string> {
  const out = new Set<string>();
  const walk = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const a of list as Json[]) {
      if (typeof a?.asset_type === 'string') out.add(a.asset_type);
      walk(a?.assets);
    }
  };
  walk(spec.assets);
  return out;
}

/** Disclosure positions with their persistence modes: disclosure_capabilities when declared, else the flat positions (no modes). */
function disclosures(spec: Json): Map<string, Set<string>> {
  const caps = spec.disclosure_capabilities;
  if (Array.isArray(caps)) return new Map((caps as Json[]).map((c) => [String(c.position), new Set(Array.isArray(c.persistence) ? (c.persistence as string[]) : [])]));
  const flat = Array.isArray(spec.supported_disclosure_positions) ? (spec.supported_disclosure_positions as string[]) : [];
  return new Map(flat.map((p) => [p, new Set<string>()]));
}

const sameFormat = (want: FormatIdRef, have: unknown) => typeof have === 'object' && have !== null && (have as FormatIdRef).id === want.id;

function matches(f: Format, input: Input): boolean {
  const spec = f.spec;
  if (input.format_ids?.length && !input.format_ids.some((w) => w.id === f.id)) return false;
  if (input.name_search && !f.name.toLowerCase().includes(input.name_search.toLowerCase())) return false;
  if (input.asset_types?.length) {
    const types = assetTypes(spec);
    if (!input.asset_types.some((t) => types.has(t))) return false;
  }
  const boxes = renderBoxes(spec);
  // Dimension filters hold when ANY render fits; a format with no sized render fits none.
  if (input.max_width !== undefined && !boxes.some((b) => b.width[0] <= input.max_width!)) return false;
  if (input.max_height !== undefined && !boxes.some((b) => b.height[0] <= input.max_height!)) return false;
  if (input.min_width !== undefined && !boxes.some((b) => b.width[1] >= input.min_width!)) return false;
  if (input.min_height !== undefined && !boxes.some((b) => b.height[1] >= input.min_height!)) return false;
  if (input.is_responsive !== undefined && boxes.some((b) => b.responsive) !== input.is_responsive) return false;
  if (input.wcag_level) {
    const level = WCAG.indexOf(String((spec.accessibility as Json | undefined)?.wcag_level));
    if (level < WCAG.indexOf(input.wcag_level)) return false;
  }
  if (input.disclosure_positions?.length || input.disclosure_persistence?.length) {
    const d = disclosures(spec);
    if (input.disclosure_positions?.some((p) => !d.has(p))) return false;
    if (input.disclosure_persistence?.some((m) => ![...d.values()].some((modes) => modes.has(m)))) return false;
  }
  for (const [key, wanted] of [['output_format_ids', input.output_format_ids], ['input_format_ids', input.input_format_ids]] as const) {
    if (!wanted?.length) continue;
    const have = Array.isArray(spec[key]) ? (spec[key] as unknown[]) : [];
    if (!wanted.some((w) => have.some((h) => sameFormat(w, h)))) return false;
  }
  return true;
}

/** Does one of a product's publisher_properties selectors cover this publisher (and this property of it)? */
function sells(p: ProductWithPricing, domain: string, property: Catalog['properties'][number] | null | undefined): boolean {
  return p.publisherProperties.some((sel) => {
    if (String(sel.publisher_domain).toLowerCase() !== domain) return false;
    if (property === undefined) return true;
    if (property === null) return false;
    if (sel.selection_type === 'by_id') return Array.isArray(sel.property_ids) && (sel.property_ids as string[]).includes(property.id);
    if (sel.selection_type === 'by_tag') return Array.isArray(sel.property_tags) && (sel.property_tags as string[]).some((t) => property.tags.includes(t));
    return true;
  });
}

/** The ids of the formats the caller's products selling this publisher's inventory (on this property) accept. */
async function formatsSoldFor(ctx: ToolContext, tenantId: string, input: Input, catalog: Catalog): Promise<Set<string>> {
  // property_id alone names the property of that id, whichever publisher's it is.
  const named = input.property_id === undefined ? undefined : catalog.properties.find((p) => p.id === input.property_id && (input.publisher_domain === undefined || p.publisherDomain.toLowerCase() === input.publisher_domain.toLowerCase()));
  const domain = (input.publisher_domain ?? named?.publisherDomain ?? '').toLowerCase();
  const property = input.property_id === undefined ? undefined : (named ?? null);
  const products = await ctx.catalog.productsFor(tenantId, ctx.principal?.id ?? null);
  return new Set(products.filter((p) => sells(p, domain, property)).flatMap((p) => p.formatIds.map((r) => r.id)));
}

export default defineTool({
  name: 'list_creative_formats',
  title: 'List creative formats',
  description:
    'List the creative formats this seller accepts (display sizes, video, audio...). Filter by format_ids, name_search, asset_types, dimensions (max/min_width/height: any render fits), is_responsive, wcag_level, disclosure_positions/persistence, input/output_format_ids, or (AdCP 3.1) publisher_domain and property_id for the formats of the products selling that inventory; paginate with pagination.max_results and pagination.cursor. Use the format_id objects in create_media_buy packages and sync_creatives.',
  input: TOOL_REQUEST_SCHEMAS.list_creative_formats! as z.ZodType<Input>,
  output: z.looseObject({ formats: z.array(z.looseObject({ format_id: z.looseObject({ id: z.string() }) })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'optional',
  async handle(input, ctx) {
    const byPublisher = input.publisher_domain !== undefined || input.property_id !== undefined;
    const source = byPublisher ? { source: 'agent_derived' } : {};
    if (!ctx.tenant) return { formats: [], pagination: { has_more: false }, ...source };
    const catalog = await ctx.catalog.get(ctx.tenant.id);
    const sold = byPublisher ? await formatsSoldFor(ctx, ctx.tenant.id, input, catalog) : undefined;
    const formats = catalog.formats.filter((f) => (!sold || sold.has(f.id)) && matches(f, input));
    const { page, pagination } = pageOf(formats, input.pagination, listQuery(input));
    return {
      formats: page.map((f) => ({ format_id: { agent_url: f.agentUrl, id: f.id }, name: f.name, type: f.type, ...f.spec })),
      pagination,
      ...source,
    };
  },
});
