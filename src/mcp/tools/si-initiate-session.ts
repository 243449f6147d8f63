/**
 * si_initiate_session: a host hands a user's conversation to this agent. The
 * session is stored with the consent the host relayed (the user's data only
 * when consent was granted), the capabilities both sides share, and the first
 * two turns: the host's intent and this agent's answer from the publisher's
 * offerings. An unknown offering does not stop the session; the first answer
 * says it is not available. Idempotency-keyed: a retry gets the same session back.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { createSession, mediaBuyForSession } from '../../db/queries/si-sessions.js';
import { AdcpError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { answer, negotiateCapabilities, readOfferingToken, SI_SESSION_TTL_SECONDS } from '../../domain/sponsored-intelligence.js';
import { defineTool } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';

interface Identity {
  consent_granted: boolean;
  user?: Record<string, unknown>;
  [k: string]: unknown;
}
type Input = {
  intent: string;
  identity: Identity;
  idempotency_key: string;
  media_buy_id?: string;
  placement?: string;
  offering_id?: string;
  offering_token?: string;
  supported_capabilities?: { components?: { standard?: string[] }; [k: string]: unknown };
  [k: string]: unknown;
};

/** What is kept of the identity: consent and, only with consent, the user's data. */
function storedIdentity(identity: Identity): Record<string, unknown> {
  const { user, ...consent } = identity;
  return identity.consent_granted && user ? { ...consent, user } : consent;
}

export default defineTool({
  name: 'si_initiate_session',
  title: 'Initiate SI session',
  description:
    'Sponsored Intelligence: hand a user\'s conversation to this publisher\'s agent. Send intent (what the user needs, no PII), identity {consent_granted, user? (only with consent)}, an idempotency_key, and optionally offering_id / offering_token from si_get_offering, media_buy_id, placement and your supported_capabilities. Returns session_id, session_status and the agent\'s first answer (text and product cards). Continue with si_send_message; end with si_terminate_session.',
  input: TOOL_REQUEST_SCHEMAS.si_initiate_session! as unknown as z.ZodType<Input>,
  output: z.looseObject({ session_id: z.string(), session_status: z.string() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    if (!input.identity.consent_granted && input.identity.user) {
      throw new AdcpError('VALIDATION_ERROR', 'identity.user is present but consent_granted is false.', {
        field: 'identity.user',
        suggestion: 'Share user data only with the user\'s consent: drop identity.user, or set consent_granted with consent_scope.',
      });
    }
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    const products = await ctx.catalog.productsFor(scope.tenantId, scope.principalId);
    // An offering that is gone (or never was, or is not the caller's to see) does not stop the conversation: the answer says so.
    const token = input.offering_token !== undefined ? readOfferingToken(input.offering_token) : undefined;
    const offeringId = input.offering_id ?? token?.offeringId;
    const offering = offeringId !== undefined ? products.find((p) => p.id === offeringId) : undefined;
    const shown = (token?.productIds ?? []).flatMap((id) => products.filter((p) => p.id === id && p !== offering));
    const capabilities = negotiateCapabilities(input.supported_capabilities);
    const reply = answer({
      seller: ctx.tenant.name,
      products,
      text: input.intent,
      intent: input.intent,
      components: (capabilities.components as { standard: string[] }).standard,
      featured: [...(offering ? [offering] : []), ...shown],
    });
    const first = offeringId !== undefined && !offering ? { ...reply, message: `The offering "${offeringId}" is not available. ${reply.message}` } : reply;

    return idempotentMutation(ctx, 'si_initiate_session', input, async (tx) => {
      const buy = input.media_buy_id !== undefined ? await mediaBuyForSession(tx, { ...scope, mediaBuyId: input.media_buy_id }) : undefined;
      if (input.media_buy_id !== undefined && !buy) {
        throw new AdcpError('MEDIA_BUY_NOT_FOUND', 'No such media buy.', { field: 'media_buy_id', suggestion: 'Use a media_buy_id of yours (get_media_buys), or leave it out.' });
      }
      const id = newId('si');
      await createSession(tx, {
        ...scope,
        session: {
          id,
          status: 'active',
          intent: input.intent,
          offeringId: offering?.id ?? null,
          mediaBuyId: input.media_buy_id ?? null,
          placement: input.placement ?? null,
          identity: storedIdentity(input.identity),
          negotiatedCapabilities: capabilities,
          sandbox: buy?.sandbox ?? false,
          ttlSeconds: SI_SESSION_TTL_SECONDS,
          createdAt: ctx.now(),
          lastActiveAt: ctx.now(),
        },
        turns: [
          { role: 'user', message: input.intent },
          { role: 'agent', message: first.message, payload: { ui_elements: first.ui_elements } },
        ],
      });
      return {
        session_id: id,
        session_status: 'active',
        session_ttl_seconds: SI_SESSION_TTL_SECONDS,
        negotiated_capabilities: capabilities,
        response: first,
      };
    });
  },
});
