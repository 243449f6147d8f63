/**
 * MCP tasks (2025-11-25, the SDK's experimental.tasks) for create_media_buy and
 * update_media_buy: every task-augmented call gets a task of its own, completed
 * at once with exactly the plain call's result (an AdCP error included), and
 * announced with notifications/tasks/status. Tasks live in Postgres, so a second replica
 * answers tasks/get, tasks/result and tasks/list for them. What follows the
 * call (approval, booking) is watched through AdCP's own tools, not the task.
 */
import { AgentClient } from '@adcp/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  ErrorCode,
  McpError,
  ResourceUpdatedNotificationSchema,
  TaskStatusNotificationSchema,
  type CallToolResult,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import { eq } from 'drizzle-orm';
import { TASK_TTL } from '../../src/mcp/task-store.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type RunningApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { mcpTasks } from '../../src/db/schema/index.js';
import { createLogger } from '../../src/logger.js';
import { startHttpServer, type HttpServer } from '../../src/mcp/http.js';
import { rejectMediaBuy } from '../../src/services/approval.js';
import { addBuyer, buyRequest, call, memoryClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';

const RELATED = 'io.modelcontextprotocol/related-task';
const IMMEDIATE = 'io.modelcontextprotocol/model-immediate-response';

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

/** tasks/result without the related-task metadata the protocol adds: what the tool answered. */
async function taskResult(client: Client, taskId: string): Promise<CallToolResult> {
  const { _meta, ...result } = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
  expect(_meta?.[RELATED]).toEqual({ taskId });
  return result;
}

async function readJson(client: Client, uri: string): Promise<{ fulfilment: { state: string }[] }> {
  return JSON.parse((await client.readResource({ uri })).contents.map((c) => ('text' in c ? c.text : ''))[0]!);
}

function statusNotes(client: Client): Task[] {
  const seen: Task[] = [];
  client.setNotificationHandler(TaskStatusNotificationSchema, (n) => void seen.push(n.params as Task));
  return seen;
}

describe('MCP tasks, with no worker (nothing is ever booked)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ worker: false });
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

  it('completes a create_media_buy task at once with the call’s answer, and says so in one status notification', async () => {
    const client = await memoryClient(t);
    const notes = statusNotes(client);
    const args = buyRequest({ context: { trace: 'tasks-1' } });
    const messages = [];
    for await (const m of client.experimental.tasks.callToolStream({ name: 'create_media_buy', arguments: args }, CallToolResultSchema, { task: { ttl: 60_000 } })) messages.push(m);

    expect(messages.map((m) => m.type)).toEqual(['taskCreated', 'taskStatus', 'result']);
    const task = (messages[0] as { task: Task }).task;
    // Final in the CreateTaskResult already: no waiting for the ad server.
    expect(task).toMatchObject({ taskId: expect.stringMatching(/^mcptask_/), status: 'completed', ttl: 60_000, pollInterval: 1000 });
    expect(await client.experimental.tasks.getTask(task.taskId)).toEqual(task);
    const result = (messages[2] as { result: CallToolResult }).result;
    expect(result.isError).toBeFalsy();
    const body = result.structuredContent as Record<string, unknown>;
    expect(body).toMatchObject({ media_buy_id: expect.stringMatching(/^mb_/), status: 'pending_creatives', idempotency_key: args.idempotency_key, context: { trace: 'tasks-1' } });
    expect(body.replayed).toBeFalsy();
    expect(JSON.parse((result.content as { text: string }[])[0]!.text)).toEqual(body);
    // The buy is stored, its order not booked (no worker runs), and the task is over anyway.
    expect((await readJson(client, `media-buy://${String(body.media_buy_id)}`)).fulfilment[0]!.state).not.toBe('booked');
    expect(notes).toEqual([task]);

    // A plain call with the same key replays that answer; so does a task-augmented one, as a task of its own.
    const plain = await client.callTool({ name: 'create_media_buy', arguments: args });
    expect(plain.structuredContent).toEqual({ ...body, replayed: true });
    const again = await callAsTask(client, 'create_media_buy', args);
    expect(again.task.taskId).not.toBe(task.taskId);
    expect(again.task.status).toBe('completed');
    const { isError, ...replayed } = await taskResult(client, again.task.taskId);
    expect(isError).toBeFalsy();
    expect(replayed).toEqual(plain);
    expect(again._meta?.[IMMEDIATE]).toBe((plain.content as { text: string }[])[0]!.text);
    await waitFor(async () => notes.length === 2);
    expect(notes[1]).toEqual(again.task);
    await client.close();
  });

  it('completes the task of a refused call at once, with the AdCP error a plain call answers as its result', async () => {
    const client = await memoryClient(t);
    const notes = statusNotes(client);
    const args = buyRequest({ packages: [{ product_id: 'no_such_product', pricing_option_id: 'x', budget: 100 }], context: { trace: 'refused' } });
    const { task, _meta } = await callAsTask(client, 'create_media_buy', args);
    const result = await taskResult(client, task.taskId);
    expect(result.isError).toBe(true);
    const error = (result.structuredContent as { adcp_error: { code: string; message: string } }).adcp_error;
    expect(error.code).toMatch(/PRODUCT_NOT_FOUND|VALIDATION_ERROR/);
    // Completed, not failed: the error is the call's answer, which a client fetches as it would any result.
    expect(task).toMatchObject({ status: 'completed', statusMessage: `${error.code}: ${error.message}` });
    expect(String(_meta?.[IMMEDIATE])).toContain('errors');
    expect(result).toEqual(await client.callTool({ name: 'create_media_buy', arguments: args }));
    await waitFor(async () => notes.length === 1);
    expect(notes[0]).toEqual(task);
    await client.close();
  });

  it('completes an update_media_buy task at once; the change at the ad server is followed as the AdCP task', async () => {
    const client = await memoryClient(t);
    const buy = await call(client, 'create_media_buy', buyRequest());
    const id = String(buy.data.media_buy_id);
    const { task } = await callAsTask(client, 'update_media_buy', { media_buy_id: id, paused: true, idempotency_key: `pause-${id}` });
    expect(task.status).toBe('completed');
    const result = await taskResult(client, task.taskId);
    const body = result.structuredContent as { media_buy_id: string; status: string; task_id: string };
    expect(body).toMatchObject({ media_buy_id: id, status: 'pending_creatives', idempotency_key: `pause-${id}` });
    // The AdCP task of the change is another task, still waiting for the ad server (no worker here).
    expect(body.task_id).not.toBe(task.taskId);
    const adcp = await call(client, 'tasks/get', { task_id: body.task_id });
    expect(adcp.data).toMatchObject({ task_id: body.task_id, task_type: 'update_media_buy', status: 'submitted' });
    await client.close();
  });

  it('refuses task augmentation of a tool without task support (-32601), an anonymous caller, and tasks/cancel', async () => {
    const client = await memoryClient(t);
    const err = await callAsTask(client, 'get_products', { brief: 'sports' }).catch((e: unknown) => e);
    expect((err as McpError).code).toBe(ErrorCode.MethodNotFound);

    const anonymous = await memoryClient(t, null);
    const anon = await callAsTask(anonymous, 'create_media_buy', buyRequest()).catch((e: unknown) => e);
    expect((anon as McpError).code).toBe(ErrorCode.InvalidRequest);
    expect((await anonymous.experimental.tasks.listTasks()).tasks).toEqual([]);

    const { task } = await callAsTask(client, 'create_media_buy', buyRequest());
    const cancel = await client.experimental.tasks.cancelTask(task.taskId).catch((e: unknown) => e);
    expect(cancel).toBeInstanceOf(McpError);
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    await Promise.all([client.close(), anonymous.close()]);
  });

  it("lists the buyer's tasks page by page, shows another buyer none of them, and forgets them past their TTL", async () => {
    const client = await memoryClient(t);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await callAsTask(client, 'create_media_buy', buyRequest())).task.taskId);
    const { tasks } = await client.experimental.tasks.listTasks();
    expect(tasks.slice(0, 3).map((x) => x.taskId)).toEqual([...ids].reverse());

    const tokenB = 'tok_tasks_other_buyer';
    await addBuyer(t, { id: 'prn_tasks_b', token: tokenB });
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

    // The TTL asked for is kept (within bounds); past it a task is gone, from tasks/get, tasks/result and tasks/list alike.
    const short = await callAsTask(client, 'create_media_buy', buyRequest(), { ttl: 5000 });
    const [row] = await t.app.database.db.select({ createdAt: mcpTasks.createdAt, expiresAt: mcpTasks.expiresAt }).from(mcpTasks).where(eq(mcpTasks.id, short.task.taskId));
    expect(row!.expiresAt!.getTime() - row!.createdAt.getTime()).toBeGreaterThanOrEqual(4900);
    expect(row!.expiresAt!.getTime() - row!.createdAt.getTime()).toBeLessThanOrEqual(5100);
    // A TTL past the maximum (or past what the column holds: 2^31 ms) is clamped to it.
    const long = await callAsTask(client, 'create_media_buy', buyRequest(), { ttl: 2_200_000_000 });
    expect(long.task.ttl).toBe(TASK_TTL.maxMs);
    await t.app.database.db.update(mcpTasks).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(mcpTasks.id, ids[0]!));
    expect(((await client.experimental.tasks.getTask(ids[0]!).catch((e: unknown) => e)) as McpError).code).toBe(ErrorCode.InvalidParams);
    expect(((await client.experimental.tasks.getTaskResult(ids[0]!, CallToolResultSchema).catch((e: unknown) => e)) as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((await client.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)).not.toContain(ids[0]);
    await Promise.all([client.close(), other.close()]);
  });
});

