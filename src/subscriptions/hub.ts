// SPDX-License-Identifier: MIT
/**
 * Subscriptions shared by every session: one upstream subscription per
 * scripthash whatever the number of wallets watching it, the best tip seen
 * across upstreams for headers, and fan-out of notifications. When an
 * upstream goes away its scripthashes are subscribed again elsewhere and only
 * sessions whose status really changed hear about it (each session filters
 * against what it was last sent).
 */
import type { Logger } from '../observability/logger.js';
import { isHexOfLength } from '../protocol/bitcoin/hash.js';
import { canonicalStatus, type StatusEntry } from '../protocol/status.js';
import { versionLess } from '../protocol/version.js';
import type { UpstreamConnection } from '../upstream/connection.js';
import type { UpstreamPool } from '../upstream/pool.js';

export interface HeaderTip {
  readonly height: number;
  /** 80-byte header, hex. */
  readonly hex: string;
}

export interface Subscriber {
  notifyHeaders(tip: HeaderTip): void;
  notifyScripthash(scripthash: string, status: string | null): void;
}

interface ScripthashEntry {
  readonly subscribers: Set<Subscriber>;
  /** The connection holding the upstream subscription; null while (re)subscribing or orphaned. */
  conn: UpstreamConnection | null;
  status: string | null;
  /** Set while an upstream subscribe is in flight; everyone waiting shares it. */
  inflight: Promise<string | null> | null;
  /** Counts notifications, so a slow status check never overwrites a newer one. */
  seq: number;
}

const SCRIPTHASH = 'blockchain.scripthash.subscribe';

export class SubscriptionHub {
  private tipValue: HeaderTip | null = null;
  private readonly headerSubscribers = new Set<Subscriber>();
  private readonly scripthashes = new Map<string, ScripthashEntry>();

  constructor(
    private readonly pool: UpstreamPool,
    private readonly requestTimeoutMs: number,
    private readonly logger: Logger,
  ) {
    pool.on('ready', () => this.onUpstreamReady());
    pool.on('lost', (conn) => this.onUpstreamLost(conn));
    pool.on('tip', (_upstream, tip) => this.offerTip(tip));
    pool.on('notification', (conn, method, params) => this.onNotification(conn, method, params));
  }

  get tip(): HeaderTip | null {
    return this.tipValue;
  }

  /** Unique scripthashes with an upstream subscription (or one being made). */
  get scripthashCount(): number {
    return this.scripthashes.size;
  }

  /** Resolves with the current tip; the subscriber hears of later tips only after this answer. */
  async subscribeHeaders(sub: Subscriber, deadline: number): Promise<HeaderTip> {
    if (!this.tipValue) {
      // Every pool connection follows headers before it is handed out, so one being ready means a tip is known.
      await this.pool.acquire(deadline);
    }
    if (!this.tipValue) throw new Error('upstream gave no tip');
    this.headerSubscribers.add(sub);
    return this.tipValue;
  }

  async subscribeScripthash(sub: Subscriber, scripthash: string, deadline: number): Promise<string | null> {
    let entry = this.scripthashes.get(scripthash);
    if (!entry) {
      entry = { subscribers: new Set(), conn: null, status: null, inflight: null, seq: 0 };
      this.scripthashes.set(scripthash, entry);
    }
    entry.subscribers.add(sub);
    if (entry.conn?.isOpen && !entry.inflight) return entry.status;
    try {
      return await (entry.inflight ?? this.subscribeUpstream(scripthash, entry, deadline));
    } catch (err) {
      entry.subscribers.delete(sub);
      if (entry.subscribers.size === 0 && !entry.conn) this.scripthashes.delete(scripthash);
      throw err;
    }
  }

  /** Removes one session's interest; returns whether it was subscribed. */
  unsubscribeScripthash(sub: Subscriber, scripthash: string): boolean {
    const entry = this.scripthashes.get(scripthash);
    if (!entry || !entry.subscribers.delete(sub)) return false;
    if (entry.subscribers.size === 0) this.dropEntry(scripthash, entry);
    return true;
  }

  /** Forgets everything a departing session subscribed to. */
  removeSubscriber(sub: Subscriber, scripthashes: Iterable<string>): void {
    this.headerSubscribers.delete(sub);
    for (const sh of scripthashes) this.unsubscribeScripthash(sub, sh);
  }

