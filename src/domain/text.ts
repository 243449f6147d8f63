/**
 * Strings Postgres cannot store: NUL (text and jsonb refuse it) and lone UTF-16 surrogates (JSON
 * encoders write them as \ud800 escapes, which jsonb refuses). JavaScript strings may hold both, and
 * buyers can send both (JSON allows "\u0000" and "\ud800").
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

export const unstorable = (s: string): boolean => UNSTORABLE.test(s);

/** The string with each NUL and lone surrogate replaced by U+FFFD. */
export const storable = (s: string): string => (UNSTORABLE.test(s) ? s.replace(UNSTORABLE_ALL, '\uFFFD') : s);

/**
 * The path ("packages[0].buyer_ref") of the first string, or object key, in a JSON value that Postgres
 * cannot store; undefined when there is none. Bounded in depth like the values it walks.
 */
export function unstorablePath(value: unknown, path = '', depth = 0): string | undefined {
  if (typeof value === 'string') return unstorable(value) ? path || '(arguments)' : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorablePath(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (unstorable(k)) return at;
    const found = unstorablePath(v, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}
