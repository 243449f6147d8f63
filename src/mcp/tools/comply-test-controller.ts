/**
 * comply_test_controller: the AdCP compliance harness's hooks into seller state
 * (seed products, prices, media buys and creatives, force media buy / creative / account / SI session
 * statuses, simulate delivery, force the next create_media_buy into the
 * submitted arm). The SDK's dispatcher validates the scenario and its params
 * and shapes the replies; each scenario below is one scoped query. Allowed for
 * sandbox accounts, or, when the request names no account, on tenants whose
 * settings enable `test_controller`.
 */
import { handleTestControllerRequest, TestControllerError, TOOL_INPUT_SHAPE, type ControllerScenario, type TestControllerStore } from '@adcp/sdk/server';
import { z } from 'zod';
import type { Queryable } from '../../db/client.js';
import * as q from '../../db/queries/controller.js';
import { simulateBudgetSpend, simulateDelivery, type SimulationOutcome } from '../../db/queries/delivery.js';
import { listFormats, listProperties } from '../../db/queries/inventory.js';
import { forceSessionStatus } from '../../db/queries/si-sessions.js';
import { creativeFromFixture, FixtureError, inlinePricingOptions, mediaBuyFromFixture, missingFormats, pricingFromFixture, productFromFixture, type CatalogueHints } from '../../domain/comply-fixtures.js';
import { AdcpError } from '../../domain/errors.js';
import { amountToNumber, fromUnits, toUnits } from '../../domain/money.js';
import { enqueueCreativeSync, enqueueFulfilment } from '../../jobs/fan-out.js';
import type { BuyerContext } from '../context.js';
import { defineTool } from '../define-tool.js';
import { resolveAccount } from '../resolve-account.js';

/**
 * What list_scenarios answers (and 3.1 capabilities' compliance_testing.scenarios): every scenario implemented,
 * seeds included, as AdCP asks sellers to list them. The SDK's type leaves seeds out (it takes them for implied);
 * AdCP's list_scenarios reply has them in its enum, 3.0 and 3.1 alike.
 */
export const SCENARIOS = [
  'force_creative_status', 'force_account_status', 'force_media_buy_status', 'force_session_status', 'force_create_media_buy_arm', 'simulate_delivery', 'simulate_budget_spend',
  'seed_product', 'seed_pricing_option', 'seed_media_buy', 'seed_creative',
] as const;

const Input = z.looseObject({
  ...TOOL_INPUT_SHAPE,
  // A missing scenario is the controller's INVALID_PARAMS, not a schema error.
  scenario: z.string().optional(),
  account: z.looseObject({ account_id: z.string().optional(), sandbox: z.boolean().optional() }).optional(),
  brand: z.looseObject({}).optional(),
});
type Input = z.infer<typeof Input>;

const DeliveryParams = z.looseObject({
  impressions: z.number().int().nonnegative().default(0),
  clicks: z.number().int().nonnegative().default(0),
  completed_views: z.number().int().nonnegative().default(0),
  reported_spend: z.object({ amount: z.number().nonnegative(), currency: z.string().regex(/^[A-Z]{3}$/) }).optional(),
});
const BudgetParams = z.looseObject({ media_buy_id: z.string().min(1), spend_percentage: z.number().nonnegative().max(1000) });

