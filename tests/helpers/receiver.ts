/** A buyer's webhook endpoint for tests: records every request and answers each path with the status codes scripted for it, in order (then 200). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveWellKnown } from '../../src/mcp/well-known.js';
import type { AppServices } from '../../src/mcp/server.js';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: number;
}

export interface WebhookReceiver {
  server: http.Server;
  /** http://127.0.0.1:<port> */
  base: string;
}

/** Listens on a free loopback port; requests are appended to `received`; `script` maps a path to the status codes to answer. */
export async function startWebhookReceiver(received: Received[], script: Map<string, number[]>): Promise<WebhookReceiver> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const answered = script.get(req.url!)?.shift() ?? 200;
      received.push({ path: req.url!, headers: req.headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * The agent's /.well-known documents (brand.json, jwks.json) on a free loopback port, made the app's agent URL,
 * so a buyer's verifier finds the seller's webhook-signing keys as it would in production.
 */
export async function startWellKnown(services: AppServices): Promise<WebhookReceiver> {
  const server = http.createServer((req, res) => {
    void serveWellKnown(services, req, res, (req.url ?? '/').split('?')[0]!).then((served) => served || res.writeHead(404).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  services.agentUrl = base;
  return { server, base };
}
