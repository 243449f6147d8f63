/** tasks/get (aliases tasks_get, get_task_status): poll an AdCP task. Buyers see only their own tasks. */
import { TasksGetRequestSchema } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { getMediaBuy } from '../../db/queries/media-buys.js';
import { getTaskForPrincipal, taskInAccount } from '../../db/queries/workflow.js';
import { AdcpError } from '../../domain/errors.js';
import { toAdcpMediaBuy } from '../../domain/media-buy-view.js';
import { toAdcpMediaBuyStatus, toAdcpTaskStatus } from '../../domain/status.js';
import { defineTool, negotiateVersion } from '../define-tool.js';
import { accountScope } from '../resolve-account.js';

type Input = { task_id: string; include_history?: boolean; include_result?: boolean; [k: string]: unknown };

export default defineTool({
  name: 'tasks/get',
  aliases: ['tasks_get', 'get_task_status'],
  title: 'Get task status',
  description:
    'Poll an asynchronous task by task_id (for example a create_media_buy awaiting seller approval). Returns its status (submitted, working, completed, failed, rejected...) and, once completed, the result (in AdCP 3.1, only when include_result is true).',
  input: (TasksGetRequestSchema as unknown as z.ZodObject).loose() as unknown as z.ZodType<Input>,
  output: z.looseObject({ task_id: z.string().optional(), status: z.string().optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const [step, accountId] = await Promise.all([
      getTaskForPrincipal(ctx.db, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, taskId: input.task_id }),
      accountScope(ctx, (input as { account?: unknown }).account),
    ]);
    // AdCP 3.1: a task under another account than the one named is not found.
    const elsewhere = accountId === null || (!!step && typeof accountId === 'string' && !(await taskInAccount(ctx.db, { tenantId: ctx.tenant.id, taskId: step.id, accountId })));
    if (!step || elsewhere) {
      throw new AdcpError('REFERENCE_NOT_FOUND', 'No such task.', { field: 'task_id', suggestion: 'Use a task_id returned to you by this agent.' });
    }
    const status = toAdcpTaskStatus(step.status);
    // AdCP 3.1: a status poll is lightweight; the result comes only when asked for with include_result (3.0 always sent it).
    const wantsResult = input.include_result === true || negotiateVersion(input) === '3.0';
    let result: Record<string, unknown> | undefined = wantsResult ? (step.response ?? undefined) : undefined;
    // An update's result is an update_media_buy success, whose revision AdCP 3.1 requires (updates completed before it was kept take the buy's).
    if (wantsResult && status === 'completed' && step.mediaBuyId && (step.stepType === 'create_media_buy' || !result || (step.stepType === 'update_media_buy' && result.revision === undefined))) {
      const buy = await getMediaBuy(ctx.db, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, id: step.mediaBuyId });
      if (buy) result = step.stepType === 'create_media_buy' ? toAdcpMediaBuy(buy) : { media_buy_id: buy.buy.id, status: toAdcpMediaBuyStatus(buy.buy.status), ...result, revision: buy.buy.revision };
    }
    return {
      task_id: step.id,
      task_type: step.stepType,
      protocol: 'media-buy',
      status,
      has_webhook: !!step.pushNotificationConfig,
      // As tasks/list gives it: the buy a create awaiting approval made, before any result names it.
      ...(step.mediaBuyId && { media_buy_id: step.mediaBuyId }),
      created_at: step.createdAt.toISOString(),
      updated_at: step.updatedAt.toISOString(),
      ...(['completed', 'failed', 'rejected', 'canceled'].includes(status) && { completed_at: step.updatedAt.toISOString() }),
      ...(status === 'submitted' && step.status === 'requires_approval' && { message: "Awaiting the seller's approval." }),
      ...(result && { result }),
      ...(step.error && { error: { code: String(step.error.code ?? 'TASK_FAILED'), message: String(step.error.message ?? 'The task failed.'), ...(step.error.details ? { details: step.error.details } : {}) } }),
    };
  },
});
