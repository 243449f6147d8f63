/**
 * Everything an operator can change, shared by the HTML forms and the JSON
 * API: input validated with zod, role checked (viewers read only), scoped to
 * the operator's tenant, and written together with its audit entry in one
 * transaction. A refused or failed action is audited too.
 */
import { enqueueCreativeSync } from '../jobs/fan-out.js';
import { DeliveryTypeSchema, MediaChannelSchema, PricingModelSchema } from '@adcp/sdk/schemas';
import { and, eq, inArray, notInArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { MockSettings } from '../adapters/mock/mock-adapter.js';
import type { Db, Tx } from '../db/client.js';
import { insertAudit, type AuditEntry } from '../db/queries/audit.js';
import { rotateWebhookSigningKey } from '../db/queries/signing-keys.js';
import { getTenant, insertBuyer, setBuyerSuspended, setBuyerToken, patchTenantSettings } from '../db/queries/console.js';
import { setSlackWebhook } from '../db/queries/notifications.js';
import { disableOperator, getOperator, insertApiKey, insertOperator, revokeApiKey, deleteOtherSessions, setOperatorPassword, type Role } from '../db/queries/operators.js';
import { queueCreativeStatusChanged } from '../services/account-notifications.js';
import { adapterConfigs, creativeFormats, creatives, pricingOptions, products, publisherProperties } from '../db/schema/index.js';
import { hashToken, newId, newToken } from '../domain/ids.js';
import { isLiteralPrivateHost, isLocalHostname, urlHost } from '../domain/webhooks.js';
import type { Logger } from '../logger.js';
import { approveMediaBuy, rejectMediaBuy } from '../services/approval.js';
import { actorOf, newApiKey, type Operator } from './auth.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';
import { isSecretKey, mergeSettings, nestedSecretKey } from './secrets.js';
import { sealAdapterSettings, secretBox } from '../services/secret-box.js';

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface AdminDeps {
  db: Db;
  logger: Logger;
}

export const ROLES = ['admin', 'viewer'] as const;

const literals = (s: { options: readonly unknown[] }) => s.options.map((o) => [...(o as { values: Set<string> }).values][0]!) as [string, ...string[]];
export const CHANNELS = literals(MediaChannelSchema as unknown as { options: unknown[] });
export const PRICING_MODELS = literals(PricingModelSchema as unknown as { options: unknown[] });
export const DELIVERY_TYPES = literals(DeliveryTypeSchema as unknown as { options: unknown[] });

export function requireAdmin(op: Operator): void {
  if (op.role !== 'admin') throw new AdminError(403, 'FORBIDDEN', 'Your role is viewer: you can read everything here but change nothing.');
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new AdminError(400, 'VALIDATION_ERROR', `Unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}: nothing was changed.`, issue.keys[0]);
  }
  const field = issue.path.map(String).join('.');
  throw new AdminError(400, 'VALIDATION_ERROR', `${field ? `${field}: ` : ''}${issue.message}`, field || undefined);
}

/**
 * Run an action: role check, the change and its audit entry in one
 * transaction; on refusal or failure, an audit entry with success=false.
 */
async function act<T>(
  deps: AdminDeps,
  op: Operator,
  a: { operation: string; target?: string | null; admin?: boolean; details?: Record<string, unknown> },
  fn: (tx: Tx) => Promise<{ result: T; target?: string; details?: Record<string, unknown> }>,
): Promise<T> {
  try {
    if (a.admin !== false) requireAdmin(op);
    return await deps.db.transaction(async (tx) => {
      const { result, target, details } = await fn(tx);
      await insertAudit(tx, {
        tenantId: op.tenantId,
        actor: actorOf(op),
        operation: a.operation,
        target: target ?? a.target ?? null,
        success: true,
        details: details || a.details ? { ...a.details, ...details } : null,
      });
      return result;
    });
  } catch (err) {
    await auditFailure(deps, op, a, err);
    throw err;
  }
}

async function auditFailure(deps: AdminDeps, op: Operator, a: { operation: string; target?: string | null; details?: Record<string, unknown> }, err: unknown): Promise<void> {
  const code = err instanceof AdminError ? err.code : 'INTERNAL';
  await insertAudit(deps.db, { tenantId: op.tenantId, actor: actorOf(op), operation: a.operation, target: a.target ?? null, success: false, details: { ...a.details, error: code } }).catch((e) =>
    deps.logger.warn('could not audit a failed console action', { error: e }),
  );
}

