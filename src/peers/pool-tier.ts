// SPDX-License-Identifier: MIT
/**
 * discovery.join_pool: verified peers as a last-resort tier of the upstream
 * pool. The pool chooses such an upstream only while none of the configured
 * ones fits a request and never sends it a broadcast (pool.ts, lastResort);
 * the pool's own health checks (handshake genesis, breaker, lag against the
 * verified tip, quarantine on a bad proof) apply to it as to any upstream.
 *
 * This module keeps the pool's set of peer upstreams equal to the best
 * MAX_POOL_PEERS good peers: a peer that turns stale or is forgotten leaves.
 */
import type { Logger } from '../observability/logger.js';
import type { UpstreamEndpoint } from '../upstream/connection.js';
import type { UpstreamDefinition } from '../upstream/pool.js';
import type { SocksProxyConfig } from '../upstream/transport.js';
import { isOnion, type PeerRecord } from './peer.js';

/** Peers in the pool at most: enough to answer when every configured upstream is gone, few connections. */
export const MAX_POOL_PEERS = 4;
/** Pool upstream names of peers: "peer:HOST", apart from any configured name. */
export const PEER_UPSTREAM_PREFIX = 'peer:';

/** What of the pool this needs (UpstreamPool has it). */
export interface PoolMembership {
  add(def: UpstreamDefinition): boolean;
  remove(name: string, maxWaitMs: number): Promise<boolean>;
}

/** The pool's definition of a verified peer: TLS first (certificates not checked, as when verified), then TCP. */
export function peerUpstreamDefinition(p: PeerRecord, torProxy: SocksProxyConfig | null): UpstreamDefinition {
  const base = { name: `${PEER_UPSTREAM_PREFIX}${p.host}`, host: p.host, ...(isOnion(p.host) && torProxy ? { socks: torProxy } : {}) };
  const endpoints: UpstreamEndpoint[] = [];
  if (p.ports.ssl !== undefined) endpoints.push({ ...base, scheme: 'tls', port: p.ports.ssl, tls: { insecure: true } });
  if (p.ports.tcp !== undefined) endpoints.push({ ...base, scheme: 'tcp', port: p.ports.tcp });
  return { name: base.name, endpoints, weight: 1, maxConnections: 1, labels: { source: 'peer', server: p.features?.serverVersion ?? '' }, lastResort: true };
}

export class PeerPoolTier {
  /** Host -> the ports it was added with (a change of ports re-adds it). */
  private readonly joined = new Map<string, string>();

  constructor(
    private readonly pool: PoolMembership,
    /** Hosts that are configured upstreams already: never added twice. */
    private readonly configuredHosts: ReadonlySet<string>,
    private readonly torProxy: () => SocksProxyConfig | null,
    /** How long a leaving peer's in-flight requests may take. */
    private readonly drainMs: () => number,
    private readonly log: Logger,
  ) {}

  /** Makes the pool's peer upstreams the first MAX_POOL_PEERS of `good` (most recently verified first). */
  sync(good: readonly PeerRecord[]): void {
    const wanted = new Map<string, PeerRecord>();
    for (const p of good) {
      if (wanted.size >= MAX_POOL_PEERS) break;
      if (this.configuredHosts.has(p.host) || (p.ports.ssl === undefined && p.ports.tcp === undefined)) continue;
      wanted.set(p.host, p);
    }
    for (const [host, ports] of [...this.joined]) {
      const w = wanted.get(host);
      if (w && JSON.stringify(w.ports) === ports) continue;
      this.joined.delete(host);
      void this.pool.remove(`${PEER_UPSTREAM_PREFIX}${host}`, this.drainMs());
      this.log.info({ peer: host }, 'peer left the upstream pool');
    }
    for (const [host, p] of wanted) {
      if (this.joined.has(host)) continue;
      if (this.pool.add(peerUpstreamDefinition(p, this.torProxy()))) {
        this.joined.set(host, JSON.stringify(p.ports));
        this.log.info({ peer: host }, 'peer joined the upstream pool (last resort)');
      }
    }
  }

  get hosts(): string[] {
    return [...this.joined.keys()];
  }
}
