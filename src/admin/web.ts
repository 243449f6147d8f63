/**
 * The console's pages and forms. GETs render; POSTs call the same actions as
 * the JSON API and redirect (303) to a page that says what happened, except
 * when a secret must be shown once (then the page is the answer).
 */
import { createHash } from 'node:crypto';
import { listAdapterConfigs } from '../db/queries/adapters.js';
import { listAudit } from '../db/queries/audit.js';
import { admitLoginAttempt, forgiveLoginFailure } from '../db/queries/login-failures.js';
import { approvalQueue, creativesAwaitingReview, getTenant, listBuyers, listTenantMediaBuys, listWebhookDeliveries, mediaBuyConsoleDetail } from '../db/queries/console.js';
import { getNotificationSettings } from '../db/queries/notifications.js';
import { deleteExpiredSessions, listApiKeys, listOperators, operatorsWithEmail } from '../db/queries/operators.js';
import { listFormats, listProperties, tenantProducts } from '../db/queries/inventory.js';
import type { Queryable } from '../db/client.js';
import {
  AdminError,
  MAX_EMAIL,
  auditOnly,
  changePassword,
  createApiKey,
  createBuyer,
  createUser,
  decideCreative,
  decideMediaBuy,
  revokeKey,
  rotateBuyerToken,
  setBuyerSuspension,
  saveProduct,
  setProductArchived,
  updateAdapter,
  updateSettings,
} from './actions.js';
import { cookie, endSession, LOGIN_CSRF_COOKIE, newSecret, parseCookies, SESSION_COOKIE, SESSION_TTL_MS, sessionOperator, startSession, type Operator } from './auth.js';
import { decoyHash, safeEqual, verifyPassword } from './passwords.js';
import { errorPage, localPath, redirect, sendHtml, type AdminRequest, type Route } from './respond.js';
import { buyersPage } from './pages/buyers.js';
import type { View } from './pages/common.js';
import { auditPage, webhooksPage } from './pages/logs.js';
import { loginPage, passwordPage } from './pages/login.js';
import { mediaBuyPage, mediaBuysPage } from './pages/media-buys.js';
import { emptyProduct, formValuesOf, productFormPage, productFromForm, productsPage, type CatalogChoices, type ProductFormValues } from './pages/products.js';
import { queuePage } from './pages/queue.js';
import { settingsPage } from './pages/settings.js';
import { usersPage } from './pages/users.js';

/** Notices a redirect may ask for, by code: never text from the query string. */
const NOTICES: Record<string, string> = {
  approved: 'Approved: the order is on its way to the ad server.',
  rejected: 'Rejected: the buyer has been told.',
  creative_approved: 'Creative approved.',
  creative_rejected: 'Creative rejected: the buyer sees the reason.',
  product_saved: 'Product saved.',
  product_archived: 'Product archived: buyers no longer see it.',
  product_restored: 'Product restored.',
  buyer_suspended: 'Buyer suspended: its agent is refused until you reinstate it.',
  buyer_reinstated: 'Buyer reinstated.',
  settings_saved: 'Settings saved.',
  slack_saved: 'Slack webhook saved.',
  slack_removed: 'Slack webhook removed.',
  adapter_saved: 'Adapter saved.',
  key_revoked: 'API key revoked.',
  password_changed: 'Password changed.',
};

function view(r: AdminRequest): View {
  const code = r.url.searchParams.get('done');
  return { op: r.op, notice: code && NOTICES[code] ? { text: NOTICES[code]! } : undefined };
}

const page = (r: AdminRequest, body: string, status = 200) => sendHtml(r.res, status, body);
const done = (r: AdminRequest, to: string, code: string) => redirect(r.res, `${to}${to.includes('?') ? '&' : '?'}done=${code}`);

// ---- login -------------------------------------------------------------------

