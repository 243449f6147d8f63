/** get_products: discovery. Brief matching and filters over the tenant's catalogue; pricing only for authenticated buyers. */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import type { ProductWithPricing } from '../../db/queries/inventory.js';
import { AdcpError } from '../../domain/errors.js';
import { compareAmounts } from '../../domain/money.js';
import { metricsNotReported } from '../../domain/reporting.js';
import { enforcesPolicies, rankByBrief, refineProducts, toAdcpProduct, type RefineEntry } from '../../domain/products.js';
import { unmetSellerRequirement } from '../../domain/seller-capabilities.js';
import { prepareGetProducts } from '../adcp31-shapes.js';
import { defineTool } from '../define-tool.js';
import { listQuery, pageOf, type PaginationRequest } from '../pagination.js';

interface Filters {
  delivery_type?: string;
  is_fixed_price?: boolean;
  format_ids?: { agent_url?: string; id: string }[];
  channels?: string[];
  countries?: string[];
  budget_range?: { min?: number; max?: number; currency?: string };
  /** AdCP 3.1: only options in these currencies are returned, and products with none are left out. */
  pricing_currencies?: string[];
  /** AdCP 3.1: only products that report every one of these metrics. */
  required_metrics?: string[];
}

/**
 * The pricing options a buyer asked for: AdCP 3.1 says a seller MUST return only
 * the options matching is_fixed_price and pricing_currencies, not the product's
 * others. A product left with none does not match.
 */
function pricingWanted(p: ProductWithPricing, f: Filters | undefined): ProductWithPricing['pricing'] {
  if (!f || (f.is_fixed_price === undefined && !f.pricing_currencies?.length)) return p.pricing;
  const currencies = f.pricing_currencies?.map((c) => c.toUpperCase());
  return p.pricing.filter(
    (po) => (f.is_fixed_price === undefined || (po.fixedPrice != null) === f.is_fixed_price) && (!currencies?.length || currencies.includes(po.currency)),
  );
}

/** The AdCP schema types budget_range.max as a number but the SDK's check lets anything through: check it here. */
function checkBudgetRange(f: Filters | undefined): void {
  const max = f?.budget_range?.max as unknown;
  if (max === undefined) return;
  // Below 1e21, where numbers stop printing as plain decimals (amounts are compared as decimal strings).
  if (typeof max !== 'number' || !Number.isFinite(max) || max < 0 || max >= 1e21) {
    throw new AdcpError('VALIDATION_ERROR', 'filters.budget_range.max must be a non-negative number.', {
      field: 'filters.budget_range.max',
      suggestion: 'Send the most you would spend as a number in budget_range.currency, e.g. {"max": 50000, "currency": "USD"}, or leave budget_range out.',
    });
  }
}

function matchesFilters(p: ProductWithPricing, f: Filters | undefined): boolean {
  if (!f) return true;
  if (f.delivery_type && p.deliveryType !== f.delivery_type) return false;
  if (f.required_metrics?.length && metricsNotReported(p, f.required_metrics).length > 0) return false;
  if (f.format_ids?.length && !p.formatIds.some((fid) => f.format_ids!.some((w) => w.id === fid.id))) return false;
  if (f.channels?.length && !p.channels.some((c) => f.channels!.includes(c))) return false;
  if (f.countries?.length && p.countries.length > 0 && !p.countries.some((c) => f.countries!.includes(c))) return false;
  if (f.budget_range?.max !== undefined) {
    const max = f.budget_range.max;
    const cur = f.budget_range.currency;
    // A product fits a budget when some pricing option's minimum spend is within it.
    const fits = p.pricing.some((po) => (!cur || po.currency === cur) && (po.minSpendPerPackage == null || compareAmounts(po.minSpendPerPackage, max) <= 0));
    if (!fits) return false;
  }
  return true;
}

