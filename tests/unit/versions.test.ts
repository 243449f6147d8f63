import { describe, expect, it } from 'vitest';
import { AdcpError } from '../../src/domain/errors.js';
import { negotiateVersion, servedAs } from '../../src/mcp/define-tool.js';

const codeOf = (args: Record<string, unknown>) => {
  try {
    negotiateVersion(args);
    return 'served';
  } catch (e) {
    return e instanceof AdcpError ? `${e.code} ${e.field}` : String(e);
  }
};

describe('AdCP version negotiation', () => {
  it('serves 3.0 without a pin, and the highest supported release at or below a 3.x pin', () => {
    expect(negotiateVersion({})).toBe('3.0');
    expect(negotiateVersion({ adcp_major_version: 3 })).toBe('3.0');
    expect(negotiateVersion({ adcp_version: '3.0' })).toBe('3.0');
    expect(negotiateVersion({ adcp_version: '3.1', adcp_major_version: 3 })).toBe('3.1');
    expect(negotiateVersion({ adcp_version: '3.4' })).toBe('3.1');
    // A 3.1 pre-release comes before 3.1: the highest release at or below it is 3.0.
    expect(negotiateVersion({ adcp_version: '3.1-beta.1' })).toBe('3.0');
    expect(negotiateVersion({ adcp_version: '3.2-rc.1' })).toBe('3.1');
    expect(negotiateVersion({ adcp_version: '3' })).toBe('3.0');
    // As SDKs send pins: with a patch, a pre-release on the patch, or null for none.
    expect(negotiateVersion({ adcp_version: '3.1.0' })).toBe('3.1');
    expect(negotiateVersion({ adcp_version: '3.0.1' })).toBe('3.0');
    expect(negotiateVersion({ adcp_version: '3.1.0-beta.1' })).toBe('3.0');
    expect(negotiateVersion({ adcp_version: '3.2.4' })).toBe('3.1');
    expect(negotiateVersion({ adcp_version: null })).toBe('3.0');
  });

  it('refuses another major, fields that disagree, and values that are not versions', () => {
    expect(codeOf({ adcp_version: '4.0' })).toBe('VERSION_UNSUPPORTED adcp_version');
    expect(codeOf({ adcp_version: '2.5' })).toBe('VERSION_UNSUPPORTED adcp_version');
    expect(codeOf({ adcp_major_version: 2 })).toBe('VERSION_UNSUPPORTED adcp_major_version');
    expect(codeOf({ adcp_version: '3.1', adcp_major_version: 4 })).toBe('VERSION_UNSUPPORTED adcp_version');
    expect(codeOf({ adcp_version: 'latest' })).toBe('VERSION_UNSUPPORTED adcp_version');
    expect(codeOf({ adcp_version: 3.1 })).toBe('VERSION_UNSUPPORTED adcp_version');
    expect(codeOf({ adcp_version: '4.0.0-rc.1' })).toBe('VERSION_UNSUPPORTED adcp_version');
    expect(codeOf({ adcp_major_version: 'three' })).toBe('VALIDATION_ERROR adcp_major_version');
    expect(codeOf({ adcp_major_version: '3' })).toBe('served');
  });

  it('tells the buyer which releases it could use instead', () => {
    try {
      negotiateVersion({ adcp_version: '4.0' });
      expect.unreachable();
    } catch (e) {
      expect((e as AdcpError).toJSON()).toMatchObject({ code: 'VERSION_UNSUPPORTED', details: { supported_versions: ['3.0', '3.1'], supported_majors: [3] } });
    }
  });
});

describe('servedAs', () => {
  it('leaves 3.0 bodies alone', () => {
    const body = { media_buy_id: 'mb_1', status: 'pending_creatives' };
    expect(servedAs('3.0', 'create_media_buy', body, false)).toBe(body);
  });
  it('in 3.1 moves the buy status to media_buy_status and puts the task status on top', () => {
    expect(servedAs('3.1', 'create_media_buy', { media_buy_id: 'mb_1', status: 'pending_creatives' }, false)).toEqual({
      media_buy_id: 'mb_1',
      media_buy_status: 'pending_creatives',
      status: 'completed',
      adcp_version: '3.1',
    });
    expect(servedAs('3.1', 'create_media_buy', { task_id: 't', status: 'submitted' }, false)).toEqual({ task_id: 't', status: 'submitted', adcp_version: '3.1' });
    expect(servedAs('3.1', 'get_products', { products: [] }, false)).toEqual({ products: [], status: 'completed', adcp_version: '3.1' });
    // A polled task's own status is the task status already.
    expect(servedAs('3.1', 'tasks/get', { task_id: 't', status: 'working' }, false)).toMatchObject({ status: 'working' });
    expect(servedAs('3.1', 'create_media_buy', { errors: [{ code: 'X' }] }, true)).toEqual({ errors: [{ code: 'X' }], status: 'failed', adcp_version: '3.1' });
  });
});
