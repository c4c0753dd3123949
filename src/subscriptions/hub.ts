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
 *   opens, its scripthashes are subscribed again on their new sticky upstream
 *   (paced, and spread over that upstream's connections by what each holds
 *   and has in flight); a session hears of it only if the status differs
 *   from what it was told. A move that fails (the server throttled, timed
 *   out, dropped the connection) leaves an orphan that is tried again after a
 *   backoff until it is adopted or its last session leaves.
 */
import type { ChainTracker } from '../chain/tracker.js';
import { classifyFailure } from '../routing/router.js';
import { Pacer } from './pacer.js';
import { RetrySchedule } from './retries.js';
import { MoveWindow } from './window.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import { canonicalStatus, type StatusEntry } from '../protocol/status.js';
import { versionLess } from '../protocol/version.js';
import { UpstreamError, type UpstreamConnection } from '../upstream/connection.js';
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
  /** First delay before a failed move is tried again, doubling per failure (default 1 s). */
  readonly retryBaseMs?: number;
  /** Longest delay between tries of one failed move (default 60 s). */
  readonly retryMaxMs?: number;
}

/** Why a move failed, as metrics and logs name it. */
export const MOVE_FAILURES = ['timeout', 'busy', 'excessive', 'connection', 'full', 'other'] as const;
export type MoveFailure = (typeof MOVE_FAILURES)[number];

/** Orphans by what they wait for: their turn, their answer, their backoff, or any upstream at all. */
export interface OrphanCounts {
  readonly queued: number;
  readonly moving: number;
  readonly retrying: number;
  readonly parked: number;
}

/** What the metrics room learns from the hub. */
export interface HubObserver {
  notificationSent(kind: 'headers' | 'scripthash', sessions: number): void;
  resubscribed(count: number): void;
  /** A move failed and its orphan will be tried again. */
  moveRetried(reason: MoveFailure): void;
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
  /**
   * The open connection of a failed attempt that may still have made the upstream
   * subscription (a timeout says nothing about what the server did): tried first next
   * time, where subscribing again is harmless, and unsubscribed when the entry lands
   * elsewhere or goes, so no upstream ends up holding it twice.
   */
  tried: UpstreamConnection | null;
}

const SCRIPTHASH = 'blockchain.scripthash.subscribe';
/** Fulcrum's code for a limit reached. */
const LIMIT_EXCEEDED = 4;
/** Failed moves are summed into one log line at most this often. */
const FAILURE_LOG_MS = 10_000;
/** The move window returns to full after this long with no move at all. */
const WINDOW_RESTORE_MS = 60_000;

/** What made a move fail, for the window (congestion or not), the metrics and the log. */
export function moveFailure(err: unknown): MoveFailure {
  if (err instanceof UpstreamError) return err.kind === 'timeout' ? 'timeout' : err.kind === 'closed' || err.kind === 'connect' ? 'connection' : 'other';
  if (err instanceof RpcError) {
    if (err.code === ErrorCode.SERVER_BUSY) return 'busy';
    if (err.code === ErrorCode.EXCESSIVE_RESOURCE_USAGE) return 'excessive';
    if (err.code === LIMIT_EXCEEDED) return 'full';
  }
  return 'other';
}

