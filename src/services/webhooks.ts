/**
 * Queue the AdCP webhook for a task's new status, if the buyer asked for one (push_notification_config). Its
 * result (the task's response) is shaped for the release the task was asked in, as the call's own answer was,
 * and echoes the request's `context` as the call's answer would: a failure's result names no media buy, so the
 * context (with the envelope's task_id and operation_id) is how the buyer tells which request failed.
 */
import type { Queryable } from '../db/client.js';
import { queueWebhook } from '../db/queries/webhooks.js';
import { servedAs, type AdcpRelease } from '../domain/adcp-release.js';
import { newId } from '../domain/ids.js';
import { webhookPayload, type PushConfig } from '../domain/webhooks.js';

export async function queueTaskWebhook(
  db: Queryable,
  p: {
    tenantId: string;
    principalId: string;
    taskId: string;
    taskType: string;
    mediaBuyId: string | null;
    status: string;
    message?: string;
    result?: Record<string, unknown>;
    /** The release the task's request was served in (releaseOf its stored request). */
    release: AdcpRelease;
    /** The task's request's `context`, echoed in the result. */
    context?: unknown;
    push: PushConfig | null | undefined;
    allowPrivateNetwork: boolean;
  },
): Promise<boolean> {
  if (!p.push?.url) return false;
  const context = p.context !== null && typeof p.context === 'object' && !Array.isArray(p.context) ? p.context : undefined;
  const result = p.result && context && p.result.context === undefined ? { ...p.result, context } : p.result;
  await queueWebhook(db, {
    id: newId('whd'),
    tenantId: p.tenantId,
    principalId: p.principalId,
    taskId: p.taskId,
    mediaBuyId: p.mediaBuyId,
    url: p.push.url,
    // The credentials and the token, sealed; the delivery puts the token in the payload when it sends it.
    authentication: p.push.authentication ?? null,
    payload: webhookPayload({
      taskId: p.taskId,
      taskType: p.taskType,
      status: p.status,
      message: p.message,
      result: result && servedAs(p.release, p.taskType, result, p.status === 'failed' || p.status === 'rejected'),
      url: p.push.url,
      operationId: p.push.operation_id,
      release: p.release,
    }),
    allowPrivateNetwork: p.allowPrivateNetwork,
  });
  return true;
}