const isUniqueViolation = (err: unknown): boolean => {
  for (let e = err as { code?: string; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) if (e.code === '23505') return true;
  return false;
};

/** An action that only records (login, logout). */
export function auditOnly(deps: AdminDeps, op: Operator, operation: string, success = true, details?: Record<string, unknown>): Promise<void> {
  return insertAudit(deps.db, { tenantId: op.tenantId, actor: actorOf(op), operation, target: null, success, details: details ?? null });
}

// ---- approvals ---------------------------------------------------------------

export const MAX_REASON = 1000;
export const DecisionInput = z.object({
  reason: z.string().trim().max(MAX_REASON).optional(),
  /** The media buy's revision the decider reviewed (GET /queue gives it): refused with 409 if the buyer changed it since. */
  revision: z.number().int().positive().optional(),
  /** The creative's updated_at the decider reviewed (GET /queue gives it): likewise. */
  updated_at: z.iso.datetime({ offset: true }).optional(),
});

/** The buyer reads the reason (and it travels in a pg_notify payload): the HTML forms get the API's bound too. */
function checkReason(reason: string | undefined): void {
  if (reason && reason.length > MAX_REASON) throw new AdminError(400, 'VALIDATION_ERROR', `The reason is too long (at most ${MAX_REASON} characters).`, 'reason');
}

export async function decideMediaBuy(
  deps: AdminDeps,
  op: Operator,
  p: { taskId: string; decision: 'approve' | 'reject'; reason?: string; revision?: number },
): Promise<{ media_buy_id: string; task_id: string; decision: 'approved' | 'rejected' }> {
  const reason = p.reason?.trim();
  const operation = `media_buy.${p.decision}`;
  const details = { task_id: p.taskId, ...(reason && { reason: reason.slice(0, MAX_REASON) }) };
  try {
    requireAdmin(op);
    checkReason(reason);
    if (p.decision === 'reject' && !reason) throw new AdminError(400, 'VALIDATION_ERROR', 'A rejection needs a reason: the buyer sees it.', 'reason');
    // The decision runs its own transaction (the step is locked there); the audit entry joins it.
    const onDecided = (tx: Tx, d: { mediaBuyId: string; principalId: string }) =>
      insertAudit(tx, { tenantId: op.tenantId, principalId: d.principalId, actor: actorOf(op), operation, target: d.mediaBuyId, success: true, details });
    const common = { tenantId: op.tenantId, taskId: p.taskId, actor: actorOf(op), expectedRevision: p.revision, onDecided };
    const r = p.decision === 'approve' ? await approveMediaBuy(deps.db, common) : await rejectMediaBuy(deps.db, { ...common, reason: reason! });
    if (!r.ok && r.reason === 'not_found') throw new AdminError(404, 'NOT_FOUND', `No media buy awaits approval under task ${p.taskId}.`);
    if (!r.ok && r.reason === 'changed') {
      throw new AdminError(409, 'CHANGED_SINCE_REVIEW', `The buyer changed this media buy since you reviewed it (revision ${p.revision}, now ${r.revision}): review it again before deciding.`, 'revision', { revision: r.revision });
    }
    if (!r.ok) throw new AdminError(409, 'ALREADY_DECIDED', `This media buy was already decided (its task is now ${r.status}).`, undefined, { status: r.status });
    return { media_buy_id: r.mediaBuyId, task_id: p.taskId, decision: p.decision === 'approve' ? 'approved' : 'rejected' };
  } catch (err) {
    await auditFailure(deps, op, { operation, target: p.taskId, details }, err);
    throw err;
  }
}

export async function decideCreative(
  deps: AdminDeps,
  op: Operator,
  p: { principalId: string; creativeId: string; decision: 'approve' | 'reject'; reason?: string; updatedAt?: string },
): Promise<{ creative_id: string; principal_id: string; status: 'approved' | 'rejected' }> {
  const reason = p.reason?.trim();
  return act(deps, op, { operation: `creative.${p.decision}`, target: p.creativeId, details: { principal_id: p.principalId, ...(reason && { reason: reason.slice(0, MAX_REASON) }) } }, async (tx) => {
    checkReason(reason);
    if (p.decision === 'reject' && !reason) throw new AdminError(400, 'VALIDATION_ERROR', 'A rejection needs a reason: the buyer sees it.', 'reason');
    const status = p.decision === 'approve' ? 'approved' : 'rejected';
    const where = and(eq(creatives.tenantId, op.tenantId), eq(creatives.principalId, p.principalId), eq(creatives.id, p.creativeId));
    // Only a creative still pending review moves: of two operators deciding at once, one wins. With the updated_at the
    // decider reviewed, only that version moves: content the buyer re-synced since is not approved unseen.
    const reviewed = p.updatedAt === undefined ? undefined : sql`date_trunc('milliseconds', ${creatives.updatedAt}) = ${p.updatedAt}::timestamptz`;
    const rows = await tx
      .update(creatives)
      .set({
        status,
        details: sql`(${creatives.details} - 'rejection_reason') || ${JSON.stringify(status === 'rejected' ? { rejection_reason: reason } : {})}::jsonb`,
        updatedAt: sql`now()`,
      })
      .where(and(where, eq(creatives.status, 'pending_review'), reviewed))
      .returning({ id: creatives.id, accountId: sql<string | null>`${creatives.details}->>'account_id'`, updatedAt: creatives.updatedAt });
    if (rows.length === 0) {
      const [now] = await tx.select({ status: creatives.status, updatedAt: creatives.updatedAt }).from(creatives).where(where);
      if (!now) throw new AdminError(404, 'NOT_FOUND', `No creative ${p.creativeId} from buyer ${p.principalId}.`);
      if (now.status === 'pending_review') {
        throw new AdminError(409, 'CHANGED_SINCE_REVIEW', `The buyer changed this creative since you reviewed it (updated ${now.updatedAt.toISOString()}): review it again before deciding.`, 'updated_at', { updated_at: now.updatedAt.toISOString() });
      }
      throw new AdminError(409, 'ALREADY_DECIDED', `This creative is no longer awaiting review (it is ${now.status}).`, undefined, { status: now.status });
    }
    // An approved creative goes to the ad servers of the buys it is assigned to, by a job queued with the decision.
    if (status === 'approved') await enqueueCreativeSync(tx, { tenantId: op.tenantId, principalId: p.principalId, creativeIds: [p.creativeId] });
    // The account's subscribers to creative.status_changed (AdCP 3.1) hear of the decision.
    await queueCreativeStatusChanged(tx, { tenantId: op.tenantId, principalId: p.principalId, creativeId: p.creativeId, accountId: rows[0]!.accountId, from: 'pending_review', to: status, reasonDetail: reason, initiator: 'seller', observedAt: rows[0]!.updatedAt });
    return { result: { creative_id: p.creativeId, principal_id: p.principalId, status } };
  });
}

// ---- products ----------------------------------------------------------------

const Decimal = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim())
  .refine((v) => /^\d{1,14}(\.\d{1,4})?$/.test(v), 'must be a non-negative amount with at most 4 decimals');
