/**
 * Creative rules, pure: a synced creative checked against the seller's format
 * (known format, required assets), what a re-sync changed, the review status it
 * lands in, and which package assignments may be made. No I/O: sync_creatives
 * loads the state, asks these functions, and writes the outcome.
 */
import { AdcpError, type AdcpErrorBody } from './errors.js';
import { canonicalJson } from './ids.js';
import { CLOSED_BUY } from './status.js';

export const CREATIVE_STATUSES = ['processing', 'pending_review', 'approved', 'rejected', 'archived'] as const;
export type CreativeStatus = (typeof CREATIVE_STATUSES)[number];
export type CreativeAction = 'created' | 'updated' | 'unchanged' | 'failed' | 'deleted';
export type CreativeReview = 'auto' | 'manual';

/**
 * Creatives that serve, or may once reviewed: only approved ones go to an ad server, and one processing or pending
 * review may yet be approved. A rejected or archived creative (or one in a status this seller does not keep) can
 * serve nothing: it may not be assigned, and it never counts as a buy's creatives (AdCP pending_creatives: the
 * buyer must still attach some).
 */
export const ATTACHABLE_CREATIVE_STATUSES = ['processing', 'pending_review', 'approved'] as const;
export const isAttachable = (status: string): boolean => (ATTACHABLE_CREATIVE_STATUSES as readonly string[]).includes(status);

/**
 * The tenant's `creative_review` setting: 'manual' holds new and changed
 * creatives in pending_review for the seller; anything else approves them at
 * once. Not yet declared in TenantSettings, hence the loose read.
 */
export function creativeReviewMode(settings: unknown): CreativeReview {
  return (settings as { creative_review?: unknown } | null | undefined)?.creative_review === 'manual' ? 'manual' : 'auto';
}

export interface FormatRef {
  agent_url: string;
  id: string;
  [k: string]: unknown;
}

/** A creative as sync_creatives receives it (AdCP creative-asset). */
export interface CreativeInput {
  creative_id: string;
  name: string;
  format_id: FormatRef;
  assets: Record<string, unknown>;
  [k: string]: unknown;
}

/** A format of the seller's catalogue (creative_formats row). */
export interface SellerFormat {
  id: string;
  agentUrl: string;
  spec: Record<string, unknown>;
}

/** What creatives.details holds. */
export interface CreativeDetails {
  account_id?: string;
  /** The creative's other AdCP fields: tags, provenance, industry_identifiers... */
  fields?: Record<string, unknown>;
  /** The status delete_missing archived it from, restored when it is synced again. */
  archived_from?: string;
  /** Why the seller rejected it; kept while it stays rejected. */
  rejection_reason?: string;
  [k: string]: unknown;
}

export interface StoredCreative {
  id: string;
  name: string;
  formatId: FormatRef;
  assets: Record<string, unknown>;
  status: string;
  details: CreativeDetails;
}

/** The row a sync writes. */
export interface CreativeWrite {
  id: string;
  name: string;
  formatId: FormatRef;
  assets: Record<string, unknown>;
  status: CreativeStatus;
  details: CreativeDetails;
}

export interface CreativePlan {
  creativeId: string;
  action: Exclude<CreativeAction, 'deleted'>;
  status?: CreativeStatus;
  changes?: string[];
  errors?: AdcpErrorBody[];
  warnings?: string[];
  /** Set when the creative is created or updated. */
  write?: CreativeWrite;
}

/** Fields that are the columns, or only mean something while uploading to a buy. */
const NOT_IN_FIELDS = new Set(['creative_id', 'name', 'format_id', 'assets', 'weight', 'placement_ids', 'status']);

/** Two creative agent URLs name the same agent whether or not either ends in a slash. */
export const sameAgentUrl = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);
const isStatus = (s: unknown): s is CreativeStatus => (CREATIVE_STATUSES as readonly unknown[]).includes(s);

interface AssetSlot {
  asset_id: string;
  asset_type?: string;
}

function requiredSlots(spec: Record<string, unknown>): AssetSlot[] {
  const assets = Array.isArray(spec.assets) ? (spec.assets as Record<string, unknown>[]) : [];
  return assets.filter((a) => a.required === true && typeof a.asset_id === 'string') as unknown as AssetSlot[];
}

const assetType = (a: unknown) => (a && typeof a === 'object' ? (a as { asset_type?: unknown }).asset_type : undefined);

