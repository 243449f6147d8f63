/**
 * sync_creatives: upsert the caller's creatives by creative_id, each checked
 * against the seller's formats (sandbox accounts too); optionally archive the
 * ones left out (delete_missing) and assign creatives to the caller's packages
 * whose products take their format. Assignments made before a creative arrived
 * are checked when it does. One transaction: a buy that was waiting for
 * creatives moves on and is announced in it. Problems with one creative or
 * assignment come back on its item, not as a failed call. dry_run does the
 * same work and rolls it back.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { TransactionRollbackError } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/client.js';
import { archiveCreativesExcept, heldAssignments, lockCreatives, lockCreativeSync, lockOwnPackages, removeAssignments, startBuysAwaitingCreatives, upsertAssignments, upsertCreatives } from '../../db/queries/creatives.js';
import { listFormats } from '../../db/queries/inventory.js';
import { publishChange } from '../../db/notify.js';
import { enqueueCreativeSync } from '../../jobs/fan-out.js';
import {
  assignmentRequests,
  creativeReviewMode,
  notAppliedInStrictMode,
  planAssignments,
  planCreative,
  syncResults,
  unfitAssignments,
  type AssignmentInput,
  type CreativeDetails,
  type CreativeInput,
  type CreativePlan,
} from '../../domain/creatives.js';
import { AdcpError } from '../../domain/errors.js';
import type { BuyerContext } from '../context.js';
import { prepareCreative } from '../adcp31-shapes.js';
import { parseAcceptingAdcp31Values } from '../adcp31-values.js';
import { defineTool, validationError } from '../define-tool.js';
import { constraintError, constraintIssues } from '../request-constraints.js';
import { idempotentMutation } from '../idempotency.js';
import { resolveAccount, type AccountRef } from '../resolve-account.js';

const TOOL = 'sync_creatives';
const sdk = TOOL_REQUEST_SCHEMAS.sync_creatives as z.ZodObject;
/** The AdCP creative-asset schema, applied to each creative on its own so that one bad creative fails alone. */
const CreativeAsset = (sdk.shape.creatives as z.ZodArray<z.ZodType>).element;
/** Where a creative's issues sit in the request (creatives[i]), for telling which branch of a union it meant. */
const CREATIVES_AT_ROOT = z.object({ creatives: z.array(CreativeAsset) });

const Assignment = z.looseObject({ creative_id: z.string(), package_id: z.string(), weight: z.number().min(0).max(100).optional() });
const InputSchema = sdk.extend({
  creatives: z
    .array(z.looseObject({ creative_id: z.string() }))
    .min(1)
    .max(100)
    .describe('Creatives to create or update (upsert by creative_id): {creative_id, name, format_id {agent_url, id}, assets {asset_id: {asset_type, url, ...}}, tags?}.'),
  assignments: z
    .union([z.array(Assignment), z.record(z.string(), z.array(z.string()))])
    .optional()
    .describe('Assign creatives to your packages: [{creative_id, package_id, weight?}] (AdCP 3), or {creative_id: [package_id, ...]} (AdCP 2).'),
});

interface Input {
  account?: AccountRef;
  creatives: ({ creative_id: string } & Record<string, unknown>)[];
  creative_ids?: string[];
  assignments?: AssignmentInput;
  delete_missing?: boolean;
  dry_run?: boolean;
  validation_mode?: 'strict' | 'lenient';
  idempotency_key?: string;
  [k: string]: unknown;
}

