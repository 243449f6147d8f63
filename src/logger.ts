/**
 * Structured JSON logs on stderr. stdout is reserved for the stdio MCP transport,
 * so nothing here may ever write to it. Values under secret-looking keys are redacted.
 */
import type { LogLevel } from './config.js';

const ORDER: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: 100 };
const SECRET_KEY = /token|secret|password|authorization|credentials|private[_-]?(key|jwk)|api[_-]?key|x-adcp-auth/i;

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  readonly level: LogLevel;
}

/**
 * Drizzle's query errors spell out every parameter in their message ("Failed query: ...\nparams: ..."):
 * buyers' request data, webhook tokens and credentials among them. The query is kept; the values are not.
 */
function withoutQueryParams(err: Error): { message: string; stack: string | undefined } {
  const { query, params } = err as { query?: unknown; params?: unknown };
  if (typeof query !== 'string' || !Array.isArray(params) || !err.message.startsWith('Failed query:')) return { message: err.message, stack: err.stack };
  const message = `Failed query: ${query}\nparams: [${params.length} not logged]`;
  return { message, stack: err.stack?.replace(err.message, message) };
}

/** The same in text that quotes such an error (Graphile Worker's "Failed task ... with error '...'" and its stack). */
const QUOTED_PARAMS = /\n(\s*)params: [^\n]*/g;
const withoutQuotedParams = (text: string): string => (text.includes('params: ') ? text.replace(QUOTED_PARAMS, '\n$1params: [not logged]') : text);

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return withoutQuotedParams(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    // Drizzle wraps the driver's error ("Failed query: ...") and keeps the reason only as its cause.
    const { code } = value as { code?: unknown };
    const { message, stack } = withoutQueryParams(value);
    return {
      name: value.name,
      message,
      ...(typeof code === 'string' ? { code } : {}),
      stack,
      ...(value.cause !== undefined ? { cause: redact(value.cause, depth + 1) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export function createLogger(level: LogLevel, base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const threshold = ORDER[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < threshold) return;
    const rec = { time: new Date().toISOString(), level: lvl, msg: withoutQuotedParams(msg), ...(redact(base) as object), ...(fields ? (redact(fields) as object) : {}) };
    write(JSON.stringify(rec) + '\n');
  };
  return {
    level,
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