/** The one fixed size a format renders at, if it has exactly one render of fixed width and height. */
function fixedSize(spec: Record<string, unknown>): { width: number; height: number } | undefined {
  const renders = Array.isArray(spec.renders) ? (spec.renders as { dimensions?: { width?: unknown; height?: unknown } }[]) : [];
  const d = renders.length === 1 ? renders[0]?.dimensions : undefined;
  return typeof d?.width === 'number' && typeof d.height === 'number' ? { width: d.width, height: d.height } : undefined;
}

/**
 * Problems with a creative's assets against its format: a required asset is
 * missing, or has the wrong asset_type; a URL that is not http(s) (javascript:,
 * data:... would run or be served as given); the one image of a fixed-size
 * format at another size. An asset keyed by another name still fills a slot
 * when its asset_type matches (buyers often key by type: "image").
 */
export function assetProblems(assets: Record<string, unknown>, spec: Record<string, unknown>): { asset_id: string; message: string }[] {
  const slots = requiredSlots(spec);
  const used = new Set(slots.map((s) => s.asset_id).filter((id) => id in assets));
  const problems: { asset_id: string; message: string }[] = [];
  const filled = new Map<string, string>();
  for (const slot of slots) {
    if (slot.asset_id in assets) {
      const t = assetType(assets[slot.asset_id]);
      if (slot.asset_type && t !== undefined && t !== slot.asset_type) problems.push({ asset_id: slot.asset_id, message: `Asset "${slot.asset_id}" is ${String(t)}; the format needs ${slot.asset_type}.` });
      filled.set(slot.asset_id, slot.asset_id);
      continue;
    }
    const standIn = Object.keys(assets).find((k) => !used.has(k) && slot.asset_type !== undefined && assetType(assets[k]) === slot.asset_type);
    if (standIn) {
      used.add(standIn);
      filled.set(slot.asset_id, standIn);
    } else problems.push({ asset_id: slot.asset_id, message: `Required asset "${slot.asset_id}"${slot.asset_type ? ` (${slot.asset_type})` : ''} is missing.` });
  }
  for (const [key, asset] of Object.entries(assets)) {
    const url = asset && typeof asset === 'object' ? (asset as { url?: unknown }).url : undefined;
    if (typeof url === 'string' && !/^https?:\/\//i.test(url.trim())) problems.push({ asset_id: key, message: `Asset "${key}" has url "${url.slice(0, 40)}"; only http(s) URLs are served.` });
  }
  const size = fixedSize(spec);
  const images = slots.filter((s) => s.asset_type === 'image');
  if (size && images.length === 1) {
    const key = filled.get(images[0]!.asset_id);
    const image = key ? (assets[key] as { width?: unknown; height?: unknown }) : undefined;
    if (image && typeof image.width === 'number' && typeof image.height === 'number' && (image.width !== size.width || image.height !== size.height)) {
      problems.push({ asset_id: key!, message: `Asset "${key}" is ${image.width}x${image.height}; the format renders at ${size.width}x${size.height}.` });
    }
  }
  return problems;
}

/** Field names a sync would change on a stored creative; empty when it is the same. */
export function creativeChanges(stored: StoredCreative, next: CreativeWrite): string[] {
  const changes: string[] = [];
  if (stored.name !== next.name) changes.push('name');
  if (!same(stored.formatId, next.formatId)) changes.push('format_id');
  if (!same(stored.assets, next.assets)) changes.push('assets');
  const before = stored.details.fields ?? {};
  const after = next.details.fields ?? {};
  for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) if (!same(before[k], after[k])) changes.push(k);
  if ((stored.details.account_id ?? null) !== (next.details.account_id ?? null)) changes.push('account');
  return changes;
}

/**
 * The review status after a sync. New content (a new creative, or new assets or
 * format) is reviewed: approved at once under auto review, pending_review under
 * manual review. A creative re-synced after delete_missing archived it returns
 * to the status it had. Otherwise the status stays.
 */
export function statusAfterSync(p: { stored?: StoredCreative; contentChanged: boolean; review: CreativeReview }): CreativeStatus {
  const reviewed: CreativeStatus = p.review === 'auto' ? 'approved' : 'pending_review';
  if (!p.stored || p.contentChanged) return reviewed;
  if (p.stored.status === 'archived') {
    const before = p.stored.details.archived_from;
    return isStatus(before) && before !== 'archived' ? before : reviewed;
  }
  return isStatus(p.stored.status) ? p.stored.status : reviewed;
}

