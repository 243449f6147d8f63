/**
 * The agent as separate OS processes (dist/cli.js), for tests about processes:
 * spawn `serve` and `worker`, wait on them, stop or kill them. Call killAll in
 * an afterAll so that no child outlives its test file. Needs `npm run build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type postgres from 'postgres';
import { expect } from 'vitest';
import { TEST_SECRET_KEY, waitFor } from './app.js';

const cli = path.resolve(import.meta.dirname, '../../dist/cli.js');

// ---------------------------------------------------------------- child processes

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  name: string;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited(): boolean;
  exit: Promise<Exit>;
  /** Send a signal and wait (bounded) for the process to go; SIGKILL if it does not. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

/** Every child this file started; afterAll kills whatever is left. */
const children = new Set<Proc>();

export function spawnCli(name: string, args: string[], env: Record<string, string>): Proc {
  const base: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[k]) base[k] = process.env[k]!;
  // The key test apps use: a child on a database an in-process app sealed secrets in can open them.
  const child: ChildProcess = spawn(process.execPath, [cli, ...args], { env: { ...base, LOG_LEVEL: 'warn', SALES_AGENT_SECRET_KEY: TEST_SECRET_KEY, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let done = false;
  child.stdout!.on('data', (d) => (out += d.toString()));
  child.stderr!.on('data', (d) => (err += d.toString()));
  const exit = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      done = true;
      children.delete(proc);
      resolve({ code, signal });
    }),
  );
  const proc: Proc = {
    name,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited: () => done,
    exit,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (!done) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  children.add(proc);
  return proc;
}

/** waitFor that gives up at once, with its stderr, if the process it waits on has died. */
export function waitOn<T>(proc: Proc, fn: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 25): Promise<T> {
  return waitFor(async () => {
    if (proc.exited()) throw new Error(`${proc.name} exited early:\n${proc.stderr()}`);
    return fn();
  }, timeoutMs, intervalMs);
}

/** `serve --no-worker` on a free port; resolves with its base URL once it listens. */
export async function startServer(name: string, dbUrl: string): Promise<{ proc: Proc; url: string }> {
  const proc = spawnCli(name, ['serve', '--port', '0', '--no-worker'], { DATABASE_URL: dbUrl });
  const url = await waitOn(proc, async () => /serving MCP at (http:\/\/\S+)\/mcp/.exec(proc.stdout())?.[1], 15_000);
  expect(proc.stdout()).not.toContain('worker in-process');
  return { proc, url };
}

/** `worker`; resolves once its pool has registered its heartbeat (it is then taking jobs). */
export async function startWorkerProcess(name: string, dbUrl: string, sql: postgres.Sql, env: Record<string, string> = {}): Promise<Proc> {
  const proc = spawnCli(name, ['worker'], { DATABASE_URL: dbUrl, SALES_AGENT_WORKER_CONCURRENCY: '16', ...env });
  await waitOn(proc, async () => (await sql`select 1 from worker_heartbeats where pid = ${proc.pid}`).length > 0, 15_000);
  return proc;
}

/** SIGKILL whatever children are still running (before their database is dropped). */
export const killAll = () => Promise.all([...children].map((c) => c.stop('SIGKILL')));