async function sync(tx: Tx, ctx: BuyerContext, input: Input): Promise<Record<string, unknown>> {
  const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
  await lockCreativeSync(tx, scope);
  const account = await resolveAccount(tx, ctx, input.account);
  const scoped = input.creative_ids && new Set(input.creative_ids);
  const items = input.creatives.map((c, i) => ({ c, i, at: `creatives[${i}]` })).filter(({ c }) => !scoped || scoped.has(c.creative_id));
  const assignments = assignmentRequests(input.assignments);
  const [formats, stored, packages] = await Promise.all([
    listFormats(tx, ctx.tenant.id),
    lockCreatives(tx, { ...scope, ids: [...new Set([...items.map(({ c }) => c.creative_id), ...assignments.map((a) => a.creative_id)])] }),
    lockOwnPackages(tx, { ...scope, ids: [...new Set(assignments.map((a) => a.package_id))] }),
  ]);
  const formatById = new Map(formats.map((f) => [f.id, f]));
  const storedById = new Map(stored.map((s) => [s.id, { ...s, details: s.details as CreativeDetails }]));
  const review = creativeReviewMode(ctx.tenant.settings);

  let plans = items.map(({ c: sent, i, at }): CreativePlan => {
    let c: typeof sent;
    try {
      c = prepareCreative(sent, at) as typeof sent;
    } catch (err) {
      if (err instanceof AdcpError) return { creativeId: sent.creative_id, action: 'failed', errors: [err.toJSON()] };
      throw err;
    }
    const parsed = parseAcceptingAdcp31Values(CreativeAsset, c);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((x) => ({ ...x, path: ['creatives', i, ...x.path] }));
      return { creativeId: c.creative_id, action: 'failed', errors: [validationError(issues, { creatives: { [i]: c } }, CREATIVES_AT_ROOT).toJSON()] };
    }
    // The creative schema's patterns, formats and bounds, for this creative alone (lenient mode goes on with the others).
    const broken = constraintIssues('creative_asset', c, { at: `/creatives/${i}`, logger: ctx.logger });
    if (broken.length) return { creativeId: c.creative_id, action: 'failed', errors: [constraintError(broken).toJSON()] };
    const creative = c as CreativeInput;
    return planCreative({ creative, at, stored: storedById.get(c.creative_id), format: formatById.get(creative.format_id.id), accountId: account.id, review });
  });
  // AdCP's default is strict: one failed creative and none is applied. lenient keeps the valid ones.
  const aborted = input.validation_mode !== 'lenient' && plans.some((p) => p.action === 'failed');
  if (aborted) plans = plans.map((p) => (p.action === 'failed' ? p : notAppliedInStrictMode(p)));

  await upsertCreatives(tx, { ...scope, rows: plans.flatMap((p) => (p.write ? [p.write] : [])) });
  const deleted = input.delete_missing && !aborted ? await archiveCreativesExcept(tx, { ...scope, accountId: account.id, keep: input.creatives.map((c) => c.creative_id) }) : [];

  const sentFormat = new Map(items.map(({ c }) => [c.creative_id, (c as CreativeInput).format_id?.id]));
  const failed = new Set(plans.flatMap((p) => (p.action === 'failed' ? [p.creativeId] : [])));
  const formatOf = (id: string) => (failed.has(id) ? undefined : (sentFormat.get(id) ?? storedById.get(id)?.formatId.id));
  // A creative's status as this sync leaves it (archived by delete_missing, else as planned if sent, else as stored): a rejected or archived one may not be assigned.
  const planOf = new Map(plans.map((p) => [p.creativeId, p]));
  const standing = (id: string): { status: string; rejectionReason?: string } => {
    if (deleted.includes(id)) return { status: 'archived' };
    const plan = planOf.get(id);
    const stored = storedById.get(id);
    return { status: plan?.status ?? stored?.status ?? 'unknown', rejectionReason: (plan?.write?.details ?? stored?.details)?.rejection_reason };
  };
  // Assignments made before a creative arrived (or before its format changed) are checked now; unfit ones go.
  const arrived = plans.flatMap((p) => (p.action === 'created' || p.action === 'updated' ? [p.creativeId] : []));
  const held = await heldAssignments(tx, { ...scope, creativeIds: arrived });
  const atOf = new Map(items.map(({ c, at }) => [c.creative_id, at]));
  const unfit = unfitAssignments(held, formatOf, (id) => atOf.get(id) ?? 'creatives');
  await removeAssignments(tx, { ...scope, rows: unfit });
  const assignmentPlan = planAssignments(
    aborted ? [] : assignments,
    (id) =>
      failed.has(id)
        ? { state: 'failed' }
        : formatOf(id) !== undefined
          ? { state: 'ok', formatId: formatOf(id)!, ...standing(id), accountId: sentFormat.has(id) ? account.id : (storedById.get(id)?.details.account_id ?? null) }
          : { state: 'unknown' },
    new Map(packages.map((p) => [p.id, p])),
  );
  const requested = new Set(assignments.map((a) => `${a.package_id}\u0000${a.creative_id}`));
  for (const u of unfit.filter((x) => !requested.has(`${x.packageId}\u0000${x.creativeId}`))) assignmentPlan.errors.set(u.creativeId, [...(assignmentPlan.errors.get(u.creativeId) ?? []), u.error]);
  await upsertAssignments(tx, { ...scope, rows: assignmentPlan.accepted });
  // New assignments and new or changed creatives reach the ad servers by a job queued with this write.
  // Archived ones leave the line items they were on the same way.
  await enqueueCreativeSync(tx, { ...scope, mediaBuyIds: assignmentPlan.accepted.map((a) => a.mediaBuyId), creativeIds: [...arrived, ...deleted] });
  // A buy waiting for creatives moves on with its first uploaded one that can serve: assigned now, or assigned before it arrived.
  const dropped = new Set(unfit.map((u) => `${u.packageId}\u0000${u.creativeId}`));
  const kept = held.filter((h) => !dropped.has(`${h.packageId}\u0000${h.creativeId}`));
  const moved = await startBuysAwaitingCreatives(tx, { ...scope, ids: [...new Set([...assignmentPlan.accepted, ...kept].map((a) => a.mediaBuyId))], now: ctx.now() });
  for (const buy of moved) {
    await publishChange(tx, { tenant_id: scope.tenantId, principal_id: scope.principalId, media_buy_id: buy.id, status: buy.status, summary: 'creatives assigned' });
  }

  return {
    creatives: syncResults({ plans, assignments, assignmentPlan, storedStatus: (id) => storedById.get(id)?.status, deleted }),
    ...(input.dry_run && { dry_run: true }),
    ...(account.sandbox && { sandbox: true }),
  };
}

