/** The webhook delivery log and the audit log. */
import type { WebhookDeliveryView } from '../../db/queries/console.js';
import type { AuditRow } from '../../db/queries/audit.js';
import { badge, fmtDate, href, html } from '../html.js';
import { pager, render, table, type View } from './common.js';
import { webhookRows } from './media-buys.js';

export function webhooksPage(v: View, d: { list: WebhookDeliveryView[]; status?: string; offset: number; limit: number }): string {
  const base = (offset: number) => href(['webhooks'], { status: d.status, offset: offset || undefined });
  return render(
    v,
    'Webhook deliveries',
    'webhooks',
    html`<h1>Webhook deliveries</h1>
    <form method="get" action="/admin/webhooks" class="filters"><div><label for="w-status">Status</label><select id="w-status" name="status"><option value="">Any</option>
      ${['pending', 'delivered', 'failed'].map((s) => html`<option${d.status === s ? html` selected` : ''}>${s}</option>`)}</select></div>
      <button type="submit" class="secondary">Filter</button></form>
    ${table(['Queued', 'Media buy', 'Task', html`<span class="hide-sm">URL</span>`, 'Status', 'Attempts', 'Last result', 'Log'], webhookRows(d.list, true), 'No webhook has been queued.')}
    ${pager(base, d.offset, d.limit, d.list.length)}`,
  );
}

export function auditPage(v: View, d: { rows: AuditRow[]; operation?: string; actor?: string; target?: string; limit: number }): string {
  const rows = d.rows.map(
    (r) => html`<tr data-testid="audit-row"><td>${fmtDate(r.createdAt)}</td><td><code>${r.actor}</code></td><td>${r.operation}</td>
      <td>${r.target ? html`<code>${r.target}</code>` : '—'}</td><td>${badge(r.success ? 'ok' : 'failed')}</td>
      <td class="hide-sm">${r.details && Object.keys(r.details).length ? html`<code>${JSON.stringify(r.details)}</code>` : ''}</td></tr>`,
  );
  const last = d.rows.at(-1);
  return render(
    v,
    'Audit log',
    'audit',
    html`<h1>Audit log</h1>
    <form method="get" action="/admin/audit" class="filters">
      <div><label for="a-op">Operation</label><input id="a-op" type="text" name="operation" value="${d.operation ?? ''}" placeholder="e.g. media_buy.approve or mcp:create_media_buy"></div>
      <div><label for="a-actor">Actor contains</label><input id="a-actor" type="text" name="actor" value="${d.actor ?? ''}"></div>
      <div><label for="a-target">Target</label><input id="a-target" type="text" name="target" value="${d.target ?? ''}"></div>
      <button type="submit" class="secondary">Filter</button></form>
    ${table(['When', 'Who', 'What', 'Target', 'Result', html`<span class="hide-sm">Details</span>`], rows, 'No entries.')}
    ${last && d.rows.length === d.limit ? html`<p><a href="${href(['audit'], { operation: d.operation, actor: d.actor, target: d.target, before: last.id })}">Older →</a></p>` : ''}`,
  );
}
