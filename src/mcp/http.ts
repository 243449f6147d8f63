/**
 * Streamable HTTP at /mcp, plus /healthz.
 * - Sessions (initialize -> mcp-session-id): the SDK transport, with a GET event
 *   stream for notifications and DELETE to close.
 * - No session and no initialize: a stateless JSON-RPC call answered directly
 *   with a JSON body, whatever the Accept header. This is the hot path that
 *   agent frameworks and AdCP probes use, so it skips building an MCP server.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  InitializeRequestSchema,
  isInitializeRequest,
  isJSONRPCNotification,
  isJSONRPCRequest,
  LATEST_PROTOCOL_VERSION,
  RequestIdSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCNotification,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { sql } from 'drizzle-orm';
import { createAdminHandler } from '../admin/router.js';
import { Authenticator, tokenFromHeaders } from './auth.js';
import type { Caller } from './context.js';
import { invokeTool } from './define-tool.js';
import { isLoopbackBind, isLoopbackPeer, requestAllowed } from './host-check.js';
import { serveWellKnown } from './well-known.js';
import { resumeTransport, SessionDirectory, type TakeOver } from './sessions.js';
import { answerInvalidParams, createMcpServer, findTool, SERVER_INFO, SESSION_METHODS, toolContext, toolList, type AppServices } from './server.js';

const MAX_BODY = 4 * 1024 * 1024;

/**
 * JSON-RPC batches (MCP before 2025-06-18) are answered item by item in memory, so an unbounded one is a way
 * to exhaust the heap with a single anonymous request (each product listing is ~16 KB of answer).
 */
export const MAX_BATCH = 32;

/**
 * Live sessions one replica keeps in memory (about 40 KB each). At the limit, the least recently used idle
 * ones are released (their next request takes them back from Postgres, as after SESSION_IDLE_MS). When every
 * session has a request open (event streams held open), the holder of the most sessions gives one up, if it
 * holds more than the caller does (its stream ends; the client reconnects and misses nothing, or waits);
 * otherwise the new session is refused with 503 rather than the process running out of memory. So a client
 * holding streams open on every session cannot keep others out.
 */
export const MAX_SESSIONS = 1000;

class TooManySessions extends Error {}

interface Session {
  transport: StreamableHTTPServerTransport;
  principalId: string | undefined;
  /** Whose session it is, for sharing the room fairly: the buyer, or an anonymous caller's address. */
  holder: string;
  close(): Promise<void>;
  /** When a request for it last ended (or began). */
  lastActive: number;
  /** Its requests still open: a GET event stream, a call in progress. */
  open: number;
  /** Set on a session taken over from another replica until its first GET (see SessionDirectory). */
  replayFrom?: string;
}

export interface HttpServer {
  server: http.Server;
  url: string;
  sessionCount(): number;
  close(): Promise<void>;
}

/**
 * A session with no request open (no GET stream, no call) for this long is
 * released from memory: each costs about 40 KB, and clients rarely DELETE
 * theirs. Nothing is lost: its next request takes it over from Postgres, as
 * another replica would (subscriptions, and a catch-up of what changed).
 */
export const SESSION_IDLE_MS = 15 * 60_000;

/**
 * How long close() lets the requests under way finish (a rolling restart's SIGTERM) before it ends every
 * connection: a buyer whose call was cut short could not tell whether its buy was made.
 */
export const DRAIN_MS = 5_000;

const rpcError = (id: unknown, code: number, message: string) => ({ jsonrpc: '2.0', id: id ?? null, error: { code, message } });

/** MCP methods a session answers and the stateless path does not (it answers tools/call, tools/list and ping). */
export const STATELESS_NEEDS_SESSION: ReadonlySet<string> = new Set([...SESSION_METHODS].filter((m) => !['initialize', 'ping', 'tools/list', 'tools/call'].includes(m)));

