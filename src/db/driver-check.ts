/**
 * Whether the installed postgres.js carries scripts/patch-postgres.mjs's mend (applied at npm install).
 * Without it (installed with --ignore-scripts, or a new driver version), a connection that Postgres
 * closes mid-transaction can crash the process; the operator should know.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Logger } from '../logger.js';

const MARKER = 'adcp-sales-agent: closed-socket write guard';

export function warnIfDriverUnpatched(logger: Logger): void {
  try {
    const root = path.resolve(path.dirname(createRequire(import.meta.url).resolve('postgres')), '../..');
    if (fs.readFileSync(path.join(root, 'src', 'connection.js'), 'utf8').includes(MARKER)) return;
    logger.warn('postgres.js is installed without its mend (scripts/patch-postgres.mjs runs at npm install; not with --ignore-scripts): a database connection closed mid-transaction can stop this process. Run `node scripts/patch-postgres.mjs`.');
  } catch (err) {
    logger.warn('could not check the postgres.js driver for its mend', { error: err });
  }
}
