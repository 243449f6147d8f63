/**
 * si_terminate_session: the host ends a Sponsored Intelligence session. A
 * handoff (handoff_transaction, handoff_complete) completes it; any other reason
 * terminates it. Naturally idempotent: ending an ended session changes nothing
 * and answers with its final state.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { endSession, lockSession } from '../../db/queries/si-sessions.js';
import { isEnded, sessionNotFound, statusAfterTermination, type TerminationReason } from '../../domain/sponsored-intelligence.js';
import { defineTool } from '../define-tool.js';

type Input = { session_id: string; reason: TerminationReason; termination_context?: Record<string, unknown>; [k: string]: unknown };

export default defineTool({
  name: 'si_terminate_session',
  title: 'Terminate SI session',
  description:
    'Sponsored Intelligence: end a session (session_id) with a reason (handoff_transaction or handoff_complete complete it; user_exit, session_timeout or host_terminated terminate it). Safe to repeat: an ended session answers with its final state.',
  input: TOOL_REQUEST_SCHEMAS.si_terminate_session! as unknown as z.ZodType<Input>,
  output: z.looseObject({ session_id: z.string(), terminated: z.boolean() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    return ctx.db.transaction(async (tx) => {
      const session = await lockSession(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, id: input.session_id });
      if (!session) throw sessionNotFound(input.session_id, { terminated: false });
      if (isEnded(session.status)) return { session_id: session.id, terminated: true, session_status: session.status };
      const status = statusAfterTermination(input.reason);
      await endSession(tx, { id: session.id, status, reason: input.reason, now: ctx.now() });
      // No checkout here (acp_checkout is not offered), so nothing to hand off beyond the status.
      return { session_id: session.id, terminated: true, session_status: status, follow_up: { action: 'none' } };
    });
  },
});
