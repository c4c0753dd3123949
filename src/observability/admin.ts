// SPDX-License-Identifier: MIT
/**
 * The admin HTTP listener: /metrics for Prometheus, /status as JSON for
 * people, /healthz (the process is up) and /readyz (an upstream can answer).
 * With a token every request but /healthz and /readyz (which probes make
 * without credentials) must carry "Authorization: Bearer TOKEN"; the config
 * refuses a listener beyond loopback without one.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';

export interface AdminSources {
  readonly metrics: GatewayMetrics;
  /** The /status document. */
  status(): unknown;
  /** Whether the gateway can serve wallets now, and why not. */
  ready(): { readonly ready: boolean; readonly why?: string };
  /** The bearer token required of callers, or null on loopback without one. */
  readonly token: string | null;
}

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startAdmin(host: string, port: number, sources: AdminSources, logger: Logger): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (sources.token !== null && path !== '/healthz' && path !== '/readyz' && !bearerMatches(req.headers.authorization, sources.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized: send "Authorization: Bearer TOKEN" with the admin_token\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/metrics':
        sources.metrics.text().then(
          (body) => res.writeHead(200, { 'content-type': sources.metrics.contentType }).end(body),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
        );
        return;
      case '/status':
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(sources.status(), null, 2)}\n`);
        return;
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const { ready, why } = sources.ready();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `${why ?? 'not ready'}\n`);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics, /status, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  logger.info({ host: address.address, port: address.port }, 'admin listening');
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
