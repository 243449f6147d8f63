/** Pure parts of the seller console: escaping, passwords, secrets, Slack text. */
import { describe, expect, it } from 'vitest';
import { escapeHtml, fmtMoney, href, html } from '../../src/admin/html.js';
import { generatePassword, hashPassword, verifyPassword } from '../../src/admin/passwords.js';
import { mergeSettings, redactSecrets, splitSettings } from '../../src/admin/secrets.js';
import { localPath } from '../../src/admin/respond.js';
import { slackMessage } from '../../src/jobs/tasks/notify-slack.js';

describe('html escaping', () => {
  it('escapes every interpolated value unless it was built by the tag', () => {
    const evil = `"><script>alert('x')</script>&\``;
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe(
      '<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;</p>',
    );
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${[html`<br>`, '<br>']}${null}${undefined}${false}${0}</p>`.value).toBe('<p><b>&lt;i&gt;</b><br>&lt;br&gt;0</p>');
    expect(escapeHtml('a&b')).toBe('a&amp;b');
  });

  it('builds console links with each segment encoded', () => {
    expect(href(['media-buys', 'mb_1/../x?y'], { status: 'a b', empty: '' })).toBe('/admin/media-buys/mb_1%2F..%2Fx%3Fy?status=a+b');
  });

  it('accepts only console paths as redirect targets', () => {
    expect(localPath('/admin/media-buys/mb_1', '/admin/queue')).toBe('/admin/media-buys/mb_1');
    for (const bad of ['https://evil.example/', '//evil.example', '/admin//evil.example', '/mcp', '/admin/x"><script>', null]) {
      expect(localPath(bad, '/admin/queue'), String(bad)).toBe('/admin/queue');
    }
  });

  it('formats decimal money without floats', () => {
    expect(fmtMoney('1234567.5000', 'USD')).toBe('1,234,567.50 USD');
    expect(fmtMoney('0.0525')).toBe('0.0525');
    expect(fmtMoney(null)).toBe('—');
  });
});

describe('passwords', () => {
  it('hashes with scrypt and a per-user salt, and verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b); // salted
    expect(await verifyPassword('correct horse battery staple', a)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', a)).toBe(false);
    expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
  });

  it('generates one-time passwords from an unambiguous alphabet', () => {
    const seen = new Set(Array.from({ length: 50 }, generatePassword));
    expect(seen.size).toBe(50);
    for (const p of seen) expect(p).toMatch(/^[a-km-np-zA-HJ-NP-Z2-9]{20}$/);
  });
});

describe('secrets', () => {
  it('redacts credentials in stored requests', () => {
    const req = { push_notification_config: { url: 'https://b.example', authentication: { schemes: ['Bearer'], credentials: 's3cret' } }, packages: [{ api_key: 'k', budget: 1 }] };
    expect(redactSecrets(req)).toEqual({ push_notification_config: { url: 'https://b.example', authentication: { schemes: ['Bearer'], credentials: '[redacted]' } }, packages: [{ api_key: '[redacted]', budget: 1 }] });
    expect(req.push_notification_config.authentication.credentials).toBe('s3cret'); // a copy
  });

  it('keeps stored secrets when the visible settings are edited', () => {
    const stored = { latency_ms: 5, api_key: 'k1', service_account_json: 'sa' };
    expect(splitSettings(stored)).toEqual({ visible: { latency_ms: 5 }, secretKeys: ['api_key', 'service_account_json'] });
    expect(mergeSettings(stored, { latency_ms: 0, api_key: 'ignored' }, {})).toEqual({ latency_ms: 0, api_key: 'k1', service_account_json: 'sa' });
    expect(mergeSettings(stored, {}, { api_key: 'k2', service_account_json: null })).toEqual({ api_key: 'k2' });
  });
});

describe('slack messages', () => {
  const buy = {
    id: 'mb_1',
    tenant_name: 'Demo',
    buyer_name: 'Acme <Agency> & Co',
    status: 'pending_approval',
    total_budget: '20000.0000',
    currency: 'USD',
    start_time: '2030-01-01T00:00:00Z',
    end_time: '2030-01-31T00:00:00Z',
    buyer_ref: null,
    rejection_reason: 'Sold <out>',
    packages: 2,
    task_id: 'task_1',
  };
  it('escapes Slack mrkdwn and links to the console', () => {
    const a = slackMessage('approval_required', buy, 'https://seller.example/');
    expect(a.text).toContain('Acme &lt;Agency&gt; &amp; Co');
    expect(a.text).toContain('<https://seller.example/admin/queue|Open in the seller console>');
    const f = slackMessage('fulfilment_failed', buy, null);
    expect(f.text).toContain('Sold &lt;out&gt;');
    expect(f.text).not.toContain('seller console');
  });
});
