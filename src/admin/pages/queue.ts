/** The approval queue: media buys and creatives waiting for the seller, with everything needed to decide. */
import type { PendingApproval } from '../../db/queries/console.js';
import type { CreativeRow } from '../../db/queries/creatives.js';
import { fmtDate, fmtDay, fmtMoney, form, href, html, json, badge, type Html } from '../html.js';
import { redactSecrets } from '../secrets.js';
import { isAdmin, readOnlyNote, render, table, type View } from './common.js';

/** Approve and reject a buy as reviewed at `revision`: if the buyer changes it meanwhile, the decision is refused (409). */
export function decisionForms(v: View, taskId: string, back: string, revision: number): Html {
  if (!isAdmin(v)) return readOnlyNote;
  const csrf = v.op.csrfToken ?? '';
  const reviewed = html`<input type="hidden" name="back" value="${back}"><input type="hidden" name="revision" value="${String(revision)}">`;
  return html`<div class="actions">
    ${form(href(['tasks', taskId, 'approve']), csrf, html`${reviewed}<button type="submit" name="decision" value="approve">Approve</button>`, { class: 'inline' })}
    ${form(
      href(['tasks', taskId, 'reject']),
      csrf,
      html`${reviewed}<input type="text" name="reason" required maxlength="1000" placeholder="Reason (the buyer sees it)" aria-label="Rejection reason"><button type="submit" class="danger">Reject</button>`,
      { class: 'inline' },
    )}
  </div>`;
}

function pendingBuy(v: View, p: PendingApproval): Html {
  const b = p.buy;
  const pkgRows = p.packages.map(
    (k) => html`<tr><td>${k.productName ?? k.productId}<br><code>${k.productId}</code></td><td><code>${k.pricingOptionId}</code> <span class="muted">${k.pricingModel}</span></td>
      <td class="num">${fmtMoney(k.budget, b.currency)}</td><td class="num">${k.bidPrice ? fmtMoney(k.bidPrice, b.currency) : '—'}</td>
      <td class="hide-sm">${k.pacing ?? '—'}</td><td class="hide-sm">${k.targeting ? html`<code>${JSON.stringify(k.targeting)}</code>` : '—'}</td></tr>`,
  );
  return html`<section class="card" id="${p.step.id}" data-testid="pending-buy">
    <h3>${p.buyerName} — ${fmtMoney(b.totalBudget, b.currency)}</h3>
    <div class="grid">
      <div><span>Media buy</span><a href="${href(['media-buys', b.id])}"><code>${b.id}</code></a></div>
      <div><span>Buyer</span>${p.buyerName} <code>${b.principalId}</code></div>
      <div><span>Budget</span>${fmtMoney(b.totalBudget, b.currency)}</div>
      <div><span>Flight</span>${fmtDay(b.startTime)} → ${fmtDay(b.endTime)}</div>
      <div><span>Submitted</span>${fmtDate(p.step.createdAt)}</div>
      <div><span>Task</span><code>${p.step.id}</code></div>
      ${b.buyerRef ? html`<div><span>Buyer ref</span>${b.buyerRef}</div>` : ''}
    </div>
    <h3 style="margin-top:.8rem">Packages</h3>
    ${table(['Product', 'Pricing', 'Budget', 'Bid', html`<span class="hide-sm">Pacing</span>`, html`<span class="hide-sm">Targeting</span>`], pkgRows)}
    <details><summary>Full request</summary>${json(redactSecrets(b.rawRequest))}</details>
    ${decisionForms(v, p.step.id, '/admin/queue', b.revision)}
  </section>`;
}

function pendingCreative(v: View, c: CreativeRow & { buyerName: string }): Html {
  const csrf = v.op.csrfToken ?? '';
  const action = (d: string) => href(['buyers', c.principalId, 'creatives', c.id, d]);
  // The version reviewed: if the buyer re-syncs the creative meanwhile, the decision is refused (409).
  const reviewed = html`<input type="hidden" name="updated_at" value="${c.updatedAt.toISOString()}">`;
  return html`<section class="card" data-testid="pending-creative">
    <h3>${c.name} <span class="muted">from ${c.buyerName}</span></h3>
    <div class="grid">
      <div><span>Creative</span><code>${c.id}</code></div>
      <div><span>Format</span><code>${c.formatId.id}</code></div>
      <div><span>Status</span>${badge(c.status)}</div>
      <div><span>Updated</span>${fmtDate(c.updatedAt)}</div>
    </div>
    <details><summary>Assets</summary>${json(redactSecrets(c.assets))}</details>
    ${isAdmin(v)
      ? html`<div class="actions">
          ${form(action('approve'), csrf, html`${reviewed}<button type="submit">Approve creative</button>`, { class: 'inline' })}
          ${form(action('reject'), csrf, html`${reviewed}<input type="text" name="reason" required maxlength="1000" placeholder="Reason (the buyer sees it)" aria-label="Rejection reason"><button type="submit" class="danger">Reject</button>`, { class: 'inline' })}
        </div>`
      : readOnlyNote}
  </section>`;
}

export function queuePage(v: View, data: { buys: PendingApproval[]; creatives: (CreativeRow & { buyerName: string })[] }): string {
  return render(
    v,
    'Approval queue',
    'queue',
    html`<h1>Approval queue</h1>
    <h2>Media buys awaiting approval (${data.buys.length})</h2>
    ${data.buys.length ? data.buys.map((p) => pendingBuy(v, p)) : html`<p class="muted" data-testid="queue-empty">No media buy is waiting for you.</p>`}
    <h2>Creatives awaiting review (${data.creatives.length})</h2>
    ${data.creatives.length ? data.creatives.map((c) => pendingCreative(v, c)) : html`<p class="muted">No creative is waiting for review.</p>`}`,
  );
}
