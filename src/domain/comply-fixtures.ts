/**
 * comply_test_controller seed fixtures as rows. A storyboard fixture names only
 * what it tests (delivery_type, channels, format ids, a price; a buy's status and
 * currency; a creative's status and format); the rest of a schema-complete AdCP
 * product comes from the tenant's own catalogue, and a buy or creative gets
 * plain defaults, so what is seeded lists (and a product sells) like any other.
 * Pure: bad fixtures throw FixtureError, which the controller answers as
 * INVALID_PARAMS.
 */
import type { FormatRef } from '../db/schema/index.js';
import { CREATIVE_STATUSES } from './creatives.js';
import { decimalPlaces, fromUnits, minorUnits, toUnits } from './money.js';
import { DEFAULT_REPORTING_CAPABILITIES } from './products.js';
import { MEDIA_BUY_STATUSES } from './status.js';

export class FixtureError extends Error {}

const CHANNELS = new Set([
  'display', 'olv', 'social', 'search', 'ctv', 'linear_tv', 'radio', 'streaming_audio', 'podcast', 'dooh', 'ooh', 'print',
  'cinema', 'email', 'gaming', 'retail_media', 'influencer', 'affiliate', 'product_placement', 'sponsored_intelligence',
]);
/** Storyboards say "video"; AdCP 3 calls online video "olv". */
const CHANNEL_ALIASES: Record<string, string> = { video: 'olv', online_video: 'olv', audio: 'streaming_audio', tv: 'linear_tv', native: 'display', banner: 'display' };
const PRICING_MODELS = new Set(['cpm', 'vcpm', 'cpc', 'cpcv', 'cpv', 'cpp', 'cpa', 'flat_rate', 'time']);
const DELIVERY_TYPES = new Set(['guaranteed', 'non_guaranteed']);
/** Fixture keys that map to product columns; every other key is kept as an AdCP product field. */
const COLUMN_KEYS = new Set(['product_id', 'name', 'description', 'channels', 'delivery_type', 'format_ids', 'publisher_properties', 'countries', 'pricing_options']);

export interface CatalogueHints {
  formats: { id: string; agentUrl: string }[];
  properties: { id: string; publisherDomain: string }[];
  publisherDomain: string | null;
  /** This agent's URL: the last resort for a format's agent_url and a publisher domain. */
  agentUrl: string;
  currency: string;
}

export interface SeededProduct {
  id: string;
  name: string;
  description: string;
  channels: string[];
  deliveryType: string;
  formatIds: FormatRef[];
  publisherProperties: Record<string, unknown>[];
  countries: string[];
  details: Record<string, unknown>;
}

/** A creative format the tenant's catalogue lacks but a seeded product names. */
export interface SeededFormat {
  id: string;
  agentUrl: string;
  name: string;
  type: string;
  spec: Record<string, unknown>;
}

