/**
 * What this seller offers across its inventory, declared once: get_adcp_capabilities publishes it
 * (media_buy.features, media_buy.execution.targeting) and get_products' seller-level filters judge
 * against it (required_features, required_geo_targeting), so the two never disagree. The targeting
 * declared is what create_media_buy and update_media_buy accept in targeting_overlay and hand to the
 * ad server (src/domain/media-buy-plan.ts); AdCP: a seller MUST honour what it declares.
 */

/** AdCP media-buy features (core/media-buy-features.json): none of the optional ones is offered. */
export const MEDIA_BUY_FEATURES = {
  inline_creative_management: false,
  property_list_filtering: false,
  catalog_management: false,
} as const;

const METRO_SYSTEMS = ['nielsen_dma', 'uk_itl1', 'uk_itl2', 'eurostat_nuts2'] as const;
/** AdCP 3.1 country + local postal system -> the 3.0 system token (core/postal-country-system.json). */
export const LEGACY_POSTAL_SYSTEMS: Record<string, Record<string, string>> = {
  US: { zip: 'us_zip', zip_plus_four: 'us_zip_plus_four' },
  GB: { outward: 'gb_outward', full: 'gb_full' },
  CA: { fsa: 'ca_fsa', full: 'ca_full' },
  DE: { plz: 'de_plz' },
  CH: { plz: 'ch_plz' },
  AT: { plz: 'at_plz' },
  FR: { code_postal: 'fr_code_postal' },
  AU: { postcode: 'au_postcode' },
};

/** AdCP 3.0's postal systems, all taken (3.1's country + system pairs map onto them, src/mcp/adcp31-shapes.ts). */
const POSTAL_SYSTEMS = Object.values(LEGACY_POSTAL_SYSTEMS).flatMap((systems) => Object.values(systems));
const MATCH_TYPES = ['broad', 'phrase', 'exact'];

/** media_buy.execution.targeting: the dimensions targeting_overlay takes. */
export const TARGETING_CAPABILITIES = {
  geo_countries: true,
  geo_regions: true,
  geo_metros: Object.fromEntries(METRO_SYSTEMS.map((s) => [s, true])),
  geo_postal_areas: Object.fromEntries(POSTAL_SYSTEMS.map((s) => [s, true])),
  language: true,
  keyword_targets: { supported_match_types: MATCH_TYPES },
  negative_keywords: { supported_match_types: MATCH_TYPES },
};

/**
 * The same postal support as AdCP 3.1 prefers it (core/postal-area-support.json): country -> local systems,
 * beside the 3.0 tokens it keeps as deprecated aliases. Served to 3.1 callers only: 3.0's schema allows no other keys.
 */
export function postalSupport31(): Record<string, unknown> {
  return { ...Object.fromEntries(Object.entries(LEGACY_POSTAL_SYSTEMS).map(([country, systems]) => [country, Object.keys(systems)])), ...TARGETING_CAPABILITIES.geo_postal_areas };
}

interface GeoRequirement {
  level?: string;
  system?: string;
  /** AdCP 3.1: a postal system may be named country-local, with its country. */
  country?: string;
}

function supportsGeo(r: GeoRequirement): boolean {
  switch (r.level) {
    case 'country':
      return TARGETING_CAPABILITIES.geo_countries;
    case 'region':
      return TARGETING_CAPABILITIES.geo_regions;
    // With no system named, any system of the level will do.
    case 'metro':
      return r.system === undefined ? Object.values(TARGETING_CAPABILITIES.geo_metros).some(Boolean) : TARGETING_CAPABILITIES.geo_metros[r.system] === true;
    case 'postal_area': {
      const system = r.country && r.system ? (LEGACY_POSTAL_SYSTEMS[r.country]?.[r.system] ?? r.system) : r.system;
      return system === undefined ? Object.values(TARGETING_CAPABILITIES.geo_postal_areas).some(Boolean) : TARGETING_CAPABILITIES.geo_postal_areas[system] === true;
    }
    default:
      return false;
  }
}

/**
 * Why no product of this seller meets the seller-level requirements of get_products' filters, or undefined
 * when they are met: a media-buy feature asked for (true) that is not offered, a geo targeting level or system
 * not supported, signals (no product carries data-provider signals), Trusted Match or agentic-exchange
 * execution (none offered), third-party vendor metrics (AdCP 3.1; no product reports any).
 */
export function unmetSellerRequirement(f: Record<string, unknown>): string | undefined {
  const features = f.required_features as Record<string, unknown> | undefined;
  const feature = Object.entries(features ?? {}).find(([k, v]) => v === true && (MEDIA_BUY_FEATURES as Record<string, boolean>)[k] !== true);
  if (feature) return `required_features.${feature[0]}`;
  const geo = (f.required_geo_targeting as GeoRequirement[] | undefined)?.find((r) => !supportsGeo(r));
  if (geo) return 'required_geo_targeting';
  const nonEmpty = (k: string) => Array.isArray(f[k]) && (f[k] as unknown[]).length > 0;
  for (const k of ['signal_targeting', 'required_axe_integrations', 'required_vendor_metrics']) if (nonEmpty(k)) return k;
  const tmp = f.trusted_match as Record<string, unknown> | null | undefined;
  if (tmp && Object.values(tmp).some((v) => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null && v !== false))) return 'trusted_match';
  return undefined;
}

/** Who may be invoiced: the operator (agency) or the buying agent. capabilities declare it; sync_accounts refuses any other. */
export const SUPPORTED_BILLING = ['operator', 'agent'] as const;
