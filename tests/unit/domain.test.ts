import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getErrorRecovery, STANDARD_ERROR_CODES } from '@adcp/sdk';
import { describe, expect, it } from 'vitest';
import type { AdapterConfigRow } from '../../src/db/queries/adapters.js';
import type { ProductWithPricing } from '../../src/db/queries/inventory.js';
import { AdcpError } from '../../src/domain/errors.js';
import { canonicalJson, hashJson, newId } from '../../src/domain/ids.js';
import { planMediaBuy, checkTargeting } from '../../src/domain/media-buy-plan.js';
import { compareAmounts, decimalPlaces, fromUnits, minorUnits, sumAmounts, toUnits } from '../../src/domain/money.js';
import { briefBudget, briefCountries, briefTerms, MAX_BRIEF_TERMS, rankByBrief } from '../../src/domain/products.js';
import { toAdcpMediaBuyStatus, toAdcpTaskStatus } from '../../src/domain/status.js';
import { ADCP_31_SCHEMAS, have31Schemas } from '../helpers/adcp-schema.js';

describe('money', () => {
  it('adds without float error', () => {
    expect(sumAmounts([0.1, 0.2])).toBe('0.3');
    expect(sumAmounts(['19999.9999', '0.0001'])).toBe('20000');
    expect(fromUnits(toUnits('-12.5'))).toBe('-12.5');
    expect(compareAmounts('2.50', 2.5)).toBe(0);
    expect(compareAmounts('2.49', '2.5')).toBe(-1);
  });
  it('refuses what is not a decimal', () => {
    expect(() => toUnits('1e5')).toThrow();
  });
  it('counts decimals as JSON wrote the number, and knows ISO 4217 minor units', () => {
    expect([100, 100.1, 100.01, 100.001, 0.005, 1e-7, 1e21, 33333.333333333336, 0.1 + 0.2].map(decimalPlaces)).toEqual([0, 1, 2, 3, 3, 7, 0, 12, 17]);
    expect(['USD', 'eur', 'JPY', 'KRW', 'KWD', 'BHD', 'CLF', 'XYZ'].map(minorUnits)).toEqual([2, 2, 0, 0, 3, 3, 4, 2]);
  });
});

describe('errors', () => {
  it('take AdCP’s recovery for their code unless they say otherwise (3.0 codes, and 3.1’s where its schemas are here)', () => {
    const spec: Record<string, string> = Object.fromEntries(Object.keys(STANDARD_ERROR_CODES).map((code) => [code, getErrorRecovery(code)!]));
    if (have31Schemas) {
      const { enumMetadata } = JSON.parse(readFileSync(path.join(ADCP_31_SCHEMAS, 'enums/error-code.json'), 'utf8')) as { enumMetadata: Record<string, { recovery?: string }> };
      for (const [code, m] of Object.entries(enumMetadata)) if (m.recovery) spec[code] = m.recovery;
    }
    const ours = Object.fromEntries(Object.keys(spec).map((code) => [code, new AdcpError(code, 'm').recovery]));
    expect(ours).toEqual(spec);
    expect(new AdcpError('ACCOUNT_NOT_FOUND', 'm', { recovery: 'correctable' }).recovery).toBe('correctable');
  });
});

describe('ids', () => {
  it('makes prefixed ids that stay distinct across refills of the random pool', () => {
    const ids = Array.from({ length: 5000 }, () => newId('mb'));
    for (const id of ids) expect(id).toMatch(/^mb_[a-z0-9]{14}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Consecutive ids share no bytes: each takes its own slice of the pool.
    expect(new Set(ids.map((id) => id.slice(3, 8))).size).toBeGreaterThan(4990);
  });
  it('hashes JSON independent of key order and undefined fields', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe('{"a":[1,{"c":3,"d":2}],"b":1}');
    expect(hashJson({ a: 1, b: undefined })).toBe(hashJson({ a: 1 }));
    expect(hashJson({ a: 1 })).not.toBe(hashJson({ a: 2 }));
  });
});

describe('status mapping', () => {
  it('shows a buy awaiting approval as pending_start and its task as submitted', () => {
    expect(toAdcpMediaBuyStatus('pending_approval')).toBe('pending_start');
    expect(toAdcpMediaBuyStatus('active')).toBe('active');
    expect(toAdcpTaskStatus('requires_approval')).toBe('submitted');
    expect(toAdcpTaskStatus('in_progress')).toBe('working');
    expect(toAdcpTaskStatus('failed')).toBe('failed');
  });
});

