/**
 * AdCP releases: which one a request is served in (its adcp_version pin, else
 * 3.0) and how a response body is shaped for it. Pure, so the tools and the
 * worker (task webhooks, whose completion artifact is served in the release the
 * task was asked in) shape answers alike.
 */
import { AdcpError } from './errors.js';
import { postalSupport31 } from './seller-capabilities.js';

const SUPPORTED_MAJOR = 3;
/** AdCP releases this agent serves (get_adcp_capabilities adcp.supported_versions). */
export const SUPPORTED_VERSIONS = ['3.0', '3.1'] as const;
export type AdcpRelease = (typeof SUPPORTED_VERSIONS)[number];

// VERSION.RELEASE as AdCP writes it, also with a patch as SDKs send pins ("3.1.0-beta.1", "3.0.1").
const RELEASE = /^v?(\d+)(?:\.(\d+)(?:\.\d+)?)?(-[A-Za-z0-9.-]+)?$/;

function versionUnsupported(message: string, field: string): AdcpError {
  return new AdcpError('VERSION_UNSUPPORTED', message, {
    field,
    suggestion: `This agent speaks AdCP ${SUPPORTED_VERSIONS.join(' and ')}: send adcp_version "3.1" (or "3.0"), or omit it.`,
    details: { supported_versions: [...SUPPORTED_VERSIONS], supported_majors: [SUPPORTED_MAJOR] },
  });
}

/**
 * The AdCP release a call is served in. A buyer pins a release with adcp_version
 * (3.1+ clients send it; 3.0 clients send only adcp_major_version); the agent
 * serves the highest release it supports at or below the pin within the major,
 * and 3.0 when there is no pin. A major other than 3, or two version fields that
 * disagree, is VERSION_UNSUPPORTED.
 */
export function negotiateVersion(args: Record<string, unknown>): AdcpRelease {
  const rawMajor = args.adcp_major_version;
  const major = typeof rawMajor === 'number' ? rawMajor : typeof rawMajor === 'string' && /^\d+$/.test(rawMajor) ? Number(rawMajor) : undefined;
  if (rawMajor !== undefined && major === undefined) {
    throw new AdcpError('VALIDATION_ERROR', 'adcp_major_version must be an integer.', { field: 'adcp_major_version', suggestion: `Send adcp_major_version: ${SUPPORTED_MAJOR}, or omit it.` });
  }
  const pin = args.adcp_version ?? undefined;
  if (pin === undefined) {
    if (major !== undefined && major !== SUPPORTED_MAJOR) throw versionUnsupported(`AdCP major version ${major} is not supported.`, 'adcp_major_version');
    return '3.0';
  }
  const m = typeof pin === 'string' ? RELEASE.exec(pin.trim()) : null;
  if (!m) throw versionUnsupported(`adcp_version ${JSON.stringify(pin)} is not an AdCP release this agent knows.`, 'adcp_version');
  const pinMajor = Number(m[1]);
  if (major !== undefined && major !== pinMajor) {
    throw versionUnsupported(`adcp_version "${String(pin)}" (major ${pinMajor}) and adcp_major_version ${major} disagree.`, 'adcp_version');
  }
  if (pinMajor !== SUPPORTED_MAJOR) throw versionUnsupported(`AdCP version ${String(pin)} is not supported.`, 'adcp_version');
  const minor = m[2] === undefined ? 0 : Number(m[2]);
  // A pre-release of 3.1 comes before 3.1 itself, so it is served 3.0; later 3.x releases downshift to 3.1.
  return minor > 1 || (minor === 1 && !m[3]) ? '3.1' : '3.0';
}

/** The release a stored request (a task's) was served in; it passed negotiateVersion when it came, so only its pin matters. */
export function releaseOf(request: { adcp_version?: unknown } | null | undefined): AdcpRelease {
  try {
    return negotiateVersion({ adcp_version: request?.adcp_version ?? undefined });
  } catch {
    return '3.0';
  }
}

/** The controller scenarios 3.0's capabilities schema lets a seller declare (3.1 takes any: seeds, arm forcing). */
const COMPLIANCE_SCENARIOS_30: ReadonlySet<unknown> = new Set(['force_creative_status', 'force_account_status', 'force_media_buy_status', 'force_session_status', 'simulate_delivery', 'simulate_budget_spend']);