function parse<T>(schema: z.ZodType<T>, params: unknown): T {
  const r = schema.safeParse(params);
  if (!r.success) throw new TestControllerError('INVALID_PARAMS', `params.${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
  return r.data;
}

function fixture<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof FixtureError) throw new TestControllerError('INVALID_PARAMS', err.message);
    throw err;
  }
}

function transition(t: q.Transition, what: string, id: string) {
  if (t.outcome === 'not_found') throw new TestControllerError('NOT_FOUND', `${what} ${id} was not found.`);
  if (t.outcome === 'illegal') throw new TestControllerError('INVALID_TRANSITION', `${what} ${id} cannot move from ${t.previous} to that status.`, t.previous);
  return { success: true as const, previous_state: t.previous, current_state: t.current };
}

/** Test products one buyer may seed on a tenant not under compliance testing (its sandbox accounts' own). */
export const SEEDED_PRODUCTS_PER_BUYER = 50;
/** Likewise for seeded media buys, and for seeded creatives. */
export const SEEDED_MEDIA_BUYS_PER_BUYER = 50;
export const SEEDED_CREATIVES_PER_BUYER = 50;

function seeded(outcome: q.SeedOutcome, productId: string): void {
  if (outcome === 'not_found') throw new TestControllerError('NOT_FOUND', `Product ${productId} was not found; seed it with seed_product first.`);
  if (outcome === 'limit') throw new TestControllerError('INVALID_PARAMS', `You hold ${SEEDED_PRODUCTS_PER_BUYER} seeded products already; re-seed one of their product ids instead of a new one.`);
  if (outcome === 'forbidden') throw new TestControllerError('FORBIDDEN', `Product ${productId} belongs to the seller's catalogue or another buyer; seed a product id of your own.`);
}

function seededEntity(outcome: q.SeedOutcome, what: 'media buy' | 'creative', id: string, limit: number): void {
  if (outcome === 'limit') throw new TestControllerError('INVALID_PARAMS', `You hold ${limit} seeded ${what}s already; re-seed one of their ids instead of a new one.`);
  if (outcome === 'forbidden') {
    throw new TestControllerError('FORBIDDEN', `${what[0]!.toUpperCase()}${what.slice(1)} ${id} is not one you seeded (it is another buyer's, or one of yours made outside the test controller); seed an id of your own.`);
  }
}

function simulated(o: SimulationOutcome, id: string, what: Record<string, unknown>) {
  if (o.outcome === 'not_found') throw new TestControllerError('NOT_FOUND', `Media buy ${id} was not found.`);
  if (o.outcome === 'currency_mismatch') throw new TestControllerError('INVALID_PARAMS', `Media buy ${id} is in ${o.currency}; report spend in that currency.`);
  const c = o.cumulative;
  return { success: true as const, simulated: what, cumulative: { impressions: c.impressions, clicks: c.clicks, reported_spend: { amount: amountToNumber(c.spend)!, currency: o.currency } } };
}

async function allowed(ctx: BuyerContext, account: Input['account']): Promise<boolean> {
  if (!account) return ctx.tenant.settings.test_controller === 'enabled';
  if (account.account_id) return q.isSandboxAccount(ctx.db, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, accountId: account.account_id });
  return account.sandbox === true;
}

async function catalogueHints(ctx: BuyerContext): Promise<CatalogueHints> {
  const [formats, properties] = await Promise.all([listFormats(ctx.db, ctx.tenant.id), listProperties(ctx.db, ctx.tenant.id)]);
  return { formats, properties, publisherDomain: ctx.tenant.publisherDomain, agentUrl: ctx.agentUrl, currency: ctx.tenant.settings.currencies?.[0] ?? 'USD' };
}

