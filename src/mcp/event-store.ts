/**
 * Resumable notification streams. Each streamable-HTTP session gets the SDK's
 * EventStore; a session's notification stream (the GET stream: resource
 * updates, status lines, task status) is logged in Postgres (mcp_events), so a
 * client that reconnects with Last-Event-ID gets what it missed, from any
 * replica.
 *
 * Logging stays off the notification's path: an event's id comes from a block
 * of the table's sequence this process reserved beforehand, the event goes to
 * the client at once, and the process writes what it logged in batches, in id
 * order, a few milliseconds later. A replay first writes out what is pending.
 * If the process dies with events unwritten, the replica that takes the
 * session over catches the client up from the state of the resources instead
 * (see createMcpServer's catchUp). Ids only grow along a session, also across
 * replicas: a replica taking a session over reserves ids above the last logged.
 *
 * The streams of single requests (a POST answered as SSE) stay in memory: only
 * the process running the request can finish it, so there is nothing for
 * another replica to replay; their ids start with "r".
 */
import { setImmediate as nextTick } from 'node:timers/promises';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Database } from '../db/client.js';
import { insertMcpEvents, mcpEventsAfter, reserveMcpEventIds } from '../db/queries/mcp-events.js';
import type { Logger } from '../logger.js';
import { maybePruneMcpState } from './prune.js';

/** The SDK's name for a session's standalone notification stream. */
export const NOTIFICATION_STREAM = '_GET_stream';
const REQUEST_EVENTS_KEPT = 200;
const REPLAY_BATCH = 500;

interface LoggedEvent {
  id: number;
  sessionId: string;
  streamId: string;
  message: Record<string, unknown>;
}

/** One per process (per HTTP server): reserves event ids and writes logged events in batches. */
export class McpEventLog {
  private ids: number[] = [];
  private reserving: Promise<void> | undefined;
  private pending: LoggedEvent[] = [];
  private writing: Promise<void> = Promise.resolve();
  private scheduled = false;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
    private readonly opts = { block: 256, delayMs: 2 },
  ) {}

  /** The next id above `floor`; reserves a new block when this one is used up. */
  async nextId(floor: number): Promise<number> {
    for (;;) {
      while (this.ids.length > 0 && this.ids[0]! <= floor) this.ids.shift();
      const id = this.ids.shift();
      if (id !== undefined) return id;
      this.reserving ??= reserveMcpEventIds(this.database.db, this.opts.block)
        .then((ids) => void this.ids.push(...ids.filter((x) => x > (this.ids.at(-1) ?? 0))))
        .finally(() => (this.reserving = undefined));
      await this.reserving;
    }
  }

  append(e: LoggedEvent): void {
    this.pending.push(e);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      void this.flush();
    }, this.opts.delayMs).unref();
  }

  /** Write out everything logged so far; batches go one at a time, so they commit in id order. */
  flush(): Promise<void> {
    const write = async () => {
      const batch = this.pending;
      this.pending = [];
      if (batch.length === 0) return;
      try {
        await insertMcpEvents(this.database.db, batch);
        maybePruneMcpState(this.database);
      } catch (err) {
        // The live stream already had these; a replica taking the session over catches the client up instead.
        this.logger.warn('could not log MCP notifications for replay', { events: batch.length, error: err });
      }
    };
    this.writing = this.writing.then(write);
    return this.writing;
  }
}

export class PgEventStore implements EventStore {
  private replaying: Promise<unknown> | undefined;
  private readonly requestEvents = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  private requestSeq = 0;

  constructor(
    private readonly log: McpEventLog,
    private readonly database: Database,
    readonly sessionId: string,
    /** The last id logged for this session by any replica: ours go above it. */
    private lastId = 0,
  ) {}

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    if (streamId !== NOTIFICATION_STREAM) return this.storeRequestEvent(streamId, message);
    // An event stored while a replay runs must come after it and reach the resumed stream live: wait until the
    // transport has registered that stream (it does so as soon as the replay returns).
    while (this.replaying) {
      await this.replaying.catch(() => {});
      await nextTick();
    }
    const id = await this.log.nextId(this.lastId);
    this.lastId = Math.max(this.lastId, id);
    this.log.append({ id, sessionId: this.sessionId, streamId, message: message as Record<string, unknown> });
    return String(id);
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    if (/^\d+$/.test(eventId)) return NOTIFICATION_STREAM;
    return this.requestEvents.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    if (!/^\d+$/.test(lastEventId)) return this.replayRequestEvents(lastEventId, send);
    const replay = (async () => {
      await this.log.flush();
      // An id this session never saw (or one pruned since) still orders: everything after it that is kept is sent.
      let after = Number(lastEventId);
      for (;;) {
        const rows = await mcpEventsAfter(this.database.db, { sessionId: this.sessionId, streamId: NOTIFICATION_STREAM, afterId: after, limit: REPLAY_BATCH });
        for (const r of rows) {
          if ('jsonrpc' in r.message) await send(String(r.id), r.message as JSONRPCMessage);
          after = r.id;
        }
        if (rows.length < REPLAY_BATCH) return;
      }
    })();
    this.replaying = replay;
    try {
      await replay;
    } finally {
      if (this.replaying === replay) this.replaying = undefined;
    }
    return NOTIFICATION_STREAM;
  }

  private storeRequestEvent(streamId: string, message: JSONRPCMessage): string {
    const id = `r${++this.requestSeq}`;
    this.requestEvents.set(id, { streamId, message });
    if (this.requestEvents.size > REQUEST_EVENTS_KEPT) this.requestEvents.delete(this.requestEvents.keys().next().value!);
    return id;
  }

  private async replayRequestEvents(lastEventId: string, send: (eventId: string, message: JSONRPCMessage) => Promise<void>): Promise<string> {
    const last = this.requestEvents.get(lastEventId);
    if (!last) return '';
    let after = false;
    for (const [id, e] of this.requestEvents) {
      if (id === lastEventId) after = true;
      else if (after && e.streamId === last.streamId && 'jsonrpc' in e.message) await send(id, e.message);
    }
    return last.streamId;
  }
}
