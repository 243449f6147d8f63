/**
 * Keyset pagination in SQL (see src/mcp/pagination.ts): a page starts after the item a cursor names, by its sort
 * value and id. Timestamps travel at Postgres's precision, so the next page starts exactly after the last item.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';

/** A timestamp as a cursor carries it: UTC to the microsecond, as Postgres keeps it (a JS date would drop the microseconds). */
export const exactTime = (column: AnyPgColumn) => sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** A cursor's timestamp: in that form, and a real time (Postgres refuses 30 February, which Date.parse rolls over). */
export function isExactTime(v: unknown): boolean {
  if (typeof v !== 'string' || !EXACT_TIME.test(v)) return false;
  const seconds = v.slice(0, 19);
  const t = Date.parse(`${seconds}Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().startsWith(seconds);
}

/** Per sort field: the expression sorted on, its value as a cursor carries it, that value back in SQL, and the check of a cursor's value. */
export interface KeysetSort {
  key: SQL;
  value: SQL;
  from: (v: string | number) => SQL;
  valid: (v: unknown) => boolean;
}

export const timeSort = (column: AnyPgColumn): KeysetSort => ({ key: sql`${column}`, value: exactTime(column), from: (v) => sql`${v}::timestamptz`, valid: isExactTime });
export const textSort = (column: AnyPgColumn): KeysetSort => ({ key: sql`${column}`, value: sql`${column}`, from: (v) => sql`${v}::text`, valid: (v) => typeof v === 'string' });

/** The rows after the keyset `after` in this sort (and id) order. */
export const afterKeyset = (sort: KeysetSort, id: AnyPgColumn, direction: 'asc' | 'desc', after: { value: string | number; id: string }): SQL =>
  sql`(${sort.key}, ${id}) ${direction === 'asc' ? sql`>` : sql`<`} (${sort.from(after.value)}, ${after.id})`;