const OptionalDecimal = z.preprocess((v) => (v === '' || v === null ? undefined : v), Decimal.optional());
const Id = z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/, 'letters, digits, _ . - (up to 80), starting with a letter or digit');

const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

export const PricingOptionInput = z
  .object({
    pricing_option_id: Id,
    pricing_model: z.enum(PRICING_MODELS),
    currency: z.string().trim().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD'),
    fixed_price: OptionalDecimal,
    floor_price: OptionalDecimal,
    min_spend_per_package: OptionalDecimal,
  })
  .refine((p) => (p.fixed_price === undefined) !== (p.floor_price === undefined), { message: 'give either a fixed price or a floor price (auction), not both', path: ['fixed_price'] })
  .refine((p) => p.pricing_model !== 'flat_rate' || p.fixed_price !== undefined, { message: 'flat_rate needs a fixed price', path: ['fixed_price'] });

export const ProductInput = z.object({
  product_id: Id,
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().min(1).max(4000),
  channels: z.array(z.enum(CHANNELS)).min(1, 'pick at least one channel'),
  delivery_type: z.enum(DELIVERY_TYPES),
  /** Format ids, or the {agent_url, id} objects GET /products answers with (so a product read can be sent back as it is). */
  format_ids: z
    .array(z.union([z.string().min(1), z.object({ id: z.string().min(1) }).transform((f) => f.id)]))
    .min(1, 'pick at least one creative format'),
  property_ids: z.array(z.string().min(1)).min(1, 'pick at least one property'),
  countries: z.array(z.string().trim().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 codes such as US')).default([]),
  adapter_config_id: z.preprocess((v) => (v === '' ? null : v), z.string().min(1).nullable().optional()),
  pricing_options: z.array(PricingOptionInput).min(1, 'a product needs at least one pricing option'),
});
export type ProductInput = z.infer<typeof ProductInput>;

export async function saveProduct(deps: AdminDeps, op: Operator, mode: 'create' | 'update', input: unknown): Promise<{ product_id: string }> {
  const guessId = (input as { product_id?: unknown } | null)?.product_id;
  return act(deps, op, { operation: `product.${mode}`, target: typeof guessId === 'string' ? guessId : null }, async (tx) => {
    const p = parse(ProductInput, input);
    const ids = new Set<string>();
    for (const po of p.pricing_options) {
      if (ids.has(po.pricing_option_id)) throw new AdminError(400, 'VALIDATION_ERROR', `pricing option ${po.pricing_option_id} is listed twice`, 'pricing_options');
      ids.add(po.pricing_option_id);
    }
    // create_media_buy refuses a currency the publisher does not accept: an option priced in one would be shown to buyers and never sold.
    const accepted = (await getTenant(tx, op.tenantId))?.settings.currencies;
    p.pricing_options.forEach((po, i) => {
      const field = `pricing_options.${i}.currency`;
      if (!ISO_CURRENCIES.has(po.currency)) throw new AdminError(400, 'VALIDATION_ERROR', `${field}: ${po.currency} is not an ISO 4217 currency code (e.g. USD, EUR, GBP)`, field);
      if (accepted?.length && !accepted.includes(po.currency)) {
        throw new AdminError(400, 'VALIDATION_ERROR', `${field}: this publisher accepts ${accepted.join(', ')}, not ${po.currency}`, field);
      }
    });
    const [formats, props, adapter] = await Promise.all([
      tx.select().from(creativeFormats).where(and(eq(creativeFormats.tenantId, op.tenantId), inArray(creativeFormats.id, p.format_ids))),
      tx.select().from(publisherProperties).where(and(eq(publisherProperties.tenantId, op.tenantId), inArray(publisherProperties.id, p.property_ids))),
      p.adapter_config_id ? tx.select({ id: adapterConfigs.id }).from(adapterConfigs).where(and(eq(adapterConfigs.tenantId, op.tenantId), eq(adapterConfigs.id, p.adapter_config_id))) : Promise.resolve([]),
    ]);
    const missingFormat = p.format_ids.find((f) => !formats.some((x) => x.id === f));
    if (missingFormat) throw new AdminError(400, 'VALIDATION_ERROR', `unknown creative format ${missingFormat}`, 'format_ids');
    const missingProp = p.property_ids.find((f) => !props.some((x) => x.id === f));
    if (missingProp) throw new AdminError(400, 'VALIDATION_ERROR', `unknown property ${missingProp}`, 'property_ids');
    if (p.adapter_config_id && adapter.length === 0) throw new AdminError(400, 'VALIDATION_ERROR', `unknown adapter ${p.adapter_config_id}`, 'adapter_config_id');
    // AdCP publisher_properties: one by_id selector per publisher domain.
    const byDomain = new Map<string, string[]>();
    for (const id of p.property_ids) {
      const prop = props.find((x) => x.id === id)!;
      byDomain.set(prop.publisherDomain, [...(byDomain.get(prop.publisherDomain) ?? []), id]);
    }
    const row = {
      name: p.name,
      description: p.description,
      channels: p.channels,
      deliveryType: p.delivery_type,
      formatIds: p.format_ids.map((id) => ({ agent_url: formats.find((f) => f.id === id)!.agentUrl, id })),
      publisherProperties: [...byDomain].map(([domain, propertyIds]) => ({ publisher_domain: domain, selection_type: 'by_id', property_ids: propertyIds })),
      countries: p.countries,
      ...(p.adapter_config_id !== undefined && { adapterConfigId: p.adapter_config_id }),
    };
    const removed: string[] = [];
    if (mode === 'create') {
      const inserted = await tx.insert(products).values({ tenantId: op.tenantId, id: p.product_id, ...row }).onConflictDoNothing().returning({ id: products.id });
      if (inserted.length === 0) throw new AdminError(409, 'ALREADY_EXISTS', `A product ${p.product_id} already exists.`, 'product_id');
    } else {
      const updated = await tx
        .update(products)
        .set({ ...row, updatedAt: sql`now()` })
        .where(and(eq(products.tenantId, op.tenantId), eq(products.id, p.product_id)))
        .returning({ id: products.id });
      if (updated.length === 0) throw new AdminError(404, 'NOT_FOUND', `No product ${p.product_id}.`, 'product_id');
      // The product as sent replaces the stored one, pricing options included: one left out is no longer offered.
      // Buys made under it keep the price they were bought at (media_packages.fixed_price and bid_price).
      const gone = await tx
        .delete(pricingOptions)
        .where(and(eq(pricingOptions.tenantId, op.tenantId), eq(pricingOptions.productId, p.product_id), notInArray(pricingOptions.id, [...ids])))
        .returning({ id: pricingOptions.id });
      removed.push(...gone.map((g) => g.id));
    }
    for (const po of p.pricing_options) {
      const prow = {
        pricingModel: po.pricing_model,
        currency: po.currency,
        fixedPrice: po.fixed_price ?? null,
        floorPrice: po.floor_price ?? null,
        minSpendPerPackage: po.min_spend_per_package ?? null,
      };
      await tx
        .insert(pricingOptions)
        .values({ tenantId: op.tenantId, productId: p.product_id, id: po.pricing_option_id, ...prow })
        .onConflictDoUpdate({ target: [pricingOptions.tenantId, pricingOptions.productId, pricingOptions.id], set: prow });
    }
    return { result: { product_id: p.product_id }, target: p.product_id, details: { pricing_options: [...ids], ...(removed.length > 0 && { removed_pricing_options: removed.sort() }) } };
  });
}

export async function setProductArchived(deps: AdminDeps, op: Operator, p: { productId: string; archived: boolean }): Promise<{ product_id: string; archived: boolean }> {
  return act(deps, op, { operation: p.archived ? 'product.archive' : 'product.restore', target: p.productId }, async (tx) => {
    const rows = await tx
      .update(products)
      .set({ archived: p.archived, updatedAt: sql`now()` })
      .where(and(eq(products.tenantId, op.tenantId), eq(products.id, p.productId)))
      .returning({ id: products.id });
    if (rows.length === 0) throw new AdminError(404, 'NOT_FOUND', `No product ${p.productId}.`);
    return { result: { product_id: p.productId, archived: p.archived } };
  });
}

// ---- buyers ------------------------------------------------------------------

export const BuyerInput = z.object({
  name: z.string().trim().min(1).max(200),
  /** Per-adapter advertiser ids, e.g. {"mock": {"advertiser_id": "adv-1"}}. */
  platform_mappings: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});

export async function createBuyer(deps: AdminDeps, op: Operator, input: unknown): Promise<{ principal_id: string; name: string; token: string }> {
  return act(deps, op, { operation: 'buyer.create' }, async (tx) => {
    const p = parse(BuyerInput, input);
    const id = newId('prn');
    const token = newToken();
    await insertBuyer(tx, { id, tenantId: op.tenantId, name: p.name, tokenHash: hashToken(token), tokenHint: token.slice(0, 8), platformMappings: p.platform_mappings });
    return { result: { principal_id: id, name: p.name, token }, target: id, details: { name: p.name } };
  });
}

export async function rotateBuyerToken(deps: AdminDeps, op: Operator, p: { principalId: string }): Promise<{ principal_id: string; token: string }> {
  return act(deps, op, { operation: 'buyer.rotate_token', target: p.principalId }, async (tx) => {
    const token = newToken();
    if (!(await setBuyerToken(tx, { tenantId: op.tenantId, id: p.principalId, tokenHash: hashToken(token), tokenHint: token.slice(0, 8) }))) {
      throw new AdminError(404, 'NOT_FOUND', `No buyer ${p.principalId}.`);
    }
    return { result: { principal_id: p.principalId, token } };
  });
}

/**
 * Suspend a buyer, or reinstate one. Suspended, its token still identifies it and every tool answers AGENT_SUSPENDED
 * (on every replica at once: the principals trigger announces the change, which also ends its open MCP sessions);
 * its buys already made are left as they are, for the seller to run or cancel.
 */
export async function setBuyerSuspension(deps: AdminDeps, op: Operator, p: { principalId: string; suspended: boolean }): Promise<{ principal_id: string; suspended: boolean }> {
  return act(deps, op, { operation: p.suspended ? 'buyer.suspend' : 'buyer.reinstate', target: p.principalId }, async (tx) => {
    if (!(await setBuyerSuspended(tx, { tenantId: op.tenantId, id: p.principalId, suspended: p.suspended }))) {
      throw new AdminError(404, 'NOT_FOUND', `No buyer ${p.principalId}.`);
    }
    return { result: { principal_id: p.principalId, suspended: p.suspended } };
  });
}

// ---- webhook-signing keys -----------------------------------------------------

const RotateInput = z.object({ revoke: z.boolean().default(false) }).default({ revoke: false });

/** Make a new webhook-signing key: the old one is retired (routine) or, with `revoke` (it leaked), unpublished at once. */
export async function rotateSigningKey(deps: AdminDeps, op: Operator, input: unknown): Promise<{ kid: string; retired_kid: string | null; revoked: boolean }> {
  return act(deps, op, { operation: 'signing_key.rotate' }, async (tx) => {
    const { revoke } = parse(RotateInput, input ?? undefined);
    const { kid, retiredKid } = await rotateWebhookSigningKey(tx, op.tenantId, { revoke });
    return { result: { kid, retired_kid: retiredKid, revoked: revoke }, target: kid, details: { retired_kid: retiredKid, revoked: revoke } };
  });
}

// ---- adapters and tenant settings ---------------------------------------------

const JsonObject = z.record(z.string(), z.unknown());

export const AdapterInput = z.object({
  manual_approval_required: z.boolean().optional(),
  /** The non-secret settings, replacing the stored ones (secret keys here are ignored). */
  settings: JsonObject.optional(),
  /** Secret settings to set (a string) or remove (null); the others keep their stored value. */
  secrets: z.record(z.string(), z.string().min(1).nullable()).default({}),
});

export async function updateAdapter(deps: AdminDeps, op: Operator, adapterId: string, input: unknown): Promise<{ adapter_config_id: string }> {
  return act(deps, op, { operation: 'adapter.update', target: adapterId }, async (tx) => {
    const p = parse(AdapterInput, input);
    const notSecret = Object.keys(p.secrets).find((k) => !isSecretKey(k));
    if (notSecret) throw new AdminError(400, 'VALIDATION_ERROR', `secrets.${notSecret}: only credential-like keys (…_key, …_token, …secret, password…) go in secrets; put ${notSecret} in settings`, `secrets.${notSecret}`);
    const [row] = await tx.select().from(adapterConfigs).where(and(eq(adapterConfigs.tenantId, op.tenantId), eq(adapterConfigs.id, adapterId))).for('update');
    if (!row) throw new AdminError(404, 'NOT_FOUND', `No adapter ${adapterId}.`);
    // Secret-looking keys sent among the visible settings are ignored, here as in the audit entry (which would show them).
    const visible = Object.fromEntries(Object.entries(p.settings ?? row.settings).filter(([k]) => !isSecretKey(k)));
    const hidden = p.settings && nestedSecretKey(p.settings);
    if (hidden) throw new AdminError(400, 'VALIDATION_ERROR', `settings.${hidden}: a credential inside a setting would be stored and shown in clear; send it in secrets under its own key`, `settings.${hidden}`);
    // New secrets are sealed as they come in (stored ones already are); validation sees the sealed strings.
    const incoming = sealAdapterSettings(secretBox(), row.id, p.secrets) as Record<string, string | null>;
    const settings = mergeSettings(row.settings, visible, incoming);
    if (row.adapterType === 'mock') {
      const check = MockSettings.safeParse(settings);
      if (!check.success) {
        const i = check.error.issues[0]!;
        throw new AdminError(400, 'VALIDATION_ERROR', `settings.${i.path.join('.')}: ${i.message}`, `settings.${i.path.join('.')}`);
      }
    }
    await tx
      .update(adapterConfigs)
      .set({ settings, ...(p.manual_approval_required !== undefined && { manualApprovalRequired: p.manual_approval_required }), updatedAt: sql`now()` })
      .where(eq(adapterConfigs.id, row.id));
    // Names of changed secrets only, never their values.
    return {
      result: { adapter_config_id: adapterId },
      details: {
        ...(p.manual_approval_required !== undefined && { manual_approval_required: p.manual_approval_required }),
        ...(p.settings && { settings: visible }),
        ...(Object.keys(p.secrets).length > 0 && { secrets_changed: Object.keys(p.secrets).sort() }),
      },
    };
  });
}

/** Strict: a mistyped setting ("manual_approval") is refused, not saved as a change of nothing. */
export const SettingsInput = z.strictObject({
  /** Every media buy waits for a human, whatever the adapter. */
  manual_approval_required: z.boolean().optional(),
  creative_review: z.enum(['auto', 'manual']).optional(),
  /** Slack incoming-webhook URL; null removes it; absent keeps it. Write-only. */
  slack_webhook_url: z.string().trim().max(500).nullable().optional(),
});

/**
 * The worker posts to this URL from inside the deployment, so like buyers' webhooks it may point at a
 * private or loopback address only where the tenant allows private webhooks (tests, sandboxes); the
 * notify_slack job checks again what the name resolves to.
 */
export function checkSlackUrl(raw: string, allowPrivate: boolean): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AdminError(400, 'VALIDATION_ERROR', 'The Slack webhook is not a valid URL.', 'slack_webhook_url');
  }
  const host = urlHost(u);
  const loopback = isLocalHostname(host) || host === '127.0.0.1' || host === '::1';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new AdminError(400, 'VALIDATION_ERROR', 'The Slack webhook must be an https:// URL (Slack gives https://hooks.slack.com/services/…).', 'slack_webhook_url');
  }
  if (!allowPrivate && isLiteralPrivateHost(host)) {
    throw new AdminError(400, 'VALIDATION_ERROR', 'The Slack webhook points at a private or loopback address.', 'slack_webhook_url');
  }
  return u.toString();
}

