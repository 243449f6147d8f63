/**
 * Tool input is validated with the AdCP 3.0.6 request schemas (the SDK's zod). AdCP 3.1 added values to
 * some of the enumerations those schemas close, so a valid 3.1 request could be refused for, say,
 * `reporting_webhook.requested_metrics: ["cpm"]` or a creative `status: "suspended"`. Here a value 3.1
 * added is accepted where 3.0 listed the older set: the request is parsed with a 3.0 stand-in in its
 * place, and the buyer's value is put back in the parsed input. The tools then answer it on its merits
 * (a metric no product reports is UNSUPPORTED_FEATURE, a status nothing has matches nothing).
 *
 * An enumeration is recognised by its values: every value 3.1 kept must be among the 3.0 schema's, so an
 * unrelated enumeration that shares a few values is never widened. The tables are AdCP 3.1.19's
 * (tests/unit/adcp31-values.test.ts checks them against the reference schemas).
 * 3.1 changes of shape rather than of values (e.g. postal areas as country + system) are src/mcp/adcp31-shapes.ts's.
 */
import type { z } from 'zod';
import { valueAt } from './value-at.js';

interface Widened {
  /** The enumeration as AdCP 3.1 has it. */
  values31: readonly string[];
  /** The values 3.1 added to it. */
  added: readonly string[];
}

