/**
 * defineTool() and the single place where a tool call is validated, authorised,
 * run and mapped to an MCP result. Two error channels: AdcpError is the caller's
 * to fix and comes back as `errors[]` (plus `adcp_error`); anything else is
 * logged with context and the caller sees a generic SERVICE_UNAVAILABLE.
 */
import { ErrorSchema } from '@adcp/sdk/schemas';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { refusedValue, rerunOnBrokenConnection } from '../db/client.js';
import { AdcpError, agentSuspended, authRequired, credentialsRejected, fieldPath, invalidRequest, MAX_LISTED_ISSUES, type AdcpErrorBody } from '../domain/errors.js';
import { unstorablePath } from '../domain/text.js';
import { negotiateVersion, recode, servedAs, type AdcpRelease } from '../domain/adcp-release.js';
import { acceptedValues, expectedLiterals, parseAcceptingAdcp31Values } from './adcp31-values.js';
import type { BuyerContext, ToolContext } from './context.js';
import { compactJsonSchema } from './json-schema.js';
import { checkConstraints } from './request-constraints.js';
import { likelyBranch, objectShapeAt, schemaAt } from './union-issues.js';
import { valueAt } from './value-at.js';

export { negotiateVersion, servedAs, SUPPORTED_VERSIONS, type AdcpRelease } from '../domain/adcp-release.js';

export type AuthMode = 'optional' | 'required';

