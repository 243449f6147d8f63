/** list_creatives: the caller's creative library, filtered, sorted and paginated, with package assignments. */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { assignmentsOf, listCreatives, validSortValue, type CreativeFilters, type CreativeSortField } from '../../db/queries/creatives.js';
import { AdcpError } from '../../domain/errors.js';
import { ADCP31_ADDED_VALUES } from '../adcp31-values.js';
import { defineTool } from '../define-tool.js';
import { accountScope } from '../resolve-account.js';
import { decodeKeysetCursor, keysetPage, pageLimit, queryKey } from '../pagination.js';

interface Filters {
  creative_ids?: string[];
  statuses?: string[];
  /** AdCP 2 spelling of statuses. */
  status?: string | string[];
  format_ids?: { agent_url: string; id: string }[];
  name_contains?: string;
  /** Alias of name_contains. */
  name_search?: string;
  tags?: string[];
  tags_any?: string[];
  created_after?: string;
  created_before?: string;
  updated_after?: string;
  updated_before?: string;
  assigned_to_packages?: string[];
  media_buy_ids?: string[];
  unassigned?: boolean;
  /** Creatives of these accounts. */
  accounts?: unknown[];
  concept_ids?: string[];
  has_variables?: boolean;
  has_served?: boolean;
  [k: string]: unknown;
}

interface Input {
  filters?: Filters;
  sort?: { field?: CreativeSortField; direction?: 'asc' | 'desc' };
  pagination?: { max_results?: number; cursor?: string };
  include_assignments?: boolean;
  include_snapshot?: boolean;
  fields?: string[];
  [k: string]: unknown;
}

const bad = (message: string, field: string, suggestion: string) => new AdcpError('VALIDATION_ERROR', message, { field, suggestion });

function toDate(v: string | undefined, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw bad(`${field} is not a valid ISO 8601 date-time.`, field, 'Use a date-time such as 2026-01-01T00:00:00Z.');
  return d;
}

/** The statuses a filter may name: AdCP 3.1's, so `suspended` too, which no creative here is in (it matches none). */
const FILTER_STATUSES = ADCP31_ADDED_VALUES['enums/creative-status.json']!.values31;

function toStatuses(f: Filters): string[] | undefined {
  const raw = [...(f.statuses ?? []), ...(f.status === undefined ? [] : [f.status].flat())];
  for (const s of raw) {
    if (!FILTER_STATUSES.includes(s)) throw bad(`Unknown creative status "${s}".`, 'filters.statuses', `Use any of: ${FILTER_STATUSES.join(', ')}.`);
  }
  return raw.length ? raw : undefined;
}

function toFilters(f: Filters): CreativeFilters {
  // Delivery is kept per package and day (that is what ad servers report here), so which creatives served is unknown:
  // answering would return creatives that contradict the filter.
  if (f.has_served !== undefined) {
    throw new AdcpError('UNSUPPORTED_FEATURE', 'filters.has_served is not supported: this seller keeps delivery per package, not per creative, so it cannot tell which creatives have served.', {
      field: 'filters.has_served',
      suggestion: 'Leave has_served out. get_media_buy_delivery reports delivery by package; filters.media_buy_ids and unassigned find creatives by where they are assigned.',
    });
  }
  return {
    creativeIds: f.creative_ids,
    statuses: toStatuses(f),
    formatIds: f.format_ids,
    nameContains: f.name_contains ?? f.name_search,
    tags: f.tags,
    tagsAny: f.tags_any,
    createdAfter: toDate(f.created_after, 'filters.created_after'),
    createdBefore: toDate(f.created_before, 'filters.created_before'),
    updatedAfter: toDate(f.updated_after, 'filters.updated_after'),
    updatedBefore: toDate(f.updated_before, 'filters.updated_before'),
    assignedToPackages: f.assigned_to_packages,
    mediaBuyIds: f.media_buy_ids,
    unassigned: f.unassigned,
    conceptIds: f.concept_ids,
    hasVariables: f.has_variables,
  };
}

