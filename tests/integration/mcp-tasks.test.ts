/**
 * MCP tasks (2025-11-25, the SDK's experimental.tasks) for create_media_buy and
 * update_media_buy: the task is the buy's workflow step, kept in Postgres, so a
 * second replica on the same database answers tasks/get, tasks/result and
 * tasks/list for it, and the session that created it hears
 * notifications/tasks/status when a worker elsewhere finishes.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema, ErrorCode, McpError, TaskStatusNotificationSchema, type Task } from '@modelcontextprotocol/sdk/types.js';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type RunningApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { mcpTasks, principals } from '../../src/db/schema/index.js';
import { hashToken } from '../../src/domain/ids.js';
import { createLogger } from '../../src/logger.js';
import { startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { rejectMediaBuy } from '../../src/services/approval.js';
import { buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

const RELATED = 'io.modelcontextprotocol/related-task';

/** Another replica of the agent on the same database. */
async function replica(t: TestApp, worker: boolean): Promise<{ app: RunningApp; http: HttpServer; close(): Promise<void> }> {
  const config = { ...loadConfig({ DATABASE_URL: t.db.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' }), workerConcurrency: 4, dbPoolSize: 5 };
  const app = await bootApp(config, createLogger(config.logLevel, { test: true }), { worker });
  const http = await startHttpServer(app.services, { host: '127.0.0.1', port: 0 });
  return { app, http, close: async () => (await http.close(), await app.close()) };
}

async function clientAt(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'task-buyer', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/** tools/call augmented with a task, as the spec's wire format has it. */
function callAsTask(client: Client, name: string, args: Record<string, unknown>, task: { ttl?: number } = {}) {
  return client.request({ method: 'tools/call', params: { name, arguments: args, task } }, CreateTaskResultSchema);
}

async function readJson(client: Client, uri: string): Promise<{ fulfilment: { state: string }[] }> {
  return JSON.parse((await client.readResource({ uri })).contents.map((c) => ('text' in c ? c.text : ''))[0]!);
}

function statusNotes(client: Client): Task[] {
  const seen: Task[] = [];
  client.setNotificationHandler(TaskStatusNotificationSchema, (n) => void seen.push(n.params as Task));
  return seen;
}

describe('MCP tasks on one replica', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ worker: true, adapterLatencyMs: 300 });
  });
  afterAll(async () => t?.close());

  it('advertises tasks, and task support only on create_media_buy and update_media_buy', async () => {
    const client = await memoryClient(t);
    expect(client.getServerCapabilities()?.tasks).toEqual({ list: {}, requests: { tools: { call: {} } } });
    const { tools } = await client.listTools();
    const withTasks = tools.filter((x) => x.execution?.taskSupport).map((x) => [x.name, x.execution!.taskSupport]);
    expect(withTasks).toEqual([
      ['create_media_buy', 'optional'],
      ['update_media_buy', 'optional'],
    ]);
    await client.close();
  });

  it('runs create_media_buy as a task that is its workflow step, follows it to completed and notifies the session', async () => {
    const client = await memoryClient(t);
    const notes = statusNotes(client);
    const messages = [];
    for await (const m of client.experimental.tasks.callToolStream({ name: 'create_media_buy', arguments: buyRequest({ context: { trace: 'tasks-1' } }) }, CallToolResultSchema, { task: { ttl: 60_000 } })) messages.push(m);

    const created = messages[0]!;
    expect(created.type).toBe('taskCreated');
    const task = (created as { task: Task }).task;
    expect(task).toMatchObject({ status: 'working', ttl: 60_000, pollInterval: 1000, statusMessage: 'Booking the order at the ad server.' });
    const last = messages.at(-1)!;
    expect(last.type).toBe('result');
    const result = (last as { result: { structuredContent: Record<string, unknown>; isError?: boolean; _meta?: Record<string, unknown> } }).result;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ media_buy_id: expect.stringMatching(/^mb_/), task_id: task.taskId, context: { trace: 'tasks-1' } });
    expect(result._meta?.[RELATED]).toEqual({ taskId: task.taskId });
    // The MCP task id is the AdCP task id: the AdCP tasks/get tool knows it too.
    const adcp = await call(client, 'tasks/get', { task_id: task.taskId });
    expect(adcp.data).toMatchObject({ task_id: task.taskId, task_type: 'create_media_buy', status: 'completed' });
    // The buy was booked at the ad server before the task completed.
    expect((await readJson(client, `media-buy://${String(result.structuredContent.media_buy_id)}`)).fulfilment[0]!.state).toBe('booked');
    await waitFor(async () => notes.find((n) => n.taskId === task.taskId && n.status === 'completed'));
    expect(notes.filter((n) => n.taskId === task.taskId).map((n) => n.status)).toEqual(['completed']);
    await client.close();
  });

  it('answers a refused call with a failed task whose result is the AdCP error', async () => {
    const client = await memoryClient(t);
    const { task, _meta } = await callAsTask(client, 'create_media_buy', buyRequest({ packages: [{ product_id: 'no_such_product', pricing_option_id: 'x', budget: 100 }] }));
    expect(task.status).toBe('failed');
    expect(String(_meta?.['io.modelcontextprotocol/model-immediate-response'])).toContain('errors');
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect((result.structuredContent as { errors: { code: string }[] }).errors[0]!.code).toMatch(/PRODUCT_NOT_FOUND|VALIDATION_ERROR/);
    expect(result._meta?.[RELATED]).toEqual({ taskId: task.taskId });
    await client.close();
  });

  it('refuses task augmentation of a tool without task support with -32601', async () => {
    const client = await memoryClient(t);
    const err = await callAsTask(client, 'get_products', { brief: 'sports' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.MethodNotFound);
    await client.close();
  });

  it('runs update_media_buy as a task that completes once the ad server has the change', async () => {
    const client = await memoryClient(t);
    const buy = await call(client, 'create_media_buy', buyRequest());
    const id = String(buy.data.media_buy_id);
    // Booked first, so the update goes straight to the ad server.
    await waitFor(async () => (await readJson(client, `media-buy://${id}`)).fulfilment[0]!.state === 'booked');
    const { task } = await callAsTask(client, 'update_media_buy', { media_buy_id: id, paused: true, idempotency_key: `pause-${id}` });
    expect(task.status).toBe('working');
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.structuredContent).toMatchObject({ media_buy_id: id, status: 'paused', task_id: task.taskId });
    expect(await client.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'completed', statusMessage: 'Applied at the ad server.' });
    // Replaying the same call finds the same task.
    const again = await callAsTask(client, 'update_media_buy', { media_buy_id: id, paused: true, idempotency_key: `pause-${id}` });
    expect(again.task).toMatchObject({ taskId: task.taskId, status: 'completed' });
    await client.close();
  });

  it("lists the buyer's tasks page by page, and shows another buyer none of them", async () => {
    const client = await memoryClient(t);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await callAsTask(client, 'create_media_buy', buyRequest())).task.taskId);
    const { tasks } = await client.experimental.tasks.listTasks();
    expect(tasks.map((x) => x.taskId)).toEqual(expect.arrayContaining(ids));
    expect(tasks.slice(0, 3).map((x) => x.taskId)).toEqual([...ids].reverse());

    const tokenB = 'tok_tasks_other_buyer';
    await t.app.database.db.insert(principals).values({ id: 'prn_tasks_b', tenantId: 'demo', name: 'Buyer B', tokenHash: hashToken(tokenB), tokenHint: 'tok_task' });
    const other = await memoryClient(t, tokenB);
    expect((await other.experimental.tasks.listTasks()).tasks).toEqual([]);
    const err = await other.experimental.tasks.getTask(ids[0]!).catch((e: unknown) => e);
    expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
    const err2 = await other.experimental.tasks.getTaskResult(ids[0]!, CallToolResultSchema).catch((e: unknown) => e);
    expect((err2 as McpError).code).toBe(ErrorCode.InvalidParams);

    // Buyer B's own tasks, more than a page of them (some created in the same millisecond): each listed once, newest first.
    const rows = Array.from({ length: 75 }, (_, i) => ({
      id: `task_page_${String(i).padStart(3, '0')}`,
      tenantId: 'demo',
      principalId: 'prn_tasks_b',
      toolName: 'create_media_buy',
      status: 'failed',
      pollIntervalMs: 1000,
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(i / 3))),
    }));
    await t.app.database.db.insert(mcpTasks).values(rows);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await other.experimental.tasks.listTasks(cursor);
      seen.push(...page.tasks.map((x) => x.taskId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual(rows.map((r) => r.id).reverse());
    const bad = await other.experimental.tasks.listTasks('not-a-cursor').catch((e: unknown) => e);
    expect((bad as McpError).code).toBe(ErrorCode.InvalidParams);

    // Past its TTL a task is gone, from tasks/get and tasks/list alike.
    await t.app.database.db.update(mcpTasks).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(mcpTasks.id, ids[0]!));
    expect(((await client.experimental.tasks.getTask(ids[0]!).catch((e: unknown) => e)) as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((await client.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)).not.toContain(ids[0]);
    await Promise.all([client.close(), other.close()]);
  });

  it('refuses tasks/cancel on a media-buy task (cancelling is update_media_buy)', async () => {
    const client = await memoryClient(t);
    const { task } = await callAsTask(client, 'create_media_buy', buyRequest());
    const err = await client.experimental.tasks.cancelTask(task.taskId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect(String((err as McpError).message)).toContain('update_media_buy');
    await client.close();
  });
});

