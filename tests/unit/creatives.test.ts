import { describe, expect, it } from 'vitest';
import { acceptsFormat, assetProblems, assignmentRequests, creativeReviewMode, planAssignments, planCreative, statusAfterSync, unfitAssignments, type OwnPackage, type StoredCreative } from '../../src/domain/creatives.js';

const spec = {
  assets: [
    { item_type: 'individual', asset_id: 'banner_image', asset_type: 'image', required: true },
    { item_type: 'individual', asset_id: 'click_url', asset_type: 'url', required: true },
    { item_type: 'individual', asset_id: 'logo', asset_type: 'image', required: false },
  ],
};
const image = { asset_type: 'image', url: 'https://x.example/a.png', width: 300, height: 250 };
const url = { asset_type: 'url', url: 'https://x.example/' };
const format = { id: 'display_300x250', agentUrl: 'https://creative.example', spec };
const creative = (o: Record<string, unknown> = {}) => ({ creative_id: 'c1', name: 'One', format_id: { agent_url: 'https://creative.example/', id: 'display_300x250' }, assets: { banner_image: image, click_url: url }, ...o });
const stored = (o: Partial<StoredCreative> = {}): StoredCreative => ({ id: 'c1', name: 'One', formatId: creative().format_id, assets: creative().assets, status: 'approved', details: { account_id: 'acct_1' }, ...o });
const plan = (o: Partial<Parameters<typeof planCreative>[0]> = {}) => planCreative({ creative: creative(), at: 'creatives[0]', format, accountId: 'acct_1', review: 'auto', ...o });

describe('creative review mode', () => {
  it('is auto unless the tenant asks for manual', () => {
    expect(creativeReviewMode({})).toBe('auto');
    expect(creativeReviewMode({ creative_review: 'manual' })).toBe('manual');
    expect(creativeReviewMode(undefined)).toBe('auto');
  });
});

describe('asset checks', () => {
  it('accepts required assets by asset_id, or by asset_type under another key', () => {
    expect(assetProblems({ banner_image: image, click_url: url }, spec)).toEqual([]);
    expect(assetProblems({ image, landing: url }, spec)).toEqual([]);
  });
  it('reports missing and mistyped required assets', () => {
    expect(assetProblems({ image }, spec)).toEqual([{ asset_id: 'click_url', message: 'Required asset "click_url" (url) is missing.' }]);
    expect(assetProblems({ banner_image: url, click_url: url }, spec).map((p) => p.asset_id)).toEqual(['banner_image']);
    // One image cannot fill two image slots.
    expect(assetProblems({ image }, { assets: [spec.assets[0], { asset_id: 'thumb', asset_type: 'image', required: true }] }).map((p) => p.asset_id)).toEqual(['thumb']);
  });
});

describe('status after a sync', () => {
  it('reviews new content: approved at once when auto, pending_review when manual', () => {
    expect(statusAfterSync({ contentChanged: false, review: 'auto' })).toBe('approved');
    expect(statusAfterSync({ contentChanged: false, review: 'manual' })).toBe('pending_review');
    expect(statusAfterSync({ stored: stored({ status: 'rejected' }), contentChanged: true, review: 'manual' })).toBe('pending_review');
  });
  it('keeps the status when only metadata changes, and restores an archived creative', () => {
    expect(statusAfterSync({ stored: stored({ status: 'rejected' }), contentChanged: false, review: 'auto' })).toBe('rejected');
    expect(statusAfterSync({ stored: stored({ status: 'archived', details: { archived_from: 'pending_review' } }), contentChanged: false, review: 'auto' })).toBe('pending_review');
    expect(statusAfterSync({ stored: stored({ status: 'archived' }), contentChanged: false, review: 'manual' })).toBe('pending_review');
  });
});