/**
 * Failed sign-ins in 15 minutes, then wait: 10 per email from one client address, 50 per email from any
 * (guessing from many addresses), 100 per address (for offices behind one NAT). An outsider who knows an
 * operator's email so locks the operator out only from the outsider's own address, until they spread 50
 * failures over several. Counted in Postgres (login_failures), so replicas share the count. A sign-in counts
 * as failed while its password is being checked (a parallel burst gets no more guesses); a right one is taken back.
 */
const LOGIN_WINDOW_SECONDS = 15 * 60;
const loginKey = (k: string) => createHash('sha256').update(k).digest('base64url');
const loginKeys = (email: string, ip: string) => [
  { hash: loginKey(`ei:${email}|${ip}`), limit: 10 },
  { hash: loginKey(`e:${email}`), limit: 50 },
  { hash: loginKey(`ip:${ip}`), limit: 100 },
];

async function showLogin(r: AdminRequest, p: { email?: string; error?: string; tenants?: { id: string; name: string }[]; tenant?: string } = {}, status = 200) {
  const csrf = newSecret(24);
  const next = r.url.searchParams.get('next');
  const action = next ? `/admin/login?next=${encodeURIComponent(localPath(next, '/admin/queue'))}` : '/admin/login';
  sendHtml(r.res, status, loginPage({ csrf, action, ...p }), { 'set-cookie': cookie(LOGIN_CSRF_COOKIE, csrf, { secure: r.secure, maxAgeSeconds: 3600, path: '/admin/login' }) });
}

async function loginGet(r: AdminRequest) {
  if (await sessionOperator(r.deps.db, r.req.headers)) return redirect(r.res, '/admin/queue');
  await showLogin(r);
}

async function loginPost(r: AdminRequest) {
  const fd = await r.form();
  const given = fd.get('_csrf') ?? '';
  const expected = parseCookies(r.req.headers.cookie)[LOGIN_CSRF_COOKIE] ?? '';
  if (!expected || !safeEqual(given, expected)) return showLogin(r, { error: 'The sign-in form expired; try again.' }, 403);
  const typed = (fd.get('email') ?? '').trim().toLowerCase();
  // No operator has a longer one; it is neither looked up nor echoed back (the sign-in still counts, under '').
  const email = typed.length <= MAX_EMAIL ? typed : '';
  const password = fd.get('password') ?? '';
  const tenant = fd.get('tenant') || undefined;
  const ip = r.req.socket.remoteAddress ?? '';
  const keys = loginKeys(email, ip);
  if (!(await admitLoginAttempt(r.deps.db, keys, LOGIN_WINDOW_SECONDS))) return showLogin(r, { email, error: 'Too many failed sign-ins; wait a few minutes.' }, 429);
  const candidates = (await operatorsWithEmail(r.deps.db, email)).filter((o) => !tenant || o.tenantId === tenant);
  const matches = [];
  for (const c of candidates) if (await verifyPassword(password, c.passwordHash)) matches.push(c);
  if (candidates.length === 0) await verifyPassword(password, await decoyHash());
  if (matches.length === 0) return showLogin(r, { email, error: 'Wrong email or password.' }, 401);
  await forgiveLoginFailure(r.deps.db, keys.map((k) => k.hash));
  if (matches.length > 1) {
    return showLogin(r, { email, error: 'This email signs in to several publishers: pick one.', tenants: matches.map((m) => ({ id: m.tenantId, name: m.tenantName })) }, 400);
  }
  const me = matches[0]!;
  const s = await startSession(r.deps.db, { operatorId: me.id, tenantId: me.tenantId });
  // Housekeeping: expired sessions go when someone signs in.
  void deleteExpiredSessions(r.deps.db).catch((err) => r.deps.logger.warn('could not delete expired sessions', { error: err }));
  const op: Operator = { kind: 'session', id: me.id, label: me.email, role: me.role as Operator['role'], tenantId: me.tenantId, tenantName: me.tenantName };
  await auditOnly(r.deps, op, 'login');
  const next = me.mustChangePassword ? '/admin/password' : localPath(r.url.searchParams.get('next'), '/admin/queue');
  redirect(r.res, next, {
    'set-cookie': [
      cookie(SESSION_COOKIE, s.token, { secure: r.secure, maxAgeSeconds: SESSION_TTL_MS / 1000 }),
      cookie(LOGIN_CSRF_COOKIE, '', { secure: r.secure, maxAgeSeconds: 0, path: '/admin/login' }),
    ],
  });
}