export interface ToolDef<I = unknown> {
  name: string;
  /** Other names the same tool answers to (e.g. tasks_get for tasks/get). */
  aliases?: string[];
  title: string;
  description: string;
  input: z.ZodType<I>;
  /** The success response; tools/list advertises it with the error response beside it (toolListing). */
  output: z.ZodType;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  auth: AuthMode;
  /** Parts of the request (JSON pointer prefixes) whose schema constraints the tool checks itself, one by one (request-constraints.ts). */
  constraintsCheckedByTool?: string[];
  /** MCP tasks: may the tool be called task-augmented (tools/list execution.taskSupport)? Absent means forbidden. */
  taskSupport?: 'optional' | 'required';
  /**
   * Runs on the arguments before they are validated: rewrites AdCP 3.1 shapes to their 3.0 equivalent, or throws
   * the AdcpError the seller gives that feature in any form (src/mcp/adcp31-shapes.ts). Must not mutate its argument.
   */
  prepare?(args: Record<string, unknown>, ctx: { agentUrl: string }): Record<string, unknown>;
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

function contextOf(args: unknown): Record<string, unknown> | undefined {
  if (args && typeof args === 'object' && 'context' in args) {
    const c = (args as { context: unknown }).context;
    if (c && typeof c === 'object' && !Array.isArray(c)) return c as Record<string, unknown>;
  }
  return undefined;
}

/**
 * AdCP's protocol envelope requires a task status on every response; on MCP the envelope's fields are siblings of the
 * body's at the root of structuredContent. A body that has a `status` of its own keeps it: create_media_buy's and
 * update_media_buy's media-buy status (3.0; a deprecated mirror of media_buy_status in 3.1, which AdCP lets share the key),
 * an async answer's `submitted`, tasks/get's polled task status.
 */
const withTaskStatus = (body: Record<string, unknown>, status: 'completed' | 'failed') => (body.status === undefined ? { status, ...body } : body);

export function errorResult(err: AdcpErrorBody, context: Record<string, unknown> | undefined, response?: Record<string, unknown>, release: AdcpRelease = '3.0'): CallToolResult {
  const body = withTaskStatus(servedAs(release, '', { ...response, errors: [err], adcp_error: err, ...(context && { context }) }, true), 'failed');
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
}

export function successResult(data: Record<string, unknown>, context: Record<string, unknown> | undefined): CallToolResult {
  const body = withTaskStatus(context && data.context === undefined ? { ...data, context } : data, 'completed');
  return { content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
}

/** The JSON Schema keyword behind a zod issue (AdCP error.issues[].keyword uses the JSON Schema vocabulary). */
function schemaKeyword(i: z.core.$ZodIssue, args: unknown): string {
  // A field that is not there at all was required, whatever zod says about the shape it wanted.
  const value = valueAt(args, i.path);
  if (args !== undefined && value === undefined && i.path.length > 0 && i.code !== 'unrecognized_keys') return 'required';
  switch (i.code) {
    case 'invalid_type':
      return 'type';
    case 'too_small':
      return i.origin === 'array' ? 'minItems' : i.origin === 'string' ? 'minLength' : i.origin === 'object' ? 'minProperties' : i.inclusive === false ? 'exclusiveMinimum' : 'minimum';
    case 'too_big':
      return i.origin === 'array' ? 'maxItems' : i.origin === 'string' ? 'maxLength' : i.origin === 'object' ? 'maxProperties' : i.inclusive === false ? 'exclusiveMaximum' : 'maximum';
    case 'invalid_value':
      return i.values.length === 1 ? 'const' : 'enum';
    case 'invalid_format':
      return i.format === 'regex' ? 'pattern' : 'format';
    case 'not_multiple_of':
      return 'multipleOf';
    case 'unrecognized_keys':
      return 'additionalProperties';
    case 'invalid_union':
      return 'anyOf';
    default:
      return 'custom';
  }
}

/** What one branch of a union wanted, in a few words: a literal, a type, a string format. */
function expectedForm(i: z.core.$ZodIssue): string | undefined {
  if (i.code === 'invalid_value') return i.values.map((v) => JSON.stringify(v)).join(' or ');
  if (i.code === 'invalid_type') return `a value of type ${i.expected}`;
  if (i.code === 'invalid_format') return `a ${i.format} string`;
  return undefined;
}

/**
 * A union that matched no branch reports every branch's issues; the caller is
 * better served by the branch it meant (see union-issues.ts), with its issues'
 * paths made absolute.
 */
function closestBranch(issues: z.core.$ZodIssue[], args: unknown, schema: unknown): z.core.$ZodIssue[] {
  return issues.flatMap((i): z.core.$ZodIssue[] => {
    if (i.code !== 'invalid_union' || !i.errors?.length) return [i];
    // A closed set of strings (the AdCP schemas spell enumerations as unions of literals): one issue naming every choice.
    const choices = expectedLiterals(i);
    if (choices) {
      const values = acceptedValues(choices);
      return [{ code: 'invalid_value', values, path: i.path, message: `Invalid option: expected one of ${values.map((v) => JSON.stringify(v)).join('|')}`, input: undefined }];
    }
    // Every branch refuses the value as a whole ("asap" or a date-time, say): one issue naming each form.
    const forms = i.errors.every((b) => b.length === 1 && b[0]!.path.length === 0) ? i.errors.map((b) => expectedForm(b[0]!)) : [];
    if (forms.length && forms.every(Boolean)) {
      return [{ code: 'invalid_union', errors: i.errors, path: i.path, message: `Invalid input: expected ${[...new Set(forms)].join(' or ')}`, input: undefined }];
    }
    const best = i.errors[likelyBranch(i.errors, i.path, args, schema)]!;
    return best.length ? closestBranch(best.map((e) => ({ ...e, path: [...i.path, ...e.path] })), args, schema) : [i];
  });
}

/** `schema`, when given, is what the issues came from: it tells which branch of a union the request meant. */
export function validationError(rawIssues: z.core.$ZodIssue[], args?: unknown, schema?: z.ZodType): AdcpError {
  const issues = closestBranch(rawIssues, args, schema);
  const first = issues[0]!;
  const field = fieldPath(first.path);
  // "expected object" says little when the listing trims that level: name the shape.
  const message = (i: z.core.$ZodIssue) => {
    const shape = i.code === 'invalid_type' && i.expected === 'object' && schema ? objectShapeAt(schema, i.path) : undefined;
    return shape ? `${i.message}; expected ${shape}` : i.message;
  };
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => ({ pointer: `/${i.path.map(String).join('/')}`, message: message(i), keyword: schemaKeyword(i, args) }));
  return invalidRequest(listed, field, 'Fix the listed fields and send the request again; see the tool input schema for the expected shape.');
}

export async function invokeTool(tool: ToolDef, rawArgs: unknown, ctx: ToolContext): Promise<CallToolResult> {
  const started = performance.now();
  const result = await runTool(tool, rawArgs, ctx);
  if (ctx.metrics) {
    // Counted under the 3.1 code whichever release the caller speaks, so one failure has one label.
    const first = result.isError ? (result.structuredContent as { errors?: unknown[] } | undefined)?.errors?.[0] : undefined;
    const code = result.isError ? ((recode(first) as { code?: string } | undefined)?.code ?? 'UNKNOWN') : undefined;
    ctx.metrics.toolCall(tool.name, (performance.now() - started) / 1000, code);
  }
  // The seller's audit trail of buying calls: appended to a buffer that is written in batches.
  if (!tool.annotations.readOnlyHint) ctx.audit?.toolCall(tool.name, rawArgs, result, ctx);
  return result;
}

/**
 * AdCP's idempotency_key: 16 to 255 of letters, digits and _ . : - (the request schemas' pattern, which the
 * SDK's zod does not carry). A short key would make one buyer's unrelated writes replay each other's answers.
 */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{16,255}$/;
const keyed = new WeakMap<ToolDef, boolean>();
/** A write whose request schema has an idempotency_key (not, say, si_terminate_session). */
function takesIdempotencyKey(tool: ToolDef): boolean {
  let v = keyed.get(tool);
  if (v === undefined) keyed.set(tool, (v = !tool.annotations.readOnlyHint && schemaAt(tool.input, ['idempotency_key']) !== undefined));
  return v;
}
function checkIdempotencyKey(key: unknown): void {
  if (key === undefined || (typeof key === 'string' && IDEMPOTENCY_KEY.test(key))) return;
  const issue = { pointer: '/idempotency_key', keyword: typeof key === 'string' ? 'pattern' : 'type', message: 'Must be 16 to 255 letters, digits, or _ . : -' };
  throw new AdcpError('VALIDATION_ERROR', `Invalid request: idempotency_key: ${issue.message}.`, {
    field: 'idempotency_key',
    suggestion: 'Send a fresh UUID v4 for each new request, and the same key only to retry that request.',
    issues: [issue],
    details: { issues: [issue] },
  });
}

async function runTool(tool: ToolDef, rawArgs: unknown, ctx: ToolContext): Promise<CallToolResult> {
  const args = (rawArgs ?? {}) as Record<string, unknown>;
  const context = contextOf(args);
  let release: AdcpRelease = '3.0';
  try {
    if (typeof args !== 'object' || Array.isArray(args)) {
      throw new AdcpError('INVALID_REQUEST', 'Tool arguments must be a JSON object.', { suggestion: 'Send the arguments as an object.' });
    }
    release = negotiateVersion(args);
    if (ctx.credentialsRejected) throw credentialsRejected();
    if (ctx.suspended) throw agentSuspended();
    if (tool.auth === 'required' && !ctx.principal) throw authRequired(tool.name);
    if (takesIdempotencyKey(tool)) checkIdempotencyKey(args.idempotency_key);
    const unstorableAt = unstorablePath(args);
    if (unstorableAt) {
      throw new AdcpError('VALIDATION_ERROR', `${unstorableAt} holds a NUL character or an unpaired UTF-16 surrogate, which cannot be stored.`, {
        field: unstorableAt,
        suggestion: 'Remove the character (\\u0000, or a lone \\ud800-\\udfff escape) and send the request again.',
      });
    }
    const prepared = tool.prepare ? tool.prepare(args, ctx) : args;
    const parsed = parseAcceptingAdcp31Values(tool.input, prepared);
    if (!parsed.success) throw validationError(parsed.error.issues, prepared, tool.input);
    checkConstraints(tool.name, prepared, { except: tool.constraintsCheckedByTool, logger: ctx.logger });
    const data = await handle(tool, parsed.data, ctx);
    return successResult(servedAs(release, tool.name, data, false), context);
  } catch (err) {
    if (err instanceof AdcpError) return errorResult(err.toJSON(), context, err.response, release);
    if (refusedValue(err)) {
      // Postgres refused a value of the request (out of range, too long for an index...): the caller's to fix, not a retry.
      ctx.logger.warn('tool call refused by the database for a value it holds', { tool: tool.name, tenant_id: ctx.tenant?.id, principal_id: ctx.principal?.id, error: err });
      return errorResult(
        {
          code: 'VALIDATION_ERROR',
          message: 'A value in this request cannot be stored (a number, date or text out of range, or too long); nothing was changed.',
          suggestion: 'Check amounts, dates and the length of identifiers and names in the request, then send it again.',
          recovery: 'correctable',
        },
        context,
        undefined,
        release,
      );
    }
    ctx.logger.error('tool call failed', {
      tool: tool.name,
      tenant_id: ctx.tenant?.id,
      principal_id: ctx.principal?.id,
      error: err,
    });
    return errorResult(
      { code: 'SERVICE_UNAVAILABLE', message: 'The sales agent hit an internal error; nothing was changed. Try again shortly.', recovery: 'transient', retry_after: 5 },
      context,
      undefined,
      release,
    );
  }
}

/**
 * A call whose query met a broken database connection (Postgres restarted or failed over; see brokenDatabaseConnection)
 * runs again at once, a few times at most, when running it twice is harmless: a read, or a write carrying an
 * idempotency key (if an earlier run did commit, the next replays its response). Otherwise the caller gets the
 * transient error and decides.
 */
function handle(tool: ToolDef, input: unknown, ctx: ToolContext): Promise<Record<string, unknown>> {
  const repeatable = tool.annotations.readOnlyHint || (tool.annotations.idempotentHint && typeof (input as { idempotency_key?: unknown }).idempotency_key === 'string');
  if (!repeatable) return tool.handle(input, ctx);
  return rerunOnBrokenConnection(() => tool.handle(input, ctx), {
    onRerun: (err, rerun) =>
      ctx.logger.warn('the database connection broke under a tool call; running it again', { tool: tool.name, rerun, tenant_id: ctx.tenant?.id, principal_id: ctx.principal?.id, error: err }),
  });
}

/**
 * What every tool answers on error (errorResult): errors[] (adcp_error, the context echo and, in 3.1, status
 * "failed" beside it). MCP clients check structuredContent against outputSchema on error results too, and an
 * error has none of the fields a success shape may require (an SI session's id), so each tool's outputSchema is
 * its success or this, as AdCP's own response schemas are. An error's code and message only: tools/list is read
 * into agents' context windows, and the full error schema would add a third to it.
 */
const ErrorResponse = z.looseObject({ errors: z.array(ErrorSchema.pick({ code: true, message: true })).min(1) });

/** The tools/list entry, computed once per tool. */
export function toolListing(tool: ToolDef, name = tool.name): Tool {
  return {
    name,
    title: tool.title,
    description: tool.description,
    inputSchema: compactJsonSchema(tool.input) as Tool['inputSchema'],
    outputSchema: compactJsonSchema(z.union([tool.output, ErrorResponse])) as Tool['outputSchema'],
    annotations: { title: tool.title, ...tool.annotations },
    ...(tool.taskSupport && { execution: { taskSupport: tool.taskSupport } }),
  };
}
