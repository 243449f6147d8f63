/**
 * The console's JSON API under /admin/api: the same reads and actions as the
 * pages, for publishers who automate approval. Answers are snake_case JSON;
 * errors are {error: {code, message, field?}} with the HTTP status that fits
 * (400 invalid, 401 who are you, 403 not allowed, 404, 409 already decided).
 */
import { listAdapterConfigs, type AdapterConfigRow } from '../db/queries/adapters.js';
import { listAudit, type AuditRow } from '../db/queries/audit.js';
import {
  approvalQueue,
  creativesAwaitingReview,
  getTenant,
  listBuyers,
  listTenantMediaBuys,
  listWebhookDeliveries,
  mediaBuyConsoleDetail,
  type PendingApproval,
} from '../db/queries/console.js';
import { tenantProducts, type ProductWithPricing } from '../db/queries/inventory.js';
import type { MediaBuyRow } from '../db/queries/media-buys.js';
import { getNotificationSettings } from '../db/queries/notifications.js';
import { listApiKeys, listOperators } from '../db/queries/operators.js';
import { listWebhookSigningKeys } from '../db/queries/signing-keys.js';
import {
  AdminError,
  createApiKey,
  createBuyer,
  createUser, disableUser,
  DecisionInput,
  decideCreative,
  decideMediaBuy,
  revokeKey,
  rotateBuyerToken,
  setBuyerSuspension,
  rotateSigningKey,
  saveProduct,
  setProductArchived,
  updateAdapter,
  updateSettings,
} from './actions.js';
import { fulfilmentState } from './pages/media-buys.js';
import { sendJson, type AdminRequest, type Route } from './respond.js';
import { redactSecrets, splitSettings } from './secrets.js';

const ok = (r: AdminRequest, body: unknown, status = 200) => sendJson(r.res, status, body);

function intParam(r: AdminRequest, name: string, def: number, max: number): number {
  const raw = r.url.searchParams.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new AdminError(400, 'VALIDATION_ERROR', `${name} must be a whole number from 0 to ${max}.`, name);
  return n;
}

// ---- views ------------------------------------------------------------------------

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

function buyView(b: MediaBuyRow, buyerName?: string) {
  return {
    media_buy_id: b.id,
    principal_id: b.principalId,
    ...(buyerName !== undefined && { buyer_name: buyerName }),
    buyer_ref: b.buyerRef,
    status: b.status,
    total_budget: b.totalBudget,
    currency: b.currency,
    start_time: iso(b.startTime),
    end_time: iso(b.endTime),
    confirmed_at: iso(b.confirmedAt),
    rejection_reason: b.rejectionReason,
    revision: b.revision,
    created_at: iso(b.createdAt),
    updated_at: iso(b.updatedAt),
  };
}

function pendingView(p: PendingApproval) {
  return {
    task_id: p.step.id,
    submitted_at: iso(p.step.createdAt),
    media_buy: buyView(p.buy, p.buyerName),
    packages: p.packages.map((k) => ({ ...packageView(k), targeting: k.targeting })),
    request: redactSecrets(p.buy.rawRequest),
  };
}

function packageView(k: PendingApproval['packages'][number]) {
  return { package_id: k.id, product_id: k.productId, product_name: k.productName, pricing_option_id: k.pricingOptionId, budget: k.budget, bid_price: k.bidPrice };
}

function productView(p: ProductWithPricing) {
  return {
    product_id: p.id,
    name: p.name,
    description: p.description,
    channels: p.channels,
    delivery_type: p.deliveryType,
    format_ids: p.formatIds,
    publisher_properties: p.publisherProperties,
    property_ids: p.publisherProperties.flatMap((s) => (s as { property_ids?: string[] }).property_ids ?? []),
    countries: p.countries,
    adapter_config_id: p.adapterConfigId,
    archived: p.archived,
    pricing_options: p.pricing.map((po) => ({
      pricing_option_id: po.id,
      pricing_model: po.pricingModel,
      currency: po.currency,
      fixed_price: po.fixedPrice,
      floor_price: po.floorPrice,
      min_spend_per_package: po.minSpendPerPackage,
    })),
  };
}