describe('MCP tasks with manual approval', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ worker: true, approval: 'manual' });
  });
  afterAll(async () => t?.close());

  it('gives an AdCP SDK buyer (which calls through tasks) "submitted" at once, a replay replayed: true, an AdCP error its code', async () => {
    const mcp = await memoryClient(t);
    // The SDK waits for the task's result; were the task held until approval, it would answer "working" after this timeout.
    // (The AdCP SDK's typings name the SDK's CommonJS Client, this file imports its ESM one: the same class.)
    const agent = AgentClient.fromMCPClient(mcp as unknown as Parameters<typeof AgentClient.fromMCPClient>[0], { workingTimeout: 20_000, debug: true });
    const args = buyRequest({ context: { trace: 'sdk' } });
    const first = await agent.createMediaBuy(args as never);
    expect(JSON.stringify(first.debug_logs)).toContain('MCP Tasks: Task created');
    expect(first.status).toBe('submitted');
    const data = first.data as unknown as Record<string, unknown>;
    expect(data).toMatchObject({ status: 'submitted', task_id: expect.stringMatching(/^task_/), idempotency_key: args.idempotency_key, context: { trace: 'sdk' } });
    expect(data.replayed).toBeFalsy();

    const second = await agent.createMediaBuy(args as never);
    expect(second.status).toBe('submitted');
    expect(second.data).toMatchObject({ task_id: data.task_id, replayed: true });
    // Two calls, two MCP tasks, both completed; the AdCP task waits for the seller.
    const { tasks } = await mcp.experimental.tasks.listTasks();
    expect(tasks.slice(0, 2).map((x) => x.status)).toEqual(['completed', 'completed']);
    expect(new Set(tasks.slice(0, 2).map((x) => x.taskId)).size).toBe(2);
    expect((await call(mcp, 'tasks/get', { task_id: String(data.task_id) })).data).toMatchObject({ status: 'submitted' });

    // An AdCP error reaches it with its code: the same key with another payload is a conflict.
    const conflict = await agent.createMediaBuy({ ...args, packages: [{ product_id: 'ctv_primetime', pricing_option_id: 'ctv_prime_cpm_fixed', budget: 30000 }] } as never);
    expect(conflict.success).toBe(false);
    expect(conflict.adcpError?.code).toBe('IDEMPOTENCY_CONFLICT');
    await mcp.close();
  });

  it('keeps the MCP task completed when the seller rejects; the rejection reaches the AdCP task and task:// subscribers', async () => {
    const client = await memoryClient(t);
    const notes = statusNotes(client);
    const { task } = await callAsTask(client, 'create_media_buy', buyRequest());
    const { structuredContent } = await taskResult(client, task.taskId);
    const adcpTaskId = String((structuredContent as { task_id: string }).task_id);
    expect(structuredContent).toMatchObject({ status: 'submitted', task_id: adcpTaskId });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    await client.subscribeResource({ uri: `task://${adcpTaskId}` });

    expect((await rejectMediaBuy(t.app.database.db, { tenantId: 'demo', taskId: adcpTaskId, actor: 'ops@demo', reason: 'no alcohol brands' })).ok).toBe(true);
    await waitFor(async () => updates.includes(`task://${adcpTaskId}`));
    expect((await call(client, 'tasks/get', { task_id: adcpTaskId })).data).toMatchObject({ task_id: adcpTaskId, status: 'rejected' });
    expect(await client.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'completed' });
    expect(notes.map((n) => [n.taskId, n.status])).toEqual([[task.taskId, 'completed']]);
    await client.close();
  });
});