function storeFor(ctx: BuyerContext, account: Input['account']): TestControllerStore {
  const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
  const today = () => ctx.now().toISOString().slice(0, 10);
  // A sandbox flag opens the controller, but only for sandbox entities: it must never move a production
  // buy, account or creative (or fake its delivery). Tenants in compliance-test mode are test data throughout.
  const guard = async (kind: 'media_buy' | 'account' | 'creative' | 'si_session', id: string) => {
    if (ctx.tenant.settings.test_controller === 'enabled') return;
    if (!(await q.isSandboxEntity(ctx.db, { ...scope, kind, id }))) {
      throw new TestControllerError('FORBIDDEN', `${kind.replace('_', ' ')} ${id} belongs to a production account; the test controller only acts on sandbox data.`);
    }
  };
  return {
    async seedProduct(productId, fx = {}) {
      const hints = await catalogueHints(ctx);
      const [product, pricing] = fixture(() => [productFromFixture(productId, fx, hints), inlinePricingOptions(fx, hints.currency)] as const);
      const formats = missingFormats(product, hints);
      // The format list is the seller's, shown to every buyer: only a tenant under compliance testing takes new
      // formats from a fixture (a sandbox account elsewhere could otherwise publish formats, names and all, to all).
      const testTenant = ctx.tenant.settings.test_controller === 'enabled';
      if (!testTenant && formats.length) {
        throw new TestControllerError('INVALID_PARAMS', `Format ${formats.map((f) => f.id).join(', ')} is not in this seller's catalogue; seeded products use the seller's formats (list_creative_formats).`);
      }
      seeded(await q.seedProduct(ctx.db, { ...scope, product, pricing, formats, limit: testTenant ? undefined : SEEDED_PRODUCTS_PER_BUYER }), productId);
      ctx.catalog.invalidate(ctx.tenant.id);
    },
    async seedPricingOption(productId, pricingOptionId, fx = {}) {
      const option = fixture(() => pricingFromFixture(pricingOptionId, fx, ctx.tenant.settings.currencies?.[0] ?? 'USD'));
      seeded(await q.seedPricingOption(ctx.db, { ...scope, productId, option }), productId);
      ctx.catalog.invalidate(ctx.tenant.id);
    },
    async seedMediaBuy(mediaBuyId, fx = {}) {
      const currency = ctx.tenant.settings.currencies?.[0] ?? 'USD';
      const buy = fixture(() => mediaBuyFromFixture(mediaBuyId, fx, { currency, now: ctx.now() }));
      // The buy is bought through the sandbox account the request names (allowed() saw to its being one), opened as
      // create_media_buy would open it.
      if (!account) throw new TestControllerError('INVALID_PARAMS', 'seed_media_buy needs the sandbox account the buy is in: pass account {brand, operator, sandbox: true} or a sandbox account_id.');
      let accountId: string;
      try {
        accountId = (await resolveAccount(ctx.db, ctx, account)).id;
      } catch (err) {
        if (err instanceof AdcpError) throw new TestControllerError('INVALID_PARAMS', `account: ${err.message}`);
        throw err;
      }
      const testTenant = ctx.tenant.settings.test_controller === 'enabled';
      const request = { scenario: 'seed_media_buy', params: { media_buy_id: mediaBuyId, fixture: fx } };
      const outcome = await q.seedMediaBuy(ctx.db, { ...scope, buy, accountId, request, now: ctx.now(), limit: testTenant ? undefined : SEEDED_MEDIA_BUYS_PER_BUYER });
      seededEntity(outcome, 'media buy', mediaBuyId, SEEDED_MEDIA_BUYS_PER_BUYER);
    },
    async seedCreative(creativeId, fx = {}) {
      const hints = await catalogueHints(ctx);
      const creative = fixture(() => creativeFromFixture(creativeId, fx, hints));
      const testTenant = ctx.tenant.settings.test_controller === 'enabled';
      seededEntity(await q.seedCreative(ctx.db, { ...scope, creative, limit: testTenant ? undefined : SEEDED_CREATIVES_PER_BUYER }), 'creative', creativeId, SEEDED_CREATIVES_PER_BUYER);
      // Re-seeded with another status, a creative already assigned to packages comes onto or off their line items.
      await enqueueCreativeSync(ctx.db, { ...scope, creativeIds: [creativeId] });
    },
    async forceMediaBuyStatus(mediaBuyId, status, rejectionReason) {
      await guard('media_buy', mediaBuyId);
      // Forced out of the seller's approval into a running status, the buy is booked as an approved one is.
      const onApproved = (tx: Queryable) => enqueueFulfilment(tx, { tenantId: scope.tenantId, mediaBuyId });
      return transition(await q.forceMediaBuyStatus(ctx.db, { ...scope, mediaBuyId, status, rejectionReason, now: ctx.now(), onApproved }), 'Media buy', mediaBuyId);
    },
    async forceCreativeStatus(creativeId, status, rejectionReason) {
      await guard('creative', creativeId);
      const outcome = await q.forceCreativeStatus(ctx.db, { ...scope, creativeId, status, rejectionReason });
      // Approved, it goes onto the line items it is assigned to; rejected or archived, it comes off them.
      if (outcome.outcome === 'ok') await enqueueCreativeSync(ctx.db, { ...scope, creativeIds: [creativeId] });
      return transition(outcome, 'Creative', creativeId);
    },
    async forceAccountStatus(accountId, status) {
      await guard('account', accountId);
      const outcome = await q.forceAccountStatus(ctx.db, { ...scope, accountId, status });
      ctx.accounts?.forget(scope.tenantId);
      return transition(outcome, 'Account', accountId);
    },
    async forceSessionStatus(sessionId, status, terminationReason) {
      await guard('si_session', sessionId);
      return transition(await forceSessionStatus(ctx.db, { ...scope, sessionId, status, reason: terminationReason, now: ctx.now() }), 'SI session', sessionId);
    },
    async forceCreateMediaBuyArm({ arm, task_id, message }) {
      // Task ids are unique across the agent: one already in use could never be given to the buy (its create would fail).
      if (task_id && (await q.taskIdTaken(ctx.db, task_id))) {
        throw new TestControllerError('INVALID_PARAMS', `task_id ${task_id} already names a task; force the arm with another task_id, or none (one is made).`);
      }
      await q.putDirective(ctx.db, { ...scope, scenario: q.CREATE_MEDIA_BUY_ARM, payload: { arm, ...(task_id && { task_id }), ...(message && { message }) } });
      return { success: true, forced: { arm, ...(task_id && { task_id }) }, message: `Your next create_media_buy will answer with the ${arm} arm.` };
    },
    async simulateDelivery(mediaBuyId, params) {
      const p = parse(DeliveryParams, params);
      await guard('media_buy', mediaBuyId);
      const spend = p.reported_spend ? fromUnits(toUnits(p.reported_spend.amount)) : '0';
      const o = await simulateDelivery(ctx.db, { ...scope, mediaBuyId, day: today(), impressions: p.impressions, clicks: p.clicks, completions: p.completed_views, spend, currency: p.reported_spend?.currency });
      return simulated(o, mediaBuyId, { impressions: p.impressions, clicks: p.clicks, ...(p.completed_views && { completed_views: p.completed_views }), reported_spend: { amount: Number(spend), currency: p.reported_spend?.currency ?? (o.outcome === 'ok' ? o.currency : '') } });
    },
    async simulateBudgetSpend(params) {
      const p = parse(BudgetParams, params);
      await guard('media_buy', p.media_buy_id);
      const o = await simulateBudgetSpend(ctx.db, { ...scope, mediaBuyId: p.media_buy_id, day: today(), percentage: p.spend_percentage });
      return simulated(o, p.media_buy_id, { media_buy_id: p.media_buy_id, spend_percentage: p.spend_percentage });
    },
  };
}

