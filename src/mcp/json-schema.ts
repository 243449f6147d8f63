/**
 * JSON Schema for tools/list. The AdCP request schemas are deep (create_media_buy
 * is ~90 KB fully expanded); an agent's context window deserves less. We keep
 * the top levels with their descriptions and let deeper levels be any object,
 * which the server still validates in full on every call.
 */
import { z } from 'zod';
import { acceptedValues } from './adcp31-values.js';

const MAX_DEPTH = 4;

/** A closed set of strings the 3.0 schema lists, with the values AdCP 3.1 added (accepted, see adcp31-values.ts). */
function with31Values(obj: Record<string, unknown>): Record<string, unknown> {
  const consts = Array.isArray(obj.anyOf) && obj.anyOf.every((a) => a && typeof (a as { const?: unknown }).const === 'string') ? (obj.anyOf as { const: string }[]) : undefined;
  const values = consts ? consts.map((a) => a.const) : Array.isArray(obj.enum) && obj.enum.every((v) => typeof v === 'string') ? (obj.enum as string[]) : undefined;
  if (!values) return obj;
  const added = acceptedValues(values).slice(values.length);
  if (added.length === 0) return obj;
  return consts ? { ...obj, anyOf: [...consts, ...added.map((v) => ({ type: 'string', const: v }))] } : { ...obj, enum: [...values, ...added] };
}

function prune(node: unknown, depth: number): unknown {
  if (Array.isArray(node)) return node.map((n) => prune(n, depth));
  if (!node || typeof node !== 'object') return node;
  const obj = with31Values(node as Record<string, unknown>);
  if (depth >= MAX_DEPTH && (obj.type === 'object' || obj.properties || obj.anyOf || obj.oneOf || obj.allOf)) {
    return obj.description ? { description: obj.description } : {};
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === '$schema' || k === 'examples') continue;
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, prune(pv, depth + 1)]));
    } else if (k === 'items' || k === 'additionalProperties') {
      out[k] = prune(v, depth + 1);
    } else if (k === 'anyOf' || k === 'oneOf' || k === 'allOf') {
      // Alternatives sit at the level of what they describe: not a level deeper.
      out[k] = prune(v, depth);
    } else {
      out[k] = v;
    }
  }
  return out;
}

export function compactJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const full = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<string, unknown>;
  const pruned = prune(full, 0) as Record<string, unknown>;
  return { ...pruned, type: 'object' };
}
