/**
 * stdio transport: one session, the principal from SALES_AGENT_TOKEN. When the
 * transport closes, for whatever reason, the process shuts down and exits.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Caller } from './context.js';
import { Authenticator } from './auth.js';
import { createMcpServer, type AppServices } from './server.js';

/** `onClose(code)` stops the app and exits: 0 once the client closed stdin, 1 when the transport failed. */
export async function serveStdio(app: AppServices, token: string | undefined, onClose: (code: number) => Promise<void>): Promise<void> {
  const auth = new Authenticator(app.database.db);
  const caller: Caller | null = await auth.resolve(token);
  if (caller === null) {
    app.logger.error('SALES_AGENT_TOKEN does not match any buyer; serving anonymously (discovery only)');
  }
  const resolved: Caller = caller ?? (await auth.resolve(undefined))!;
  if (!token) app.logger.warn('SALES_AGENT_TOKEN is not set; serving anonymously (discovery only)');
  const mcp = createMcpServer(app, async () => resolved);
  const transport = new StdioServerTransport();

  // Why the transport closes, the first reason found: we close it when stdin ends or stdout breaks; the SDK
  // closes it itself after an error it cannot read past (a message over its 10 MB buffer), reported to onerror.
  let closing: { reason: string; failed: boolean } | undefined;
  let lastError: Error | undefined;
  const close = (reason: string, failed: boolean) => {
    closing ??= { reason, failed };
    void mcp.close();
  };
  mcp.server.onerror = (err) => {
    lastError = err;
    // Also a line that is not JSON-RPC, which the SDK drops: the client never hears of it, so the log must.
    app.logger.warn('MCP over stdio: transport error', { error: err });
  };
  const serverClosed = mcp.server.onclose;
  mcp.server.onclose = () => {
    serverClosed?.();
    const { reason, failed } = closing ?? { reason: lastError?.message ?? 'closed by the MCP SDK', failed: true };
    app.logger[failed ? 'error' : 'info']('stdio transport closed; shutting down', { reason });
    void onClose(failed ? 1 : 0);
  };
  // The SDK's stdio transport does not notice the end of stdin; we do.
  process.stdin.on('end', () => close('stdin ended', false));
  process.stdin.on('close', () => close('stdin closed', false));
  // A client gone without closing our stdin (EPIPE on stdout): nothing we write reaches it any more.
  process.stdout.on('error', (err) => close(`stdout: ${err.message}`, true));
  await mcp.connect(transport);
  app.logger.info('serving MCP over stdio', { principal_id: resolved.principal?.id ?? null });
}
