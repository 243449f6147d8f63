/**
 * LISTEN on Postgres and fan change events out to this process's MCP sessions.
 * Every replica runs one of these; the worker that made the change may be in
 * any process. A subscriber only hears of its own tenant's and principal's buys.
 */
import type postgres from 'postgres';
import { ChangeEvent, EVENTS_CHANNEL, type MediaBuyEvent } from '../db/notify.js';
import type { Logger } from '../logger.js';

export interface Subscriber {
  tenantId: string;
  principalId: string;
  /** Deliver notifications/resources/updated for this URI; without an event after a lost LISTEN (it may have changed). */
  resourceUpdated(uri: string, event?: MediaBuyEvent): Promise<void>;
}

export const mediaBuyUri = (id: string) => `media-buy://${id}`;
export const taskUri = (id: string) => `task://${id}`;
/** The caller's whole book of media buys: updated on any change to any of them. */
export const MEDIA_BUYS_URI = 'media-buys://';

export class NotificationHub {
  private readonly subs = new Map<string, Set<Subscriber>>();
  private readonly listeners = new Set<(e: ChangeEvent) => void>();
  private readonly resyncs = new Set<() => void>();
  private listening = false;
  private unlisten?: () => Promise<void>;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const res = await this.sql.listen(
      EVENTS_CHANNEL,
      (payload) => this.dispatch(payload),
      () => {
        this.logger.debug('listening for change events', { channel: EVENTS_CHANNEL });
        // A re-LISTEN after a lost connection: whatever was announced in between went unheard.
        if (this.listening) {
          for (const fn of this.resyncs) fn();
          // Subscribers may have missed a change: tell each to read its resource again.
          for (const [uri, set] of this.subs) {
            for (const sub of set) sub.resourceUpdated(uri).catch((err) => this.logger.debug('notification not delivered', { uri, error: err }));
          }
        }
        this.listening = true;
      },
    );
    this.unlisten = res.unlisten;
  }

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
    this.subs.clear();
  }

  /** Called when the LISTEN connection came back after a loss: caches should forget what they hold. */
  onResync(fn: () => void): () => void {
    this.resyncs.add(fn);
    return () => this.resyncs.delete(fn);
  }

  /** In-process observers (tests, webhooks later). */
  onEvent(fn: (e: ChangeEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  subscribe(uri: string, sub: Subscriber): void {
    let set = this.subs.get(uri);
    if (!set) this.subs.set(uri, (set = new Set()));
    set.add(sub);
  }

  unsubscribe(uri: string, sub: Subscriber): void {
    const set = this.subs.get(uri);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.subs.delete(uri);
  }

  removeSubscriber(sub: Subscriber): void {
    for (const [uri, set] of this.subs) {
      set.delete(sub);
      if (set.size === 0) this.subs.delete(uri);
    }
  }

  get subscriptionCount(): number {
    let n = 0;
    for (const set of this.subs.values()) n += set.size;
    return n;
  }

  private dispatch(payload: string): void {
    let event: ChangeEvent;
    try {
      event = ChangeEvent.parse(JSON.parse(payload));
    } catch (err) {
      this.logger.warn('ignoring malformed change event', { error: err });
      return;
    }
    for (const fn of this.listeners) fn(event);
    if (event.kind !== 'media_buy') return;
    const uris = [mediaBuyUri(event.media_buy_id), ...(event.task_id ? [taskUri(event.task_id)] : []), MEDIA_BUYS_URI];
    for (const uri of uris) {
      for (const sub of this.subs.get(uri) ?? []) {
        if (sub.tenantId !== event.tenant_id || sub.principalId !== event.principal_id) continue;
        sub.resourceUpdated(uri, event).catch((err) => this.logger.debug('notification not delivered', { uri, error: err }));
      }
    }
  }
}
