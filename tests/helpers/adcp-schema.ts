/**
 * Validation of real tool responses against the AdCP 3.0.6 JSON schemas that
 * the AdCP SDK ships. Success responses must match the tool's response schema.
 * Error responses must match the tool's error branch where the schema has one
 * (create_media_buy...); elsewhere every entry of errors[] and adcp_error must
 * be a valid AdCP error object. Aliases are checked as the tool they stand for;
 * list_authorized_properties (AdCP 2.5) against the 2.5 schema;
 * comply_test_controller against the SDK's controller response schema (its
 * JSON schema is not among the 3.0 ones the SDK ships).
 *
 * Responses served as AdCP 3.1 (the buyer pinned adcp_version "3.1") are checked
 * against the 3.1 reference schemas beside the checkout
 * (../shared/adcp-schemas/3.1.19, or ADCP_31_SCHEMAS), which the SDK does not ship.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { TOOL_RESPONSE_SCHEMAS } from '@adcp/sdk';
import { ComplyTestControllerResponseSchema } from '@adcp/sdk/schemas';

const require = createRequire(import.meta.url);
const sdkRoot = path.dirname(require.resolve('@adcp/sdk/package.json'));
const schemasRoot = path.join(sdkRoot, 'dist/lib/schemas-data/3.0');

interface Outcome {
  valid: boolean;
  variant: string;
  issues: { pointer: string; message: string }[];
}

// The SDK's validator is not exported from a public path, so we load it by file.
const validation = require(path.join(sdkRoot, 'dist/lib/validation/index.js')) as {
  validateResponse(tool: string, payload: unknown, version?: string): Outcome;
};

const ajv = new Ajv({ strict: false, allErrors: true });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
const errorSchema = JSON.parse(readFileSync(path.join(schemasRoot, 'core/error.json'), 'utf8')) as Record<string, unknown>;
const validateError = ajv.compile({ ...errorSchema, $id: undefined });

const BUNDLED: Record<string, string> = {
  create_media_buy: 'media-buy/create-media-buy-response.json',
  update_media_buy: 'media-buy/update-media-buy-response.json',
  provide_performance_feedback: 'media-buy/provide-performance-feedback-response.json',
  // Account schemas are not bundled; they live beside bundled/.
  sync_accounts: '../account/sync-accounts-response.json',
  sync_creatives: 'creative/sync-creatives-response.json',
  sync_governance: '../account/sync-governance-response.json',
};

function hasErrorBranch(tool: string): boolean {
  const file = BUNDLED[tool];
  if (!file) return false;
  const schema = JSON.parse(readFileSync(path.join(schemasRoot, 'bundled', file), 'utf8')) as { oneOf?: { required?: string[] }[] };
  return !!schema.oneOf?.some((b) => b.required?.includes('errors'));
}

/** Tool names under which the SDK knows the response schema. */
const SCHEMA_NAME: Record<string, string> = { 'tasks/get': 'tasks_get', get_task_status: 'tasks_get', 'tasks/list': 'tasks_list', list_tasks: 'tasks_list' };
/** Tools answered in an older AdCP version's shape. */
const SCHEMA_VERSION: Record<string, string> = { list_authorized_properties: 'v2.5' };

/**
 * Every AdCP error in a payload (errors[], adcp_error, an item's own errors[]) whose code has a
 * recommended details shape (error-details/<code>.json) checked against it, as `check` reports.
 */
function detailsProblems(payload: unknown, check: (schemaFile: string, details: unknown) => string[] | undefined, at = ''): string[] {
  if (Array.isArray(payload)) return payload.flatMap((v, i) => detailsProblems(v, check, `${at}/${i}`));
  if (!payload || typeof payload !== 'object') return [];
  const o = payload as Record<string, unknown>;
  const own = typeof o.code === 'string' && typeof o.message === 'string' && o.details !== undefined
    ? (check(`error-details/${o.code.toLowerCase().replaceAll('_', '-')}.json`, o.details) ?? []).map((p) => `${at}/details${p}`)
    : [];
  return [...own, ...Object.entries(o).flatMap(([k, v]) => (k === 'details' ? [] : detailsProblems(v, check, `${at}/${k}`)))];
}

