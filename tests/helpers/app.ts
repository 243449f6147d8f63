/**
 * Boot the real app on a fresh test database and talk to it with real MCP
 * clients: in-memory (linked transports) or over HTTP.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { bootApp, type RunningApp } from '../../src/app.js';
import type { AdapterFactory } from '../../src/adapters/registry.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Authenticator } from '../../src/mcp/auth.js';
import { startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { createMcpServer } from '../../src/mcp/server.js';
import { principals } from '../../src/db/schema/index.js';
import { hashToken } from '../../src/domain/ids.js';
import { seedDemo } from '../../src/seed/demo.js';
import { createTestDb, type TestDb } from './db.js';

/** The key test apps seal secrets with (a fixed one: tests may open what they stored). */
export const TEST_SECRET_KEY = '9f8e2c4d1a6b3e5f7a9c0b2d4e6f8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f';

export interface TestApp {
  app: RunningApp;
  db: TestDb;
  token: string;
  http?: HttpServer;
  close(): Promise<void>;
}

export async function startTestApp(
  opts: {
    worker?: boolean;
    http?: boolean;
    approval?: 'auto' | 'manual';
    adapterLatencyMs?: number;
    adapters?: AdapterFactory;
    /** The demo tenant under compliance testing (test_controller enabled): its sandbox accounts' webhooks may reach this machine. */
    complianceTesting?: boolean;
  } = {},
): Promise<TestApp> {
  const db = await createTestDb();
  // Secrets are sealed at rest in every test app, as a deployment with SALES_AGENT_SECRET_KEY does.
  const config = { ...loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', SALES_AGENT_SECRET_KEY: TEST_SECRET_KEY }), workerConcurrency: 4, dbPoolSize: 5 };
  const logger = createLogger(config.logLevel, { test: true });
  const app = await bootApp(config, logger, { worker: opts.worker ?? false, adapters: opts.adapters });
  const token = `tok_${db.name}`;
  await seedDemo(app.database.db, { token, approval: opts.approval ?? 'auto', adapterLatencyMs: opts.adapterLatencyMs ?? 0 });
  if (opts.complianceTesting) await app.database.sql`update tenants set settings = settings || '{"test_controller": "enabled"}'::jsonb where id = 'demo'`;
  const http = opts.http ? await startHttpServer(app.services, { host: '127.0.0.1', port: 0 }) : undefined;
  return {
    app,
    db,
    token,
    http,
    close: async () => {
      await http?.close();
      await app.close();
      await db.drop();
    },
  };
}

/** An MCP client connected in-memory to a fresh server instance for this token. */
/** Another buyer (principal) of the demo tenant, whose token is `token`. */
export async function addBuyer(t: TestApp, p: { id: string; token: string; name?: string }): Promise<void> {
  await t.app.database.db.insert(principals).values({ id: p.id, tenantId: 'demo', name: p.name ?? `Buyer ${p.id}`, tokenHash: hashToken(p.token), tokenHint: p.token.slice(0, 8) });
}

export async function memoryClient(t: TestApp, token: string | null = t.token): Promise<Client> {
  const auth = new Authenticator(t.app.database.db);
  const caller = await auth.resolve(token ?? undefined);
  if (!caller) throw new Error('unknown token');
  const server = createMcpServer(t.app.services, async () => caller);
  const [clientT, serverT] = InMemoryTransport.createLinkedPair();
  await server.connect(serverT);
  const client = new Client({ name: 'test-buyer', version: '1.0.0' });
  await client.connect(clientT);
  return client;
}

export async function httpClient(t: TestApp, token: string | null = t.token): Promise<Client> {
  if (!t.http) throw new Error('start the app with http: true');
  const transport = new StreamableHTTPClientTransport(new URL(`${t.http.url}/mcp`), {
    requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} },
  });
  const client = new Client({ name: 'test-buyer-http', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** Call a tool and return its structured content, with isError alongside. */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ isError: boolean; data: Record<string, unknown> }> {
  const res = (await client.callTool({ name, arguments: args })) as CallToolResult;
  return { isError: !!res.isError, data: (res.structuredContent ?? {}) as Record<string, unknown> };
}

/** A stateless JSON-RPC tools/call over plain HTTP, as agent frameworks send it. */
export async function rawCall(url: string, name: string, args: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { result?: CallToolResult; error?: { code: number; message: string; data?: Record<string, unknown> } } };
}

export function futureFlight(days = 30) {
  const start = new Date(Date.now() + 24 * 3600_000);
  const end = new Date(start.getTime() + days * 24 * 3600_000);
  return { start_time: start.toISOString(), end_time: end.toISOString() };
}

export function buyRequest(overrides: Record<string, unknown> = {}) {
  return {
    idempotency_key: `idem-${Math.random().toString(36).slice(2)}-${Date.now()}`,
    account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' },
    brand: { domain: 'acme-drinks.example' },
    ...futureFlight(),
    packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }],
    ...overrides,
  };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitFor timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
