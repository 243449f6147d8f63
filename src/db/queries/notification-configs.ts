/**
 * Account-level notification subscribers (AdCP 3.1 notification_configs): read per account, replaced as a
 * set, and found by event type for a fire. Always scoped by tenant and principal; legacy credentials are
 * sealed here (bound to the buyer) and opened only by the caller that signs with them.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { accountNotificationConfigs } from '../schema/index.js';
import type { NotificationConfig } from '../../domain/notification-configs.js';
import { sealBuyerAuthentication, secretBox, secretContext } from '../../services/secret-box.js';

export type StoredNotificationConfig = typeof accountNotificationConfigs.$inferSelect;

type Scope = { tenantId: string; principalId: string };

/** The subscribers of these accounts, by account, each account's in the order they were sent. */
export async function notificationConfigsOf(db: Queryable, p: Scope & { accountIds: string[] }): Promise<Map<string, StoredNotificationConfig[]>> {
  const out = new Map<string, StoredNotificationConfig[]>();
  if (p.accountIds.length === 0) return out;
  const rows = await db
    .select()
    .from(accountNotificationConfigs)
    .where(and(eq(accountNotificationConfigs.tenantId, p.tenantId), eq(accountNotificationConfigs.principalId, p.principalId), inArray(accountNotificationConfigs.accountId, p.accountIds)))
    .orderBy(asc(accountNotificationConfigs.accountId), asc(accountNotificationConfigs.position));
  for (const r of rows) out.set(r.accountId, [...(out.get(r.accountId) ?? []), r]);
  return out;
}

/**
 * Declarative replace: the account's subscribers become `configs`, each with the proof that lets it be active
 * (`proofs` by subscriber_id: the tuple hash proved, and when). Subscribers not listed are removed.
 */
export async function replaceNotificationConfigs(
  db: Queryable,
  p: Scope & { accountId: string; configs: NotificationConfig[]; proofs: Map<string, { key: string; at: Date }> },
): Promise<void> {
  await db.delete(accountNotificationConfigs).where(and(eq(accountNotificationConfigs.tenantId, p.tenantId), eq(accountNotificationConfigs.accountId, p.accountId)));
  if (p.configs.length === 0) return;
  const credentials = secretContext.buyerCredentials(p.tenantId, p.principalId);
  await db.insert(accountNotificationConfigs).values(
    p.configs.map((c, position) => {
      const proof = p.proofs.get(c.subscriberId);
      return {
        accountId: p.accountId,
        subscriberId: c.subscriberId,
        tenantId: p.tenantId,
        principalId: p.principalId,
        position,
        url: c.url,
        eventTypes: c.eventTypes,
        authentication: c.authentication ? sealBuyerAuthentication(secretBox(), credentials, c.authentication) : null,
        active: c.active,
        proof: proof?.key ?? null,
        provedAt: proof?.at ?? null,
      };
    }),
  );
}

/** The account's active subscribers to an event type (their credentials as stored, sealed). */
export async function subscribersTo(db: Queryable, p: Scope & { accountId: string; eventType: string }): Promise<StoredNotificationConfig[]> {
  return db
    .select()
    .from(accountNotificationConfigs)
    .where(
      and(
        eq(accountNotificationConfigs.tenantId, p.tenantId),
        eq(accountNotificationConfigs.principalId, p.principalId),
        eq(accountNotificationConfigs.accountId, p.accountId),
        eq(accountNotificationConfigs.active, true),
        sql`${accountNotificationConfigs.eventTypes} ? ${p.eventType}`,
        // A suspended buyer is sent nothing new until it is reinstated.
        sql`not exists (select 1 from principals pr where pr.tenant_id = ${p.tenantId} and pr.id = ${p.principalId} and pr.suspended_at is not null)`,
      ),
    )
    .orderBy(asc(accountNotificationConfigs.position));
}