export class SubscriptionHub {
  private readonly headerSubscribers = new Set<Subscriber>();
  private readonly scripthashes = new Map<string, ScripthashEntry>();
  /** Upstream subscriptions held per connection. */
  private readonly perConnection = new Map<UpstreamConnection, number>();
  /** Upstream subscribes in flight per connection: counted with what it holds when spreading. */
  private readonly reserved = new Map<UpstreamConnection, number>();
  /** Scripthashes with subscribers but no upstream subscription, parked while no upstream is ready at all. */
  private readonly orphans = new Set<string>();
  /** Subscriptions that lost their upstream, moved to another at a bounded pace. */
  private readonly mover: Pacer;
  /** How many moves may be in flight now: shrinks while the server taking them is congested. */
  private readonly window: MoveWindow;
  /** Orphans whose move failed, waiting to be tried again. */
  private readonly retries: RetrySchedule;
  /** Failed moves since the last log line about them. */
  private failed: { count: number; reasons: Partial<Record<MoveFailure, number>>; upstreams: Set<string> } | null = null;
  private failedLoggedAt = Number.NEGATIVE_INFINITY;
  private failedTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly tracker: ChainTracker,
    private readonly opts: HubOptions,
    private readonly logger: Logger,
    private readonly observer?: HubObserver,
  ) {
    // Slow is a quarter of the request timeout, and 4 s at most: well before ElectrumX's 30 s
    // "server busy", and before a ping queued behind the moves misses the pool's 10 s.
    this.window = new MoveWindow({ max: opts.resubscribeConcurrency, slowMs: () => Math.min(4_000, opts.requestTimeoutMs / 4), restoreMs: WINDOW_RESTORE_MS });
    this.mover = new Pacer({ concurrency: opts.resubscribeConcurrency, perSecond: opts.resubscribePerSecond, limit: () => this.window.limit });
    this.retries = new RetrySchedule({ baseMs: opts.retryBaseMs ?? 1_000, maxMs: opts.retryMaxMs ?? 60_000 });
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

  /** Scripthashes that have sessions but no upstream subscription, by what they wait for. */
  get orphanCounts(): OrphanCounts {
    return { queued: this.mover.queued, moving: this.mover.active, retrying: this.retries.size, parked: this.orphans.size };
  }

  /** Moves allowed in flight now (pool.resubscribe_concurrency unless the server taking them is congested). */
  get moveWindow(): number {
    return this.window.limit;
  }

  /** Shutdown: no more retries or moves. */
  close(): void {
    this.retries.clear();
    this.mover.clear();
    if (this.failedTimer) clearTimeout(this.failedTimer);
    this.failedTimer = null;
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
      entry = { subscribers: new Set(), conn: null, status: null, inflight: null, seq: 0, pending: null, announced: null, tried: null };
      this.scripthashes.set(scripthash, entry);
    }
    // Sessions already here while it has no upstream subscription are an orphan's: this
    // subscribe adopts it, and they hear of a status that changed meanwhile.
    const orphaned = entry.subscribers.size > 0 && !entry.conn && !entry.inflight;
    const previous = entry.status;
    entry.subscribers.add(sub);
    if (entry.conn?.isOpen && !entry.inflight) return entry.status;
    try {
      const status = await (entry.inflight ?? this.subscribeUpstream(scripthash, entry, deadline));
      if (orphaned && status !== previous && entry.conn) this.fanOut(scripthash, entry, sub);
      return status;
    } catch (err) {
      entry.subscribers.delete(sub);
      if (this.scripthashes.get(scripthash) !== entry) throw err;
      if (entry.subscribers.size === 0 && !entry.conn && !entry.inflight) this.dropEntry(scripthash, entry);
      // Sessions that held it before keep waiting for it: the orphan is tried again.
      else if (orphaned) this.moveFailed(scripthash, entry, err, null);
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

  /**
   * `attempted` hears how each request went (when it was sent, and its error if it
   * failed): the mover's window follows it.
   */
  private subscribeUpstream(
    scripthash: string,
    entry: ScripthashEntry,
    deadline: number,
    attempted?: (sentAt: number, err: unknown) => void,
  ): Promise<string | null> {
    const run = async (): Promise<string | null> => {
      const excludeConnections = new Set<UpstreamConnection>();
      const excludeUpstreams = new Set<string>();
      for (;;) {
        const sticky = await this.pool.acquire(deadline, { key: scripthash, tipSensitive: true, excludeConnections, excludeUpstreams });
        const conn = this.roomiest(sticky, entry.tried);
        entry.pending = conn; // `announced` is null here: every attempt clears it when it ends
        this.reserved.set(conn, (this.reserved.get(conn) ?? 0) + 1);
        const sentAt = Date.now();
        try {
          const reply = await conn.request(SCRIPTHASH, [scripthash], Math.max(1, deadline - Date.now()));
          // A notification can overtake the answer (a slow server, or both in one packet): it is the newer status.
          let seen = entry.announced;
          let canonical = await this.canonical(conn, scripthash, seen ? seen.status : reply, deadline);
          while (entry.announced !== seen) {
            seen = entry.announced;
            canonical = await this.canonical(conn, scripthash, seen!.status, deadline);
          }
          attempted?.(sentAt, null);
          entry.status = canonical;
          if (entry.tried !== conn) this.unsubscribeUpstream(entry.tried, scripthash);
          entry.tried = null;
          if (entry.subscribers.size === 0) {
            // Everyone left while it was in flight: the upstream subscription it made is undone at once.
            this.unsubscribeUpstream(conn, scripthash);
            return canonical;
          }
          this.attach(entry, conn);
          this.retries.forget(scripthash);
          this.orphans.delete(scripthash);
          return canonical;
        } catch (err) {
          attempted?.(sentAt, err);
          if (err instanceof UpstreamError && err.kind === 'timeout' && conn.isOpen) {
            // A second stray elsewhere cannot be tried first as well: it is undone now.
            if (entry.tried !== conn) this.unsubscribeUpstream(entry.tried, scripthash);
            entry.tried = conn;
          } else if (entry.tried === conn && !conn.isOpen) entry.tried = null;
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
          const n = (this.reserved.get(conn) ?? 1) - 1;
          if (n <= 0) this.reserved.delete(conn);
          else this.reserved.set(conn, n);
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

  /** Subscriptions a connection holds plus those being made on it. */
  private load(conn: UpstreamConnection): number {
    return (this.perConnection.get(conn) ?? 0) + (this.reserved.get(conn) ?? 0);
  }

  /**
   * The connection of the same upstream with the fewest subscriptions held or in flight,
   * under the per-connection cap (counting the in-flight ones, so a burst of moves spreads
   * over every connection with room instead of all picking the one that was emptiest when
   * they started). `tried`, a connection a failed attempt may have subscribed on, comes
   * first while it has room.
   */
  private roomiest(sticky: UpstreamConnection, tried: UpstreamConnection | null): UpstreamConnection {
    const siblings = this.pool.siblings(sticky);
    if (tried && siblings.includes(tried) && this.load(tried) < this.opts.maxPerConnection) return tried;
    let best: UpstreamConnection | null = null;
    for (const c of siblings) {
      const n = this.load(c);
      if (n < this.opts.maxPerConnection && (best === null || n < this.load(best))) best = c;
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
    this.retries.forget(scripthash);
    const conn = entry.conn;
    this.detach(entry);
    this.unsubscribeUpstream(conn, scripthash);
    if (entry.tried !== conn) this.unsubscribeUpstream(entry.tried, scripthash);
    entry.tried = null;
  }

  /** Servers before 1.4.2 have no unsubscribe; their subscription ends with the connection. */
  private unsubscribeUpstream(conn: UpstreamConnection | null, scripthash: string): void {
    if (conn?.isOpen && conn.version && !versionLess(conn.version, '1.4.2')) {
      conn.request('blockchain.scripthash.unsubscribe', [scripthash], this.opts.requestTimeoutMs).catch(() => undefined);
    }
  }

  /** Scripthashes parked while no upstream was ready: try again now one is up. */
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
    // The attempt that failed says why, not the "no upstream available" that ends the search
    // for another one after it.
    let failure: { readonly err: unknown; readonly upstream: string } | null = null;
    const attempted = (sentAt: number, err: unknown): void => {
      const reason = err === null ? null : moveFailure(err);
      this.window.record(sentAt, reason === 'timeout' || reason === 'busy' || reason === 'excessive' || reason === 'connection');
      if (err !== null && entry.pending) failure = { err, upstream: entry.pending.name };
    };
    return this.subscribeUpstream(scripthash, entry, Date.now() + this.opts.requestTimeoutMs, attempted)
      .then((status) => {
        if (status !== previous) this.fanOut(scripthash, entry);
      })
      .catch((err: unknown) => {
        const f = failure as { readonly err: unknown; readonly upstream: string } | null;
        this.moveFailed(scripthash, entry, f?.err ?? err, f?.upstream ?? null);
      });
  }

  /**
   * A move (or a session's subscribe adopting an orphan) failed: while sessions still
   * want the scripthash and nothing else is bringing it back, it is tried again after a
   * backoff, or parked until some upstream is ready when none is.
   */
  private moveFailed(scripthash: string, entry: ScripthashEntry, err: unknown, upstream: string | null): void {
    const reason = moveFailure(err);
    this.noteFailure(reason, upstream, err);
    if (this.scripthashes.get(scripthash) !== entry || entry.subscribers.size === 0 || entry.conn || entry.inflight) return;
    if (this.mover.has(scripthash) || this.retries.has(scripthash) || this.orphans.has(scripthash)) return;
    if (this.pool.ready().length === 0) {
      this.orphans.add(scripthash);
      return;
    }
    this.observer?.moveRetried(reason);
    this.retries.schedule(scripthash, () => {
      if (this.scripthashes.get(scripthash) === entry && entry.subscribers.size > 0 && !entry.conn && !entry.inflight) this.resubscribe(scripthash, entry);
    });
  }

  /** Failed moves go into one warning every FAILURE_LOG_MS at most (a server that throttles fails thousands at once). */
  private noteFailure(reason: MoveFailure, upstream: string | null, err: unknown): void {
    this.failed ??= { count: 0, reasons: {}, upstreams: new Set() };
    this.failed.count++;
    this.failed.reasons[reason] = (this.failed.reasons[reason] ?? 0) + 1;
    if (upstream) this.failed.upstreams.add(upstream);
    this.logger.debug({ upstream, reason, err: (err as Error)?.message }, 'subscription move failed; will retry');
    if (this.failedTimer) return;
    const wait = Math.max(0, this.failedLoggedAt + FAILURE_LOG_MS - Date.now());
    this.failedTimer = setTimeout(() => this.logFailures(), wait);
    this.failedTimer.unref();
  }

  private logFailures(): void {
    this.failedTimer = null;
    const f = this.failed;
    this.failed = null;
    if (!f) return;
    this.failedLoggedAt = Date.now();
    const o = this.orphanCounts;
    this.logger.warn(
      { failed: f.count, reasons: f.reasons, upstreams: [...f.upstreams], orphans: o, window: this.window.limit, periodMs: FAILURE_LOG_MS },
      'subscription moves failed; their orphans will be retried with backoff',
    );
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

  /** `except` is a session hearing the status as its answer. */
  private fanOut(scripthash: string, entry: ScripthashEntry, except?: Subscriber): void {
    let n = 0;
    for (const sub of entry.subscribers) {
      if (sub === except) continue;
      sub.notifyScripthash(scripthash, entry.status);
      n++;
    }
    this.observer?.notificationSent('scripthash', n);
  }
}
