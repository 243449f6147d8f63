/**
 * What the SDK's zod schemas leave out of AdCP's request schemas: patterns,
 * formats, and length, range and size bounds. A request the zod parse has
 * accepted is checked against the AdCP 3.0 JSON Schema of its tool (a standalone
 * Ajv module made at build time, see scripts/build-validators.mjs), and
 * only those keywords are reported: the shape (types, required fields,
 * enumerations, unions) stays zod's, AdCP 3.1's added values included
 * (adcp31-values.ts). 3.1 keeps or tightens every such constraint 3.0 has, or
 * drops the field, but for the few it loosened, which are loosened here too
 * (request-schemas.ts; tests/unit/request-constraints.test.ts checks them all),
 * so no valid 3.1 request is refused by one. A few microseconds a request.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { FORMAT_HINTS, PATTERN_HINTS, type Hint } from '../domain/adcp-patterns.js';
import { fieldPath, invalidRequest, MAX_LISTED_ISSUES, type AdcpError } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import { isSecretKey } from '../services/secret-box.js';
import { compileRequestValidator, schemaKey, VALIDATORS_STAMP } from './request-schemas.js';
import { valueAt } from './value-at.js';

/** Where the build writes the validators (dist/, from src/ and dist/ alike), and the export that stamps them. */
export const GENERATED_VALIDATORS = path.resolve(import.meta.dirname, '../../dist/adcp-request-validators.cjs');
export const STAMP_EXPORT = '__stamp';

/** The JSON Schema keywords the zod schemas do not carry. */
export const CONSTRAINT_KEYWORDS = new Set([
  'pattern', 'format', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'multipleOf', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties',
]);

export interface ConstraintIssue {
  pointer: string;
  keyword: string;
  message: string;
}

let built: Record<string, ValidateFunction> | null | undefined;
const compiled = new Map<string, ValidateFunction | null>();

function loadBuilt(logger?: Logger): Record<string, ValidateFunction> | null {
  if (!existsSync(GENERATED_VALIDATORS)) return null;
  try {
    // Loaded with require(): plain Node code, to test runners too.
    const mod = createRequire(import.meta.url)(GENERATED_VALIDATORS) as Record<string, ValidateFunction> & { [STAMP_EXPORT]?: string };
    if (mod[STAMP_EXPORT] === VALIDATORS_STAMP) return mod;
    logger?.warn('request validators in dist/ are stale (rebuild with npm run build); compiling them here', { built: mod[STAMP_EXPORT], expected: VALIDATORS_STAMP });
  } catch (error) {
    logger?.warn('request validators in dist/ could not be loaded; compiling them here', { error });
  }
  return null;
}

/**
 * The validator for a tool's request (or a part, see request-schemas.ts), loaded on first use; undefined when
 * AdCP 3.0 has none, or it could not be had (logged once): the request is then judged by the zod parse alone.
 */
export function requestValidator(key: string, logger?: Logger): ValidateFunction | undefined {
  built ??= loadBuilt(logger);
  const k = schemaKey(key);
  if (built?.[k]) return built[k];
  // Not built, or not in the build: compile here, once (about half a second for the first).
  let v = compiled.get(k);
  if (v === undefined) {
    try {
      v = compileRequestValidator(k) ?? null;
    } catch (error) {
      logger?.error('request validator could not be compiled; its constraints go unchecked', { schema: k, error });
      v = null;
    }
    compiled.set(k, v);
  }
  return v ?? undefined;
}

/** A JSON pointer's path: /packages/0/url -> ['packages', 0, 'url'] (digits read as array indices). */
function pointerPath(pointer: string): PropertyKey[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** A JSON pointer as the field paths our errors use: /packages/0/targeting_overlay -> packages[0].targeting_overlay. */
export const pointerToField = (pointer: string): string => fieldPath(pointerPath(pointer));

/** The value as the message shows it; a secret (credentials, a token) never comes back, only its length. */
function shown(value: unknown, pointer: string): string {
  const last = pointer.split('/').pop() ?? '';
  if (typeof value === 'string' && isSecretKey(last)) return `the ${value.length}-character ${last}`;
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function describe(e: ErrorObject, value: unknown, others: unknown[]): string {
  const v = shown(value, e.instancePath);
  const hint: Hint | undefined =
    e.keyword === 'pattern' ? PATTERN_HINTS[String(e.params.pattern)] : e.keyword === 'format' ? FORMAT_HINTS[String(e.params.format)] : undefined;
  // A union of a constant and a form ("asap" or a date-time): name the constant too.
  const or = others.length ? ` or ${others.map((o) => JSON.stringify(o)).join(' or ')}` : '';
  if (hint) return `${v} is not ${hint.what}${or}${hint.example ? ` (e.g. ${hint.example})` : ''}`;
  if (e.keyword === 'pattern') return `${v} does not match the pattern ${String(e.params.pattern)}${or}`;
  if (e.keyword === 'format') return `${v} is not a valid ${String(e.params.format)}${or}`;
  return `${v}: ${e.message ?? 'out of bounds'}`;
}

/**
 * The constraint issues of `value` against the validator `key` (a tool, or a part), deduplicated. `at` prefixes
 * the pointers (a part inside a request); pointers under `except` are left out (parts the tool judges one by one).
 */
export function constraintIssues(key: string, value: unknown, o: { at?: string; except?: string[]; logger?: Logger } = {}): ConstraintIssue[] {
  const validate = requestValidator(key, o.logger);
  if (!validate || validate(value)) return [];
  const errors = validate.errors ?? [];
  const consts = new Map<string, unknown[]>();
  for (const e of errors) if (e.keyword === 'const') consts.set(e.instancePath, [...(consts.get(e.instancePath) ?? []), e.params.allowedValue]);
  const seen = new Set<string>();
  const issues: ConstraintIssue[] = [];
  for (const e of errors) {
    if (!CONSTRAINT_KEYWORDS.has(e.keyword) || o.except?.some((p) => e.instancePath.startsWith(p))) continue;
    const dedup = `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`;
    if (seen.has(dedup)) continue;
    seen.add(dedup);
    issues.push({ pointer: `${o.at ?? ''}${e.instancePath}` || '/', keyword: e.keyword, message: describe(e, valueAt(value, pointerPath(e.instancePath)), consts.get(e.instancePath) ?? []) });
  }
  return issues;
}

/** VALIDATION_ERROR naming each value the issues refuse (the first 20), the first as its field. */
export function constraintError(all: ConstraintIssue[]): AdcpError {
  const issues = all.slice(0, MAX_LISTED_ISSUES);
  const fields = new Set(issues.map((i) => i.pointer)).size;
  const more = all.length > issues.length ? ` (the first ${issues.length} of ${all.length} issues are listed)` : '';
  return invalidRequest(issues, pointerToField(issues[0]!.pointer), `${fields > 1 ? `Fix the ${fields} listed fields` : 'Fix the field'} and send the request again${more}.`);
}

/** Throws VALIDATION_ERROR when AdCP's request schema refuses a value of the request by pattern, format or bounds. */
export function checkConstraints(tool: string, args: unknown, o: { except?: string[]; logger?: Logger } = {}): void {
  const issues = constraintIssues(tool, args, o);
  if (issues.length) throw constraintError(issues);
}
