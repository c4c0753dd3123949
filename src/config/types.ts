// SPDX-License-Identifier: MIT
/**
 * The validated, fully-defaulted configuration every room receives. proxy.yaml
 * uses snake_case keys; the loader (config/load.ts) maps them onto these
 * camelCase fields so no other room ever sees raw YAML.
 */
import type { Network } from './networks.js';

export type ListenScheme = 'tcp' | 'tls' | 'ws' | 'wss';
export type UpstreamScheme = 'tcp' | 'tls' | 'ws' | 'wss';

export interface ListenerConfig {
  /** The URL as written, e.g. tcp://0.0.0.0:50001, kept for logs and metrics labels. */
  readonly url: string;
  readonly scheme: ListenScheme;
  readonly host: string;
  readonly port: number;
  /** WebSocket path; "/" for raw-socket listeners. */
  readonly path: string;
  /**
   * Options from the URL's query string (e.g. tls://0.0.0.0:50002?cert=c.pem&key=k.pem),
   * percent-decoded, uninterpreted by the config loader. Always set by config/load.ts;
   * optional only so hand-built test configs need not spell it out.
   */
  readonly options?: Readonly<Record<string, string>>;
}

export interface UpstreamConfig {
  /** Stable name used in logs and metrics; defaults to host:port. */
  readonly name: string;
  readonly url: string;
  /** ssl:// in the file is reported here as "tls". */
  readonly scheme: UpstreamScheme;
  readonly host: string;
  readonly port: number;
  /** WebSocket path for ws/wss upstreams; "/" otherwise. Always set by config/load.ts. */
  readonly path?: string;
  /** Query-string options of the URL, uninterpreted (see ListenerConfig.options). Always set by config/load.ts. */
  readonly options?: Readonly<Record<string, string>>;
}

export interface ServerIdentityConfig {
  /** Banner text; ElectrumX-style $VARIABLES are substituted when served. */
  readonly banner: string;
  /** When set, the banner is read from this file on every request (edits apply without restart). */
  readonly bannerFile: string | null;
  readonly donationAddress: string;
  /** Public hosts reported in server.features, e.g. { "electrum.example.com": { tcp_port: 50001 } }. */
  readonly hosts: Readonly<Record<string, Readonly<{ tcp_port?: number; ssl_port?: number; ws_port?: number; wss_port?: number }>>>;
}

export interface LimitsConfig {
  /** A request line longer than this gets an error and the connection is closed. */
  readonly maxLineBytes: number;
  /** How long an upstream may take to answer one request before the client gets an error. */
  readonly requestTimeoutMs: number;
}

export interface LoggingConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export interface GatewayConfig {
  readonly network: Network;
  readonly listen: readonly ListenerConfig[];
  readonly upstreams: readonly UpstreamConfig[];
  /** redis://… URL; null runs the cache in memory only. */
  readonly redis: string | null;
  /** HOST:PORT of the admin HTTP listener (/metrics, /status); null disables it. */
  readonly admin: { readonly host: string; readonly port: number } | null;
  readonly server: ServerIdentityConfig;
  readonly limits: LimitsConfig;
  readonly logging: LoggingConfig;
  /** On SIGINT/SIGTERM, in-flight requests get this long to finish before the process exits. */
  readonly shutdownGraceMs: number;
}