/** A message the stateless path answers: a JSON-RPC 2.0 request or notification as the MCP SDK reads one on a session. */
const isMessage = (m: unknown): m is JSONRPCRequest | JSONRPCNotification => isJSONRPCRequest(m) || isJSONRPCNotification(m);
/** The id of an invalid message, if it has one MCP allows: the error answering the message carries it (else null). */
const idOf = (m: unknown) => RequestIdSchema.safeParse(m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined).data;

/**
 * A tools/call in the body for a tool that needs a buyer (AdCP's protected operations): without credentials it is
 * refused with HTTP 401 and a WWW-Authenticate challenge (RFC 6750 §3), as AdCP's authentication baseline requires;
 * discovery tools still answer anonymous callers. The body says what the tool result would have (AUTH_REQUIRED).
 */
function protectedCall(body: unknown): { id: unknown; name: string; args: unknown } | undefined {
  for (const m of Array.isArray(body) ? body : [body]) {
    if (!isJSONRPCRequest(m) || m.method !== 'tools/call') continue;
    const name = m.params?.name;
    if (typeof name === 'string' && findTool(name)?.auth === 'required') return { id: m.id, name, args: m.params?.arguments };
  }
  return undefined;
}

/** An empty or oversized JSON-RPC batch is refused as a whole (-32600), before any of it runs. */
function batchAllowed(res: http.ServerResponse, body: unknown): boolean {
  if (!Array.isArray(body)) return true;
  if (body.length === 0) sendJson(res, 400, rpcError(null, -32600, 'Invalid request: an empty batch.'));
  else if (body.length > MAX_BATCH) sendJson(res, 400, rpcError(null, -32600, `Invalid request: a batch may hold at most ${MAX_BATCH} messages; send the rest in further requests.`));
  else return true;
  return false;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A POST's JSON-RPC body; undefined once a body that is too large (413) or not JSON (-32700) has been answered. */
async function readJsonBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<{ body: unknown } | undefined> {
  try {
    return { body: JSON.parse(await readBody(req)) };
  } catch (err) {
    if ((err as { status?: number }).status === 413) sendJson(res, 413, rpcError(null, -32600, `Request body too large: at most ${MAX_BODY / 1024 / 1024} MB.`));
    else sendJson(res, 400, rpcError(null, -32700, 'Parse error: the body is not JSON.'));
    return undefined;
  }
}

export async function startHttpServer(
  app: AppServices,
  opts: {
    host: string;
    port: number;
    sessionIdleMs?: number;
    /** Live sessions kept in memory (MAX_SESSIONS by default). */
    maxSessions?: number;
    /** Bearer token for GET /metrics; without one, only loopback peers may scrape. */
    metricsToken?: string;
  },
): Promise<HttpServer> {
  const auth = new Authenticator(app.database.db, app.hub);
  const sessions = new Map<string, Session>();
  const log = app.logger.child({ component: 'http' });
  // Sessions outlive this replica: owner and subscriptions in Postgres, notification streams replayable from it.
  const directory = new SessionDirectory(app);
  const takingOver = new Map<string, Promise<Session | undefined>>();
  const stopMoved = directory.onMoved((id) => void sessions.get(id)?.close().catch(() => {}));
  const maxSessions = opts.maxSessions ?? MAX_SESSIONS;
  const realm = `${app.agentUrl.replace(/\/$/, '')}/mcp`;

  /** Release a session from memory; its next request takes it back from Postgres. */
  function release(id: string, session: Session): void {
    sessions.delete(id);
    void session.close().catch(() => {});
    directory.released(id).catch((err) => log.warn('could not touch a released session', { session_id: id, error: err }));
  }

  // A buyer's token replaced, or the buyer removed: its sessions' event streams, opened with the old token, end
  // here and now (the token is checked only as a request starts). Its client's next request authenticates again.
  const stopRevoked = app.hub.onEvent((e) => {
    if (e.kind !== 'principal') return;
    for (const [id, session] of sessions) {
      if (session.principalId !== e.principal_id) continue;
      release(id, session);
      log.info("session ended: its buyer's token was replaced or the buyer removed", { session_id: id, principal_id: e.principal_id });
    }
  });

  /** Sessions being opened (initialize, or a take-over) and not yet in `sessions`: their room is reserved. */
  let opening = 0;

  /**
   * Room for one more live session of `holder`: the least recently used idle session is released if need be;
   * with none idle, the least recently used session of the holder of the most, if it holds more than `holder`.
   * False: no room.
   */
  function makeRoom(holder: string): boolean {
    if (sessions.size + opening < maxSessions) return true;
    let oldest: [string, Session] | undefined;
    for (const entry of sessions) if (entry[1].open === 0 && (!oldest || entry[1].lastActive < oldest[1].lastActive)) oldest = entry;
    if (!oldest) {
      const held = new Map<string, number>();
      for (const s of sessions.values()) held.set(s.holder, (held.get(s.holder) ?? 0) + 1);
      let most: string | undefined;
      for (const [h, n] of held) if (most === undefined || n > held.get(most)!) most = h;
      if (most === undefined || held.get(most)! <= (held.get(holder) ?? 0)) return false;
      for (const entry of sessions) if (entry[1].holder === most && (!oldest || entry[1].lastActive < oldest[1].lastActive)) oldest = entry;
      log.warn('session released to make room for another caller: every live session has a request open', { session_id: oldest![0], principal_id: oldest![1].principalId, held: held.get(most), max_sessions: maxSessions });
    }
    release(oldest![0], oldest![1]);
    log.debug('session released to make room', { session_id: oldest![0], sessions: sessions.size });
    return true;
  }

  /** Whose session a request opens or takes over: its buyer, or for an anonymous caller its address. */
  const holderOf = (caller: Caller, req: http.IncomingMessage) => caller.principal?.id ?? `anon:${req.socket.remoteAddress ?? ''}`;

  /**
   * 401 for an anonymous call to a buyer's tool. The body is a JSON-RPC error carrying the tool's own error answer
   * (AUTH_REQUIRED, or AUTH_MISSING for a 3.1 caller, with its suggestion and the request's context) as its data and,
   * in short, as its message, which is what an MCP client that stops at the status shows.
   */
  async function refuseAnonymous(res: http.ServerResponse, call: { id: unknown; name: string; args: unknown }, caller: Caller): Promise<void> {
    const answer = (await invokeTool(findTool(call.name)!, call.args, toolContext(app, caller))).structuredContent as { adcp_error?: { code?: string; message?: string; suggestion?: string } } | undefined;
    const e = answer?.adcp_error;
    const message = e ? `${e.code}: ${e.message}${e.suggestion ? ` ${e.suggestion}` : ''}` : `${call.name} requires an authenticated buyer.`;
    sendJson(res, 401, { jsonrpc: '2.0', id: call.id ?? null, error: { code: -32001, message, data: answer } }, { 'www-authenticate': `Bearer realm="${realm}"` });
  }

  /** One stateless JSON-RPC message, answered without an MCP server instance. */
  async function handleStateless(msg: JSONRPCRequest | JSONRPCNotification, caller: Caller): Promise<unknown> {
    if (!('id' in msg)) return undefined; // a notification: nothing to answer
    switch (msg.method) {
      case 'tools/call': {
        const name = msg.params?.name;
        if (typeof name !== 'string') return rpcError(msg.id, -32602, 'tools/call needs params.name, the tool to call (see tools/list).');
        const tool = findTool(name);
        if (!tool) return rpcError(msg.id, -32602, `Unknown tool: ${name}`);
        return { jsonrpc: '2.0', id: msg.id, result: await invokeTool(tool, msg.params?.arguments, toolContext(app, caller)) };
      }
      case 'tools/list':
        return { jsonrpc: '2.0', id: msg.id, result: { tools: toolList() } };
      case 'ping':
        return { jsonrpc: '2.0', id: msg.id, result: {} };
      case 'initialize': {
        // A valid initialize opens a session before this; this one is not.
        const issue = InitializeRequestSchema.safeParse(msg).error?.issues[0];
        return rpcError(msg.id, -32602, `Invalid params for initialize: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'see the MCP specification'}.`);
      }
      default:
        if (STATELESS_NEEDS_SESSION.has(msg.method)) return rpcError(msg.id, -32600, `Method ${msg.method} needs a session: send initialize first.`);
        return rpcError(msg.id, -32601, `Method not found: ${msg.method}.`);
    }
  }

  async function handleMcp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'DELETE') {
      sendJson(res, 405, rpcError(null, -32000, `Method ${req.method} is not allowed on /mcp: POST a JSON-RPC message, GET the event stream of a session, or DELETE a session.`), { allow: 'GET, POST, DELETE' });
      return;
    }
    const token = tokenFromHeaders(req.headers);
    const caller = await auth.resolve(token);
    if (caller === null) {
      sendJson(res, 401, rpcError(null, -32001, 'Invalid token.'), { 'www-authenticate': `Bearer realm="${realm}", error="invalid_token"` });
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    const authInfo = { token: token ?? '', clientId: caller.principal?.id ?? 'anonymous', scopes: [], extra: { caller } };
    (req as http.IncomingMessage & { auth?: unknown }).auth = authInfo;

    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId) ?? (await takeOver(sessionId, caller, holderOf(caller, req)));
      if (!session) {
        sendJson(res, 404, rpcError(null, -32001, 'Session not found; initialize a new session.'));
        return;
      }
      if (session.principalId !== caller.principal?.id) {
        sendJson(res, 403, rpcError(null, -32001, 'This session belongs to another principal.'));
        return;
      }
      session.lastActive = Date.now();
      // A client that hung up while we authenticated or took the session over: 'close' has fired already.
      if (!res.closed) {
        session.open++;
        res.once('close', () => {
          session.open--;
          session.lastActive = Date.now();
        });
      }
      let body: unknown;
      if (req.method === 'POST') {
        const read = await readJsonBody(req, res);
        if (!read || !batchAllowed(res, read.body)) return;
        body = read.body;
        const call = caller.principal ? undefined : protectedCall(body);
        if (call) return refuseAnonymous(res, call, caller);
      }
      if (req.method === 'GET' && session.replayFrom !== undefined) {
        // The first GET after a take-over replays from where the stream stopped, so the catch-up reaches the client.
        req.headers['last-event-id'] ??= session.replayFrom;
        session.replayFrom = undefined;
      }
      await session.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 400, rpcError(null, -32000, 'Missing mcp-session-id header.'));
      return;
    }
    const read = await readJsonBody(req, res);
    if (!read || !batchAllowed(res, read.body)) return;
    const body = read.body;
    const messages = Array.isArray(body) ? body : [body];
    const call = caller.principal ? undefined : protectedCall(body);
    if (call) return refuseAnonymous(res, call, caller);
    if (messages.some((m) => isInitializeRequest(m))) {
      await startSession(req, res, body, caller);
      return;
    }
    // As the SDK answers it on a session (MCP 2025-11-25: an invalid or unsupported version MUST get 400).
    const version = String(req.headers['mcp-protocol-version'] ?? LATEST_PROTOCOL_VERSION);
    if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      sendJson(res, 400, rpcError(null, -32000, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`));
      return;
    }
    const invalid = (m: unknown) => rpcError(idOf(m), -32600, 'Invalid Request: not a JSON-RPC 2.0 request (jsonrpc "2.0", a method, params an object, an id that is a string or an integer).');
    const answers = (await Promise.all(messages.map((m) => (isMessage(m) ? handleStateless(m, caller) : invalid(m))))).filter((a) => a !== undefined);
    if (answers.length === 0) {
      res.writeHead(202).end();
      return;
    }
    sendJson(res, 200, Array.isArray(body) ? answers : answers[0], { 'mcp-protocol-version': version });
  }

  async function startSession(req: http.IncomingMessage, res: http.ServerResponse, body: unknown, caller: Caller): Promise<void> {
    const id = randomUUID();
    const { transport } = await openSession(caller, id, holderOf(caller, req));
    const accept = req.headers.accept ?? '';
    if (!accept.includes('text/event-stream') || !accept.includes('application/json')) req.headers.accept = 'application/json, text/event-stream';
    try {
      await transport.handleRequest(req, res, body);
    } finally {
      // The session entered `sessions` busy with its initialize (so no other request releases it meanwhile); now it is idle.
      opening--;
      const session = sessions.get(id);
      if (session?.transport === transport) {
        session.open = Math.max(0, session.open - 1);
        session.lastActive = Date.now();
      }
    }
  }

  /** A new live session; its room stays reserved (`opening`) until the caller has put it in `sessions` and decrements. */
  async function openSession(caller: Caller, id: string, holder: string, takeOver?: TakeOver) {
    if (!makeRoom(holder)) throw new TooManySessions();
    opening++;
    try {
      return await openSessionTransport(caller, id, holder, takeOver);
    } catch (err) {
      opening--;
      throw err;
    }
  }

  async function openSessionTransport(caller: Caller, id: string, holder: string, takeOver?: TakeOver) {
    const principalId = caller.principal?.id;
    const mcp = createMcpServer(app, async (extra) => (extra?.authInfo?.extra?.caller as Caller | undefined) ?? caller, { sessionId: id, resume: takeOver?.resume });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      eventStore: directory.eventStore(id, takeOver?.lastEventId),
      // Sent with each stream's priming event: a client whose stream we end (replica stopping, session
      // moved or released) reconnects after a second, with Last-Event-ID, and misses nothing.
      retryInterval: 1000,
      onsessioninitialized: async (sid) => {
        sessions.set(sid, { transport, principalId, holder, close: () => mcp.close(), lastActive: Date.now(), open: 1 });
        await directory.opened(sid, caller);
        log.debug('session opened', { session_id: sid, principal_id: principalId });
      },
      onsessionclosed: async (sid) => {
        sessions.delete(sid);
        await directory.closed(sid);
      },
    });
    transport.onclose = () => {
      if (sessions.get(id)?.transport === transport) sessions.delete(id);
    };
    await mcp.connect(transport);
    answerInvalidParams(transport);
    return { mcp, transport };
  }

  /** A session this replica does not hold: take it over if another replica opened it for this caller. */
  function takeOver(id: string, caller: Caller, holder: string): Promise<Session | undefined> {
    let pending = takingOver.get(id);
    if (!pending) {
      pending = (async () => {
        const found = await directory.find(id, caller);
        if (!found) return undefined;
        const { mcp, transport } = await openSession(caller, id, holder, found);
        let session: Session;
        try {
          resumeTransport(transport, id);
          // Held (open) while it is being taken over: on a slow database the idle sweep could otherwise release
          // it, closing its transport, before the request that took it over reaches it.
          session = { transport, principalId: caller.principal?.id, holder, close: () => mcp.close(), replayFrom: String(found.lastEventId), lastActive: Date.now(), open: 1 };
          sessions.set(id, session);
        } finally {
          opening--;
        }
        try {
          await directory.announce(id);
          await mcp.catchUp();
        } catch (err) {
          // Half taken over (not announced, or not caught up): not kept, so the next request tries afresh.
          if (sessions.get(id) === session) sessions.delete(id);
          void mcp.close().catch(() => {});
          throw err;
        } finally {
          session.open--;
          session.lastActive = Date.now();
        }
        log.info('session taken over from another replica', { session_id: id, principal_id: session.principalId });
        return session;
      })().finally(() => takingOver.delete(id));
      takingOver.set(id, pending);
    }
    return pending;
  }

  const idleMs = opts.sessionIdleMs ?? SESSION_IDLE_MS;
  const releaseIdle = setInterval(() => {
    const before = Date.now() - idleMs;
    for (const [id, session] of sessions) {
      if (session.open > 0 || session.lastActive > before) continue;
      release(id, session);
      log.debug('idle session released from memory', { session_id: id, principal_id: session.principalId });
    }
  }, Math.min(idleMs, 60_000));
  releaseIdle.unref();

  // The seller console and its API (src/admin): its own authentication, never the buyers'.
  const admin = createAdminHandler(app);
  const checkHost = isLoopbackBind(opts.host);
  /** Responses under way, but for event streams (GET /mcp), which never end by themselves: close() waits for these. */
  const answering = new Set<http.ServerResponse>();
  let drained: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!(path === '/mcp' && req.method === 'GET')) {
      answering.add(res);
      res.once('close', () => {
        answering.delete(res);
        if (answering.size === 0) drained?.();
      });
    }
    if (checkHost && !requestAllowed(req.headers)) {
      sendJson(res, 403, rpcError(null, -32000, 'Forbidden: this agent listens on a loopback address and answers only requests addressed to it (Host) from a loopback origin (Origin).'));
      return;
    }
    const done = (async () => {
      if (path === '/mcp') return handleMcp(req, res);
      if (path?.startsWith('/.well-known/') && (await serveWellKnown(app, req, res, path))) return;
      if (path === '/admin' || path?.startsWith('/admin/')) return admin(req, res);
      if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        try {
          await app.database.db.execute(sql`select 1`);
          return sendJson(res, 200, { status: 'ok', name: SERVER_INFO.name, version: SERVER_INFO.version });
        } catch {
          return sendJson(res, 503, { status: 'unavailable' });
        }
      }
      if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD') && app.metrics) {
        if (!metricsAllowed(req, opts.metricsToken, checkHost)) {
          return sendJson(res, opts.metricsToken ? 401 : 403, {
            error: opts.metricsToken ? 'Send the metrics token: Authorization: Bearer <SALES_AGENT_METRICS_TOKEN>.' : 'Without SALES_AGENT_METRICS_TOKEN, metrics are served only by a loopback-bound agent to loopback peers; set the token to scrape from elsewhere.',
          });
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
        if (req.method === 'HEAD') return res.end();
        return res.end(await app.metrics.render({ sql: app.database.sql, sessions: () => sessions.size }));
      }
      if (path === '/' && req.method === 'GET') {
        return sendJson(res, 200, { name: SERVER_INFO.name, version: SERVER_INFO.version, mcp: '/mcp', health: '/healthz', metrics: '/metrics' });
      }
      sendJson(res, 404, { error: 'not found' });
    })();
    done.catch((err) => {
      if (err instanceof TooManySessions) {
        log.warn('session refused: every live session has a request open', { sessions: sessions.size, max_sessions: maxSessions });
        if (!res.headersSent) sendJson(res, 503, rpcError(null, -32000, 'This server holds as many sessions as it can; retry shortly, or call tools without a session (a POST /mcp with no mcp-session-id).'), { 'retry-after': '5' });
        else res.end();
        return;
      }
      log.error('http request failed', { method: req.method, path, error: err });
      if (!res.headersSent) sendJson(res, 500, rpcError(null, -32603, 'Internal error'));
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  return {
    server,
    url,
    sessionCount: () => sessions.size,
    close: async () => {
      clearInterval(releaseIdle);
      // No new connections; requests under way are answered (for up to DRAIN_MS) before the sessions and their streams end.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (answering.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, DRAIN_MS);
        });
        clearTimeout(timer);
      }
      stopMoved();
      stopRevoked();
      await Promise.all([...sessions.values()].map((s) => s.close().catch(() => {})));
      sessions.clear();
      await directory.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A scrape with the metrics token, or (when none is configured) from this machine, not forwarded by a proxy. */
function metricsAllowed(req: http.IncomingMessage, token: string | undefined, loopbackBind: boolean): boolean {
  if (!token) {
    // Open without a token only on a loopback-bound server; a reverse proxy on this host also connects
    // from loopback: what it marks as forwarded came from elsewhere.
    if (!loopbackBind) return false;
    if (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined || req.headers['x-real-ip'] !== undefined) return false;
    return isLoopbackPeer(req.socket.remoteAddress ?? '');
  }
  const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '';
  // Compared as hashes: equal lengths, and no early exit on the first differing byte.
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest());
}
