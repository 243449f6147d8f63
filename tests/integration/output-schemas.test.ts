/**
 * Every tool's error results match the outputSchema tools/list advertises. The MCP SDK client checks
 * structuredContent against it even when isError is set, and throws (-32602 "Structured content does not
 * match the tool's output schema") when it does not match: the buyer loses the AdCP error. Each tool and
 * alias is called over HTTP, by a client that has listed the tools, with requests every tool refuses.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolList } from '../../src/mcp/server.js';
import { httpClient, memoryClient, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let buyer: Client;
let anon: Client;

beforeAll(async () => {
  t = await startTestApp({ http: true });
  buyer = await httpClient(t);
  // Over HTTP an anonymous call to a buyer's tool is refused with 401 before any tool runs; in memory (as over stdio) it is the tool's error result.
  anon = await memoryClient(t, null);
  // The client checks results against the output schemas of the tools it has listed.
  await buyer.listTools();
  await anon.listTools();
});
afterAll(async () => {
  await buyer?.close();
  await anon?.close();
  await t?.close();
});

/** The AdCP error code of a call's error result; the call throws if the result breaks the tool's outputSchema. */
async function errorCode(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const res = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(res.isError, JSON.stringify(res.structuredContent)).toBe(true);
  return (res.structuredContent as { errors: { code: string }[] }).errors[0]!.code;
}

describe('error results match the advertised outputSchema', () => {
  it.each(toolList().map((tool) => tool.name))('%s', async (name) => {
    expect(await errorCode(buyer, name, { adcp_major_version: 9 })).toBe('VERSION_UNSUPPORTED');
    // As AdCP 3.1 shapes it (status "failed", adcp_version), after authentication.
    expect(await errorCode(buyer, name, { adcp_version: '3.1', ext: { note: 'a\u0000b' } })).toBe('VALIDATION_ERROR');
  });

  it('errors of the tools whose success has required fields', async () => {
    expect(await errorCode(buyer, 'si_send_message', { session_id: 'nope', idempotency_key: 'si-output-schema-0001' })).toBe('VALIDATION_ERROR');
    expect(await errorCode(buyer, 'si_send_message', { session_id: 'nope', message: 'hi', idempotency_key: 'si-output-schema-0002' })).toBe('SESSION_NOT_FOUND');
    expect(await errorCode(buyer, 'si_get_offering', { offering_id: 'x', adcp_major_version: 9 })).toBe('VERSION_UNSUPPORTED');
    expect(await errorCode(buyer, 'si_terminate_session', { session_id: 'nope', reason: 'user_exit' })).toBe('SESSION_NOT_FOUND');
    expect(await errorCode(anon, 'si_initiate_session', { intent: 'x', identity: { consent_granted: false } })).toBe('AUTH_REQUIRED');
    expect(await errorCode(anon, 'comply_test_controller', { scenario: 'bogus' })).toBe('AUTH_REQUIRED');
  });
});
