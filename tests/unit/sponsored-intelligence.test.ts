import { describe, expect, it } from 'vitest';
import type { ProductWithPricing } from '../../src/db/queries/inventory.js';
import { answer, negotiateCapabilities, offeringToken, priceHint, readOfferingToken, statusAfterTermination } from '../../src/domain/sponsored-intelligence.js';

const product = (id: string, name: string, channels: string[], pricing: Partial<ProductWithPricing['pricing'][number]>[]) =>
  ({ id, name, description: `${name} description`, channels, deliveryType: 'non_guaranteed', pricing: pricing.map((p) => ({ pricingModel: 'cpm', currency: 'USD', fixedPrice: null, floorPrice: null, ...p })) }) as unknown as ProductWithPricing;

const ctv = product('ctv', 'CTV Primetime', ['ctv'], [{ fixedPrice: '42' }, { fixedPrice: '40.5' }]);
const audio = product('audio', 'Podcast Sponsorship', ['podcast'], [{ floorPrice: '12.5' }]);
const bare = product('bare', 'Bare', ['display'], []);

describe('sponsored intelligence rules', () => {
  it('negotiates the standard components both sides render, text always', () => {
    expect((negotiateCapabilities(undefined).components as { standard: string[] }).standard).toEqual(['text', 'link', 'product_card']);
    expect((negotiateCapabilities({ components: { standard: ['product_card', 'carousel'] } }).components as { standard: string[] }).standard).toEqual(['text', 'product_card']);
  });

  it('completes on a handoff and terminates otherwise', () => {
    expect(statusAfterTermination('handoff_transaction')).toBe('complete');
    expect(statusAfterTermination('handoff_complete')).toBe('complete');
    expect(statusAfterTermination('session_timeout')).toBe('terminated');
    expect(statusAfterTermination('user_exit')).toBe('terminated');
  });

  it('prices a card from the cheapest option, decimal-safe', () => {
    expect(priceHint(ctv)).toBe('40.50 USD CPM');
    expect(priceHint(audio)).toBe('from 12.50 USD CPM (auction)');
    expect(priceHint(bare)).toBe('Price on request');
  });

  it('reads back only tokens it issued', () => {
    expect(readOfferingToken(offeringToken('ctv', ['ctv', 'audio']))).toEqual({ offeringId: 'ctv', productIds: ['ctv', 'audio'] });
    expect(readOfferingToken('ofr.bm90IGpzb24')).toBeUndefined();
    expect(readOfferingToken('someone-elses-token')).toBeUndefined();
  });

  it('answers with matching cards, falls back to the intent, and says what it sells when nothing matches', () => {
    const all = [ctv, audio, bare];
    const direct = answer({ seller: 'Demo', products: all, text: 'any podcast slots?', intent: 'ctv', components: ['text', 'product_card'] });
    expect(direct.ui_elements.map((e) => (e.data as { product_id: string }).product_id)).toEqual(['audio']);
    const fallback = answer({ seller: 'Demo', products: all, text: 'what else?', intent: 'ctv for cars', components: ['text', 'product_card'] });
    expect(fallback.message).toMatch(/^Nothing matches that directly/);
    expect(fallback.ui_elements).toHaveLength(1);
    const none = answer({ seller: 'Demo', products: all, text: 'hello', intent: 'hello', components: ['text', 'product_card'] });
    expect(none).toEqual({ message: expect.stringContaining('Demo offers ctv, display, podcast'), ui_elements: [] });
    const textOnly = answer({ seller: 'Demo', products: all, text: 'podcast', intent: '', components: ['text'] });
    expect(textOnly.ui_elements).toEqual([]);
    expect(textOnly.message).toContain('Podcast Sponsorship');
  });
});
