/**
 * Build step (after tsc): compile the AdCP 3.0 request schema of every tool
 * this agent serves into one standalone Ajv module, dist/adcp-request-validators.cjs
 * (one export per tool; schemas they share compile once), so the server loads
 * ready code instead of compiling the schemas on a buyer's first call.
 * See src/mcp/request-constraints.ts.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = path.resolve(import.meta.dirname, '..');
const { PART_KEYS, VALIDATORS_STAMP: stamp, requestAjv, requestSchemaId, schemaKey } = await import(path.join(root, 'dist/mcp/request-schemas.js'));
const { TOOLS } = await import(path.join(root, 'dist/mcp/tools/index.js'));
const { GENERATED_VALIDATORS, STAMP_EXPORT } = await import(path.join(root, 'dist/mcp/request-constraints.js'));

const started = performance.now();
const ajv = requestAjv({ source: true });
const exports = {};
for (const key of [...TOOLS.map((t) => schemaKey(t.name)), ...PART_KEYS]) {
  const id = requestSchemaId(key);
  if (id) exports[key] = id;
}
for (const id of Object.values(exports)) ajv.getSchema(id);
// CommonJS: loaded with require(), it is plain Node code to test runners too (no transform).
// Stamped with what it was made from: a stale build (the SDK upgraded since, say) is not used.
const code = `${(standaloneCode.default ?? standaloneCode)(ajv, exports)}\nmodule.exports.${STAMP_EXPORT} = ${JSON.stringify(stamp)};\n`;
writeFileSync(GENERATED_VALIDATORS, code);
process.stderr.write(`build-validators: ${Object.keys(exports).length} request validators (${stamp}), ${Math.round(code.length / 1024)} KiB, in ${Math.round(performance.now() - started)} ms\n`);