async function logout(r: AdminRequest) {
  if (r.op.sessionHash) await endSession(r.deps.db, r.op.sessionHash);
  await auditOnly(r.deps, r.op, 'logout');
  redirect(r.res, '/admin/login', { 'set-cookie': cookie(SESSION_COOKIE, '', { secure: r.secure, maxAgeSeconds: 0 }) });
}

async function passwordGet(r: AdminRequest) {
  page(r, passwordPage(view(r), !!r.op.mustChangePassword));
}

async function passwordPost(r: AdminRequest) {
  const fd = await r.form();
  const input = { current_password: fd.get('current_password') ?? '', new_password: fd.get('new_password') ?? '' };
  try {
    if (input.new_password !== (fd.get('confirm_password') ?? '')) throw new AdminError(400, 'VALIDATION_ERROR', 'The two new passwords differ.');
    await changePassword(r.deps, r.op, input);
  } catch (err) {
    if (!(err instanceof AdminError)) throw err;
    return page(r, passwordPage({ op: r.op, notice: { text: err.message, tone: 'bad' } }, !!r.op.mustChangePassword), err.status);
  }
  done(r, '/admin/queue', 'password_changed');
}

// ---- approvals ------------------------------------------------------------------

async function queue(r: AdminRequest) {
  const [buys, creatives] = await Promise.all([approvalQueue(r.deps.db, { tenantId: r.op.tenantId }), creativesAwaitingReview(r.deps.db, { tenantId: r.op.tenantId })]);
  page(r, queuePage(view(r), { buys, creatives }));
}

const decideTask = (decision: 'approve' | 'reject') => async (r: AdminRequest) => {
  const fd = await r.form();
  const back = localPath(fd.get('back'), '/admin/queue');
  try {
    const revision = Number(fd.get('revision'));
    await decideMediaBuy(r.deps, r.op, { taskId: r.params.taskId!, decision, reason: fd.get('reason') ?? undefined, ...(Number.isInteger(revision) && revision > 0 && { revision }) });
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, back);
    throw err;
  }
  done(r, back, decision === 'approve' ? 'approved' : 'rejected');
};

const decideCreativeForm = (decision: 'approve' | 'reject') => async (r: AdminRequest) => {
  const fd = await r.form();
  try {
    const updatedAt = fd.get('updated_at');
    await decideCreative(r.deps, r.op, { principalId: r.params.principalId!, creativeId: r.params.creativeId!, decision, reason: fd.get('reason') ?? undefined, ...(updatedAt && !Number.isNaN(Date.parse(updatedAt)) && { updatedAt }) });
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message);
    throw err;
  }
  done(r, '/admin/queue', decision === 'approve' ? 'creative_approved' : 'creative_rejected');
};

// ---- media buys ------------------------------------------------------------------

const LIMIT = 50;
const offsetOf = (r: AdminRequest) => Math.max(0, Math.min(1_000_000, Number.parseInt(r.url.searchParams.get('offset') ?? '0', 10) || 0));

async function mediaBuys(r: AdminRequest) {
  const status = r.url.searchParams.get('status') || undefined;
  const buyer = r.url.searchParams.get('buyer') || undefined;
  const offset = offsetOf(r);
  const [list, buyers] = await Promise.all([
    listTenantMediaBuys(r.deps.db, { tenantId: r.op.tenantId, status, principalId: buyer, limit: LIMIT, offset }),
    listBuyers(r.deps.db, r.op.tenantId),
  ]);
  page(r, mediaBuysPage(view(r), { ...list, buyers, status, buyer, offset, limit: LIMIT }));
}