/** 3.0 reshaping, per tool: what 3.1 allows and 3.0's schemas do not. */
const SHAPE_30: Record<string, (body: Record<string, unknown>) => Record<string, unknown>> = {
  get_adcp_capabilities: (body) => {
    const testing = body.compliance_testing as { scenarios?: unknown[] } | undefined;
    if (!Array.isArray(testing?.scenarios)) return body;
    return { ...body, compliance_testing: { ...testing, scenarios: testing.scenarios.filter((x) => COMPLIANCE_SCENARIOS_30.has(x)) } };
  },
  // A buy not yet confirmed (awaiting approval, rejected, withdrawn) has confirmed_at null in 3.1; 3.0 types it a string.
  get_media_buys: (body) =>
    Array.isArray(body.media_buys) && body.media_buys.some((b: Record<string, unknown>) => b.confirmed_at === null)
      ? { ...body, media_buys: body.media_buys.map((b: Record<string, unknown>) => (b.confirmed_at === null ? (({ confirmed_at: _, ...rest }) => rest)(b) : b)) }
      : body,
};

/** Other 3.1 reshaping, per tool. */
const SHAPE_31: Record<string, (body: Record<string, unknown>) => Record<string, unknown>> = {
  // Postal targeting support keyed by country, as 3.1 prefers it (the 3.0 tokens stay as its deprecated aliases).
  get_adcp_capabilities: (body) => {
    const mb = body.media_buy as { execution?: { targeting?: Record<string, unknown> } } | undefined;
    if (!mb?.execution?.targeting?.geo_postal_areas) return body;
    return { ...body, media_buy: { ...mb, execution: { ...mb.execution, targeting: { ...mb.execution.targeting, geo_postal_areas: postalSupport31() } } } };
  },
  // A task's completion artifact is the task's own response, so a 3.1 caller gets it in 3.1's shape.
  'tasks/get': (body) =>
    body.result && typeof body.result === 'object' && typeof body.task_type === 'string'
      ? { ...body, result: servedAs('3.1', body.task_type, body.result as Record<string, unknown>, false) }
      : body,
  // 3.1 governance agents carry only their url (categories went with the one-agent-per-account rule).
  sync_governance: (body) => ({
    ...body,
    accounts: Array.isArray(body.accounts)
      ? body.accounts.map((a: Record<string, unknown>) =>
          Array.isArray(a.governance_agents) ? { ...a, governance_agents: a.governance_agents.map((g: { url: string }) => ({ url: g.url })) } : a,
        )
      : body.accounts,
  }),
};

/** An error as AdCP 3.1 codes it (3.0 codes some of them differently). */
export function recode(e: unknown): unknown {
  if (!e || typeof e !== 'object') return e;
  const { code, details } = e as { code?: unknown; details?: { attempted_action?: unknown } };
  // 3.1 splits the deprecated AUTH_REQUIRED: no credentials at all is AUTH_MISSING, rejected ones (terminal) AUTH_INVALID.
  if (code === 'AUTH_REQUIRED') return { ...e, code: (e as { recovery?: unknown }).recovery === 'terminal' ? 'AUTH_INVALID' : 'AUTH_MISSING' };
  // An action the buy's status does not allow is 3.1's ACTION_NOT_ALLOWED (its details already carry what that code needs).
  if (code === 'INVALID_STATE' && details?.attempted_action !== undefined) return { ...e, code: 'ACTION_NOT_ALLOWED' };
  return e;
}

/** Media-buy lifecycle values: in 3.1 they move from the top-level status to media_buy_status. */
const MEDIA_BUY_STATUS_TOOLS = new Set(['create_media_buy', 'update_media_buy']);
/** Task statuses those tools answer with instead of a media buy (the submitted task, the request for input): already the top-level status. */
const TASK_ANSWERS: ReadonlySet<string> = new Set(['submitted', 'input-required']);

/**
 * Shape a response body for the release served. 3.1 reserves the top-level
 * status for the task status (completed on a synchronous answer, failed on an
 * error, or the task's own status when the body already is one) and echoes
 * adcp_version; create/update_media_buy carry the buy's status as
 * media_buy_status. 3.0 bodies are returned as they are, but for what SHAPE_30 drops.
 */
export function servedAs(release: AdcpRelease, tool: string, body: Record<string, unknown>, isError: boolean): Record<string, unknown> {
  if (release === '3.0') return isError ? body : (SHAPE_30[tool]?.(body) ?? body);
  if (isError) {
    return { ...body, errors: Array.isArray(body.errors) ? body.errors.map(recode) : body.errors, adcp_error: recode(body.adcp_error), status: 'failed', adcp_version: release };
  }
  if (MEDIA_BUY_STATUS_TOOLS.has(tool) && typeof body.status === 'string' && !TASK_ANSWERS.has(body.status)) {
    return { ...body, media_buy_status: body.status, status: 'completed', adcp_version: release };
  }
  const shaped = SHAPE_31[tool]?.(body) ?? body;
  return { ...shaped, status: shaped.status ?? 'completed', adcp_version: release };
}
