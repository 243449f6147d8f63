/** tasks/list (aliases tasks_list, and list_tasks as AdCP 3.1 names it): the caller's AdCP tasks (workflow steps), filtered, sorted and paginated. Buyers see only their own. */
import { TasksListRequestSchema } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { listTasksForPrincipal, validTaskSortValue, type TaskFilters } from '../../db/queries/workflow.js';
import { AdcpError } from '../../domain/errors.js';
import { TERMINAL_WORKFLOW, toAdcpTaskStatus, WORKFLOW_STATUSES } from '../../domain/status.js';
import { defineTool } from '../define-tool.js';
import { decodeKeysetCursor, keysetPage, listQuery, pageLimit, queryKey } from '../pagination.js';
import { accountScope, type AccountRef } from '../resolve-account.js';

interface Input {
  filters?: {
    protocol?: string;
    protocols?: string[];
    status?: string;
    statuses?: string[];
    task_type?: string;
    task_types?: string[];
    task_ids?: string[];
    created_after?: string;
    created_before?: string;
    updated_after?: string;
    updated_before?: string;
    context_contains?: string;
    has_webhook?: boolean;
  };
  sort?: { field?: string; direction?: 'asc' | 'desc' };
  pagination?: { max_results?: number; cursor?: string };
  account?: AccountRef;
  [k: string]: unknown;
}

const SORTABLE = ['created_at', 'updated_at', 'status', 'task_type'] as const;

const list = <T>(one: T | undefined, many: T[] | undefined): T[] | undefined => (one === undefined && !many ? undefined : [...(one === undefined ? [] : [one]), ...(many ?? [])]);
function date(v: string | undefined, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new AdcpError('VALIDATION_ERROR', `filters.${field} is not a date-time.`, { field: `filters.${field}`, suggestion: 'Use ISO 8601, e.g. 2026-12-01T00:00:00Z.' });
  return d;
}

export default defineTool({
  name: 'tasks/list',
  aliases: ['tasks_list', 'list_tasks'], // list_tasks: AdCP 3.1's name
  title: 'List tasks',
  description:
    'List your asynchronous AdCP tasks (e.g. create_media_buy awaiting approval) with status, type and timestamps. Filter by filters.status(es), filters.task_type(s), task_ids, created/updated ranges; sort by created_at, updated_at, status or task_type; paginate with pagination.cursor. Poll one task with tasks/get.',
  input: (TasksListRequestSchema as unknown as z.ZodObject).loose() as unknown as z.ZodType<Input>,
  output: z.looseObject({ tasks: z.array(z.looseObject({ task_id: z.string() })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const f = input.filters ?? {};
    const adcpStatuses = list(f.status, f.statuses);
    const protocols = list(f.protocol, f.protocols);
    const filters: TaskFilters = {
      // All our tasks are media-buy tasks; an AdCP status maps back to the workflow statuses shown as it.
      statuses: protocols && !protocols.includes('media-buy') ? [] : adcpStatuses && WORKFLOW_STATUSES.filter((s) => adcpStatuses.includes(toAdcpTaskStatus(s))),
      stepTypes: list(f.task_type, f.task_types),
      ids: f.task_ids,
      createdAfter: date(f.created_after, 'created_after'),
      createdBefore: date(f.created_before, 'created_before'),
      updatedAfter: date(f.updated_after, 'updated_after'),
      updatedBefore: date(f.updated_before, 'updated_before'),
      contains: f.context_contains,
      hasWebhook: f.has_webhook,
    };
    // AdCP 3.1: with an account, only that account's tasks (none, if it is not the caller's).
    const accountId = await accountScope(ctx, input.account);
    if (accountId === null) filters.ids = [];
    else if (accountId) filters.accountId = accountId;
    const field = (SORTABLE as readonly string[]).includes(input.sort?.field ?? '') ? (input.sort!.field as (typeof SORTABLE)[number]) : 'created_at';
    const sort = { field, direction: input.sort?.direction ?? 'desc' } as const;
    const limit = pageLimit(input.pagination);
    // The cursor is tied to what was asked: filters, ids, account and sort.
    const query = queryKey({ ...listQuery(input as Record<string, unknown>), sort });
    const after = input.pagination?.cursor ? decodeKeysetCursor(input.pagination.cursor, query, (v) => validTaskSortValue(sort.field, v)) : undefined;
    const { rows, total } = await listTasksForPrincipal(ctx.db, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, filters, sort, limit: limit + 1, after });
    const { page, pagination } = keysetPage(rows, limit, total, query);
    return {
      query_summary: {
        total_matching: total,
        returned: page.length,
        filters_applied: Object.keys(f).filter((k) => f[k as keyof typeof f] !== undefined),
        sort_applied: sort,
      },
      tasks: page.map((s) => {
        const status = toAdcpTaskStatus(s.status);
        return {
          task_id: s.id,
          task_type: s.stepType,
          domain: 'media-buy',
          status,
          created_at: s.createdAt.toISOString(),
          updated_at: s.updatedAt.toISOString(),
          ...(TERMINAL_WORKFLOW.has(s.status) && { completed_at: s.updatedAt.toISOString() }),
          has_webhook: !!s.pushNotificationConfig,
          ...(s.mediaBuyId && { media_buy_id: s.mediaBuyId }),
        };
      }),
      pagination,
    };
  },
});