  private subscribeUpstream(scripthash: string, entry: ScripthashEntry, deadline: number): Promise<string | null> {
    const run = async (): Promise<string | null> => {
      const excludeConnections = new Set<UpstreamConnection>();
      for (;;) {
        const conn = await this.pool.acquire(deadline, { key: scripthash, tipSensitive: true, excludeConnections });
        try {
          const status = await conn.request(SCRIPTHASH, [scripthash], Math.max(1, deadline - Date.now()));
          entry.status = await this.canonical(conn, scripthash, status, deadline);
          entry.conn = conn;
          return entry.status;
        } catch (err) {
          if (!conn.isOpen && Date.now() < deadline) {
            excludeConnections.add(conn);
            continue;
          }
          throw err;
        }
      }
    };
    const p = run().finally(() => {
      entry.inflight = null;
    });
    entry.inflight = p;
    return p;
  }

  /**
   * The status in 1.6's canonical mempool order. A 1.6 upstream already
   * guarantees it; for an older one (electrs orders its mempool otherwise) the
   * status is recomputed from its history, so every wallet sees the status its
   * own get_history (reordered by the router) hashes to.
   */
  private async canonical(conn: UpstreamConnection, scripthash: string, status: unknown, deadline: number): Promise<string | null> {
    if (typeof status !== 'string') return null;
    if (!conn.version || !versionLess(conn.version, '1.6')) return status;
    const history = await conn.request('blockchain.scripthash.get_history', [scripthash], Math.max(1, deadline - Date.now()));
    if (!Array.isArray(history)) throw new Error('get_history did not return a list');
    return canonicalStatus(history as StatusEntry[]);
  }

  private dropEntry(scripthash: string, entry: ScripthashEntry): void {
    this.scripthashes.delete(scripthash);
    const conn = entry.conn;
    // Servers before 1.4.2 have no unsubscribe; their subscription ends with the connection.
    if (conn?.isOpen && conn.version && !versionLess(conn.version, '1.4.2')) {
      conn.request('blockchain.scripthash.unsubscribe', [scripthash], this.requestTimeoutMs).catch(() => undefined);
    }
  }

  private onUpstreamReady(): void {
    for (const [sh, entry] of this.scripthashes) {
      if (!entry.conn && !entry.inflight) this.resubscribe(sh, entry);
    }
  }

  private onUpstreamLost(conn: UpstreamConnection): void {
    let moved = 0;
    for (const [sh, entry] of this.scripthashes) {
      if (entry.conn !== conn) continue;
      entry.conn = null;
      moved++;
      this.resubscribe(sh, entry);
    }
    if (moved > 0) this.logger.info({ upstream: conn.name, scripthashes: moved }, 'moving subscriptions off a lost upstream');
  }

  private resubscribe(scripthash: string, entry: ScripthashEntry): void {
    if (this.pool.ready().length === 0) return; // picked up again on the next 'ready'
    const previous = entry.status;
    this.subscribeUpstream(scripthash, entry, Date.now() + this.requestTimeoutMs)
      .then((status) => {
        if (status !== previous) this.fanOut(scripthash, entry);
      })
      .catch((err: Error) => {
        this.logger.warn({ scripthash, err: err.message }, 'resubscription failed; will retry when an upstream comes up');
      });
  }

  private onNotification(conn: UpstreamConnection, method: string, params: unknown[]): void {
    if (method === SCRIPTHASH) {
      const [sh, status] = params;
      if (typeof sh !== 'string') return;
      const entry = this.scripthashes.get(sh);
      if (!entry || entry.conn !== conn) return;
      const seq = ++entry.seq;
      this.canonical(conn, sh, status, Date.now() + this.requestTimeoutMs).then(
        (canonical) => {
          if (entry.conn !== conn || entry.seq !== seq) return;
          entry.status = canonical;
          this.fanOut(sh, entry);
        },
        (err: Error) => this.logger.warn({ upstream: conn.name, scripthash: sh, err: err.message }, 'could not confirm a status notification'),
      );
    }
  }

  /** The walking skeleton's tip rule: take the highest well-formed header any upstream offers. */
  private offerTip(value: unknown): void {
    if (value === null || typeof value !== 'object') return;
    const { height, hex } = value as { height?: unknown; hex?: unknown };
    if (typeof height !== 'number' || !isHexOfLength(hex, 80)) return;
    const current = this.tipValue;
    if (current && (height < current.height || (height === current.height && hex === current.hex))) return;
    this.tipValue = { height, hex: hex.toLowerCase() };
    for (const sub of this.headerSubscribers) sub.notifyHeaders(this.tipValue);
  }

  private fanOut(scripthash: string, entry: ScripthashEntry): void {
    for (const sub of entry.subscribers) sub.notifyScripthash(scripthash, entry.status);
  }
}
