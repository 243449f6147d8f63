/** get_adcp_capabilities: what this seller supports. Cheap, anonymous-friendly, the first call every buying agent makes. */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { IDEMPOTENCY_REPLAY_TTL_SECONDS } from '../../db/queries/idempotency.js';
import { creativeReviewMode } from '../../domain/creatives.js';
import { AdcpError } from '../../domain/errors.js';
import { MEDIA_BUY_FEATURES, SUPPORTED_BILLING, TARGETING_CAPABILITIES } from '../../domain/seller-capabilities.js';
import { AGENT_CAPABILITIES } from '../../domain/sponsored-intelligence.js';
import { WEBHOOK_SIGNING_ALG, WEBHOOK_SIGNING_PROFILE } from '../../domain/webhook-signing.js';
import { defineTool, SUPPORTED_VERSIONS } from '../define-tool.js';
import { brandJsonUrl } from '../well-known.js';
import { SCENARIOS as COMPLIANCE_SCENARIOS } from './comply-test-controller.js';

export default defineTool({
  name: 'get_adcp_capabilities',
  title: 'Get AdCP capabilities',
  description:
    'Describe this sales agent: supported AdCP versions and protocols (media_buy, sponsored_intelligence), publisher domains and channels, pricing models and features. Call this first; then call get_products with a brief.',
  input: TOOL_REQUEST_SCHEMAS.get_adcp_capabilities! as z.ZodType<Record<string, unknown>>,
  output: z.looseObject({
    adcp: z.looseObject({ major_versions: z.array(z.number()), supported_versions: z.array(z.string()).optional() }).optional(),
    supported_protocols: z.array(z.string()).optional(),
    media_buy: z.looseObject({}).optional(),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'optional',
  async handle(input, ctx) {
    if (!ctx.tenant) throw new AdcpError('CONFIGURATION_ERROR', 'This sales agent has no tenant configured yet.', { recovery: 'terminal', suggestion: 'The publisher must run `sales-agent seed demo` or create a tenant.' });
    const [{ properties: props }, products] = await Promise.all([ctx.catalog.get(ctx.tenant.id), ctx.catalog.productsFor(ctx.tenant.id, ctx.principal?.id ?? null)]);
    const domains = [...new Set(props.map((p) => p.publisherDomain))];
    if (domains.length === 0 && ctx.tenant.publisherDomain) domains.push(ctx.tenant.publisherDomain);
    const channels = [...new Set(products.flatMap((p) => p.channels))].sort();
    const models = [...new Set(products.flatMap((p) => p.pricing.map((po) => po.pricingModel)))].sort();
    const countries = [...new Set(products.flatMap((p) => p.countries))].sort();
    const deliveryTypes = new Set(products.map((p) => p.deliveryType));
    const specialisms = [...(deliveryTypes.has('guaranteed') ? ['sales-guaranteed'] : []), ...(deliveryTypes.has('non_guaranteed') ? ['sales-non-guaranteed'] : [])];
    const sandbox = (input as { account?: { sandbox?: boolean } }).account?.sandbox === true;
    const testing = sandbox || ctx.tenant.settings.test_controller === 'enabled';
    const brandJson = brandJsonUrl(ctx.agentUrl, ctx.tenant.settings.brand_json_url);
    return {
      adcp: { major_versions: [3], supported_versions: [...SUPPORTED_VERSIONS], idempotency: { supported: true, replay_ttl_seconds: IDEMPOTENCY_REPLAY_TTL_SECONDS } },
      supported_protocols: ['media_buy', 'sponsored_intelligence'],
      ...(specialisms.length > 0 && { specialisms }),
      account: { require_operator_auth: false, supported_billing: [...SUPPORTED_BILLING], sandbox: true },
      media_buy: {
        supported_pricing_models: models,
        // reporting_webhook on create_media_buy: delivery reports pushed on the buyer's schedule.
        reporting_delivery_methods: ['webhook'],
        features: MEDIA_BUY_FEATURES,
        // What targeting_overlay takes (and get_products' required_geo_targeting is judged against).
        execution: { targeting: TARGETING_CAPABILITIES },
        // AdCP 3.1 declarations. Wholesale feeds are served (get_products without a brief).
        buying_modes: ['brief', 'wholesale', 'refine'],
        creative_approval_mode: creativeReviewMode(ctx.tenant.settings) === 'manual' ? 'require_human' : 'auto_approve',
        // Impaired dependencies (a creative rejected after approval...) reach buyers through the seller's own
        // channels and the media-buy:// resource, not media_buy.impairments[] or impairment webhooks.
        propagation_surfaces: ['out_of_band'],
        portfolio: {
          publisher_domains: domains,
          primary_channels: channels,
          ...(countries.length > 0 && { primary_countries: countries }),
          description: `${ctx.tenant.name}: ${products.length} products across ${channels.join(', ') || 'no channels yet'}.`,
        },
      },
      // si_* tools: conversations about the publisher's offerings (see src/domain/sponsored-intelligence.ts).
      sponsored_intelligence: { endpoint: { transports: [{ type: 'mcp', url: `${ctx.agentUrl}/mcp` }], preferred: 'mcp' }, capabilities: AGENT_CAPABILITIES },
      // Webhooks are signed with RFC 9421 unless the buyer registers a legacy Bearer/HMAC block; keys at /.well-known/jwks.json.
      webhook_signing: { supported: true, profile: WEBHOOK_SIGNING_PROFILE, algorithms: [WEBHOOK_SIGNING_ALG], legacy_hmac_fallback: true },
      ...(brandJson && { identity: { brand_json_url: brandJson } }),
      // comply_test_controller is there for sandbox accounts (and tenants opted into compliance testing).
      // Every scenario the controller implements (a 3.0 answer keeps to the six 3.0's schema lists: see SHAPE_30).
      ...(testing && { compliance_testing: { scenarios: [...COMPLIANCE_SCENARIOS] } }),
      last_updated: new Date(Math.max(0, ...products.map((p) => p.updatedAt.getTime()))).toISOString(),
    };
  },
});