function adapterView(a: AdapterConfigRow) {
  const { visible, secretKeys } = splitSettings(a.settings);
  return { adapter_config_id: a.id, name: a.name, adapter_type: a.adapterType, is_default: a.isDefault, manual_approval_required: a.manualApprovalRequired, settings: visible, secrets_set: secretKeys };
}

const auditView = (a: AuditRow) => ({
  id: a.id,
  at: iso(a.createdAt),
  actor: a.actor,
  operation: a.operation,
  target: a.target,
  principal_id: a.principalId,
  success: a.success,
  details: a.details,
});

// ---- handlers ---------------------------------------------------------------------

async function me(r: AdminRequest) {
  ok(r, { kind: r.op.kind, id: r.op.id, name: r.op.label, role: r.op.role, tenant: { id: r.op.tenantId, name: r.op.tenantName }, ...(r.op.csrfToken && { csrf_token: r.op.csrfToken }) });
}

async function queue(r: AdminRequest) {
  const [buys, creatives] = await Promise.all([approvalQueue(r.deps.db, { tenantId: r.op.tenantId }), creativesAwaitingReview(r.deps.db, { tenantId: r.op.tenantId })]);
  ok(r, {
    media_buys: buys.map(pendingView),
    creatives: creatives.map((c) => ({
      principal_id: c.principalId,
      buyer_name: c.buyerName,
      creative_id: c.id,
      name: c.name,
      format_id: c.formatId,
      status: c.status,
      assets: redactSecrets(c.assets),
      updated_at: iso(c.updatedAt),
    })),
  });
}

const DECISION_FIELDS: Record<string, string> = {
  reason: 'reason must be a string of at most 1000 characters.',
  revision: 'revision must be the positive integer GET /queue gave for the media buy.',
  updated_at: 'updated_at must be the ISO 8601 time GET /queue gave for the creative.',
};
function decisionInputError(error: { issues: { path: PropertyKey[] }[] }): AdminError {
  const field = String(error.issues[0]?.path[0] ?? 'reason');
  return new AdminError(400, 'VALIDATION_ERROR', DECISION_FIELDS[field] ?? DECISION_FIELDS.reason!, field);
}

const decideTask = (decision: 'approve' | 'reject') => async (r: AdminRequest) => {
  const body = DecisionInput.safeParse(await r.json());
  if (!body.success) throw decisionInputError(body.error);
  ok(r, await decideMediaBuy(r.deps, r.op, { taskId: r.params.taskId!, decision, reason: body.data.reason, revision: body.data.revision }));
};

const decideCreativeApi = (decision: 'approve' | 'reject') => async (r: AdminRequest) => {
  const body = DecisionInput.safeParse(await r.json());
  if (!body.success) throw decisionInputError(body.error);
  ok(r, await decideCreative(r.deps, r.op, { principalId: r.params.principalId!, creativeId: r.params.creativeId!, decision, reason: body.data.reason, updatedAt: body.data.updated_at }));
};

async function mediaBuys(r: AdminRequest) {
  const limit = intParam(r, 'limit', 50, 500);
  const offset = intParam(r, 'offset', 0, 1_000_000);
  const { rows, total } = await listTenantMediaBuys(r.deps.db, {
    tenantId: r.op.tenantId,
    status: r.url.searchParams.get('status') || undefined,
    principalId: r.url.searchParams.get('buyer') || undefined,
    limit,
    offset,
  });
  ok(r, { media_buys: rows.map((x) => buyView(x.buy, x.buyerName)), total, limit, offset });
}

async function mediaBuy(r: AdminRequest) {
  const d = await mediaBuyConsoleDetail(r.deps.db, { tenantId: r.op.tenantId, id: r.params.id! });
  if (!d) throw new AdminError(404, 'NOT_FOUND', `No media buy ${r.params.id}.`);
  ok(r, {
    ...buyView(d.buy, d.buyerName),
    fulfilment: fulfilmentState(d),
    packages: d.packages.map((k) => ({
      ...packageView(k),
      status: k.status,
      delivery: d.delivery.find((x) => x.package_id === k.id) ?? null,
    })),
    adapter_orders: d.adapterOrders.map((o) => ({
      adapter_config_id: o.adapterConfigId,
      adapter_name: o.adapterName,
      adapter_type: o.adapterType,
      state: o.state,
      external_order_id: o.externalOrderId,
      attempts: o.attempts,
      error: o.error,
      updated_at: iso(o.updatedAt),
    })),
    workflow_steps: d.steps.map((s) => ({ task_id: s.id, step_type: s.stepType, status: s.status, owner: s.owner, error: s.error, updated_at: iso(s.updatedAt) })),
    jobs: d.jobs,
    webhooks: d.webhooks,
    request: redactSecrets(d.buy.rawRequest),
  });
}

