/**
 * The worker's reads and writes for creatives at an ad server: the creatives
 * assigned to one part of a media buy (its packages at one adapter), with what
 * that ad server already has of each (adapter_creatives). Tenant-scoped.
 */
import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import type { FulfilmentAdapter, PartState } from './fulfilment.js';

export interface PartAssignment {
  package_id: string;
  creative_id: string;
  weight: number | null;
  name: string;
  format_id: { agent_url: string; id: string };
  assets: Record<string, unknown>;
  /** Only approved creatives go to the ad server. */
  creative_status: string;
  /** What this ad server has of the creative. */
  uploaded: { external_creative_id: string; content_hash: string } | null;
}

export interface CreativeSyncView {
  status: string;
  principal_id: string;
  principal_name: string;
  platform_mappings: Record<string, unknown>;
  adapter: FulfilmentAdapter | null;
  part: Pick<PartState, 'state' | 'external_order_id' | 'external_line_item_ids'> | null;
  packages: { id: string; status: string }[];
  assignments: PartAssignment[];
}

export async function loadCreativeSync(db: Queryable, p: { tenantId: string; mediaBuyId: string; adapterConfigId: string }): Promise<CreativeSyncView | undefined> {
  const rows = await db.execute<{ v: CreativeSyncView }>(sql`
    select json_build_object(
      'status', b.status, 'principal_id', b.principal_id, 'principal_name', pr.name, 'platform_mappings', pr.platform_mappings,
      'adapter', (select json_build_object('id', a.id, 'name', a.name, 'adapter_type', a.adapter_type, 'settings', a.settings)
                  from adapter_configs a where a.tenant_id = b.tenant_id and a.id = ${p.adapterConfigId}),
      'part', (select json_build_object('state', o.state, 'external_order_id', o.external_order_id, 'external_line_item_ids', o.external_line_item_ids)
               from adapter_orders o where o.media_buy_id = b.id and o.adapter_config_id = ${p.adapterConfigId}),
      'packages', coalesce((select json_agg(json_build_object('id', k.id, 'status', k.status) order by k.position, k.id)
                            from media_packages k where k.media_buy_id = b.id and k.adapter_config_id = ${p.adapterConfigId}), '[]'),
      'assignments', coalesce((select json_agg(json_build_object(
          'package_id', k.id, 'creative_id', c.id, 'weight', a.weight, 'name', c.name, 'format_id', c.format_id, 'assets', c.assets,
          'creative_status', c.status,
          'uploaded', (select json_build_object('external_creative_id', u.external_creative_id, 'content_hash', u.content_hash) from adapter_creatives u
                       where u.tenant_id = c.tenant_id and u.principal_id = c.principal_id and u.creative_id = c.id and u.adapter_config_id = ${p.adapterConfigId}))
          order by k.position, k.id, a.created_at, c.id)
        from media_packages k
        join creative_assignments a on a.package_id = k.id
        join creatives c on c.tenant_id = a.tenant_id and c.principal_id = a.principal_id and c.id = a.creative_id
        where k.media_buy_id = b.id and k.adapter_config_id = ${p.adapterConfigId}), '[]')
    ) as v
    from media_buys b join principals pr on pr.id = b.principal_id
    where b.tenant_id = ${p.tenantId} and b.id = ${p.mediaBuyId}`);
  return rows[0]?.v;
}

/** Remember a creative as uploaded to an ad server (its id there and what was sent). */
export async function recordAdapterCreative(
  db: Queryable,
  p: { tenantId: string; principalId: string; creativeId: string; adapterConfigId: string; externalCreativeId: string; contentHash: string },
): Promise<void> {
  await db.execute(sql`
    insert into adapter_creatives (tenant_id, principal_id, creative_id, adapter_config_id, external_creative_id, content_hash)
    values (${p.tenantId}, ${p.principalId}, ${p.creativeId}, ${p.adapterConfigId}, ${p.externalCreativeId}, ${p.contentHash})
    on conflict (tenant_id, principal_id, creative_id, adapter_config_id) do update
      set external_creative_id = excluded.external_creative_id, content_hash = excluded.content_hash, updated_at = now()`);
}