async function mediaBuy(r: AdminRequest) {
  const d = await mediaBuyConsoleDetail(r.deps.db, { tenantId: r.op.tenantId, id: r.params.id! });
  if (!d) return errorPage(r, 404, `No media buy ${r.params.id}.`, '/admin/media-buys');
  page(r, mediaBuyPage(view(r), d));
}

// ---- products ----------------------------------------------------------------------

async function choices(db: Queryable, tenantId: string): Promise<CatalogChoices> {
  const [formats, properties, adapters] = await Promise.all([listFormats(db, tenantId), listProperties(db, tenantId), listAdapterConfigs(db, tenantId)]);
  return { formats, properties, adapters };
}

async function productsList(r: AdminRequest) {
  page(r, productsPage(view(r), await tenantProducts(r.deps.db, r.op.tenantId)));
}

async function productNew(r: AdminRequest) {
  page(r, productFormPage(view(r), 'create', emptyProduct(), await choices(r.deps.db, r.op.tenantId)));
}

async function productEdit(r: AdminRequest) {
  const [p] = await tenantProducts(r.deps.db, r.op.tenantId, r.params.id);
  if (!p) return errorPage(r, 404, `No product ${r.params.id}.`, '/admin/products');
  page(r, productFormPage(view(r), 'update', formValuesOf(p), await choices(r.deps.db, r.op.tenantId)));
}

const productSave = (mode: 'create' | 'update') => async (r: AdminRequest) => {
  const fd = await r.form();
  const [existing] = mode === 'update' ? await tenantProducts(r.deps.db, r.op.tenantId, r.params.id) : [];
  if (mode === 'update' && !existing) return errorPage(r, 404, `No product ${r.params.id}.`, '/admin/products');
  const { values, input } = productFromForm(fd, new Set(existing?.pricing.map((p) => p.id) ?? []));
  if (mode === 'update') (input as { product_id: string }).product_id = r.params.id!;
  try {
    await saveProduct(r.deps, r.op, mode, input);
  } catch (err) {
    if (!(err instanceof AdminError)) throw err;
    const v: ProductFormValues = mode === 'update' ? { ...values, product_id: r.params.id! } : values;
    return page(r, productFormPage({ op: r.op, notice: { text: err.message, tone: 'bad' } }, mode, v, await choices(r.deps.db, r.op.tenantId)), err.status);
  }
  done(r, '/admin/products', 'product_saved');
};

const productArchive = (archived: boolean) => async (r: AdminRequest) => {
  try {
    await setProductArchived(r.deps, r.op, { productId: r.params.id!, archived });
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, '/admin/products');
    throw err;
  }
  done(r, '/admin/products', archived ? 'product_archived' : 'product_restored');
};

// ---- buyers -----------------------------------------------------------------------

async function buyers(r: AdminRequest) {
  page(r, buyersPage(view(r), await listBuyers(r.deps.db, r.op.tenantId)));
}

async function buyerCreate(r: AdminRequest) {
  const fd = await r.form();
  let mappings: unknown = {};
  const raw = (fd.get('platform_mappings') ?? '').trim();
  try {
    if (raw) mappings = JSON.parse(raw);
  } catch {
    return errorPage(r, 400, 'The advertiser ids are not valid JSON.', '/admin/buyers');
  }
  try {
    const b = await createBuyer(r.deps, r.op, { name: fd.get('name') ?? '', platform_mappings: mappings });
    page(r, buyersPage(view(r), await listBuyers(r.deps.db, r.op.tenantId), { principalId: b.principal_id, name: b.name, token: b.token }));
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, '/admin/buyers');
    throw err;
  }
}