async function productsList(r: AdminRequest) {
  ok(r, { products: (await tenantProducts(r.deps.db, r.op.tenantId)).map(productView) });
}

async function productCreate(r: AdminRequest) {
  const res = await saveProduct(r.deps, r.op, 'create', await r.json());
  const [p] = await tenantProducts(r.deps.db, r.op.tenantId, res.product_id);
  ok(r, productView(p!), 201);
}

async function productUpdate(r: AdminRequest) {
  const body = await r.json();
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new AdminError(400, 'VALIDATION_ERROR', 'Send the product as a JSON object.');
  const res = await saveProduct(r.deps, r.op, 'update', { ...body, product_id: r.params.id });
  const [p] = await tenantProducts(r.deps.db, r.op.tenantId, res.product_id);
  ok(r, productView(p!));
}

const productArchive = (archived: boolean) => async (r: AdminRequest) => ok(r, await setProductArchived(r.deps, r.op, { productId: r.params.id!, archived }));

async function buyers(r: AdminRequest) {
  const list = await listBuyers(r.deps.db, r.op.tenantId);
  ok(r, { buyers: list.map((b) => ({ principal_id: b.id, name: b.name, token_hint: b.tokenHint, platform_mappings: b.platformMappings, media_buys: b.mediaBuys, suspended_at: b.suspendedAt ? iso(b.suspendedAt) : null, created_at: iso(b.createdAt) })) });
}

const buyerCreate = async (r: AdminRequest) => ok(r, await createBuyer(r.deps, r.op, await r.json()), 201);
const buyerRotate = async (r: AdminRequest) => ok(r, await rotateBuyerToken(r.deps, r.op, { principalId: r.params.id! }));
const buyerSuspension = (suspended: boolean) => async (r: AdminRequest) => ok(r, await setBuyerSuspension(r.deps, r.op, { principalId: r.params.id!, suspended }));

async function adapters(r: AdminRequest) {
  ok(r, { adapters: (await listAdapterConfigs(r.deps.db, r.op.tenantId)).map(adapterView) });
}

async function adapterUpdate(r: AdminRequest) {
  await updateAdapter(r.deps, r.op, r.params.id!, await r.json());
  const a = (await listAdapterConfigs(r.deps.db, r.op.tenantId)).find((x) => x.id === r.params.id);
  ok(r, adapterView(a!));
}

async function settingsView(r: AdminRequest) {
  const [tenant, notif] = await Promise.all([getTenant(r.deps.db, r.op.tenantId), getNotificationSettings(r.deps.db, r.op.tenantId)]);
  const s = tenant?.settings ?? {};
  return {
    tenant_id: r.op.tenantId,
    name: tenant?.name,
    manual_approval_required: !!s.manual_approval_required,
    creative_review: s.creative_review === 'manual' ? 'manual' : 'auto',
    slack_webhook_configured: !!notif?.slackWebhookUrl,
  };
}

async function settings(r: AdminRequest) {
  ok(r, await settingsView(r));
}

async function settingsUpdate(r: AdminRequest) {
  await updateSettings(r.deps, r.op, await r.json(), r.baseUrl);
  ok(r, await settingsView(r));
}

async function webhooks(r: AdminRequest) {
  const limit = intParam(r, 'limit', 50, 500);
  const offset = intParam(r, 'offset', 0, 1_000_000);
  ok(r, { deliveries: await listWebhookDeliveries(r.deps.db, { tenantId: r.op.tenantId, status: r.url.searchParams.get('status') || undefined, limit, offset }), limit, offset });
}

