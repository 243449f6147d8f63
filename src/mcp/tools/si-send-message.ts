/**
 * si_send_message: one turn of a Sponsored Intelligence session. The user's
 * message (or the action they took on a card) and this agent's answer are
 * appended to the transcript in one transaction, idempotency-keyed so a retried
 * turn is not answered twice. A session that has ended, or sat idle past its
 * timeout (which ends it), takes no more messages: SESSION_TERMINATED.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { appendTurns, expireIdleSession, lockSession } from '../../db/queries/si-sessions.js';
import { AdcpError } from '../../domain/errors.js';
import { answer, isEnded, sessionEnded, sessionNotFound } from '../../domain/sponsored-intelligence.js';
import { defineTool } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';

type Input = {
  session_id: string;
  idempotency_key: string;
  message?: string;
  action_response?: { action?: string; payload?: Record<string, unknown>; [k: string]: unknown };
  [k: string]: unknown;
};

export default defineTool({
  name: 'si_send_message',
  title: 'Send SI message',
  description:
    'Sponsored Intelligence: relay the user\'s next message (or action_response {action, payload {product_id?}} when they used a card) in an active session (session_id from si_initiate_session), with a fresh idempotency_key per turn. Returns the agent\'s answer (text and product cards) and session_status. A session that ended or timed out answers SESSION_TERMINATED: start a new one.',
  input: TOOL_REQUEST_SCHEMAS.si_send_message! as unknown as z.ZodType<Input>,
  output: z.looseObject({ session_id: z.string(), session_status: z.string() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    if (input.message === undefined && input.action_response === undefined) {
      throw new AdcpError('VALIDATION_ERROR', 'Send a message or an action_response.', { field: 'message', suggestion: 'Put the user\'s words in message, or what they clicked in action_response.' });
    }
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    // Ending an idle session is a fact worth keeping even though this call then fails: its own statement, committed.
    await expireIdleSession(ctx.db, { ...scope, id: input.session_id, now: ctx.now() });
    const products = await ctx.catalog.productsFor(scope.tenantId, scope.principalId);

    return idempotentMutation(ctx, 'si_send_message', input, async (tx) => {
      const session = await lockSession(tx, { ...scope, id: input.session_id });
      if (!session) throw sessionNotFound(input.session_id, { session_status: 'terminated' });
      if (isEnded(session.status)) throw sessionEnded(session);
      const picked = input.action_response?.payload?.product_id;
      const featured = products.filter((p) => p.id === picked);
      const text = input.message ?? [input.action_response?.action, ...featured.map((p) => p.name)].filter(Boolean).join(' ');
      const reply = answer({
        seller: ctx.tenant.name,
        products,
        text,
        intent: session.intent,
        components: ((session.negotiatedCapabilities.components as { standard?: string[] } | undefined)?.standard ?? ['text']),
        featured,
      });
      await appendTurns(tx, {
        session,
        status: 'active',
        now: ctx.now(),
        turns: [
          { role: 'user', ...(input.message !== undefined && { message: input.message }), ...(input.action_response && { payload: { action_response: input.action_response } }) },
          { role: 'agent', message: reply.message, payload: { ui_elements: reply.ui_elements } },
        ],
      });
      return { session_id: session.id, session_status: 'active', response: reply };
    });
  },
});