/**
 * One creative of a sync: validate it against the seller's format, then work
 * out created / updated / unchanged and its status. A creative that fails comes
 * back with errors and is not written: a missing required asset or the wrong
 * asset_type fails it, for sandbox and production accounts alike.
 */
export function planCreative(p: {
  creative: CreativeInput;
  /** Where the creative sits in the request, e.g. "creatives[2]". */
  at: string;
  stored?: StoredCreative;
  format?: SellerFormat;
  accountId: string;
  review: CreativeReview;
}): CreativePlan {
  const { creative: c, at, format } = p;
  const fail = (errors: AdcpErrorBody[]): CreativePlan => ({ creativeId: c.creative_id, action: 'failed', errors });
  // A creative id names one creative across the buyer's accounts: syncing it under another account would move it there.
  const ownAccount = p.stored?.details.account_id;
  if (ownAccount && ownAccount !== p.accountId) {
    return fail([
      {
        code: 'VALIDATION_ERROR',
        message: `Creative "${c.creative_id}" belongs to another of your accounts (${ownAccount}).`,
        field: `${at}.creative_id`,
        suggestion: 'Sync it under its own account, or give this account its own creative_id.',
        recovery: 'correctable',
      },
    ]);
  }
  if (!format) {
    return fail([
      {
        code: 'INVALID_FORMAT',
        message: `Format "${c.format_id.id}" is not offered by this seller.`,
        field: `${at}.format_id`,
        suggestion: 'Call list_creative_formats and use one of the format_ids it returns.',
        recovery: 'correctable',
      },
    ]);
  }
  const warnings: string[] = [];
  if (!sameAgentUrl(format.agentUrl, c.format_id.agent_url)) {
    warnings.push(`format_id.agent_url "${c.format_id.agent_url}" is not this seller's ("${format.agentUrl}"); matched format "${format.id}" by id.`);
  }
  const problems = assetProblems(c.assets, format.spec);
  if (problems.length > 0) {
    return fail(
      problems.map((x) => ({
        code: 'FORMAT_MISMATCH',
        message: x.message,
        field: `${at}.assets.${x.asset_id}`,
        suggestion: `Send the assets format "${format.id}" requires; list_creative_formats shows them.`,
        recovery: 'correctable',
      })),
    );
  }

  const fields = Object.fromEntries(Object.entries(c).filter(([k, v]) => !NOT_IN_FIELDS.has(k) && v !== undefined));
  // What the seller side keeps in details (a rejection reason...) survives a sync.
  const { fields: _fields, account_id: _account, archived_from: _archivedFrom, ...kept } = p.stored?.details ?? {};
  const next: CreativeWrite = {
    id: c.creative_id,
    name: c.name,
    formatId: c.format_id,
    assets: c.assets,
    status: 'approved',
    details: { ...kept, account_id: p.accountId, ...(Object.keys(fields).length > 0 && { fields }) },
  };
  const changes = p.stored ? creativeChanges(p.stored, next) : [];
  const contentChanged = changes.includes('format_id') || changes.includes('assets');
  next.status = statusAfterSync({ stored: p.stored, contentChanged, review: p.review });
  if (p.stored && p.stored.status !== next.status) {
    changes.push('status');
    delete next.details.rejection_reason;
  }
  const extra = warnings.length > 0 ? { warnings } : {};
  if (!p.stored) return { creativeId: c.creative_id, action: 'created', status: next.status, write: next, ...extra };
  if (changes.length === 0) return { creativeId: c.creative_id, action: 'unchanged', status: next.status, ...extra };
  return { creativeId: c.creative_id, action: 'updated', status: next.status, changes, write: next, ...extra };
}

/** sync_creatives assignments: [{creative_id, package_id, weight?}] (AdCP 3) or {creative_id: [package_id...]} (AdCP 2). */
export type AssignmentInput = { creative_id: string; package_id: string; weight?: number }[] | Record<string, string[]>;

export function assignmentRequests(a: AssignmentInput | undefined): AssignmentRequest[] {
  if (!a) return [];
  if (Array.isArray(a)) return a.map((x, i) => ({ creative_id: x.creative_id, package_id: x.package_id, weight: x.weight, at: `assignments[${i}]` }));
  return Object.entries(a).flatMap(([creativeId, packageIds]) => packageIds.map((packageId, j) => ({ creative_id: creativeId, package_id: packageId, at: `assignments.${creativeId}[${j}]` })));
}

export interface AssignmentRequest {
  creative_id: string;
  package_id: string;
  weight?: number;
  /** Where the assignment sits in the request, e.g. "assignments[0]". */
  at: string;
}

