/** What every console page shares: the shell for the signed-in operator, notices, tables. */
import type { Operator } from '../auth.js';
import { html, page, type Html } from '../html.js';

export interface View {
  op: Operator;
  notice?: { text: string; tone?: 'bad' };
}

export function render(v: View, title: string, active: string, body: Html, opts: { refreshSeconds?: number } = {}): string {
  return page(
    { title, tenantName: v.op.tenantName, who: v.op.label, role: v.op.role, csrf: v.op.csrfToken, active, notice: v.notice, refreshSeconds: opts.refreshSeconds },
    body,
  );
}

export const isAdmin = (v: View) => v.op.role === 'admin';

export const readOnlyNote = html`<p class="muted">Read-only: your role is viewer.</p>`;

export function table(head: (string | Html)[], rows: Html[], empty = 'Nothing here yet.'): Html {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<div class="scroll"><table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** Previous/next links for offset pagination. */
export function pager(base: (offset: number) => string, offset: number, limit: number, shown: number, total?: number): Html {
  const prev = offset > 0 ? html`<a href="${base(Math.max(0, offset - limit))}">← Newer</a>` : '';
  const more = total !== undefined ? offset + shown < total : shown === limit;
  const next = more ? html`<a href="${base(offset + limit)}">Older →</a>` : '';
  return html`<p class="actions">${prev} ${next}${total !== undefined ? html` <span class="muted">${offset + 1}–${offset + shown} of ${total}</span>` : ''}</p>`;
}
