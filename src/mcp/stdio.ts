/** stdio transport: one session, the principal from SALES_AGENT_TOKEN. Exits when stdin closes. */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Caller } from './context.js';
import { Authenticator } from './auth.js';
import { createMcpServer, type AppServices } from './server.js';

export async function serveStdio(app: AppServices, token: string | undefined, onClose: () => Promise<void>): Promise<void> {
  const auth = new Authenticator(app.database.db);
  const caller: Caller | null = await auth.resolve(token);
  if (caller === null) {
    app.logger.error('SALES_AGENT_TOKEN does not match any buyer; serving anonymously (discovery only)');
  }
  const resolved: Caller = caller ?? (await auth.resolve(undefined))!;
  if (!token) app.logger.warn('SALES_AGENT_TOKEN is not set; serving anonymously (discovery only)');
  const mcp = createMcpServer(app, async () => resolved);
  const transport = new StdioServerTransport();
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    await mcp.close().catch(() => {});
    await onClose();
  };
  // The SDK's stdio transport does not notice EOF on stdin; we do, and exit.
  process.stdin.on('end', () => void shutdown());
  process.stdin.on('close', () => void shutdown());
  await mcp.connect(transport);
  app.logger.info('serving MCP over stdio', { principal_id: resolved.principal?.id ?? null });
}