const product = (id: string, name: string, description: string, channels: string[], pricing: Partial<ProductWithPricing['pricing'][number]>[] = []): ProductWithPricing =>
  ({
    tenantId: 't',
    id,
    name,
    description,
    channels,
    deliveryType: 'guaranteed',
    formatIds: [],
    publisherProperties: [],
    targetingTemplate: {},
    countries: [],
    adapterConfigId: null,
    allowedPrincipalIds: null,
    details: {},
    archived: false,
    testFixture: false,
    createdAt: new Date(),
    updatedAt: new Date(),
    pricing: pricing.map((p, i) => ({ tenantId: 't', productId: id, id: `po${i}`, pricingModel: 'cpm', currency: 'USD', fixedPrice: null, floorPrice: null, priceGuidance: null, minSpendPerPackage: null, parameters: null, ...p })),
  }) as ProductWithPricing;

describe('brief ranking', () => {
  const catalogue = [
    product('a', 'Homepage display', 'Banners on the homepage', ['display']),
    product('b', 'CTV primetime', 'Streaming TV spots', ['ctv']),
    product('c', 'Podcast host read', 'Audio sponsorship', ['podcast']),
  ];
  it('puts the best match first and explains it', () => {
    const ranked = rankByBrief(catalogue, 'Connected TV streaming for a sports drink');
    expect(ranked[0]!.product.id).toBe('b');
    expect(ranked[0]!.relevance).toMatch(/streaming/);
    expect(ranked.map((r) => r.product.id)).not.toContain('a');
  });
  it('reads the countries a brief names, not words that only look like codes or other places', () => {
    expect(briefCountries('CTV in Germany and the United Kingdom, maybe South Korea')).toEqual(['DE', 'GB', 'KR']);
    expect(briefCountries('Adults 25-54, US and Canada. UK next')).toEqual(['US', 'GB', 'CA']);
    expect(briefCountries('for us, in it, IT and CA teams, a New Mexico and New Jersey launch before Turkey day')).toEqual([]);
    expect(briefCountries('New Zealand')).toEqual(['NZ']);
  });
  it('reads a budget the brief states, in its currency units', () => {
    expect(briefBudget('I have $2,000 for display')).toBe(2000);
    expect(briefBudget('Q2 flight, $25K budget.')).toBe(25000);
    expect(briefBudget('budget 50k USD')).toBe(50000);
    expect(briefBudget('€1.5m across Q1')).toBe(1500000);
    expect(briefBudget('2 million impressions')).toBeUndefined();
  });
  it('lists products sold only elsewhere, then those above the stated budget, after the others, saying why', () => {
    const world = [
      { ...product('us', 'CTV primetime US', 'Streaming TV', ['ctv'], [{ minSpendPerPackage: '10000' }]), countries: ['US'] },
      { ...product('de', 'CTV primetime DE', 'Streaming TV', ['ctv'], [{ minSpendPerPackage: '10000' }]), countries: ['DE'] },
      { ...product('any', 'CTV run of network', 'Streaming TV', ['ctv'], [{ minSpendPerPackage: '500' }]), countries: [] },
    ];
    const ranked = rankByBrief(world, 'CTV in Germany with $2,000');
    expect(ranked.map((r) => r.product.id)).toEqual(['any', 'de', 'us']);
    expect(ranked[1]!.relevance).toMatch(/Its minimum spend \(10000\) is above the brief's budget \(2000\)/);
    expect(ranked[2]!.relevance).toMatch(/Not sold in DE \(sold in US\)/);
    expect(ranked.note).toBe("1 of these products are not sold in DE, the countries the brief names; they are listed last.");
    expect(rankByBrief(world.slice(0, 1), 'CTV in Japan').note).toBe('No product here is sold in JP, the countries the brief names.');
    expect(rankByBrief(world, 'CTV in the US and Canada').map((r) => r.product.id)).toEqual(['us', 'any', 'de']);
    expect(rankByBrief(world, 'CTV').note).toBeUndefined();
  });
  it('returns everything when nothing in the brief matches', () => {
    expect(rankByBrief(catalogue, 'zzz qqq')).toHaveLength(3);
  });
  it('matches a description at the start of its words', () => {
    expect(rankByBrief(catalogue, 'sponsor')[0]!.product.id).toBe('c');
    expect(rankByBrief(catalogue, 'ponsorship').map((r) => r.relevance)).toEqual([undefined, undefined, undefined]);
  });
  it('reads a bounded number of terms from the start of the brief, skipping words no product has', () => {
    const words = Array.from({ length: 200_000 }, (_, i) => `w${i}`).join(' ');
    expect(briefTerms(`${'x'.repeat(1000)} podcast ${words}`)).toEqual(['podcast', ...Array.from({ length: MAX_BRIEF_TERMS - 1 }, (_, i) => `w${i}`)]);
    expect(briefTerms(`${' '.repeat(50_000)} podcast`)).toEqual([]);
    expect(rankByBrief(catalogue, `podcast ${words}`)[0]!.product.id).toBe('c');
  });
});

describe('planMediaBuy', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const adapters = [{ id: 'ad1', isDefault: true, manualApprovalRequired: false } as AdapterConfigRow, { id: 'ad2', isDefault: false, manualApprovalRequired: true } as AdapterConfigRow];
  const products = [
    product('fixed', 'Fixed', 'x', ['display'], [{ fixedPrice: '10', minSpendPerPackage: '1000' }]),
    product('auction', 'Auction', 'x', ['display'], [{ floorPrice: '2.5' }]),
    { ...product('manual', 'Manual', 'x', ['ctv'], [{ fixedPrice: '40' }]), adapterConfigId: 'ad2' },
    product('eur', 'Euro', 'x', ['display'], [{ fixedPrice: '5', currency: 'EUR' }]),
  ];
  const base = { start_time: '2026-06-02T00:00:00Z', end_time: '2026-06-30T00:00:00Z' };
  const plan = (packages: Record<string, unknown>[], extra: Record<string, unknown> = {}, settings = {}) =>
    planMediaBuy({ request: { ...base, ...extra, packages } as never, products, adapters, settings, now });
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as AdcpError).code;
    }
    return 'OK';
  };

  it('sums budgets exactly and picks the default adapter', () => {
    const p = plan([
      { product_id: 'fixed', pricing_option_id: 'po0', budget: 1000.1 },
      { product_id: 'auction', pricing_option_id: 'po0', budget: 0.2, bid_price: 3 },
    ]);
    expect(p.totalBudget).toBe('1000.3');
    expect(p.currency).toBe('USD');
    expect(p.packages.map((x) => x.adapterConfigId)).toEqual(['ad1', 'ad1']);
    expect(p.manualApproval).toBe(false);
  });
  it('needs manual approval when any adapter or the tenant asks for it', () => {
    expect(plan([{ product_id: 'manual', pricing_option_id: 'po0', budget: 100 }]).manualApproval).toBe(true);
    expect(plan([{ product_id: 'fixed', pricing_option_id: 'po0', budget: 1000 }], {}, { manual_approval_required: true }).manualApproval).toBe(true);
  });
  it('accepts asap and rejects what is wrong', () => {
    expect(plan([{ product_id: 'fixed', pricing_option_id: 'po0', budget: 1000 }], { start_time: 'asap' }).startTime).toEqual(now);
    expect(code(() => plan([{ product_id: 'fixed', pricing_option_id: 'po0', budget: 1000 }, { product_id: 'eur', pricing_option_id: 'po0', budget: 10 }]))).toBe('VALIDATION_ERROR');
    expect(code(() => plan([{ product_id: 'fixed', pricing_option_id: 'po0', budget: 999.99 }]))).toBe('BUDGET_TOO_LOW');
    expect(code(() => plan([{ product_id: 'fixed', pricing_option_id: 'po0', budget: 5000 }], {}, { max_media_buy_budget: '4000' }))).toBe('BUDGET_EXCEEDED');
    expect(code(() => plan([{ product_id: 'eur', pricing_option_id: 'po0', budget: 10 }], {}, { currencies: ['USD'] }))).toBe('UNSUPPORTED_FEATURE');
    expect(code(() => plan([{ product_id: 'auction', pricing_option_id: 'po0', budget: 10, bid_price: 2.49 }]))).toBe('VALIDATION_ERROR');
    expect(code(() => plan([], { proposal_id: 'p1' }))).toBe('UNSUPPORTED_FEATURE');
    expect(code(() => plan([{ product_id: 'fixed', pricing_option_id: 'po0', budget: 1000, creatives: [{}] }]))).toBe('UNSUPPORTED_FEATURE');
  });
});