/** Unexpected failures reach the caller as INTERNAL_ERROR (the SDK's doing); log them first. */
function logged(ctx: BuyerContext, store: TestControllerStore): TestControllerStore {
  const wrap = (name: string, fn: (...a: unknown[]) => Promise<unknown>) => async (...args: unknown[]) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (!(err instanceof TestControllerError)) ctx.logger.error('comply_test_controller scenario failed', { scenario: name, tenant_id: ctx.tenant.id, principal_id: ctx.principal.id, error: err });
      throw err;
    }
  };
  return Object.fromEntries(Object.entries(store).map(([k, fn]) => [k, wrap(k, fn as (...a: unknown[]) => Promise<unknown>)])) as TestControllerStore;
}

export default defineTool({
  name: 'comply_test_controller',
  title: 'Compliance test controller',
  description:
    'Sandbox testing only: seed products, pricing options, media buys and creatives, force media buy / creative / account / SI session statuses, simulate delivery or budget spend, or make the next create_media_buy answer "submitted". Send {scenario, params} with a sandbox account; scenario "list_scenarios" lists what is supported.',
  input: Input,
  output: z.looseObject({ success: z.boolean() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const factory = {
      scenarios: SCENARIOS as readonly string[] as readonly ControllerScenario[],
      createStore: async () => {
        if (!(await allowed(ctx, input.account))) {
          throw new TestControllerError('FORBIDDEN', 'comply_test_controller acts only for sandbox accounts: pass account {brand, operator, sandbox: true} or the account_id of a sandbox account.');
        }
        return logged(ctx, storeFor(ctx, input.account));
      },
    };
    return (await handleTestControllerRequest(factory, input as Record<string, unknown>)) as unknown as Record<string, unknown>;
  },
});
