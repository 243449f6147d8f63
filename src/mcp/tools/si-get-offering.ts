/**
 * si_get_offering: before handing a user over, the host checks an offering.
 * An offering is one of the publisher's products the caller may see; the answer
 * says whether it is available, describes it, optionally lists related products
 * matching the user's intent, and gives an offering_token for si_initiate_session.
 * A product the caller may not see answers exactly like one that does not exist.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { matchingProducts, offeringToken, priceHint, SI_OFFERING_TTL_SECONDS } from '../../domain/sponsored-intelligence.js';
import { defineTool } from '../define-tool.js';

type Input = { offering_id: string; intent?: string; include_products?: boolean; product_limit?: number; [k: string]: unknown };

export default defineTool({
  name: 'si_get_offering',
  title: 'Get SI offering',
  description:
    'Sponsored Intelligence: check an offering by offering_id (the product_id of one of this publisher\'s products) before starting a session. Returns available, the offering\'s title and summary, an offering_token to pass to si_initiate_session, and with include_products the products matching `intent`. Unknown offerings answer available: false with alternatives.',
  input: TOOL_REQUEST_SCHEMAS.si_get_offering! as unknown as z.ZodType<Input>,
  output: z.looseObject({ available: z.boolean(), offering_token: z.string().optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'optional',
  async handle(input, ctx) {
    const checked_at = ctx.now().toISOString();
    const products = ctx.tenant ? await ctx.catalog.productsFor(ctx.tenant.id, ctx.principal?.id ?? null) : [];
    const showPricing = !!ctx.principal;
    const related = input.intent ? matchingProducts(products, input.intent) : [];
    const offering = products.find((p) => p.id === input.offering_id);
    if (!offering) {
      const alternatives = (related.length > 0 ? related : products).slice(0, 3).map((p) => p.id);
      return { offering_id: input.offering_id, available: false, unavailable_reason: 'not_found', checked_at, ...(alternatives.length > 0 && { alternative_offering_ids: alternatives }) };
    }
    const limit = input.product_limit ?? 5;
    const matching = input.include_products ? (related.length > 0 ? related : [offering]) : [];
    const shown = matching.slice(0, limit);
    return {
      // Echoed at the top level too: hosts (and the compliance storyboards) read the offering id from here.
      offering_id: offering.id,
      available: true,
      offering_token: offeringToken(offering.id, shown.map((p) => p.id)),
      ttl_seconds: SI_OFFERING_TTL_SECONDS,
      checked_at,
      offering: {
        offering_id: offering.id,
        title: offering.name,
        summary: offering.description,
        tagline: `${offering.channels.join(', ')} from ${ctx.tenant!.name}`,
        ...(showPricing && { price_hint: priceHint(offering) }),
      },
      ...(input.include_products && {
        matching_products: shown.map((p) => ({
          product_id: p.id,
          name: p.name,
          ...(showPricing && { price: priceHint(p) }),
          availability_summary: `${p.deliveryType === 'guaranteed' ? 'Guaranteed' : 'Non-guaranteed'} ${p.channels.join(', ')}`,
        })),
        total_matching: matching.length,
      }),
    };
  },
});
