// SPDX-License-Identifier: MIT
/**
 * An in-process gateway for tests: a GatewayConfig built directly (no YAML),
 * one tcp listener on 127.0.0.1 port 0, the given upstreams, and a logger that
 * is silent or captures its records so a test can assert on them. With
 * `admin: true` the admin HTTP listener runs too (adminGet, metrics, status).
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { networkByName, type NetworkName } from '../../src/config/networks.js';
import { defaultConfig } from '../../src/config/load.js';
import type { GatewayConfig, UpstreamConfig } from '../../src/config/types.js';
import { parseUpstreamUrl } from '../../src/config/urls.js';
import { startGateway, type RunningGateway, type GatewayOptions } from '../../src/gateway.js';
import type { Logger } from '../../src/observability/logger.js';

/**
 * An upstream as a URL with its options ("tcp://127.0.0.1:50001",
 * "tls://127.0.0.1:50002?ca=/tmp/ca.pem"), a URL with a name, or anything
 * with host and port (a Simulator; tcp, optionally with URL options).
 */
export type UpstreamSpec =
  | string
  | { readonly url: string; readonly name?: string }
  | { readonly host: string; readonly port: number; readonly name?: string; readonly options?: Readonly<Record<string, string>> };

export interface TestGatewayOptions {
  readonly upstreams: readonly UpstreamSpec[];
  readonly network?: NetworkName;
  readonly maxLineBytes?: number;
  readonly requestTimeoutMs?: number;
  readonly shutdownGraceMs?: number;
  /** Keep the log records in `logs` (at this level); default: a silent logger. */
  readonly captureLogs?: boolean | 'debug' | 'info' | 'warn';
  /** Changes to the built config before the gateway starts. */
  readonly tweak?: (config: GatewayConfig) => GatewayConfig;
  /** Start the admin HTTP listener on 127.0.0.1, port 0. */
  readonly admin?: boolean;
  /** Passed to startGateway (e.g. the clock peer discovery reads). */
  readonly startOptions?: GatewayOptions;
}

export interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export interface TestGateway {
  readonly host: string;
  readonly port: number;
  readonly config: GatewayConfig;
  readonly gateway: RunningGateway;
  /** Parsed log records (empty unless captureLogs). */
  readonly logs: Record<string, unknown>[];
  /** GET on the admin listener (throws unless started with admin: true). */
  adminGet(path: string): Promise<HttpReply>;
  /** The /metrics text. */
  metrics(): Promise<string>;
  /** The /status document. */
  status(): Promise<GatewayStatusDoc>;
  close(): Promise<void>;
}

/** The parts of /status the tests read. */
export interface GatewayStatusDoc {
  /** The gateway's best (verified) tip, when it has one. */
  readonly tip?: { readonly height: number; readonly hash: string } | null;
  readonly sessions?: number;
  readonly upstreams: readonly {
    readonly name: string;
    readonly state: string;
    readonly endpoint: string;
    readonly tipHeight: number | null;
    readonly lag: number | null;
    readonly connections: number;
    readonly breaker: string;
    readonly [key: string]: unknown;
  }[];
  readonly [key: string]: unknown;
}

function upstreamConfig(spec: UpstreamSpec, index: number): UpstreamConfig {
  if (typeof spec === 'string' || 'url' in spec) {
    const text = typeof spec === 'string' ? spec : spec.url;
    const u = parseUpstreamUrl(text);
    const name = (typeof spec === 'string' ? undefined : spec.name) ?? `${u.host}:${u.port}`;
    return { name, url: u.url, scheme: u.scheme, host: u.host, port: u.port, path: u.path, options: u.options };
  }
  const url = `tcp://${spec.host}:${spec.port}`;
  return { name: spec.name ?? `upstream-${index}-${spec.port}`, url, scheme: 'tcp', host: spec.host, port: spec.port, path: '/', options: spec.options ?? {} };
}

/** GET over plain HTTP on loopback (the admin listener). */
export function httpGet(host: string, port: number, path: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/**
 * The built-in defaults (so fields added to GatewayConfig later get their
 * default values here too) with the test's listener, upstreams and limits.
 */
export function testConfig(opts: TestGatewayOptions): GatewayConfig {
  const base = defaultConfig();
  const config: GatewayConfig = {
    ...base,
    network: networkByName(opts.network ?? 'regtest'),
    listen: [{ url: 'tcp://127.0.0.1:0', scheme: 'tcp', host: '127.0.0.1', port: 0, path: '/', options: {} }],
    upstreams: opts.upstreams.map(upstreamConfig),
    redis: null,
    admin: opts.admin ? { host: '127.0.0.1', port: 0 } : null,
    server: {
      ...base.server,
      banner: 'test gateway $SERVER_VERSION on $NETWORK',
      bannerFile: null,
      donationAddress: '',
      hosts: {},
    },
    limits: {
      ...base.limits,
      maxLineBytes: opts.maxLineBytes ?? 1_000_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5_000,
    },
    logging: { level: 'silent' },
    shutdownGraceMs: opts.shutdownGraceMs ?? 2_000,
  };
  // Every test client comes from 127.0.0.1, one IP group: cost limits (where the build has them)
  // would make unrelated tests throttle each other, so they are off unless a test turns them on.
  if ('cost' in base) {
    Object.assign(config, { cost: { ...(base as unknown as { cost: object }).cost, hardLimit: 0 } });
  }
  return config;
}

function captureLogger(level: string, into: Record<string, unknown>[]): Logger {
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      partial += chunk.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        const text = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        try {
          into.push(JSON.parse(text) as Record<string, unknown>);
        } catch {
          into.push({ msg: text });
        }
      }
      done();
    },
  });
  return pino({ level }, sink);
}

export async function startTestGateway(opts: TestGatewayOptions): Promise<TestGateway> {
  let config = testConfig(opts);
  if (opts.tweak) config = opts.tweak(config);
  const logs: Record<string, unknown>[] = [];
  const logger = opts.captureLogs
    ? captureLogger(opts.captureLogs === true ? 'debug' : opts.captureLogs, logs)
    : pino({ level: 'silent' });
  const gateway = await startGateway(config, logger, opts.startOptions);
  const listener = gateway.listeners[0];
  if (!listener) throw new Error('test gateway: no listener bound');
  let closed: Promise<void> | null = null;
  const adminGet = (path: string): Promise<HttpReply> => {
    const admin = gateway.admin;
    if (!admin) return Promise.reject(new Error('test gateway: started without admin: true'));
    return httpGet(admin.host, admin.port, path);
  };
  return {
    host: '127.0.0.1',
    port: listener.port,
    config,
    gateway,
    logs,
    adminGet,
    metrics: async () => {
      const r = await adminGet('/metrics');
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
      return r.body;
    },
    status: async () => {
      const r = await adminGet('/status');
      if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.body}`);
      return JSON.parse(r.body) as GatewayStatusDoc;
    },
    close: () => (closed ??= gateway.close()),
  };
}