export async function updateSettings(deps: AdminDeps, op: Operator, input: unknown, consoleUrl: string | null): Promise<{ updated: string[] }> {
  return act(deps, op, { operation: 'settings.update' }, async (tx) => {
    const p = parse(SettingsInput, input);
    const patch: Record<string, unknown> = {};
    if (p.manual_approval_required !== undefined) patch.manual_approval_required = p.manual_approval_required;
    if (p.creative_review !== undefined) patch.creative_review = p.creative_review;
    if (Object.keys(patch).length) await patchTenantSettings(tx, { tenantId: op.tenantId, patch });
    if (p.slack_webhook_url !== undefined) {
      const url = p.slack_webhook_url ? checkSlackUrl(p.slack_webhook_url, !!(await getTenant(tx, op.tenantId))?.settings.allow_private_webhooks) : null;
      await setSlackWebhook(tx, { tenantId: op.tenantId, url, consoleUrl });
    }
    const updated = [...Object.keys(patch), ...(p.slack_webhook_url !== undefined ? ['slack_webhook_url'] : [])];
    // The Slack URL is a credential: the audit says whether it was set, not what it is.
    return { result: { updated }, details: { ...patch, ...(p.slack_webhook_url !== undefined && { slack_webhook: p.slack_webhook_url ? 'set' : 'removed' }) } };
  });
}

