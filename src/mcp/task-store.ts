/**
 * The MCP SDK's TaskStore on Postgres, so tasks/get, tasks/result and
 * tasks/list answer the same on every replica. A store serves one MCP server
 * (one session) and sees only its buyer's tasks: tasks are bound to the
 * authorization context (tenant and principal), not to the session, so the
 * buyer can read a task from a new session on another replica.
 *
 * A task-augmented call of our tools is recorded completed at once, with the
 * call's CallToolResult (record()); the other TaskStore methods serve the SDK.
 */
import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import { ErrorCode, McpError, type Request, type RequestId, type Result, type Task } from '@modelcontextprotocol/sdk/types.js';
import type { Database } from '../db/client.js';
import { getMcpTask, insertMcpTask, listMcpTasks, setMcpTaskStatus, type McpTaskView, type TaskScope } from '../db/queries/mcp-tasks.js';
import { newId } from '../domain/ids.js';
import type { Logger } from '../logger.js';
import { guarded } from './guard.js';
import { maybePruneMcpState } from './prune.js';

type TaskStatus = Task['status'];

/** maxMs stays within mcp_tasks.ttl_ms (integer: 2^31 - 1 ms is 24.8 days); a longer ask is clamped to it. */
export const TASK_TTL = { defaultMs: 24 * 3600_000, maxMs: 24 * 24 * 3600_000 };
export const TASK_POLL = { defaultMs: 1000, minMs: 250, maxMs: 60_000 };
const PAGE_SIZE = 50;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(v)));

/** The receiver decides: any requested TTL is kept within bounds, and "unlimited" becomes the maximum. */
function ttlOf(p: CreateTaskOptions): number {
  return typeof p.ttl === 'number' && p.ttl > 0 ? clamp(p.ttl, 1000, TASK_TTL.maxMs) : TASK_TTL.defaultMs;
}
function pollOf(p: CreateTaskOptions): number {
  return typeof p.pollInterval === 'number' ? clamp(p.pollInterval, TASK_POLL.minMs, TASK_POLL.maxMs) : TASK_POLL.defaultMs;
}

export function toTask(v: McpTaskView): Task {
  return {
    taskId: v.id,
    status: v.status as TaskStatus,
    ttl: v.ttlMs,
    createdAt: v.createdAt.toISOString(),
    lastUpdatedAt: v.updatedAt.toISOString(),
    pollInterval: v.pollIntervalMs,
    ...(v.statusMessage && { statusMessage: v.statusMessage }),
  };
}

const encodeCursor = (v: McpTaskView) => Buffer.from(JSON.stringify([v.createdAt.toISOString(), v.id])).toString('base64url');
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (typeof id === 'string' && !Number.isNaN(createdAt.getTime())) return { createdAt, id };
  } catch {
    // fall through
  }
  throw new McpError(ErrorCode.InvalidParams, 'Invalid cursor: use the nextCursor of a previous tasks/list answer.');
}

const notFound = (taskId: string) => new McpError(ErrorCode.InvalidParams, `Failed to retrieve task: Task not found (${taskId})`);

export class PgTaskStore implements TaskStore {
  constructor(
    private readonly database: Database,
    /** The buyer this store serves; undefined for an anonymous session, which has no tasks. */
    private readonly scope: () => Promise<TaskScope | undefined>,
    logger: Logger,
  ) {
    // What the SDK calls answers an unexpected failure with a generic error (see guard.ts); reads run again on a broken connection.
    this.getTask = guarded(logger, 'tasks/get', this.getTask.bind(this), { repeatable: true });
    this.getTaskResult = guarded(logger, 'tasks/result', this.getTaskResult.bind(this), { repeatable: true });
    this.listTasks = guarded(logger, 'tasks/list', this.listTasks.bind(this), { repeatable: true });
    this.createTask = guarded(logger, 'tasks: create', this.createTask.bind(this), { repeatable: false });
    this.storeTaskResult = guarded(logger, 'tasks: store result', this.storeTaskResult.bind(this), { repeatable: false });
    this.updateTaskStatus = guarded(logger, 'tasks: update status', this.updateTaskStatus.bind(this), { repeatable: false });
  }

  private async mustScope(): Promise<TaskScope> {
    const s = await this.scope();
    if (!s) throw new McpError(ErrorCode.InvalidRequest, 'Tasks need an authenticated buyer.');
    return s;
  }

  /** A finished tool call as a task of `scope`, completed from the start: its result is the call's result. */
  async record(scope: TaskScope, params: CreateTaskOptions, call: { toolName: string; result: Result; statusMessage?: string }): Promise<Task> {
    const view = await insertMcpTask(this.database.db, {
      ...scope,
      id: newId('mcptask'),
      toolName: call.toolName,
      status: 'completed',
      statusMessage: call.statusMessage ?? null,
      result: call.result as Record<string, unknown>,
      ttlMs: ttlOf(params),
      pollIntervalMs: pollOf(params),
    });
    maybePruneMcpState(this.database);
    return toTask(view);
  }

  async createTask(params: CreateTaskOptions, _requestId: RequestId, request: Request): Promise<Task> {
    const s = await this.mustScope();
    const name = (request.params as { name?: unknown } | undefined)?.name;
    const view = await insertMcpTask(this.database.db, {
      ...s,
      id: newId('mcptask'),
      toolName: typeof name === 'string' ? name : request.method,
      status: 'working',
      ttlMs: ttlOf(params),
      pollIntervalMs: pollOf(params),
    });
    maybePruneMcpState(this.database);
    return toTask(view);
  }

  private async view(taskId: string): Promise<McpTaskView | undefined> {
    const s = await this.scope();
    return s && getMcpTask(this.database.db, { ...s, id: taskId });
  }

  async getTask(taskId: string): Promise<Task | null> {
    const v = await this.view(taskId);
    return v ? toTask(v) : null;
  }

  async storeTaskResult(taskId: string, status: 'completed' | 'failed', result: Result): Promise<void> {
    const s = await this.mustScope();
    const stored = await setMcpTaskStatus(this.database.db, { ...s, id: taskId, status, result: result as Record<string, unknown> });
    if (!stored) throw new McpError(ErrorCode.InvalidParams, `Cannot store a result for task ${taskId}: not found or already final.`);
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const v = await this.view(taskId);
    if (!v) throw notFound(taskId);
    if (!v.result) throw new McpError(ErrorCode.InvalidParams, `Task ${taskId} has no result yet.`);
    return v.result as Result;
  }

  async updateTaskStatus(taskId: string, status: TaskStatus, statusMessage?: string): Promise<void> {
    const s = await this.mustScope();
    if (!(await setMcpTaskStatus(this.database.db, { ...s, id: taskId, status, statusMessage: statusMessage ?? null }))) {
      throw (await this.view(taskId)) ? new McpError(ErrorCode.InvalidParams, `Cannot move task ${taskId} from a final status.`) : notFound(taskId);
    }
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const s = await this.scope();
    const after = cursor ? decodeCursor(cursor) : undefined;
    if (!s) return { tasks: [] };
    const rows = await listMcpTasks(this.database.db, { ...s, after, limit: PAGE_SIZE + 1 });
    const page = rows.slice(0, PAGE_SIZE);
    return { tasks: page.map(toTask), ...(rows.length > PAGE_SIZE && { nextCursor: encodeCursor(page.at(-1)!) }) };
  }
}