export interface SeededPricingOption {
  id: string;
  pricingModel: string;
  currency: string;
  fixedPrice: string | null;
  floorPrice: string | null;
  priceGuidance: Record<string, number> | null;
  minSpendPerPackage: string | null;
  parameters: Record<string, unknown> | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const titleCase = (id: string) => id.split(/[_-]+/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');

function amount(v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new FixtureError(`${field} must be a non-negative number.`);
  return fromUnits(toUnits(v));
}

function channelsOf(v: unknown): string[] {
  if (v === undefined) return ['display'];
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) throw new FixtureError('fixture.channels must be an array of strings.');
  const mapped = v.map((c) => CHANNEL_ALIASES[c] ?? c);
  const unknown = mapped.filter((c) => !CHANNELS.has(c));
  if (unknown.length) throw new FixtureError(`Unknown channel(s): ${unknown.join(', ')}.`);
  return [...new Set(mapped)];
}

function formatsOf(v: unknown, hints: CatalogueHints): FormatRef[] {
  const fallbackUrl = hints.formats[0]?.agentUrl ?? hints.agentUrl;
  if (v === undefined) return hints.formats[0] ? [{ agent_url: hints.formats[0].agentUrl, id: hints.formats[0].id }] : [];
  if (!Array.isArray(v)) throw new FixtureError('fixture.format_ids must be an array of {id, agent_url?}.');
  return v.map((f, i) => {
    if (!isObject(f) || typeof f.id !== 'string' || !f.id) throw new FixtureError(`fixture.format_ids[${i}].id is required.`);
    const agentUrl = typeof f.agent_url === 'string' ? f.agent_url : (hints.formats.find((x) => x.id === f.id)?.agentUrl ?? fallbackUrl);
    return { agent_url: agentUrl, id: f.id };
  });
}

function propertiesOf(v: unknown, hints: CatalogueHints): Record<string, unknown>[] {
  if (v !== undefined) {
    if (Array.isArray(v) && v.length > 0 && v.every(isObject)) return v;
    throw new FixtureError('fixture.publisher_properties must be a non-empty array of selectors.');
  }
  const byDomain = new Map<string, string[]>();
  for (const p of hints.properties) byDomain.set(p.publisherDomain, [...(byDomain.get(p.publisherDomain) ?? []), p.id]);
  if (byDomain.size > 0) return [...byDomain].map(([domain, ids]) => ({ publisher_domain: domain, selection_type: 'by_id', property_ids: ids }));
  return [{ publisher_domain: hints.publisherDomain ?? new URL(hints.agentUrl).hostname, selection_type: 'all' }];
}

export function productFromFixture(productId: string, fixture: Record<string, unknown>, hints: CatalogueHints): SeededProduct {
  const deliveryType = fixture.delivery_type ?? 'guaranteed';
  if (typeof deliveryType !== 'string' || !DELIVERY_TYPES.has(deliveryType)) throw new FixtureError('fixture.delivery_type must be guaranteed or non_guaranteed.');
  const channels = channelsOf(fixture.channels);
  const countries = fixture.countries ?? [];
  if (!Array.isArray(countries) || !countries.every((c) => typeof c === 'string')) throw new FixtureError('fixture.countries must be an array of country codes.');
  const extra = Object.fromEntries(Object.entries(fixture).filter(([k]) => !COLUMN_KEYS.has(k)));
  return {
    id: productId,
    name: typeof fixture.name === 'string' ? fixture.name : `${titleCase(productId)} (test)`,
    description: typeof fixture.description === 'string' ? fixture.description : `Test product seeded by comply_test_controller: ${deliveryType.replace('_', '-')} ${channels.join(', ')}.`,
    channels,
    deliveryType,
    formatIds: formatsOf(fixture.format_ids, hints),
    publisherProperties: propertiesOf(fixture.publisher_properties, hints),
    countries,
    details: { reporting_capabilities: DEFAULT_REPORTING_CAPABILITIES, ...extra },
  };
}

const asset = (asset_id: string, asset_type: string, asset_role: string) => ({ item_type: 'individual', asset_id, asset_type, asset_role, required: true });

/**
 * Formats a seeded product names that the tenant does not list yet, described
 * from their ids ("display_300x250", "video_30s"), so list_creative_formats
 * resolves every format_id a product carries.
 */
export function missingFormats(product: SeededProduct, hints: CatalogueHints): SeededFormat[] {
  const known = new Set(hints.formats.map((f) => f.id));
  const audioChannel = product.channels.some((c) => ['streaming_audio', 'podcast', 'radio'].includes(c));
  const videoChannel = product.channels.some((c) => ['olv', 'ctv', 'linear_tv', 'cinema'].includes(c));
  return product.formatIds
    .filter((f) => !known.has(f.id))
    .map((f) => {
      const size = /(\d+)x(\d+)/.exec(f.id);
      const seconds = /(\d+)s(?:_|$)/.exec(f.id)?.[1];
      const type = size ? 'display' : /audio/.test(f.id) || (audioChannel && !/video/.test(f.id)) ? 'audio' : /video|preroll/.test(f.id) || videoChannel ? 'video' : 'display';
      const spec: Record<string, unknown> =
        type === 'display'
          ? { description: 'Image banner (test format).', ...(size && { renders: [{ role: 'primary', dimensions: { width: Number(size[1]), height: Number(size[2]) } }] }), assets: [asset('banner_image', 'image', 'hero_image')] }
          : type === 'video'
            ? { description: `${seconds ? `${seconds}-second ` : ''}video, VAST tag or MP4 (test format).`, assets: [asset('video', 'video', 'hero_video')] }
            : { description: `${seconds ? `${seconds}-second ` : ''}audio spot (test format).`, assets: [asset('audio', 'audio', 'audio_spot')] };
      return { id: f.id, agentUrl: f.agent_url, name: titleCase(f.id), type, spec };
    });
}

/** Pricing options carried inline in a product fixture (`pricing_options: [...]`). */
export function inlinePricingOptions(fixture: Record<string, unknown>, currency: string): SeededPricingOption[] {
  const list = fixture.pricing_options;
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new FixtureError('fixture.pricing_options must be an array.');
  return list.map((po, i) => {
    if (!isObject(po) || typeof po.pricing_option_id !== 'string') throw new FixtureError(`fixture.pricing_options[${i}].pricing_option_id is required.`);
    return pricingFromFixture(po.pricing_option_id, po, currency);
  });
}

export function pricingFromFixture(pricingOptionId: string, fixture: Record<string, unknown>, currency: string): SeededPricingOption {
  const model = fixture.pricing_model ?? 'cpm';
  if (typeof model !== 'string' || !PRICING_MODELS.has(model)) throw new FixtureError(`Unknown pricing_model ${JSON.stringify(model)}.`);
  const cur = fixture.currency ?? currency;
  if (typeof cur !== 'string' || !/^[A-Z]{3}$/.test(cur)) throw new FixtureError('fixture.currency must be an ISO 4217 code such as USD.');
  const fixedPrice = amount(fixture.fixed_price, 'fixture.fixed_price');
  const floorPrice = amount(fixture.floor_price, 'fixture.floor_price');
  if (fixedPrice !== null && floorPrice !== null) throw new FixtureError('fixture.fixed_price and fixture.floor_price are mutually exclusive.');
  const guidance = fixture.price_guidance;
  if (guidance !== undefined && !(isObject(guidance) && Object.values(guidance).every((n) => typeof n === 'number'))) {
    throw new FixtureError('fixture.price_guidance must map percentiles to numbers.');
  }
  if (fixture.parameters !== undefined && !isObject(fixture.parameters)) throw new FixtureError('fixture.parameters must be an object.');
  return {
    id: pricingOptionId,
    pricingModel: model,
    currency: cur,
    fixedPrice,
    floorPrice,
    priceGuidance: (guidance as Record<string, number> | undefined) ?? null,
    minSpendPerPackage: amount(fixture.min_spend_per_package, 'fixture.min_spend_per_package'),
    parameters: (fixture.parameters as Record<string, unknown> | undefined) ?? null,
  };
}

/** A media buy seeded by seed_media_buy: no packages, so nothing of it goes to an ad server. */
export interface SeededMediaBuy {
  id: string;
  status: string;
  currency: string;
  totalBudget: string;
  startTime: Date;
  endTime: Date;
  buyerRef: string | null;
}

const DAY = 24 * 3600 * 1000;

function timeOf(v: unknown, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new FixtureError(`${field} must be an ISO 8601 date-time.`);
  return d;
}

/**
 * A flight that fits the status when the fixture gives none: one that has ended for a completed buy, one still
 * to start for a buy not live yet (or never live), one under way otherwise; 30 days long.
 */
function defaultFlight(status: string, now: Date): [Date, Date] {
  const t = now.getTime();
  if (status === 'completed') return [new Date(t - 31 * DAY), new Date(t - DAY)];
  if (status === 'pending_creatives' || status === 'pending_start' || status === 'rejected') return [new Date(t + DAY), new Date(t + 31 * DAY)];
  return [new Date(t - DAY), new Date(t + 29 * DAY)];
}

/** A media buy fixture ({status, currency, total_budget, start_time, end_time, buyer_ref}; all optional). */
export function mediaBuyFromFixture(mediaBuyId: string, fixture: Record<string, unknown>, defaults: { currency: string; now: Date }): SeededMediaBuy {
  if (fixture.packages !== undefined) throw new FixtureError('fixture.packages is not supported: a seeded media buy has no packages. Buy packages with create_media_buy.');
  const status = fixture.status ?? 'active';
  // AdCP's media-buy statuses (pending_approval is ours: AdCP shows such a buy as pending_start).
  if (typeof status !== 'string' || status === 'pending_approval' || !(MEDIA_BUY_STATUSES as readonly string[]).includes(status)) {
    throw new FixtureError(`fixture.status must be one of ${MEDIA_BUY_STATUSES.filter((x) => x !== 'pending_approval').join(', ')}.`);
  }
  const currency = fixture.currency ?? defaults.currency;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) throw new FixtureError('fixture.currency must be an ISO 4217 code such as USD.');
  const budget = fixture.total_budget ?? 0;
  if (typeof budget !== 'number' || !Number.isFinite(budget) || budget < 0) throw new FixtureError('fixture.total_budget must be a non-negative number.');
  if (decimalPlaces(budget) > minorUnits(currency)) throw new FixtureError(`fixture.total_budget has more decimals than ${currency} has (${minorUnits(currency)}).`);
  if (fixture.buyer_ref !== undefined && typeof fixture.buyer_ref !== 'string') throw new FixtureError('fixture.buyer_ref must be a string.');
  const [defaultStart, defaultEnd] = defaultFlight(status, defaults.now);
  const start = timeOf(fixture.start_time, 'fixture.start_time');
  const end = timeOf(fixture.end_time, 'fixture.end_time');
  // One end given: the other keeps the default flight's length from it.
  const startTime = start ?? (end ? new Date(end.getTime() - (defaultEnd.getTime() - defaultStart.getTime())) : defaultStart);
  const endTime = end ?? (start ? new Date(start.getTime() + (defaultEnd.getTime() - defaultStart.getTime())) : defaultEnd);
  if (endTime <= startTime) throw new FixtureError('fixture.end_time must be after fixture.start_time.');
  return { id: mediaBuyId, status, currency, totalBudget: fromUnits(toUnits(budget)), startTime, endTime, buyerRef: (fixture.buyer_ref as string | undefined) ?? null };
}

