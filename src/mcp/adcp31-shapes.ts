/**
 * AdCP 3.1 changed the shape of a few request fields that the 3.0.6 request schemas (the SDK's zod, which
 * validates our tool input) check. A tool's `prepare` runs before that validation and rewrites a 3.1 form
 * to the 3.0 form that means the same thing, or refuses a feature this seller refuses in any form with
 * the code it would give anyway, rather than a VALIDATION_ERROR about the shape:
 *
 * - Postal areas as country + local system ({country: "US", system: "zip"}) become the fused 3.0 system
 *   ("us_zip"). A country and system with no 3.0 token (Brazil's CEP, India's PIN, postal_code, custom)
 *   is UNSUPPORTED_FEATURE in targeting (postal targeting here is by the 3.0 systems), and left out of
 *   get_products' postal_areas filter and of get_media_buy_delivery's geo breakdown; a pair AdCP does
 *   not allow is VALIDATION_ERROR.
 * - get_products' signal_targeting filter by 3.1 signal_ref alone gets the deprecated SignalId 3.0 requires
 *   beside it (no product here offers signals, so such a filter finds none, with a message).
 * - Optimization goals and inline package creatives, in any form (3.1 adds vendor metrics, optional
 *   attribution windows, canonical-format creatives), are UNSUPPORTED_FEATURE, as they are in 3.0 form
 *   (src/domain/media-buy-plan.ts).
 *
 * The value-level additions of 3.1 (new enumeration values) are handled after validation, by
 * src/mcp/adcp31-values.ts.
 */
import { AdcpError } from '../domain/errors.js';
import { present, unsupportedGoals, unsupportedInlineCreatives } from '../domain/media-buy-plan.js';
import { LEGACY_POSTAL_SYSTEMS } from '../domain/seller-capabilities.js';

const SUPPORTED_POSTAL = Object.entries(LEGACY_POSTAL_SYSTEMS).flatMap(([country, systems]) => Object.keys(systems).map((s) => `${country} ${s}`));

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Countries 3.1 gives a postal system with no 3.0 token (core/postal-country-system.json): BR cep, IN pin, ZA postal_code. */
const POSTAL_31_ONLY: Record<string, string> = { BR: 'cep', IN: 'pin', ZA: 'postal_code' };
const REGISTERED_POSTAL_COUNTRIES = new Set([...Object.keys(LEGACY_POSTAL_SYSTEMS), ...Object.keys(POSTAL_31_ONLY)]);

/**
 * One postal area (or a delivery report's postal geo breakdown) in 3.0 form: the same object when it has
 * no country; undefined when its 3.1 system has no 3.0 token and `unsupported` is 'drop'.
 */
function legacyPostalArea(area: Json, field: string, unsupported: 'refuse' | 'drop'): Json | undefined {
  if (!('country' in area)) return area;
  const { country, system, ...rest } = area;
  const legacy = typeof country === 'string' && typeof system === 'string' ? LEGACY_POSTAL_SYSTEMS[country]?.[system] : undefined;
  if (legacy) return { ...rest, system: legacy };
  const valid31 =
    typeof country === 'string' &&
    /^[A-Z]{2}$/.test(country) &&
    (POSTAL_31_ONLY[country] === system || (!REGISTERED_POSTAL_COUNTRIES.has(country) && (system === 'postal_code' || system === 'custom')));
  if (valid31) {
    if (unsupported === 'drop') return undefined;
    throw new AdcpError('UNSUPPORTED_FEATURE', `Postal targeting by ${country} ${String(system)} codes is not supported by this seller.`, {
      field,
      suggestion: `Target by country or region instead, or use a supported postal system: ${SUPPORTED_POSTAL.join(', ')}.`,
    });
  }
  throw new AdcpError('VALIDATION_ERROR', `${JSON.stringify(system)} is not a postal system of ${JSON.stringify(country)} (AdCP core/postal-country-system.json).`, {
    field: `${field}.system`,
    suggestion: `Send a country (ISO 3166-1 alpha-2, in capitals) with its own system, e.g. ${SUPPORTED_POSTAL.slice(0, 4).join(', ')}; or the 3.0 form {system: "us_zip"} without country.`,
  });
}

