/**
 * AdCP list pagination (core/pagination-request.json, pagination-response.json): max_results 1-100,
 * 50 by default; an opaque cursor; `cursor` present exactly when `has_more` is true.
 *
 * Offset cursors name the offset of the next page and the query they came from, so a cursor is
 * refused with a VALIDATION_ERROR when the filters changed between pages (the offset would mean
 * another list) or when it was never issued here. Keyset cursors name the last item of the page
 * (its sort value and id) and the query: the next page starts after that item, so items added or
 * changed between pages shift no others (an offset would repeat or skip them). Refused the same way.
 */
import { AdcpError } from '../domain/errors.js';
import { hashJson } from '../domain/ids.js';

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 100;

export interface PaginationRequest {
  max_results?: number;
  cursor?: string;
}

export interface PaginationResponse {
  has_more: boolean;
  cursor?: string;
  total_count?: number;
}

/** The page size a request asks for, within AdCP's bounds. */
export const pageLimit = (p: PaginationRequest | undefined): number => Math.min(Math.max(p?.max_results ?? DEFAULT_PAGE, 1), MAX_PAGE);

/** A short fingerprint of what a list was asked for (its filters and sort), that a cursor carries. */
export const queryKey = (query: unknown): string => hashJson(query).slice(0, 16);

const foreignCursor = () =>
  new AdcpError('VALIDATION_ERROR', 'pagination.cursor is not a cursor this agent issued for these filters and sort.', {
    field: 'pagination.cursor',
    suggestion: 'Omit the cursor to start from the first page, and keep filters and sort unchanged while paging.',
  });

export function encodeOffsetCursor(offset: number, key: string): string {
  return Buffer.from(JSON.stringify([offset, key])).toString('base64url');
}

/** The offset an offset cursor names, if this agent issued it for the same query. */
export function decodeOffsetCursor(cursor: string, key: string): number {
  try {
    const [offset, k] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [number, string];
    if (Number.isInteger(offset) && offset > 0 && k === key) return offset;
  } catch {
    // fall through
  }
  throw foreignCursor();
}

/** A keyset cursor: the sort value and id of the last item of a page. */
export interface Keyset {
  value: string | number;
  id: string;
}

export function encodeKeysetCursor(last: Keyset, key: string): string {
  return Buffer.from(JSON.stringify([last.value, last.id, key])).toString('base64url');
}

/** The item a keyset cursor names, if this agent issued it for the same query; `valid` checks its sort value. */
export function decodeKeysetCursor(cursor: string, key: string, valid: (value: unknown) => boolean): Keyset {
  try {
    const [value, id, k] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown, unknown];
    // Postgres text holds no NUL: such a value would fail the query rather than the cursor.
    const text = (v: unknown): v is string => typeof v === 'string' && !v.includes('\u0000');
    if (k === key && text(id) && (text(value) || typeof value === 'number') && valid(value)) return { value, id };
  } catch {
    // fall through
  }
  throw foreignCursor();
}

/**
 * A keyset listing's page, fetched with one row more than `limit` to tell whether another follows: the page, and
 * its pagination block (with the cursor naming its last item when another follows).
 */
export function keysetPage<T extends { id: string; sortValue: string | number }>(fetched: T[], limit: number, total: number, key: string): { page: T[]; pagination: PaginationResponse } {
  const page = fetched.slice(0, limit);
  const last = page.at(-1);
  const hasMore = fetched.length > limit && last !== undefined;
  return { page, pagination: { has_more: hasMore, total_count: total, ...(hasMore && { cursor: encodeKeysetCursor({ value: last.sortValue, id: last.id }, key) }) } };
}

/** What a list request asks for: the request without its envelope (pagination itself, context, versions, keys). */
export function listQuery(input: Record<string, unknown>): Record<string, unknown> {
  const { pagination: _p, context: _c, ext: _e, adcp_version: _v, adcp_major_version: _m, idempotency_key: _k, push_notification_config: _n, ...query } = input;
  return query;
}

/** One page of a list held in memory, with its pagination block. */
export function pageOf<T>(items: readonly T[], request: PaginationRequest | undefined, query: unknown): { page: T[]; pagination: PaginationResponse } {
  const key = queryKey(query);
  const limit = pageLimit(request);
  const offset = request?.cursor ? decodeOffsetCursor(request.cursor, key) : 0;
  const page = items.slice(offset, offset + limit);
  const hasMore = offset + page.length < items.length;
  return { page, pagination: { has_more: hasMore, total_count: items.length, ...(hasMore && { cursor: encodeOffsetCursor(offset + page.length, key) }) } };
}
