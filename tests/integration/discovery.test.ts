import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have31Schemas, responseProblems, responseProblems31 } from '../helpers/adcp-schema.js';
import { call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let anon: Client;

beforeAll(async () => {
  t = await startTestApp();
  buyer = await memoryClient(t);
  anon = await memoryClient(t, null);
});
afterAll(async () => {
  await buyer?.close();
  await anon?.close();
  await t?.close();
});

describe('discovery tools', () => {
  it('lists every tool with input and output schemas and explicit hints', async () => {
    const { tools } = await buyer.listTools();
    const names = tools.map((x) => x.name);
    for (const n of ['get_adcp_capabilities', 'get_products', 'list_creative_formats', 'list_authorized_properties', 'create_media_buy', 'get_media_buys', 'tasks/get', 'tasks_get', 'get_task_status']) {
      expect(names).toContain(n);
    }
    for (const tool of tools) {
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.outputSchema?.type).toBe('object');
      expect(typeof tool.annotations?.readOnlyHint).toBe('boolean');
      expect(typeof tool.annotations?.destructiveHint).toBe('boolean');
    }
    expect(tools.find((x) => x.name === 'create_media_buy')!.annotations!.readOnlyHint).toBe(false);
  });

  it('names every required argument of a tool in its description, so an agent reading it knows what to send', async () => {
    const { tools } = await buyer.listTools();
    const missing = tools.flatMap((tool) =>
      ((tool.inputSchema.required as string[] | undefined) ?? []).filter((r) => !new RegExp(`(^|[^a-z_])${r}([^a-z_]|$)`).test(tool.description ?? '')).map((r) => `${tool.name}: ${r}`),
    );
    expect(missing).toEqual([]);
  });

  it('get_adcp_capabilities reports AdCP 3, media_buy and the seeded portfolio', async () => {
    const { isError, data } = await call(anon, 'get_adcp_capabilities', { context: { correlation_id: 'c-1' } });
    expect(isError).toBe(false);
    expect(data.adcp).toMatchObject({ major_versions: [3], idempotency: { supported: true } });
    expect(data.supported_protocols).toEqual(['media_buy', 'sponsored_intelligence']);
    const mb = data.media_buy as { portfolio: { publisher_domains: string[]; primary_channels: string[] }; supported_pricing_models: string[] };
    expect(mb.portfolio.publisher_domains).toEqual(expect.arrayContaining(['demo-news.example', 'demo-stream.example']));
    expect(mb.portfolio.primary_channels).toEqual(expect.arrayContaining(['ctv', 'display', 'olv', 'podcast']));
    expect(mb.supported_pricing_models).toEqual(expect.arrayContaining(['cpm', 'flat_rate']));
    expect(data.context).toEqual({ correlation_id: 'c-1' });
    // AdCP 3.1 declarations.
    expect(data.adcp).toMatchObject({ supported_versions: ['3.0', '3.1'] });
    expect(mb).toMatchObject({ buying_modes: ['brief', 'wholesale', 'refine'], creative_approval_mode: 'auto_approve', propagation_surfaces: ['out_of_band'] });
    await t.app.database.sql`update tenants set settings = settings || '{"creative_review": "manual"}'::jsonb where id = 'demo'`;
    const fresh = await memoryClient(t, null); // a caller resolved after the change (HTTP resolves callers per request)
    try {
      expect(((await call(fresh, 'get_adcp_capabilities', {})).data.media_buy as { creative_approval_mode: string }).creative_approval_mode).toBe('require_human');
    } finally {
      await fresh.close();
      await t.app.database.sql`update tenants set settings = settings - 'creative_review' where id = 'demo'`;
    }
  });

  it('get_products ranks by brief and shows pricing to buyers only', async () => {
    const authed = await call(buyer, 'get_products', { brief: 'Connected TV streaming for a sports drink' });
    const products = authed.data.products as { product_id: string; pricing_options: unknown[]; brief_relevance?: string }[];
    expect(products.length).toBeGreaterThan(0);
    expect(products[0]!.product_id).toMatch(/^ctv_/);
    expect(products.every((p) => p.pricing_options.length > 0)).toBe(true);

    const anonymous = await call(anon, 'get_products', { brief: 'Connected TV streaming for a sports drink' });
    const anonProducts = anonymous.data.products as { pricing_options: Record<string, unknown>[] }[];
    expect(anonProducts.length).toBe(products.length);
    const anonOptions = anonProducts.flatMap((p) => p.pricing_options);
    expect(anonOptions.length).toBeGreaterThan(0);
    for (const po of anonOptions) {
      expect(Object.keys(po).sort()).toEqual(['currency', 'pricing_model', 'pricing_option_id']);
    }
    expect(products.flatMap((p) => p.pricing_options as Record<string, unknown>[]).some((po) => po.fixed_price !== undefined)).toBe(true);
  });

  it('get_products matches a brief to products by their AdCP channel: audio finds podcasts, video finds olv and ctv', async () => {
    const ids = async (brief: string) => ((await call(buyer, 'get_products', { brief })).data.products as { product_id: string }[]).map((p) => p.product_id);
    // The podcast product's name and description never say "audio": its channel (podcast) does.
    expect(await ids('audio')).toEqual(expect.arrayContaining(['audio_podcast_host_read', 'audio_streaming_ros']));
    const video = await ids('video for a car launch');
    expect(video).toEqual(expect.arrayContaining(['video_preroll_news', 'video_outstream_ros', 'ctv_primetime', 'ctv_run_of_network']));
    expect(video.slice(0, 4).sort()).toEqual(['ctv_primetime', 'ctv_run_of_network', 'video_outstream_ros', 'video_preroll_news']);
  });

  it('get_products reads a brief’s countries and budget: products sold elsewhere or above the budget come last, and the answer says why', async () => {
    const uk = await call(buyer, 'get_products', { brief: 'video in the United Kingdom' });
    const ranked = uk.data.products as { product_id: string; brief_relevance?: string }[];
    // Video products sold in GB (outstream) before the US-only ones (pre-roll, CTV).
    expect(ranked[0]!.product_id).toBe('video_outstream_ros');
    expect(ranked.find((p) => p.product_id === 'ctv_primetime')!.brief_relevance).toContain('Not sold in GB (sold in US).');
    expect(uk.data.message).toMatch(/of these products are not sold in GB, the countries the brief names; they are listed last\./);
    const small = (await call(buyer, 'get_products', { brief: 'CTV with $3,000' })).data.products as { product_id: string; brief_relevance?: string }[];
    expect(small.map((p) => p.product_id)).toEqual(['ctv_run_of_network', 'ctv_primetime']);
    expect(small[1]!.brief_relevance).toContain("Its minimum spend (10000) is above the brief's budget (3000).");
    expect((await call(buyer, 'get_products', { brief: 'video in the US' })).data.message).toBeUndefined();
  });

  it('get_products pages its ranked list with max_results and a cursor tied to the brief and filters', async () => {
    const brief = 'Video and CTV for a sports drink';
    const all = ((await call(buyer, 'get_products', { brief })).data.products as { product_id: string }[]).map((p) => p.product_id);
    expect(all.length).toBeGreaterThan(3);
    const first = await call(buyer, 'get_products', { brief, pagination: { max_results: 3 }, context: { correlation_id: 'p1' } });
    expect(first.data.pagination).toMatchObject({ has_more: true, total_count: all.length, cursor: expect.any(String) });
    const rest: string[] = [];
    let cursor = (first.data.pagination as { cursor: string }).cursor;
    for (;;) {
      // The envelope (context) may change between pages; the brief and filters may not.
      const { data } = await call(buyer, 'get_products', { brief, pagination: { max_results: 3, cursor }, context: { correlation_id: 'p2' } });
      rest.push(...(data.products as { product_id: string }[]).map((p) => p.product_id));
      const page = data.pagination as { has_more: boolean; cursor?: string };
      if (!page.has_more) {
        expect(page.cursor).toBeUndefined();
        break;
      }
      cursor = page.cursor!;
    }
    expect([...(first.data.products as { product_id: string }[]).map((p) => p.product_id), ...rest]).toEqual(all);
    const other = await call(buyer, 'get_products', { brief: 'podcasts', pagination: { cursor: (first.data.pagination as { cursor: string }).cursor } });
    expect(other.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
  });

  it('get_products applies filters', async () => {
    const { data } = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters: { delivery_type: 'guaranteed', channels: ['olv', 'ctv'] } });
    const products = data.products as { product_id: string; delivery_type: string; channels: string[] }[];
    expect(products.map((p) => p.product_id).sort()).toEqual(['ctv_primetime', 'video_preroll_news']);
    const all = await call(buyer, 'get_products', { buying_mode: 'wholesale' });
    expect((all.data.products as unknown[]).length).toBeGreaterThanOrEqual(8);
    const fixed = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters: { is_fixed_price: false } });
    expect((fixed.data.products as { delivery_type: string }[]).every((p) => p.delivery_type === 'non_guaranteed')).toBe(true);
    // A budget cap that is not a number is the buyer's to fix, not an internal error.
    for (const max of ['abc', -1, 1e21]) {
      const bad = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters: { budget_range: { max, currency: 'USD' } } });
      expect(bad.isError).toBe(true);
      expect(bad.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'filters.budget_range.max' });
    }
    const capped = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters: { budget_range: { max: 1_000_000, currency: 'USD' } } });
    expect(capped.isError).toBe(false);
    // AdCP 3.1 postal areas (country + local system) are answered like their 3.0 form; one with no 3.0 form is left out of the filter.
    const zip31 = await call(buyer, 'get_products', { buying_mode: 'brief', brief: 'video', filters: { postal_areas: [{ country: 'US', system: 'zip', values: ['10001'] }] } });
    const zip30 = await call(buyer, 'get_products', { buying_mode: 'brief', brief: 'video', filters: { postal_areas: [{ system: 'us_zip', values: ['10001'] }] } });
    expect(zip31.isError).toBe(false);
    expect((zip31.data.products as { product_id: string }[]).map((p) => p.product_id)).toEqual((zip30.data.products as { product_id: string }[]).map((p) => p.product_id));
    const cep = await call(buyer, 'get_products', { buying_mode: 'brief', brief: 'video', filters: { postal_areas: [{ country: 'BR', system: 'cep', values: ['01310-100'] }] } });
    expect(cep.isError).toBe(false);
  });

  it('get_products judges seller-level filters against what get_adcp_capabilities declares: all products or none', async () => {
    const caps = (await call(buyer, 'get_adcp_capabilities', {})).data as { media_buy: { features: Record<string, boolean>; execution: { targeting: Record<string, unknown> } } };
    expect(caps.media_buy.features).toMatchObject({ inline_creative_management: false, catalog_management: false });
    expect(caps.media_buy.execution.targeting).toMatchObject({ geo_countries: true, geo_metros: { nielsen_dma: true }, geo_postal_areas: { us_zip: true } });
    expect(caps.media_buy.execution.targeting.geo_postal_areas).not.toHaveProperty('US');
    // A 3.1 caller also gets postal support keyed by country, as 3.1 prefers it.
    const caps31 = (await call(buyer, 'get_adcp_capabilities', { adcp_version: '3.1' })).data as typeof caps;
    expect(caps31.media_buy.execution.targeting.geo_postal_areas).toMatchObject({ US: ['zip', 'zip_plus_four'], DE: ['plz'], us_zip: true });
    const all = ((await call(buyer, 'get_products', { buying_mode: 'wholesale' })).data.products as unknown[]).length;
    const count = async (filters: Record<string, unknown>) => {
      const { isError, data } = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters });
      expect(isError, JSON.stringify(data)).toBe(false);
      return (data.products as unknown[]).length;
    };
    expect(await count({ required_features: { catalog_management: false } })).toBe(all);
    expect(await count({ required_geo_targeting: [{ level: 'country' }, { level: 'metro', system: 'nielsen_dma' }, { level: 'postal_area', system: 'us_zip' }] })).toBe(all);
    expect(await count({ required_geo_targeting: [{ level: 'postal_area', country: 'US', system: 'zip' }] })).toBe(all);
    expect(await count({ required_geo_targeting: [{ level: 'metro' }, { level: 'postal_area' }], trusted_match: {} })).toBe(all);
    const none = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters: { required_features: { inline_creative_management: true } } });
    expect(none.data).toMatchObject({ products: [], message: expect.stringContaining('required_features.inline_creative_management') });
    expect(await count({ required_geo_targeting: [{ level: 'postal_area', country: 'BR', system: 'cep' }] })).toBe(0);
    expect(await count({ required_geo_targeting: [{ level: 'metro', system: 'custom' }] })).toBe(0);
    expect(await count({ signal_targeting: [{ signal_id: { source: 'catalog', data_provider_domain: 'polk.com', id: 'auto_intenders' }, value_type: 'binary', value: true }] })).toBe(0);
    // AdCP 3.1: by signal_ref alone, in each scope.
    for (const signal_ref of [{ scope: 'product', signal_id: 'sports_fans' }, { scope: 'data_provider', data_provider_domain: 'polk.com', signal_id: 'auto_intenders' }, { scope: 'signal_source', signal_source_url: 'https://signals.example/adcp', signal_id: 'x' }]) {
      const res = await call(buyer, 'get_products', { buying_mode: 'wholesale', adcp_version: '3.1', filters: { signal_targeting: [{ signal_ref, value_type: 'binary', value: true, targeting_mode: 'exclude' }] } });
      expect(res.data, JSON.stringify(signal_ref)).toMatchObject({ products: [], message: expect.stringContaining('filters.signal_targeting') });
    }
  });

  it('returns only the pricing options a 3.1 buyer filters for, and only products reporting the metrics it needs', async () => {
    const sql = t.app.database.sql;
    await sql`insert into products (tenant_id, id, name, description, channels, delivery_type, details)
              values ('demo', 'multi_price', 'Homepage takeover, priced three ways', 'Display takeover', '{display}', 'non_guaranteed',
                      ${JSON.stringify({ reporting_capabilities: { available_reporting_frequencies: ['daily'], expected_delay_minutes: 60, timezone: 'UTC', supports_webhooks: false, available_metrics: ['impressions', 'spend', 'viewability'], date_range_support: 'date_range' } })}::jsonb)`;
    await sql`insert into pricing_options (tenant_id, product_id, id, pricing_model, currency, fixed_price, floor_price) values
              ('demo', 'multi_price', 'mp_usd_fixed', 'cpm', 'USD', 20, null),
              ('demo', 'multi_price', 'mp_usd_auction', 'cpm', 'USD', null, 5),
              ('demo', 'multi_price', 'mp_eur_fixed', 'cpm', 'EUR', 18, null)`;
    try {
      const optionsOf = async (filters: Record<string, unknown>) => {
        const products = await waitFor(async () => {
          const { isError, data } = await call(buyer, 'get_products', { buying_mode: 'wholesale', filters, adcp_version: '3.1' });
          expect(isError).toBe(false);
          return data.products as { product_id: string; pricing_options: { pricing_option_id: string }[] }[];
        });
        return Object.fromEntries(products.map((p) => [p.product_id, p.pricing_options.map((po) => po.pricing_option_id).sort()]));
      };
      await waitFor(async () => (await optionsOf({}))['multi_price'] !== undefined, 5_000); // the catalogue cache has caught up
      expect((await optionsOf({}))['multi_price']).toEqual(['mp_eur_fixed', 'mp_usd_auction', 'mp_usd_fixed']);
      expect((await optionsOf({ is_fixed_price: true }))['multi_price']).toEqual(['mp_eur_fixed', 'mp_usd_fixed']);
      expect((await optionsOf({ is_fixed_price: false }))['multi_price']).toEqual(['mp_usd_auction']);
      expect((await optionsOf({ pricing_currencies: ['EUR'] }))['multi_price']).toEqual(['mp_eur_fixed']);
      expect((await optionsOf({ pricing_currencies: ['EUR'], is_fixed_price: false }))['multi_price']).toBeUndefined();
      // Demo products price in USD only: none of them is offered in EUR.
      expect(Object.keys(await optionsOf({ pricing_currencies: ['EUR'] }))).toEqual(['multi_price']);
      // Impressions and spend are always reported; viewability only by this product.
      expect(Object.keys(await optionsOf({ required_metrics: ['viewability', 'impressions'] }))).toEqual(['multi_price']);
      const clicks = await optionsOf({ required_metrics: ['clicks'] });
      expect(clicks['multi_price']).toBeUndefined();
      expect(Object.keys(clicks).length).toBeGreaterThan(0);
    } finally {
      await sql`delete from products where tenant_id = 'demo' and id = 'multi_price'`;
    }
  });

  it('list_creative_formats filters by id and dimensions', async () => {
    const all = await call(buyer, 'list_creative_formats', {});
    expect((all.data.formats as unknown[]).length).toBeGreaterThanOrEqual(8);
    const one = await call(buyer, 'list_creative_formats', { format_ids: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }] });
    expect((one.data.formats as { format_id: { id: string } }[]).map((f) => f.format_id.id)).toEqual(['display_300x250']);
    const small = await call(buyer, 'list_creative_formats', { max_width: 400, min_width: 300 });
    const ids = (small.data.formats as { format_id: { id: string } }[]).map((f) => f.format_id.id);
    expect(ids).toContain('display_300x250');
    expect(ids).not.toContain('display_728x90');
  });

  it('list_creative_formats applies every AdCP filter to the format specs, any render fitting the dimensions', async () => {
    const sql = t.app.database.sql;
    const spec = {
      renders: [
        { role: 'primary', dimensions: { min_width: 300, max_width: 1200, height: 600, responsive: { width: true, height: false } } },
        { role: 'companion', dimensions: { width: 120, height: 60 } },
      ],
      assets: [{ item_type: 'repeatable_group', asset_group_id: 'cards', required: true, min_count: 2, max_count: 6, assets: [{ asset_id: 'card_text', asset_type: 'text', required: true }] }],
      accessibility: { wcag_level: 'AA' },
      disclosure_capabilities: [
        { position: 'footer', persistence: ['continuous'] },
        { position: 'overlay', persistence: ['initial'] },
      ],
      input_format_ids: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }],
    };
    await sql`insert into creative_formats (tenant_id, id, agent_url, name, type, spec)
              values ('demo', 'native_cards_responsive', 'https://seller.example', 'Responsive card carousel', 'native', ${JSON.stringify(spec)}::jsonb)`;
    try {
      const ids = async (args: Record<string, unknown>) => {
        const res = await call(buyer, 'list_creative_formats', args);
        expect(res.isError, JSON.stringify(res.data)).toBe(false);
        expect(responseProblems('list_creative_formats', res.data)).toEqual([]);
        return (res.data.formats as { format_id: { id: string } }[]).map((f) => f.format_id.id);
      };
      const custom = 'native_cards_responsive';
      // The catalogue cache drops the tenant's entry on the change's notification.
      await waitFor(async () => (await ids({ name_search: 'carousel' })).length === 1);
      // Its companion (120x60) fits a 150 px maximum, its responsive render a 1000 px minimum; a 100 px maximum fits neither.
      expect(await ids({ max_width: 150 })).toEqual([custom]);
      expect(await ids({ min_width: 1000 })).toEqual([custom]);
      expect(await ids({ max_width: 100 })).toEqual([]);
      // Formats with no sized render (video, audio) fit no dimension filter.
      expect(await ids({ max_height: 10_000 })).not.toContain('video_standard_30s');
      expect(await ids({ is_responsive: true })).toEqual([custom]);
      expect(await ids({ is_responsive: false })).toContain('display_300x250');
      expect(await ids({ is_responsive: false })).not.toContain(custom);
      expect(await ids({ asset_types: ['text'] })).toEqual([custom]);
      expect(await ids({ asset_types: ['audio', 'text'] })).toEqual(expect.arrayContaining([custom, 'audio_standard_30s']));
      expect(await ids({ wcag_level: 'A' })).toEqual([custom]);
      expect(await ids({ wcag_level: 'AA' })).toEqual([custom]);
      expect(await ids({ wcag_level: 'AAA' })).toEqual([]);
      expect(await ids({ disclosure_positions: ['footer', 'overlay'] })).toEqual([custom]);
      expect(await ids({ disclosure_positions: ['footer', 'prominent'] })).toEqual([]);
      expect(await ids({ disclosure_persistence: ['continuous', 'initial'] })).toEqual([custom]);
      expect(await ids({ disclosure_persistence: ['flexible'] })).toEqual([]);
      expect(await ids({ input_format_ids: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }] })).toEqual([custom]);
      expect(await ids({ output_format_ids: [{ agent_url: 'https://creative.adcontextprotocol.org', id: 'display_300x250' }] })).toEqual([]);
    } finally {
      await sql`delete from creative_formats where tenant_id = 'demo' and id = 'native_cards_responsive'`;
      await waitFor(async () => ((await call(buyer, 'list_creative_formats', { name_search: 'carousel' })).data.formats as unknown[]).length === 0);
    }
  });

  it('list_creative_formats pages with max_results and a cursor tied to its filters', async () => {
    const all = ((await call(buyer, 'list_creative_formats', {})).data.formats as { format_id: { id: string } }[]).map((f) => f.format_id.id);
    expect(all.length).toBeGreaterThan(4);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const { data } = await call(buyer, 'list_creative_formats', { pagination: { max_results: 4, ...(cursor && { cursor }) } });
      expect(responseProblems('list_creative_formats', data)).toEqual([]);
      const page = data.pagination as { has_more: boolean; cursor?: string; total_count: number };
      seen.push(...(data.formats as { format_id: { id: string } }[]).map((f) => f.format_id.id));
      expect(page.total_count).toBe(all.length);
      // The cursor is there exactly when there is more.
      expect('cursor' in page).toBe(page.has_more);
      if (!page.has_more) break;
      cursor = page.cursor;
    }
    expect(seen).toEqual(all);
    const first = await call(buyer, 'list_creative_formats', { pagination: { max_results: 1 } });
    const next = (first.data.pagination as { cursor: string }).cursor;
    const changed = await call(buyer, 'list_creative_formats', { name_search: 'video', pagination: { cursor: next } });
    expect(changed.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
    const forged = await call(buyer, 'list_creative_formats', { pagination: { cursor: 'bm9wZQ' } });
    expect(forged.data.adcp_error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'pagination.cursor' });
  });

  it('list_creative_formats narrows to the formats of the products selling a publisher’s inventory (AdCP 3.1), saying they are agent-derived', async () => {
    const ids = async (args: Record<string, unknown>) => {
      const { data } = await call(buyer, 'list_creative_formats', { adcp_version: '3.1', ...args });
      expect(data.source).toBe('agent_derived');
      return (data.formats as { format_id: { id: string } }[]).map((f) => f.format_id.id).sort();
    };
    expect(await ids({ publisher_domain: 'demo-stream.example' })).toEqual(['video_standard_15s', 'video_standard_30s']);
    expect(await ids({ publisher_domain: 'Demo-Podcasts.example', property_id: 'demo_radio_stream' })).toEqual(['audio_standard_30s']);
    // The app's own product, and those selecting the publisher's properties tagged news (the app is one).
    expect(await ids({ publisher_domain: 'demo-news.example', property_id: 'demo_news_app' })).toEqual(['display_300x250', 'display_320x480', 'display_320x50', 'display_728x90', 'video_standard_15s', 'video_standard_30s']);
    expect(await ids({ publisher_domain: 'demo-podcasts.example', property_id: 'demo_podcasts' })).toEqual(['audio_host_read_60s']);
    expect(await ids({ publisher_domain: 'demo-news.example', property_id: 'demo_news_web', max_width: 400 })).toEqual(['display_300x250', 'display_320x50']);
    expect(await ids({ publisher_domain: 'demo-news.example', property_id: 'demo_sports_web' })).toEqual([]);
    expect(await ids({ publisher_domain: 'unknown.example' })).toEqual([]);
    // A property id alone names that property, whichever publisher's.
    expect(await ids({ property_id: 'demo_radio_stream' })).toEqual(['audio_standard_30s']);
    expect(await ids({ property_id: 'no_such_property' })).toEqual([]);
    const plain = await call(buyer, 'list_creative_formats', {});
    expect(plain.data.source).toBeUndefined();
  });

  it('list_authorized_properties returns properties and domains', async () => {
    const { data } = await call(anon, 'list_authorized_properties', {});
    expect(data.publisher_domains).toEqual(expect.arrayContaining(['demo-news.example', 'demo-podcasts.example']));
    expect((data.properties as unknown[]).length).toBeGreaterThanOrEqual(5);
    const filtered = await call(anon, 'list_authorized_properties', { publisher_domains: ['demo-stream.example'] });
    expect(filtered.data.publisher_domains).toEqual(['demo-stream.example']);
  });

  it('rejects an unsupported AdCP major version with VERSION_UNSUPPORTED and echoes context', async () => {
    const { isError, data } = await call(anon, 'get_products', { brief: 'x', adcp_major_version: 99, context: { correlation_id: 'v' } });
    expect(isError).toBe(true);
    expect((data.errors as { code: string }[])[0]!.code).toBe('VERSION_UNSUPPORTED');
    expect(data.context).toEqual({ correlation_id: 'v' });
  });

  it('every answer carries the protocol envelope\'s task status', async () => {
    // AdCP's protocol envelope requires `status` at the root of every task response, `completed` for a synchronous one.
    expect((await call(anon, 'get_adcp_capabilities', {})).data.status).toBe('completed');
    expect((await call(anon, 'list_creative_formats', {})).data.status).toBe('completed');
    const failed = await call(anon, 'get_products', { brief: 'x', adcp_major_version: 99 });
    expect(failed.isError).toBe(true);
    expect(failed.data.status).toBe('failed');
  });

  it('buying tools need a principal', async () => {
    const { isError, data } = await call(anon, 'get_media_buys', {});
    expect(isError).toBe(true);
    expect(data.adcp_error).toMatchObject({ code: 'AUTH_REQUIRED' });
    // AdCP 3.1 retires AUTH_REQUIRED: a caller with no credentials is AUTH_MISSING.
    const v31 = await call(anon, 'get_media_buys', { adcp_version: '3.1' });
    expect(v31.isError).toBe(true);
    expect(v31.data).toMatchObject({ status: 'failed', adcp_version: '3.1', adcp_error: { code: 'AUTH_MISSING', recovery: 'correctable' } });
    expect(v31.data.errors).toEqual([v31.data.adcp_error]);
  });

  it('get_products refines: products included, omitted or more like one, request asks ranked as a brief, each ask answered in order', async () => {
    const refine = async (entries: unknown[], release?: '3.1') => {
      const res = await call(buyer, 'get_products', { buying_mode: 'refine', refine: entries, pagination: { max_results: 50 }, ...(release && { adcp_version: release }) });
      expect(res.isError, JSON.stringify(res.data)).toBe(false);
      if (!release) expect(responseProblems('get_products', res.data, res.isError)).toEqual([]);
      else if (have31Schemas) expect(responseProblems31('get_products', res.data, res.isError)).toEqual([]);
      return { ids: (res.data.products as { product_id: string }[]).map((p) => p.product_id), applied: res.data.refinement_applied as Record<string, unknown>[] };
    };
    const all = (await call(buyer, 'get_products', { buying_mode: 'wholesale', pagination: { max_results: 50 } })).data.products as { product_id: string; channels: string[] }[];
    // Named products are the selection; an unknown one is unable; a proposal is unable (none are made).
    const picked = await refine(
      [
        { scope: 'product', product_id: 'ctv_primetime', action: 'include' },
        { scope: 'product', product_id: 'video_preroll_news', ask: 'add a 6s bumper format' },
        { scope: 'product', product_id: 'no_such_product' },
        { scope: 'proposal', proposal_id: 'prop_1', action: 'include' },
      ],
      '3.1',
    );
    expect(picked.ids.sort()).toEqual(['ctv_primetime', 'video_preroll_news']);
    expect(picked.applied).toEqual([
      { scope: 'product', product_id: 'ctv_primetime', status: 'applied' },
      { scope: 'product', product_id: 'video_preroll_news', status: 'partial', notes: expect.stringContaining('not negotiated') },
      { scope: 'product', product_id: 'no_such_product', status: 'unable', notes: expect.any(String) },
      { scope: 'proposal', proposal_id: 'prop_1', status: 'unable', notes: expect.any(String) },
    ]);
    // More like one: it and every product sharing a channel with it; omit takes one out.
    const ctvChannels = all.find((p) => p.product_id === 'ctv_primetime')!.channels;
    const like = await refine([{ scope: 'product', product_id: 'ctv_primetime', action: 'more_like_this' }, { scope: 'product', product_id: 'video_outstream_ros', action: 'omit' }]);
    const expected = all.filter((p) => p.product_id !== 'video_outstream_ros' && p.channels.some((c) => ctvChannels.includes(c))).map((p) => p.product_id);
    expect(like.ids.sort()).toEqual(expected.sort());
    expect(like.applied[0]).toMatchObject({ scope: 'product', product_id: 'ctv_primetime', status: 'applied' });
    expect(like.applied[1]).toEqual({ scope: 'product', product_id: 'video_outstream_ros', status: 'applied' });
    // Without products named: the catalogue, less those omitted, chosen by the request's ask.
    const asked = await refine([{ scope: 'request', ask: 'podcast audio' }, { scope: 'product', product_id: 'display_run_of_site', action: 'omit' }]);
    expect(asked.ids.length).toBeGreaterThan(0);
    expect(asked.ids).not.toContain('display_run_of_site');
    expect(asked.ids.every((id) => (all.find((p) => p.product_id === id)!.channels as string[]).some((c) => ['podcast', 'streaming_audio'].includes(c)))).toBe(true);
    expect(asked.applied[0]).toMatchObject({ scope: 'request', status: 'partial' });
  });

  it('get_products with required_policies returns only products that declare enforcing every one of them, saying how many it left out', async () => {
    const sql = t.app.database.sql;
    const ids = async (args: Record<string, unknown>) => {
      const { isError, data } = await call(buyer, 'get_products', { buying_mode: 'wholesale', adcp_version: '3.1', ...args });
      expect(isError, JSON.stringify(data)).toBe(false);
      return { ids: (data.products as { product_id: string }[]).map((p) => p.product_id), message: data.message as string | undefined };
    };
    const all = (await ids({})).ids;
    await sql`update products set details = details || '{"enforced_policies": ["gdpr_consent", "coppa"]}'::jsonb where tenant_id = 'demo' and id = 'ctv_primetime'`;
    try {
      await waitFor(async () => (await ids({ required_policies: ['gdpr_consent'] })).ids.length === 1, 5_000);
      expect(await ids({ required_policies: ['coppa', 'gdpr_consent'] })).toEqual({ ids: ['ctv_primetime'], message: `${all.length - 1} product(s) left out: they do not declare enforcing every policy in required_policies.` });
      expect((await ids({ required_policies: ['gdpr_consent', 'brand_safety_garm'] })).ids).toEqual([]);
      expect((await ids({ required_policies: [] })).ids).toEqual(all);
    } finally {
      await sql`update products set details = details - 'enforced_policies' where tenant_id = 'demo' and id = 'ctv_primetime'`;
    }
  });

  it('get_products follows catalogue changes, whoever makes them (psql included)', async () => {
    const names = async () => ((await call(buyer, 'get_products', { brief: 'anything' })).data.products as { product_id: string; name: string }[]).map((p) => p.name);
    await names(); // the catalogue is cached now
    const [row] = await t.app.database.sql<{ id: string; name: string }[]>`select id, name from products where tenant_id = 'demo' and not archived order by id limit 1`;
    try {
      // A trigger announces the change; the cache entry is dropped well before its 30 s expiry.
      await t.app.database.sql`update products set name = 'Renamed by the seller' where tenant_id = 'demo' and id = ${row!.id}`;
      await waitFor(async () => (await names()).includes('Renamed by the seller'), 5_000);
      await t.app.database.sql`update pricing_options set fixed_price = 123.45 where tenant_id = 'demo' and product_id = ${row!.id}`;
      await waitFor(async () => {
        const { data } = await call(buyer, 'get_products', { brief: 'anything' });
        const product = (data.products as { product_id: string; pricing_options: { fixed_price?: number }[] }[]).find((p) => p.product_id === row!.id);
        return product?.pricing_options.some((po) => po.fixed_price === 123.45);
      }, 5_000);
    } finally {
      await t.app.database.sql`update products set name = ${row!.name} where tenant_id = 'demo' and id = ${row!.id}`;
    }
  });

  it('properties and creative formats follow changes too (capabilities, list_authorized_properties, list_creative_formats)', async () => {
    const domains = async () => (await call(buyer, 'list_authorized_properties', {})).data.publisher_domains as string[];
    const portfolio = async () => ((await call(buyer, 'get_adcp_capabilities', {})).data as { media_buy: { portfolio: { publisher_domains: string[] } } }).media_buy.portfolio.publisher_domains;
    const formatNames = async () => ((await call(buyer, 'list_creative_formats', {})).data.formats as { name: string }[]).map((f) => f.name);
    // Cached now.
    expect(await domains()).not.toContain('added-later.example');
    expect(await portfolio()).not.toContain('added-later.example');
    const [format] = await t.app.database.sql<{ id: string; name: string }[]>`select id, name from creative_formats where tenant_id = 'demo' order by id limit 1`;
    expect(await formatNames()).toContain(format!.name);
    try {
      await t.app.database.sql`insert into publisher_properties (tenant_id, id, property_type, name, publisher_domain, identifiers, tags)
                               values ('demo', 'prop_added_later', 'website', 'Added later', 'added-later.example', ${JSON.stringify([{ type: 'domain', value: 'added-later.example' }])}::jsonb, '{}')`;
      await t.app.database.sql`update creative_formats set name = 'Renamed format' where tenant_id = 'demo' and id = ${format!.id}`;
      await waitFor(async () => (await domains()).includes('added-later.example') && (await portfolio()).includes('added-later.example'), 5_000);
      await waitFor(async () => (await formatNames()).includes('Renamed format'), 5_000);
    } finally {
      await t.app.database.sql`delete from publisher_properties where tenant_id = 'demo' and id = 'prop_added_later'`;
      await t.app.database.sql`update creative_formats set name = ${format!.name} where tenant_id = 'demo' and id = ${format!.id}`;
    }
  });
});
