/**
 * sync_adapter_creatives: put the creatives assigned to one part of a media
 * buy (its packages at one adapter) on that ad server, and set which of them
 * each line item runs. Queued with the write that calls for it (sync_creatives,
 * creative assignment in create/update_media_buy, the part's booking). Only
 * approved creatives go out. Each upload carries an idempotency key made of
 * our ids and is recorded at once in adapter_creatives with a hash of what was
 * sent, so a retried job uploads nothing twice; the assignment is the full set,
 * so repeating it changes nothing, and it is sent again if the set changed while
 * the calls were out (two such jobs may run at once, and be answered out of
 * order). Waits (by retrying) while the part is still being booked.
 */
import { errorMessage } from '../../domain/errors.js';
import { hashJson } from '../../domain/ids.js';
import { CLOSED_BUY_STATUSES } from '../../domain/status.js';
import { brokenDatabaseQuery } from '../../db/client.js';
import { loadCreativeSync, recordAdapterCreative, type CreativeSyncView, type PartAssignment } from '../../db/queries/creative-sync.js';
import { AdapterError } from '../../adapters/port.js';
import { AdapterPartPayload } from '../catalog.js';
import { orderKey } from '../fan-out.js';
import type { JobInfo, TaskDeps } from './fulfil-media-buy.js';

const SETTLED = new Set(['pending_approval', ...CLOSED_BUY_STATUSES]);

/** The idempotency key of a creative at an ad server. */
export const creativeKey = (p: { tenantId: string; principalId: string; creativeId: string; adapterConfigId: string }) =>
  `creative/${p.tenantId}/${p.principalId}/${p.creativeId}/${p.adapterConfigId}`;

const contentHash = (a: PartAssignment) => hashJson({ name: a.name, format_id: a.format_id, assets: a.assets });

/** What a line item should run: the approved creatives assigned to the part's live packages. */
function runnable(v: CreativeSyncView): PartAssignment[] {
  const live = new Set(v.packages.filter((k) => k.status !== 'canceled').map((k) => k.id));
  return v.assignments.filter((a) => a.creative_status === 'approved' && live.has(a.package_id));
}
/** An assignment as the ad server is told it. */
const sentOf = (a: PartAssignment) => [a.package_id, a.creative_id, a.weight, contentHash(a)];

/** Sends of one job when the assignments keep changing under them; then it retries (throws) like any transient failure. */
const MAX_RESENDS = 3;

export async function syncAdapterCreatives(rawPayload: unknown, job: JobInfo, deps: TaskDeps): Promise<void> {
  const parsed = AdapterPartPayload.safeParse(rawPayload);
  if (!parsed.success) {
    deps.logger.error('sync_adapter_creatives: invalid payload, dropping job', { issues: parsed.error.issues });
    return;
  }
  const { tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: adapterConfigId } = parsed.data;
  const log = deps.logger.child({ task: 'sync_adapter_creatives', tenant_id: tenantId, media_buy_id: mediaBuyId, adapter_config_id: adapterConfigId, attempt: job.attempts });
  const v = await loadCreativeSync(deps.db, { tenantId, mediaBuyId, adapterConfigId });
  if (!v || SETTLED.has(v.status) || !v.adapter) return;
  const part = v.part;
  if (!part || part.state === 'queued') {
    // The booking queues this job again when it lands; retrying covers an assignment made while it committed.
    if (job.attempts >= job.maxAttempts) return log.warn('the part was never booked; creatives not sent');
    throw new Error('the booking at this ad server is still in progress');
  }
  if (part.state !== 'booked' || !part.external_order_id) return;
  const externalOrderId = part.external_order_id;

  const adapter = deps.adapters({ id: v.adapter.id, adapterType: v.adapter.adapter_type, settings: v.adapter.settings });
  const mapping = v.platform_mappings[v.adapter.adapter_type] as { advertiser_id?: string } | undefined;
  /** Upload what the ad server lacks of the creatives the part's line items should run, then set them; returns what was set. */
  const send = async (view: CreativeSyncView): Promise<PartAssignment[]> => {
    const approved = runnable(view);
    const creatives = [...new Map(approved.map((a) => [a.creative_id, a])).values()];
    const external = new Map<string, string>();
    await Promise.all(
      creatives.map(async (c) => {
        const hash = contentHash(c);
        if (c.uploaded?.content_hash === hash) return void external.set(c.creative_id, c.uploaded.external_creative_id);
        const ref = { tenantId, principalId: v.principal_id, creativeId: c.creative_id, adapterConfigId };
        const { externalCreativeId } = await adapter.uploadCreative(
          {
            idempotencyKey: creativeKey(ref),
            advertiser: { principalId: v.principal_id, name: v.principal_name, externalId: mapping?.advertiser_id },
            creative: { creativeId: c.creative_id, name: c.name, formatId: c.format_id, assets: c.assets },
          },
          job.signal,
        );
        // Recorded at once, so a retry after a later failure does not upload it again.
        await recordAdapterCreative(deps.db, { ...ref, externalCreativeId, contentHash: hash });
        external.set(c.creative_id, externalCreativeId);
      }),
    );
    const lineItems = view.packages.map((k) => ({
      packageId: k.id,
      lineItemId: part.external_line_item_ids?.[k.id] ?? null,
      creatives: approved.filter((a) => a.package_id === k.id).map((a) => ({ externalCreativeId: external.get(a.creative_id)!, weight: a.weight })),
    }));
    await adapter.assignCreatives(
      {
        // Keyed by what is assigned: a retry of this set is the same request, another set a new one (an ad server that
        // dedupes by key would otherwise ignore every change after the first).
        idempotencyKey: `${orderKey(mediaBuyId, adapterConfigId)}/creatives/${hashJson(lineItems).slice(0, 16)}`,
        externalOrderId,
        mediaBuyId,
        lineItems,
      },
      job.signal,
    );
    return approved;
  };
  try {
    for (let view = v, resend = 0; ; resend++) {
      const sent = await send(view);
      // The assignments may have changed while the calls were out, and the job of that later change may have been
      // answered first: then this older set landed last. Send the set as it now stands, so the ad server's last word is it.
      const now = await loadCreativeSync(deps.db, { tenantId, mediaBuyId, adapterConfigId });
      if (!now || SETTLED.has(now.status) || JSON.stringify(runnable(now).map(sentOf)) === JSON.stringify(sent.map(sentOf))) {
        log.debug('creatives in place at the ad server', { creatives: new Set(sent.map((a) => a.creative_id)).size });
        break;
      }
      if (resend >= MAX_RESENDS) throw new Error('the creative assignments kept changing while they were being sent');
      view = now;
    }
  } catch (err) {
    if (brokenDatabaseQuery(err)) throw err; // our database, not the ad server: see fulfil_media_buy
    const permanent = err instanceof AdapterError && err.permanent;
    // Cut short by a worker shutdown: not the ad server's verdict, so retried whatever the attempt (see retryInterrupted).
    if (job.signal?.aborted || (!permanent && job.attempts < job.maxAttempts)) {
      log.warn('creative sync failed; will retry', { error: errorMessage(err) });
      throw new Error(`transient adapter failure: ${errorMessage(err)}`);
    }
    log.error('the ad server did not take the creatives', { error: errorMessage(err) });
  }
}