export default defineTool({
  name: 'get_products',
  title: 'Get products',
  description:
    'Find advertising products for a campaign. Pass a natural-language `brief` (buying_mode "brief", the default with a brief; without one, "wholesale" lists the whole catalogue; "refine" with `refine` entries narrows a previous answer: product include/omit/more_like_this, request-level asks) (e.g. "CTV and video for a sports drink, US, $50k": products sold elsewhere than the countries it names, or with a minimum spend above its budget, come last, each saying why) and optional `filters` (exact) (delivery_type, channels, format_ids, countries, budget_range, is_fixed_price, pricing_currencies, required_metrics, required_features, required_geo_targeting) and `required_policies` (only products that declare enforcing them). Returns products with pricing options (pricing needs authentication), paginated with pagination.max_results and pagination.cursor. Next: create_media_buy with product_id and pricing_option_id.',
  // buying_mode is required by AdCP 3; agents often omit it, so infer it from the brief.
  input: z.preprocess(
    (a) => (a && typeof a === 'object' && !('buying_mode' in a) ? { ...a, buying_mode: 'brief' in a && a.brief ? 'brief' : 'wholesale' } : a),
    TOOL_REQUEST_SCHEMAS.get_products!,
  ) as unknown as z.ZodType<{ brief?: string; buying_mode?: string; filters?: Filters; required_policies?: string[]; pagination?: PaginationRequest; [k: string]: unknown }>,
  output: z.looseObject({ products: z.array(z.looseObject({ product_id: z.string() })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'optional',
  // AdCP 3.1 postal areas (country + system) in filters are taken in their 3.0 form.
  prepare: prepareGetProducts,
  async handle(input, ctx) {
    // AdCP 3.1 cache_scope: nothing here depends on the request's account (products may be limited to
    // certain buyers, but a buyer's cache is its own), so every answer describes the public layer.
    if (!ctx.tenant) return { products: [], cache_scope: 'public' };
    checkBudgetRange(input.filters);
    // Filters on what the seller offers (features, geo targeting, signals...) hold for all of its products or for none.
    const unmet = input.filters && unmetSellerRequirement(input.filters as Record<string, unknown>);
    if (unmet) return { products: [], cache_scope: 'public', message: `No products: this seller does not offer what filters.${unmet} asks for (see get_adcp_capabilities).` };
    // The same catalogue create_media_buy validates against (cached per process, dropped on every change).
    const all = await ctx.catalog.productsFor(ctx.tenant.id, ctx.principal?.id ?? null);
    const filtered: ProductWithPricing[] = [];
    let withoutPolicies = 0;
    for (const p of all) {
      // AdCP: only products that enforce every policy the buyer requires.
      if (!enforcesPolicies(p, input.required_policies)) {
        withoutPolicies++;
        continue;
      }
      const pricing = pricingWanted(p, input.filters);
      // Nothing to buy it at (the buyer's filters left no option, or a test product is seeded before its prices):
      // not offered, as an AdCP product has at least one pricing option.
      if (pricing.length === 0) continue;
      const offered = pricing === p.pricing ? p : { ...p, pricing };
      if (matchesFilters(offered, input.filters)) filtered.push(offered);
    }
    const refined = input.buying_mode === 'refine' && Array.isArray(input.refine) ? refineProducts(filtered, input.refine as RefineEntry[]) : undefined;
    const ranked =
      refined?.ranked ??
      (input.brief && input.buying_mode !== 'wholesale' ? rankByBrief(filtered, input.brief) : filtered.map((product) => ({ product, relevance: undefined })));
    const showPricing = !!ctx.principal;
    const message = [
      'note' in ranked ? ranked.note : undefined,
      withoutPolicies ? `${withoutPolicies} product(s) left out: they do not declare enforcing every policy in required_policies.` : undefined,
      !showPricing ? 'Pricing is shown to authenticated buyers only; send your token to see pricing options.' : undefined,
    ]
      .filter(Boolean)
      .join(' ');
    const { page, pagination } = pageOf(ranked, input.pagination, listQuery(input));
    return {
      products: page.map(({ product, relevance }) => toAdcpProduct(product, { showPricing, relevance })),
      pagination,
      ...(refined && { refinement_applied: refined.applied }),
      cache_scope: 'public',
      ...(message && { message }),
    };
  },
});