describe('windowed pulls', () => {
  it('counts the windows a span touches, and stops counting past the cap', async () => {
    const { MAX_WINDOWS, windowCount } = await import('../../src/domain/delivery.js');
    const span = (from: string, to: string) => ({ from: new Date(from), to: new Date(to) });
    expect(windowCount('daily', span('2026-03-15T12:00:00Z', '2026-03-17T01:00:00Z'))).toBe(3);
    expect(windowCount('monthly', span('2026-03-15T00:00:00Z', '2026-05-01T00:00:00Z'))).toBe(2);
    expect(windowCount('daily', span('2026-03-15T00:00:00Z', '2026-03-15T00:00:00Z'))).toBe(0);
    expect(windowCount('daily', span('1900-01-01T00:00:00Z', '9999-12-31T00:00:00Z'))).toBe(MAX_WINDOWS.daily + 1);
  });
});

describe('targeting', () => {
  const at = (f: string) => `packages[0].${f}`;
  it('accepts the fields it knows', () => {
    expect(() => checkTargeting({ geo_countries: ['US', 'GB'], geo_regions: ['US-CA', 'GB-SCT'], language: ['en'], frequency_cap: { max_impressions: 3 } }, at)).not.toThrow();
  });
  it('refuses a targeting field it does not know', () => {
    expect(() => checkTargeting({ geo_planet: ['Mars'] }, at)).toThrow('Unknown targeting field "geo_planet"');
  });
});