/** A postal-area list with 3.1 entries in 3.0 form; the same array when there are none. */
function legacyPostalAreas(list: unknown, field: string, unsupported: 'refuse' | 'drop' = 'refuse'): unknown {
  if (!Array.isArray(list) || !list.some((a) => isObject(a) && 'country' in a)) return list;
  return list.map((area, i) => (isObject(area) ? legacyPostalArea(area, `${field}[${i}]`, unsupported) : area)).filter((a) => a !== undefined);
}

/** A targeting overlay with its postal areas in 3.0 form; the same object when nothing changes. */
function legacyTargeting(t: unknown, field: string): unknown {
  if (!isObject(t)) return t;
  let out = t;
  for (const k of ['geo_postal_areas', 'geo_postal_areas_exclude']) {
    const next = legacyPostalAreas(t[k], `${field}.${k}`);
    if (next !== t[k]) out = { ...out, [k]: next };
  }
  return out;
}

/** Packages of create_media_buy (packages) or update_media_buy (packages, new_packages), prepared. */
function preparePackages(args: Json, keys: readonly string[]): Json {
  let out = args;
  for (const key of keys) {
    const list = args[key];
    if (!Array.isArray(list)) continue;
    let changed = false;
    const next = list.map((pkg: unknown, i) => {
      if (!isObject(pkg)) return pkg;
      // Refused in any form, before validation: a 3.1 form would otherwise be a VALIDATION_ERROR about its shape.
      if (present(pkg.optimization_goals)) throw unsupportedGoals(`${key}[${i}].optimization_goals`);
      if (present(pkg.creatives)) throw unsupportedInlineCreatives(`${key}[${i}].creatives`);
      const targeting = legacyTargeting(pkg.targeting_overlay, `${key}[${i}].targeting_overlay`);
      if (targeting === pkg.targeting_overlay) return pkg;
      changed = true;
      return { ...pkg, targeting_overlay: targeting };
    });
    if (changed) out = { ...out, [key]: next };
  }
  return out;
}

export const prepareCreateMediaBuy = (args: Json): Json => preparePackages(args, ['packages']);
export const prepareUpdateMediaBuy = (args: Json): Json => preparePackages(args, ['packages', 'new_packages']);

export function prepareGetProducts(args: Json, ctx: { agentUrl: string }): Json {
  const filters = args.filters;
  if (!isObject(filters)) return args;
  let out = filters;
  // A coverage filter: areas in a system no product here covers match nothing, so they are left out rather than refused.
  const postal = legacyPostalAreas(filters.postal_areas, 'filters.postal_areas', 'drop');
  if (postal !== filters.postal_areas) {
    const { postal_areas: _, ...rest } = out;
    out = Array.isArray(postal) && postal.length > 0 ? { ...rest, postal_areas: postal } : rest;
  }
  const signals = legacySignalTargeting(filters.signal_targeting, ctx.agentUrl);
  if (signals !== filters.signal_targeting) out = { ...out, signal_targeting: signals };
  return out === filters ? args : { ...args, filters: out };
}

/**
 * The legacy SignalId that 3.1 keeps beside a SignalRef (core/signal-id.json, deprecated): a data provider's
 * signal is a catalog one; a signal source's, or a product-local one (native to this seller's agent), an agent one.
 */