export const ADCP31_ADDED_VALUES: Record<string, Widened> = {
  'enums/feed-format.json': {
    values31: ['google_merchant_center', 'facebook_catalog', 'shopify', 'linkedin_jobs', 'tiktok_shop', 'pinterest_catalog', 'openai_product_feed', 'custom'],
    added: ['tiktok_shop', 'pinterest_catalog', 'openai_product_feed'],
  },
  'enums/event-type.json': {
    values31: [
      'page_view', 'view_content', 'select_content', 'select_item', 'search', 'share', 'add_to_cart', 'remove_from_cart', 'viewed_cart', 'add_to_wishlist',
      'initiate_checkout', 'add_payment_info', 'purchase', 'refund', 'lead', 'qualify_lead', 'close_convert_lead', 'disqualify_lead', 'complete_registration',
      'subscribe', 'follow', 'content_view', 'watch_milestone', 'start_trial', 'app_install', 'app_launch', 'contact', 'schedule', 'donate', 'submit_application', 'custom',
    ],
    added: ['follow', 'content_view', 'watch_milestone'],
  },
  'enums/creative-status.json': {
    values31: ['processing', 'pending_review', 'approved', 'suspended', 'rejected', 'archived'],
    added: ['suspended'],
  },
  'enums/creative-identifier-type.json': {
    values31: ['ad_id', 'isci', 'clearcast_clock', 'idcrea'],
    added: ['idcrea'],
  },
  'enums/available-metric.json': {
    values31: [
      'impressions', 'spend', 'clicks', 'ctr', 'views', 'completed_views', 'completion_rate', 'conversions', 'conversion_value', 'roas', 'cost_per_acquisition',
      'new_to_brand_rate', 'leads', 'reach', 'frequency', 'grps', 'engagements', 'engagement_rate', 'follows', 'saves', 'profile_visits', 'viewability',
      'quartile_data', 'dooh_metrics', 'cost_per_click', 'cost_per_completed_view', 'cpm', 'downloads', 'units_sold', 'new_to_brand_units', 'plays',
      'incremental_sales_lift', 'brand_lift', 'foot_traffic', 'conversion_lift', 'brand_search_lift',
    ],
    added: [
      'engagements', 'follows', 'saves', 'profile_visits', 'cost_per_completed_view', 'cpm', 'downloads', 'units_sold', 'new_to_brand_units', 'plays',
      'incremental_sales_lift', 'brand_lift', 'foot_traffic', 'conversion_lift', 'brand_search_lift',
    ],
  },
  'enums/asset-content-type.json': {
    values31: ['image', 'video', 'audio', 'text', 'markdown', 'html', 'css', 'javascript', 'vast', 'daast', 'url', 'webhook', 'brief', 'catalog', 'published_post'],
    added: ['published_post'],
  },
  'enums/vast-tracking-event.json': {
    values31: [
      'impression', 'creativeView', 'loaded', 'start', 'firstQuartile', 'midpoint', 'thirdQuartile', 'complete', 'mute', 'unmute', 'pause', 'resume', 'rewind', 'skip',
      'playerExpand', 'playerCollapse', 'fullscreen', 'exitFullscreen', 'progress', 'acceptInvitation', 'adExpand', 'adCollapse', 'minimize', 'overlayViewDuration',
      'otherAdInteraction', 'interactiveStart', 'clickTracking', 'customClick', 'close', 'closeLinear', 'error', 'viewable', 'notViewable', 'viewUndetermined',
      'measurableImpression', 'viewableImpression',
    ],
    added: ['acceptInvitation', 'adExpand', 'adCollapse', 'minimize', 'overlayViewDuration'],
  },
  'enums/daast-tracking-event.json': {
    values31: [
      'impression', 'creativeView', 'start', 'firstQuartile', 'midpoint', 'thirdQuartile', 'complete', 'mute', 'unmute', 'pause', 'resume', 'rewind', 'skip',
      'progress', 'clickTracking', 'customClick', 'close', 'error', 'viewable', 'notViewable', 'viewUndetermined', 'measurableImpression', 'viewableImpression',
    ],
    added: ['rewind'],
  },
  'enums/task-type.json': {
    values31: [
      'create_media_buy', 'update_media_buy', 'media_buy_delivery', 'sync_creatives', 'build_creative', 'activate_signal', 'get_products',
      'get_signals', 'create_property_list', 'update_property_list', 'get_property_list', 'list_property_lists', 'delete_property_list',
      'sync_accounts', 'get_account_financials', 'get_creative_delivery', 'sync_event_sources', 'sync_audiences', 'sync_catalogs', 'log_event',
      'get_brand_identity', 'search_brands', 'get_rights', 'acquire_rights',
    ],
    added: ['media_buy_delivery', 'build_creative', 'get_products', 'search_brands'],
  },
  'enums/adcp-protocol.json': {
    values31: [
      'media-buy', 'signals', 'governance', 'creative', 'brand', 'sponsored-intelligence', 'measurement',
    ],
    added: ['measurement'],
  },
  'enums/universal-macro.json': {
    values31: [
      'MEDIA_BUY_ID', 'PACKAGE_ID', 'CREATIVE_ID', 'CACHEBUSTER', 'TIMESTAMP', 'CLICK_URL', 'GDPR', 'GDPR_CONSENT', 'US_PRIVACY', 'GPP_STRING',
      'GPP_SID', 'IP_ADDRESS', 'LIMIT_AD_TRACKING', 'DEVICE_TYPE', 'OS', 'OS_VERSION', 'DEVICE_MAKE', 'DEVICE_MODEL', 'USER_AGENT', 'APP_BUNDLE',
      'APP_NAME', 'COUNTRY', 'REGION', 'CITY', 'ZIP', 'DMA', 'LAT', 'LONG', 'DEVICE_ID', 'DEVICE_ID_TYPE', 'DOMAIN', 'PAGE_URL', 'REFERRER',
      'KEYWORDS', 'PLACEMENT_ID', 'FOLD_POSITION', 'AD_WIDTH', 'AD_HEIGHT', 'VIDEO_ID', 'VIDEO_TITLE', 'VIDEO_DURATION', 'VIDEO_CATEGORY',
      'CONTENT_GENRE', 'CONTENT_RATING', 'PLAYER_WIDTH', 'PLAYER_HEIGHT', 'POD_POSITION', 'POD_SIZE', 'AD_BREAK_ID', 'STATION_ID', 'COLLECTION_NAME',
      'INSTALLMENT_ID', 'AUDIO_DURATION', 'TMPX', 'IMPRESSION_ID', 'AXEM', 'CATALOG_ID', 'SKU', 'GTIN', 'OFFERING_ID', 'JOB_ID', 'HOTEL_ID',
      'FLIGHT_ID', 'VEHICLE_ID', 'LISTING_ID', 'STORE_ID', 'PROGRAM_ID', 'DESTINATION_ID', 'CREATIVE_VARIANT_ID', 'APP_ITEM_ID', 'ITEM_NAME',
      'ITEM_DESCRIPTION', 'ITEM_TAGLINE', 'ITEM_PRICE', 'ITEM_PRICE_CURRENCY',
    ],
    added: ['IMPRESSION_ID', 'ITEM_NAME', 'ITEM_DESCRIPTION', 'ITEM_TAGLINE', 'ITEM_PRICE', 'ITEM_PRICE_CURRENCY'],
  },
  'media-buy/get-products-request.json#/properties/fields/items': {
    values31: [
      'product_id', 'name', 'description', 'publisher_properties', 'channels', 'video_placement_types', 'audio_distribution_types', 'sponsored_placement_types',
      'social_placement_surfaces', 'format_ids', 'format_options', 'placements', 'delivery_type', 'exclusivity', 'pricing_options', 'forecast', 'outcome_measurement',
      'delivery_measurement', 'reporting_capabilities', 'creative_policy', 'catalog_types', 'metric_optimization', 'conversion_tracking', 'data_provider_signals',
      'included_signals', 'signal_targeting_allowed', 'signal_targeting_options', 'signal_targeting_rules', 'max_optimization_goals', 'catalog_match', 'collections',
      'collection_targeting_allowed', 'installments', 'brief_relevance', 'expires_at', 'product_card', 'product_card_detailed', 'enforced_policies', 'trusted_match',
    ],
    added: [
      'video_placement_types', 'audio_distribution_types', 'sponsored_placement_types', 'social_placement_surfaces', 'format_options', 'included_signals',
      'signal_targeting_allowed', 'signal_targeting_options', 'signal_targeting_rules',
    ],
  },
};

