/**
 * MCP over stdio: newline-delimited JSON-RPC on stdin and stdout, as the MCP SDK's
 * StdioServerTransport speaks it, with two differences a client notices:
 * - A line we cannot take is answered rather than only dropped: one that is not JSON gets -32700,
 *   one that is not a JSON-RPC message -32600 (with its id if it has a valid one, else null), one
 *   over MAX_LINE_BYTES -32600 (null: its id is not read). The transport goes on serving after each;
 *   the SDK's closed itself after an oversized message, so the process exited.
 * - A line is searched for only in the bytes that arrive, and joined once it ends: the SDK's buffer
 *   copied and rescanned everything buffered on every chunk (seconds of blocked event loop on a
 *   message of a few MB, quadratic in its size).
 */
import process from 'node:process';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, RequestIdSchema, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/** The longest line read; the MCP SDK's stdio buffer holds as much. */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;

const NEWLINE = 0x0a;

export class LineStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  private parts: Buffer[] = [];
  private size = 0;
  /** Over MAX_LINE_BYTES: the rest of this line is dropped as it arrives. */
  private skipping = false;
  private started = false;
  private closed = false;

  constructor(
    private readonly stdin: Readable = process.stdin,
    private readonly stdout: Writable = process.stdout,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  async start(): Promise<void> {
    if (this.started) throw new Error('LineStdioTransport already started');
    this.started = true;
    this.stdin.on('data', this.onData);
    this.stdin.on('error', this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdin.off('data', this.onData);
    this.stdin.off('error', this.onStreamError);
    if (this.stdin.listenerCount('data') === 0) this.stdin.pause();
    this.parts = [];
    this.size = 0;
    this.onclose?.();
  }

  private readonly onStreamError = (error: Error) => this.onerror?.(error);

  private readonly onData = (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1 && !this.closed; nl = data.indexOf(NEWLINE, start)) {
      if (this.skipping) this.skipping = false;
      else if (this.size + nl - start > this.maxLineBytes) this.refuseOversized();
      else this.line(this.size ? Buffer.concat([...this.parts, data.subarray(start, nl)]) : data.subarray(start, nl));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (this.closed || this.skipping || start === data.length) return;
    if (this.size + data.length - start > this.maxLineBytes) {
      this.parts = [];
      this.size = 0;
      this.skipping = true;
      this.refuseOversized();
      return;
    }
    // Copied: the stream may reuse the chunk's memory.
    this.parts.push(Buffer.from(data.subarray(start)));
    this.size += data.length - start;
  };

  private refuseOversized(): void {
    const message = `Invalid Request: a message over ${this.maxLineBytes / 1024 / 1024} MB was dropped.`;
    this.onerror?.(new Error(message));
    void this.write({ jsonrpc: '2.0', id: null, error: { code: -32600, message } });
  }

  private line(bytes: Buffer): void {
    const text = bytes.toString('utf8').replace(/\r$/, '');
    if (!text.trim()) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      this.onerror?.(new Error(`a line that is not JSON was answered with -32700: ${(err as Error).message}`));
      void this.write({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the line is not JSON.' } });
      return;
    }
    const message = JSONRPCMessageSchema.safeParse(parsed);
    if (!message.success) {
      const id = RequestIdSchema.safeParse(parsed && typeof parsed === 'object' ? (parsed as { id?: unknown }).id : undefined).data ?? null;
      this.onerror?.(new Error('a line that is not a JSON-RPC 2.0 message was answered with -32600'));
      void this.write({
        jsonrpc: '2.0',
        id,
        error: { code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 message (jsonrpc "2.0", a method, params an object, an id that is a string or an integer; one message per line, no batches).' },
      });
      return;
    }
    try {
      this.onmessage?.(message.data);
    } catch (err) {
      this.onerror?.(err as Error);
    }
  }

  private write(message: JSONRPCMessage | { jsonrpc: '2.0'; id: RequestId | null; error: { code: number; message: string } }): Promise<void> {
    return new Promise((resolve) => {
      if (this.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.stdout.once('drain', resolve);
    });
  }
}
