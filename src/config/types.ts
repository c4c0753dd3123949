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
  /** How long a request waits for an upstream to come up when none can answer it now. */
  readonly noUpstreamWaitMs: number;
  /** Sessions the gateway holds at once; more are refused at accept. */
  readonly maxSessions: number;
  /** Sessions one subnet group (see groupPrefix*) may hold at once. */
  readonly maxSessionsPerGroup: number;
  /** Items allowed in one JSON-RPC batch. */
  readonly maxBatch: number;
  /** A session that sends nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  /** A TLS handshake (tls://, wss://) not finished in this long is cut; it holds no session seat meanwhile. */
  readonly handshakeTimeoutMs: number;
  /** A session whose unsent output passes this many bytes is not reading and is closed. */
  readonly maxUnsentBytes: number;
  /** Unsent output of all sessions together; past it the sessions holding the most are cut. 0: no bound. */
  readonly maxUnsentBytesTotal: number;
  /** Sessions from the same /N (IPv4) or /M (IPv6) share a cost budget and the per-group session cap. */
  readonly groupPrefixIpv4: number;
  readonly groupPrefixIpv6: number;
  /** The largest answer, or batch of answers, sent to one client; larger ones become errors. */
  readonly maxResponseBytes: number;
  /** Scripthashes one session may subscribe to. */
  readonly maxSubscriptionsPerSession: number;
  /** Unique scripthashes the gateway subscribes to upstream in all. */
  readonly maxSubscriptions: number;
  /**
   * CIDRs never charged, throttled nor held to the per-group cap (the operator's own wallets,
   * monitoring, local testing): limits.exempt and the older cost.exempt, merged.
   */
  readonly exempt: readonly string[];
}

export interface CacheConfig {
  /** Answers about a block are cached only once it is this many blocks below the tip. */
  readonly minDepth: number;
  /** Bytes the in-process tier (L1) may hold; 0 still caches per-tip fee answers only. */
  readonly memoryBytes: number;
  /** A Redis (L2) call slower than this is skipped. */
  readonly redisTimeoutMs: number;
  /** Fee answers are reused until the next tip or this long. */
  readonly perTipTtlMs: number;
}

export interface PoolConfig {
  /** An upstream more than this many blocks behind the best tip gets no tip-sensitive requests. */
  readonly maxLagBlocks: number;
  /** Upstream subscriptions one upstream connection may hold. */
  readonly maxSubscriptionsPerConnection: number;
  /** One try at one upstream; requestTimeoutMs bounds all tries. */
  readonly attemptTimeoutMs: number;
  readonly pingIntervalMs: number;
  /** How long an upstream that sent invalid data stays out of rotation. */
  readonly quarantineMs: number;
  /** Deepest reorg the chain tracker follows. */
  readonly maxReorgDepth: number;
  /** Subscriptions moved to another upstream at once after theirs was lost. */
  readonly resubscribeConcurrency: number;
  /** Such moves started per second at most. */
  readonly resubscribePerSecond: number;
  /** SOCKS proxy every upstream without its own socks= option goes through (e.g. Tor), or null. */
  readonly socks: string | null;
}

export interface CostConfig {
  /** Above this a group's requests are delayed in proportion and run one at a time. */
  readonly softLimit: number;
  /** At this a request gets -101 "excessive resource usage" and the session is closed; 0 turns cost limits off. */
  readonly hardLimit: number;
  /** Bytes sent or received per unit of cost. */
  readonly bandwidthUnitBytes: number;
  readonly decayPerSecond: number;
  /** Extra cost of a request answered with an error. */
  readonly errorCost: number;
  /** Delay at the hard limit; it scales from 0 at the soft limit. */
  readonly maxDelayMs: number;
  /** With Redis configured and unreachable: true keeps serving on local accounting, false refuses requests. */
  readonly sharedFailOpen: boolean;
}

export interface DiscoveryConfig {
  /** Discover, verify and report peer servers; off: server.peers.subscribe reports the gateway itself only. */
  readonly enabled: boolean;
  /** Where verified peers are kept across restarts (absolute path), or null for memory only. */
  readonly peersFile: string | null;
  /** "auto" (127.0.0.1:9050, then 9150, re-tried hourly), a socks5:// URL, or null for no Tor. */
  readonly torProxy: string | null;
  /** Banner text for connections from the Tor proxy; null serves the normal banner. */
  readonly torBanner: string | null;
  /** As server.bannerFile, for connections from the Tor proxy (absolute path). */
  readonly torBannerFile: string | null;
  /** Verified peers become a last-resort upstream tier behind the configured upstreams. */
  readonly joinPool: boolean;
  /** Send server.add_peer with our features to verified peers that do not list us (needs public server.hosts). */
  readonly announce: boolean;
  /** Peers at private or loopback addresses are accepted (test networks); off on the public network. */
  readonly allowPrivate: boolean;
  /** Verifications running at once. */
  readonly verifyConcurrency: number;
  /** One verification's connection and each of its answers, in milliseconds. */
  readonly verifyTimeoutMs: number;
  /** Peers kept at most (the table and the file are bounded whatever others gossip). */
  readonly maxPeers: number;
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
  readonly cost: CostConfig;
  readonly pool: PoolConfig;
  readonly cache: CacheConfig;
  readonly logging: LoggingConfig;
  /** Peer discovery (src/peers/). Optional only so hand-built test configs need not spell it out; config/load.ts always sets it. */
  readonly discovery?: DiscoveryConfig;
  /** On SIGINT/SIGTERM, in-flight requests get this long to finish before the process exits. */
  readonly shutdownGraceMs: number;
  /** After SIGTERM: how long sessions keep being served (readiness failing) before they are closed. */
  readonly drainMs: number;
  /** Bearer token the admin listener requires; mandatory when it listens beyond loopback. */
  readonly adminToken: string | null;
  /**
   * Processes serving wallets (Node cluster), or "auto" for one per core; resolved when the
   * gateway starts (cli/serve.ts), so the same file means the same thing on every machine.
   * Optional only so hand-built test configs need not spell it out; config/load.ts always sets it.
   */
  readonly workers?: number | 'auto';
}
