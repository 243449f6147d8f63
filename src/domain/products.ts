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

/** Whether a product enforces every policy a buyer requires (get_products required_policies), as its enforced_policies declares. */
export function enforcesPolicies(p: ProductWithPricing, required: readonly string[] | undefined): boolean {
  if (!required?.length) return true;
  const enforced = p.details.enforced_policies;
  return Array.isArray(enforced) && required.every((id) => enforced.includes(id));
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

/** Country names that briefs use as other words far more often: US states, a holiday bird, a brand, first names. */
const AMBIGUOUS_NAMES = new Set(['jersey', 'georgia', 'turkey', 'jordan', 'chad', 'guernsey', 'man']);

let countryNames: { byName: ReadonlyMap<string, string>; longest: number } | undefined;

/**
 * Country names (English, as Intl names them: "Germany", "United States", "South Korea") and common short
 * forms, to ISO 3166-1 alpha-2, and the most words a name has. Built on first use, not at start-up: asking
 * Intl about every code takes some 50 ms.
 */
function countryNamesIndex(): { byName: ReadonlyMap<string, string>; longest: number } {
  if (countryNames) return countryNames;
  const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
  const map = new Map<string, string>();
  for (let a = 65; a <= 90; a++) {
    for (let b = 65; b <= 90; b++) {
      // Deprecated codes (DD, UK, YU...) are named as the country that replaced them: keep only canonical ones.
      const code = String.fromCharCode(a, b);
      if (Intl.getCanonicalLocales(`und-${code}`)[0] !== `und-${code}`) continue;
      const name = names.of(code);
      // Intl names only real regions with fallback "none"; skip the grouping ones (EU, UN, "world"...).
      if (name && name !== code && !/union|nations|world|unknown|pseudo/i.test(name) && !AMBIGUOUS_NAMES.has(name.toLowerCase())) map.set(name.toLowerCase(), code);
    }
  }
  for (const [alias, code] of Object.entries({ usa: 'US', 'united states of america': 'US', uk: 'GB', britain: 'GB', 'great britain': 'GB', england: 'GB', holland: 'NL', 'south korea': 'KR', korea: 'KR' })) map.set(alias, code);
  countryNames = { byName: map, longest: Math.max(...[...map.keys()].map((n) => n.split(' ').length)) };
  return countryNames;
}

/**
 * The countries a brief names ("CTV in Germany and Austria" → DE, AT): by name, and as the upper-case
 * codes briefs write without ambiguity (US, USA, UK). Other two-letter codes are not read: most are also
 * words or US state codes ("IT", "IN", "CA", "DE").
 */
export function briefCountries(brief: string): string[] {
  const text = brief.slice(0, MAX_BRIEF_SCAN);
  const found = new Set<string>();
  for (const [code] of text.matchAll(/\b(?:US|USA|UK)\b/g)) found.add(code === 'UK' ? 'GB' : 'US');
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  const { byName, longest } = countryNamesIndex();
  for (let i = 0; i < words.length; i++) {
    // "New Mexico" is a US state, not Mexico ("New Zealand" is matched whole, before this word).
    if (words[i - 1] === 'new') continue;
    for (let n = Math.min(longest, words.length - i); n >= 1; n--) {
      const code = byName.get(words.slice(i, i + n).join(' '));
      if (code) {
        found.add(code);
        i += n - 1;
        break;
      }
    }
  }
  return [...found];
}

/** The budget a brief states, in its own currency units ("$2,000", "50k USD", "€1.5m"), if it states one. */
export function briefBudget(brief: string): number | undefined {
  const text = brief.slice(0, MAX_BRIEF_SCAN);
  const m =
    /(?:[$€£]|\b(?:usd|eur|gbp)\s?)\s?(\d[\d,]*(?:\.\d+)?)\s?(k|m|thousand|million)?\b/i.exec(text) ??
    /\b(\d[\d,]*(?:\.\d+)?)\s?(k|m|thousand|million)?\s?(?:usd|eur|gbp|dollars|euros|pounds)\b/i.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]!.replace(/,/g, ''));
  const unit = m[2]?.toLowerCase();
  const scaled = value * (unit === 'k' || unit === 'thousand' ? 1e3 : unit === 'm' || unit === 'million' ? 1e6 : 1);
  return Number.isFinite(scaled) && scaled > 0 ? scaled : undefined;
}

type Rankable = { name: string; description: string; channels: string[]; countries?: string[]; pricing?: { minSpendPerPackage: string | null }[] };

/**
 * Products ranked for a brief, best first, each with why it matched. Those sold only in other countries
 * than the brief names (one with no countries listed sells anywhere), then those whose smallest minimum
 * spend is above the budget the brief states, go after the others, saying so; none is left out, as a
 * brief is read loosely (filters.countries and filters.budget_range are exact). `note` sums it up.
 */