/** dry_run: the same work in a transaction that is then rolled back, so the answer is exactly what a real sync would do. */
async function rehearse(ctx: BuyerContext, input: Input): Promise<Record<string, unknown>> {
  let response: Record<string, unknown> = {};
  try {
    await ctx.db.transaction(async (tx) => {
      response = await sync(tx, ctx, input);
      tx.rollback();
    });
  } catch (err) {
    if (!(err instanceof TransactionRollbackError)) throw err;
  }
  return response;
}

export default defineTool({
  name: TOOL,
  title: 'Sync creatives',
  description:
    'Upload or update your creatives (upsert by creative_id) in an account (account_id, or brand + operator: the account create_media_buy answered with) with an idempotency_key, against the formats from list_creative_formats, and optionally assign them to your packages with assignments [{creative_id, package_id}]. Each creative comes back with action (created, updated, unchanged, failed, deleted) and review status; a failed creative carries its errors; by default (validation_mode strict, as AdCP has it) one failure applies none of the sync, with validation_mode lenient the others are kept. delete_missing archives creatives you did not send; dry_run previews without saving. Check review state later with list_creatives.',
  input: InputSchema as unknown as z.ZodType<Input>,
  output: z.looseObject({ creatives: z.array(z.looseObject({ creative_id: z.string(), action: z.string() })).optional(), dry_run: z.boolean().optional() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  // Each creative is judged on its own (lenient mode keeps the valid ones), constraints included.
  constraintsCheckedByTool: ['/creatives/'],
  auth: 'required',
  async handle(input, ctx) {
    const ids = input.creatives.map((c) => c.creative_id);
    const dup = ids.findIndex((id, i) => ids.indexOf(id) !== i);
    if (dup >= 0) {
      throw new AdcpError('VALIDATION_ERROR', `creative_id "${ids[dup]}" appears more than once.`, { field: `creatives[${dup}].creative_id`, suggestion: 'Send each creative once per sync.' });
    }
    if (input.delete_missing && input.creative_ids) {
      throw new AdcpError('VALIDATION_ERROR', 'delete_missing cannot be combined with creative_ids.', { field: 'delete_missing', suggestion: 'Drop creative_ids to replace the whole library, or drop delete_missing for a scoped update.' });
    }
    if (input.dry_run) return rehearse(ctx, input);
    return idempotentMutation(ctx, TOOL, input, (tx) => sync(tx, ctx, input));
  },
});