describe('planCreative', () => {
  it('creates, finds nothing to change, or lists the changes', () => {
    expect(plan()).toMatchObject({ action: 'created', status: 'approved', write: { id: 'c1', details: { account_id: 'acct_1' } } });
    expect(plan({ stored: stored() })).toEqual({ creativeId: 'c1', action: 'unchanged', status: 'approved' });
    expect(plan({ stored: stored(), creative: creative({ name: 'Two', tags: ['a'] }) })).toMatchObject({ action: 'updated', changes: ['name', 'tags'], write: { details: { fields: { tags: ['a'] } } } });
  });
  it('keeps a rejection reason while the creative stays rejected, and drops it on resubmission', () => {
    const rejected = stored({ status: 'rejected', details: { account_id: 'acct_1', rejection_reason: 'Brand safety' } });
    expect(plan({ stored: rejected, creative: creative({ name: 'Two' }) })).toMatchObject({ action: 'updated', status: 'rejected', write: { details: { rejection_reason: 'Brand safety' } } });
    const resubmitted = plan({ stored: rejected, creative: creative({ assets: { banner_image: { ...image, url: 'https://x.example/c.png' }, click_url: url } }) });
    expect(resubmitted).toMatchObject({ action: 'updated', status: 'approved', changes: ['assets', 'status'] });
    expect(resubmitted.write!.details.rejection_reason).toBeUndefined();
  });
  it('sends changed assets back to review under manual review', () => {
    const changed = plan({ stored: stored(), review: 'manual', creative: creative({ assets: { banner_image: { ...image, url: 'https://x.example/b.png' }, click_url: url } }) });
    expect(changed).toMatchObject({ action: 'updated', status: 'pending_review', changes: ['assets', 'status'] });
  });
  it('fails an unknown format, a missing required asset or one of the wrong type', () => {
    expect(plan({ format: undefined })).toMatchObject({ action: 'failed', errors: [{ code: 'INVALID_FORMAT', field: 'creatives[0].format_id' }] });
    expect(plan({ creative: creative({ assets: { image } }) })).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[0].assets.click_url' }] });
    expect(plan({ creative: creative({ assets: { banner_image: url, click_url: url } }) })).toMatchObject({ action: 'failed', errors: [{ code: 'FORMAT_MISMATCH', field: 'creatives[0].assets.banner_image' }] });
    expect(plan({ stored: stored(), creative: creative({ assets: { image } }) })).toMatchObject({ action: 'failed' });
  });
  it('warns when the format matched by id under another agent_url', () => {
    expect(plan({ creative: creative({ format_id: { agent_url: 'https://elsewhere.example', id: 'display_300x250' } }) }).warnings).toEqual([expect.stringContaining('matched format "display_300x250" by id')]);
  });
});

describe('assignment requests', () => {
  it('reads the AdCP 3 list and the AdCP 2 map', () => {
    expect(assignmentRequests([{ creative_id: 'c1', package_id: 'p1', weight: 5 }])).toEqual([{ creative_id: 'c1', package_id: 'p1', weight: 5, at: 'assignments[0]' }]);
    expect(assignmentRequests({ c1: ['p1', 'p2'] })).toEqual([
      { creative_id: 'c1', package_id: 'p1', at: 'assignments.c1[0]' },
      { creative_id: 'c1', package_id: 'p2', at: 'assignments.c1[1]' },
    ]);
    expect(assignmentRequests(undefined)).toEqual([]);
  });
});

