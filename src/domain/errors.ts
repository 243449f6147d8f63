/**
 * AdCP errors: the caller-fixable channel. A handler throws AdcpError; the one
 * wrapper in src/mcp/define-tool.ts turns it into an `errors[]` result.
 * Anything else thrown is an infrastructure failure: logged, and the caller
 * gets a generic SERVICE_UNAVAILABLE.
 */
export type Recovery = 'transient' | 'correctable' | 'terminal';

export interface AdcpErrorBody {
  code: string;
  message: string;
  field?: string;
  suggestion?: string;
  recovery?: Recovery;
  retry_after?: number;
  details?: Record<string, unknown>;
  /** Every field a validation rejected (AdCP error.issues): RFC 6901 pointer, message, JSON Schema keyword. */
  issues?: { pointer: string; message: string; keyword: string }[];
}

/**
 * AdCP's recovery for each standard code that is not correctable (enums/error-code.json enumMetadata, the same in
 * 3.0 and 3.1): an error takes it unless it says otherwise. Buyer SDKs retry, fix or give up on it.
 */
const DEFAULT_RECOVERY: Record<string, Recovery> = {
  SERVICE_UNAVAILABLE: 'transient',
  RATE_LIMITED: 'transient',
  IDEMPOTENCY_IN_FLIGHT: 'transient',
  CONFLICT: 'transient',
  CAMPAIGN_SUSPENDED: 'transient',
  GOVERNANCE_UNAVAILABLE: 'transient',
  STALE_RESPONSE: 'transient',
  AUTH_INVALID: 'terminal',
  CONFIGURATION_ERROR: 'terminal',
  ACCOUNT_NOT_FOUND: 'terminal',
  ACCOUNT_PAYMENT_REQUIRED: 'terminal',
  ACCOUNT_SUSPENDED: 'terminal',
  BUDGET_EXHAUSTED: 'terminal',
  BILLING_OUT_OF_BAND: 'terminal',
  AGENT_SUSPENDED: 'terminal',
  AGENT_BLOCKED: 'terminal',
  CREDENTIAL_IN_ARGS: 'terminal',
};

export class AdcpError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly suggestion?: string;
  readonly recovery: Recovery;
  readonly details?: Record<string, unknown>;
  readonly issues?: AdcpErrorBody['issues'];
  /** Fields the error response carries beside errors[], where the tool's schema requires them (an SI session's id and status). */
  readonly response?: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    opts: { field?: string; suggestion?: string; recovery?: Recovery; details?: Record<string, unknown>; issues?: AdcpErrorBody['issues']; response?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'AdcpError';
    this.code = code;
    this.field = opts.field;
    this.suggestion = opts.suggestion;
    this.recovery = opts.recovery ?? DEFAULT_RECOVERY[code] ?? 'correctable';
    this.details = opts.details;
    this.issues = opts.issues;
    this.response = opts.response;
  }

  toJSON(): AdcpErrorBody {
    // An idempotency conflict says nothing about the earlier request beyond its code and message: AdCP forbids
    // echoing anything that could leak the other payload, and the compliance storyboards hold the error to
    // exactly those fields (the AdCP SDK's allowlist), so not even field, suggestion or recovery.
    if (this.code === 'IDEMPOTENCY_CONFLICT') return { code: this.code, message: this.message };
    return {
      code: this.code,
      message: this.message,
      ...(this.field !== undefined && { field: this.field }),
      ...(this.suggestion !== undefined && { suggestion: this.suggestion }),
      recovery: this.recovery,
      ...(this.details !== undefined && { details: this.details }),
      ...(this.issues !== undefined && { issues: this.issues }),
    };
  }
}

export const authRequired = (tool: string) =>
  new AdcpError('AUTH_REQUIRED', `${tool} requires an authenticated buyer.`, {
    suggestion: 'Send your token as "Authorization: Bearer <token>" or "x-adcp-auth: <token>" (SALES_AGENT_TOKEN over stdio).',
  });

/**
 * A token was presented and matches no buyer. Terminal: sending it again will not help (AdCP 3.1 codes this
 * AUTH_INVALID, 3.0 AUTH_REQUIRED). Over HTTP such a request gets 401 before any tool; over stdio the token is
 * the server's configuration, so every tool call answers this, for the agent to tell its user.
 */
export const credentialsRejected = () =>
  new AdcpError('AUTH_REQUIRED', 'SALES_AGENT_TOKEN does not match any buyer of this agent (revoked, mistyped, or a token of another agent).', {
    recovery: 'terminal',
    suggestion: "Set SALES_AGENT_TOKEN in the MCP client's configuration to a buyer token this agent issued (`sales-agent seed demo --token T` sets the demo buyer's), then restart the server.",
  });

/**
 * The seller has suspended this buyer. AdCP 3.1's AGENT_SUSPENDED: terminal for the agent, which must tell a human
 * (only the seller lifts it), and by AdCP's rule it carries no details.
 */
export const agentSuspended = () =>
  new AdcpError('AGENT_SUSPENDED', "This seller has suspended your agent's access. Nothing can be bought or changed until the seller reinstates it.", {
    recovery: 'terminal',
    suggestion: 'Tell your user to contact the seller; retrying will not help.',
  });

/** The message of anything thrown, for logs and stored failure reasons. */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Turn a JSONPath-lite path array into "packages[0].budget". */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** How many issues a VALIDATION_ERROR lists. */
export const MAX_LISTED_ISSUES = 20;

/**
 * VALIDATION_ERROR listing a request's issues (JSON pointer, JSON Schema keyword, message), the first as its
 * field and message. The list is mirrored in details.issues for readers from before AdCP 3.1 put it on the error.
 */
export function invalidRequest(issues: { pointer: string; keyword: string; message: string }[], field: string, suggestion: string): AdcpError {
  return new AdcpError('VALIDATION_ERROR', `Invalid request: ${field ? `${field}: ` : ''}${issues[0]!.message}`, {
    field: field || undefined,
    suggestion,
    issues,
    details: { issues },
  });
}