/** A package of the caller's, with the state of its buy and the formats its product takes. */
export interface OwnPackage {
  id: string;
  mediaBuyId: string;
  /** The account of the package's media buy. */
  accountId: string | null;
  buyStatus: string;
  status: string;
  productId: string;
  formatIds: { id: string; agent_url?: string }[];
}

/**
 * Whether a product takes creatives of this format. Formats are matched by id,
 * as sync_creatives matches a creative's format to the seller's; a product that
 * lists no formats takes any.
 */
export function acceptsFormat(productFormats: readonly { id: string }[], formatId: string): boolean {
  return productFormats.length === 0 || productFormats.some((f) => f.id === formatId);
}

/** The error for assigning a creative to a package whose product does not take its format. */
export function formatNotAccepted(p: { field: string; creativeId: string; formatId: string; productId: string; accepted: readonly { id: string }[]; packageId?: string }): AdcpErrorBody {
  const accepted = p.accepted.map((f) => f.id);
  return {
    code: 'VALIDATION_ERROR',
    message: `Creative "${p.creativeId}" is in format "${p.formatId}", which product "${p.productId}" does not take.`,
    field: p.field,
    suggestion: `Assign a creative in one of this product's formats (${accepted.join(', ')}), or upload one with sync_creatives.`,
    recovery: 'correctable',
    details: { reason: 'format_not_accepted', creative_id: p.creativeId, format_id: p.formatId, product_id: p.productId, accepted_format_ids: accepted, ...(p.packageId && { package_id: p.packageId }) },
  };
}

export interface AssignmentPlan {
  accepted: { creativeId: string; packageId: string; mediaBuyId: string; weight: number | null }[];
  /** Per creative: the assignments that could not be made. */
  errors: Map<string, AdcpErrorBody[]>;
}

/**
 * The error for assigning a creative that cannot serve (see ATTACHABLE_CREATIVE_STATUSES), or undefined if it may
 * be assigned: a rejected one is CREATIVE_REJECTED with the seller's reason, an archived one INVALID_STATE.
 */
export function unattachable(p: { field: string; creativeId: string; status: string; rejectionReason?: string; packageId?: string }): AdcpErrorBody | undefined {
  if (isAttachable(p.status)) return undefined;
  const details = { creative_id: p.creativeId, status: p.status, ...(p.packageId && { package_id: p.packageId }) };
  if (p.status === 'rejected') {
    const reason = p.rejectionReason ?? 'rejected by the seller';
    return {
      code: 'CREATIVE_REJECTED',
      message: `Creative "${p.creativeId}" was rejected (${reason}) and cannot serve, so it cannot be assigned.`,
      field: p.field,
      suggestion: 'Sync it again with changed assets to have it reviewed again, or assign another creative.',
      recovery: 'correctable',
      details: { ...details, reasons: [reason] },
    };
  }
  return {
    code: 'INVALID_STATE',
    message: `Creative "${p.creativeId}" is ${p.status} and cannot serve, so it cannot be assigned.`,
    field: p.field,
    suggestion: p.status === 'archived' ? 'Sync it again with sync_creatives to restore it, or assign another creative.' : 'Assign an approved creative, or one pending review.',
    recovery: 'correctable',
    details,
  };
}

/**
 * Which assignments may be made. A creative that failed in this sync is skipped
 * (its own errors say why); one that is neither in the sync nor in the library
 * is CREATIVE_NOT_FOUND; a rejected or archived one cannot serve and is refused;
 * a package that is not the caller's is PACKAGE_NOT_FOUND (the same answer as
 * for one that does not exist); a closed buy or a canceled package cannot take
 * creatives, nor can a package whose product does not take the creative's format.
 */
