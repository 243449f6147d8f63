/** Signing in, and choosing a password (required after a one-time password). */
import { form, html, page } from '../html.js';
import { render, type View } from './common.js';

export function loginPage(p: { csrf: string; action?: string; email?: string; tenant?: string; error?: string; tenants?: { id: string; name: string }[] }): string {
  return page(
    { title: 'Sign in', notice: p.error ? { text: p.error, tone: 'bad' } : undefined },
    html`<section class="card login"><h1>Seller console</h1>
    ${form(
      p.action ?? '/admin/login',
      p.csrf,
      html`<label for="email">Email</label><input id="email" type="email" name="email" value="${p.email ?? ''}" autocomplete="username" required autofocus>
      <label for="password">Password</label><input id="password" type="password" name="password" autocomplete="current-password" required>
      ${p.tenants?.length
        ? html`<label for="tenant">Publisher</label><select id="tenant" name="tenant">${p.tenants.map((t) => html`<option value="${t.id}"${p.tenant === t.id ? html` selected` : ''}>${t.name}</option>`)}</select>`
        : ''}
      <p><button type="submit">Sign in</button></p>`,
    )}</section>`,
  );
}

export function passwordPage(v: View, forced: boolean): string {
  return render(
    v,
    'Choose a password',
    '',
    html`<section class="card login"><h1>${forced ? 'Choose your password' : 'Change your password'}</h1>
    ${forced ? html`<p>You signed in with a one-time password; choose your own (12 characters or more) to continue.</p>` : ''}
    ${form(
      '/admin/password',
      v.op.csrfToken ?? '',
      html`<label for="cur">Current password</label><input id="cur" type="password" name="current_password" autocomplete="current-password" required>
      <label for="new">New password</label><input id="new" type="password" name="new_password" autocomplete="new-password" minlength="12" required>
      <label for="again">New password again</label><input id="again" type="password" name="confirm_password" autocomplete="new-password" minlength="12" required>
      <p><button type="submit">Save password</button></p>`,
    )}</section>`,
  );
}
