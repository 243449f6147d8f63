/**
 * MCP tasks for one session: a task-augmented tools/call runs the tool as any
 * call does (it writes and returns at once) and answers with the task, whose
 * id is the workflow step the call wrote. The session then hears
 * notifications/tasks/status as the step moves: the worker's pg_notify, from
 * whichever process it runs in, reaches this process's hub, and the watch
 * re-reads the task from Postgres and sends what changed.
 */
import type { CreateTaskResult, Task } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, McpError, type CallToolRequest } from '@modelcontextprotocol/sdk/types.js';
import { createStepOfMediaBuy, listOpenSessionTasks, type McpTaskView, type TaskScope } from '../db/queries/mcp-tasks.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { ToolContext } from './context.js';
import { invokeTool, type ToolDef } from './define-tool.js';
import { mediaBuyUri, type NotificationHub, type Subscriber } from './notify.js';
import { isFinal, PgTaskStore, toTask } from './task-store.js';

/** What a host may hand the model at once while the task runs (MCP 2025-11-25, tasks). */
const IMMEDIATE_RESPONSE = 'io.modelcontextprotocol/model-immediate-response';

interface Watched {
  mediaBuyId: string;
  status: string;
  message: string | undefined;
}

export class SessionTasks {
  readonly store: PgTaskStore;
  private readonly watched = new Map<string, Watched>();
  private readonly subscribers = new Map<string, Subscriber>();
  /** Checks run one at a time, so two quick changes are reported in order and once each. */
  private checks: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly deps: { database: Database; hub: NotificationHub; logger: Logger },
    private readonly scope: () => Promise<TaskScope | undefined>,
    private readonly notify: (task: Task) => Promise<void>,
  ) {
    this.store = new PgTaskStore(deps.database, scope);
  }

  /** tools/call with `task`: run the tool, answer with its task. */
  async call(tool: ToolDef, params: CallToolRequest['params'], ctx: ToolContext, extra: { sessionId?: string; requestId: string | number }): Promise<CreateTaskResult> {
    if (!tool.taskSupport) throw new McpError(ErrorCode.MethodNotFound, `Tool ${params.name} does not run as a task: call it without "task".`);
    if (!params.task) throw new McpError(ErrorCode.MethodNotFound, `Tool ${params.name} must be called as a task (send "task": {}).`);
    const result = await invokeTool(tool, params.arguments, ctx);
    const text = result.content?.[0]?.type === 'text' ? result.content[0].text : undefined;
    if (!ctx.tenant || !ctx.principal) {
      // No buyer to bind a task to: the tool refused the call, say so directly.
      throw new McpError(ErrorCode.InvalidRequest, `${params.name} requires an authenticated buyer.`);
    }
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    const data = (result.structuredContent ?? {}) as Record<string, unknown>;
    const stepId = result.isError
      ? undefined
      : typeof data.task_id === 'string'
        ? data.task_id
        : typeof data.media_buy_id === 'string'
          ? await createStepOfMediaBuy(this.deps.database.db, { ...scope, mediaBuyId: data.media_buy_id })
          : undefined;
    let task: Task;
    if (stepId) {
      const view = await this.store.createForStep(params.task, { stepId, toolName: tool.name, sessionId: extra.sessionId });
      task = toTask(view);
      if (!isFinal(task.status) && view.step?.mediaBuyId) this.watch(view, scope, { checkNow: true });
    } else {
      // Nothing was written (the call was refused): the task is over before it starts.
      const created = await this.store.createTask(params.task, extra.requestId, { method: 'tools/call', params }, extra.sessionId);
      await this.store.storeTaskResult(created.taskId, result.isError ? 'failed' : 'completed', result);
      task = (await this.store.getTask(created.taskId))!;
    }
    return { task, ...(text && { _meta: { [IMMEDIATE_RESPONSE]: text } }) };
  }

  /** A session taken over from another replica: watch its open tasks again and report changes made since `since`. */
  async resume(sessionId: string, since: Date): Promise<void> {
    const scope = await this.scope();
    if (!scope) return;
    for (const view of await listOpenSessionTasks(this.deps.database.db, { ...scope, sessionId })) {
      const task = toTask(view);
      if (!isFinal(task.status) && view.step?.mediaBuyId) this.watch(view, scope, { checkNow: false });
      if (new Date(task.lastUpdatedAt) > since) await this.send(task);
    }
  }

  close(): void {
    this.closed = true;
    for (const [id, sub] of this.subscribers) this.deps.hub.unsubscribe(mediaBuyUri(id), sub);
    this.subscribers.clear();
    this.watched.clear();
  }

  private watch(view: McpTaskView, scope: TaskScope, opts: { checkNow: boolean }): void {
    if (this.closed) return;
    const mediaBuyId = view.step!.mediaBuyId!;
    const task = toTask(view);
    this.watched.set(view.id, { mediaBuyId, status: task.status, message: task.statusMessage });
    if (!this.subscribers.has(mediaBuyId)) {
      const sub: Subscriber = { ...scope, resourceUpdated: async () => this.check(mediaBuyId) };
      this.subscribers.set(mediaBuyId, sub);
      this.deps.hub.subscribe(mediaBuyUri(mediaBuyId), sub);
    }
    // The worker may have moved the step before the subscription was in place.
    if (opts.checkNow) void this.check(mediaBuyId);
  }

  private check(mediaBuyId: string): Promise<void> {
    const run = async () => {
      for (const [taskId, w] of this.watched) {
        if (w.mediaBuyId !== mediaBuyId || this.closed) continue;
        const view = await this.store.view(taskId);
        const task = view ? toTask(view) : undefined;
        if (task && (task.status !== w.status || task.statusMessage !== w.message)) {
          w.status = task.status;
          w.message = task.statusMessage;
          await this.send(task);
        }
        if (!task || isFinal(task.status)) this.unwatch(taskId);
      }
    };
    const next = this.checks.then(run).catch((err: unknown) => this.deps.logger.debug('task status check failed', { media_buy_id: mediaBuyId, error: err }));
    this.checks = next;
    return next;
  }

  private unwatch(taskId: string): void {
    const w = this.watched.get(taskId);
    if (!w) return;
    this.watched.delete(taskId);
    if ([...this.watched.values()].some((o) => o.mediaBuyId === w.mediaBuyId)) return;
    const sub = this.subscribers.get(w.mediaBuyId);
    if (sub) this.deps.hub.unsubscribe(mediaBuyUri(w.mediaBuyId), sub);
    this.subscribers.delete(w.mediaBuyId);
  }

  private async send(task: Task): Promise<void> {
    await this.notify(task).catch((err: unknown) => this.deps.logger.debug('task status not delivered', { task_id: task.taskId, error: err }));
  }
}