/** Problems with a tool response, as "pointer: message" lines; empty when valid. */
export function responseProblems(tool: string, payload: Record<string, unknown>, isError = false): string[] {
  return [...responseProblems30(tool, payload, isError), ...detailsProblems(payload, detailsProblems30)];
}

function responseProblems30(tool: string, payload: Record<string, unknown>, isError: boolean): string[] {
  const name = SCHEMA_NAME[tool] ?? tool;
  if (name === 'comply_test_controller' && !isError) {
    // The controller answers its own errors in-band (success: false), as its schema requires.
    const r = ComplyTestControllerResponseSchema.safeParse(payload);
    return r.success ? [] : r.error.issues.map((i) => `zod ${i.path.join('/')}: ${i.message}`);
  }
  if (isError && !hasErrorBranch(name)) {
    const problems: string[] = [];
    const errors = payload.errors as unknown[] | undefined;
    if (!Array.isArray(errors) || errors.length === 0) problems.push('/errors: an error response needs errors[]');
    for (const [i, e] of [...(errors ?? []), payload.adcp_error].entries()) {
      if (!validateError(e)) problems.push(...(validateError.errors ?? []).map((x) => `/errors/${i}${x.instancePath}: ${x.message}`));
    }
    return problems;
  }
  const out = validation.validateResponse(name, payload, SCHEMA_VERSION[name]);
  if (out.variant === 'skipped') throw new Error(`no AdCP response schema for ${tool}`);
  const problems = out.valid ? [] : out.issues.map((i) => `${i.pointer || '/'}: ${i.message}`);
  // The storyboard runner grades with the SDK's zod schemas too; they differ from the JSON schemas in places.
  const zodSchema = TOOL_RESPONSE_SCHEMAS[name];
  const z = zodSchema?.safeParse(payload);
  if (z && !z.success) problems.push(...z.error.issues.map((i) => `zod ${i.path.join('/')}: ${i.message}`));
  return problems;
}

let refsLoaded = false;
const refAjv = new Ajv({ strict: false, allErrors: true });
(addFormatsModule as unknown as (a: Ajv) => void)(refAjv);

/** Add every unbundled 3.0 schema by its $id, so $refs between them resolve. */
function loadRefs(): void {
  if (refsLoaded) return;
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (e.name === 'bundled' ? [] : walk(path.join(dir, e.name))) : e.name.endsWith('.json') ? [path.join(dir, e.name)] : []));
  for (const file of walk(schemasRoot)) {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as { $id?: string };
    if (schema.$id && !refAjv.getSchema(schema.$id)) refAjv.addSchema(schema);
  }
  refsLoaded = true;
}

/** Problems with an error's details against its 3.0 error-details schema; undefined when the code has none. */
function detailsProblems30(schemaFile: string, details: unknown): string[] | undefined {
  loadRefs();
  return refAjv.getSchema(`/schemas/3.0.6/${schemaFile}`) ? payloadProblems(schemaFile, details) : undefined;
}

/** Problems with a payload against one of the SDK's 3.0 schemas, e.g. "core/mcp-webhook-payload.json". */
export function payloadProblems(schemaFile: string, payload: unknown): string[] {
  loadRefs();
  const validate = refAjv.getSchema(`/schemas/3.0.6/${schemaFile}`);
  if (!validate) throw new Error(`no schema ${schemaFile}`);
  return validate(payload) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}

// ---------------------------------------------------------------- AdCP 3.1

/** Where the 3.1 reference schemas are, if this machine has them. */
export const ADCP_31_SCHEMAS = process.env.ADCP_31_SCHEMAS ?? path.resolve(import.meta.dirname, '../../../shared/adcp-schemas/3.1.19');
export const have31Schemas = existsSync(path.join(ADCP_31_SCHEMAS, 'manifest.json'));