export function planAssignments(
  requests: AssignmentRequest[],
  creative: (id: string) => { state: 'ok'; formatId: string; status: string; rejectionReason?: string; accountId?: string | null } | { state: 'failed' | 'unknown' },
  packages: Map<string, OwnPackage>,
): AssignmentPlan {
  const accepted = new Map<string, AssignmentPlan['accepted'][number]>();
  const errors = new Map<string, AdcpErrorBody[]>();
  const reject = (id: string, e: AdcpErrorBody) => errors.set(id, [...(errors.get(id) ?? []), e]);
  for (const r of requests) {
    const c = creative(r.creative_id);
    if (c.state !== 'ok') {
      if (c.state === 'unknown') {
        reject(r.creative_id, { code: 'CREATIVE_NOT_FOUND', message: `Creative "${r.creative_id}" is neither in this sync nor in your library.`, field: `${r.at}.creative_id`, suggestion: 'Include the creative in creatives[], or check its id with list_creatives.', recovery: 'correctable', details: { package_id: r.package_id } });
      }
      continue;
    }
    const cannotServe = unattachable({ field: `${r.at}.creative_id`, creativeId: r.creative_id, status: c.status, rejectionReason: c.rejectionReason, packageId: r.package_id });
    if (cannotServe) {
      reject(r.creative_id, cannotServe);
      continue;
    }
    const pkg = packages.get(r.package_id);
    if (!pkg) {
      reject(r.creative_id, { code: 'PACKAGE_NOT_FOUND', message: `Package "${r.package_id}" was not found among your media buys.`, field: `${r.at}.package_id`, suggestion: 'Use a package_id from create_media_buy or get_media_buys.', recovery: 'correctable', details: { package_id: r.package_id } });
      continue;
    }
    if (CLOSED_BUY.has(pkg.buyStatus) || pkg.status === 'canceled') {
      const what = pkg.status === 'canceled' ? 'the package is canceled' : `its media buy is ${pkg.buyStatus}`;
      reject(r.creative_id, { code: 'INVALID_STATE', message: `Package "${pkg.id}" cannot take creatives: ${what}.`, field: `${r.at}.package_id`, suggestion: 'Assign the creative to a package of a live media buy.', recovery: 'correctable', details: { package_id: pkg.id } });
      continue;
    }
    if (c.accountId && pkg.accountId && c.accountId !== pkg.accountId) {
      reject(r.creative_id, { code: 'VALIDATION_ERROR', message: `Creative "${r.creative_id}" and package "${pkg.id}" belong to different accounts.`, field: `${r.at}.package_id`, suggestion: "Assign the creative to a package of its own account's media buys.", recovery: 'correctable', details: { package_id: pkg.id } });
      continue;
    }
    if (!acceptsFormat(pkg.formatIds, c.formatId)) {
      reject(r.creative_id, formatNotAccepted({ field: `${r.at}.creative_id`, creativeId: r.creative_id, formatId: c.formatId, productId: pkg.productId, accepted: pkg.formatIds, packageId: pkg.id }));
      continue;
    }
    accepted.set(`${pkg.id}\u0000${r.creative_id}`, { creativeId: r.creative_id, packageId: pkg.id, mediaBuyId: pkg.mediaBuyId, weight: r.weight ?? null });
  }
  return { accepted: [...accepted.values()], errors };
}

/** An assignment's error as a thrown one, for requests that fail as a whole (create_media_buy, update_media_buy). */
function refused(e: AdcpErrorBody): AdcpError {
  return new AdcpError(e.code, e.message, { field: e.field, suggestion: e.suggestion, recovery: e.recovery, details: e.details });
}

/** A creative of the caller's library, as create_media_buy and update_media_buy check an assignment of it. */
export interface LibraryCreative {
  formatId: string;
  status: string;
  rejectionReason?: string;
}

/**
 * A package's creative_assignments on create_media_buy and update_media_buy: an uploaded creative must be one that
 * can serve (not rejected or archived) and in a format the package's product takes; one not uploaded yet is
 * checked when it arrives (sync_creatives).
 */
export function checkAssignedCreatives(p: {
  assignments: readonly { creative_id: string }[];
  product: { id: string; formatIds: readonly { id: string }[] };
  /** The caller's uploaded creatives among those assigned. */
  library: ReadonlyMap<string, LibraryCreative> | undefined;
  /** The error field of assignment j. */
  field: (j: number) => string;
  packageId?: string;
}): void {
  p.assignments.forEach((a, j) => {
    const creative = p.library?.get(a.creative_id);
    if (!creative) return;
    const cannotServe = unattachable({ field: p.field(j), creativeId: a.creative_id, status: creative.status, rejectionReason: creative.rejectionReason, packageId: p.packageId });
    if (cannotServe) throw refused(cannotServe);
    if (!acceptsFormat(p.product.formatIds, creative.formatId)) {
      throw refused(formatNotAccepted({ field: p.field(j), creativeId: a.creative_id, formatId: creative.formatId, productId: p.product.id, accepted: p.product.formatIds, packageId: p.packageId }));
    }
  });
}

