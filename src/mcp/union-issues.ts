/**
 * Which of a union's branches a buyer's value was meant for, so its validation error speaks of that
 * branch. Zod reports every branch's issues when none matches; the AdCP schemas are full of unions
 * (an account by id or by brand + operator, a creative asset by asset_type, one status or a list),
 * and the branch with the fewest issues, first on a tie, was often not the one the agent wrote: told
 * to add `account_id` when it had sent brand + operator, or that an asset's asset_type must be "image"
 * when its duration was the trouble. Chosen, in order, by:
 * 1. the branch whose object shape declares most of the keys the value has (what the agent wrote);
 * 2. the fewest issues, where refusing a discriminator the value does carry (a literal such as
 *    asset_type "video") or refusing the whole value while another branch looks inside it counts more;
 * 3. the first.
 */
import type { z } from 'zod';
import { valueAt } from './value-at.js';

type Issue = z.core.$ZodIssue;
type Path = PropertyKey[];
// Zod 4 schema internals, read-only: the definition's type and its parts.
type Def = { type: string; shape?: Record<string, unknown>; innerType?: unknown; element?: unknown; options?: unknown[]; in?: unknown; out?: unknown; getter?: () => unknown; valueType?: unknown };

const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;

/** The schema with wrappers (optional, nullable, default, pipe, preprocess, lazy...) taken off. */
function unwrap(s: unknown): unknown {
  for (let i = 0; i < 20; i++) {
    const d = defOf(s);
    if (!d) return s;
    if (d.innerType !== undefined && d.type !== 'object') s = d.innerType;
    // A preprocess is a pipe from a transform into the schema proper.
    else if (d.type === 'pipe') s = defOf(d.in)?.type === 'transform' ? d.out : d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else return s;
  }
  return s;
}

/** The schema at `path` under `root` (through any branch of a union on the way that has it). */
export function schemaAt(root: unknown, path: Path): unknown {
  const s = unwrap(root);
  if (path.length === 0) return s;
  const d = defOf(s);
  if (!d) return undefined;
  const [key, ...rest] = path;
  if (d.type === 'union') {
    for (const o of d.options ?? []) {
      const found = schemaAt(o, path);
      if (found) return found;
    }
    return undefined;
  }
  if (d.type === 'object' && typeof key === 'string' && d.shape && key in d.shape) return schemaAt(d.shape[key], rest);
  if (d.type === 'array' && typeof key === 'number') return schemaAt(d.element, rest);
  if (d.type === 'record') return schemaAt(d.valueType, rest);
  return undefined;
}

/** Keys of the value that each union option's object shape declares (-1: not an object shape). */
function keyOverlap(schema: unknown, unionPath: Path, value: unknown): number[] | undefined {
  const union = defOf(schemaAt(schema, unionPath));
  if (union?.type !== 'union' || !value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  return (union.options ?? []).map((o) => {
    const d = defOf(unwrap(o));
    return d?.type === 'object' && d.shape ? keys.filter((k) => k in d.shape!).length : -1;
  });
}

function cost(branch: readonly Issue[], unionPath: Path, args: unknown, othersLookInside: boolean): number {
  let total = 0;
  for (const i of branch) {
    const path = [...unionPath, ...i.path];
    const present = valueAt(args, path) !== undefined;
    total += 1;
    // A literal the value carries, refused: the value names another branch (a discriminator such as asset_type).
    if (i.code === 'invalid_value' && i.values.length === 1 && present && i.path.length > 0) total += 2;
    // The whole value refused while another branch accepts its type and looks inside.
    if (i.path.length === 0 && othersLookInside) total += 2;
  }
  return total;
}

/** The index of the branch the value at `unionPath` was most likely meant for. */
export function likelyBranch(errors: readonly (readonly Issue[])[], unionPath: Path, args: unknown, schema?: unknown): number {
  const overlap = schema !== undefined && args !== undefined ? keyOverlap(schema, unionPath, valueAt(args, unionPath)) : undefined;
  const looksInside = errors.map((b) => b.length > 0 && b.every((i) => i.path.length > 0));
  let best = 0;
  let bestKey: [number, number] | undefined;
  errors.forEach((branch, n) => {
    if (branch.length === 0) return;
    const key: [number, number] = [-(overlap?.[n] ?? 0), cost(branch, unionPath, args, looksInside.some((l, m) => l && m !== n))];
    if (!bestKey || key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
      bestKey = key;
      best = n;
    }
  });
  return best;
}

/** A type in a word or two: string, number, "a"|"b", object, array of object... */
function typeWord(schema: unknown, depth = 0): string {
  const d = defOf(unwrap(schema));
  if (!d) return 'any';
  if (d.type === 'literal') return ((d as { values?: unknown[] }).values ?? []).map((v) => JSON.stringify(v)).join('|');
  if (d.type === 'enum') return Object.values((d as { entries?: Record<string, unknown> }).entries ?? {}).map((v) => JSON.stringify(v)).join('|');
  if (d.type === 'union') {
    const words = (d.options ?? []).map((o) => typeWord(o, depth + 1));
    return words.length > 6 ? `${words.slice(0, 6).join('|')}|…` : words.join('|');
  }
  if (d.type === 'array') return depth > 1 ? 'array' : `array of ${typeWord(d.element, depth + 1)}`;
  return d.type;
}

/**
 * The object shape expected at `path`, in one line ({agent_url: string, id: string, width?: number}), for an
 * issue whose message says only "expected object": tools/list trims deep levels of the AdCP schemas to spare
 * agents' context, so the error is where an agent learns the shape.
 */
export function objectShapeAt(schema: unknown, path: Path): string | undefined {
  const d = defOf(schemaAt(schema, path));
  if (d?.type !== 'object' || !d.shape) return undefined;
  const fields = Object.entries(d.shape).map(([k, v]) => {
    const optional = ['optional', 'default', 'prefault'].includes(defOf(v)?.type ?? '');
    return `${k}${optional ? '?' : ''}: ${typeWord(v)}`;
  });
  const shown = fields.slice(0, 10).join(', ');
  return `{${shown}${fields.length > 10 ? ', …' : ''}}`;
}
