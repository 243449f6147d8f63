/**
 * The AdCP 3.0 JSON Schemas of tool requests, as the AdCP SDK ships them
 * (dist/lib/schemas-data/3.0 of @adcp/sdk), in their flat tree: one Ajv holds
 * every schema by its $id, so a schema many requests refer to (a brand, a
 * creative asset) compiles to one function they share, where the bundled
 * tree, refs inlined, made megabytes of code. Compiled at build time into one
 * standalone module (scripts/build-validators.mjs), or at run time when the
 * build has not made it (request-constraints.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const require = createRequire(import.meta.url);
const SDK_PACKAGE = require.resolve('@adcp/sdk/package.json');
const SCHEMAS_3_0 = path.join(path.dirname(SDK_PACKAGE), 'dist/lib/schemas-data/3.0');
/**
 * What a build of the validators is made from: the AdCP SDK's version (its schemas) and this module's revision
 * (bump it when what is compiled changes: options, LOOSENED_IN_31, PART_SCHEMAS). A build with another stamp is stale.
 */
export const VALIDATORS_STAMP = `${(JSON.parse(readFileSync(SDK_PACKAGE, 'utf8')) as { version: string }).version}/r1`;

/** The key a tool's request schema is found by: tasks/get -> tasks_get. */
export const schemaKey = (tool: string) => tool.replace(/\//g, '_');

/** Keywords that describe and validate nothing; dropped before compiling, since generated code embeds the schema. */
const ANNOTATIONS = new Set(['description', 'title', 'examples', 'example', '$comment', 'default', 'deprecated', 'readOnly', 'writeOnly']);
/** Keywords whose value maps names (of properties, definitions...) to schemas: those names are not keywords. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);

/** A copy of a schema without annotations (descriptions are most of AdCP's schemas' size). */
export function withoutAnnotations(schema: unknown, isMap = false): unknown {
  if (Array.isArray(schema)) return schema.map((s) => withoutAnnotations(s));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (isMap) out[k] = withoutAnnotations(v);
    else if (ANNOTATIONS.has(k) || k.startsWith('x-')) continue;
    // enum and const values are data, kept as they are.
    else out[k] = k === 'enum' || k === 'const' ? v : withoutAnnotations(v, SCHEMA_MAPS.has(k));
  }
  return out;
}

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? (e.name === 'bundled' ? [] : jsonFiles(path.join(dir, e.name))) : e.name.endsWith('.json') ? [path.join(dir, e.name)] : []));
}

/**
 * Where AdCP 3.1 loosened a 3.0 constraint, the 3.0 schema is loosened the same way before compiling, so a
 * valid 3.1 request is not refused by it: VAST and DAAST tag URLs are URI templates in 3.1 (cache-busting
 * macros such as {CACHEBUSTER}), plain URIs in 3.0. tests/unit/request-constraints.test.ts finds any other.
 */
const LOOSENED_IN_31: Record<string, (schema: Record<string, unknown>) => void> = {
  'core/assets/vast-asset.json': urlsAsTemplates,
  'core/assets/daast-asset.json': urlsAsTemplates,
};
function urlsAsTemplates(schema: Record<string, unknown>): void {
  for (const branch of (schema.oneOf ?? []) as { properties?: { url?: { format?: string } } }[]) {
    if (branch.properties?.url?.format === 'uri') branch.properties.url.format = 'uri-template';
  }
}

/** Schemas validated on their own, beside the tools' requests: a creative of sync_creatives, judged one by one. */
const PART_SCHEMAS: Record<string, string> = { creative_asset: 'core/creative-asset.json' };

interface Catalog {
  /** tool key -> $id of its request schema */
  requests: Map<string, string>;
  schemas: { $id?: string }[];
}
let catalog: Catalog | undefined;
function load(): Catalog {
  if (catalog) return catalog;
  const requests = new Map<string, string>();
  const schemas: { $id?: string }[] = [];
  const ids = new Set<string>();
  for (const file of jsonFiles(SCHEMAS_3_0)) {
    const rel = path.relative(SCHEMAS_3_0, file).split(path.sep).join('/');
    const schema = withoutAnnotations(JSON.parse(readFileSync(file, 'utf8'))) as { $id?: string };
    if (!schema.$id || ids.has(schema.$id)) continue;
    LOOSENED_IN_31[rel]?.(schema as Record<string, unknown>);
    ids.add(schema.$id);
    schemas.push(schema);
    const base = path.basename(file, '.json');
    // A tool in two trees (list_creative_formats) takes media-buy's, as the SDK does.
    const key = base.slice(0, -'-request'.length).replace(/-/g, '_');
    if (base.endsWith('-request') && (!requests.has(key) || rel.startsWith('media-buy/'))) requests.set(key, schema.$id);
    for (const [part, partFile] of Object.entries(PART_SCHEMAS)) if (rel === partFile) requests.set(part, schema.$id);
  }
  return (catalog = { requests, schemas });
}

/** A 3.0 schema by its $id, as it is compiled here (annotations dropped, LOOSENED_IN_31 applied). */
export function schemaById(id: string): Record<string, unknown> | undefined {
  return load().schemas.find((s) => s.$id === id) as Record<string, unknown> | undefined;
}

/** Keys of the validators besides the tools' (PART_SCHEMAS). */
export const PART_KEYS = Object.keys(PART_SCHEMAS);

/** The $id of a tool's AdCP 3.0 request schema (or of a PART_SCHEMAS part), if the SDK ships one. */
export function requestSchemaId(tool: string): string | undefined {
  return load().requests.get(schemaKey(tool));
}

/** An Ajv holding every 3.0 schema, that validates as they say (LOOSENED_IN_31 aside): every issue, formats checked. */
export function requestAjv(options: { source?: boolean } = {}): Ajv {
  // discriminator: a union tagged by a property (an asset's asset_type, a VAST tag's delivery_type) is judged by the
  // branch its tag names, so a value is never reported against a branch it was not meant for.
  const ajv = new Ajv({ strict: false, allErrors: true, discriminator: true, ...(options.source && { code: { source: true } }) });
  (addFormatsModule as unknown as (a: Ajv) => void)(ajv);
  for (const schema of load().schemas) ajv.addSchema(schema);
  return ajv;
}

let shared: Ajv | undefined;
/** Compile a tool's request validator in this process (the first about 0.5 s); undefined when there is no schema. */
export function compileRequestValidator(tool: string): ValidateFunction | undefined {
  const id = requestSchemaId(tool);
  if (!id) return undefined;
  shared ??= requestAjv();
  return shared.getSchema(id);
}
