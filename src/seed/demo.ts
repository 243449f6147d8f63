/**
 * `sales-agent seed demo`: an idempotent demo publisher with realistic inventory
 * across display, video, CTV and audio, a buyer principal and a mock ad server.
 * Running it again updates everything in place (and rotates the token only when one is given).
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { adapterConfigs, creativeFormats, pricingOptions, principals, products, publisherProperties, tenants } from '../db/schema/index.js';
import { hashToken, newToken } from '../domain/ids.js';

export const DEMO_TENANT = 'demo';
export const DEMO_PRINCIPAL = 'prn_demo_buyer';
export const DEMO_ADAPTER = 'adp_demo_mock';
const CREATIVE_AGENT = 'https://creative.adcontextprotocol.org';

export interface SeedOptions {
  token?: string;
  approval?: 'auto' | 'manual';
  adapterLatencyMs?: number;
}

export interface SeedResult {
  tenantId: string;
  principalId: string;
  /** Present when a token was given or created; absent when an existing one was kept. */
  token?: string;
}

const fmt = (id: string) => ({ agent_url: CREATIVE_AGENT, id });

const FORMATS = [
  { id: 'display_300x250', name: 'Medium Rectangle 300x250', type: 'display', w: 300, h: 250 },
  { id: 'display_728x90', name: 'Leaderboard 728x90', type: 'display', w: 728, h: 90 },
  { id: 'display_970x250', name: 'Billboard 970x250', type: 'display', w: 970, h: 250 },
  { id: 'display_320x50', name: 'Mobile Banner 320x50', type: 'display', w: 320, h: 50 },
  { id: 'display_320x480', name: 'Mobile Interstitial 320x480', type: 'display', w: 320, h: 480 },
  { id: 'video_standard_15s', name: 'Video 15s (VAST)', type: 'video', duration: 15 },
  { id: 'video_standard_30s', name: 'Video 30s (VAST)', type: 'video', duration: 30 },
  { id: 'audio_standard_30s', name: 'Audio 30s', type: 'audio', duration: 30 },
  { id: 'audio_host_read_60s', name: 'Podcast host-read 60s', type: 'audio', duration: 60 },
];

function formatSpec(f: (typeof FORMATS)[number]): Record<string, unknown> {
  if (f.type === 'display') {
    return {
      description: `${f.name} image or HTML5 banner.`,
      renders: [{ role: 'primary', dimensions: { width: f.w, height: f.h } }],
      assets: [
        { item_type: 'individual', asset_id: 'banner_image', asset_type: 'image', asset_role: 'hero_image', required: true },
        { item_type: 'individual', asset_id: 'click_url', asset_type: 'url', asset_role: 'clickthrough', required: true },
      ],
    };
  }
  if (f.type === 'video') {
    return {
      description: `${f.duration}-second video delivered as a VAST tag or MP4.`,
      assets: [{ item_type: 'individual', asset_id: 'video', asset_type: 'video', asset_role: 'hero_video', required: true }],
    };
  }
  return {
    description: `${f.duration}-second audio spot.`,
    assets: [{ item_type: 'individual', asset_id: 'audio', asset_type: 'audio', asset_role: 'audio_spot', required: true }],
  };
}

const PROPERTIES = [
  { id: 'demo_news_web', type: 'website', name: 'Demo Daily News', domain: 'demo-news.example', ids: [{ type: 'domain', value: 'demo-news.example' }], tags: ['news', 'premium'] },
  { id: 'demo_sports_web', type: 'website', name: 'Demo Sports', domain: 'demo-sports.example', ids: [{ type: 'domain', value: 'demo-sports.example' }], tags: ['sports', 'premium'] },
  { id: 'demo_news_app', type: 'mobile_app', name: 'Demo Daily News app', domain: 'demo-news.example', ids: [{ type: 'ios_bundle', value: 'com.demonews.app' }, { type: 'android_package', value: 'com.demonews.app' }], tags: ['news', 'mobile'] },
  { id: 'demo_stream_ctv', type: 'ctv_app', name: 'Demo Stream TV', domain: 'demo-stream.example', ids: [{ type: 'roku_store_id', value: 'demo-stream' }], tags: ['ctv', 'entertainment'] },
  { id: 'demo_podcasts', type: 'podcast', name: 'Demo Podcast Network', domain: 'demo-podcasts.example', ids: [{ type: 'rss_url', value: 'https://demo-podcasts.example/feed.xml' }], tags: ['audio', 'podcast'] },
  { id: 'demo_radio_stream', type: 'streaming_audio', name: 'Demo Radio Stream', domain: 'demo-podcasts.example', ids: [{ type: 'domain', value: 'radio.demo-podcasts.example' }], tags: ['audio', 'music'] },
];

