/** Buyers (principals): who may buy through MCP. Tokens are shown once, when created or rotated. */
import type { BuyerRow } from '../../db/queries/console.js';
import { fmtDate, form, href, html } from '../html.js';
import { isAdmin, readOnlyNote, render, table, type View } from './common.js';

export function buyersPage(v: View, list: BuyerRow[], revealed?: { principalId: string; name: string; token: string }): string {
  const csrf = v.op.csrfToken ?? '';
  const rows = list.map(
    (b) => html`<tr data-testid="buyer-row"><td><strong>${b.name}</strong><br><code>${b.id}</code>${b.suspendedAt ? html`<br><span class="badge" data-testid="buyer-suspended">suspended ${fmtDate(b.suspendedAt)}</span>` : ''}</td><td><code>${b.tokenHint}…</code></td>
      <td class="num"><a href="${href(['media-buys'], { buyer: b.id })}">${b.mediaBuys}</a></td><td class="hide-sm">${fmtDate(b.createdAt)}</td>
      <td>${isAdmin(v)
        ? html`${form(href(['buyers', b.id, 'rotate-token']), csrf, html`<button type="submit" class="secondary">Rotate token</button>`, { class: 'inline' })}
          ${b.suspendedAt
            ? form(href(['buyers', b.id, 'reinstate']), csrf, html`<button type="submit" class="secondary">Reinstate</button>`, { class: 'inline' })
            : form(href(['buyers', b.id, 'suspend']), csrf, html`<button type="submit" class="secondary">Suspend</button>`, { class: 'inline' })}`
        : ''}</td></tr>`,
  );
  return render(
    v,
    'Buyers',
    'buyers',
    html`<h1>Buyers</h1>
    ${revealed
      ? html`<div class="secret" data-testid="token-once"><strong>Token for ${revealed.name}</strong> (<code>${revealed.principalId}</code>) — shown once, copy it now:<br><code>${revealed.token}</code>
        <p class="muted">The buyer's agent sends it as <code>Authorization: Bearer …</code> to /mcp. Only its hash is stored; a lost token is replaced by rotating.</p></div>`
      : ''}
    ${table(['Buyer', 'Token', 'Media buys', html`<span class="hide-sm">Created</span>`, ''], rows)}
    ${isAdmin(v)
      ? html`<h2>New buyer</h2><section class="card">${form(
          '/admin/buyers',
          csrf,
          html`<label for="b-name">Name</label><input id="b-name" type="text" name="name" required maxlength="200">
          <label for="b-map">Ad-server advertiser ids (JSON, optional)</label><textarea id="b-map" name="platform_mappings" placeholder='{"mock": {"advertiser_id": "adv-123"}}'></textarea>
          <p><button type="submit">Create buyer and token</button></p>`,
        )}</section>`
      : readOnlyNote}`,
  );
}
