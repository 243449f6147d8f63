/**
 * createMcpServer(): one MCP server per session (or per stdio process). Tools go
 * through our own tools/list and tools/call handlers, so every call, however it
 * arrives, passes the same invokeTool() validation and error mapping. Resources
 * media-buy://{id} and task://{id} are readable and subscribable.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  ClientRequestSchema,
  ErrorCode,
  isJSONRPCRequest,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  McpError,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
  type SetLevelRequest,
  type SubscribeRequest,
  type Tool,
  type UnsubscribeRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Variables } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Database } from '../db/client.js';
import { listAdapterConfigs } from '../db/queries/adapters.js';
import { getMediaBuy, listMediaBuys } from '../db/queries/media-buys.js';
import { getTaskForPrincipal } from '../db/queries/workflow.js';
import { agentSuspended } from '../domain/errors.js';
import { mediaBuyState, toAdcpMediaBuy } from '../domain/media-buy-view.js';
import { toAdcpTaskStatus } from '../domain/status.js';
import type { Logger } from '../logger.js';
import type { AccountCache } from './account-cache.js';
import type { CatalogCache } from './catalog-cache.js';
import type { AuditTrail } from '../services/audit.js';
import type { Metrics } from '../services/metrics.js';
import type { Caller, ToolContext } from './context.js';
import { invokeTool, toolListing, type ToolDef } from './define-tool.js';
import { MEDIA_BUYS_URI, mediaBuyUri, NotificationHub, taskUri, type Subscriber } from './notify.js';
import { setMcpSessionLogLevel, setMcpSessionSubscription, resourcesChangedSince } from '../db/queries/mcp-sessions.js';
import { guarded } from './guard.js';
import { PgTaskStore } from './task-store.js';
import { callToolAsTask } from './tasks.js';
import { TOOLS } from './tools/index.js';

export const SERVER_INFO = { name: 'adcp-sales-agent', version: '0.1.0' };

export interface AppServices {
  database: Database;
  logger: Logger;
  hub: NotificationHub;
  catalog: CatalogCache;
  accounts?: AccountCache;
  agentUrl: string;
  now?: () => Date;
  /** Audit trail of buying tool calls (and the console's actions). */
  audit?: AuditTrail;
  /** Prometheus metrics (GET /metrics). */
  metrics?: Metrics;
}

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
/** The caller of a request; without `extra`, the caller the session was opened for. */
export type CallerResolver = (extra?: Extra) => Promise<Caller>;

export interface SessionOptions {
  /** The streamable-HTTP session id: subscriptions are recorded against it, so another replica can take the session over. */
  sessionId?: string;
  /** Taking over a session another replica served: what it subscribed to, when its stream last carried anything, its logging level. */
  resume?: { subscriptions: string[]; since: Date; logLevel?: LoggingLevel };
}

export type SalesAgentMcpServer = McpServer & {
  /** After taking a session over: notify the subscribed resources that changed since it was last told. */
  catchUp(): Promise<void>;
};

const TOOL_BY_NAME = new Map<string, ToolDef>();
for (const t of TOOLS) for (const n of [t.name, ...(t.aliases ?? [])]) TOOL_BY_NAME.set(n, t);
let listing: Tool[] | undefined;

/** tools/list, computed once per process. */
export function toolList(): Tool[] {
  return (listing ??= TOOLS.flatMap((t) => [t.name, ...(t.aliases ?? [])].map((n) => toolListing(t, n))));
}

export const findTool = (name: string) => TOOL_BY_NAME.get(name);

/** The MCP requests a session answers: what its capabilities (tools, resources, logging, tasks) call for. */
export const SESSION_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'logging/setLevel',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
]);
const REQUEST_SCHEMAS = new Map(ClientRequestSchema.options.map((schema) => [schema.shape.method.value as string, schema]));

/**
 * After server.connect(transport): a request to a session whose params the MCP SDK's own schema for the method
 * refuses (tools/call with arguments "str", resources/read {}) is answered -32602 Invalid params, naming the
 * first problem. Left to the SDK, its handler wrapper throws the ZodError, answered -32603 Internal error with
 * the issues dumped as the message. Methods a session does not serve are left to the SDK (-32601).
 */
export function answerInvalidParams(transport: Transport): void {
  const dispatch = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (isJSONRPCRequest(message) && SESSION_METHODS.has(message.method)) {
      const issue = REQUEST_SCHEMAS.get(message.method)?.safeParse(message).error?.issues[0];
      if (issue) {
        const error = { code: ErrorCode.InvalidParams, message: `Invalid params for ${message.method}: ${issue.path.join('.')}: ${issue.message}` };
        transport.send({ jsonrpc: '2.0', id: message.id, error }).catch((err: Error) => transport.onerror?.(err));
        return;
      }
    }
    dispatch?.(message, extra);
  };
}

export function toolContext(app: AppServices, caller: Caller): ToolContext {
  return { ...caller, db: app.database.db, logger: app.logger, now: app.now ?? (() => new Date()), catalog: app.catalog, accounts: app.accounts, agentUrl: app.agentUrl, audit: app.audit, metrics: app.metrics };
}