const byTag = (domain: string, tags: string[]) => ({ publisher_domain: domain, selection_type: 'by_tag', property_tags: tags });
const byId = (domain: string, ids: string[]) => ({ publisher_domain: domain, selection_type: 'by_id', property_ids: ids });

interface ProductSeed {
  id: string;
  name: string;
  description: string;
  channels: string[];
  deliveryType: 'guaranteed' | 'non_guaranteed';
  formats: string[];
  props: Record<string, unknown>[];
  countries: string[];
  pricing: { id: string; model: string; fixed?: string; floor?: string; guidance?: Record<string, number>; minSpend?: string; parameters?: Record<string, unknown> }[];
}

const PRODUCTS: ProductSeed[] = [
  {
    id: 'display_homepage_takeover',
    name: 'Homepage Takeover — Demo Daily News',
    description: 'Own the Demo Daily News homepage for a day: billboard and medium rectangles, 100% share of voice. Premium news audience, guaranteed delivery.',
    channels: ['display'],
    deliveryType: 'guaranteed',
    formats: ['display_970x250', 'display_300x250'],
    props: [byId('demo-news.example', ['demo_news_web'])],
    countries: ['US'],
    pricing: [{ id: 'takeover_flat_day', model: 'flat_rate', fixed: '15000', minSpend: '15000' }],
  },
  {
    id: 'display_run_of_site',
    name: 'Run of Network Display',
    description: 'Standard display banners across every Demo news and sports page, web and app. Auction priced, non-guaranteed, broad reach.',
    channels: ['display'],
    deliveryType: 'non_guaranteed',
    formats: ['display_300x250', 'display_728x90', 'display_320x50'],
    props: [byTag('demo-news.example', ['news']), byTag('demo-sports.example', ['sports'])],
    countries: ['US', 'CA', 'GB'],
    pricing: [{ id: 'ros_cpm_auction', model: 'cpm', floor: '2.50', guidance: { p25: 3, p50: 4.5, p75: 6, p90: 8 }, minSpend: '500' }],
  },
  {
    id: 'display_sports_section',
    name: 'Sports Section Sponsorship',
    description: 'Guaranteed display in the Demo Sports section: scores, live blogs and match reports. Ideal for sports, betting, beverages and apparel brands.',
    channels: ['display'],
    deliveryType: 'guaranteed',
    formats: ['display_300x250', 'display_728x90', 'display_970x250'],
    props: [byId('demo-sports.example', ['demo_sports_web'])],
    countries: ['US'],
    pricing: [{ id: 'sports_cpm_fixed', model: 'cpm', fixed: '12.00', minSpend: '2000' }],
  },
  {
    id: 'mobile_app_interstitial',
    name: 'Mobile App Interstitials',
    description: 'Full-screen interstitials in the Demo Daily News mobile app (iOS and Android). High-impact mobile reach.',
    channels: ['display'],
    deliveryType: 'non_guaranteed',
    formats: ['display_320x480', 'display_320x50'],
    props: [byId('demo-news.example', ['demo_news_app'])],
    countries: ['US', 'CA'],
    pricing: [{ id: 'app_cpm_auction', model: 'cpm', floor: '4.00', guidance: { p25: 4.5, p50: 6, p75: 8, p90: 10 }, minSpend: '500' }],
  },
  {
    id: 'video_preroll_news',
    name: 'News Pre-roll Video',
    description: 'Guaranteed pre-roll before Demo Daily News and Demo Sports video clips. 15s and 30s, completion rates above 70%.',
    channels: ['olv'],
    deliveryType: 'guaranteed',
    formats: ['video_standard_15s', 'video_standard_30s'],
    props: [byTag('demo-news.example', ['news']), byTag('demo-sports.example', ['sports'])],
    countries: ['US'],
    pricing: [
      { id: 'preroll_cpm_fixed', model: 'cpm', fixed: '28.00', minSpend: '5000' },
      { id: 'preroll_cpcv_fixed', model: 'cpcv', fixed: '0.05', minSpend: '5000' },
    ],
  },
  {
    id: 'video_outstream_ros',
    name: 'Outstream Video — Run of Network',
    description: 'In-article outstream video across Demo sites. Auction priced, non-guaranteed, viewable video reach at scale.',
    channels: ['olv'],
    deliveryType: 'non_guaranteed',
    formats: ['video_standard_15s', 'video_standard_30s'],
    props: [byTag('demo-news.example', ['news']), byTag('demo-sports.example', ['sports'])],
    countries: ['US', 'CA', 'GB'],
    pricing: [{ id: 'outstream_cpm_auction', model: 'cpm', floor: '8.00', guidance: { p25: 9, p50: 11, p75: 14, p90: 17 }, minSpend: '1000' }],
  },
  {
    id: 'ctv_primetime',
    name: 'CTV Primetime on Demo Stream',
    description: 'Guaranteed 30s spots in primetime streaming on Demo Stream TV (Roku, Fire TV, smart TVs). Household reach on the big screen.',
    channels: ['ctv'],
    deliveryType: 'guaranteed',
    formats: ['video_standard_30s'],
    props: [byId('demo-stream.example', ['demo_stream_ctv'])],
    countries: ['US'],
    pricing: [{ id: 'ctv_prime_cpm_fixed', model: 'cpm', fixed: '42.00', minSpend: '10000' }],
  },
  {
    id: 'ctv_run_of_network',
    name: 'CTV Run of Network',
    description: 'Streaming TV inventory across all Demo Stream TV programming. Auction priced, non-guaranteed, 15s and 30s.',
    channels: ['ctv'],
    deliveryType: 'non_guaranteed',
    formats: ['video_standard_15s', 'video_standard_30s'],
    props: [byId('demo-stream.example', ['demo_stream_ctv'])],
    countries: ['US'],
    pricing: [{ id: 'ctv_ron_cpm_auction', model: 'cpm', floor: '22.00', guidance: { p25: 24, p50: 27, p75: 31, p90: 35 }, minSpend: '2500' }],
  },
  {
    id: 'audio_podcast_host_read',
    name: 'Podcast Host-Read Sponsorship',
    description: 'A 60-second host-read sponsorship across the Demo Podcast Network weekly shows (news, sport, business). Flat fee per week, guaranteed.',
    channels: ['podcast'],
    deliveryType: 'guaranteed',
    formats: ['audio_host_read_60s'],
    props: [byId('demo-podcasts.example', ['demo_podcasts'])],
    countries: ['US', 'GB'],
    pricing: [{ id: 'podcast_flat_week', model: 'flat_rate', fixed: '5000', minSpend: '5000' }],
  },
  {
    id: 'audio_streaming_ros',
    name: 'Streaming Audio Spots',
    description: '30s audio spots in Demo Radio Stream music and talk channels. Auction priced, non-guaranteed, companion banners optional.',
    channels: ['streaming_audio'],
    deliveryType: 'non_guaranteed',
    formats: ['audio_standard_30s'],
    props: [byId('demo-podcasts.example', ['demo_radio_stream'])],
    countries: ['US', 'GB'],
    pricing: [{ id: 'audio_cpm_auction', model: 'cpm', floor: '6.00', guidance: { p25: 7, p50: 8.5, p75: 10, p90: 12 }, minSpend: '500' }],
  },
];

