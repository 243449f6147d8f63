/**
 * Where AdCP buyers find the keys that verify this agent's RFC 9421 webhook
 * signatures: /.well-known/jwks.json (the public webhook-signing key of every
 * tenant; kids are random, so it names no tenant) and /.well-known/brand.json (a
 * minimal brand.json whose agents[] entry names this agent and that jwks_uri).
 * get_adcp_capabilities points at the brand.json (identity.brand_json_url).
 * Both are public and cacheable; nothing here reads a private key.
 */
import type http from 'node:http';
import { ensureEveryWebhookSigningKey, publishedSigningKeys } from '../db/queries/signing-keys.js';
import type { AppServices } from './server.js';

export const JWKS_PATH = '/.well-known/jwks.json';
export const BRAND_JSON_PATH = '/.well-known/brand.json';
/** This agent's id in the brand.json agents[] entry (pattern ^[a-z0-9_]+$). */
export const BRAND_AGENT_ID = 'sales_agent';

const CACHE = 'public, max-age=300';

/** The brand.json URL capabilities advertise: the operator's own if the tenant set one, else ours when served over https. */
export function brandJsonUrl(agentUrl: string, configured: string | undefined): string | undefined {
  if (configured) return configured;
  return agentUrl.startsWith('https://') ? `${agentUrl}${BRAND_JSON_PATH}` : undefined;
}

export function brandJson(agentUrl: string, now: Date): Record<string, unknown> {
  return {
    version: '1.0',
    agents: [{ type: 'sales', id: BRAND_AGENT_ID, url: `${agentUrl}/mcp`, jwks_uri: `${agentUrl}${JWKS_PATH}`, description: 'AdCP sales agent (media buy); signs its webhooks with the keys at jwks_uri.' }],
    last_updated: now.toISOString(),
  };
}

/** Answer a GET/HEAD for one of the documents above; false when the path is not one of them. */
export async function serveWellKnown(app: AppServices, req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let body: unknown;
  if (path === JWKS_PATH) {
    await ensureEveryWebhookSigningKey(app.database.db);
    body = { keys: await publishedSigningKeys(app.database.db) };
  } else if (path === BRAND_JSON_PATH) {
    body = brandJson(app.agentUrl, (app.now ?? (() => new Date()))());
  } else {
    return false;
  }
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': CACHE, 'access-control-allow-origin': '*' });
  res.end(req.method === 'HEAD' ? undefined : text);
  return true;
}