async function buyerRotate(r: AdminRequest) {
  try {
    const b = await rotateBuyerToken(r.deps, r.op, { principalId: r.params.id! });
    const list = await listBuyers(r.deps.db, r.op.tenantId);
    page(r, buyersPage(view(r), list, { principalId: b.principal_id, name: list.find((x) => x.id === b.principal_id)?.name ?? b.principal_id, token: b.token }));
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, '/admin/buyers');
    throw err;
  }
}

const buyerSuspension = (suspended: boolean) => async (r: AdminRequest) => {
  try {
    await setBuyerSuspension(r.deps, r.op, { principalId: r.params.id!, suspended });
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, '/admin/buyers');
    throw err;
  }
  done(r, '/admin/buyers', suspended ? 'buyer_suspended' : 'buyer_reinstated');
};

// ---- settings and adapters -------------------------------------------------------------

async function settings(r: AdminRequest) {
  const [tenant, notif, adapters] = await Promise.all([
    getTenant(r.deps.db, r.op.tenantId),
    getNotificationSettings(r.deps.db, r.op.tenantId),
    listAdapterConfigs(r.deps.db, r.op.tenantId),
  ]);
  page(r, settingsPage(view(r), { settings: tenant?.settings ?? {}, slackConfigured: !!notif?.slackWebhookUrl, adapters }));
}

const formAction = (fn: (r: AdminRequest, fd: URLSearchParams) => Promise<string>, back: string) => async (r: AdminRequest) => {
  const fd = await r.form();
  let code: string;
  try {
    code = await fn(r, fd);
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, back);
    throw err;
  }
  done(r, back, code);
};

const settingsSave = formAction(async (r, fd) => {
  await updateSettings(r.deps, r.op, { manual_approval_required: fd.get('manual_approval_required') === '1', creative_review: fd.get('creative_review') ?? undefined }, r.baseUrl);
  return 'settings_saved';
}, '/admin/settings');

const slackSave = formAction(async (r, fd) => {
  const remove = fd.get('remove') === '1';
  const url = (fd.get('slack_webhook_url') ?? '').trim();
  if (!remove && !url) throw new AdminError(400, 'VALIDATION_ERROR', 'Enter the incoming-webhook URL, or tick "remove".', 'slack_webhook_url');
  await updateSettings(r.deps, r.op, { slack_webhook_url: remove ? null : url }, r.baseUrl);
  return remove ? 'slack_removed' : 'slack_saved';
}, '/admin/settings');

const adapterSave = formAction(async (r, fd) => {
  let settingsJson: unknown;
  try {
    settingsJson = JSON.parse(fd.get('settings') || '{}');
  } catch {
    throw new AdminError(400, 'VALIDATION_ERROR', 'The settings are not valid JSON.', 'settings');
  }
  // Secret rows: name + value (blank keeps the stored value); "remove" ticks delete.
  const secrets: Record<string, string | null> = {};
  const names = fd.getAll('secret_key');
  const values = fd.getAll('secret_value');
  names.forEach((k, i) => {
    const name = k.trim();
    const value = values[i] ?? '';
    if (name && value) secrets[name] = value;
  });
  for (const k of fd.getAll('secret_remove')) secrets[k] = null;
  await updateAdapter(r.deps, r.op, r.params.id!, { manual_approval_required: fd.get('manual_approval_required') === '1', settings: settingsJson, secrets });
  return 'adapter_saved';
}, '/admin/settings');

// ---- logs ------------------------------------------------------------------------

async function webhooks(r: AdminRequest) {
  const status = r.url.searchParams.get('status') || undefined;
  const offset = offsetOf(r);
  const list = await listWebhookDeliveries(r.deps.db, { tenantId: r.op.tenantId, status, limit: LIMIT, offset });
  page(r, webhooksPage(view(r), { list, status, offset, limit: LIMIT }));
}

