/**
 * `sales-agent admin create-user` as a publisher runs it, then the printed
 * one-time password signing in to the console of `sales-agent serve`; and
 * `sales-agent admin rotate-signing-key`.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/app.js';
import { Browser } from '../helpers/console.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const run = promisify(execFile);
const cli = path.resolve(import.meta.dirname, '../../dist/cli.js');
let db: TestDb;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDb();
  env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
  await run('node', [cli, 'seed', 'demo', '--token', 'console-cli-token'], { env });
});
afterAll(async () => {
  await db?.drop();
});

describe('sales-agent admin create-user', () => {
  it('prints a one-time password that signs in once and must be replaced', async () => {
    const { stdout } = await run('node', [cli, 'admin', 'create-user', '--tenant', 'demo', '--email', 'Boss@Demo.example', '--role', 'admin'], { env });
    const password = /One-time password[^:]*: (\S+)/.exec(stdout)?.[1];
    expect(password).toMatch(/^\S{20}$/);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [op] = await sql`select email, role, password_hash, must_change_password from operators where email = 'boss@demo.example'`;
      expect(op).toMatchObject({ email: 'boss@demo.example', role: 'admin', must_change_password: true });
      expect(op!.password_hash).not.toContain(password);
    } finally {
      await sql.end();
    }
    await expect(run('node', [cli, 'admin', 'create-user', '--tenant', 'demo', '--email', 'boss@demo.example'], { env })).rejects.toMatchObject({ code: 2 });
    await expect(run('node', [cli, 'admin', 'create-user', '--tenant', 'nope', '--email', 'x@demo.example'], { env })).rejects.toMatchObject({ code: 2 });
    await expect(run('node', [cli, 'admin', 'create-user', '--tenant', 'demo', '--email', 'x@demo.example', '--role', 'owner'], { env })).rejects.toMatchObject({ code: 2 });
    // disable-user ends an operator's access (here one made for it); an unknown or already disabled one is an error.
    await run('node', [cli, 'admin', 'create-user', '--tenant', 'demo', '--email', 'gone@demo.example', '--role', 'viewer'], { env });
    const disabled = await run('node', [cli, 'admin', 'disable-user', '--tenant', 'demo', '--email', 'Gone@Demo.example'], { env });
    expect(disabled.stdout).toContain('Disabled gone@demo.example');
    await expect(run('node', [cli, 'admin', 'disable-user', '--tenant', 'demo', '--email', 'gone@demo.example'], { env })).rejects.toMatchObject({ code: 2 });

    const child = spawn('node', [cli, 'serve', '--port', '0'], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    try {
      const base = await waitFor(async () => /serving MCP at (http:\/\/\S+)\/mcp/.exec(out)?.[1], 15_000);
      const b = new Browser(base);
      const res = await b.login('boss@demo.example', password!);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/admin/password');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 60_000); // two CLI processes start, a server among them
});

describe('sales-agent admin rotate-signing-key', () => {
  it('retires the active key and prints the new one', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const first = await run('node', [cli, 'admin', 'rotate-signing-key', '--tenant', 'demo'], { env });
      const kid1 = /signed with key (\S+) from now on/.exec(first.stdout)?.[1];
      expect(kid1).toBeTruthy();
      const second = await run('node', [cli, 'admin', 'rotate-signing-key', '--tenant', 'demo'], { env });
      const kid2 = /signed with key (\S+) from now on/.exec(second.stdout)?.[1];
      expect(second.stdout).toContain(`Key ${kid1} is retired`);
      const keys = await sql`select kid, retired_at from signing_keys where tenant_id = 'demo' order by created_at`;
      expect(keys.map((k) => [k.kid, k.retired_at === null])).toEqual([
        [kid1, false],
        [kid2, true],
      ]);
      const audit = await sql`select actor, target from audit_log where operation = 'signing_key.rotate' order by id`;
      expect(audit).toEqual([
        { actor: 'cli', target: kid1 },
        { actor: 'cli', target: kid2 },
      ]);
      const third = await run('node', [cli, 'admin', 'rotate-signing-key', '--tenant', 'demo', '--revoke'], { env });
      expect(third.stdout).toContain(`Key ${kid2} is revoked`);
      const [gone] = await sql`select retired_at < now() - interval '7 days' as unpublished from signing_keys where kid = ${kid2!}`;
      expect(gone!.unpublished).toBe(true);
      await expect(run('node', [cli, 'admin', 'rotate-signing-key', '--tenant', 'nope'], { env })).rejects.toMatchObject({ code: 2 });
    } finally {
      await sql.end();
    }
  }, 60_000); // CLI processes, each booting against the database
});
