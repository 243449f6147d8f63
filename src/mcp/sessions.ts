/**
 * Streamable-HTTP sessions across replicas. The live session (MCP server,
 * transport, GET stream) sits in one replica's memory; Postgres holds who it
 * belongs to, what it subscribed to (mcp_sessions) and what its notification
 * stream carried (mcp_events). So when a client comes back to another replica
 * (its own went away, or the load balancer moved it), that replica takes the
 * session over: it listens for the same resources again, replays the stream
 * after the client's Last-Event-ID, tells it what changed while no replica
 * held it, and asks the old holder, if still alive, to let it go.
 */
import { randomUUID } from 'node:crypto';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { LoggingLevelSchema } from '@modelcontextprotocol/sdk/types.js';
import { publishSessionMoved, type ChangeEvent } from '../db/notify.js';
import { lastMcpEvent } from '../db/queries/mcp-events.js';
import { deleteMcpSession, getMcpSession, insertMcpSession, touchMcpSession } from '../db/queries/mcp-sessions.js';
import type { Caller } from './context.js';
import { McpEventLog, NOTIFICATION_STREAM, PgEventStore } from './event-store.js';
import { maybePruneMcpState } from './prune.js';
import type { AppServices, SessionOptions } from './server.js';

export interface TakeOver {
  resume: NonNullable<SessionOptions['resume']>;
  /** The last event logged for the session: the Last-Event-ID to replay from if the client's next GET brings none. */
  lastEventId: number;
}

export class SessionDirectory {
  /** This replica, as named in session hand-over events. */
  readonly holder = randomUUID();
  private readonly events: McpEventLog;

  constructor(private readonly app: AppServices) {
    this.events = new McpEventLog(app.database, app.logger);
  }

  /** The event store of a session; one taken over continues above the last event logged for it. */
  eventStore(id: string, lastEventId = 0): PgEventStore {
    return new PgEventStore(this.events, this.app.database, id, lastEventId);
  }

  /** Write out the notifications logged so far (at shutdown). */
  async close(): Promise<void> {
    await this.events.flush();
  }

  async opened(id: string, caller: Caller): Promise<void> {
    await insertMcpSession(this.app.database.db, { id, tenantId: caller.tenant?.id ?? null, principalId: caller.principal?.id ?? null });
    maybePruneMcpState(this.app.database);
  }

  /** The client ended the session (DELETE): no replica may take it over again. */
  async closed(id: string): Promise<void> {
    await deleteMcpSession(this.app.database.db, id);
  }

  /** A session this replica does not hold: what it needs to take it over, if the caller owns it. */
  async find(id: string, caller: Caller): Promise<TakeOver | undefined> {
    const row = await getMcpSession(this.app.database.db, id);
    if (!row || row.principalId !== (caller.principal?.id ?? null) || row.tenantId !== (caller.tenant?.id ?? null)) return undefined;
    const last = await lastMcpEvent(this.app.database.db, { sessionId: id, streamId: NOTIFICATION_STREAM });
    const logLevel = LoggingLevelSchema.safeParse(row.logLevel).data;
    return { resume: { subscriptions: row.subscriptions, since: last?.at ?? row.updatedAt, logLevel }, lastEventId: last?.id ?? 0 };
  }

  /**
   * This replica lets go of the session (idle): its row is touched, so it is
   * kept another retention period (prune.ts) and the client's next request can
   * take the session back here or anywhere.
   */
  async released(id: string): Promise<void> {
    await touchMcpSession(this.app.database.db, id);
  }

  /** Tell every other replica this one holds the session now. */
  async announce(id: string): Promise<void> {
    await touchMcpSession(this.app.database.db, id);
    await publishSessionMoved(this.app.database.db, { sessionId: id, holder: this.holder });
  }

  /** Calls `fn` with each session another replica took over. */
  onMoved(fn: (sessionId: string) => void): () => void {
    return this.app.hub.onEvent((e: ChangeEvent) => {
      if (e.kind === 'session' && e.holder !== this.holder) fn(e.session_id);
    });
  }
}

/**
 * The SDK transport learns its session id from an initialize request and has
 * no API to resume one; a taken-over session was initialized on another
 * replica, so its new transport is marked initialized under the stored id.
 */
export function resumeTransport(transport: StreamableHTTPServerTransport, id: string): void {
  const inner = (transport as unknown as { _webStandardTransport?: { sessionId?: string; _initialized?: boolean } })._webStandardTransport;
  if (!inner || typeof inner._initialized !== 'boolean') throw new Error('This MCP SDK version cannot resume a session on a new transport.');
  inner.sessionId = id;
  inner._initialized = true;
}
