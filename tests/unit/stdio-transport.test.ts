/** The stdio transport's line reading, over in-memory streams: how lines split across chunks, and what a bad line gets. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { LineStdioTransport } from '../../src/mcp/stdio-transport.js';

async function harness(maxLineBytes?: number) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const transport = new LineStdioTransport(stdin, stdout, maxLineBytes);
  const received: JSONRPCMessage[] = [];
  const errors: string[] = [];
  let written = '';
  stdout.on('data', (d) => (written += d.toString()));
  transport.onmessage = (m) => received.push(m);
  transport.onerror = (e) => errors.push(e.message);
  await transport.start();
  const settle = () => new Promise((r) => setImmediate(r));
  return {
    transport,
    received,
    errors,
    /** What the transport wrote back, one JSON-RPC message per line. */
    answers: () => written.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: unknown; error?: { code: number; message: string } }),
    feed: async (...chunks: (string | Buffer)[]) => {
      for (const c of chunks) stdin.write(c);
      await settle();
    },
  };
}

const ping = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });

describe('LineStdioTransport', () => {
  it('reads lines whatever the chunks: several in one, one across many, CRLF, blank lines', async () => {
    const h = await harness();
    const two = `${ping(1)}\n${ping(2)}\r\n\n`;
    const split = `${ping(3)}\n`;
    await h.feed(two, split.slice(0, 5), split.slice(5, 20), split.slice(20));
    // A multi-byte character split between chunks is joined before it is decoded.
    const euro = Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/x', params: { s: '€' } })}\n`);
    const at = euro.indexOf(Buffer.from('€')) + 1;
    await h.feed(euro.subarray(0, at), euro.subarray(at));
    expect(h.received).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
      { jsonrpc: '2.0', id: 3, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/x', params: { s: '€' } },
    ]);
    expect(h.answers()).toEqual([]);
  });

  it('answers a line that is not JSON with -32700 and one that is not JSON-RPC with -32600, and reads on', async () => {
    const h = await harness();
    await h.feed('{not json\n', `${JSON.stringify({ jsonrpc: '2.0', id: 7 })}\n`, '[1,2]\n', `${JSON.stringify({ jsonrpc: '1.0', id: { x: 1 }, method: 'ping' })}\n`, `${ping(8)}\n`);
    expect(h.answers()).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringContaining('Parse error') } },
      { jsonrpc: '2.0', id: 7, error: { code: -32600, message: expect.stringContaining('Invalid Request') } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('no batches') } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.any(String) } },
    ]);
    expect(h.received).toEqual([{ jsonrpc: '2.0', id: 8, method: 'ping' }]);
    expect(h.errors).toHaveLength(4);
  });

  it('drops a line over the limit, answering -32600 once, and reads the next line whole', async () => {
    const h = await harness(1000);
    // Over the limit before its end arrives: refused at once, the rest skipped as it comes.
    await h.feed(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"${'a'.repeat(600)}`, 'b'.repeat(600), `"}}\n${ping(2)}\n`);
    // Over the limit within one chunk that also ends it.
    await h.feed(`{"x":"${'c'.repeat(1200)}"}\n${ping(3)}\n`);
    // Exactly at the limit: read.
    const atLimit = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/y', params: { p: '' } });
    const padded = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/y', params: { p: 'd'.repeat(1000 - atLimit.length) } });
    expect(padded.length).toBe(1000);
    await h.feed(padded.slice(0, 400), padded.slice(400), '\n');
    expect(h.answers()).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('was dropped') } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('was dropped') } },
    ]);
    expect(h.received.map((m) => ('id' in m ? m.id : (m as { method: string }).method))).toEqual([2, 3, 'notifications/y']);
  });

  it('stops reading once closed', async () => {
    const h = await harness();
    let closed = 0;
    h.transport.onclose = () => closed++;
    await h.feed(`${ping(1)}\n`);
    await h.transport.close();
    await h.transport.close();
    await h.feed(`${ping(2)}\n`);
    expect(h.received).toEqual([{ jsonrpc: '2.0', id: 1, method: 'ping' }]);
    expect(closed).toBe(1);
  });
});
