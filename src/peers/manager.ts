// SPDX-License-Identifier: MIT
/**
 * The peer table and its life: restored from the peers file at start, fed
 * with candidates (configured upstreams, the peer lists of those upstreams and
 * of verified peers, server.add_peer), verified on the schedule of
 * schedule.ts at a bounded concurrency, saved when it changes and at stop.
 *
 * Time comes from an injected clock; the background loop only decides when
 * to look. Tests pass their own clock, turn the loop off and call runDue().
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type { Network } from '../config/networks.js';
import type { DiscoveryConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { SocksProxyConfig } from '../upstream/transport.js';
import { isPublicAddress, addressBucket, normalizeAddress } from './addresses.js';
import { isOnion, newPeer, parsePeerEntry, peerState, portsFromFeatures, subscribeEntry, validHost, type PeerPorts, type PeerRecord, type PeerSource, type PeerState, PEER_STATES } from './peer.js';
import type { ProbeContext, ProbeResult, ProbeTarget } from './probe.js';
import { afterFailure, afterSuccess, duePeers, nextDue } from './schedule.js';
import type { PeersStore } from './store.js';

export interface Clock {
  now(): number;
}
export const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

/**
 * A forgotten peer (wrong network, or too many failures) is not taken back
 * for this long, whoever gossips it: the servers that advertised it would
 * otherwise hand it back at their next check and it would never leave.
 */
export const FORGOTTEN_FOR_MS = 24 * 3600_000;
/** Forgotten hosts remembered at most (the oldest go first). */
const MAX_FORGOTTEN = 5000;
/** One accepted server.add_peer per domain (or per IP, or for all onions) in this window, as ElectrumX. */
export const ADD_PEER_PAUSE_MS = 10 * 60_000;
/** Domains whose add_peer pause is remembered; beyond it the expired ones are dropped. */
const MAX_RECENT_ADDS = 1000;
/** One server.add_peer per session in this window. */
export const ADD_PEER_SESSION_PAUSE_MS = 60_000;
/** Candidates from add_peer not yet verified, at most. */
export const MAX_PENDING_ADD_PEER = 20;
/** New candidates taken from one verified peer's list (configured upstreams' lists are taken whole). */
export const NEW_PEERS_PER_LIST = 10;
/** server.peers.subscribe: at most this many clearnet peers from one /16 bucket, and the onion caps. */
const PER_BUCKET = 2;
const ONION_FOR_TOR = 50;
const ONION_MIN = 10;
/** Where "auto" looks for Tor, and how often again while it is not found. */
export const TOR_AUTO_PORTS = [9050, 9150] as const;
export const TOR_RETRY_MS = 3600_000;

export interface PeerManagerDeps {
  readonly network: Network;
  readonly discovery: DiscoveryConfig;
  /** The gateway's own public host names (server.hosts): never peers of ourselves. */
  readonly selfHosts: readonly string[];
  readonly probe: (target: ProbeTarget, ctx: ProbeContext) => Promise<ProbeResult>;
  /** The probe's context at the moment of a verification (chain view, announce). Tor is filled in here. */
  readonly context: () => Omit<ProbeContext, 'torProxy'>;
  readonly store: PeersStore | null;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Host name -> addresses; default the system resolver. */
  readonly resolve?: (host: string) => Promise<string[]>;
  /** Finds a SOCKS5 proxy at these ports of 127.0.0.1; default a SOCKS5 greeting. */
  readonly detectSocks?: (host: string, ports: readonly number[]) => Promise<SocksProxyConfig | null>;
  /** Called after every change of the table (metrics). */
  readonly onChange?: (counts: Readonly<Record<PeerState, number>>) => void;
  /** discovery.join_pool: told the good peers, most recently verified first, after every change. */
  readonly onGood?: (good: readonly PeerRecord[]) => void;
}

export interface PeerRow extends PeerRecord {
  readonly state: PeerState;
  readonly nextTry: number;
}

