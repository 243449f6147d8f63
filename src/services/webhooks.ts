/**
 * Queue the AdCP webhook for a task's new status, if the buyer asked for one (push_notification_config). Its
 * result (the task's response) is shaped for the release the task was asked in, as the call's own answer was.
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
    push: PushConfig | null | undefined;
    allowPrivateNetwork: boolean;
  },
): Promise<boolean> {
  if (!p.push?.url) return false;
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
      result: p.result && servedAs(p.release, p.taskType, p.result, p.status === 'failed'),
      url: p.push.url,
      operationId: p.push.operation_id,
    }),
    allowPrivateNetwork: p.allowPrivateNetwork,
  });
  return true;
}