async function audit(r: AdminRequest) {
  const q = r.url.searchParams;
  const f = { operation: q.get('operation') || undefined, actor: q.get('actor') || undefined, target: q.get('target') || undefined };
  const before = Number.parseInt(q.get('before') ?? '', 10);
  const rows = await listAudit(r.deps.db, { tenantId: r.op.tenantId, ...f, beforeId: Number.isSafeInteger(before) ? before : undefined, limit: 100 });
  page(r, auditPage(view(r), { rows, ...f, limit: 100 }));
}

// ---- users and keys --------------------------------------------------------------------

async function users(r: AdminRequest, revealed?: { label: string; secret: string; kind: 'password' | 'key' }) {
  const [list, keys] = await Promise.all([listOperators(r.deps.db, r.op.tenantId), listApiKeys(r.deps.db, r.op.tenantId)]);
  page(r, usersPage(view(r), { users: list, keys, revealed }));
}

async function userCreate(r: AdminRequest) {
  const fd = await r.form();
  try {
    const u = await createUser(r.deps, r.op, { email: fd.get('email') ?? '', role: fd.get('role') ?? 'viewer' });
    await users(r, { label: u.email, secret: u.password, kind: 'password' });
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, '/admin/users');
    throw err;
  }
}

async function keyCreate(r: AdminRequest) {
  const fd = await r.form();
  try {
    const k = await createApiKey(r.deps, r.op, { name: fd.get('name') ?? '', role: fd.get('role') ?? 'admin' });
    await users(r, { label: `${k.name} (${k.role})`, secret: k.key, kind: 'key' });
  } catch (err) {
    if (err instanceof AdminError) return errorPage(r, err.status, err.message, '/admin/users');
    throw err;
  }
}

const keyRevoke = formAction(async (r) => {
  await revokeKey(r.deps, r.op, { id: r.params.id! });
  return 'key_revoked';
}, '/admin/users');

const get = (path: string, handle: Route['handle'], kind: Route['kind'] = 'page'): Route => ({ method: 'GET', path, kind, handle });
const post = (path: string, handle: Route['handle'], kind: Route['kind'] = 'page'): Route => ({ method: 'POST', path, kind, handle });

export const webRoutes: Route[] = [
  get('/admin', async (r) => redirect(r.res, '/admin/queue'), 'public'),
  get('/admin/login', loginGet, 'public'),
  post('/admin/login', loginPost, 'public'),
  post('/admin/logout', logout),
  get('/admin/password', passwordGet),
  post('/admin/password', passwordPost),
  get('/admin/queue', queue),
  post('/admin/tasks/:taskId/approve', decideTask('approve')),
  post('/admin/tasks/:taskId/reject', decideTask('reject')),
  post('/admin/buyers/:principalId/creatives/:creativeId/approve', decideCreativeForm('approve')),
  post('/admin/buyers/:principalId/creatives/:creativeId/reject', decideCreativeForm('reject')),
  get('/admin/media-buys', mediaBuys),
  get('/admin/media-buys/:id', mediaBuy),
  get('/admin/products', productsList),
  get('/admin/products/new', productNew),
  post('/admin/products', productSave('create')),
  get('/admin/products/:id/edit', productEdit),
  post('/admin/products/:id', productSave('update')),
  post('/admin/products/:id/archive', productArchive(true)),
  post('/admin/products/:id/restore', productArchive(false)),
  get('/admin/buyers', buyers),
  post('/admin/buyers', buyerCreate),
  post('/admin/buyers/:id/rotate-token', buyerRotate),
  post('/admin/buyers/:id/suspend', buyerSuspension(true)),
  post('/admin/buyers/:id/reinstate', buyerSuspension(false)),
  get('/admin/settings', settings),
  post('/admin/settings', settingsSave),
  post('/admin/settings/slack', slackSave),
  post('/admin/adapters/:id', adapterSave),
  get('/admin/webhooks', webhooks),
  get('/admin/audit', audit),
  get('/admin/users', (r) => users(r)),
  post('/admin/users', userCreate),
  post('/admin/api-keys', keyCreate),
  post('/admin/api-keys/:id/revoke', keyRevoke),
];
