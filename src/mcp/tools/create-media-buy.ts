/**
 * create_media_buy: validate against Postgres (the catalogue comes from a cache
 * that catalogue changes invalidate), then write the buy, its packages and a
 * workflow step, enqueue fulfilment (auto path) and notify, all in one
 * statement. Returns at once; the ad server is reached later by the
 * fulfil_media_buy job.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { createMediaBuyAtomically } from '../../db/queries/create-media-buy.js';
import { answerCreateWithoutBuy, CREATE_MEDIA_BUY_ARM, peekDirective, taskIdTaken } from '../../db/queries/controller.js';
import { libraryCreatives } from '../../db/queries/creatives.js';
import { IDEMPOTENCY_REPLAY_TTL_SECONDS, readIdempotentResponse, type StoredResponse } from '../../db/queries/idempotency.js';
import { mediaBuyEventPayload } from '../../db/notify.js';
import { assignsAttachable } from '../../domain/creatives.js';
import { newId } from '../../domain/ids.js';
import { planMediaBuy, rejectTestFixtures, type CreateMediaBuyRequest } from '../../domain/media-buy-plan.js';
import { amountToNumber } from '../../domain/money.js';
import { checkReportingWebhook, windowEndAfter, type ReportingWebhook } from '../../domain/reporting.js';
import { availableActions, initialStatus, validActions } from '../../domain/status.js';
import { checkWebhookConfig, privateWebhooksAllowed, withoutCredentials, type PushConfig } from '../../domain/webhooks.js';
import { sealBuyerCredentials, secretBox, secretContext } from '../../services/secret-box.js';
import { jobSpec, planFulfilment } from '../../jobs/fan-out.js';
import { prepareCreateMediaBuy } from '../adcp31-shapes.js';
import { defineTool } from '../define-tool.js';
import { idempotencyConflict, requestFingerprint } from '../idempotency.js';
import { toAdcpAccount } from '../../domain/account-view.js';
import { findAccount, resolveAccount, type AccountRef } from '../resolve-account.js';

type Input = CreateMediaBuyRequest & {
  idempotency_key?: string;
  account?: AccountRef;
  brand?: { domain?: string; brand_id?: string };
  push_notification_config?: Record<string, unknown>;
  reporting_webhook?: ReportingWebhook;
  context?: Record<string, unknown>;
};

const TOOL = 'create_media_buy';

export default defineTool({
  name: TOOL,
  title: 'Create media buy',
  description:
    'Buy products: packages of {product_id, pricing_option_id, budget, bid_price for auction pricing, targeting_overlay}, brand {domain} (the advertiser, required), a flight (start_time, end_time; every package runs for it), an account (account_id or brand + operator; left out, one is opened for brand) and an idempotency_key; paused: true creates it paused (it waits for creatives and its start as any buy, then stays paused until resumed). Returns at once: a confirmed media_buy_id (booking at the ad server follows; subscribe to media-buy://{media_buy_id} or poll get_media_buys), or status "submitted" with a task_id when the seller approves orders by hand (poll tasks/get).',
  input: TOOL_REQUEST_SCHEMAS.create_media_buy! as unknown as z.ZodType<Input>,
  output: z.looseObject({ media_buy_id: z.string().optional(), status: z.string().optional(), task_id: z.string().optional(), packages: z.array(z.looseObject({})).optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  auth: 'required',
  // AdCP 3.1 postal areas (country + system) are taken in their 3.0 form; optimization goals, in any form, are UNSUPPORTED_FEATURE.
  prepare: prepareCreateMediaBuy,
  // MCP tasks: a task-augmented call is recorded as a task completed at once with this call's answer (src/mcp/tasks.ts).
  taskSupport: 'optional',
  async handle(input, ctx) {
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    const requestHash = input.idempotency_key ? requestFingerprint(input) : '';
    const keyRef = { ...scope, tool: TOOL, key: input.idempotency_key ?? '', ttlSeconds: IDEMPOTENCY_REPLAY_TTL_SECONDS };
    const replay = (stored: StoredResponse | undefined) => {
      if (!stored || stored.requestHash !== requestHash || !stored.response) throw idempotencyConflict();
      return { ...stored.response, replayed: true };
    };
    const now = ctx.now();
    const creativeIds = [...new Set((input.packages ?? []).flatMap((p) => (p.creative_assignments ?? []).map((a) => a.creative_id)))];
    // Independent reads in parallel; the account is only looked up here (opening one waits for a valid request).
    const [catalog, products, library, accountLookup] = await Promise.all([
      ctx.catalog.get(ctx.tenant.id),
      ctx.catalog.productsFor(ctx.tenant.id, ctx.principal.id),
      libraryCreatives(ctx.db, { ...scope, ids: creativeIds }),
      findAccount(ctx.db, ctx, input.account, input.brand).catch((err: unknown) => err as Error),
    ]);
    let plan;
    try {
      plan = planMediaBuy({ request: input, products, adapters: catalog.adapters, settings: ctx.tenant.settings, now, library });
    } catch (err) {
      // A key seen before answers with its original response, even if the catalogue has changed since.
      const stored = input.idempotency_key ? await readIdempotentResponse(ctx.db, keyRef) : undefined;
      if (stored?.fresh) return replay(stored);
      throw err;
    }
    if (accountLookup instanceof Error) throw accountLookup;
    const sandbox = accountLookup.account?.sandbox ?? accountLookup.key?.sandbox ?? false;
    rejectTestFixtures(plan.packages, sandbox || ctx.tenant.settings.test_controller === 'enabled', 'packages');
    const account = await resolveAccount(ctx.db, ctx, input.account, input.brand, accountLookup);
    // Compliance testing may force the next create into the submitted (approval) arm with a given task id, or the input-required arm.
    const testing = account.sandbox || ctx.tenant.settings.test_controller === 'enabled';
    const forced = testing ? await peekDirective(ctx.db, { ...scope, scenario: CREATE_MEDIA_BUY_ARM }) : undefined;
    if (forced?.arm === 'submitted') plan.manualApproval = true;
    const push = input.push_notification_config as PushConfig | undefined;
    const allowPrivateWebhooks = privateWebhooksAllowed(ctx.tenant.settings, account.sandbox);
    if (push) checkWebhookConfig(push, allowPrivateWebhooks, 'push_notification_config');
    const reporting = input.reporting_webhook;
    if (reporting) {
      checkWebhookConfig(reporting, allowPrivateWebhooks, 'reporting_webhook');
      checkReportingWebhook(reporting, plan.packages.map((p) => p.product));
    }
    if (forced?.arm === 'input-required') {
      // AdCP's input-required arm is create's errors branch: the buyer is asked for input, and no media buy is made.
      const response = inputRequired(forced.message, input.idempotency_key);
      const idempotency = input.idempotency_key ? { key: input.idempotency_key, requestHash, response, ttlSeconds: IDEMPOTENCY_REPLAY_TTL_SECONDS } : null;
      const { claimed } = await answerCreateWithoutBuy(ctx.db, { ...scope, scenario: CREATE_MEDIA_BUY_ARM, idempotency });
      return claimed ? response : replay(await readIdempotentResponse(ctx.db, keyRef));
    }
    const mediaBuyId = newId('mb');
    const credentials = secretContext.buyerCredentials(scope.tenantId, scope.principalId);
    const adapterTypes = new Map(catalog.adapters.map((a) => [a.id, a.adapterType]));
    // A forced task id taken since it was forced (by another buyer) gets a fresh one: the create must not fail on it.
    const forcedTaskId = typeof forced?.task_id === 'string' && !(await taskIdTaken(ctx.db, forced.task_id)) ? forced.task_id : undefined;
    const taskId = forcedTaskId ?? newId('task');
    // Assignments may name creatives the buyer has yet to upload; only uploaded ones that can serve let the buy start.
    const hasCreatives = plan.packages.some((p) => assignsAttachable(p.request.creative_assignments, library));
    const status = plan.manualApproval ? 'pending_approval' : initialStatus(hasCreatives);
    const packages = plan.packages.map((p, position) => ({
      id: newId('pkg'),
      product_id: p.product.id,
      pricing_option_id: p.request.pricing_option_id,
      pricing_model: p.pricingModel,
      adapter_config_id: p.adapterConfigId,
      buyer_ref: p.request.buyer_ref ?? null,
      budget: p.budget,
      bid_price: p.bidPrice,
      fixed_price: p.fixedPrice,
      pacing: p.request.pacing ?? null,
      impressions: p.impressions,
      targeting: p.request.targeting_overlay ?? null,
      format_ids: p.request.format_ids ?? null,
      package_config: p.request as Record<string, unknown>,
      status: p.request.paused ? 'paused' : 'active',
      position,
    }));
    const response: Record<string, unknown> = plan.manualApproval
      ? {
          status: 'submitted',
          task_id: taskId,
          ...(input.idempotency_key && { idempotency_key: input.idempotency_key }),
          message: typeof forced?.message === 'string' ? forced.message : `Media buy received and awaiting the seller's approval. Poll tasks/get with task_id ${taskId}, or subscribe to task://${taskId}.`,
        }
      : {
          media_buy_id: mediaBuyId,
          ...(input.idempotency_key && { idempotency_key: input.idempotency_key }),
          ...(input.buyer_ref && { buyer_ref: input.buyer_ref }),
          status,
          media_buy_status: status,
          confirmed_at: now.toISOString(),
          revision: 1,
          currency: plan.currency,
          total_budget: amountToNumber(plan.totalBudget),
          account: toAdcpAccount(account),
          ...(account.sandbox && { sandbox: true }),
          valid_actions: validActions(status, input.paused === true),
          available_actions: availableActions(status, input.paused === true),
          packages: packages.map((p) => ({
            package_id: p.id,
            product_id: p.product_id,
            pricing_option_id: p.pricing_option_id,
            budget: amountToNumber(p.budget),
            ...(p.bid_price && { bid_price: amountToNumber(p.bid_price) }),
            ...(p.buyer_ref && { buyer_ref: p.buyer_ref }),
            paused: p.status === 'paused',
          })),
        };
    const { claimed } = await createMediaBuyAtomically(ctx.db, {
      ...scope,
      accountId: account.id,
      mediaBuyId,
      taskId,
      buyerRef: input.buyer_ref ?? null,
      status,
      // AdCP 3.1 paused: the buy goes paused rather than active once its setup allows, and is booked paused.
      startPaused: input.paused === true,
      totalBudget: plan.totalBudget,
      currency: plan.currency,
      startTime: plan.startTime,
      endTime: plan.endTime,
      // The buyer's credentials are kept once, sealed, where webhooks are signed from (the step, the reporting webhook).
      rawRequest: withoutCredentials(input as Record<string, unknown>),
      pushNotificationConfig: withoutCredentials(input.push_notification_config ?? null),
      stepPushNotificationConfig: sealBuyerCredentials(secretBox(), credentials, input.push_notification_config ?? null),
      // The first report is due at the end of the first window after the flight starts.
      reporting: reporting ? { webhook: sealBuyerCredentials(secretBox(), credentials, reporting as unknown as Record<string, unknown>), nextAt: windowEndAfter(reporting.reporting_frequency, plan.startTime > now ? plan.startTime : now) } : null,
      confirmedAt: plan.manualApproval ? null : now,
      packages,
      assignments: plan.packages.flatMap((p, i) => (p.request.creative_assignments ?? []).map((a) => ({ creative_id: a.creative_id, package_id: packages[i]!.id, weight: a.weight ?? null }))),
      step: plan.manualApproval ? { status: 'requires_approval', owner: 'seller' } : { status: 'pending', owner: 'system' },
      // Awaiting approval: the seller's Slack hears of it (a no-op job when the tenant has no Slack).
      job: plan.manualApproval
        ? jobSpec('notify_slack', { v: 1, tenant_id: ctx.tenant.id, event: 'approval_required', media_buy_id: mediaBuyId }, `slack:approval_required:${mediaBuyId}`)
        : null,
      // Auto path: one part, and one fulfil_media_buy job, per adapter of the packages.
      fulfilment: plan.manualApproval ? null : planFulfilment(ctx.tenant.id, mediaBuyId, plan.packages.map((p) => ({ id: p.adapterConfigId, adapterType: adapterTypes.get(p.adapterConfigId) ?? 'unknown' }))),
      event: mediaBuyEventPayload({ ...{ tenant_id: scope.tenantId, principal_id: scope.principalId }, media_buy_id: mediaBuyId, task_id: taskId, status, summary: 'created' }),
      idempotency: input.idempotency_key ? { key: input.idempotency_key, requestHash, response, ttlSeconds: IDEMPOTENCY_REPLAY_TTL_SECONDS } : null,
      ...(forced && { consumeDirective: CREATE_MEDIA_BUY_ARM }),
    });
    // Lost a race with a concurrent request carrying the same key: answer as it did.
    if (!claimed) return replay(await readIdempotentResponse(ctx.db, keyRef));
    return response;
  },
});

/**
 * The input-required answer (AdCP create-media-buy-async-response-input-required, in create's errors branch):
 * why input is needed, as reason and as an error the buyer can act on. Nothing was created.
 */
function inputRequired(forcedMessage: unknown, idempotencyKey: string | undefined): Record<string, unknown> {
  const message = typeof forcedMessage === 'string' ? forcedMessage : "The seller needs the buyer's confirmation before booking this media buy; none was created.";
  return {
    status: 'input-required',
    reason: 'APPROVAL_REQUIRED',
    message,
    errors: [{ code: 'APPROVAL_REQUIRED', message, recovery: 'correctable', suggestion: 'Confirm the buy, then send create_media_buy again with a new idempotency_key.' }],
    ...(idempotencyKey && { idempotency_key: idempotencyKey }),
  };
}
