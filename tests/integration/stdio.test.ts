/**
 * stdio, as an MCP client such as Claude Desktop runs it: the command from
 * mcp.json, spoken to over the child's stdin/stdout. Needs `npm run build`
 * (npm test runs it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/client.js';
import { seedDemo } from '../../src/seed/demo.js';
import { buyRequest, call, waitFor } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const root = path.resolve(import.meta.dirname, '../..');
const config = JSON.parse(await fs.readFile(path.join(root, 'mcp.json'), 'utf8')).mcpServers['adcp-sales-agent'] as {
  command: string;
  args: string[];
  env: Record<string, string>;
};

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

async function connectStdio(env: Record<string, string>) {
  const transport = new StdioClientTransport({ command: config.command, args: config.args, cwd: root, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d.toString()));
  const client = new Client({ name: 'stdio-test', version: '1.0.0' });
  await client.connect(transport);
  const child = (transport as unknown as { _process: ChildProcess })._process;
  return { client, child, stderr: () => stderr };
}

/** The server spoken to line by line, as a shell pipe or a misbehaving client does. */
function spawnRaw(env: Record<string, string>) {
  const child = spawn(config.command, config.args, { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d.toString()));
  child.stderr.on('data', (d) => (stderr += d.toString()));
  child.stdin.on('error', () => {}); // EPIPE: what a test writes to a server that has gone
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exit,
    stderr: () => stderr,
    /** The JSON-RPC messages it wrote, by id. */
    answers: () => new Map(stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id?: number }).map((m) => [m.id, m])),
    send: (...messages: unknown[]) => child.stdin.write(messages.map((m) => `${JSON.stringify(m)}\n`).join('')),
  };
}

/** Resolves to the exit, or to 'still running' after `ms`. */
const exitWithin = <T>(exit: Promise<T>, ms: number) => Promise.race([exit, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);

const INITIALIZE = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'pipe', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

/** Close stdin the way an MCP client does and report how the server exited. */
async function closeAndWait(client: Client, child: ChildProcess) {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    const started = Date.now();
    child.once('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - started }));
  });
  await client.close();
  return exited;
}

describe('stdio transport with the mcp.json config', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    const d = connect(db.url, { max: 1 });
    await seedDemo(d.db, { token: config.env.SALES_AGENT_TOKEN, adapterLatencyMs: 100 });
    await d.close();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('serves tools and pushes fulfilment, then exits cleanly when stdin closes', async () => {
    // The config runs the built CLI (node flags first).
    expect(existsSync(path.join(root, config.args.find((a) => a.endsWith('cli.js'))!))).toBe(true);
    const { client, child, stderr } = await connectStdio({ ...baseEnv(), ...config.env, DATABASE_URL: db.url });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    const caps = await call(client, 'get_adcp_capabilities', {});
    expect(caps.data.supported_protocols).toEqual(['media_buy', 'sponsored_intelligence']);
    const { isError, data } = await call(client, 'create_media_buy', buyRequest());
    expect(isError).toBe(false);
    const uri = `media-buy://${data.media_buy_id}`;
    await client.subscribeResource({ uri });
    await waitFor(async () => {
      const res = await client.readResource({ uri });
      return JSON.parse((res.contents[0] as { text: string }).text).fulfilment[0].state === 'booked';
    });
    await waitFor(async () => updates.includes(uri));
    const exit = await closeAndWait(client, child);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(1900); // before the client would resort to SIGTERM
    expect(stderr()).not.toMatch(/"level":"error"/);
  });

  it('refuses every tool with a terminal auth error, naming SALES_AGENT_TOKEN, when the token matches no buyer, and once it is revoked', { timeout: 40_000 }, async () => {
    const wrong = await connectStdio({ ...baseEnv(), ...config.env, SALES_AGENT_TOKEN: 'not-a-buyer-token-0000', DATABASE_URL: db.url });
    try {
      for (const [tool, args] of [['get_products', { brief: 'video' }], ['create_media_buy', buyRequest()]] as const) {
        const r = await call(wrong.client, tool, args);
        expect(r.isError).toBe(true);
        expect((r.data.errors as unknown[])[0]).toMatchObject({ code: 'AUTH_REQUIRED', recovery: 'terminal', message: expect.stringContaining('SALES_AGENT_TOKEN does not match any buyer') });
      }
      // AdCP 3.1 names a rejected credential AUTH_INVALID (no credential at all is AUTH_MISSING).
      const v31 = await call(wrong.client, 'get_products', { brief: 'video', adcp_version: '3.1' });
      expect((v31.data.errors as unknown[])[0]).toMatchObject({ code: 'AUTH_INVALID', recovery: 'terminal' });
      expect(wrong.stderr()).toMatch(/"level":"error","msg":"SALES_AGENT_TOKEN does not match any buyer/);
    } finally {
      await closeAndWait(wrong.client, wrong.child);
    }

    // A token revoked while the client runs stops working (within the 5 s the token lookup is cached), as over HTTP.
    const { client, child } = await connectStdio({ ...baseEnv(), ...config.env, DATABASE_URL: db.url });
    const d = connect(db.url, { max: 1 });
    try {
      expect((await call(client, 'get_media_buys', {})).isError).toBe(false);
      await d.sql`update principals set token_hash = 'revoked-' || token_hash where tenant_id = 'demo'`;
      await waitFor(async () => (await call(client, 'get_media_buys', {})).isError, 10_000);
      expect(((await call(client, 'get_media_buys', {})).data.errors as unknown[])[0]).toMatchObject({ code: 'AUTH_REQUIRED', recovery: 'terminal' });
    } finally {
      await d.sql`update principals set token_hash = substr(token_hash, 9) where tenant_id = 'demo' and token_hash like 'revoked-%'`;
      await d.close();
      await closeAndWait(client, child);
    }
  });
});