// ---- operators and API keys ---------------------------------------------------

/** The longest address SMTP carries; sign-in relies on it (src/admin/web.ts). */
export const MAX_EMAIL = 254;
const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(MAX_EMAIL)
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'an email address');

export const UserInput = z.object({ email: Email, role: z.enum(ROLES).default('viewer') });

/** Also used by `sales-agent admin create-user`: the password is shown once and must be changed at first login. */
export async function createOperatorAccount(db: Db | Tx, p: { tenantId: string; email: string; role: Role }): Promise<{ operator_id: string; email: string; role: Role; password: string }> {
  const u = parse(UserInput, p);
  const password = generatePassword();
  const id = newId('op');
  try {
    await insertOperator(db, { id, tenantId: p.tenantId, email: u.email, role: u.role, passwordHash: await hashPassword(password) });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AdminError(409, 'ALREADY_EXISTS', `An operator ${u.email} already exists for this publisher.`, 'email');
    }
    throw err;
  }
  return { operator_id: id, email: u.email, role: u.role, password };
}

export async function createUser(deps: AdminDeps, op: Operator, input: unknown): Promise<{ operator_id: string; email: string; role: Role; password: string }> {
  return act(deps, op, { operation: 'user.create' }, async (tx) => {
    const u = parse(UserInput, input);
    const res = await createOperatorAccount(tx, { tenantId: op.tenantId, ...u });
    return { result: res, target: res.operator_id, details: { email: u.email, role: u.role } };
  });
}

