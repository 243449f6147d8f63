/**
 * The MCP SDK's TaskStore on Postgres, so tasks/get, tasks/result and
 * tasks/list answer the same on every replica. A store serves one MCP server
 * (one session) and sees only its buyer's tasks: tasks are bound to the
 * authorization context (tenant and principal), not to the session, so the
 * buyer can read a task from a new session on another replica.
 *
 * A media-buy task is the workflow step the tool wrote (same id, the AdCP
 * task_id): its MCP status and its result are read from the step and the
 * media buy, never copied. Only tasks without a step keep a status and result
 * of their own (a call refused before anything was written).
 */
import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import { ErrorCode, McpError, type Request, type RequestId, type Result, type Task } from '@modelcontextprotocol/sdk/types.js';
import type { Database } from '../db/client.js';
import { getMcpTask, insertMcpTask, listMcpTasks, setMcpTaskStatus, type McpTaskView, type TaskScope } from '../db/queries/mcp-tasks.js';
import { getMediaBuy } from '../db/queries/media-buys.js';
import { newId } from '../domain/ids.js';
import { toAdcpMediaBuy } from '../domain/media-buy-view.js';
import { errorResult, successResult } from './define-tool.js';
import { maybePruneMcpState } from './prune.js';

type TaskStatus = Task['status'];

export const TASK_TTL = { defaultMs: 24 * 3600_000, maxMs: 30 * 24 * 3600_000 };
export const TASK_POLL = { defaultMs: 1000, minMs: 250, maxMs: 60_000 };
const PAGE_SIZE = 50;

const FINAL: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);
export const isFinal = (s: string) => FINAL.has(s);

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(v)));

/** The receiver decides: any requested TTL is kept within bounds, and "unlimited" becomes the maximum. */
function ttlOf(p: CreateTaskOptions): number {
  return typeof p.ttl === 'number' && p.ttl > 0 ? clamp(p.ttl, 1000, TASK_TTL.maxMs) : TASK_TTL.defaultMs;
}
function pollOf(p: CreateTaskOptions): number {
  return typeof p.pollInterval === 'number' ? clamp(p.pollInterval, TASK_POLL.minMs, TASK_POLL.maxMs) : TASK_POLL.defaultMs;
}

function statusOf(v: McpTaskView): TaskStatus {
  if (v.status) return v.status as TaskStatus;
  switch (v.step?.status) {
    case 'completed':
      return 'completed';
    case 'failed':
    case 'rejected':
      return 'failed';
    case 'canceled':
      return 'cancelled';
    default:
      return 'working';
  }
}

function messageOf(v: McpTaskView): string | undefined {
  if (v.statusMessage) return v.statusMessage;
  const s = v.step;
  if (!s || v.status) return undefined;
  const update = s.stepType === 'update_media_buy';
  switch (s.status) {
    case 'requires_approval':
      return "Awaiting the seller's approval.";
    case 'pending':
    case 'in_progress':
      return update ? 'Applying the change at the ad server.' : 'Booking the order at the ad server.';
    case 'completed':
      return update ? 'Applied at the ad server.' : 'Booked at the ad server.';
    case 'canceled':
      return 'Canceled before it was carried out.';
    default:
      return typeof s.error?.message === 'string' ? s.error.message : 'The task failed.';
  }
}

