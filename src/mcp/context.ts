/**
 * What every tool handler receives. Handlers get their dependencies from here,
 * never from module state, so a test can swap any of them.
 */
import type { Database } from '../db/client.js';
import type { Principal, Tenant } from '../db/queries/principals.js';
import type { Logger } from '../logger.js';
import type { AccountCache } from './account-cache.js';
import type { CatalogCache } from './catalog-cache.js';
import type { AuditTrail } from '../services/audit.js';
import type { Metrics } from '../services/metrics.js';

export interface Caller {
  tenant: Tenant | undefined;
  principal: Principal | undefined;
  /** A token was presented that matches no buyer (stdio's SALES_AGENT_TOKEN; HTTP answers 401 instead): every tool refuses. */
  credentialsRejected?: boolean;
  /** The seller has suspended this buyer (console or admin API): every tool answers AGENT_SUSPENDED. */
  suspended?: boolean;
}

export interface ToolContext extends Caller {
  db: Database['db'];
  logger: Logger;
  now: () => Date;
  catalog: CatalogCache;
  /** Accounts by id and natural key, dropped on any change to them. */
  accounts?: AccountCache;
  /** Public base URL of this agent, for links in responses. */
  agentUrl: string;
  /** Where buying tool calls are recorded (buffered; never on the request's critical path). */
  audit?: AuditTrail;
  /** Counts and times tool calls for GET /metrics. */
  metrics?: Metrics;
}

export interface BuyerContext extends ToolContext {
  tenant: Tenant;
  principal: Principal;
}