describe('MCP tasks across replicas', () => {
  let t: TestApp;
  let b: Awaited<ReturnType<typeof replica>>;
  beforeAll(async () => {
    t = await startTestApp({ http: true, worker: false });
    b = await replica(t, false);
  });
  afterAll(async () => {
    await b?.close();
    await t?.close();
  });

  it('creates on A (over HTTP, with its status notification), reads and lists on B; another buyer sees none of it', async () => {
    const onA = await clientAt(t.http!.url, t.token);
    const onB = await clientAt(b.http.url, t.token);
    const notes = statusNotes(onA);
    const args = buyRequest({ context: { trace: 'replicas' } });
    const created = await callAsTask(onA, 'create_media_buy', args, { ttl: 120_000 });
    expect(created.task).toMatchObject({ status: 'completed', ttl: 120_000 });
    await waitFor(async () => notes.length > 0);
    expect(notes).toEqual([created.task]);

    expect(await onB.experimental.tasks.getTask(created.task.taskId)).toEqual(created.task);
    const result = await taskResult(onB, created.task.taskId);
    expect(result.structuredContent).toMatchObject({ media_buy_id: expect.stringMatching(/^mb_/), idempotency_key: args.idempotency_key, context: { trace: 'replicas' } });
    expect((await onB.experimental.tasks.listTasks()).tasks[0]).toEqual(created.task);
    // The replay on B: a task of its own, replayed: true, readable on A.
    const again = await callAsTask(onB, 'create_media_buy', args);
    expect((await taskResult(onA, again.task.taskId)).structuredContent).toEqual({ ...result.structuredContent, replayed: true });

    await addBuyer(t, { id: 'prn_replica_b', token: 'tok_replica_other_buyer' });
    const other = await clientAt(b.http.url, 'tok_replica_other_buyer');
    expect((await other.experimental.tasks.listTasks()).tasks).toEqual([]);
    expect(((await other.experimental.tasks.getTask(created.task.taskId).catch((e: unknown) => e)) as McpError).code).toBe(ErrorCode.InvalidParams);
    await Promise.all([onA.close(), onB.close(), other.close()]);
  });
});
