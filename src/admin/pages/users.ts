/** Operators of this tenant and admin API keys. Passwords and keys are shown once. */
import type { ApiKeyRow, OperatorRow } from '../../db/queries/operators.js';
import { badge, fmtDate, form, href, html } from '../html.js';
import { isAdmin, readOnlyNote, render, table, type View } from './common.js';

export function usersPage(v: View, d: { users: OperatorRow[]; keys: ApiKeyRow[]; revealed?: { label: string; secret: string; kind: 'password' | 'key' } }): string {
  const csrf = v.op.csrfToken ?? '';
  const users = d.users.map(
    (u) => html`<tr><td>${u.email}</td><td>${u.role}</td><td>${fmtDate(u.lastLoginAt)}</td><td>${u.disabledAt ? badge('disabled') : u.mustChangePassword ? html`<span class="muted">password not yet chosen</span>` : badge('active')}</td></tr>`,
  );
  const keys = d.keys.map(
    (k) => html`<tr data-testid="api-key-row"><td>${k.name}<br><code>${k.id}</code></td><td><code>${k.keyHint}…</code></td><td>${k.role}</td><td class="hide-sm">${k.createdBy}</td>
      <td>${fmtDate(k.lastUsedAt)}</td><td>${k.revokedAt ? badge('revoked') : isAdmin(v) ? form(href(['api-keys', k.id, 'revoke']), csrf, html`<button type="submit" class="danger">Revoke</button>`, { class: 'inline' }) : badge('active')}</td></tr>`,
  );
  const roles = html`<option value="viewer">viewer — reads only</option><option value="admin">admin — approves and edits</option>`;
  return render(
    v,
    'Users & API keys',
    'users',
    html`<h1>Users &amp; API keys</h1>
    ${d.revealed
      ? html`<div class="secret" data-testid="secret-once"><strong>${d.revealed.kind === 'password' ? `One-time password for ${d.revealed.label}` : `API key ${d.revealed.label}`}</strong> — shown once, copy it now:<br><code>${d.revealed.secret}</code>
        ${d.revealed.kind === 'password' ? html`<p class="muted">They choose their own password when they first log in at /admin/login.</p>` : html`<p class="muted">Send it as <code>Authorization: Bearer …</code> to /admin/api/….</p>`}</div>`
      : ''}
    <h2>Operators</h2>
    ${table(['Email', 'Role', 'Last login', 'State'], users)}
    ${isAdmin(v)
      ? html`<section class="card"><h3>Add an operator</h3>${form('/admin/users', csrf, html`<label for="u-email">Email</label><input id="u-email" type="email" name="email" required>
          <label for="u-role">Role</label><select id="u-role" name="role">${roles}</select><p><button type="submit">Create with a one-time password</button></p>`)}</section>`
      : readOnlyNote}
    <h2>Admin API keys</h2>
    ${table(['Name', 'Key', 'Role', html`<span class="hide-sm">Created by</span>`, 'Last used', ''], keys, 'No API key yet.')}
    ${isAdmin(v)
      ? html`<section class="card"><h3>New API key</h3>${form('/admin/api-keys', csrf, html`<label for="k-name">Name</label><input id="k-name" type="text" name="name" required maxlength="100" placeholder="e.g. approval-bot">
          <label for="k-role">Role</label><select id="k-role" name="role">${roles}</select><p><button type="submit">Create key</button></p>`)}</section>`
      : ''}
    <h2>Your password</h2><p><a href="/admin/password">Change your password</a></p>`,
  );
}
