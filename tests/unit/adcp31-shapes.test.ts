/**
 * AdCP 3.1 request shapes the 3.0 schemas cannot parse (src/mcp/adcp31-shapes.ts): rewritten to their 3.0
 * form before validation, or refused with the code the seller gives that feature in any form.
 */
import { describe, expect, it } from 'vitest';
import { prepareCreateMediaBuy, prepareGetMediaBuyDelivery, prepareGetProducts, prepareUpdateMediaBuy } from '../../src/mcp/adcp31-shapes.js';
import { AdcpError } from '../../src/domain/errors.js';

const CTX = { agentUrl: 'https://seller.example' };

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AdcpError) return err.toJSON();
    throw err;
  }
  throw new Error('not refused');
};

describe('AdCP 3.1 request shapes', () => {
  it('take postal areas as country + local system in the fused 3.0 form, in targeting and product filters', () => {
    const args = {
      packages: [
        { product_id: 'p1', targeting_overlay: { geo_countries: ['US'], geo_postal_areas: [{ country: 'US', system: 'zip_plus_four', values: ['10001-0001'] }, { system: 'us_zip', values: ['10002'] }] } },
        { product_id: 'p2', targeting_overlay: { geo_postal_areas_exclude: [{ country: 'CH', system: 'plz', values: ['8001'] }, { country: 'CA', system: 'fsa', values: ['M5V'] }] } },
      ],
    };
    const out = prepareCreateMediaBuy(args) as typeof args;
    expect(out.packages[0]!.targeting_overlay).toEqual({ geo_countries: ['US'], geo_postal_areas: [{ system: 'us_zip_plus_four', values: ['10001-0001'] }, { system: 'us_zip', values: ['10002'] }] });
    expect(out.packages[1]!.targeting_overlay).toEqual({ geo_postal_areas_exclude: [{ system: 'ch_plz', values: ['8001'] }, { system: 'ca_fsa', values: ['M5V'] }] });
    // The buyer's request is left as it was.
    expect(args.packages[0]!.targeting_overlay.geo_postal_areas![0]).toEqual({ country: 'US', system: 'zip_plus_four', values: ['10001-0001'] });
    expect(prepareUpdateMediaBuy({ new_packages: [{ targeting_overlay: { geo_postal_areas: [{ country: 'FR', system: 'code_postal', values: ['75001'] }] } }] })).toEqual({
      new_packages: [{ targeting_overlay: { geo_postal_areas: [{ system: 'fr_code_postal', values: ['75001'] }] } }],
    });
    expect(prepareGetProducts({ brief: 'x', filters: { postal_areas: [{ country: 'AU', system: 'postcode', values: ['2000'] }] } }, CTX)).toEqual({ brief: 'x', filters: { postal_areas: [{ system: 'au_postcode', values: ['2000'] }] } });
  });

  it('return the very same arguments when there is nothing to rewrite', () => {
    const args = { packages: [{ product_id: 'p1', targeting_overlay: { geo_postal_areas: [{ system: 'us_zip', values: ['10001'] }] } }] };
    expect(prepareCreateMediaBuy(args)).toBe(args);
    const filters = { filters: { countries: ['US'] } };
    expect(prepareGetProducts(filters, CTX)).toBe(filters);
    const signals = { filters: { signal_targeting: [{ signal_id: { source: 'catalog', data_provider_domain: 'a.example', id: 's' }, signal_ref: { scope: 'product', signal_id: 's' }, value_type: 'binary', value: true }] } };
    expect(prepareGetProducts(signals, CTX)).toBe(signals);
  });

  it('refuse a country and system with no 3.0 form (UNSUPPORTED_FEATURE, naming the entry and the systems served)', () => {
    const err = refusal(() => prepareUpdateMediaBuy({ packages: [{ package_id: 'k', targeting_overlay: { geo_postal_areas_exclude: [{ system: 'us_zip', values: ['1'] }, { country: 'BR', system: 'cep', values: ['01310-100'] }] } }] }));
    expect(err).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'packages[0].targeting_overlay.geo_postal_areas_exclude[1]' });
    expect(err.message).toContain('BR cep');
    expect(err.suggestion).toContain('US zip');
    expect(refusal(() => prepareCreateMediaBuy({ packages: [{ targeting_overlay: { geo_postal_areas: [{ country: 'NL', system: 'postal_code', values: ['1012'] }] } }] }))).toMatchObject({ code: 'UNSUPPORTED_FEATURE' });
  });

  it('leave such areas out of get_products’ postal coverage filter (no product covers them), keeping the others', () => {
    expect(prepareGetProducts({ filters: { countries: ['ZA'], postal_areas: [{ country: 'ZA', system: 'postal_code', values: ['2000'] }] } }, CTX)).toEqual({ filters: { countries: ['ZA'] } });
    expect(prepareGetProducts({ filters: { postal_areas: [{ country: 'BR', system: 'cep', values: ['01310-100'] }, { country: 'US', system: 'zip', values: ['10001'] }] } }, CTX)).toEqual({
      filters: { postal_areas: [{ system: 'us_zip', values: ['10001'] }] },
    });
    expect(refusal(() => prepareGetProducts({ filters: { postal_areas: [{ country: 'US', system: 'cep', values: ['1'] }] } }, CTX))).toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('take a delivery report’s 3.1 postal geo breakdown in 3.0 form, dropping one with no 3.0 system (unsupported dimensions are omitted)', () => {
    expect(prepareGetMediaBuyDelivery({ media_buy_ids: ['m'], reporting_dimensions: { geo: { geo_level: 'postal_area', country: 'GB', system: 'outward', limit: 3 }, device_type: {} } })).toEqual({
      media_buy_ids: ['m'],
      reporting_dimensions: { geo: { geo_level: 'postal_area', system: 'gb_outward', limit: 3 }, device_type: {} },
    });
    expect(prepareGetMediaBuyDelivery({ reporting_dimensions: { geo: { geo_level: 'postal_area', country: 'IN', system: 'pin' }, device_type: {} } })).toEqual({ reporting_dimensions: { device_type: {} } });
    const legacy = { reporting_dimensions: { geo: { geo_level: 'postal_area', system: 'us_zip' } } };
    expect(prepareGetMediaBuyDelivery(legacy)).toBe(legacy);
    expect(refusal(() => prepareGetMediaBuyDelivery({ reporting_dimensions: { geo: { geo_level: 'postal_area', country: 'US', system: 'plz' } } }))).toMatchObject({
      code: 'VALIDATION_ERROR',
      field: 'reporting_dimensions.geo.system',
    });
  });

  it('give a product filter’s 3.1 signal_ref the deprecated SignalId 3.0 requires beside it, for each scope', () => {
    const entry = (signal_ref: Record<string, unknown>) => ({ signal_ref, value_type: 'binary', value: true, targeting_mode: 'include' });
    const out = prepareGetProducts(
      {
        filters: {
          channels: ['display'],
          signal_targeting: [
            entry({ scope: 'data_provider', data_provider_domain: 'polk.com', signal_id: 'auto_intenders' }),
            entry({ scope: 'signal_source', signal_source_url: 'https://signals.example/adcp', signal_id: 'in_market' }),
            entry({ scope: 'product', signal_id: 'sports_fans' }),
          ],
        },
      },
      CTX,
    ) as { filters: { channels: string[]; signal_targeting: Record<string, unknown>[] } };
    expect(out.filters.channels).toEqual(['display']);
    expect(out.filters.signal_targeting.map((e) => e.signal_id)).toEqual([
      { source: 'catalog', data_provider_domain: 'polk.com', id: 'auto_intenders' },
      { source: 'agent', agent_url: 'https://signals.example/adcp', id: 'in_market' },
      { source: 'agent', agent_url: 'https://seller.example', id: 'sports_fans' },
    ]);
    expect(out.filters.signal_targeting[2]).toMatchObject({ signal_ref: { scope: 'product', signal_id: 'sports_fans' }, targeting_mode: 'include' });
    // An unknown scope is left for validation to refuse.
    const odd = prepareGetProducts({ filters: { signal_targeting: [entry({ scope: 'somewhere', signal_id: 'x' })] } }, CTX) as { filters: { signal_targeting: Record<string, unknown>[] } };
    expect(odd.filters.signal_targeting[0]).not.toHaveProperty('signal_id');
  });

  it('refuse a country and system AdCP 3.1 does not pair (VALIDATION_ERROR on the system)', () => {
    for (const area of [{ country: 'US', system: 'gb_outward' }, { country: 'US', system: 'us_zip' }, { country: 'US', system: 'postal_code' }, { country: 'us', system: 'zip' }, { country: 'GB', system: 42 }]) {
      expect(refusal(() => prepareCreateMediaBuy({ packages: [{ targeting_overlay: { geo_postal_areas: [{ ...area, values: ['1'] }] } }] })), JSON.stringify(area)).toMatchObject({
        code: 'VALIDATION_ERROR',
        field: 'packages[0].targeting_overlay.geo_postal_areas[0].system',
      });
    }
  });

  it('refuse inline package creatives in any form (3.1 canonical-format ones included) as UNSUPPORTED_FEATURE', () => {
    const creative = { creative_id: 'c1', name: 'n', format_kind: 'image', assets: { image: [{ asset_type: 'image', url: 'https://x.example/a.png' }] } };
    expect(refusal(() => prepareUpdateMediaBuy({ packages: [{ package_id: 'k', creatives: [creative] }] }))).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'packages[0].creatives' });
  });

  it('refuse optimization goals in any form as UNSUPPORTED_FEATURE, and let an empty list be', () => {
    const vendor = { kind: 'vendor_metric', vendor: { domain: 'integralads.com' }, metric_id: 'attention_index' };
    expect(refusal(() => prepareCreateMediaBuy({ packages: [{}, { optimization_goals: [vendor] }] }))).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'packages[1].optimization_goals' });
    const event = { kind: 'event', event_sources: [{ event_source_id: 'es_1', event_type: 'purchase' }], attribution_window: { model: 'last_touch' } };
    expect(refusal(() => prepareUpdateMediaBuy({ new_packages: [{ optimization_goals: [event] }] }))).toMatchObject({ code: 'UNSUPPORTED_FEATURE', field: 'new_packages[0].optimization_goals' });
    const none = { packages: [{ optimization_goals: [] }] };
    expect(prepareCreateMediaBuy(none)).toBe(none);
  });
});
