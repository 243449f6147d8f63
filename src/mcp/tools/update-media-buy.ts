/**
 * update_media_buy: pause/resume, cancel, flight dates, package budgets, bids,
 * targeting, creative assignments and new packages. Validates against Postgres,
 * writes the change, a workflow step and the job that carries it to the ad
 * server, in one transaction; returns at once with the new revision.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { libraryCreatives } from '../../db/queries/creatives.js';
import { packageSpend } from '../../db/queries/delivery.js';
import { cancelPackages, insertPackages, lockBuyForPrincipal, replaceAssignments, updatePackage } from '../../db/queries/media-buy-updates.js';
import { getMediaBuy, updateMediaBuy } from '../../db/queries/media-buys.js';
import { undoOf } from '../../db/queries/update-undo.js';
import { cancelOpenCreateTasks, insertWorkflowStep, updateWorkflowStep } from '../../db/queries/workflow.js';
import { publishChange } from '../../db/notify.js';
import { negotiateVersion, releaseOf } from '../../domain/adcp-release.js';
import { AdcpError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { rejectTestFixtures } from '../../domain/media-buy-plan.js';
import { toAdcpPackages } from '../../domain/media-buy-view.js';
import { planUpdate, type UpdateRequest } from '../../domain/media-buy-update.js';
import { checkReportingWebhook, windowEndAfter, type ReportingWebhook } from '../../domain/reporting.js';
import { amountToNumber } from '../../domain/money.js';
import { availableActions, toAdcpMediaBuyStatus, validActions } from '../../domain/status.js';
import { checkWebhookConfig, privateWebhooksAllowed, withoutCredentials, type PushConfig } from '../../domain/webhooks.js';
import { queueTaskWebhook } from '../../services/webhooks.js';
import { sealBuyerCredentials, secretBox, secretContext } from '../../services/secret-box.js';
import { enqueueCreativeSync, enqueueMediaBuyUpdate } from '../../jobs/fan-out.js';
import { prepareUpdateMediaBuy } from '../adcp31-shapes.js';
import { defineTool } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';

/** Account statuses that stop changes to a buy (but pausing or canceling it), with the AdCP code each gets. */
const BLOCKED_ACCOUNT: Record<string, [string, string]> = {
  suspended: ['ACCOUNT_SUSPENDED', 'suspended'],
  closed: ['ACCOUNT_SUSPENDED', 'closed'],
  rejected: ['ACCOUNT_SUSPENDED', 'declined by the seller'],
  payment_required: ['ACCOUNT_PAYMENT_REQUIRED', 'owing a balance'],
};

type Input = UpdateRequest & { idempotency_key?: string; push_notification_config?: Record<string, unknown>; reporting_webhook?: ReportingWebhook; [k: string]: unknown };

const TOOL = 'update_media_buy';

