/**
 * Product presentation and brief matching. Pure functions over rows, so the
 * ranking is testable without a database.
 */
import type { ProductWithPricing, PricingOptionRow } from '../db/queries/inventory.js';
import { amountToNumber } from './money.js';

export const DEFAULT_REPORTING_CAPABILITIES = {
  // Delivery is stored per day; reporting webhooks go out hourly (the day so far), daily or monthly.
  available_reporting_frequencies: ['hourly', 'daily', 'monthly'],
  expected_delay_minutes: 240,
  timezone: 'UTC',
  supports_webhooks: true,
  available_metrics: ['impressions', 'spend', 'clicks', 'ctr', 'completed_views'],
  // AdCP 3.1: get_media_buy_delivery answers time_granularity pulls at these (delivery is stored per day).
  windowed_pull_granularities: ['daily', 'monthly'],
  date_range_support: 'date_range',
};

export function toAdcpPricingOption(po: PricingOptionRow): Record<string, unknown> {
  return {
    pricing_option_id: po.id,
    pricing_model: po.pricingModel,
    currency: po.currency,
    ...(po.fixedPrice != null && { fixed_price: amountToNumber(po.fixedPrice) }),
    ...(po.floorPrice != null && { floor_price: amountToNumber(po.floorPrice) }),
    ...(po.priceGuidance && { price_guidance: po.priceGuidance }),
    ...(po.minSpendPerPackage != null && { min_spend_per_package: amountToNumber(po.minSpendPerPackage) }),
    ...(po.parameters && { parameters: po.parameters }),
  };
}

export function toAdcpProduct(p: ProductWithPricing, opts: { showPricing: boolean; relevance?: string }): Record<string, unknown> {
  return {
    ...p.details,
    product_id: p.id,
    name: p.name,
    description: p.description,
    publisher_properties: p.publisherProperties,
    channels: p.channels,
    format_ids: p.formatIds,
    delivery_type: p.deliveryType,
    // Anonymous callers learn which pricing models exist, not the prices.
    pricing_options: opts.showPricing
      ? p.pricing.map(toAdcpPricingOption)
      : p.pricing.map((po) => ({ pricing_option_id: po.id, pricing_model: po.pricingModel, currency: po.currency })),
    reporting_capabilities: (p.details.reporting_capabilities as object | undefined) ?? DEFAULT_REPORTING_CAPABILITIES,
    ...(opts.relevance && { brief_relevance: opts.relevance }),
  };
}

const STOPWORDS = new Set(
  'a an and are as at be by for from has have in into is it its of on or our that the their them this to with we want looking campaign campaigns ads ad advertising buy need reach audience audiences'.split(' '),
);

/**
 * What a brief is matched on: its first MAX_BRIEF_TERMS distinct words (of at most MAX_TERM_LENGTH
 * characters; no product word is longer), read from its first MAX_BRIEF_SCAN characters. The bounds keep
 * ranking linear and small whatever the caller sends (a 4 MB brief of distinct words took 65 s).
 */
export const MAX_BRIEF_TERMS = 64;
const MAX_TERM_LENGTH = 40;
const MAX_BRIEF_SCAN = 20_000;

export function briefTerms(brief: string): string[] {
  const terms = new Set<string>();
  for (const [w] of brief.slice(0, MAX_BRIEF_SCAN).toLowerCase().matchAll(/[a-z0-9]+/g)) {
    if (w.length < 2 || w.length > MAX_TERM_LENGTH || STOPWORDS.has(w)) continue;
    terms.add(w);
    if (terms.size === MAX_BRIEF_TERMS) break;
  }
  return [...terms];
}

/**
 * Words a brief may use for a product's channel, keyed by the AdCP channel the product declares (olv,
 * ctv, streaming_audio, podcast, display...), so "audio" finds podcasts and "video" finds olv and ctv.
 */
const SYNONYMS: Record<string, string[]> = {
  olv: ['video', 'online', 'olv', 'preroll', 'pre', 'instream', 'outstream'],
  ctv: ['ctv', 'connected', 'tv', 'streaming', 'ott', 'television', 'video'],
  linear_tv: ['tv', 'television', 'linear', 'broadcast', 'video'],
  streaming_audio: ['audio', 'radio', 'streaming', 'music'],
  podcast: ['audio', 'podcast', 'podcasts'],
  radio: ['audio', 'radio'],
  display: ['display', 'banner', 'banners', 'web', 'site'],
  // Seller-defined channel names outside AdCP's list.
  video: ['olv', 'preroll', 'pre', 'instream', 'video'],
  audio: ['audio', 'podcast', 'podcasts', 'radio', 'streaming'],
  mobile: ['mobile', 'app', 'apps', 'phone'],
};

/** Score a product against brief terms: name hits weigh most, then channel, then description. */
export function scoreProduct(p: { name: string; description: string; channels: string[] }, terms: string[]): { score: number; matched: string[] } {
  const name = p.name.toLowerCase();
  // A term matches the description at the start of one of its words ("sport" in "sports").
  const descWords = p.description.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const channelWords = new Set(p.channels.flatMap((c) => [c, ...(SYNONYMS[c] ?? [])]));
  let score = 0;
  const matched: string[] = [];
  for (const t of terms) {
    let s = 0;
    if (name.includes(t)) s += 3;
    if (channelWords.has(t)) s += 2;
    if (descWords.some((w) => w.startsWith(t))) s += 1;
    if (s > 0) matched.push(t);
    score += s;
  }
  return { score, matched };
}

export function rankByBrief<T extends { name: string; description: string; channels: string[] }>(
  products: T[],
  brief: string,
): { product: T; relevance?: string }[] {
  const terms = briefTerms(brief);
  if (terms.length === 0) return products.map((product) => ({ product }));
  const scored = products.map((product) => ({ product, ...scoreProduct(product, terms) }));
  const hits = scored.filter((s) => s.score > 0).sort((a, b) => b.score - a.score);
  if (hits.length === 0) return products.map((product) => ({ product }));
  return hits.map((h) => ({ product: h.product, relevance: `Matches ${h.matched.join(', ')} in the brief.` }));
}
