/**
 * cancel_adapter_order: compensation. When one part of a media buy fails for
 * good, or a part is booked after its buy closed, the order made at that ad
 * server is canceled here. The cancel names the order by the idempotency key
 * it was created with, so it also undoes an order whose booking we never got
 * to record (a crash between the ad server's answer and our commit), and is
 * safe to repeat. Throw to retry; a permanent refusal is recorded on the part.
 */
import { errorMessage } from '../../domain/errors.js';
import { brokenDatabaseQuery } from '../../db/client.js';
import { loadPart, recordPartCanceled } from '../../db/queries/fulfilment.js';
import { publishChange } from '../../db/notify.js';
import { AdapterError } from '../../adapters/port.js';
import { AdapterPartPayload } from '../catalog.js';
import { orderKey } from '../fan-out.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

export async function cancelAdapterOrder(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = AdapterPartPayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('cancel_adapter_order: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: adapterConfigId } = parsed.data;
  const log = deps.logger.child({ task: 'cancel_adapter_order', tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: adapterConfigId, attempt: job.attempts });
  const v = await loadPart(deps.db, { tenantId, mediaBuyId, adapterConfigId });
  if (!v?.part || v.part.state !== 'canceling') return;
  const ref = { tenantId, mediaBuyId, adapterConfigId };
  let error: string | null = null;
  try {
    if (!v.adapter) throw new AdapterError('the adapter config of this part no longer exists', true);
    const impl = deps.adapters({ id: v.adapter.id, adapterType: v.adapter.adapter_type, settings: v.adapter.settings });
    await impl.cancelOrder({ idempotencyKey: orderKey(mediaBuyId, adapterConfigId), externalOrderId: v.part.external_order_id, mediaBuyId }, job.signal);
  } catch (err) {
    if (brokenDatabaseQuery(err)) throw err; // our database, not the ad server: see fulfil_media_buy
    const permanent = err instanceof AdapterError && err.permanent;
    // Cut short by a worker shutdown: not the ad server's verdict, so retried whatever the attempt (see retryInterrupted).
    if (job.signal?.aborted || (!permanent && job.attempts < job.maxAttempts)) {
      log.warn('ad server cancel failed; will retry', { error: errorMessage(err) });
      throw new Error(`transient adapter failure: ${errorMessage(err)}`);
    }
    error = `cancel failed: ${errorMessage(err)}`;
    // An order may be left running at the ad server: the seller must see this.
    log.error('could not cancel an order at the ad server', { error: errorMessage(err), external_order_id: v.part.external_order_id });
  }
  const name = v.adapter?.name ?? adapterConfigId;
  await deps.db.transaction(async (tx) => {
    await recordPartCanceled(tx, { ...ref, error });
    await publishChange(tx, { tenant_id: tenantId, principal_id: v.principal_id, media_buy_id: mediaBuyId, status: v.status, summary: error ? `${name}: ${error}` : `order canceled at ${name}` });
  });
}