export class PeerManager {
  private readonly peers = new Map<string, PeerRecord>();
  /** Host -> until when it is not taken as a candidate (forgotten). */
  private readonly banned = new Map<string, number>();
  private readonly recentAdds = new Map<string, number>();
  private readonly sessionAdds = new WeakMap<object, number>();
  private torProxy: SocksProxyConfig | null = null;
  private torLookedAt: number | null = null;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly deps: PeerManagerDeps) {
    this.log = deps.logger;
  }

  /** Restores the file, takes the seeds, finds Tor. With background, verifies on its own from now on. */
  async start(seeds: readonly ProbeTarget[], background: boolean): Promise<void> {
    for (const p of (await this.deps.store?.load()) ?? []) {
      if (this.peers.size >= this.deps.discovery.maxPeers) break;
      this.peers.set(p.host, p);
    }
    await this.lookForTor();
    for (const s of seeds) this.note(s.host, s.ports, 'config');
    this.changed();
    if (background) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await this.save();
  }

  get size(): number {
    return this.peers.size;
  }

  get tor(): SocksProxyConfig | null {
    return this.torProxy;
  }

  /** The table, most useful first, for the admin endpoint and the CLI. */
  table(): PeerRow[] {
    const now = this.deps.clock.now();
    const order: Record<PeerState, number> = { good: 0, stale: 1, new: 2, failing: 3 };
    return [...this.peers.values()]
      .map((p) => ({ ...p, state: peerState(p, now), nextTry: nextDue([p]) ?? 0 }))
      .sort((a, b) => order[a.state] - order[b.state] || a.host.localeCompare(b.host));
  }

  counts(): Record<PeerState, number> {
    const now = this.deps.clock.now();
    const c = Object.fromEntries(PEER_STATES.map((s) => [s, 0])) as Record<PeerState, number>;
    for (const p of this.peers.values()) c[peerState(p, now)]++;
    return c;
  }

  /** A wallet connection from the Tor proxy's address is taken to come through Tor (as ElectrumX does). */
  isFromTor(address: string | undefined): boolean {
    if (!address || !this.torProxy) return false;
    return normalizeAddress(address) === normalizeAddress(this.torProxy.host);
  }

  /**
   * The server.peers.subscribe answer: peers verified in the last 24 h at
   * public addresses (unless allow_private), at most two per /16, onion peers
   * capped (more to a connection from Tor).
   * The gateway itself is added by the caller.
   */
  subscribeAnswer(fromTor: boolean): [string, string, string[]][] {
    const now = this.deps.clock.now();
    const reportable = (p: PeerRecord): boolean =>
      peerState(p, now) === 'good' && (this.deps.discovery.allowPrivate || isOnion(p.host) || (p.ipAddresses.length > 0 && p.ipAddresses.every(isPublicAddress)));
    const good = [...this.peers.values()].filter(reportable).sort((a, b) => (b.lastGood ?? 0) - (a.lastGood ?? 0));
    const clear: PeerRecord[] = [];
    const onion: PeerRecord[] = [];
    const perBucket = new Map<string, number>();
    for (const p of good) {
      if (isOnion(p.host)) {
        onion.push(p);
        continue;
      }
      const bucket = p.ipAddresses[0] ? addressBucket(p.ipAddresses[0]) : null;
      if (bucket !== null) {
        const n = perBucket.get(bucket) ?? 0;
        if (n >= PER_BUCKET) continue;
        perBucket.set(bucket, n + 1);
      }
      clear.push(p);
    }
    const maxOnion = fromTor ? ONION_FOR_TOR : Math.max(ONION_MIN, Math.floor(clear.length / 4));
    return [...clear, ...onion.slice(0, maxOnion)].map((p) => subscribeEntry(p, this.deps.network));
  }

  /**
   * A candidate from anywhere. Returns true when it was added as new. Onion
   * hosts without Tor, ourselves, banned hosts, private addresses (unless
   * allowed) and anything beyond max_peers are ignored.
   */
  note(host: string, ports: PeerPorts, source: PeerSource): boolean {
    const h = host.toLowerCase();
    if (!validHost(h) || this.peers.has(h)) return false;
    if (this.deps.selfHosts.some((s) => s.toLowerCase() === h)) return false;
    if (isOnion(h) && !this.torProxy) return false;
    // A configured upstream at a private address is still asked for its peers; it is never reported (see subscribeAnswer).
    if (source !== 'config' && !this.deps.discovery.allowPrivate && net.isIP(h) !== 0 && !isPublicAddress(h)) return false;
    const until = this.banned.get(h);
    if (until !== undefined && until > this.deps.clock.now()) return false;
    if (this.peers.size >= this.deps.discovery.maxPeers) return false;
    this.peers.set(h, newPeer(h, ports, source));
    this.log.info({ peer: h, source }, 'new peer candidate');
    return true;
  }

  /** The entries of a server.peers.subscribe answer as candidates; at most `limit` new ones. */
  notePeerList(list: readonly unknown[], limit: number): number {
    let added = 0;
    for (const entry of list) {
      if (added >= limit) break;
      const parsed = parsePeerEntry(entry, this.deps.network);
      if (parsed && this.note(parsed.host, parsed.ports, 'peer')) added++;
    }
    return added;
  }

  /**
   * server.add_peer from a wallet connection at `caller`: its first host must
   * resolve to the caller's address (onion hosts excepted), once per session
   * a minute and per domain ten minutes; an accepted candidate is verified
   * before it is ever reported. Answers whether the request was accepted.
   */
  async addPeer(features: unknown, caller: string | undefined, session: object): Promise<boolean> {
    if (!this.deps.discovery.enabled || !caller) return false;
    const now = this.deps.clock.now();
    const last = this.sessionAdds.get(session);
    if (last !== undefined && now - last < ADD_PEER_SESSION_PAUSE_MS) {
      this.log.info({ caller }, 'add_peer refused: one per session a minute');
      return false;
    }
    this.sessionAdds.set(session, now);
    const f = features as Record<string, unknown> | null;
    if (f === null || typeof f !== 'object' || f.genesis_hash !== this.deps.network.genesisHash) {
      this.log.info({ caller }, 'add_peer refused: features missing or for another network');
      return false;
    }
    const hosts = f.hosts !== null && typeof f.hosts === 'object' ? Object.keys(f.hosts as object) : [];
    const host = hosts[0]?.trim().toLowerCase();
    const ports = host !== undefined ? portsFromFeatures(f, host) : null;
    if (host === undefined || !validHost(host) || ports === null || (ports.tcp === undefined && ports.ssl === undefined)) {
      this.log.info({ caller }, 'add_peer refused: no host with a tcp or ssl port');
      return false;
    }
    const bucket = net.isIP(host) ? 'ip' : isOnion(host) ? 'onion' : host.split('.').slice(-2).join('.');
    const lastBucket = this.recentAdds.get(bucket);
    if (lastBucket !== undefined && now - lastBucket < ADD_PEER_PAUSE_MS) {
      this.log.info({ caller, peer: host }, 'add_peer refused: rate limited');
      return false;
    }
    const pending = [...this.peers.values()].filter((p) => p.source === 'add_peer' && p.lastGood === null).length;
    if (pending >= MAX_PENDING_ADD_PEER) {
      this.log.info({ caller, peer: host }, 'add_peer refused: too many unverified add_peer candidates');
      return false;
    }
    if (!isOnion(host)) {
      const addresses = await this.resolve(host);
      const from = normalizeAddress(caller);
      if (!addresses.some((a) => normalizeAddress(a) === from)) {
        this.log.warn({ caller, peer: host, addresses }, 'add_peer refused: the host does not resolve to the caller');
        return false;
      }
    }
    if (!this.note(host, ports, 'add_peer')) {
      const known = this.peers.get(host);
      if (!known) {
        this.log.info({ caller, peer: host }, 'add_peer refused: not a peer we take');
        return false;
      }
    }
    // The pause starts at an acceptance only: a refused request (say, someone else's domain
    // from the wrong address) must not block the real server's own add_peer for ten minutes.
    this.recentAdds.set(bucket, now);
    if (this.recentAdds.size > MAX_RECENT_ADDS) {
      for (const [b, t] of this.recentAdds) if (now - t >= ADD_PEER_PAUSE_MS) this.recentAdds.delete(b);
    }
    this.log.info({ caller, peer: host }, 'add_peer accepted; to be verified');
    this.changed();
    if (this.timer !== null && !this.stopped) this.schedule(0);
    return true;
  }

  /** Verifies every peer due now (most urgent first), at most verify_concurrency at once. */
  runDue(): Promise<void> {
    this.running ??= this.runOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runOnce(): Promise<void> {
    // Without a tip of our own nothing can be judged; trying now would only count failures.
    if (this.deps.context().ours === null) return;
    const now = this.deps.clock.now();
    if (this.torProxy === null && this.deps.discovery.torProxy === 'auto' && (this.torLookedAt === null || now - this.torLookedAt >= TOR_RETRY_MS)) {
      await this.lookForTor();
    }
    const due = duePeers(this.peers.values(), now);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < due.length && !this.stopped) {
        const p = due[next++]!;
        await this.verify(p);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.discovery.verifyConcurrency, due.length) }, worker));
    this.changed();
    await this.save();
  }

  private async verify(p: PeerRecord): Promise<void> {
    const ctx: ProbeContext = { ...this.deps.context(), torProxy: this.torProxy };
    let addresses: string[] = [];
    if (!isOnion(p.host)) {
      addresses = await this.resolve(p.host);
      if (p.source !== 'config' && !this.deps.discovery.allowPrivate && addresses.some((a) => !isPublicAddress(a))) {
        this.forget(p, `resolves to a private address (${addresses.join(', ')})`);
        return;
      }
    }
    let result: ProbeResult;
    try {
      result = await this.deps.probe({ host: p.host, ports: p.ports }, ctx);
    } catch (err) {
      result = { kind: 'unreachable', reason: (err as Error).message };
    }
    const now = this.deps.clock.now();
    if (!this.peers.has(p.host)) return; // forgotten meanwhile
    if (result.kind !== 'unreachable' && (p.source === 'config' || result.kind === 'good')) {
      // A configured upstream's list is trusted whole; a verified peer's only in part.
      this.notePeerList(result.peerList, p.source === 'config' ? this.deps.discovery.maxPeers : NEW_PEERS_PER_LIST);
    }
    if (result.kind === 'good') {
      this.peers.set(p.host, afterSuccess(p, now, result.features, addresses, result.ports));
      this.log.info({ peer: p.host, via: result.via, server: result.features.serverVersion, announced: result.announced }, 'peer verified');
      return;
    }
    if (result.kind === 'refused' && result.refusal === 'wrong-network') {
      this.forget(p, `wrong network: ${result.reason}`);
      return;
    }
    const reason = result.kind === 'refused' ? `${result.refusal}: ${result.reason}` : result.reason;
    const after = afterFailure({ ...p, ipAddresses: addresses.length > 0 ? addresses : p.ipAddresses }, now);
    if (after === null) {
      this.forget(p, `${p.tryCount + 1} failures, the last: ${reason}`);
      return;
    }
    this.peers.set(p.host, after);
    this.log.info({ peer: p.host, failures: after.tryCount, reason }, result.kind === 'refused' ? 'peer refused' : 'peer unreachable');
  }

  private forget(p: PeerRecord, why: string): void {
    this.peers.delete(p.host);
    this.banned.delete(p.host);
    this.banned.set(p.host, this.deps.clock.now() + FORGOTTEN_FOR_MS);
    if (this.banned.size > MAX_FORGOTTEN) this.banned.delete(this.banned.keys().next().value!);
    this.log.info({ peer: p.host, reason: why }, 'peer forgotten');
  }

  private async resolve(host: string): Promise<string[]> {
    if (net.isIP(host) !== 0) return [host];
    try {
      const r = this.deps.resolve ? await this.deps.resolve(host) : (await dns.lookup(host, { all: true })).map((a) => a.address);
      return r.slice(0, 16);
    } catch {
      return [];
    }
  }

  private async lookForTor(): Promise<void> {
    const setting = this.deps.discovery.torProxy;
    if (setting === null) return;
    if (setting !== 'auto') {
      const m = /^socks5h?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[^\]]+\]|[^:/]+):(\d+)\/?$/i.exec(setting);
      if (m) this.torProxy = { version: 5, host: m[3]!.replace(/^\[|\]$/g, ''), port: Number(m[4]), ...(m[1] ? { username: decodeURIComponent(m[1]) } : {}), ...(m[2] ? { password: decodeURIComponent(m[2]) } : {}) };
      return;
    }
    this.torLookedAt = this.deps.clock.now();
    const found = await (this.deps.detectSocks ?? detectSocks5)('127.0.0.1', TOR_AUTO_PORTS);
    if (found) {
      this.torProxy = found;
      this.log.info({ proxy: `${found.host}:${found.port}` }, 'Tor proxy found; onion peers can be verified');
    } else {
      this.log.info({ ports: TOR_AUTO_PORTS }, 'no Tor proxy on 127.0.0.1; looking again in an hour');
    }
  }

  private changed(): void {
    this.deps.onChange?.(this.counts());
    if (this.deps.onGood) {
      const now = this.deps.clock.now();
      // An onion peer is usable only while a Tor proxy is known.
      const good = [...this.peers.values()].filter((p) => peerState(p, now) === 'good' && (!isOnion(p.host) || this.torProxy !== null));
      this.deps.onGood(good.sort((a, b) => (b.lastGood ?? 0) - (a.lastGood ?? 0) || a.host.localeCompare(b.host)));
    }
  }

  private save(): Promise<void> {
    return this.deps.store?.save(this.peers.values()) ?? Promise.resolve();
  }

  /** The background loop: wakes when the next peer is due (at least every 10 s, at most every 10 min). */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.runDue().finally(() => {
        const due = nextDue(this.peers.values());
        const wait = due === null ? 600_000 : due - this.deps.clock.now();
        this.schedule(Math.min(600_000, Math.max(10_000, wait)));
      });
    }, delayMs);
    this.timer.unref();
  }
}

/** A SOCKS5 proxy answers the greeting "05 01 00" (no authentication) with "05 00". */
export async function detectSocks5(host: string, ports: readonly number[], timeoutMs = 2000): Promise<SocksProxyConfig | null> {
  for (const port of ports) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(timeoutMs, () => done(false));
      s.once('error', () => done(false));
      s.once('connect', () => s.write(Buffer.from([5, 1, 0])));
      s.once('data', (d: Buffer) => done(d.length >= 2 && d[0] === 5 && d[1] === 0));
    });
    if (ok) return { version: 5, host, port };
  }
  return null;
}
