// SPDX-License-Identifier: MIT
/**
 * The admin HTTP listener: /metrics for Prometheus, /status as JSON for
 * people, /healthz (the process is up) and /readyz (an upstream can answer),
 * plus the operator routes (admin-routes.ts: sessions, upstreams, cordon,
 * disconnect, log level, reload) given as a table so others can be added.
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
  /** The bearer token required of callers, or null on loopback without one (read per request: a reload may change it). */
  token(): string | null;
  /** JSON routes besides the built-in ones. */
  readonly routes?: readonly AdminRoute[];
}

/** What a route answers: a status and a JSON body. */
export interface AdminReply {
  readonly status: number;
  readonly body: unknown;
}

export interface AdminRoute {
  readonly method: 'GET' | 'POST';
  /** Path segments; one starting with ":" matches any single segment and is passed as a parameter. */
  readonly path: string;
  handle(params: Readonly<Record<string, string>>, body: unknown): Promise<AdminReply>;
}

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Bodies of POST requests are small JSON documents. */
const MAX_BODY_BYTES = 64 * 1024;

export async function startAdmin(host: string, port: number, sources: AdminSources, logger: Logger): Promise<AdminServer> {
  const routes = sources.routes ?? [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const token = sources.token();
    if (token !== null && path !== '/healthz' && path !== '/readyz' && !bearerMatches(req.headers.authorization, token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized: send "Authorization: Bearer TOKEN" with the admin_token\n');
      return;
    }
    const matching = routes.map((r) => ({ route: r, params: matchPath(r.path, path) })).filter((m) => m.params !== null);
    if (matching.length > 0) {
      const hit = matching.find((m) => m.route.method === req.method);
      if (!hit) {
        const allow = [...new Set(matching.map((m) => m.route.method))].join(', ');
        json(res, 405, { error: `${req.method ?? '?'} not allowed on ${path}; use ${allow}` }, { allow });
        return;
      }
      void serveRoute(req, res, hit.route, hit.params!, logger);
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
      default: {
        const more = [...new Set(routes.map((r) => `${r.method} ${r.path}`))].join(', ');
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try /metrics, /status, /healthz or /readyz${more ? `, ${more}` : ''}\n`);
      }
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

async function serveRoute(req: http.IncomingMessage, res: http.ServerResponse, route: AdminRoute, params: Record<string, string>, logger: Logger): Promise<void> {
  let body: unknown = undefined;
  if (route.method === 'POST') {
    const read = await readBody(req);
    if (!read.ok) {
      json(res, read.status, { error: read.error });
      return;
    }
    body = read.value;
  }
  try {
    const reply = await route.handle(params, body);
    json(res, reply.status, reply.body);
  } catch (err) {
    logger.error({ err, route: `${route.method} ${route.path}` }, 'admin route failed');
    json(res, 500, { error: `internal error: ${(err as Error).message}` });
  }
}

/** The JSON body, or undefined when there is none; a body that is not JSON is a 400, a huge one a 413. */
function readBody(req: http.IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; status: number; error: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done = true;
        resolve({ ok: false, status: 413, error: `body too large (over ${MAX_BODY_BYTES} bytes)` });
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      if (!done) resolve({ ok: false, status: 400, error: 'could not read the body' });
      done = true;
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') {
        resolve({ ok: true, value: undefined });
        return;
      }
      try {
        resolve({ ok: true, value: JSON.parse(text) as unknown });
      } catch {
        resolve({ ok: false, status: 400, error: 'body is not valid JSON' });
      }
    });
  });
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body, null, 2)}\n`);
}

/** The parameters when `pattern` ("/upstreams/:name/cordon") matches `path`, else null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) {
      if (g === '') return null;
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) return null;
  }
  return params;
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
