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
const SCHEMAS_3_0 = path.join(path.dirname(require.resolve('@adcp/sdk/package.json')), 'dist/lib/schemas-data/3.0');

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
    const schema = withoutAnnotations(JSON.parse(readFileSync(file, 'utf8'))) as { $id?: string };
    if (!schema.$id || ids.has(schema.$id)) continue;
    ids.add(schema.$id);
    schemas.push(schema);
    const base = path.basename(file, '.json');
    // A tool in two trees (list_creative_formats) takes media-buy's, as the SDK does.
    const key = base.slice(0, -'-request'.length).replace(/-/g, '_');
    if (base.endsWith('-request') && (!requests.has(key) || file.includes(`${path.sep}media-buy${path.sep}`))) requests.set(key, schema.$id);
  }
  return (catalog = { requests, schemas });
}

/** The $id of a tool's AdCP 3.0 request schema, if the SDK ships one. */
export function requestSchemaId(tool: string): string | undefined {
  return load().requests.get(schemaKey(tool));
}

/** An Ajv holding every 3.0 schema, that validates as they say: every issue, formats checked. */
export function requestAjv(options: { source?: boolean } = {}): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, ...(options.source && { code: { source: true } }) });
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