const WIDENED = Object.values(ADCP31_ADDED_VALUES).map((w) => ({ ...w, addedSet: new Set(w.added), kept: w.values31.filter((v) => !w.added.includes(v)) }));

/**
 * The 3.1 enumeration a closed set of 3.0 values stands for, if any: it holds every value 3.1 kept. Where
 * several do (DAAST's tracking events are all among VAST's), the one with the most values kept is meant.
 */
function widenedEnumeration(expected: readonly string[]) {
  let best: (typeof WIDENED)[number] | undefined;
  for (const w of WIDENED) if (w.kept.every((v) => expected.includes(v)) && (!best || w.kept.length > best.kept.length)) best = w;
  return best;
}

type Issue = z.core.$ZodIssue;

/** Every value accepted where a 3.0 schema expects one of `expected`: those, and the values AdCP 3.1 added to that enumeration. */
export function acceptedValues(expected: readonly string[]): string[] {
  const added = widenedEnumeration(expected)?.added.filter((v) => !expected.includes(v)) ?? [];
  return [...expected, ...added];
}
type Path = (string | number)[];

/** The literal values a zod issue says were expected, if it is a closed set of strings (a literal union or an enum). */
export function expectedLiterals(issue: Issue): string[] | undefined {
  if (issue.code === 'invalid_value') return issue.values.every((v) => typeof v === 'string') ? (issue.values as string[]) : undefined;
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const values: string[] = [];
    for (const branch of issue.errors) {
      if (branch.length !== 1 || branch[0]!.code !== 'invalid_value' || branch[0]!.path.length !== 0) return undefined;
      const v = expectedLiterals(branch[0]!);
      if (!v) return undefined;
      values.push(...v);
    }
    return values;
  }
  return undefined;
}

function setAt(root: unknown, path: Path, value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path.at(-1)!] = value;
}

/** Values 3.1 added, at the paths where the 3.0 schema refused them, each with a 3.0 value to stand in for it. */
function addedValues(issues: readonly Issue[], input: unknown, prefix: Path = [], found = new Map<string, { path: Path; value: string; standIn: string }>()) {
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as Path)];
    const expected = expectedLiterals(issue);
    const value = valueAt(input, path);
    if (expected && typeof value === 'string') {
      if (widenedEnumeration(expected)?.addedSet.has(value)) found.set(JSON.stringify(path), { path, value, standIn: expected[0]! });
    } else if (issue.code === 'invalid_union') {
      // The value may sit inside one branch of a union (a goal of kind "event", say): look in every branch.
      for (const branch of issue.errors) addedValues(branch, input, path, found);
    }
  }
  return [...found.values()];
}

/**
 * `schema.safeParse(input)`, accepting AdCP 3.1's added enumeration values: when the only thing wrong is
 * such values, the request parses with 3.0 stand-ins and the parsed input carries the buyer's values.
 * If something else is wrong too, the errors are those of the parse with stand-ins (the values themselves are fine).
 */
export function parseAcceptingAdcp31Values<T>(schema: z.ZodType<T>, input: unknown): z.ZodSafeParseResult<T> {
  const first = schema.safeParse(input);
  if (first.success) return first;
  const found = addedValues(first.error.issues, input);
  if (found.length === 0) return first;
  const patched = structuredClone(input);
  for (const f of found) setAt(patched, f.path, f.standIn);
  const second = schema.safeParse(patched);
  // Something else is wrong too: report that, and not the 3.1 values, which are fine.
  if (!second.success) return second;
  for (const f of found) {
    // The parsed input must hold the stand-in where the request held the value; anything else and it is not ours to restore.
    if (valueAt(second.data, f.path) !== f.standIn) return first;
    setAt(second.data, f.path, f.value);
  }
  return second;
}
