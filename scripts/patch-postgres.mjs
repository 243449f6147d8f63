#!/usr/bin/env node
/**
 * postinstall: mends a defect of the postgres.js driver (3.4.9, the newest release; upstream
 * porsager/postgres#1154, #1208, fix proposed in #1168 and #1209, not released).
 *
 * A connection buffers small writes and sends them on the next tick (setImmediate). When its socket
 * closes first (Postgres restarted, a backend terminated, a proxy dropping the connection) the socket
 * is null when that tick comes, and `socket.write` throws a TypeError from the timer: no caller can
 * catch it, so the whole process exits. A transaction's (reserved) connection meets this on its next
 * query. Teardown also cancelled the tick without forgetting it, so a connection that reconnected
 * could never flush a buffered write again, and its queries hung.
 *
 * The mend: a write with no socket fails the connection's queries with CONNECTION_CLOSED (which the
 * callers already handle: they retry or answer SERVICE_UNAVAILABLE), and teardown forgets the tick
 * and the buffer. Applied to each of the driver's builds; idempotent; fails loudly if the driver's
 * source is not what it expects (a new version: check whether it still needs this).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

// The same string src/db/driver-check.ts looks for at start-up (this script cannot be imported from dist: it runs at install).
const MARKER = 'adcp-sales-agent: closed-socket write guard';

const require = createRequire(import.meta.url);
let root;
try {
  // Its CommonJS entry (cjs/src/index.js): the package root is two folders up.
  root = path.resolve(path.dirname(require.resolve('postgres')), '../..');
} catch {
  // Installed without the driver (not this project's install): nothing to mend.
  process.exit(0);
}

const edits = [
  {
    from: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    to:
      '  function nextWrite(fn) {\n' +
      `    if (socket === null) { // ${MARKER}\n` +
      '      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n' +
      '      chunk = nextWriteTimer = null\n' +
      "      error(Errors.connection('CONNECTION_CLOSED', options))\n" +
      '      return false\n' +
      '    }\n' +
      '    const x = socket.write(chunk, fn)',
  },
  {
    // terminate(): forget the cancelled tick and what it would have sent.
    from: '    terminated = true\n    if (stream || query || initial || sent.length)\n      error(Errors.connection(\'CONNECTION_DESTROYED\', options))\n\n    clearImmediate(nextWriteTimer)\n',
    to: "    terminated = true\n    if (stream || query || initial || sent.length)\n      error(Errors.connection('CONNECTION_DESTROYED', options))\n\n    clearImmediate(nextWriteTimer)\n    nextWriteTimer = chunk = null\n",
  },
  {
    // closed(): likewise, so the reconnected socket gets its writes.
    from: '    incomings = null\n    clearImmediate(nextWriteTimer)\n',
    to: '    incomings = null\n    clearImmediate(nextWriteTimer)\n    nextWriteTimer = chunk = null\n',
  },
];

const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
let failed = false;
for (const build of ['src', 'cjs/src', 'cf/src']) {
  const file = path.join(root, build, 'connection.js');
  if (!fs.existsSync(file)) continue;
  let text = fs.readFileSync(file, 'utf8');
  if (text.includes(MARKER)) continue;
  for (const e of edits) {
    if (!text.includes(e.from)) {
      console.error(`patch-postgres: postgres ${version} ${build}/connection.js is not as expected; review scripts/patch-postgres.mjs for this version`);
      failed = true;
      break;
    }
    text = text.replace(e.from, e.to);
  }
  if (!failed) fs.writeFileSync(file, text);
}
process.exit(failed ? 1 : 0);
