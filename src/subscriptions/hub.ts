// SPDX-License-Identifier: MIT
/**
 * Subscriptions shared by every session.
 *
 * - Headers: the chain tracker owns the tip; the hub fans each new tip out to
 *   every session that subscribed (sessions drop repeats).
 * - Scripthashes: the first session to subscribe makes ONE upstream
 *   subscription, on the scripthash's sticky upstream, on whichever of that
 *   upstream's connections holds the fewest (never more than
 *   `maxPerConnection`); later sessions share it and notifications fan out.
 *   The upstream subscription is dropped when the last session leaves.
 * - Failover: when an upstream dies, lags, is quarantined or its circuit
 *   opens, its scripthashes are subscribed again on their new sticky upstream;
 *   a session hears of it only if the status differs from what it was told.
 */
import type { ChainTracker } from '../chain/tracker.js';
import { classifyFailure } from '../routing/router.js';
import { Pacer } from './pacer.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import { canonicalStatus, type StatusEntry } from '../protocol/status.js';
import { versionLess } from '../protocol/version.js';
import type { UpstreamConnection } from '../upstream/connection.js';
import type { HeaderTip, UpstreamPool } from '../upstream/pool.js';

export type { HeaderTip };

export interface Subscriber {
  notifyHeaders(tip: HeaderTip): void;
  notifyScripthash(scripthash: string, status: string | null): void;
}

export interface HubOptions {
  readonly requestTimeoutMs: number;
  /** Upstream subscriptions on one connection (ElectrumX and Fulcrum cap them per session and per IP). */
  readonly maxPerConnection: number;
  /** Unique scripthashes the gateway subscribes to in all. */
  readonly maxTotal: number;
  /** Subscriptions being moved to another upstream at once (pool.resubscribe_concurrency). */
  readonly resubscribeConcurrency: number;
  /** Moves started per second at most (pool.resubscribe_per_second). */
  readonly resubscribePerSecond: number;
}

/** What the metrics room learns from the hub. */
export interface HubObserver {
  notificationSent(kind: 'headers' | 'scripthash', sessions: number): void;
  resubscribed(count: number): void;
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
  /** The connection an upstream subscribe is in flight on ... */
  pending: UpstreamConnection | null;
  /** ... and the last status it announced before its answer was handled: newer than that answer. */
  announced: { readonly status: unknown } | null;
}

const SCRIPTHASH = 'blockchain.scripthash.subscribe';
/** Fulcrum's code for a limit reached. */
const LIMIT_EXCEEDED = 4;

