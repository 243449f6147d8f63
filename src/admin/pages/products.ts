/** Products and their pricing options: list, create, edit, archive. */
import type { AdapterConfigRow } from '../../db/queries/adapters.js';
import type { ProductWithPricing } from '../../db/queries/inventory.js';
import { CHANNELS, DELIVERY_TYPES, PRICING_MODELS } from '../actions.js';
import { badge, fmtMoney, form, href, html, type Html } from '../html.js';
import { isAdmin, readOnlyNote, render, table, type View } from './common.js';

export interface ProductFormValues {
  product_id: string;
  name: string;
  description: string;
  channels: string[];
  delivery_type: string;
  format_ids: string[];
  property_ids: string[];
  countries: string;
  adapter_config_id: string;
  pricing_options: { pricing_option_id: string; pricing_model: string; currency: string; fixed_price: string; floor_price: string; min_spend_per_package: string; existing: boolean; remove?: boolean }[];
}

export interface CatalogChoices {
  formats: { id: string; name: string }[];
  properties: { id: string; name: string; publisherDomain: string }[];
  adapters: AdapterConfigRow[];
}

function priceSummary(p: ProductWithPricing): Html[] {
  return p.pricing.map(
    (po) => html`<div><code>${po.id}</code> ${po.pricingModel} ${po.fixedPrice ? fmtMoney(po.fixedPrice, po.currency) : html`floor ${fmtMoney(po.floorPrice, po.currency)}`}</div>`,
  );
}

export function productsPage(v: View, list: ProductWithPricing[]): string {
  const csrf = v.op.csrfToken ?? '';
  const rows = list.map(
    (p) => html`<tr data-testid="product-row"><td><strong>${p.name}</strong><br><code>${p.id}</code></td><td class="hide-sm">${p.channels.join(', ')}</td>
      <td class="hide-sm">${p.deliveryType}</td><td>${priceSummary(p)}</td><td>${p.archived ? badge('archived') : badge('active')}</td>
      <td>${isAdmin(v)
        ? html`<a href="${href(['products', p.id, 'edit'])}">Edit</a>
          ${form(href(['products', p.id, p.archived ? 'restore' : 'archive']), csrf, html`<button type="submit" class="secondary">${p.archived ? 'Restore' : 'Archive'}</button>`, { class: 'inline' })}`
        : ''}</td></tr>`,
  );
  return render(
    v,
    'Products',
    'products',
    html`<h1>Products</h1>
    ${isAdmin(v) ? html`<p><a href="/admin/products/new">+ New product</a></p>` : readOnlyNote}
    ${table(['Product', html`<span class="hide-sm">Channels</span>`, html`<span class="hide-sm">Delivery</span>`, 'Pricing options', 'State', ''], rows)}`,
  );
}

export function formValuesOf(p: ProductWithPricing): ProductFormValues {
  return {
    product_id: p.id,
    name: p.name,
    description: p.description,
    channels: p.channels,
    delivery_type: p.deliveryType,
    format_ids: p.formatIds.map((f) => f.id),
    property_ids: p.publisherProperties.flatMap((s) => ((s as { property_ids?: string[] }).property_ids ?? [])),
    countries: p.countries.join(', '),
    adapter_config_id: p.adapterConfigId ?? '',
    pricing_options: p.pricing.map((po) => ({
      pricing_option_id: po.id,
      pricing_model: po.pricingModel,
      currency: po.currency,
      fixed_price: po.fixedPrice ?? '',
      floor_price: po.floorPrice ?? '',
      min_spend_per_package: po.minSpendPerPackage ?? '',
      existing: true,
    })),
  };
}

export const emptyProduct = (): ProductFormValues => ({
  product_id: '',
  name: '',
  description: '',
  channels: [],
  delivery_type: 'guaranteed',
  format_ids: [],
  property_ids: [],
  countries: '',
  adapter_config_id: '',
  pricing_options: [],
});

const checked = (on: boolean) => (on ? html` checked` : '');