export default defineTool({
  name: TOOL,
  title: 'Update media buy',
  description:
    'Change a media buy (media_buy_id, idempotency_key): paused (true/false), canceled (with cancellation_reason), start_time/end_time, packages[] {package_id, budget, bid_price, pacing, impressions, paused, canceled, targeting_overlay, keyword_targets_add/remove, negative_keywords_add/remove, creative_assignments}, new_packages[]. Returns at once with the new status and revision; the ad server is updated in the background (subscribe to media-buy://{media_buy_id}).',
  input: TOOL_REQUEST_SCHEMAS.update_media_buy! as unknown as z.ZodType<Input>,
  output: z.looseObject({ media_buy_id: z.string().optional(), status: z.string().optional(), revision: z.number().optional() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  auth: 'required',
  // AdCP 3.1 postal areas (country + system) are taken in their 3.0 form; optimization goals, in any form, are UNSUPPORTED_FEATURE.
  prepare: prepareUpdateMediaBuy,
  // MCP tasks: a task-augmented call is recorded as a task completed at once with this call's answer (src/mcp/tasks.ts).
  taskSupport: 'optional',
  async handle(input, ctx) {
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    const creativeIds = [
      ...(input.packages ?? []).flatMap((p) => (p.creative_assignments ?? []).map((a) => a.creative_id)),
      ...(input.new_packages ?? []).flatMap((p) => (p.creative_assignments ?? []).map((a) => a.creative_id)),
    ];
    const [catalog, products, library] = await Promise.all([
      ctx.catalog.get(ctx.tenant.id),
      ctx.catalog.productsFor(ctx.tenant.id, ctx.principal.id),
      libraryCreatives(ctx.db, { ...scope, ids: [...new Set(creativeIds)] }),
    ]);
    return idempotentMutation(ctx, TOOL, input, async (tx) => {
      const found = await lockBuyForPrincipal(tx, { ...scope, id: input.media_buy_id });
      if (!found) throw new AdcpError('MEDIA_BUY_NOT_FOUND', 'No such media buy.', { field: 'media_buy_id', suggestion: 'Use a media_buy_id from get_media_buys.' });
      const { buy, packages } = found;
      // An account that may not buy (suspended, closed, declined, owing) may still stop what it runs: pause or cancel, nothing else.
      const stopping = input.canceled === true || (input.paused === true && !input.packages?.length && !input.new_packages?.length && input.start_time === undefined && input.end_time === undefined && input.reporting_webhook === undefined);
      if (found.accountStatus && BLOCKED_ACCOUNT[found.accountStatus] && !stopping) {
        const [code, why] = BLOCKED_ACCOUNT[found.accountStatus]!;
        throw new AdcpError(code, `The media buy's account ${buy.accountId} is ${why}: it can only be paused or canceled.`, { field: 'account', recovery: 'terminal', suggestion: 'Pause or cancel the buy, or settle the account with the seller first.' });
      }
      const push = input.push_notification_config as PushConfig | undefined;
      const allowPrivateWebhooks = privateWebhooksAllowed(ctx.tenant.settings, found.sandbox);
      if (push) checkWebhookConfig(push, allowPrivateWebhooks, 'push_notification_config');
      const now = ctx.now();
      // What packages spent: a budget may not go below it, and a canceled package counts for it in the total.
      const spent = input.packages?.length || packages.some((k) => k.status === 'canceled') ? await packageSpend(tx, { tenantId: ctx.tenant.id, mediaBuyId: buy.id }) : new Map<string, string>();
      const plan = planUpdate({
        current: { status: buy.status, startPaused: buy.startPaused, revision: buy.revision, startTime: buy.startTime, endTime: buy.endTime, currency: buy.currency, hasCreatives: found.hasCreatives, booked: found.booked, packages: packages.map((k) => ({ ...k, spent: spent.get(k.id) })) },
        request: input,
        products,
        adapters: catalog.adapters,
        settings: ctx.tenant.settings,
        library,
        now,
      });
      rejectTestFixtures(plan.newPackages, found.sandbox || ctx.tenant.settings.test_controller === 'enabled', 'new_packages');
      // A new reporting_webhook replaces the old one; its schedule restarts from now (sequence numbers carry on).
      const reporting = input.reporting_webhook;
      if (reporting) {
        checkWebhookConfig(reporting, allowPrivateWebhooks, 'reporting_webhook');
        const productIds = new Set([...packages.map((k) => k.productId), ...plan.newPackages.map((p) => p.product.id)]);
        checkReportingWebhook(reporting, products.filter((p) => productIds.has(p.id)));
      }
      for (const c of plan.packageChanges) {
        await updatePackage(tx, { mediaBuyId: buy.id, id: c.id }, { ...(c.budget && { budget: c.budget }), ...(c.bidPrice && { bidPrice: c.bidPrice }), ...(c.pacing && { pacing: c.pacing }), ...(c.impressions && { impressions: c.impressions }), ...(c.status && { status: c.status }), ...(c.targeting && { targeting: c.targeting }) });
        if (c.assignments) await replaceAssignments(tx, { ...scope, packageId: c.id, assignments: c.assignments });
      }
      const nextPosition = Math.max(-1, ...packages.map((k) => k.position)) + 1;
      const added = plan.newPackages.map((p, i) => ({
        id: newId('pkg'),
        mediaBuyId: buy.id,
        tenantId: ctx.tenant.id,
        productId: p.product.id,
        pricingOptionId: p.request.pricing_option_id,
        pricingModel: p.pricingModel,
        adapterConfigId: p.adapterConfigId,
        buyerRef: p.request.buyer_ref ?? null,
        budget: p.budget,
        bidPrice: p.bidPrice,
        fixedPrice: p.fixedPrice,
        pacing: p.request.pacing ?? null,
        impressions: p.impressions,
        targeting: p.request.targeting_overlay ?? null,
        formatIds: p.request.format_ids ?? null,
        packageConfig: p.request as Record<string, unknown>,
        status: p.request.paused ? 'paused' : 'active',
        position: nextPosition + i,
      }));
      await insertPackages(tx, added);
      for (const [i, p] of plan.newPackages.entries()) {
        if (p.request.creative_assignments?.length) await replaceAssignments(tx, { ...scope, packageId: added[i]!.id, assignments: p.request.creative_assignments.map((a) => ({ creative_id: a.creative_id, weight: a.weight ?? null })) });
      }
      if (plan.cancel) await cancelPackages(tx, buy.id);
      const revision = buy.revision + 1;
      const credentials = secretContext.buyerCredentials(scope.tenantId, scope.principalId);
      await updateMediaBuy(tx, { tenantId: ctx.tenant.id, id: buy.id }, {
        status: plan.status,
        startPaused: plan.startPaused,
        startTime: plan.startTime,
        endTime: plan.endTime,
        totalBudget: plan.totalBudget,
        revision,
        ...(plan.cancel && { canceledAt: now, canceledBy: 'buyer', cancellationReason: plan.cancel.reason }),
        ...(reporting && {
          reportingWebhook: sealBuyerCredentials(secretBox(), credentials, reporting as unknown as Record<string, unknown>),
          reportingNextAt: windowEndAfter(reporting.reporting_frequency, plan.startTime > now ? plan.startTime : now),
        }),
      });
      if (plan.cancel) {
        // Withdrawn before the seller decided, or while being booked: its create task ends canceled too, and says so.
        for (const task of await cancelOpenCreateTasks(tx, { tenantId: ctx.tenant.id, mediaBuyId: buy.id })) {
          await queueTaskWebhook(tx, {
            ...scope,
            taskId: task.id,
            taskType: task.stepType,
            mediaBuyId: buy.id,
            status: 'canceled',
            message: 'The buyer canceled the media buy.',
            release: releaseOf(task.request),
            context: task.request?.context,
            push: task.pushNotificationConfig as PushConfig | null,
            allowPrivateNetwork: allowPrivateWebhooks,
          });
          // Its subscribers (task://) hear of it too; the change published below names this update's own task.
          await publishChange(tx, { tenant_id: scope.tenantId, principal_id: scope.principalId, media_buy_id: buy.id, task_id: task.id, status: 'canceled', summary: 'canceled by the buyer' });
        }
      }
      const stepId = newId('task');
      // The buy as it was, to restore should every ad server refuse the change (src/db/queries/update-undo.ts); a cancel is final.
      const undo = plan.cancel ? null : undoOf(buy, packages, new Set(plan.packageChanges.map((c) => c.id)), added.map((a) => a.id), revision);
      // The buyer's webhook for this task, its credentials sealed (stored on the step; queued as is if it completes now).
      const sealedPush = sealBuyerCredentials(secretBox(), credentials, input.push_notification_config ?? null);
      await insertWorkflowStep(tx, { id: stepId, ...scope, mediaBuyId: buy.id, stepType: TOOL, status: 'pending', owner: 'system', request: withoutCredentials(input as Record<string, unknown>), pushNotificationConfig: sealedPush, undo: undo as Record<string, unknown> | null });
      // Past approval, the change goes to every ad server holding a part of the buy (one job each), and new or changed creative assignments with it.
      const sent = buy.status !== 'pending_approval' && (await enqueueMediaBuyUpdate(tx, { tenantId: ctx.tenant.id, mediaBuyId: buy.id, stepId })) > 0;
      if (!sent) {
        // Nothing to send to an ad server (awaiting approval, or nothing booked): done now, and the buyer told if it asked.
        const response = { media_buy_id: buy.id, status: toAdcpMediaBuyStatus(plan.status), revision };
        await updateWorkflowStep(tx, { tenantId: ctx.tenant.id, id: stepId }, { status: 'completed', response });
        await queueTaskWebhook(tx, {
          ...scope,
          taskId: stepId,
          taskType: TOOL,
          mediaBuyId: buy.id,
          status: 'completed',
          result: response,
          release: negotiateVersion(input),
          context: input.context,
          push: sealedPush as PushConfig | null,
          allowPrivateNetwork: allowPrivateWebhooks,
        });
      }
      if (sent && (plan.packageChanges.some((c) => c.assignments) || plan.newPackages.some((p) => p.request.creative_assignments?.length))) {
        await enqueueCreativeSync(tx, { ...scope, mediaBuyIds: [buy.id] });
      }
      await publishChange(tx, { ...{ tenant_id: scope.tenantId, principal_id: scope.principalId }, media_buy_id: buy.id, task_id: stepId, status: plan.status, summary: plan.cancel ? 'canceled by the buyer' : 'updated by the buyer' });
      const status = toAdcpMediaBuyStatus(plan.status);
      const touched = new Set([...plan.packageChanges.map((c) => c.id), ...added.map((a) => a.id), ...(plan.cancel ? packages.map((p) => p.id) : [])]);
      // AdCP 3.1: affected packages are state snapshots (as get_media_buys shows them), never id-only stubs.
      const after = await getMediaBuy(tx, { ...scope, id: buy.id });
      return {
        media_buy_id: buy.id,
        ...(input.idempotency_key && { idempotency_key: input.idempotency_key }),
        status,
        media_buy_status: status,
        revision,
        implementation_date: null,
        valid_actions: validActions(plan.status, plan.startPaused),
        available_actions: availableActions(plan.status, plan.startPaused),
        currency: buy.currency,
        total_budget: amountToNumber(plan.totalBudget),
        affected_packages: after ? toAdcpPackages(after, touched) : [],
        ...(found.sandbox && { sandbox: true }),
        task_id: stepId,
      };
    });
  },
});