function legacySignalId(ref: unknown, agentUrl: string): Json | undefined {
  if (!isObject(ref) || typeof ref.signal_id !== 'string') return undefined;
  if (ref.scope === 'data_provider' && typeof ref.data_provider_domain === 'string') return { source: 'catalog', data_provider_domain: ref.data_provider_domain, id: ref.signal_id };
  if (ref.scope === 'signal_source' && typeof ref.signal_source_url === 'string') return { source: 'agent', agent_url: ref.signal_source_url, id: ref.signal_id };
  if (ref.scope === 'product') return { source: 'agent', agent_url: agentUrl, id: ref.signal_id };
  return undefined;
}

/** get_products' signal_targeting filter with each 3.1 signal_ref also given as the SignalId 3.0 requires; the same array when none lacks one. */
function legacySignalTargeting(list: unknown, agentUrl: string): unknown {
  const lacking = (e: unknown): e is Json => isObject(e) && !('signal_id' in e) && 'signal_ref' in e;
  if (!Array.isArray(list) || !list.some(lacking)) return list;
  return list.map((e) => {
    const id = lacking(e) ? legacySignalId(e.signal_ref, agentUrl) : undefined;
    return id && isObject(e) ? { ...e, signal_id: id } : e;
  });
}

/**
 * get_media_buy_delivery's postal geo breakdown in 3.1 form (country + system) becomes the 3.0 system.
 * This seller reports no breakdowns, and AdCP has unsupported dimensions silently omitted, so one with
 * no 3.0 system is dropped rather than refused; a pair AdCP does not allow is still VALIDATION_ERROR.
 */
export function prepareGetMediaBuyDelivery(args: Json): Json {
  const dims = args.reporting_dimensions;
  if (!isObject(dims) || !isObject(dims.geo) || !('country' in dims.geo)) return args;
  const geo = legacyPostalArea(dims.geo, 'reporting_dimensions.geo', 'drop');
  const { geo: _, ...rest } = dims;
  return { ...args, reporting_dimensions: geo ? { ...rest, geo } : rest };
}

/** Asset types AdCP 3.1 added, which no format of this seller takes (sync_creatives). */
const ASSET_TYPES_31 = new Set(['pixel_tracker', 'vast_tracker', 'daast_tracker', 'zip', 'card', 'published_post']);

/**
 * One creative of sync_creatives, prepared like a tool's arguments (each creative is judged on its own): an
 * asset slot given as a one-asset array (3.1) becomes that asset; a canonical format (format_kind with no
 * format_id), several assets in one slot, or an asset type 3.1 added is UNSUPPORTED_FEATURE, naming what to send.
 */
export function prepareCreative(c: Json, at: string): Json {
  if (c.format_kind != null && c.format_id == null) {
    throw new AdcpError('UNSUPPORTED_FEATURE', 'Canonical formats (format_kind) are not supported by this seller: a creative names one of its formats.', {
      field: `${at}.format_kind`,
      suggestion: 'Send format_id {agent_url, id} with a format from list_creative_formats.',
    });
  }
  const assets = c.assets;
  if (!isObject(assets)) return c;
  let out: Json | undefined;
  for (const [slot, value] of Object.entries(assets)) {
    let asset = value;
    if (Array.isArray(value) && value.length > 0) {
      if (value.length > 1) {
        throw new AdcpError('UNSUPPORTED_FEATURE', `Several assets in one slot ("${slot}") are not supported by this seller.`, {
          field: `${at}.assets.${slot}`,
          suggestion: 'Send one asset per slot, as the format in list_creative_formats lists them.',
        });
      }
      asset = value[0];
      out = { ...(out ?? assets), [slot]: asset };
    }
    const type = isObject(asset) ? asset.asset_type : undefined;
    if (typeof type === 'string' && ASSET_TYPES_31.has(type)) {
      throw new AdcpError('UNSUPPORTED_FEATURE', `Assets of type ${type} are not supported by this seller's formats.`, {
        field: `${at}.assets.${slot}.asset_type`,
        suggestion: 'Send the asset types the format lists in list_creative_formats (for a tracking pixel: asset_type url with url_type tracker_pixel).',
      });
    }
  }
  return out ? { ...c, assets: out } : c;
}