async function audit(r: AdminRequest) {
  const q = r.url.searchParams;
  const limit = intParam(r, 'limit', 100, 1000);
  const before = intParam(r, 'before', 0, Number.MAX_SAFE_INTEGER);
  const rows = await listAudit(r.deps.db, {
    tenantId: r.op.tenantId,
    operation: q.get('operation') || undefined,
    actor: q.get('actor') || undefined,
    target: q.get('target') || undefined,
    beforeId: before || undefined,
    limit,
  });
  ok(r, { entries: rows.map(auditView), ...(rows.length === limit && { next_before: rows.at(-1)!.id }) });
}

async function users(r: AdminRequest) {
  const list = await listOperators(r.deps.db, r.op.tenantId);
  ok(r, { users: list.map((u) => ({ operator_id: u.id, email: u.email, role: u.role, last_login_at: iso(u.lastLoginAt), must_change_password: u.mustChangePassword, disabled: !!u.disabledAt })) });
}

const userCreate = async (r: AdminRequest) => ok(r, await createUser(r.deps, r.op, await r.json()), 201);
const userDisable = async (r: AdminRequest) => ok(r, await disableUser(r.deps, r.op, { id: r.params.id! }));

async function keys(r: AdminRequest) {
  const list = await listApiKeys(r.deps.db, r.op.tenantId);
  ok(r, {
    api_keys: list.map((k) => ({ api_key_id: k.id, name: k.name, key_hint: k.keyHint, role: k.role, created_by: k.createdBy, created_at: iso(k.createdAt), last_used_at: iso(k.lastUsedAt), revoked: !!k.revokedAt })),
  });
}

const keyCreate = async (r: AdminRequest) => ok(r, await createApiKey(r.deps, r.op, await r.json()), 201);
const keyRevoke = async (r: AdminRequest) => ok(r, await revokeKey(r.deps, r.op, { id: r.params.id! }));

/** The tenant's webhook-signing keys: public facts only (the private halves never leave Postgres but to sign). */
async function signingKeysList(r: AdminRequest) {
  const list = await listWebhookSigningKeys(r.deps.db, r.op.tenantId);
  ok(r, { signing_keys: list.map((k) => ({ kid: k.kid, alg: k.alg, created_at: iso(k.created_at), retired_at: iso(k.retired_at), published: k.published })) });
}

const signingKeyRotate = async (r: AdminRequest) => ok(r, await rotateSigningKey(r.deps, r.op, await r.json()));

const route = (method: string, path: string, handle: Route['handle']): Route => ({ method, path: `/admin/api${path}`, kind: 'api', handle });

export const apiRoutes: Route[] = [
  route('GET', '/me', me),
  route('GET', '/queue', queue),
  route('POST', '/tasks/:taskId/approve', decideTask('approve')),
  route('POST', '/tasks/:taskId/reject', decideTask('reject')),
  route('POST', '/buyers/:principalId/creatives/:creativeId/approve', decideCreativeApi('approve')),
  route('POST', '/buyers/:principalId/creatives/:creativeId/reject', decideCreativeApi('reject')),
  route('GET', '/media-buys', mediaBuys),
  route('GET', '/media-buys/:id', mediaBuy),
  route('GET', '/products', productsList),
  route('POST', '/products', productCreate),
  route('PUT', '/products/:id', productUpdate),
  route('POST', '/products/:id/archive', productArchive(true)),
  route('POST', '/products/:id/restore', productArchive(false)),
  route('GET', '/buyers', buyers),
  route('POST', '/buyers', buyerCreate),
  route('POST', '/buyers/:id/rotate-token', buyerRotate),
  route('POST', '/buyers/:id/suspend', buyerSuspension(true)),
  route('POST', '/buyers/:id/reinstate', buyerSuspension(false)),
  route('GET', '/adapters', adapters),
  route('PATCH', '/adapters/:id', adapterUpdate),
  route('GET', '/settings', settings),
  route('PATCH', '/settings', settingsUpdate),
  route('GET', '/webhooks', webhooks),
  route('GET', '/audit', audit),
  route('GET', '/users', users),
  route('POST', '/users', userCreate),
  route('POST', '/users/:id/disable', userDisable),
  route('GET', '/api-keys', keys),
  route('POST', '/api-keys', keyCreate),
  route('POST', '/api-keys/:id/revoke', keyRevoke),
  route('GET', '/signing-keys', signingKeysList),
  route('POST', '/signing-keys/rotate', signingKeyRotate),
];
