/** Media buys: the list (filter by status and buyer) and one buy with everything that happened to it. */
import type { BuyerRow, MediaBuyConsoleDetail, MediaBuyListRow, WebhookDeliveryView } from '../../db/queries/console.js';
import { MEDIA_BUY_STATUSES } from '../../domain/status.js';
import { badge, fmtDate, fmtDay, fmtMoney, href, html, json, type Html } from '../html.js';
import { redactSecrets } from '../secrets.js';
import { pager, render, table, type View } from './common.js';
import { decisionForms } from './queue.js';

export function mediaBuysPage(v: View, d: { rows: MediaBuyListRow[]; total: number; buyers: BuyerRow[]; status?: string; buyer?: string; offset: number; limit: number }): string {
  const rows = d.rows.map(
    ({ buy: b, buyerName }) => html`<tr data-testid="media-buy-row">
      <td><a href="${href(['media-buys', b.id])}"><code>${b.id}</code></a>${b.buyerRef ? html`<br><span class="muted">${b.buyerRef}</span>` : ''}</td>
      <td>${buyerName}</td><td>${badge(b.status)}</td><td class="num">${fmtMoney(b.totalBudget, b.currency)}</td>
      <td class="hide-sm">${fmtDay(b.startTime)} → ${fmtDay(b.endTime)}</td><td class="hide-sm">${fmtDate(b.createdAt)}</td></tr>`,
  );
  const base = (offset: number) => href(['media-buys'], { status: d.status, buyer: d.buyer, offset: offset || undefined });
  return render(
    v,
    'Media buys',
    'media-buys',
    html`<h1>Media buys</h1>
    <form method="get" action="/admin/media-buys" class="filters">
      <div><label for="f-status">Status</label><select id="f-status" name="status"><option value="">Any</option>
        ${MEDIA_BUY_STATUSES.map((s) => html`<option value="${s}"${d.status === s ? html` selected` : ''}>${s}</option>`)}</select></div>
      <div><label for="f-buyer">Buyer</label><select id="f-buyer" name="buyer"><option value="">Any</option>
        ${d.buyers.map((b) => html`<option value="${b.id}"${d.buyer === b.id ? html` selected` : ''}>${b.name}</option>`)}</select></div>
      <button type="submit" class="secondary">Filter</button>
    </form>
    ${table(['Media buy', 'Buyer', 'Status', 'Budget', html`<span class="hide-sm">Flight</span>`, html`<span class="hide-sm">Created</span>`], rows, 'No media buys match.')}
    ${pager(base, d.offset, d.limit, d.rows.length, d.total)}`,
  );
}

/** One word for where booking stands, across every ad server the buy uses. */
export function fulfilmentState(d: MediaBuyConsoleDetail): string {
  const step = d.steps.find((s) => s.stepType === 'create_media_buy');
  if (step?.status === 'requires_approval') return 'awaiting approval';
  if (d.buy.status === 'rejected' || d.buy.status === 'canceled') return d.buy.status;
  const orders = d.adapterOrders;
  if (orders.length > 0 && orders.every((o) => o.state === 'booked')) return 'fulfilled';
  if (orders.some((o) => o.state === 'failed') || step?.status === 'failed') return 'failed';
  return 'in progress';
}

export function webhookRows(list: WebhookDeliveryView[], withBuy: boolean): Html[] {
  return list.map((w) => {
    const u = URL.canParse(w.url) ? new URL(w.url) : undefined;
    return html`<tr data-testid="webhook-row"><td>${fmtDate(w.created_at)}</td>
      ${withBuy ? html`<td>${w.media_buy_id ? html`<a href="${href(['media-buys', w.media_buy_id])}"><code>${w.media_buy_id}</code></a>` : '—'}</td>` : ''}
      <td><code>${w.task_id}</code> #${w.sequence}<br><span class="muted">${w.event_status ?? ''}</span></td>
      <td class="hide-sm"><code>${u ? `${u.origin}${u.pathname}` : w.url}</code></td><td>${badge(w.status)}</td>
      <td class="num">${w.attempts}</td><td>${w.last_status_code ?? '—'}${w.last_error ? html`<br><span class="bad">${w.last_error}</span>` : ''}</td>
      <td>${w.attempt_log.length
        ? html`<details><summary>${w.attempt_log.length} attempt${w.attempt_log.length === 1 ? '' : 's'}</summary><ul>${w.attempt_log.map(
            (a) => html`<li>#${a.attempt} ${fmtDate(a.at)}: ${a.status_code ?? 'no response'} ${a.error ? html`<span class="bad">${a.error}</span>` : ''} <span class="muted">${a.duration_ms} ms</span></li>`,
          )}</ul></details>`
        : '—'}</td></tr>`;
  });
}