let ajv31: Ajv | undefined;
let manifest31: { tools: Record<string, { response_schema: string }> } | undefined;
function load31(): { ajv: Ajv; manifest: NonNullable<typeof manifest31> } {
  if (!ajv31 || !manifest31) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    (addFormatsModule as unknown as (a: Ajv) => void)(ajv);
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.json') ? [path.join(dir, e.name)] : []));
    const ids = new Set<string>(); // (getSchema would compile a schema before the ones it refers to are added)
    for (const file of walk(ADCP_31_SCHEMAS)) {
      const schema = JSON.parse(readFileSync(file, 'utf8')) as { $id?: string };
      if (schema.$id && !ids.has(schema.$id)) {
        ids.add(schema.$id);
        ajv.addSchema(schema);
      }
    }
    ajv31 = ajv;
    manifest31 = JSON.parse(readFileSync(path.join(ADCP_31_SCHEMAS, 'manifest.json'), 'utf8')) as NonNullable<typeof manifest31>;
  }
  return { ajv: ajv31, manifest: manifest31 };
}

/** Our tool names as the 3.1 manifest names them. */
const NAME_31: Record<string, string> = { 'tasks/get': 'get_task_status', tasks_get: 'get_task_status', 'tasks/list': 'list_tasks', tasks_list: 'list_tasks' };

function check31(ajv: Ajv, id: string, payload: unknown, where = ''): string[] {
  const validate = ajv.getSchema(`/schemas/3.1.19/${id}`);
  if (!validate) throw new Error(`no 3.1 schema ${id}`);
  return validate(payload) ? [] : (validate.errors ?? []).map((e) => `${where}${e.instancePath || '/'}: ${e.message}`);
}

/**
 * Problems with a response served as AdCP 3.1. Every response carries the task
 * status and adcp_version "3.1" (the protocol and version envelopes); a success
 * matches the tool's 3.1 response schema; an error is status "failed" with valid
 * errors[] (and matches the tool's schema where that has an error branch).
 * list_authorized_properties, an AdCP 2.5 tool, has only the envelope to match.
 */
export function responseProblems31(tool: string, payload: Record<string, unknown>, isError = false): string[] {
  const { ajv } = load31();
  const details = (schemaFile: string, d: unknown) => (ajv.getSchema(`/schemas/3.1.19/${schemaFile}`) ? check31(ajv, schemaFile, d) : undefined);
  return [...envelopeAndBody31(tool, payload, isError), ...detailsProblems(payload, details)];
}

function envelopeAndBody31(tool: string, payload: Record<string, unknown>, isError: boolean): string[] {
  const { ajv, manifest } = load31();
  const problems = [...check31(ajv, 'core/protocol-envelope.json', payload), ...check31(ajv, 'core/version-envelope.json', payload)];
  if (payload.adcp_version !== '3.1') problems.push(`/adcp_version: expected "3.1", got ${JSON.stringify(payload.adcp_version)}`);
  if (isError) {
    if (payload.status !== 'failed') problems.push(`/status: an error is "failed", got ${JSON.stringify(payload.status)}`);
    const errors = payload.errors as unknown[] | undefined;
    if (!Array.isArray(errors) || errors.length === 0) problems.push('/errors: an error response needs errors[]');
    for (const [i, e] of [...(errors ?? []), payload.adcp_error].entries()) problems.push(...check31(ajv, 'core/error.json', e, `/errors/${i}`));
    return problems;
  }
  if (typeof payload.status !== 'string') problems.push('/status: missing');
  const entry = manifest.tools[NAME_31[tool] ?? tool];
  if (!entry) {
    if (tool !== 'list_authorized_properties') throw new Error(`no 3.1 response schema for ${tool}`);
    return problems;
  }
  return [...problems, ...check31(ajv, entry.response_schema, payload)];
}

/** Problems with a payload against one of the 3.1 reference schemas, e.g. "core/mcp-webhook-payload.json". */
export function payloadProblems31(schemaFile: string, payload: unknown): string[] {
  return check31(load31().ajv, schemaFile, payload);
}
