/**
 * MCP tasks for create_media_buy and update_media_buy: a task-augmented
 * tools/call runs the tool as a plain call does (it writes and returns at
 * once), then records the call as a task of its own, already completed with
 * exactly the plain call's result, and tells the caller with
 * notifications/tasks/status. Each call, replays included, gets its own task,
 * so a task-aware client (the AdCP SDK's waits for the task's result) gets the
 * answer at once, `replayed: true` and all.
 *
 * An AdCP error (isError) completes the task too, with the error as its result
 * and statusMessage. The 2025-11-25 text suggests `failed` for it, but a
 * client told `failed` learns no more than "Task … failed" unless it fetches
 * tasks/result itself, and the AdCP SDK's fetch (no result schema) throws with
 * MCP SDK 1.x: every AdCP SDK buyer would lose the error code. The later tasks
 * extension (SEP-2663) keeps `failed` for JSON-RPC errors only, as here.
 *
 * What happens after the call (the seller's approval, booking at the ad
 * server) is the AdCP task's lifecycle, not the MCP task's: AdCP tasks/get,
 * media-buy:// resources and webhooks report it.
 */
import type { CallToolResult, CreateTaskResult, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, McpError, type CallToolRequest } from '@modelcontextprotocol/sdk/types.js';
import type { ToolContext } from './context.js';
import { invokeTool, type ToolDef } from './define-tool.js';
import type { PgTaskStore } from './task-store.js';

/** What a host may hand the model at once (MCP 2025-11-25, tasks). */
const IMMEDIATE_RESPONSE = 'io.modelcontextprotocol/model-immediate-response';

/** "CODE: message" of an AdCP error result. */
function errorLine(result: CallToolResult): string {
  const err = (result.structuredContent as { adcp_error?: { code?: unknown; message?: unknown } } | undefined)?.adcp_error;
  return err ? `${String(err.code)}: ${String(err.message)}` : 'The call was refused.';
}

/** tools/call with `task`: run the tool, answer with its (finished) task. */
export async function callToolAsTask(
  store: PgTaskStore,
  tool: ToolDef,
  params: CallToolRequest['params'],
  ctx: ToolContext,
  extra: { sendNotification(n: ServerNotification): Promise<void> },
): Promise<CreateTaskResult> {
  if (!tool.taskSupport) throw new McpError(ErrorCode.MethodNotFound, `Tool ${params.name} does not run as a task: call it without "task".`);
  if (!params.task) throw new McpError(ErrorCode.MethodNotFound, `Tool ${params.name} must be called as a task (send "task": {}).`);
  // A task belongs to a buyer; an anonymous caller has none to bind it to.
  if (!ctx.tenant || !ctx.principal) throw new McpError(ErrorCode.InvalidRequest, `${params.name} requires an authenticated buyer.`);
  const result = await invokeTool(tool, params.arguments, ctx);
  const text = result.content?.[0]?.type === 'text' ? result.content[0].text : undefined;
  let task: CreateTaskResult['task'];
  try {
    task = await store.record({ tenantId: ctx.tenant.id, principalId: ctx.principal.id }, params.task, {
      toolName: tool.name,
      result,
      statusMessage: result.isError ? errorLine(result) : undefined,
    });
  } catch (err) {
    // The call itself ran (and may have committed a buy): say so, with its answer, rather than the failed SQL.
    ctx.logger.error('MCP task not recorded after its call ran', { tool: tool.name, tenant_id: ctx.tenant.id, principal_id: ctx.principal.id, error: err });
    throw new McpError(ErrorCode.InternalError, `${tool.name} ran, but its MCP task could not be recorded; call it again without "task" (with the same idempotency_key) for its result.${text ? ` Its answer: ${text}` : ''}`);
  }
  // On the request's own stream, ahead of the answer; a lost notification loses nothing (tasks/get has it).
  await extra.sendNotification({ method: 'notifications/tasks/status', params: task }).catch((err: unknown) => ctx.logger.debug('task status not delivered', { task_id: task.taskId, error: err }));
  return { task, ...(text && { _meta: { [IMMEDIATE_RESPONSE]: text } }) };
}