/** An admin disables another operator (a departed or compromised account): their sign-in and sessions end. */
export async function disableUser(deps: AdminDeps, op: Operator, p: { id: string }): Promise<{ operator_id: string; disabled: true }> {
  return act(deps, op, { operation: 'user.disable', target: p.id }, async (tx) => {
    if (op.kind === 'session' && op.id === p.id) throw new AdminError(400, 'VALIDATION_ERROR', 'You cannot disable yourself; another admin can.');
    const row = await disableOperator(tx, { tenantId: op.tenantId, id: p.id });
    if (!row) throw new AdminError(404, 'NOT_FOUND', `No enabled operator ${p.id}.`);
    return { result: { operator_id: row.id, disabled: true as const }, details: { email: row.email } };
  });
}

export const PasswordInput = z
  .object({ current_password: z.string().min(1), new_password: z.string().min(12, 'at least 12 characters').max(200) })
  .refine((p) => p.current_password !== p.new_password, { message: 'choose a password different from the current one', path: ['new_password'] });

/** Any operator may change their own password; their other sessions end. */
export async function changePassword(deps: AdminDeps, op: Operator, input: unknown): Promise<void> {
  await act(deps, op, { operation: 'user.change_password', target: op.id, admin: false }, async (tx) => {
    if (op.kind !== 'session') throw new AdminError(403, 'FORBIDDEN', 'Passwords belong to operators, not API keys.');
    const p = parse(PasswordInput, input);
    const me = await getOperator(tx, { tenantId: op.tenantId, id: op.id });
    if (!me || !(await verifyPassword(p.current_password, me.passwordHash))) throw new AdminError(400, 'VALIDATION_ERROR', 'The current password is wrong.', 'current_password');
    await setOperatorPassword(tx, { tenantId: op.tenantId, id: op.id, passwordHash: await hashPassword(p.new_password), mustChange: false });
    if (op.sessionHash) await deleteOtherSessions(tx, { operatorId: op.id, keep: op.sessionHash });
    return { result: undefined };
  });
}