export class SubscriptionHub {
  private readonly headerSubscribers = new Set<Subscriber>();
  private readonly scripthashes = new Map<string, ScripthashEntry>();
  /** Upstream subscriptions held per connection. */
  private readonly perConnection = new Map<UpstreamConnection, number>();
  /** Scripthashes with subscribers but no upstream subscription: no upstream could take them yet. */
  private readonly orphans = new Set<string>();
  /** Subscriptions that lost their upstream, moved to another at a bounded pace. */
  private readonly mover: Pacer;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly tracker: ChainTracker,
    private readonly opts: HubOptions,
    private readonly logger: Logger,
    private readonly observer?: HubObserver,
  ) {
    this.mover = new Pacer({ concurrency: opts.resubscribeConcurrency, perSecond: opts.resubscribePerSecond });
    pool.on('ready', () => this.adoptOrphans());
    // An upstream catching up or leaving quarantine shows as a change, not a new connection.
    pool.on('change', () => this.adoptOrphans());
    pool.on('lost', (conn) => this.moveOff((c) => c === conn, conn.name));
    pool.on('unserving', (name) => this.moveOff((c) => c.name === name, name));
    pool.on('notification', (conn, method, params) => this.onNotification(conn, method, params));
    tracker.on('tip', (tip) => this.fanOutTip(tip));
  }

  /** Subscriptions waiting for their turn to move to another upstream, and those moving now. */
  get moves(): { readonly queued: number; readonly active: number } {
    return { queued: this.mover.queued, active: this.mover.active };
  }

  /** Unique scripthashes with an upstream subscription (or one being made). */
  get scripthashCount(): number {
    return this.scripthashes.size;
  }

  /** Session subscriptions summed over scripthashes (a scripthash watched by 3 sessions counts 3). */
  get sessionSubscriptionCount(): number {
    let n = 0;
    for (const e of this.scripthashes.values()) n += e.subscribers.size;
    return n;
  }

  /** Unique scripthashes held per upstream name (the admin API's view; one pass over the subscriptions). */
  subscriptionsByUpstream(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const e of this.scripthashes.values()) if (e.conn) counts.set(e.conn.name, (counts.get(e.conn.name) ?? 0) + 1);
    return counts;
  }

  /** Resolves with the tracker's tip; the subscriber hears of later tips only after this answer. */
  async subscribeHeaders(sub: Subscriber, deadline: number): Promise<HeaderTip> {
    const tip = this.tracker.tip ?? (await this.nextTip(deadline));
    this.headerSubscribers.add(sub);
    return tip;
  }

  async subscribeScripthash(sub: Subscriber, scripthash: string, deadline: number): Promise<string | null> {
    let entry = this.scripthashes.get(scripthash);
    if (!entry) {
      if (this.scripthashes.size >= this.opts.maxTotal) {
        throw new RpcError(LIMIT_EXCEEDED, `subscription limit reached (${this.opts.maxTotal} scripthashes on this server)`);
      }
      entry = { subscribers: new Set(), conn: null, status: null, inflight: null, seq: 0, pending: null, announced: null };
      this.scripthashes.set(scripthash, entry);
    }
    entry.subscribers.add(sub);
    if (entry.conn?.isOpen && !entry.inflight) return entry.status;
    try {
      return await (entry.inflight ?? this.subscribeUpstream(scripthash, entry, deadline));
    } catch (err) {
      entry.subscribers.delete(sub);
      if (entry.subscribers.size === 0 && !entry.conn && !entry.inflight && this.scripthashes.get(scripthash) === entry) {
        this.scripthashes.delete(scripthash);
        this.orphans.delete(scripthash);
      }
      throw err;
    }
  }

  /** Upstream subscriptions the hub counts against its connections, summed (0 once every session has left). */
  get heldUpstreamSubscriptions(): number {
    let n = 0;
    for (const v of this.perConnection.values()) n += v;
    return n;
  }

  /** Removes one session's interest; returns whether it was subscribed. */
  unsubscribeScripthash(sub: Subscriber, scripthash: string): boolean {
    const entry = this.scripthashes.get(scripthash);
    if (!entry || !entry.subscribers.delete(sub)) return false;
    // With a subscribe in flight the entry stays until it ends (settleEmpty): dropping it now would
    // let the answer attach to nothing, and a new entry for the same scripthash race the old one.
    if (entry.subscribers.size === 0 && !entry.inflight) this.dropEntry(scripthash, entry);
    return true;
  }

  /** Forgets everything a departing session subscribed to. */
  removeSubscriber(sub: Subscriber, scripthashes: Iterable<string>): void {
    this.headerSubscribers.delete(sub);
    for (const sh of scripthashes) this.unsubscribeScripthash(sub, sh);
  }

  private async nextTip(deadline: number): Promise<HeaderTip> {
    // With no upstream open and none coming up soon there is nothing to verify a tip from:
    // the wallet hears so now and can try another server.
    if (!(await this.pool.whenAnyOpen(deadline))) {
      throw new RpcError(ErrorCode.UNAVAILABLE, 'no upstream server is available; try again later');
    }
    if (this.tracker.tip) return this.tracker.tip;
    return new Promise((resolve, reject) => {
      const onTip = (tip: HeaderTip): void => {
        clearTimeout(timer);
        resolve(tip);
      };
      const timer = setTimeout(
        () => {
          this.tracker.off('tip', onTip);
          reject(new RpcError(ErrorCode.UNAVAILABLE, 'no verified chain tip yet; try again shortly'));
        },
        Math.max(1, deadline - Date.now()),
      );
      this.tracker.once('tip', onTip);
    });
  }

  private subscribeUpstream(scripthash: string, entry: ScripthashEntry, deadline: number): Promise<string | null> {
    const run = async (): Promise<string | null> => {
      const excludeConnections = new Set<UpstreamConnection>();
      const excludeUpstreams = new Set<string>();
      for (;;) {
        const sticky = await this.pool.acquire(deadline, { key: scripthash, tipSensitive: true, excludeConnections, excludeUpstreams });
        const conn = this.roomiest(sticky);
        entry.pending = conn; // `announced` is null here: every attempt clears it when it ends
        try {
          const reply = await conn.request(SCRIPTHASH, [scripthash], Math.max(1, deadline - Date.now()));
          // A notification can overtake the answer (a slow server, or both in one packet): it is the newer status.
          let seen = entry.announced;
          let canonical = await this.canonical(conn, scripthash, seen ? seen.status : reply, deadline);
          while (entry.announced !== seen) {
            seen = entry.announced;
            canonical = await this.canonical(conn, scripthash, seen!.status, deadline);
          }
          entry.status = canonical;
          if (entry.subscribers.size === 0) {
            // Everyone left while it was in flight: the upstream subscription it made is undone at once.
            this.unsubscribeUpstream(conn, scripthash);
            return canonical;
          }
          this.attach(entry, conn);
          return canonical;
        } catch (err) {
          if (!conn.isOpen && Date.now() < deadline) {
            excludeConnections.add(conn);
            continue;
          }
          // A server-side failure (internal error, timeout) is no answer: ask another upstream.
          if (classifyFailure(err) === 'server' && Date.now() < deadline) {
            excludeUpstreams.add(conn.name);
            continue;
          }
          throw err;
        } finally {
          entry.pending = null;
          entry.announced = null;
        }
      }
    };
    const p = run().finally(() => {
      entry.inflight = null;
      this.settleEmpty(scripthash, entry);
    });
    entry.inflight = p;
    return p;
  }

  /** The connection of the same upstream holding the fewest subscriptions, under the per-connection cap. */
  private roomiest(sticky: UpstreamConnection): UpstreamConnection {
    let best: UpstreamConnection | null = null;
    for (const c of this.pool.siblings(sticky)) {
      const n = this.perConnection.get(c) ?? 0;
      if (n < this.opts.maxPerConnection && (best === null || n < (this.perConnection.get(best) ?? 0))) best = c;
    }
    if (!best) {
      throw new RpcError(LIMIT_EXCEEDED, `subscription limit reached on upstream ${sticky.name}; raise max_connections or add upstreams`);
    }
    return best;
  }

  private attach(entry: ScripthashEntry, conn: UpstreamConnection): void {
    if (entry.conn === conn) return;
    this.detach(entry);
    entry.conn = conn;
    this.perConnection.set(conn, (this.perConnection.get(conn) ?? 0) + 1);
  }

  private detach(entry: ScripthashEntry): void {
    const old = entry.conn;
    if (!old) return;
    const n = (this.perConnection.get(old) ?? 1) - 1;
    if (n <= 0) this.perConnection.delete(old);
    else this.perConnection.set(old, n);
    entry.conn = null;
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

  /** An entry whose last subscriber left while its subscribe was in flight goes once that subscribe ends. */
  private settleEmpty(scripthash: string, entry: ScripthashEntry): void {
    if (entry.subscribers.size === 0 && this.scripthashes.get(scripthash) === entry) this.dropEntry(scripthash, entry);
  }

  private dropEntry(scripthash: string, entry: ScripthashEntry): void {
    this.scripthashes.delete(scripthash);
    this.orphans.delete(scripthash);
    const conn = entry.conn;
    this.detach(entry);
    this.unsubscribeUpstream(conn, scripthash);
  }

  /** Servers before 1.4.2 have no unsubscribe; their subscription ends with the connection. */
  private unsubscribeUpstream(conn: UpstreamConnection | null, scripthash: string): void {
    if (conn?.isOpen && conn.version && !versionLess(conn.version, '1.4.2')) {
      conn.request('blockchain.scripthash.unsubscribe', [scripthash], this.opts.requestTimeoutMs).catch(() => undefined);
    }
  }

  /** Scripthashes that lost their upstream while none could take them: try again now one is up. */
  private adoptOrphans(): void {
    if (this.orphans.size === 0 || this.pool.ready().length === 0) return;
    for (const sh of [...this.orphans]) {
      this.orphans.delete(sh);
      const entry = this.scripthashes.get(sh);
      if (entry && !entry.conn && !entry.inflight) this.resubscribe(sh, entry);
    }
  }

  /** Moves every subscription held where `held` says to a new sticky upstream. */
  private moveOff(held: (conn: UpstreamConnection) => boolean, upstream: string): void {
    let moved = 0;
    for (const [sh, entry] of this.scripthashes) {
      if (!entry.conn || !held(entry.conn)) continue;
      const old = entry.conn;
      this.detach(entry);
      // A subscribe already in flight (its connection had closed under it) settles the entry itself.
      if (entry.inflight) continue;
      // The old upstream may still be connected (lagging, quarantined): stop its notifications reaching us.
      this.unsubscribeUpstream(old, sh);
      moved++;
      this.resubscribe(sh, entry);
    }
    if (moved > 0) {
      this.observer?.resubscribed(moved);
      this.logger.info({ upstream, scripthashes: moved }, 'moving subscriptions to other upstreams');
    }
  }

  /** Queues the move: its wallets keep their last status meanwhile, and get any change once it is made. */
  private resubscribe(scripthash: string, entry: ScripthashEntry): void {
    if (this.pool.ready().length === 0) {
      this.orphans.add(scripthash); // picked up again when an upstream comes up
      return;
    }
    this.mover.add(scripthash, () => this.moveNow(scripthash, entry));
  }

  private moveNow(scripthash: string, entry: ScripthashEntry): Promise<void> {
    // Its last wallet left while it waited, it was subscribed again meanwhile, or it is being subscribed.
    if (this.scripthashes.get(scripthash) !== entry || entry.conn || entry.inflight) return Promise.resolve();
    if (this.pool.ready().length === 0) {
      this.orphans.add(scripthash);
      return Promise.resolve();
    }
    const previous = entry.status;
    return this.subscribeUpstream(scripthash, entry, Date.now() + this.opts.requestTimeoutMs)
      .then((status) => {
        if (status !== previous) this.fanOut(scripthash, entry);
      })
      .catch((err: Error) => {
        if (this.scripthashes.get(scripthash) === entry && !entry.conn) this.orphans.add(scripthash);
        this.logger.warn({ scripthash, err: err.message }, 'resubscription failed; will retry when an upstream comes up');
      });
  }

  private onNotification(conn: UpstreamConnection, method: string, params: unknown[]): void {
    if (method !== SCRIPTHASH) return;
    const [sh, status] = params;
    if (typeof sh !== 'string') return;
    const entry = this.scripthashes.get(sh);
    if (!entry) return;
    if (entry.conn !== conn) {
      // Announced while its subscribe is in flight there: kept for when the answer arrives.
      if (entry.pending === conn) entry.announced = { status };
      // Only the connection holding the subscription speaks for it; leftovers elsewhere are ignored.
      return;
    }
    const seq = ++entry.seq;
    this.canonical(conn, sh, status, Date.now() + this.opts.requestTimeoutMs).then(
      (canonical) => {
        if (entry.conn !== conn || entry.seq !== seq) return;
        entry.status = canonical;
        this.fanOut(sh, entry);
      },
      (err: Error) => this.logger.warn({ upstream: conn.name, scripthash: sh, err: err.message }, 'could not confirm a status notification'),
    );
  }

  private fanOutTip(tip: HeaderTip): void {
    for (const sub of this.headerSubscribers) sub.notifyHeaders(tip);
    this.observer?.notificationSent('headers', this.headerSubscribers.size);
  }

  private fanOut(scripthash: string, entry: ScripthashEntry): void {
    for (const sub of entry.subscribers) sub.notifyScripthash(scripthash, entry.status);
    this.observer?.notificationSent('scripthash', entry.subscribers.size);
  }
}
