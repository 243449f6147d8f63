/**
 * create_media_buy: validate against Postgres, then in one transaction store the
 * buy, its packages and a workflow step and (auto path) enqueue fulfilment.
 * Returns at once; the ad server is reached later by the fulfil_media_buy job.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { listAdapterConfigs } from '../../db/queries/adapters.js';
import { existingCreativeIds, insertAssignments } from '../../db/queries/creatives.js';
import { claimIdempotencyKey, saveIdempotentResponse } from '../../db/queries/idempotency.js';
import { listProducts } from '../../db/queries/inventory.js';
import { insertMediaBuy } from '../../db/queries/media-buys.js';
import { insertWorkflowStep } from '../../db/queries/workflow.js';
import { publishChange } from '../../db/notify.js';
import { AdcpError } from '../../domain/errors.js';
import { hashJson, newId } from '../../domain/ids.js';
import { planMediaBuy, type CreateMediaBuyRequest } from '../../domain/media-buy-plan.js';
import { amountToNumber } from '../../domain/money.js';
import { initialStatus, validActions } from '../../domain/status.js';
import { enqueueJob } from '../../jobs/enqueue.js';
import { defineTool } from '../define-tool.js';
import { resolveAccount, toAdcpAccount, type AccountRef } from '../resolve-account.js';
import { IDEMPOTENCY_REPLAY_TTL_SECONDS } from './get-adcp-capabilities.js';

type Input = CreateMediaBuyRequest & {
  idempotency_key?: string;
  account?: AccountRef;
  brand?: { domain?: string; brand_id?: string };
  push_notification_config?: Record<string, unknown>;
  context?: Record<string, unknown>;
};

const TOOL = 'create_media_buy';

/** The request minus fields that may differ between honest retries. */
function requestFingerprint(input: Input): string {
  const { context: _c, idempotency_key: _k, adcp_major_version: _v, ...rest } = input;
  return hashJson(rest);
}