export function toTask(v: McpTaskView): Task {
  const updated = v.step && v.step.updatedAt > v.updatedAt ? v.step.updatedAt : v.updatedAt;
  const message = messageOf(v);
  return {
    taskId: v.id,
    status: statusOf(v),
    ttl: v.ttlMs,
    createdAt: v.createdAt.toISOString(),
    lastUpdatedAt: updated.toISOString(),
    pollInterval: v.pollIntervalMs,
    ...(message && { statusMessage: message }),
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
  ) {}

  private async mustScope(): Promise<TaskScope> {
    const s = await this.scope();
    if (!s) throw new McpError(ErrorCode.InvalidRequest, 'Tasks need an authenticated buyer.');
    return s;
  }

  async view(taskId: string): Promise<McpTaskView | undefined> {
    const s = await this.scope();
    return s && getMcpTask(this.database.db, { ...s, id: taskId });
  }

  /** A task whose own status and result this store keeps (no workflow step behind it). */
  async createTask(params: CreateTaskOptions, _requestId: RequestId, request: Request, sessionId?: string): Promise<Task> {
    const s = await this.mustScope();
    const name = (request.params as { name?: unknown } | undefined)?.name;
    const id = newId('task');
    await insertMcpTask(this.database.db, {
      ...s,
      id,
      toolName: typeof name === 'string' ? name : request.method,
      workflowStepId: null,
      status: 'working',
      ttlMs: ttlOf(params),
      pollIntervalMs: pollOf(params),
      sessionId: sessionId ?? null,
    });
    maybePruneMcpState(this.database);
    return toTask((await this.view(id))!);
  }

  /** The task for a workflow step a tool call wrote. A replayed call finds the task its first call made. */
  async createForStep(params: CreateTaskOptions, p: { stepId: string; toolName: string; sessionId?: string }): Promise<McpTaskView> {
    const s = await this.mustScope();
    await insertMcpTask(this.database.db, {
      ...s,
      id: p.stepId,
      toolName: p.toolName,
      workflowStepId: p.stepId,
      status: null,
      ttlMs: ttlOf(params),
      pollIntervalMs: pollOf(params),
      sessionId: p.sessionId ?? null,
    });
    maybePruneMcpState(this.database);
    const v = await this.view(p.stepId);
    if (!v) throw notFound(p.stepId);
    return v;
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
    if (v.result) return v.result as Result;
    const step = v.step;
    if (!step) throw new McpError(ErrorCode.InvalidParams, `Task ${taskId} has no result yet.`);
    const context = step.request?.context && typeof step.request.context === 'object' ? (step.request.context as Record<string, unknown>) : undefined;
    const status = statusOf(v);
    if (status === 'completed') {
      // What the call answers once the ad server has the order: the buy as it now stands.
      const s = (await this.scope())!;
      const buy = step.mediaBuyId ? await getMediaBuy(this.database.db, { ...s, id: step.mediaBuyId }) : undefined;
      // The call's response echoes its idempotency_key; so does its task's result.
      const key = typeof step.request?.idempotency_key === 'string' ? step.request.idempotency_key : undefined;
      return successResult({ ...(buy ? toAdcpMediaBuy(buy) : { media_buy_id: step.mediaBuyId }), task_id: v.id, ...(key && { idempotency_key: key }) }, context);
    }
    if (status === 'cancelled') {
      return errorResult({ code: 'INVALID_STATE', message: messageOf(v) ?? 'Canceled.', recovery: 'terminal', details: { task_id: v.id, media_buy_id: step.mediaBuyId } }, context);
    }
    if (status === 'failed') {
      const code = typeof step.error?.code === 'string' ? step.error.code : 'SERVICE_UNAVAILABLE';
      return errorResult({ code, message: messageOf(v) ?? 'The task failed.', recovery: 'terminal', details: { task_id: v.id, media_buy_id: step.mediaBuyId } }, context);
    }
    throw new McpError(ErrorCode.InvalidParams, `Task ${taskId} has no result yet.`);
  }

  async updateTaskStatus(taskId: string, status: TaskStatus, statusMessage?: string): Promise<void> {
    const v = await this.view(taskId);
    if (!v) throw notFound(taskId);
    if (v.step && !v.status) {
      // The media buy decides; cancelling one is a business action with its own tool.
      throw new McpError(
        ErrorCode.InvalidParams,
        status === 'cancelled'
          ? `Task ${taskId} follows its media buy and ends with it: cancel the buy with update_media_buy (canceled: true).`
          : `Task ${taskId} follows its media buy; its status cannot be set.`,
      );
    }
    const s = (await this.scope())!;
    if (!(await setMcpTaskStatus(this.database.db, { ...s, id: taskId, status, statusMessage: statusMessage ?? null }))) {
      throw new McpError(ErrorCode.InvalidParams, `Cannot move task ${taskId} from a final status.`);
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
