/**
 * MCP requests other than tool calls (resources/read, resources/subscribe, the MCP tasks/* methods): the SDK answers
 * a handler's error with that error's message, and a database error's message is the failed SQL with its parameters.
 * A guarded handler answers anything but an McpError with a generic internal error, logged with context first. Reads
 * (and other handlers safe to repeat) also run again when their query met a broken connection, as tool calls do.
 */
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { rerunOnBrokenConnection } from '../db/client.js';
import type { Logger } from '../logger.js';

export const INTERNAL_ERROR_MESSAGE = 'The sales agent hit an internal error; try again shortly.';

export function guarded<A extends unknown[], R>(logger: Logger, request: string, fn: (...args: A) => Promise<R>, opts: { repeatable: boolean }): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      if (!opts.repeatable) return await fn(...args);
      return await rerunOnBrokenConnection(() => fn(...args), {
        onRerun: (err, rerun) => logger.warn('the database connection broke under a request; running it again', { request, rerun, error: err }),
      });
    } catch (err) {
      if (err instanceof McpError) throw err;
      logger.error('request failed', { request, error: err });
      throw new McpError(ErrorCode.InternalError, INTERNAL_ERROR_MESSAGE);
    }
  };
}