export default defineTool({
  name: TOOL,
  title: 'Create media buy',
  description:
    'Buy products: packages of {product_id, pricing_option_id, budget, bid_price for auction pricing, targeting_overlay}, a flight (start_time, end_time), an account (account_id or brand + operator) and an idempotency_key. Returns at once: a confirmed media_buy_id (booking at the ad server follows; subscribe to media-buy://{media_buy_id} or poll get_media_buys), or status "submitted" with a task_id when the seller approves orders by hand (poll tasks/get).',
  input: TOOL_REQUEST_SCHEMAS.create_media_buy! as unknown as z.ZodType<Input>,
  output: z.looseObject({ media_buy_id: z.string().optional(), status: z.string().optional(), task_id: z.string().optional(), packages: z.array(z.looseObject({})).optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  auth: 'required',
  async handle(input, ctx) {
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    const now = ctx.now();
    const productIds = [...new Set((input.packages ?? []).map((p) => p.product_id))];
    const creativeIds = [...new Set((input.packages ?? []).flatMap((p) => (p.creative_assignments ?? []).map((a) => a.creative_id)))];
    const [products, adapters, knownCreatives] = await Promise.all([
      listProducts(ctx.db, { ...scope, ids: productIds }),
      listAdapterConfigs(ctx.db, ctx.tenant.id),
      existingCreativeIds(ctx.db, { ...scope, ids: creativeIds }),
    ]);
    return ctx.db.transaction(async (tx) => {
      if (input.idempotency_key) {
        const claim = await claimIdempotencyKey(tx, { ...scope, tool: TOOL, key: input.idempotency_key, requestHash: requestFingerprint(input), ttlSeconds: IDEMPOTENCY_REPLAY_TTL_SECONDS });
        if (claim.kind === 'replay') return { ...claim.response, replayed: true };
        if (claim.kind === 'conflict') {
          throw new AdcpError('IDEMPOTENCY_CONFLICT', 'This idempotency_key was already used with a different request.', {
            field: 'idempotency_key',
            suggestion: 'Use a fresh idempotency_key for a new media buy, or resend the original request unchanged to get its result.',
          });
        }
      }
      // After the claim, so a replay answers even if the catalogue has changed since.
      const plan = planMediaBuy({ request: input, products, adapters, settings: ctx.tenant.settings, now, knownCreatives });
      const account = await resolveAccount(tx, ctx, input.account, input.brand);
      const mediaBuyId = newId('mb');
      const taskId = newId('task');
      const hasCreatives = plan.packages.some((p) => (p.request.creative_assignments?.length ?? 0) > 0);
      const status = plan.manualApproval ? 'pending_approval' : initialStatus(hasCreatives);
      const confirmedAt = plan.manualApproval ? null : now;
      const packages = plan.packages.map((p) => ({
        id: newId('pkg'),
        mediaBuyId,
        tenantId: ctx.tenant.id,
        productId: p.product.id,
        pricingOptionId: p.request.pricing_option_id,
        adapterConfigId: p.adapterConfigId,
        buyerRef: p.request.buyer_ref ?? null,
        budget: p.budget,
        bidPrice: p.bidPrice,
        pacing: p.request.pacing ?? null,
        impressions: p.request.impressions != null ? String(Math.round(p.request.impressions)) : null,
        targeting: p.request.targeting_overlay ?? null,
        formatIds: p.request.format_ids ?? null,
        packageConfig: p.request as Record<string, unknown>,
        status: p.request.paused ? 'paused' : 'active',
      }));
      await insertMediaBuy(
        tx,
        {
          id: mediaBuyId,
          ...scope,
          accountId: account.id,
          buyerRef: input.buyer_ref ?? null,
          status,
          totalBudget: plan.totalBudget,
          currency: plan.currency,
          startTime: plan.startTime,
          endTime: plan.endTime,
          rawRequest: input as Record<string, unknown>,
          idempotencyKey: input.idempotency_key ?? null,
          pushNotificationConfig: input.push_notification_config ?? null,
          confirmedAt,
        },
        packages,
      );
      await insertAssignments(
        tx,
        plan.packages.flatMap((p, i) =>
          (p.request.creative_assignments ?? []).map((a) => ({ ...scope, creativeId: a.creative_id, packageId: packages[i]!.id, weight: a.weight ?? null })),
        ),
      );
      await insertWorkflowStep(tx, {
        id: taskId,
        ...scope,
        mediaBuyId,
        stepType: TOOL,
        status: plan.manualApproval ? 'requires_approval' : 'pending',
        owner: plan.manualApproval ? 'seller' : 'system',
        request: input as Record<string, unknown>,
        pushNotificationConfig: input.push_notification_config ?? null,
      });
      if (!plan.manualApproval) {
        await enqueueJob(tx, 'fulfil_media_buy', { v: 1, tenant_id: ctx.tenant.id, media_buy_id: mediaBuyId }, { jobKey: `fulfil:${mediaBuyId}` });
      }
      await publishChange(tx, { kind: 'media_buy', ...{ tenant_id: scope.tenantId, principal_id: scope.principalId }, media_buy_id: mediaBuyId, task_id: taskId, status, summary: 'created' });

      const response: Record<string, unknown> = plan.manualApproval
        ? {
            status: 'submitted',
            task_id: taskId,
            message: `Media buy received and awaiting the seller's approval. Poll tasks/get with task_id ${taskId}, or subscribe to task://${taskId}.`,
          }
        : {
            media_buy_id: mediaBuyId,
            ...(input.buyer_ref && { buyer_ref: input.buyer_ref }),
            status,
            media_buy_status: status,
            confirmed_at: now.toISOString(),
            revision: 1,
            currency: plan.currency,
            total_budget: amountToNumber(plan.totalBudget),
            account: toAdcpAccount(account),
            ...(account.sandbox && { sandbox: true }),
            valid_actions: validActions(status),
            packages: packages.map((p) => ({
              package_id: p.id,
              product_id: p.productId,
              pricing_option_id: p.pricingOptionId,
              budget: amountToNumber(p.budget),
              ...(p.bidPrice && { bid_price: amountToNumber(p.bidPrice) }),
              ...(p.buyerRef && { buyer_ref: p.buyerRef }),
              paused: p.status === 'paused',
            })),
          };
      if (input.idempotency_key) await saveIdempotentResponse(tx, { ...scope, tool: TOOL, key: input.idempotency_key, response });
      return response;
    });
  },
});
