/**
 * prune_history (crontab, hourly): applies the seller's retention settings
 * (SALES_AGENT_WEBHOOK_RETENTION_DAYS, default 30; SALES_AGENT_AUDIT_RETENTION_DAYS,
 * default 0, kept for ever): ended webhook deliveries with their attempt logs,
 * and audit entries, older than that are deleted in batches. Without it both
 * tables grow with every status change a buyer is told of and every buying call.
 */
import { DEFAULT_RETENTION } from '../../config.js';
import { pruneAuditLog } from '../../db/queries/audit.js';
import { pruneWebhookDeliveries } from '../../db/queries/webhooks.js';
import { inBatches } from '../batches.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const BATCHES = { batch: 5000, maxBatches: 40 };

export async function pruneHistory(_payload: unknown, _job: JobInfo, deps: TaskDeps): Promise<{ webhookDeliveries: number; auditLog: number }> {
  const { webhookDeliveryDays, auditLogDays } = deps.retention ?? DEFAULT_RETENTION;
  const webhookDeliveries = webhookDeliveryDays > 0 ? await inBatches((limit) => pruneWebhookDeliveries(deps.db, { olderThanDays: webhookDeliveryDays, limit }), BATCHES) : 0;
  const auditLog = auditLogDays > 0 ? await inBatches((limit) => pruneAuditLog(deps.db, { olderThanDays: auditLogDays, limit }), BATCHES) : 0;
  if (webhookDeliveries || auditLog) deps.logger.info('prune_history: history past its retention deleted', { webhook_deliveries: webhookDeliveries, audit_log: auditLog });
  return { webhookDeliveries, auditLog };
}
