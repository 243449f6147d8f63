/**
 * defineTool() and the single place where a tool call is validated, authorised,
 * run and mapped to an MCP result. Two error channels: AdcpError is the caller's
 * to fix and comes back as `errors[]` (plus `adcp_error`); anything else is
 * logged with context and the caller sees a generic SERVICE_UNAVAILABLE.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { AdcpError, authRequired, fieldPath, type AdcpErrorBody } from '../domain/errors.js';
import type { BuyerContext, ToolContext } from './context.js';
import { compactJsonSchema } from './json-schema.js';

export type AuthMode = 'optional' | 'required';

export interface ToolDef<I = unknown> {
  name: string;
  /** Other names the same tool answers to (e.g. tasks_get for tasks/get). */
  aliases?: string[];
  title: string;
  description: string;
  input: z.ZodType<I>;
  output: z.ZodType;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  auth: AuthMode;
  /** MCP tasks: may the tool be called task-augmented (tools/list execution.taskSupport)? Absent means forbidden. */
  taskSupport?: 'optional' | 'required';
  handle(input: I, ctx: ToolContext): Promise<Record<string, unknown>>;
}

export function defineTool<I>(def: ToolDef<I> & { auth: 'optional' }): ToolDef<I>;
export function defineTool<I>(
  def: Omit<ToolDef<I>, 'handle' | 'auth'> & { auth: 'required'; handle(input: I, ctx: BuyerContext): Promise<Record<string, unknown>> },
): ToolDef<I>;
export function defineTool<I>(def: ToolDef<I>): ToolDef<I> {
  return def;
}

/** Fields every AdCP request may carry, whatever the tool. */
export const Envelope = {
  adcp_major_version: z.number().int().optional(),
  adcp_version: z.string().optional(),
  idempotency_key: z.string().optional(),
  push_notification_config: z.looseObject({}).optional(),
  context: z.looseObject({}).optional(),
  ext: z.looseObject({}).optional(),
};

const SUPPORTED_MAJOR = 3;

function contextOf(args: unknown): Record<string, unknown> | undefined {
  if (args && typeof args === 'object' && 'context' in args) {
    const c = (args as { context: unknown }).context;
    if (c && typeof c === 'object' && !Array.isArray(c)) return c as Record<string, unknown>;
  }
  return undefined;
}

export function errorResult(err: AdcpErrorBody, context: Record<string, unknown> | undefined, response?: Record<string, unknown>): CallToolResult {
  const body = { ...response, errors: [err], adcp_error: err, ...(context && { context }) };
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
}

export function successResult(data: Record<string, unknown>, context: Record<string, unknown> | undefined): CallToolResult {
  const body = context && data.context === undefined ? { ...data, context } : data;
  return { content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
}

function checkVersion(args: Record<string, unknown>): void {
  const major = args.adcp_major_version;
  if (major !== undefined && major !== SUPPORTED_MAJOR) {
    throw new AdcpError('VERSION_UNSUPPORTED', `AdCP major version ${String(major)} is not supported.`, {
      field: 'adcp_major_version',
      suggestion: `This agent speaks AdCP ${SUPPORTED_MAJOR}.x; send adcp_major_version: ${SUPPORTED_MAJOR} or omit it.`,
      details: { supported_major_versions: [SUPPORTED_MAJOR] },
    });
  }
  const v = args.adcp_version;
  if (typeof v === 'string' && !v.startsWith(`${SUPPORTED_MAJOR}.`) && v !== String(SUPPORTED_MAJOR)) {
    throw new AdcpError('VERSION_UNSUPPORTED', `AdCP version ${v} is not supported.`, {
      field: 'adcp_version',
      suggestion: `This agent speaks AdCP ${SUPPORTED_MAJOR}.x.`,
      details: { supported_major_versions: [SUPPORTED_MAJOR] },
    });
  }
}

export function validationError(issues: z.core.$ZodIssue[]): AdcpError {
  const first = issues[0]!;
  const field = fieldPath(first.path);
  return new AdcpError('VALIDATION_ERROR', `Invalid request: ${field ? `${field}: ` : ''}${first.message}`, {
    field: field || undefined,
    suggestion: 'Fix the listed fields and send the request again; see the tool input schema for the expected shape.',
    details: {
      issues: issues.slice(0, 20).map((i) => ({ pointer: `/${i.path.map(String).join('/')}`, message: i.message, keyword: i.code })),
    },
  });
}

export async function invokeTool(tool: ToolDef, rawArgs: unknown, ctx: ToolContext): Promise<CallToolResult> {
  const result = await runTool(tool, rawArgs, ctx);
  // The seller's audit trail of buying calls: appended to a buffer that is written in batches.
  if (!tool.annotations.readOnlyHint) ctx.audit?.toolCall(tool.name, rawArgs, result, ctx);
  return result;
}

async function runTool(tool: ToolDef, rawArgs: unknown, ctx: ToolContext): Promise<CallToolResult> {
  const args = (rawArgs ?? {}) as Record<string, unknown>;
  const context = contextOf(args);
  try {
    if (typeof args !== 'object' || Array.isArray(args)) {
      throw new AdcpError('INVALID_REQUEST', 'Tool arguments must be a JSON object.', { suggestion: 'Send the arguments as an object.' });
    }
    checkVersion(args);
    if (tool.auth === 'required' && !ctx.principal) throw authRequired(tool.name);
    const parsed = tool.input.safeParse(args);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const data = await tool.handle(parsed.data, ctx);
    return successResult(data, context);
  } catch (err) {
    if (err instanceof AdcpError) return errorResult(err.toJSON(), context, err.response);
    ctx.logger.error('tool call failed', {
      tool: tool.name,
      tenant_id: ctx.tenant?.id,
      principal_id: ctx.principal?.id,
      error: err,
    });
    return errorResult(
      { code: 'SERVICE_UNAVAILABLE', message: 'The sales agent hit an internal error; nothing was changed. Try again shortly.', recovery: 'transient', retry_after: 5 },
      context,
    );
  }
}

/** The tools/list entry, computed once per tool. */
export function toolListing(tool: ToolDef, name = tool.name): Tool {
  return {
    name,
    title: tool.title,
    description: tool.description,
    inputSchema: compactJsonSchema(tool.input) as Tool['inputSchema'],
    outputSchema: compactJsonSchema(tool.output) as Tool['outputSchema'],
    annotations: { title: tool.title, ...tool.annotations },
    ...(tool.taskSupport && { execution: { taskSupport: tool.taskSupport } }),
  };
}