export async function seedDemo(db: Db, opts: SeedOptions = {}): Promise<SeedResult> {
  return db.transaction(async (tx) => {
    await tx
      .insert(tenants)
      .values({ id: DEMO_TENANT, name: 'Demo Publisher', publisherDomain: 'demo-news.example', settings: { account_approval_mode: 'auto', currencies: ['USD'] } })
      .onConflictDoUpdate({ target: tenants.id, set: { name: 'Demo Publisher', updatedAt: sql`now()` } });

    const settings = { latency_ms: opts.adapterLatencyMs ?? 0 };
    await tx
      .insert(adapterConfigs)
      .values({ id: DEMO_ADAPTER, tenantId: DEMO_TENANT, name: 'Mock ad server', adapterType: 'mock', settings, manualApprovalRequired: opts.approval === 'manual', isDefault: true })
      .onConflictDoUpdate({
        target: adapterConfigs.id,
        set: {
          ...(opts.adapterLatencyMs !== undefined && { settings }),
          ...(opts.approval !== undefined && { manualApprovalRequired: opts.approval === 'manual' }),
          updatedAt: sql`now()`,
        },
      });

    let token = opts.token;
    const [existing] = await tx.select({ id: principals.id }).from(principals).where(sql`${principals.id} = ${DEMO_PRINCIPAL}`);
    if (!existing && !token) token = newToken();
    if (token) {
      await tx
        .insert(principals)
        .values({ id: DEMO_PRINCIPAL, tenantId: DEMO_TENANT, name: 'Demo Buyer Agency', tokenHash: hashToken(token), tokenHint: token.slice(0, 8), platformMappings: { mock: { advertiser_id: 'mock-adv-demo' } } })
        .onConflictDoUpdate({ target: principals.id, set: { tokenHash: hashToken(token), tokenHint: token.slice(0, 8) } });
    }

    for (const p of PROPERTIES) {
      const row = { tenantId: DEMO_TENANT, id: p.id, propertyType: p.type, name: p.name, publisherDomain: p.domain, identifiers: p.ids, tags: p.tags };
      await tx.insert(publisherProperties).values(row).onConflictDoUpdate({ target: [publisherProperties.tenantId, publisherProperties.id], set: row });
    }
    for (const f of FORMATS) {
      const row = { tenantId: DEMO_TENANT, id: f.id, agentUrl: CREATIVE_AGENT, name: f.name, type: f.type, spec: formatSpec(f) };
      await tx.insert(creativeFormats).values(row).onConflictDoUpdate({ target: [creativeFormats.tenantId, creativeFormats.id], set: row });
    }
    for (const p of PRODUCTS) {
      const row = {
        tenantId: DEMO_TENANT,
        id: p.id,
        name: p.name,
        description: p.description,
        channels: p.channels,
        deliveryType: p.deliveryType,
        formatIds: p.formats.map(fmt),
        publisherProperties: p.props,
        countries: p.countries,
        details: {},
      };
      await tx.insert(products).values(row).onConflictDoUpdate({ target: [products.tenantId, products.id], set: { ...row, updatedAt: sql`now()` } });
      for (const po of p.pricing) {
        const prow = {
          tenantId: DEMO_TENANT,
          productId: p.id,
          id: po.id,
          pricingModel: po.model,
          currency: 'USD',
          fixedPrice: po.fixed ?? null,
          floorPrice: po.floor ?? null,
          priceGuidance: po.guidance ?? null,
          minSpendPerPackage: po.minSpend ?? null,
          parameters: po.parameters ?? null,
        };
        await tx.insert(pricingOptions).values(prow).onConflictDoUpdate({ target: [pricingOptions.tenantId, pricingOptions.productId, pricingOptions.id], set: prow });
      }
    }
    return { tenantId: DEMO_TENANT, principalId: DEMO_PRINCIPAL, ...(token && { token }) };
  });
}

export const DEMO_PRODUCT_COUNT = PRODUCTS.length;