export function mediaBuyPage(v: View, d: MediaBuyConsoleDetail): string {
  const b = d.buy;
  const state = fulfilmentState(d);
  const step = d.steps.find((s) => s.stepType === 'create_media_buy');
  const delivery = new Map(d.delivery.map((x) => [x.package_id, x]));
  const pkgRows = d.packages.map((k) => {
    const del = delivery.get(k.id);
    return html`<tr><td><code>${k.id}</code>${k.buyerRef ? html`<br><span class="muted">${k.buyerRef}</span>` : ''}</td><td>${k.productName ?? k.productId}</td>
      <td><code>${k.pricingOptionId}</code></td><td class="num">${fmtMoney(k.budget, b.currency)}</td><td>${badge(k.status)}</td>
      <td class="num">${del ? del.impressions.toLocaleString('en-US') : '—'}</td><td class="num hide-sm">${del ? del.clicks.toLocaleString('en-US') : '—'}</td>
      <td class="num">${del ? fmtMoney(del.spend, b.currency) : '—'}</td></tr>`;
  });
  const orderRows = d.adapterOrders.map(
    (o) => html`<tr data-testid="adapter-order"><td>${o.adapterName ?? o.adapterConfigId} <span class="muted">${o.adapterType}</span></td><td>${badge(o.state)}</td>
      <td><code>${o.externalOrderId ?? '—'}</code></td><td class="num">${o.attempts}</td><td>${o.error ? html`<span class="bad">${o.error}</span>` : '—'}</td><td class="hide-sm">${fmtDate(o.updatedAt)}</td></tr>`,
  );
  const stepRows = d.steps.map(
    (s) => html`<tr><td><code>${s.id}</code></td><td>${s.stepType}</td><td>${badge(s.status)}</td><td>${s.owner}</td>
      <td>${s.error ? html`<span class="bad">${String((s.error as { message?: unknown }).message ?? JSON.stringify(s.error))}</span>` : '—'}</td><td class="hide-sm">${fmtDate(s.updatedAt)}</td></tr>`,
  );
  const jobRows = d.jobs.map(
    (j) => html`<tr><td>${j.task_identifier}</td><td><code>${j.key ?? j.id}</code></td><td class="num">${j.attempts} / ${j.max_attempts}</td>
      <td>${j.locked_at ? 'running' : fmtDate(j.run_at)}</td><td>${j.last_error ? html`<span class="bad">${j.last_error.split('\n')[0]}</span>` : '—'}</td></tr>`,
  );
  const inFlight = state === 'in progress' || d.jobs.length > 0 || d.webhooks.some((w) => w.status === 'pending');
  return render(
    v,
    `Media buy ${b.id}`,
    'media-buys',
    html`<p><a href="/admin/media-buys">← Media buys</a></p>
    <h1>Media buy <code>${b.id}</code></h1>
    <section class="card"><div class="grid">
      <div><span>Status</span><span data-testid="buy-status">${badge(b.status)}</span></div>
      <div><span>Fulfilment</span><strong data-testid="fulfilment">${state}</strong></div>
      <div><span>Buyer</span>${d.buyerName} <code>${b.principalId}</code></div>
      <div><span>Budget</span>${fmtMoney(b.totalBudget, b.currency)}</div>
      <div><span>Flight</span>${fmtDay(b.startTime)} → ${fmtDay(b.endTime)}</div>
      <div><span>Created</span>${fmtDate(b.createdAt)}</div>
      <div><span>Confirmed</span>${fmtDate(b.confirmedAt)}</div>
      <div><span>Revision</span>${b.revision}</div>
      ${b.buyerRef ? html`<div><span>Buyer ref</span>${b.buyerRef}</div>` : ''}
      ${b.rejectionReason ? html`<div><span>Rejection reason</span><span class="bad" data-testid="rejection-reason">${b.rejectionReason}</span></div>` : ''}
      ${b.canceledAt ? html`<div><span>Canceled</span>${fmtDate(b.canceledAt)} by ${b.canceledBy ?? '—'}${b.cancellationReason ? html`: ${b.cancellationReason}` : ''}</div>` : ''}
    </div>
    ${step?.status === 'requires_approval' ? decisionForms(v, step.id, href(['media-buys', b.id]), b.revision) : ''}
    ${inFlight ? html`<p class="muted">This page reloads every few seconds while work is in flight.</p>` : ''}</section>
    <h2>Packages and delivery</h2>
    ${table(['Package', 'Product', 'Pricing option', 'Budget', 'Status', 'Impressions', html`<span class="hide-sm">Clicks</span>`, 'Spend'], pkgRows)}
    <h2>Ad server orders</h2>
    ${table(['Adapter', 'State', 'External order', 'Attempts', 'Error', html`<span class="hide-sm">Updated</span>`], orderRows, 'Not sent to an ad server yet.')}
    <h2>Workflow</h2>
    ${table(['Task', 'Type', 'Status', 'Owner', 'Error', html`<span class="hide-sm">Updated</span>`], stepRows)}
    <h2>Queued and retrying jobs</h2>
    ${table(['Task', 'Key', 'Attempts', 'Next run', 'Last error'], jobRows, 'No job queued for this buy (finished jobs leave the queue; their outcome is above).')}
    <h2>Webhooks to the buyer</h2>
    ${table(['Queued', 'Task', html`<span class="hide-sm">URL</span>`, 'Status', 'Attempts', 'Last result', 'Log'], webhookRows(d.webhooks, false), 'The buyer asked for no webhook.')}
    <h2>Request</h2>
    <details><summary>The buyer's create_media_buy request</summary>${json(redactSecrets(b.rawRequest))}</details>`,
    { refreshSeconds: inFlight ? 2 : undefined },
  );
}
