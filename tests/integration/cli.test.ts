/**
 * The CLI as a publisher runs it: `seed demo` then `serve`, in real processes.
 * With a 2 s adapter, create_media_buy must answer before the adapter could
 * have finished, and the subscription must hear of the booking afterwards.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, waitFor } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
let db: TestDb;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDb();
  env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  await db?.drop();
});

describe('sales-agent CLI', () => {
  it('seed demo is idempotent and sets the token and adapter latency', async () => {
    const first = await run('node', [cli, 'seed', 'demo', '--token', 'cli-token-1', '--adapter-latency-ms', '2000'], { env });
    expect(first.stdout).toContain('Seeded tenant "demo"');
    const again = await run('node', [cli, 'seed', 'demo'], { env });
    expect(again.stdout).toContain('Buyer token unchanged');
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [r] = await sql`select (select count(*)::int from products where tenant_id = 'demo') as products,
        (select count(*)::int from principals) as principals,
        (select settings->>'latency_ms' from adapter_configs where tenant_id = 'demo') as latency`;
      expect(r).toEqual({ products: expect.any(Number), principals: 1, latency: '2000' });
      expect(r!.products).toBeGreaterThanOrEqual(8);
      const [p] = await sql`select token_hash from principals`;
      expect(p!.token_hash).not.toContain('cli-token-1'); // stored hashed
    } finally {
      await sql.end();
    }
    await expect(run('node', [cli, 'seed', 'demo', '--approval', 'sometimes'], { env })).rejects.toMatchObject({ code: 2 });
  });

  it.each([
    [['serve', '--bogus']],
    [['serve', '--port']],
    [['worker', '--concurrency', '32']],
    [['migrate', '--dry-run']],
    [['seed', 'demo', 'extra']],
    [['admin', 'create-user', '--bogus']],
  ])('refuses %j with the usage and exit code 2, running nothing', async (args) => {
    const err = await run('node', [cli, ...args], { env, timeout: 20_000 }).then(() => undefined, (e: { code?: number; stderr?: string }) => e);
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('Usage:');
    expect(err?.stderr).not.toContain('    at '); // a message, not a stack trace
  });

  it('says plainly, without a stack, when DATABASE_URL names a database that does not exist or a port where nothing listens', async () => {
    const url = new URL(db.url);
    const missing = Object.assign(new URL(url), { pathname: '/sa_no_such_database' }).toString();
    const closed = Object.assign(new URL(url), { port: '1' }).toString();
    for (const [target, said] of [[missing, /database "sa_no_such_database" does not exist \(3D000\)\. Check DATABASE_URL/], [closed, /ECONNREFUSED.*Check DATABASE_URL: is Postgres running/]] as const) {
      const err = await run('node', [cli, 'migrate'], { env: { ...env, DATABASE_URL: target }, timeout: 40_000 }).then(() => undefined, (e: { code?: number; stderr?: string }) => e);
      expect(err?.code).toBe(1);
      expect(err?.stderr).toMatch(said);
      expect(err?.stderr).not.toContain('    at ');
    }
  }, 60_000);

  it('says plainly, without a stack, when what DATABASE_URL points at is not Postgres: one that resets the connection, one that never answers as Postgres', async () => {
    const servers = [net.createServer((s) => s.on('error', () => {}).destroy()), net.createServer((s) => s.on('error', () => {}).once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')))];
    const ports = await Promise.all(servers.map((srv) => new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port)))));
    try {
      const said = [/ECONNRESET.*Check DATABASE_URL: is Postgres running/, /no Postgres answered at 127\.0\.0\.1:\d+\/x within 30 s/];
      for (const [i, port] of ports.entries()) {
        const err = await run('node', [cli, 'migrate'], { env: { ...env, DATABASE_URL: `postgres://agent:s3cret@127.0.0.1:${port}/x` }, timeout: 50_000 }).then(() => undefined, (e: { code?: number; stderr?: string }) => e);
        expect(err?.code).toBe(1);
        expect(err?.stderr).toMatch(said[i]!);
        expect(err?.stderr).not.toContain('    at ');
        expect(err?.stderr).not.toContain('s3cret');
      }
    } finally {
      for (const srv of servers) srv.close();
    }
  }, 70_000);

  it('serve answers create_media_buy at once while the adapter takes 2 s, then pushes the booking', async () => {
    const child: ChildProcessWithoutNullStreams = spawn('node', [cli, 'serve', '--port', '0'], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    try {
      const mcpUrl = await waitFor(async () => /serving MCP at (http:\/\/\S+\/mcp)/.exec(out)?.[1], 15_000);
      const client = new Client({ name: 'cli-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: 'Bearer cli-token-1' } } }));
      const updates: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updates.push(n.params.uri);
      });
      await call(client, 'get_products', { brief: 'video' }); // discovery first, as a buyer would; it also warms the catalogue
      const started = performance.now();
      const { isError, data } = await call(client, 'create_media_buy', buyRequest());
      const answeredAfter = performance.now() - started;
      expect(isError).toBe(false);
      // The adapter takes 2,000 ms; an answer well before that proves it was not called inline.
      expect(answeredAfter).toBeLessThan(1000);
      const uri = `media-buy://${data.media_buy_id}`;
      await client.subscribeResource({ uri });
      const read = async () => JSON.parse(((await client.readResource({ uri })).contents[0] as { text: string }).text);
      expect((await read()).fulfilment[0].state).toBe('queued');
      await waitFor(async () => updates.includes(uri) && (await read()).fulfilment[0].state === 'booked', 15_000, 100);
      await client.close();
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
