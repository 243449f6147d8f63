/**
 * The public surface, snapshotted: every tool's name, description, hints and
 * JSON schemas. A change to what buyers see shows up in review as a diff of
 * tests/snapshots/tools.json (update with `npx vitest run -u`).
 */
import { describe, expect, it } from 'vitest';
import { toolList } from '../../src/mcp/server.js';

describe('tool surface', () => {
  it('matches the committed snapshot', async () => {
    await expect(`${JSON.stringify(toolList(), null, 2)}\n`).toMatchFileSnapshot('../snapshots/tools.json');
  });

  it('names every tool once and states every hint', () => {
    const names = toolList().map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const t of toolList()) {
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof t.annotations?.[hint], `${t.name}.${hint}`).toBe('boolean');
      }
    }
  });
});