export function productFormPage(v: View, mode: 'create' | 'update', f: ProductFormValues, choices: CatalogChoices): string {
  const action = mode === 'create' ? '/admin/products' : href(['products', f.product_id]);
  const rows = [...f.pricing_options, { pricing_option_id: '', pricing_model: 'cpm', currency: 'USD', fixed_price: '', floor_price: '', min_spend_per_package: '', existing: false }];
  const poRows = rows.map(
    (po) => html`<tr>
      <td><input type="text" name="po_id" value="${po.pricing_option_id}"${po.existing ? html` readonly` : ''} aria-label="Pricing option id" placeholder="${po.existing ? '' : 'new option id'}"></td>
      <td><select name="po_model" aria-label="Pricing model">${PRICING_MODELS.map((m) => html`<option${po.pricing_model === m ? html` selected` : ''}>${m}</option>`)}</select></td>
      <td><input type="text" name="po_currency" value="${po.currency}" size="4" aria-label="Currency"></td>
      <td><input type="text" name="po_fixed" value="${po.fixed_price}" inputmode="decimal" aria-label="Fixed price"></td>
      <td><input type="text" name="po_floor" value="${po.floor_price}" inputmode="decimal" aria-label="Floor price"></td>
      <td><input type="text" name="po_min_spend" value="${po.min_spend_per_package}" inputmode="decimal" aria-label="Minimum spend per package"></td>
      <td>${po.existing ? html`<label class="check"><input type="checkbox" name="po_remove" value="${po.pricing_option_id}"${checked(!!po.remove)} aria-label="Remove ${po.pricing_option_id}">Remove</label>` : ''}</td></tr>`,
  );
  const body = html`<label for="p-id">Product id</label><input id="p-id" type="text" name="product_id" value="${f.product_id}" required${mode === 'update' ? html` readonly` : ''}>
    <label for="p-name">Name</label><input id="p-name" type="text" name="name" value="${f.name}" required>
    <label for="p-desc">Description (what buyers' agents match briefs against)</label><textarea id="p-desc" name="description" required>${f.description}</textarea>
    <label>Channels</label><div class="grid">${CHANNELS.map((c) => html`<label class="check"><input type="checkbox" name="channels" value="${c}"${checked(f.channels.includes(c))}>${c}</label>`)}</div>
    <label for="p-dt">Delivery type</label><select id="p-dt" name="delivery_type">${DELIVERY_TYPES.map((d) => html`<option${f.delivery_type === d ? html` selected` : ''}>${d}</option>`)}</select>
    <label>Creative formats</label><div class="grid">${choices.formats.map((x) => html`<label class="check"><input type="checkbox" name="format_ids" value="${x.id}"${checked(f.format_ids.includes(x.id))}>${x.name}</label>`)}</div>
    <label>Properties</label><div class="grid">${choices.properties.map((x) => html`<label class="check"><input type="checkbox" name="property_ids" value="${x.id}"${checked(f.property_ids.includes(x.id))}>${x.name} <span class="muted">${x.publisherDomain}</span></label>`)}</div>
    <label for="p-countries">Countries (ISO codes, comma-separated)</label><input id="p-countries" type="text" name="countries" value="${f.countries}" placeholder="US, CA">
    <label for="p-adapter">Fulfilled by</label><select id="p-adapter" name="adapter_config_id"><option value="">The default adapter</option>
      ${choices.adapters.map((a) => html`<option value="${a.id}"${f.adapter_config_id === a.id ? html` selected` : ''}>${a.name} (${a.adapterType})</option>`)}</select>
    <h2>Pricing options</h2><p class="muted">Give a fixed price, or a floor price for auction pricing. Fill the last row to add an option. A removed option is no longer offered; buys already made on it keep the price they were bought at.</p>
    <div class="scroll"><table><thead><tr><th>Id</th><th>Model</th><th>Currency</th><th>Fixed price</th><th>Floor price</th><th>Min spend / package</th><th></th></tr></thead><tbody>${poRows}</tbody></table></div>
    <p><button type="submit">${mode === 'create' ? 'Create product' : 'Save changes'}</button> <a href="/admin/products">Cancel</a></p>`;
  return render(v, mode === 'create' ? 'New product' : `Edit ${f.product_id}`, 'products', html`<h1>${mode === 'create' ? 'New product' : html`Edit <code>${f.product_id}</code>`}</h1>
    <section class="card">${form(action, v.op.csrfToken ?? '', body)}</section>`);
}

/** The form's fields back into ProductFormValues (to re-render after an error) and the action's input. */
export function productFromForm(fd: URLSearchParams, existingIds: Set<string>): { values: ProductFormValues; input: Record<string, unknown> } {
  const all = (k: string) => fd.getAll(k);
  const ids = all('po_id');
  const removed = new Set(all('po_remove'));
  const pos = ids
    .map((id, i) => ({
      pricing_option_id: id.trim(),
      pricing_model: all('po_model')[i] ?? '',
      currency: (all('po_currency')[i] ?? '').trim().toUpperCase(),
      fixed_price: (all('po_fixed')[i] ?? '').trim(),
      floor_price: (all('po_floor')[i] ?? '').trim(),
      min_spend_per_package: (all('po_min_spend')[i] ?? '').trim(),
      existing: existingIds.has(id.trim()),
      remove: existingIds.has(id.trim()) && removed.has(id.trim()),
    }))
    .filter((po) => po.pricing_option_id !== '');
  const values: ProductFormValues = {
    product_id: (fd.get('product_id') ?? '').trim(),
    name: fd.get('name') ?? '',
    description: fd.get('description') ?? '',
    channels: all('channels'),
    delivery_type: fd.get('delivery_type') ?? '',
    format_ids: all('format_ids'),
    property_ids: all('property_ids'),
    countries: fd.get('countries') ?? '',
    adapter_config_id: fd.get('adapter_config_id') ?? '',
    pricing_options: pos,
  };
  const input = {
    ...values,
    countries: values.countries
      .split(/[\s,]+/)
      .map((c) => c.trim().toUpperCase())
      .filter(Boolean),
    adapter_config_id: values.adapter_config_id || null,
    pricing_options: pos.filter((po) => !po.remove).map(({ existing: _existing, remove: _remove, ...po }) => po),
  };
  return { values, input };
}