export function rankByBrief<T extends Rankable>(products: T[], brief: string): { product: T; relevance?: string }[] & { note?: string } {
  const countries = briefCountries(brief);
  const elsewhere = (p: T) => countries.length > 0 && !!p.countries?.length && !p.countries.some((c) => countries.includes(c));
  const budget = briefBudget(brief);
  const minimum = (p: T) => Math.min(...(p.pricing ?? []).map((o) => (o.minSpendPerPackage == null ? 0 : Number(o.minSpendPerPackage))));
  const overBudget = (p: T) => budget !== undefined && (p.pricing?.length ?? 0) > 0 && minimum(p) > budget;
  const terms = briefTerms(brief);
  const scored = products.map((product) => ({ product, ...scoreProduct(product, terms) }));
  const hits = scored.filter((s) => s.score > 0);
  const chosen = (hits.length ? hits : scored).map((h, i) => ({ ...h, i, away: elsewhere(h.product), over: overBudget(h.product) }));
  // Stable: equal keys keep the catalogue's order.
  chosen.sort((a, b) => Number(a.away) - Number(b.away) || Number(a.over) - Number(b.over) || b.score - a.score || a.i - b.i);
  const ranked = chosen.map((h) => {
    const why = [
      ...(h.score > 0 ? [`Matches ${h.matched.join(', ')} in the brief.`] : []),
      ...(h.away ? [`Not sold in ${countries.join(', ')} (sold in ${h.product.countries!.join(', ')}).`] : []),
      ...(h.over ? [`Its minimum spend (${minimum(h.product)}) is above the brief's budget (${budget}).`] : []),
    ];
    return { product: h.product, relevance: why.length ? why.join(' ') : undefined };
  }) as { product: T; relevance?: string }[] & { note?: string };
  const away = chosen.filter((h) => h.away).length;
  if (away > 0) {
    ranked.note =
      away === chosen.length
        ? `No product here is sold in ${countries.join(', ')}, the countries the brief names.`
        : `${away} of these products are not sold in ${countries.join(', ')}, the countries the brief names; they are listed last.`;
  }
  return ranked;
}

/** One entry of get_products' refine array (AdCP buying_mode "refine"), as the request schema has it. */
export type RefineEntry =
  | { scope: 'request'; ask: string }
  | { scope: 'product'; product_id: string; action?: 'include' | 'omit' | 'more_like_this'; ask?: string }
  | { scope: 'proposal'; proposal_id: string; action?: string; ask?: string };

type Refinable = Rankable & { id: string };

/**
 * buying_mode "refine": the products the buyer's asks leave, and how each ask was met (AdCP refinement_applied,
 * entry for entry). Products named include or more_like_this are the selection (with, for more_like_this, the
 * others sharing a channel), else the whole catalogue offered; omitted ones go; request-level asks rank what
 * is left as a brief would. Per-product asks (another format, a price) are not negotiated here: partial, saying so.
 * This seller makes no proposals, so proposal asks are unable.
 */
export function refineProducts<T extends Refinable>(offered: T[], refine: RefineEntry[]): { ranked: { product: T; relevance?: string }[] & { note?: string }; applied: Record<string, unknown>[] } {
  const byId = new Map(offered.map((p) => [p.id, p]));
  const applied: Record<string, unknown>[] = [];
  const picked = new Map<string, T>();
  const omitted = new Set<string>();
  const asks: string[] = [];
  for (const r of refine) {
    if (r.scope === 'request') {
      asks.push(r.ask);
      applied.push({ scope: 'request', status: 'partial', notes: 'The products are chosen and ranked by this ask, as a brief; packages are not redesigned.' });
    } else if (r.scope === 'proposal') {
      applied.push({ scope: 'proposal', proposal_id: r.proposal_id, status: 'unable', notes: 'This seller makes no proposals.' });
    } else {
      const action = r.action ?? 'include';
      const product = byId.get(r.product_id);
      if (action === 'omit') {
        omitted.add(r.product_id);
        applied.push({ scope: 'product', product_id: r.product_id, status: 'applied' });
      } else if (!product) {
        applied.push({ scope: 'product', product_id: r.product_id, status: 'unable', notes: 'No such product is offered to you (with these filters).' });
      } else {
        picked.set(product.id, product);
        let similar = 0;
        if (action === 'more_like_this') {
          for (const p of offered) {
            if (!picked.has(p.id) && p.channels.some((c) => product.channels.includes(c))) {
              picked.set(p.id, p);
              similar++;
            }
          }
        }
        const notes = [
          action === 'more_like_this' ? `${similar} more product(s) sharing its channels.` : undefined,
          r.ask ? 'Per-product changes are not negotiated here: the product is offered as it stands.' : undefined,
        ].filter(Boolean);
        applied.push({ scope: 'product', product_id: r.product_id, status: r.ask ? 'partial' : 'applied', ...(notes.length && { notes: notes.join(' ') }) });
      }
    }
  }
  const base = (picked.size ? [...picked.values()] : offered).filter((p) => !omitted.has(p.id));
  const ranked = asks.length ? rankByBrief(base, asks.join('. ')) : base.map((product) => ({ product, relevance: undefined }));
  return { ranked, applied };
}