/** Whether these assignments name an uploaded creative that can serve: the first lets a buy leave pending_creatives (creatives still to come do not). */
export function assignsAttachable(assignments: readonly { creative_id: string }[] | undefined, library: ReadonlyMap<string, LibraryCreative>): boolean {
  return (assignments ?? []).some((a) => {
    const creative = library.get(a.creative_id);
    return creative !== undefined && isAttachable(creative.status);
  });
}

/** A live assignment of a creative, with the formats its package's product takes. */
export interface HeldAssignment {
  creativeId: string;
  packageId: string;
  mediaBuyId: string;
  productId: string;
  formatIds: { id: string; agent_url?: string }[];
}

/**
 * Assignments made before a creative was uploaded (create_media_buy and
 * update_media_buy accept creatives still to come), or before its format
 * changed, are checked when it arrives: those whose product does not take the
 * creative's format are to be dropped, each with the error the sync reports.
 */
export function unfitAssignments(
  held: HeldAssignment[],
  formatOf: (creativeId: string) => string | undefined,
  /** Where the creative sits in the request, e.g. "creatives[0]". */
  at: (creativeId: string) => string,
): (HeldAssignment & { error: AdcpErrorBody })[] {
  return held.flatMap((h) => {
    const formatId = formatOf(h.creativeId);
    if (formatId === undefined || acceptsFormat(h.formatIds, formatId)) return [];
    const error = formatNotAccepted({ field: `${at(h.creativeId)}.format_id`, creativeId: h.creativeId, formatId, productId: h.productId, accepted: h.formatIds, packageId: h.packageId });
    return [{ ...h, error: { ...error, message: `${error.message} Its assignment to package "${h.packageId}" was removed.` } }];
  });
}

/**
 * The AdCP result entry for one creative of a sync. Assignment failures do not
 * fail the creative: they are in assignment_errors by package (and in errors
 * only on a failed entry, as AdCP keeps errors for those); status is left out of
 * failed entries, as the schema requires.
 */
export function creativeResult(p: CreativePlan, a: AssignmentPlan, assignmentsRequested: boolean): Record<string, unknown> {
  const refused = a.errors.get(p.creativeId) ?? [];
  const ok = p.action !== 'failed';
  const errors = ok ? (p.errors ?? []) : [...(p.errors ?? []), ...refused];
  return {
    creative_id: p.creativeId,
    action: p.action,
    ...(ok && p.status ? { status: p.status } : {}),
    ...(p.changes?.length ? { changes: p.changes } : {}),
    ...(errors.length ? { errors } : {}),
    ...(p.warnings?.length ? { warnings: p.warnings } : {}),
    ...(ok && assignmentsRequested ? { assigned_to: a.accepted.filter((x) => x.creativeId === p.creativeId).map((x) => x.packageId) } : {}),
    ...(refused.length ? { assignment_errors: Object.fromEntries(refused.map((e) => [String(e.details?.package_id), e.message])) } : {}),
  };
}

/** validation_mode "strict": one failed creative means none is applied. */
export function notAppliedInStrictMode(p: CreativePlan): CreativePlan {
  return {
    creativeId: p.creativeId,
    action: 'failed',
    errors: [
      {
        code: 'VALIDATION_ERROR',
        message: 'Not applied: validation_mode is "strict" and other creatives in this sync failed.',
        suggestion: 'Fix the failed creatives, or send validation_mode "lenient" to apply the valid ones.',
        recovery: 'correctable',
      },
    ],
  };
}

/**
 * The creatives[] of a sync response: one entry per creative sent, one per
 * library creative that was only named in assignments, one per creative that
 * delete_missing archived.
 */
export function syncResults(p: {
  plans: CreativePlan[];
  assignments: AssignmentRequest[];
  assignmentPlan: AssignmentPlan;
  storedStatus: (id: string) => string | undefined;
  deleted: string[];
}): Record<string, unknown>[] {
  const sent = new Set(p.plans.map((x) => x.creativeId));
  const named = new Set(p.assignments.map((a) => a.creative_id));
  const library = [...named]
    .filter((id) => !sent.has(id))
    .map((id): CreativePlan => {
      const status = p.storedStatus(id);
      return status !== undefined && isStatus(status) ? { creativeId: id, action: 'unchanged', status } : { creativeId: id, action: 'failed' };
    });
  return [
    ...[...p.plans, ...library].map((x) => creativeResult(x, p.assignmentPlan, named.has(x.creativeId))),
    ...p.deleted.map((id) => ({ creative_id: id, action: 'deleted' })),
  ];
}
