/**
 * The postgres.js driver as installed (mended by scripts/patch-postgres.mjs at install): transactions
 * whose backends are terminated under them fail with a connection error the caller can handle. The
 * unmended 3.4.9 threw a TypeError from a timer (socket.write on the closed socket), which exits the
 * process: every replica and worker whose connection Postgres dropped mid-transaction.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers/db.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('postgres.js with connections terminated mid-transaction', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('rejects the queries of a closed connection, never crashes or hangs, and the pool recovers', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, [path.join(root, 'tests/fixtures/terminated-transactions.mjs'), db.url, '3'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).not.toMatch(/TypeError/);
    expect(code, stderr).toBe(0);
    const outcome = JSON.parse(stdout) as { ok: number; rejected: number; hung: number; after: boolean; codes: Record<string, number>; stray: Record<string, number> };
    expect(outcome.hung).toBe(0);
    expect(outcome.ok).toBeGreaterThan(0);
    // The terminations did land mid-transaction, and surfaced as connection errors.
    expect(outcome.rejected).toBeGreaterThan(0);
    expect(Object.keys(outcome.codes).every((c) => /^(CONNECTION_CLOSED|CONNECTION_DESTROYED|ECONNRESET|EPIPE|57P01)$/.test(c)), JSON.stringify(outcome.codes)).toBe(true);
    expect(outcome.after).toBe(true);
    // Rejections the driver left unhandled (the CLI logs them) are connection errors too, if any.
    expect(Object.keys(outcome.stray).every((c) => /^(CONNECTION_CLOSED|CONNECTION_DESTROYED|ECONNRESET|EPIPE|57P01)$/.test(c)), JSON.stringify(outcome.stray)).toBe(true);
  });
});