export const ApiKeyInput = z.object({ name: z.string().trim().min(1).max(100), role: z.enum(ROLES).default('admin') });

export async function createApiKey(deps: AdminDeps, op: Operator, input: unknown): Promise<{ api_key_id: string; name: string; role: Role; key: string }> {
  return act(deps, op, { operation: 'api_key.create' }, async (tx) => {
    const p = parse(ApiKeyInput, input);
    const key = newApiKey();
    const id = newId('key');
    await insertApiKey(tx, { id, tenantId: op.tenantId, name: p.name, keyHash: hashToken(key), keyHint: key.slice(0, 8), role: p.role, createdBy: actorOf(op) });
    return { result: { api_key_id: id, name: p.name, role: p.role, key }, target: id, details: { name: p.name, role: p.role } };
  });
}

export async function revokeKey(deps: AdminDeps, op: Operator, p: { id: string }): Promise<{ api_key_id: string; revoked: true }> {
  return act(deps, op, { operation: 'api_key.revoke', target: p.id }, async (tx) => {
    if (!(await revokeApiKey(tx, { tenantId: op.tenantId, id: p.id }))) throw new AdminError(404, 'NOT_FOUND', `No live API key ${p.id}.`);
    return { result: { api_key_id: p.id, revoked: true as const } };
  });
}
