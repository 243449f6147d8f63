/**
 * What the SDK's zod schemas leave out of AdCP's request schemas: patterns,
 * formats, and length, range and size bounds. A request the zod parse has
 * accepted is checked against the AdCP 3.0 JSON Schema of its tool (a standalone
 * Ajv module made at build time, see scripts/build-validators.mjs), and
 * only those keywords are reported: the shape (types, required fields,
 * enumerations, unions) stays zod's, AdCP 3.1's added values included
 * (adcp31-values.ts). 3.1 keeps or tightens every such constraint 3.0 has, or
 * drops the field (checked against the reference schemas in
 * tests/unit/request-constraints.test.ts), so no valid 3.1 request is refused by
 * one. Costs a few microseconds on a valid request.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { FORMAT_HINTS, PATTERN_HINTS, type Hint } from '../domain/adcp-patterns.js';
import { AdcpError } from '../domain/errors.js';
import { compileRequestValidator, schemaKey } from './request-schemas.js';

/** Where the build writes the validators (dist/, from src/ and dist/ alike). */
export const GENERATED_VALIDATORS = path.resolve(import.meta.dirname, '../../dist/adcp-request-validators.cjs');

/** The JSON Schema keywords the zod schemas do not carry. */
export const CONSTRAINT_KEYWORDS = new Set([
  'pattern', 'format', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'multipleOf', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties',
]);

let built: Record<string, ValidateFunction> | null | undefined;
const compiled = new Map<string, ValidateFunction | undefined>();

/** The tool's validator, loaded on first use; undefined when AdCP 3.0 has no request schema for it. */
export function requestValidator(tool: string): ValidateFunction | undefined {
  // Loaded with require(): plain Node code, to test runners too.
  built ??= existsSync(GENERATED_VALIDATORS) ? (createRequire(import.meta.url)(GENERATED_VALIDATORS) as Record<string, ValidateFunction>) : null;
  if (built) return built[schemaKey(tool)];
  // Not built (run straight from the sources): compile here, once per tool.
  if (!compiled.has(tool)) compiled.set(tool, compileRequestValidator(tool));
  return compiled.get(tool);
}

/** A JSON pointer as the field paths our errors use: /packages/0/targeting_overlay -> packages[0].targeting_overlay. */
export function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, s) => (/^\d+$/.test(s) ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');
}

function valueAtPointer(root: unknown, pointer: string): unknown {
  let v = root;
  for (const s of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[s.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

function shown(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function describe(e: ErrorObject, value: unknown): string {
  const hint: Hint | undefined =
    e.keyword === 'pattern' ? PATTERN_HINTS[String(e.params.pattern)] : e.keyword === 'format' ? FORMAT_HINTS[String(e.params.format)] : undefined;
  if (hint) return `${shown(value)} is not ${hint.what}${hint.example ? ` (e.g. ${hint.example})` : ''}`;
  if (e.keyword === 'pattern') return `${shown(value)} does not match the pattern ${String(e.params.pattern)}`;
  if (e.keyword === 'format') return `${shown(value)} is not a valid ${String(e.params.format)}`;
  return `${shown(value)}: ${e.message ?? 'out of bounds'}`;
}

/** The constraint issues of `args` against the tool's AdCP request schema, deduplicated, at most 20. */
export function constraintIssues(tool: string, args: unknown): { pointer: string; keyword: string; message: string }[] {
  const validate = requestValidator(tool);
  if (!validate || validate(args)) return [];
  const seen = new Set<string>();
  const issues: { pointer: string; keyword: string; message: string }[] = [];
  for (const e of validate.errors ?? []) {
    if (!CONSTRAINT_KEYWORDS.has(e.keyword)) continue;
    const key = `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ pointer: e.instancePath || '/', keyword: e.keyword, message: describe(e, valueAtPointer(args, e.instancePath)) });
    if (issues.length === 20) break;
  }
  return issues;
}

/** Throws VALIDATION_ERROR naming each value AdCP's request schema refuses by pattern, format or bounds. */
export function checkConstraints(tool: string, args: unknown): void {
  const issues = constraintIssues(tool, args);
  if (issues.length === 0) return;
  const field = pointerToField(issues[0]!.pointer);
  throw new AdcpError('VALIDATION_ERROR', `Invalid request: ${field ? `${field}: ` : ''}${issues[0]!.message}.`, {
    field: field || undefined,
    suggestion: issues.length > 1 ? `Fix the ${issues.length} listed fields and send the request again.` : 'Fix the field and send the request again.',
    issues,
    details: { issues },
  });
}
