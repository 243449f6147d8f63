/**
 * sync_governance: the buyer registers governance agents per account. Stored on
 * the account for the seller's governance checks (their credentials sealed);
 * nothing here calls them, so a buy never waits on a buyer-side agent.
 */
import { TOOL_REQUEST_SCHEMAS } from '@adcp/sdk/schemas';
import { z } from 'zod';
import { setGovernanceAgents } from '../../db/queries/accounts.js';
import { AdcpError } from '../../domain/errors.js';
import { checkCredentials } from '../../domain/webhooks.js';
import { sealBuyerCredentials, secretBox, secretContext } from '../../services/secret-box.js';
import { defineTool } from '../define-tool.js';
import { idempotentMutation } from '../idempotency.js';
import { resolveAccount, type AccountRef } from '../resolve-account.js';

interface GovernanceAgent {
  url: string;
  authentication?: { schemes?: string[]; credentials?: string };
  categories?: string[];
}
type Input = { accounts: { account: AccountRef; governance_agents: GovernanceAgent[] }[]; idempotency_key?: string; [k: string]: unknown };

export default defineTool({
  name: 'sync_governance',
  title: 'Sync governance agents',
  description: 'Register the governance agents (https URL, authentication, categories) the seller should consult for each of your accounts. Replaces the account’s previous list. Send an idempotency_key.',
  input: TOOL_REQUEST_SCHEMAS.sync_governance! as unknown as z.ZodType<Input>,
  output: z.looseObject({ accounts: z.array(z.looseObject({ status: z.string() })).optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'required',
  async handle(input, ctx) {
    // Accounts change below: this process's cached copies go once it is done (others hear the trigger's event).
    return idempotentMutation(ctx, 'sync_governance', input, async (tx) => {
      const results = [];
      const credentials = secretContext.buyerCredentials(ctx.tenant.id, ctx.principal.id);
      for (const [i, entry] of input.accounts.entries()) {
        const bad = entry.governance_agents.findIndex((a) => !/^https:\/\//.test(a.url));
        if (bad >= 0) {
          throw new AdcpError('VALIDATION_ERROR', 'Governance agent URLs must use https.', { field: `accounts[${i}].governance_agents[${bad}].url`, suggestion: 'Use an https:// URL.' });
        }
        entry.governance_agents.forEach((a, j) => checkCredentials(a.authentication, `accounts[${i}].governance_agents[${j}].authentication`));
        const account = await resolveAccount(tx, ctx, entry.account);
        await setGovernanceAgents(tx, { tenantId: ctx.tenant.id, principalId: ctx.principal.id, accountId: account.id, agents: entry.governance_agents.map((a) => sealBuyerCredentials(secretBox(), credentials, a as unknown as Record<string, unknown>)) });
        results.push({
          account: entry.account,
          status: 'synced',
          governance_agents: entry.governance_agents.map((a) => ({ url: a.url, ...(a.categories && { categories: a.categories }) })),
        });
      }
      return { accounts: results };
    }).finally(() => ctx.accounts?.forget(ctx.tenant.id));
  },
});
