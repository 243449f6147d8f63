/** list_accounts: the caller's accounts, filtered by status and sandbox, oldest first, paginated with a cursor. */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { listAccountsPage } from '../../db/queries/accounts.js';
import { notificationConfigsOf } from '../../db/queries/notification-configs.js';
import { echoNotificationConfig } from '../../domain/notification-configs.js';
import { toAdcpAccountDetail } from '../../domain/account-view.js';
import { accountScope, type AccountRef } from '../resolve-account.js';
import { AdcpError } from '../../domain/errors.js';
import { defineTool } from '../define-tool.js';
import { pageLimit } from '../pagination.js';

interface Input {
  /** AdCP 3.1: exactly this account (account_id, or brand + operator). */
  account?: AccountRef;
  status?: string;
  sandbox?: boolean;
  pagination?: { max_results?: number; cursor?: string };
  [k: string]: unknown;
}

const encodeCursor = (id: string) => Buffer.from(JSON.stringify({ after: id })).toString('base64url');

function decodeCursor(cursor: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof after === 'string' && after) return after;
  } catch {
    // fall through
  }
  throw new AdcpError('VALIDATION_ERROR', 'pagination.cursor is not a cursor this agent issued.', { field: 'pagination.cursor', suggestion: 'Omit the cursor to start from the first page.' });
}

export default defineTool({
  name: 'list_accounts',
  title: 'List accounts',
  description:
    'List your accounts with this seller (account_id, name, status, brand, operator, sandbox, billing; notification_configs, the webhook subscribers set with sync_accounts). Filter by status or sandbox; paginate with pagination.max_results and pagination.cursor. Open accounts with sync_accounts.',
  input: TOOL_REQUEST_SCHEMAS.list_accounts! as unknown as z.ZodType<Input>,
  output: z.looseObject({ accounts: z.array(z.looseObject({ account_id: z.string() })).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    const limit = pageLimit(input.pagination);
    const only = await accountScope(ctx, input.account);
    const rows = only === null ? [] : await listAccountsPage(ctx.db, {
      tenantId: ctx.tenant.id,
      principalId: ctx.principal.id,
      id: only,
      status: input.status,
      sandbox: input.sandbox,
      limit: limit + 1,
      afterId: input.pagination?.cursor ? decodeCursor(input.pagination.cursor) : undefined,
    });
    const page = rows.slice(0, limit);
    const more = rows.length > limit;
    // AdCP 3.1: each account's notification subscribers as applied, without their credentials.
    const subscribers = await notificationConfigsOf(ctx.db, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, accountIds: page.map((a) => a.id) });
    return {
      accounts: page.map((a) => {
        const configs = subscribers.get(a.id);
        return { ...toAdcpAccountDetail(a), ...(configs && { notification_configs: configs.map(echoNotificationConfig) }) };
      }),
      pagination: { has_more: more, ...(more && { cursor: encodeCursor(page.at(-1)!.id) }) },
    };
  },
});