describe('stdio transport failures', () => {
  let db: TestDb;
  const started: ChildProcess[] = [];
  beforeAll(async () => {
    db = await createTestDb();
    const d = connect(db.url, { max: 1 });
    await seedDemo(d.db, { token: config.env.SALES_AGENT_TOKEN });
    await d.close();
  });
  afterAll(async () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await db?.drop();
  });
  const serve = () => {
    const s = spawnRaw({ ...baseEnv(), ...config.env, DATABASE_URL: db.url, LOG_LEVEL: 'info' });
    started.push(s.child);
    return s;
  };

  it('answers a message over 10 MB with -32600, drops it without buffering it, and goes on serving', { timeout: 40_000 }, async () => {
    const s = serve();
    s.send(INITIALIZE, INITIALIZED);
    await waitFor(async () => s.answers().has(0), 20_000);
    const started = Date.now();
    s.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_products', arguments: { brief: 'x'.repeat(11 * 1024 * 1024) } } }, { jsonrpc: '2.0', id: 2, method: 'ping' });
    await waitFor(async () => s.answers().has(2), 20_000);
    // The SDK's transport took seconds to buffer 10 MB (it copied the whole buffer on every chunk), then closed.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(s.answers().get(null as unknown as number)).toMatchObject({ error: { code: -32600, message: expect.stringContaining('over 10 MB') } });
    expect(s.answers().has(1)).toBe(false);
    expect(s.stderr()).toMatch(/"level":"warn".*MCP over stdio.*over 10 MB/);
    s.child.stdin.end();
    expect(await exitWithin(s.exit, 5000)).toEqual({ code: 0, signal: null });
  });

  it('exits, saying why, when the client stops reading its stdout', async () => {
    const s = serve();
    s.send(INITIALIZE, INITIALIZED);
    await waitFor(async () => s.answers().has(0), 20_000);
    s.child.stdout.destroy();
    s.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(await exitWithin(s.exit, 5000)).toEqual({ code: 1, signal: null });
    expect(s.stderr()).toMatch(/"level":"error","msg":"stdio transport closed; shutting down".*EPIPE/);
  });

  it('answers what it has read before stdin closed, then exits', async () => {
    const s = serve();
    const call = (id: number, name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
    // As `printf ... | sales-agent serve --transport stdio` sends them: all at once, then end of input.
    s.send(INITIALIZE, INITIALIZED, call(1, 'get_adcp_capabilities', {}), { jsonrpc: '2.0', id: 2, method: 'ping' }, ...[3, 4, 5, 6, 7].map((id) => call(id, 'create_media_buy', buyRequest())));
    s.child.stdin.end();
    expect(await exitWithin(s.exit, 20_000)).toEqual({ code: 0, signal: null });
    const answers = s.answers();
    expect([...answers.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((answers.get(1) as { result: { structuredContent: { supported_protocols: string[] } } }).result.structuredContent.supported_protocols).toContain('media_buy');
    for (const id of [3, 4, 5, 6, 7]) expect((answers.get(id) as { result: { isError?: boolean } }).result.isError).toBeFalsy();
    expect(s.stderr()).not.toMatch(/"level":"(warn|error)","msg":"(the database connection broke|tool call failed)/);
  });

  it('answers a line that is not JSON with -32700 and params the MCP schema refuses with -32602, logs both, and goes on serving', async () => {
    const s = serve();
    s.send(INITIALIZE, INITIALIZED);
    s.child.stdin.write('{not json\n');
    s.send({ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'resources/read', params: {} });
    await waitFor(async () => s.answers().has(1) && s.answers().has(2), 20_000);
    expect(s.stderr()).toMatch(/"level":"warn".*MCP over stdio.*not JSON/);
    expect(s.answers().get(null as unknown as number)).toMatchObject({ error: { code: -32700 } });
    expect(s.answers().get(2)).toMatchObject({ error: { code: -32602, message: expect.stringContaining('Invalid params for resources/read: params.uri') } });
    s.child.stdin.end();
    expect(await exitWithin(s.exit, 5000)).toEqual({ code: 0, signal: null });
  });
});

describe('stdio with zero configuration', () => {
  let dataDir: string;
  afterAll(async () => {
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('starts an embedded Postgres, seeds the demo tenant with SALES_AGENT_TOKEN, and stops it on exit', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sales-agent-stdio-'));
    const env = { ...baseEnv(), ...config.env, SALES_AGENT_DATA_DIR: dataDir };
    const { client, child } = await connectStdio(env);
    const products = await call(client, 'get_products', { brief: 'video' });
    const list = products.data.products as { pricing_options: unknown[] }[];
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]!.pricing_options.length).toBeGreaterThan(0); // authenticated as the seeded buyer
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(true);
    // Its secrets are sealed with a key made beside the database, readable by its owner only.
    expect((await fs.stat(path.join(dataDir, 'secret.key'))).mode & 0o777).toBe(0o600);
    const exit = await closeAndWait(client, child);
    expect(exit).toMatchObject({ code: 0, signal: null });
    await waitFor(async () => !existsSync(path.join(dataDir, 'pg', 'postmaster.pid')), 10_000);
  }, 60_000);
});
