/**
 * Server-rendered HTML with one rule: every interpolated value is escaped
 * unless it is already Html (built by this tag). No framework, no script; the
 * inline CSS is small and works on a laptop and on a phone.
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

type Value = Html | string | number | boolean | null | undefined | Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/** The tag: html`<p>${untrusted}</p>` escapes; nested html`` passes through. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** A path under /admin with each segment encoded and an optional query string. */
export function href(path: (string | number)[], query: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return `/admin/${path.map((s) => encodeURIComponent(String(s))).join('/')}${qs ? `?${qs}` : ''}`;
}

export const fmtDate = (d: Date | string | null | undefined): string => {
  if (!d) return '—';
  const date = typeof d === 'string' ? new Date(d) : d;
  return Number.isNaN(date.getTime()) ? String(d) : date.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
};

export const fmtDay = (d: Date | string | null | undefined): string => (d ? fmtDate(d).slice(0, 10) : '—');

/** 12345.5 USD -> "12,345.50 USD"; amounts are decimal strings, never floats in storage. */
export function fmtMoney(amount: string | number | null | undefined, currency = ''): string {
  if (amount === null || amount === undefined || amount === '') return '—';
  const [whole, frac = ''] = String(amount).split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${grouped}.${frac.padEnd(2, '0').slice(0, Math.max(2, frac.replace(/0+$/, '').length))}${currency ? ` ${currency}` : ''}`;
}

export const json = (v: unknown) => html`<pre class="json">${JSON.stringify(v, null, 2)}</pre>`;

export function badge(status: string | null | undefined): Html {
  const s = status ?? '—';
  const tone =
    /^(ok|booked|completed|delivered|approved|active|applied|fulfilled)$/.test(s) ? 'ok'
    : /^(rejected|failed|canceled|error)$/.test(s) ? 'bad'
    : /^(requires_approval|pending_approval|pending_review|pending|queued|submitted|in_progress|canceling)$/.test(s) ? 'wait'
    : 'neutral';
  return html`<span class="badge ${tone}">${s}</span>`;
}

/** A POST form carrying the session's CSRF token. */
export function form(action: string, csrf: string, body: Html, opts: { class?: string } = {}): Html {
  return html`<form method="post" action="${action}"${opts.class ? html` class="${opts.class}"` : ''}><input type="hidden" name="_csrf" value="${csrf}">${body}</form>`;
}

const CSS = `
:root{--fg:#1d2330;--muted:#5d6675;--line:#dfe3ea;--bg:#f6f7f9;--card:#fff;--acc:#1f5fd6;--ok:#1d7a45;--bad:#b42318;--wait:#9a6700}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#16213a;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}
header .brand{font-weight:600;margin-right:auto}header a{color:#dfe8ff;text-decoration:none}header a.on{color:#fff;font-weight:600;text-decoration:underline}
header nav{display:flex;flex-wrap:wrap;gap:.3rem .9rem}header form{margin:0}header .who{font-size:.85rem;color:#b9c5e0}
main{max-width:1180px;margin:0 auto;padding:1rem}h1{font-size:1.35rem;margin:.3rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}h3{font-size:1rem;margin:.2rem 0 .4rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.9rem 1rem;margin:0 0 1rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:.4rem 1rem}.grid>div>span:first-child{display:block;color:var(--muted);font-size:.8rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;background:var(--card)}th,td{text-align:left;padding:.4rem .55rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;color:var(--muted);font-weight:600;white-space:nowrap}td.num{text-align:right;white-space:nowrap}
a{color:var(--acc)}code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:99px;font-size:.78rem;border:1px solid currentColor;white-space:nowrap}
.ok{color:var(--ok)}.bad{color:var(--bad)}.wait{color:var(--wait)}.neutral{color:var(--muted)}.muted{color:var(--muted)}
.notice{padding:.6rem .8rem;border-radius:6px;margin:0 0 1rem;background:#eaf2ff;border:1px solid #b8d0ff}.notice.bad{background:#fdecea;border-color:#f5b5ae;color:var(--bad)}
.secret{background:#fff8e1;border:1px solid #f2d27a;padding:.6rem .8rem;border-radius:6px}.secret code{font-size:1rem}
form.inline{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.3rem 0}
label{display:block;margin:.5rem 0 .15rem;font-weight:600;font-size:.88rem}label.check{font-weight:400;display:flex;gap:.4rem;align-items:center}
input[type=text],input[type=email],input[type=password],input[type=url],input[type=number],select,textarea{width:100%;max-width:34rem;padding:.45rem .5rem;border:1px solid #b9c0cc;border-radius:6px;font:inherit;background:#fff}
form.inline input[type=text]{width:auto;flex:1 1 18rem}textarea{max-width:100%;min-height:6rem;font-family:ui-monospace,monospace;font-size:.85rem}
button{font:inherit;padding:.42rem .9rem;border-radius:6px;border:1px solid var(--acc);background:var(--acc);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--acc)}button.danger{background:var(--bad);border-color:var(--bad)}button.link{background:none;border:none;color:#dfe8ff;padding:0;text-decoration:underline}
pre.json{background:#f3f5f8;border:1px solid var(--line);border-radius:6px;padding:.6rem;overflow:auto;max-height:24rem;font-size:.8rem;margin:.3rem 0}
details summary{cursor:pointer;color:var(--acc)}.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-bottom:.8rem}.filters label{margin:0}.filters select,.filters input{width:auto}
.actions{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-start;margin-top:.6rem}
.login{max-width:24rem;margin:8vh auto}
@media (max-width:640px){main{padding:.6rem}th,td{padding:.35rem .4rem;font-size:.9rem}.hide-sm{display:none}h1{font-size:1.2rem}}
`;

export interface Shell {
  title: string;
  tenantName?: string;
  who?: string;
  role?: string;
  csrf?: string;
  active?: string;
  notice?: { text: string; tone?: 'bad' };
  /** Reload every N seconds (no script): pages showing work in flight. */
  refreshSeconds?: number;
}

const NAV: [string, string][] = [
  ['queue', 'Approval queue'],
  ['media-buys', 'Media buys'],
  ['products', 'Products'],
  ['buyers', 'Buyers'],
  ['settings', 'Adapters & settings'],
  ['webhooks', 'Webhooks'],
  ['audit', 'Audit log'],
  ['users', 'Users & API keys'],
];

export function page(s: Shell, body: Html): string {
  const header = s.who
    ? html`<header><span class="brand">${s.tenantName ?? 'Seller console'}</span>
        <nav>${NAV.map(([k, label]) => html`<a href="/admin/${k}"${s.active === k ? html` class="on" aria-current="page"` : ''}>${label}</a>`)}</nav>
        <span class="who">${s.who} (${s.role})</span>
        ${form('/admin/logout', s.csrf ?? '', html`<button class="link" type="submit">Log out</button>`)}</header>`
    : html`<header><span class="brand">Seller console</span></header>`;
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${s.refreshSeconds ? html`<meta http-equiv="refresh" content="${s.refreshSeconds}">` : ''}
<title>${s.title} · ${s.tenantName ?? 'adcp-sales-agent'}</title><style>${new Html(CSS)}</style></head>
<body>${header}<main>${s.notice ? html`<p class="notice ${s.notice.tone ?? ''}" role="status">${s.notice.text}</p>` : ''}${body}</main></body></html>`.value}`;
}
