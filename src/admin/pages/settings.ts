/** Adapter configuration and the tenant's settings. Secrets are write-only: named, never shown. */
import type { AdapterConfigRow } from '../../db/queries/adapters.js';
import type { TenantSettings } from '../../db/schema/index.js';
import { fmtDate, form, href, html } from '../html.js';
import { splitSettings } from '../secrets.js';
import { isAdmin, readOnlyNote, render, type View } from './common.js';

export function settingsPage(v: View, d: { settings: TenantSettings; slackConfigured: boolean; adapters: AdapterConfigRow[] }): string {
  const csrf = v.op.csrfToken ?? '';
  const admin = isAdmin(v);
  const dis = admin ? '' : html` disabled`;
  const adapters = d.adapters.map((a) => {
    const { visible, secretKeys } = splitSettings(a.settings);
    return html`<section class="card" data-testid="adapter-card"><h3>${a.name} <span class="muted">${a.adapterType}${a.isDefault ? ' · default' : ''}</span></h3>
      <p class="muted"><code>${a.id}</code> · updated ${fmtDate(a.updatedAt)}</p>
      ${form(
        href(['adapters', a.id]),
        csrf,
        html`<label class="check"><input type="checkbox" name="manual_approval_required" value="1"${a.manualApprovalRequired ? html` checked` : ''}${dis}> Orders for this adapter wait for a human approval</label>
        <label for="s-${a.id}">Settings (JSON, without secrets)</label><textarea id="s-${a.id}" name="settings"${dis}>${JSON.stringify(visible, null, 2)}</textarea>
        <label>Secrets</label>
        ${secretKeys.length
          ? secretKeys.map(
              (k) => html`<div class="filters"><span><code>${k}</code> <span class="muted">set</span></span>
                <input type="password" name="secret_value" autocomplete="new-password" placeholder="new value (blank keeps it)" aria-label="New value for ${k}"${dis}><input type="hidden" name="secret_key" value="${k}">
                <label class="check"><input type="checkbox" name="secret_remove" value="${k}"${dis}> remove</label></div>`,
            )
          : html`<p class="muted">No secret set.</p>`}
        <div class="filters"><input type="text" name="secret_key" placeholder="new secret name, e.g. api_key" aria-label="New secret name"${dis}>
          <input type="password" name="secret_value" autocomplete="new-password" placeholder="value" aria-label="New secret value"${dis}></div>
        ${admin ? html`<p><button type="submit">Save adapter</button></p>` : ''}`,
      )}</section>`;
  });
  return render(
    v,
    'Adapters & settings',
    'settings',
    html`<h1>Adapters &amp; settings</h1>
    ${admin ? '' : readOnlyNote}
    <h2>Approval and review</h2>
    <section class="card">${form(
      '/admin/settings',
      csrf,
      html`<label class="check"><input type="checkbox" name="manual_approval_required" value="1"${d.settings.manual_approval_required ? html` checked` : ''}${dis}> Every media buy waits for a human approval, whatever the adapter</label>
      <label for="cr">Creative review</label><select id="cr" name="creative_review"${dis}>
        <option value="auto"${d.settings.creative_review !== 'manual' ? html` selected` : ''}>auto — approved on upload</option>
        <option value="manual"${d.settings.creative_review === 'manual' ? html` selected` : ''}>manual — held in the approval queue</option></select>
      ${admin ? html`<p><button type="submit">Save</button></p>` : ''}`,
    )}</section>
    <h2>Slack notifications</h2>
    <section class="card"><p>Orders awaiting approval and booking failures are posted to a Slack incoming webhook.
      Status: <strong data-testid="slack-status">${d.slackConfigured ? 'configured' : 'not configured'}</strong></p>
      ${form(
        '/admin/settings/slack',
        csrf,
        html`<label for="slack">Incoming-webhook URL ${d.slackConfigured ? html`<span class="muted">(set; enter a new one to replace it)</span>` : ''}</label>
        <input id="slack" type="password" name="slack_webhook_url" autocomplete="off" placeholder="https://hooks.slack.com/services/…"${dis}>
        ${d.slackConfigured ? html`<label class="check"><input type="checkbox" name="remove" value="1"${dis}> Remove the webhook</label>` : ''}
        ${admin ? html`<p><button type="submit">Save Slack webhook</button></p>` : ''}`,
      )}</section>
    <h2>Adapters</h2>${adapters}`,
  );
}