describe('MCP tasks with manual approval', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ worker: true, approval: 'manual' });
  });
  afterAll(async () => t?.close());

  it('waits with the seller, then fails with the rejection as its result', async () => {
    const client = await memoryClient(t);
    const notes = statusNotes(client);
    const { task } = await callAsTask(client, 'create_media_buy', buyRequest());
    expect(task).toMatchObject({ status: 'working', statusMessage: "Awaiting the seller's approval." });
    expect((await rejectMediaBuy(t.app.database.db, { tenantId: 'demo', taskId: task.taskId, actor: 'ops@demo', reason: 'no alcohol brands' })).ok).toBe(true);
    const failed = await waitFor(async () => notes.find((n) => n.taskId === task.taskId));
    expect(failed).toMatchObject({ status: 'failed', statusMessage: 'Rejected by the seller: no alcohol brands' });
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect((result.structuredContent as { errors: { code: string; message: string }[] }).errors[0]).toMatchObject({ code: 'POLICY_VIOLATION', message: 'Rejected by the seller: no alcohol brands' });
    await client.close();
  });
});

describe('MCP tasks across replicas', () => {
  let t: TestApp;
  let b: Awaited<ReturnType<typeof replica>>;
  beforeAll(async () => {
    // Replica A serves MCP without a worker; replica B serves MCP and runs the worker.
    t = await startTestApp({ http: true, worker: false, adapterLatencyMs: 400 });
    b = await replica(t, true);
  });
  afterAll(async () => {
    await b?.close();
    await t?.close();
  });

  it('creates on A, reads and awaits on B, and tells the session on A when the worker on B finishes', async () => {
    const onA = await clientAt(t.http!.url, t.token);
    const onB = await clientAt(b.http.url, t.token);
    const notes = statusNotes(onA);
    const { task } = await callAsTask(onA, 'create_media_buy', buyRequest(), { ttl: 120_000 });
    expect(task.status).toBe('working');

    expect(await onB.experimental.tasks.getTask(task.taskId)).toMatchObject({ taskId: task.taskId, status: 'working', ttl: 120_000 });
    // tasks/result on B blocks until the task is final.
    const result = await onB.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ media_buy_id: expect.stringMatching(/^mb_/), task_id: task.taskId, confirmed_at: expect.any(String) });
    expect((await onB.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)).toContain(task.taskId);

    const done = await waitFor(async () => notes.find((n) => n.taskId === task.taskId && n.status === 'completed'));
    expect(done.lastUpdatedAt >= task.createdAt).toBe(true);
    await Promise.all([onA.close(), onB.close()]);
  });
});