describe('webhook operation_id', () => {
  it('echoes the buyer’s operation_id; else reads a UUID off the URL for a 3.0 buyer only (3.1 forbids parsing the URL); else the task id', async () => {
    const { webhookPayload } = await import('../../src/domain/webhooks.js');
    const uuid = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
    const base = { taskId: 'task_1', taskType: 'create_media_buy', status: 'completed', url: `https://buyer.example/hooks/${uuid}` };
    expect(webhookPayload({ ...base, operationId: 'op-given', release: '3.1' }).operation_id).toBe('op-given');
    expect(webhookPayload({ ...base, release: '3.0' }).operation_id).toBe(uuid);
    expect(webhookPayload(base).operation_id).toBe(uuid);
    expect(webhookPayload({ ...base, release: '3.1' }).operation_id).toBe('task_1');
    expect(webhookPayload({ ...base, url: 'https://buyer.example/hooks/not-a-uuid', release: '3.0' }).operation_id).toBe('task_1');
  });
});

describe('webhook address checks', () => {
  it('reads every spelling of a private, loopback or reserved address as such, and public ones as public', async () => {
    const { isPrivateAddress, isLocalHostname, privateWebhooksAllowed } = await import('../../src/domain/webhooks.js');
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '198.18.0.1', '224.0.0.1', '240.0.0.1', '255.255.255.255',
      '::1', '::', '::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:a9fe:a9fe', '::7f00:1', '64:ff9b::a00:1', 'fd00::1', 'fe80::1', 'fec0::1', 'ff02::1', 'not-an-ip',
      '::ffff:0:7f00:1', '::ffff:0:127.0.0.1', '64:ff9b:1::808:808', '2002:7f00:1::', '2002:a9fe:a9fe::1', '2001:0:4136:e378::1', '100::1', '198.51.100.7', '203.0.113.9', '192.88.99.1']) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['8.8.8.8', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2001:4860::8888']) expect(isPrivateAddress(ip), ip).toBe(false);
    expect(isLocalHostname('localhost.')).toBe(true);
    expect(isLocalHostname('API.Localhost')).toBe(true);
    // A buyer opens sandbox accounts itself: that alone never opens the private network.
    expect(privateWebhooksAllowed({}, true)).toBe(false);
    expect(privateWebhooksAllowed({ test_controller: 'enabled' }, true)).toBe(true);
    expect(privateWebhooksAllowed({ test_controller: 'enabled' }, false)).toBe(false);
    expect(privateWebhooksAllowed({ allow_private_webhooks: true }, false)).toBe(true);
  });

  it('refuses webhook URLs carrying a user name or password, and very long ones', async () => {
    const { checkWebhookConfig, MAX_WEBHOOK_URL } = await import('../../src/domain/webhooks.js');
    const field = 'push_notification_config';
    expect(() => checkWebhookConfig({ url: 'https://user:secret@hooks.example.com/x' }, false, field)).toThrow(/user name or password/);
    expect(() => checkWebhookConfig({ url: 'https://user@hooks.example.com/x' }, false, field)).toThrow(/user name or password/);
    expect(() => checkWebhookConfig({ url: `https://hooks.example.com/${'a'.repeat(MAX_WEBHOOK_URL)}` }, false, field)).toThrow(/longer than/);
    expect(() => checkWebhookConfig({ url: 'https://hooks.example.com/x?sig=abc' }, false, field)).not.toThrow();
  });
});
