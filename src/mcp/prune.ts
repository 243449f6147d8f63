/**
 * Retention of MCP protocol state, pruned on write: at most once a minute per
 * process, whatever writes an event, a task or a session also deletes (in
 * bounded batches, off the caller's path) the events older than the retention
 * window, expired tasks and sessions unused for a week (anonymous ones, for an hour). With several replicas
 * the deletes simply share the work.
 */
import type { Database } from '../db/client.js';
import { pruneMcpEvents } from '../db/queries/mcp-events.js';
import { pruneMcpSessions } from '../db/queries/mcp-sessions.js';
import { pruneExpiredMcpTasks } from '../db/queries/mcp-tasks.js';

export const MCP_RETENTION = {
  /** How long a disconnected client may take to come back and still get what it missed. */
  eventsSeconds: 24 * 3600,
  /** A session nobody took over or changed for this long can no longer move replicas. */
  sessionsSeconds: 7 * 24 * 3600,
  /** The same for an anonymous session: it subscribes to nothing, and anyone can open thousands. */
  anonymousSessionsSeconds: 3600,
  everyMs: 60_000,
};

const lastRun = new WeakMap<Database, number>();

export function maybePruneMcpState(database: Database, now = Date.now()): void {
  if (now - (lastRun.get(database) ?? 0) < MCP_RETENTION.everyMs) return;
  lastRun.set(database, now);
  void pruneMcpState(database).catch(() => {
    // Best effort: the next write a minute later tries again.
  });
}

export async function pruneMcpState(database: Database): Promise<{ events: number; tasks: number; sessions: number }> {
  const [events, tasks, sessions] = await Promise.all([
    pruneMcpEvents(database.db, { olderThanSeconds: MCP_RETENTION.eventsSeconds }),
    pruneExpiredMcpTasks(database.db),
    pruneMcpSessions(database.db, { olderThanSeconds: MCP_RETENTION.sessionsSeconds, anonymousOlderThanSeconds: MCP_RETENTION.anonymousSessionsSeconds }),
  ]);
  return { events, tasks, sessions };
}