describe('planAssignments', () => {
  const packages = new Map<string, OwnPackage>([
    ['p1', { id: 'p1', mediaBuyId: 'mb1', accountId: 'acct_1', buyStatus: 'pending_creatives', status: 'active', productId: 'display', formatIds: [{ id: 'display_300x250' }] }],
    ['p2', { id: 'p2', mediaBuyId: 'mb2', accountId: 'acct_1', buyStatus: 'canceled', status: 'canceled', productId: 'display', formatIds: [{ id: 'display_300x250' }] }],
    ['p3', { id: 'p3', mediaBuyId: 'mb1', accountId: 'acct_1', buyStatus: 'pending_creatives', status: 'active', productId: 'ctv', formatIds: [{ id: 'video_30s' }] }],
  ]);
  const state = (id: string) => (id === 'bad' ? { state: 'failed' as const } : id === 'ghost' ? { state: 'unknown' as const } : { state: 'ok' as const, formatId: 'display_300x250', status: 'approved' });

  it('accepts assignments to own live packages, once each', () => {
    const p = planAssignments(
      [
        { creative_id: 'c1', package_id: 'p1', at: 'assignments[0]' },
        { creative_id: 'c1', package_id: 'p1', weight: 50, at: 'assignments[1]' },
      ],
      state,
      packages,
    );
    expect(p.accepted).toEqual([{ creativeId: 'c1', packageId: 'p1', mediaBuyId: 'mb1', weight: 50 }]);
    expect(p.errors.size).toBe(0);
  });
  it('skips failed creatives and reports unknown creatives, packages and closed buys', () => {
    const p = planAssignments(
      [
        { creative_id: 'bad', package_id: 'p1', at: 'assignments[0]' },
        { creative_id: 'ghost', package_id: 'p1', at: 'assignments[1]' },
        { creative_id: 'c1', package_id: 'nope', at: 'assignments[2]' },
        { creative_id: 'c1', package_id: 'p2', at: 'assignments[3]' },
      ],
      state,
      packages,
    );
    expect(p.accepted).toEqual([]);
    expect(p.errors.has('bad')).toBe(false);
    expect(p.errors.get('ghost')).toMatchObject([{ code: 'CREATIVE_NOT_FOUND', field: 'assignments[1].creative_id' }]);
    expect(p.errors.get('c1')).toMatchObject([
      { code: 'PACKAGE_NOT_FOUND', field: 'assignments[2].package_id', details: { package_id: 'nope' } },
      { code: 'INVALID_STATE', field: 'assignments[3].package_id' },
    ]);
  });
  it('refuses a rejected or archived creative, with the reason; takes one pending review', () => {
    const status = (id: string) => ({ state: 'ok' as const, formatId: 'display_300x250', status: id, ...(id === 'rejected' && { rejectionReason: 'misleading claim' }) });
    const at = (i: number) => `assignments[${i}]`;
    const p = planAssignments(
      ['rejected', 'archived', 'pending_review'].map((id, i) => ({ creative_id: id, package_id: 'p1', at: at(i) })),
      status,
      packages,
    );
    expect(p.accepted.map((a) => a.creativeId)).toEqual(['pending_review']);
    expect(p.errors.get('rejected')).toMatchObject([{ code: 'CREATIVE_REJECTED', field: 'assignments[0].creative_id', details: { package_id: 'p1', reasons: ['misleading claim'] } }]);
    expect(p.errors.get('archived')).toMatchObject([{ code: 'INVALID_STATE', field: 'assignments[1].creative_id', details: { package_id: 'p1', status: 'archived' } }]);
  });
  it("refuses a package of another account's buy than the creative's", () => {
    const p = planAssignments([{ creative_id: 'c1', package_id: 'p1', at: 'assignments[0]' }], () => ({ state: 'ok', formatId: 'display_300x250', status: 'approved', accountId: 'acct_2' }), packages);
    expect(p.accepted).toEqual([]);
    expect(p.errors.get('c1')).toMatchObject([{ code: 'VALIDATION_ERROR', field: 'assignments[0].package_id' }]);
    // A creative of no account (synced before accounts) may go anywhere among the buyer's packages.
    expect(planAssignments([{ creative_id: 'c1', package_id: 'p1', at: 'assignments[0]' }], () => ({ state: 'ok', formatId: 'display_300x250', status: 'approved', accountId: null }), packages).accepted).toHaveLength(1);
  });
  it("refuses a package whose product does not take the creative's format, saying which formats it takes", () => {
    const p = planAssignments([{ creative_id: 'c1', package_id: 'p3', at: 'assignments[0]' }], state, packages);
    expect(p.accepted).toEqual([]);
    expect(p.errors.get('c1')).toEqual([
      {
        code: 'VALIDATION_ERROR',
        message: 'Creative "c1" is in format "display_300x250", which product "ctv" does not take.',
        field: 'assignments[0].creative_id',
        suggestion: expect.stringContaining('video_30s'),
        recovery: 'correctable',
        details: { reason: 'format_not_accepted', creative_id: 'c1', format_id: 'display_300x250', product_id: 'ctv', accepted_format_ids: ['video_30s'], package_id: 'p3' },
      },
    ]);
  });
});

describe('format acceptance', () => {
  it('matches by format id; a product that lists no formats takes any', () => {
    expect(acceptsFormat([{ id: 'a' }, { id: 'b' }], 'b')).toBe(true);
    expect(acceptsFormat([{ id: 'a' }], 'b')).toBe(false);
    expect(acceptsFormat([], 'b')).toBe(true);
  });
  it('finds the assignments a creative arriving in another format no longer fits', () => {
    const held = [
      { creativeId: 'c1', packageId: 'p1', mediaBuyId: 'mb1', productId: 'display', formatIds: [{ id: 'display_300x250' }] },
      { creativeId: 'c1', packageId: 'p3', mediaBuyId: 'mb1', productId: 'ctv', formatIds: [{ id: 'video_30s' }] },
      { creativeId: 'c2', packageId: 'p3', mediaBuyId: 'mb1', productId: 'ctv', formatIds: [{ id: 'video_30s' }] },
    ];
    const unfit = unfitAssignments(held, (id) => (id === 'c1' ? 'display_300x250' : undefined), () => 'creatives[0]');
    expect(unfit.map((u) => [u.creativeId, u.packageId])).toEqual([['c1', 'p3']]);
    expect(unfit[0]!.error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'creatives[0].format_id', message: expect.stringContaining('was removed') });
  });
});