/** A creative seeded by seed_creative, in the buyer's library (in no account). */
export interface SeededCreative {
  id: string;
  name: string;
  formatId: FormatRef;
  status: string;
  assets: Record<string, unknown>;
  details: Record<string, unknown>;
}

/** A creative fixture ({status, format_id, name, assets, rejection_reason}; all optional). */
export function creativeFromFixture(creativeId: string, fixture: Record<string, unknown>, hints: Pick<CatalogueHints, 'formats' | 'agentUrl'>): SeededCreative {
  const status = fixture.status ?? 'approved';
  if (typeof status !== 'string' || !(CREATIVE_STATUSES as readonly string[]).includes(status)) throw new FixtureError(`fixture.status must be one of ${CREATIVE_STATUSES.join(', ')}.`);
  // The format as named (an id alone will do), or the seller's first; its agent URL the seller's for a format it lists.
  const named = typeof fixture.format_id === 'string' ? { id: fixture.format_id } : fixture.format_id;
  if (named !== undefined && !(isObject(named) && typeof named.id === 'string' && named.id && (named.agent_url === undefined || typeof named.agent_url === 'string'))) {
    throw new FixtureError('fixture.format_id must be {id, agent_url?}.');
  }
  const [formatId] = formatsOf(named === undefined ? undefined : [named], hints as CatalogueHints);
  if (!formatId) throw new FixtureError('fixture.format_id is required: this seller lists no formats to default to.');
  if (fixture.name !== undefined && (typeof fixture.name !== 'string' || !fixture.name.trim())) throw new FixtureError('fixture.name must be a non-empty string.');
  if (fixture.assets !== undefined && !isObject(fixture.assets)) throw new FixtureError('fixture.assets must be an object keyed by asset id.');
  if (fixture.rejection_reason !== undefined && typeof fixture.rejection_reason !== 'string') throw new FixtureError('fixture.rejection_reason must be a string.');
  const rejection = status === 'rejected' ? { rejection_reason: (fixture.rejection_reason as string | undefined) ?? 'Rejected by the seller (comply_test_controller).' } : {};
  return {
    id: creativeId,
    name: (fixture.name as string | undefined) ?? `${titleCase(creativeId)} (test)`,
    formatId,
    status,
    assets: (fixture.assets as Record<string, unknown> | undefined) ?? {},
    details: rejection,
  };
}