export default defineTool({
  name: 'list_creatives',
  title: 'List creatives',
  description:
    'List your creative library with review status (processing, pending_review, approved, rejected, archived) and package assignments. Filter with filters {creative_ids, statuses, format_ids, name_contains, tags, created_after, assigned_to_packages, media_buy_ids, unassigned, concept_ids, has_variables} (has_served is refused, and include_snapshot answers snapshot_unavailable_reason: delivery is kept per package, not per creative); sort {field, direction}; paginate with pagination.max_results and pagination.cursor. Archived creatives show only when asked for by status.',
  input: TOOL_REQUEST_SCHEMAS.list_creatives! as unknown as z.ZodType<Input>,
  output: z.looseObject({ query_summary: z.looseObject({}).optional(), pagination: z.looseObject({}).optional(), creatives: z.array(z.looseObject({ creative_id: z.string() })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const scope = { tenantId: ctx.tenant.id, principalId: ctx.principal.id };
    const filters = toFilters(input.filters ?? {});
    // The account named (top level) and filters.accounts narrow to those accounts' creatives; one not the caller's matches none.
    const named = [...(input.account === undefined ? [] : [input.account]), ...(input.filters?.accounts ?? [])];
    if (named.length) filters.accountIds = (await Promise.all(named.map((a) => accountScope(ctx, a)))).filter((id): id is string => typeof id === 'string');
    const sort = { field: input.sort?.field ?? 'created_date', direction: input.sort?.direction ?? 'desc' } as const;
    // The cursor is tied to what was asked (the account named and the filters, the sort): another query refuses it.
    const query = queryKey({ account: input.account, filters: input.filters ?? {}, sort });
    const limit = pageLimit(input.pagination);
    const after = input.pagination?.cursor ? decodeKeysetCursor(input.pagination.cursor, query, (v) => validSortValue(sort.field, v)) : undefined;
    const { rows: fetched, total } = await listCreatives(ctx.db, { ...scope, filters, sort, limit: limit + 1, after });
    const { page: rows, pagination } = keysetPage(fetched, limit, total, query);
    const fields = input.fields && new Set(input.fields);
    const wants = (f: string) => !fields || fields.has(f);
    const withAssignments = input.include_assignments !== false && wants('assignments');
    const assignments = withAssignments ? await assignmentsOf(ctx.db, { ...scope, creativeIds: rows.map((r) => r.id) }) : [];
    return {
      query_summary: {
        total_matching: total,
        returned: rows.length,
        filters_applied: Object.entries(filters).flatMap(([k, v]) => (v === undefined ? [] : [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)])),
        sort_applied: sort,
      },
      pagination,
      creatives: rows.map((r) => {
        const { tags, concept_id: conceptId, concept_name: conceptName } = (r.details as { fields?: { tags?: unknown; concept_id?: unknown; concept_name?: unknown } }).fields ?? {};
        const assigned = assignments.filter((a) => a.creativeId === r.id);
        return {
          creative_id: r.id,
          name: r.name,
          format_id: r.formatId,
          status: r.status,
          created_date: r.createdAt.toISOString(),
          updated_date: r.updatedAt.toISOString(),
          ...(!fields && { assets: r.assets }),
          ...(Array.isArray(tags) && wants('tags') && { tags }),
          ...(typeof conceptId === 'string' && wants('concept_id') && { concept_id: conceptId, ...(typeof conceptName === 'string' && { concept_name: conceptName }) }),
          ...(withAssignments && {
            assignments: { assignment_count: r.assignmentCount, assigned_packages: assigned.map((a) => ({ package_id: a.packageId, assigned_date: a.createdAt.toISOString() })) },
          }),
          // Delivery is kept per package, not per creative (as for has_served): no snapshot, and AdCP's reason why.
          ...(input.include_snapshot && { snapshot_unavailable_reason: 'SNAPSHOT_UNSUPPORTED' }),
        };
      }),
    };
  },
});
