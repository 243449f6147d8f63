/** get_media_buys: the caller's media buys with packages and status, filtered and paginated. */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { packageTotals } from '../../db/queries/delivery.js';
import { listMediaBuyHistory, listMediaBuys } from '../../db/queries/media-buys.js';
import { AdcpError } from '../../domain/errors.js';
import { buyHistory, packageSnapshot, toAdcpMediaBuy } from '../../domain/media-buy-view.js';
import { statusFilter } from '../../domain/status.js';
import { defineTool } from '../define-tool.js';
import { pageLimit } from '../pagination.js';
import { accountScope, type AccountRef } from '../resolve-account.js';

interface Input {
  media_buy_ids?: string[];
  buyer_refs?: string[];
  status_filter?: string | string[];
  account?: AccountRef;
  pagination?: { max_results?: number; cursor?: string };
  include_snapshot?: boolean;
  include_history?: number;
  [k: string]: unknown;
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [t, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(t);
    if (!id || Number.isNaN(createdAt.getTime())) throw new Error('bad');
    return { createdAt, id };
  } catch {
    throw new AdcpError('VALIDATION_ERROR', 'pagination.cursor is not a cursor this agent issued.', { field: 'pagination.cursor', suggestion: 'Omit the cursor to start from the first page.' });
  }
}

const encodeCursor = (createdAt: Date, id: string) => Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');

export default defineTool({
  name: 'get_media_buys',
  title: 'Get media buys',
  description:
    'List your media buys with status, budget, flight and packages (each with its creatives\' approval status). Filter by media_buy_ids, buyer_refs or status_filter (without ids, only active buys unless status_filter says otherwise, as AdCP has it); paginate with pagination.max_results and pagination.cursor; include_snapshot: true adds each package\'s delivery to date (impressions, spend, clicks, as of the last hourly collection); include_history: N adds each buy\'s last N revisions (what changed, when).',
  input: TOOL_REQUEST_SCHEMAS.get_media_buys! as unknown as z.ZodType<Input>,
  output: z.looseObject({ media_buys: z.array(z.looseObject({ media_buy_id: z.string() })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    // AdCP: with no ids, status_filter defaults to ["active"]; buys named by id are found whatever their status.
    const byId = !!(input.media_buy_ids?.length || input.buyer_refs?.length);
    // A buy awaiting approval shows as pending_start, so that filter includes it.
    const internal = statusFilter(input.status_filter ?? (byId ? undefined : ['active']));
    const limit = pageLimit(input.pagination);
    // An account that is not the caller's matches no buy.
    const accountId = await accountScope(ctx, input.account);
    const rows = accountId === null ? [] : await listMediaBuys(ctx.db, {
      tenantId: ctx.tenant.id,
      principalId: ctx.principal.id,
      ids: input.media_buy_ids,
      buyerRefs: input.buyer_refs,
      statuses: internal,
      accountId,
      limit: limit + 1,
      before: input.pagination?.cursor ? decodeCursor(input.pagination.cursor) : undefined,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const ids = page.map((r) => r.buy.id);
    const historyLimit = input.include_history ?? 0;
    const [totals, history] = await Promise.all([
      input.include_snapshot ? packageTotals(ctx.db, { tenantId: ctx.tenant.id, mediaBuyIds: ids }) : undefined,
      historyLimit > 0 ? listMediaBuyHistory(ctx.db, { tenantId: ctx.tenant.id, mediaBuyIds: ids, limit: historyLimit }) : undefined,
    ]);
    const now = ctx.now();
    return {
      media_buys: page.map((row) => {
        let buy = toAdcpMediaBuy(row);
        if (totals) {
          const snapshots = new Map(row.packages.map((p) => [p.id, packageSnapshot(row.buy, p, totals.get(p.id), now)]));
          buy = { ...buy, packages: (buy.packages as { package_id: string }[]).map((p) => ({ ...p, ...snapshots.get(p.package_id) })) };
        }
        if (history) buy = { ...buy, history: buyHistory(row.buy, history.get(row.buy.id) ?? [], historyLimit) };
        return buy;
      }),
      // Buys of sandbox accounts only: simulated data, as AdCP's sandbox flag tells the buyer.
      ...(page.length > 0 && page.every((r) => r.account?.sandbox === true) && { sandbox: true }),
      pagination: {
        has_more: rows.length > limit,
        ...(rows.length > limit && last && { cursor: encodeCursor(last.buy.createdAt, last.buy.id) }),
      },
    };
  },
});