/**
 * The caller as the buyer whose resources, subscriptions and MCP tasks these are; undefined when anonymous. A buyer
 * the seller suspended is refused here as every tool refuses it (AGENT_SUSPENDED): else it still read its buys and
 * tasks, and heard of every change, through resources and subscriptions.
 */
async function buyerOf(resolveCaller: CallerResolver, extra: Extra | undefined): Promise<{ tenant: NonNullable<Caller['tenant']>; principal: NonNullable<Caller['principal']> } | undefined> {
  const c = await resolveCaller(extra);
  if (c.suspended) throw new McpError(ErrorCode.InvalidRequest, `AGENT_SUSPENDED: ${agentSuspended().message}`);
  return c.tenant && c.principal ? { tenant: c.tenant, principal: c.principal } : undefined;
}

export function createMcpServer(app: AppServices, resolveCaller: CallerResolver, session: SessionOptions = {}): SalesAgentMcpServer {
  // MCP tasks belong to the session's buyer (its authorization context), on Postgres: readable from any replica.
  const taskScope = async () => {
    const c = await buyerOf(resolveCaller, undefined);
    return c ? { tenantId: c.tenant.id, principalId: c.principal.id } : undefined;
  };
  const taskStore = new PgTaskStore(app.database, taskScope, app.logger);
  const mcp = new McpServer(SERVER_INFO, {
    capabilities: {
      tools: { listChanged: false },
      resources: { subscribe: true, listChanged: false },
      logging: {},
      // Task-augmented tools/call for the tools whose execution.taskSupport says so (create_media_buy, update_media_buy): see tasks.ts.
      tasks: { list: {}, requests: { tools: { call: {} } } },
    },
    taskStore,
    instructions:
      'AdCP sales agent. Start with get_adcp_capabilities, then get_products with a brief. Buy with create_media_buy; subscribe to media-buy://{media_buy_id} for status pushes.',
  }) as SalesAgentMcpServer;
  const server = mcp.server;

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: toolList() }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const tool = TOOL_BY_NAME.get(req.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    const ctx = toolContext(app, await resolveCaller(extra));
    if (req.params.task || tool.taskSupport === 'required') return callToolAsTask(taskStore, tool, req.params, ctx, extra);
    return invokeTool(tool, req.params.arguments, ctx);
  });

  const read = <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) => guarded(app.logger, `resources/read ${name}`, fn, { repeatable: true });
  const readJson = (uri: URL, body: unknown) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(body) }] });
  const notFound = (uri: URL) => new McpError(ErrorCode.InvalidParams, `Resource not found: ${uri.href}`);

  mcp.registerResource(
    'media-buy',
    new ResourceTemplate('media-buy://{media_buy_id}', { list: undefined }),
    { title: 'Media buy status', description: 'Current state of one of your media buys: AdCP status, workflow step, fulfilment at each ad server. Subscribe for updates.', mimeType: 'application/json' },
    read('media-buy', async (uri: URL, vars: Variables, extra: Extra) => {
      const caller = await buyerOf(resolveCaller, extra);
      if (!caller) throw notFound(uri);
      const id = String(vars.media_buy_id);
      const [d, adapters] = await Promise.all([
        getMediaBuy(app.database.db, { tenantId: caller.tenant.id, principalId: caller.principal.id, id }),
        listAdapterConfigs(app.database.db, caller.tenant.id),
      ]);
      if (!d) throw notFound(uri);
      return readJson(uri, mediaBuyState(d, new Map(adapters.map((a) => [a.id, { name: a.name, type: a.adapterType }]))));
    }),
  );
  mcp.registerResource(
    'media-buys',
    MEDIA_BUYS_URI,
    { title: 'Your media buys', description: 'Your 100 most recent media buys with status and packages. Subscribe to hear of any change to any of them.', mimeType: 'application/json' },
    read('media-buys', async (uri: URL, extra: Extra) => {
      const caller = await buyerOf(resolveCaller, extra);
      if (!caller) throw notFound(uri);
      const buys = await listMediaBuys(app.database.db, { tenantId: caller.tenant.id, principalId: caller.principal.id, limit: 100 });
      return readJson(uri, { media_buys: buys.map(toAdcpMediaBuy) });
    }),
  );
  mcp.registerResource(
    'task',
    new ResourceTemplate('task://{task_id}', { list: undefined }),
    { title: 'Task status', description: 'Current state of an AdCP task (e.g. a media buy awaiting approval). Subscribe for updates.', mimeType: 'application/json' },
    read('task', async (uri: URL, vars: Variables, extra: Extra) => {
      const caller = await buyerOf(resolveCaller, extra);
      if (!caller) throw notFound(uri);
      const step = await getTaskForPrincipal(app.database.db, { tenantId: caller.tenant.id, principalId: caller.principal.id, taskId: String(vars.task_id) });
      if (!step) throw notFound(uri);
      return readJson(uri, {
        task_id: step.id,
        task_type: step.stepType,
        status: toAdcpTaskStatus(step.status),
        workflow_status: step.status,
        media_buy_id: step.mediaBuyId,
        ...(step.response && { result: step.response }),
        ...(step.error && { error: step.error }),
        created_at: step.createdAt.toISOString(),
        updated_at: step.updatedAt.toISOString(),
      });
    }),
  );

  // logging/setLevel is the session's, kept in Postgres too, so that it holds on whichever replica serves the session
  // next (taking it over, or taking it back after an idle release). This replaces the SDK's handler, which kept the
  // level in this instance's memory only, and its filtering of sendLoggingMessage by it.
  let logLevel = session.resume?.logLevel;
  server.setRequestHandler(SetLevelRequestSchema, guarded(app.logger, 'logging/setLevel', async (req: SetLevelRequest) => {
    logLevel = req.params.level;
    if (session.sessionId) await setMcpSessionLogLevel(app.database.db, { id: session.sessionId, level: logLevel });
    return {};
  }, { repeatable: true }));
  const LEVELS = LoggingLevelSchema.options;
  const heard = (level: LoggingLevel) => logLevel === undefined || LEVELS.indexOf(level) >= LEVELS.indexOf(logLevel);

  // Subscriptions belong to the principal that made them; the hub filters events by it.
  const mine = new Map<string, Subscriber>();
  // One change matching several of the session's subscriptions (media-buy://X and media-buys://) is logged to it once.
  let lastLogged: object | undefined;
  const subscribe = (uri: string, scope: { tenantId: string; principalId: string }) => {
    if (mine.has(uri)) return;
    const sub: Subscriber = {
      ...scope,
      resourceUpdated: async (u, event) => {
        await server.sendResourceUpdated({ uri: u });
        if (!event || event === lastLogged || !heard('info')) return;
        lastLogged = event;
        await server.sendLoggingMessage({ level: 'info', logger: 'media-buy', data: `${event.media_buy_id}: ${event.summary ?? event.status} (${event.status})` }).catch(() => {});
      },
    };
    mine.set(uri, sub);
    app.hub.subscribe(uri, sub);
  };
  // Recording a subscription is an upsert: safe to repeat.
  server.setRequestHandler(SubscribeRequestSchema, guarded(app.logger, 'resources/subscribe', async (req: SubscribeRequest, extra: Extra) => {
    const caller = await buyerOf(resolveCaller, extra);
    if (!caller) throw new McpError(ErrorCode.InvalidRequest, 'Subscribing requires an authenticated buyer.');
    const uri = req.params.uri;
    if (uri !== MEDIA_BUYS_URI && !/^(media-buy|task):\/\/[^/]+$/.test(uri)) throw new McpError(ErrorCode.InvalidParams, `Cannot subscribe to ${uri}`);
    const known = mine.has(uri);
    subscribe(uri, { tenantId: caller.tenant.id, principalId: caller.principal.id });
    if (session.sessionId && !known) await setMcpSessionSubscription(app.database.db, { id: session.sessionId, uri, subscribed: true });
    return {};
  }, { repeatable: true }));
  server.setRequestHandler(UnsubscribeRequestSchema, guarded(app.logger, 'resources/unsubscribe', async (req: UnsubscribeRequest) => {
    const sub = mine.get(req.params.uri);
    if (sub) {
      app.hub.unsubscribe(req.params.uri, sub);
      mine.delete(req.params.uri);
      if (session.sessionId) await setMcpSessionSubscription(app.database.db, { id: session.sessionId, uri: req.params.uri, subscribed: false });
    }
    return {};
  }, { repeatable: true }));
  const previousOnClose = server.onclose;
  server.onclose = () => {
    for (const [uri, sub] of mine) app.hub.unsubscribe(uri, sub);
    mine.clear();
    previousOnClose?.();
  };

  // A session taken over from another replica listens again at once; catchUp() then tells it what changed meanwhile.
  const resume = session.resume;
  const resumeScope = resume ? taskScope() : undefined;
  if (resume) void resumeScope!.then((s) => s && resume.subscriptions.forEach((uri) => subscribe(uri, s)));
  mcp.catchUp = async () => {
    const scope = await resumeScope;
    if (!resume || !scope || !session.sessionId) return;
    const uris = resume.subscriptions;
    const ids = (prefix: string) => uris.filter((u) => u.startsWith(prefix)).map((u) => u.slice(prefix.length));
    const changed = await resourcesChangedSince(app.database.db, { ...scope, since: resume.since, mediaBuyIds: ids('media-buy://'), taskIds: ids('task://') });
    const updated = [
      ...changed.mediaBuyIds.map(mediaBuyUri),
      ...changed.taskIds.map(taskUri),
      ...(changed.anyMediaBuy && uris.includes(MEDIA_BUYS_URI) ? [MEDIA_BUYS_URI] : []),
    ];
    for (const uri of updated) await server.sendResourceUpdated({ uri });
  };
  return mcp;
}
