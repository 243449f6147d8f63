/**
 * stdio transport: one session, the principal from SALES_AGENT_TOKEN. When the
 * transport closes, for whatever reason, the requests already read are
 * answered, then the process shuts down and exits.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../logger.js';
import type { Caller } from './context.js';
import { Authenticator } from './auth.js';
import { answerInvalidParams, createMcpServer, type AppServices } from './server.js';
import { LineStdioTransport } from './stdio-transport.js';

/** How long the requests read before the transport closed may take to be answered (tools return at once: milliseconds). */
export const DRAIN_MS = 5000;

/**
 * The stdio transport (LineStdioTransport), saying it has closed only once the requests it read are answered (DRAIN_MS at
 * most). The SDK drops the answer of every request still running when its transport closes, so a client that
 * writes its requests and then closes stdin (a shell pipe) heard of none of them, committed buys included.
 */
class AnsweringStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  private readonly stdio = new LineStdioTransport();
  private readonly unanswered = new Set<RequestId>();
  private answered?: () => void;
  private closed?: Promise<void>;

  constructor(private readonly logger: Logger) {
    this.stdio.onmessage = (message) => {
      if (isJSONRPCRequest(message)) this.unanswered.add(message.id);
      // A request the client cancelled gets no answer.
      else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') this.settle(message.params?.requestId as RequestId);
      this.onmessage?.(message);
    };
    this.stdio.onerror = (err) => this.onerror?.(err);
    // However it closes, it has stopped reading; the answers still go out.
    this.stdio.onclose = () => void (this.closed ??= this.drain().then(() => this.onclose?.()));
  }

  start(): Promise<void> {
    return this.stdio.start();
  }

  send(message: JSONRPCMessage): Promise<void> {
    const sent = this.stdio.send(message);
    // Answered once handed to stdout, not once written: a client that stopped reading would hold the exit for DRAIN_MS.
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) this.settle(message.id);
    return sent;
  }

  async close(): Promise<void> {
    await this.stdio.close();
    await this.closed;
  }

  private settle(id: RequestId | undefined): void {
    if (id === undefined || !this.unanswered.delete(id)) return;
    if (this.unanswered.size === 0) this.answered?.();
  }

  private drain(): Promise<void> {
    if (this.unanswered.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn(`stdio: closing with requests still unanswered after ${DRAIN_MS} ms`, { request_ids: [...this.unanswered] });
        resolve();
      }, DRAIN_MS);
      this.answered = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** `onClose(code)` stops the app and exits: 0 once the client closed stdin, 1 when the transport failed. */
export async function serveStdio(app: AppServices, token: string | undefined, onClose: (code: number) => Promise<void>): Promise<void> {
  const auth = new Authenticator(app.database.db, app.hub);
  const caller: Caller | null = await auth.resolve(token);
  if (caller === null) {
    app.logger.error('SALES_AGENT_TOKEN does not match any buyer; every tool call will answer that (AUTH_INVALID)');
  }
  if (!token) app.logger.warn('SALES_AGENT_TOKEN is not set; serving anonymously (discovery only)');
  // Resolved on every call, as over HTTP (cached briefly by the Authenticator): a token revoked while the client runs stops working.
  const resolveCaller = async (): Promise<Caller> => {
    const found = token ? await auth.resolve(token) : null;
    return found ?? { ...(await auth.resolve(undefined))!, credentialsRejected: !!token };
  };
  const mcp = createMcpServer(app, resolveCaller);
  const transport = new AnsweringStdioTransport(app.logger);

  // Why the transport closes, the first reason found: we close it when stdin ends or stdout breaks.
  let closing: { reason: string; failed: boolean } | undefined;
  let lastError: Error | undefined;
  const close = (reason: string, failed: boolean) => {
    closing ??= { reason, failed };
    void mcp.close();
  };
  mcp.server.onerror = (err) => {
    lastError = err;
    // Also a line that is not JSON-RPC (answered -32700 or -32600) or is over 10 MB (-32600): the client's error, logged.
    app.logger.warn('MCP over stdio: transport error', { error: err });
  };
  const serverClosed = mcp.server.onclose;
  mcp.server.onclose = () => {
    serverClosed?.();
    const { reason, failed } = closing ?? { reason: lastError?.message ?? 'closed by the MCP SDK', failed: true };
    app.logger[failed ? 'error' : 'info']('stdio transport closed; shutting down', { reason });
    void onClose(failed ? 1 : 0);
  };
  // The transport does not watch for the end of stdin; we do.
  process.stdin.on('end', () => close('stdin ended', false));
  process.stdin.on('close', () => close('stdin closed', false));
  // A client gone without closing our stdin (EPIPE on stdout): nothing we write reaches it any more.
  process.stdout.on('error', (err) => close(`stdout: ${err.message}`, true));
  await mcp.connect(transport);
  answerInvalidParams(transport);
  app.logger.info('serving MCP over stdio', { principal_id: caller?.principal?.id ?? null });
}
