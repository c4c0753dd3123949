// SPDX-License-Identifier: MIT
/**
 * The pool of upstream Electrum servers.
 *
 * Every upstream keeps up to `maxConnections` multiplexed connections open,
 * reconnecting with jittered exponential backoff and trying its other port
 * when one fails. Each connection follows the upstream's headers, so the pool
 * knows every upstream's tip and which ones lag. A circuit breaker stops
 * traffic to an upstream that keeps failing and lets one probe through after a
 * cooldown. `acquire` hands out a connection: sticky by key (rendezvous
 * hashing) for per-scripthash work, least-loaded otherwise.
 *
 * An operator can cordon an upstream (no new requests; its subscriptions are
 * moved away through the 'unserving' event; its connections, pings and tip
 * keep being watched) and, on a reload, add or remove upstreams: a removed
 * one is cordoned, its in-flight requests are answered, then it is closed.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger.js';
import { isHexOfLength } from '../protocol/bitcoin/hash.js';
import { UpstreamConnection, UpstreamError, type RequestOutcome, type UpstreamConnectionOptions, type UpstreamEndpoint } from './connection.js';
import { CircuitBreaker, Ewma, type BreakerOptions, type BreakerState } from './health.js';
import { leastLoaded, rendezvous, type Candidate } from './selection.js';

export type UpstreamState = 'connecting' | 'healthy' | 'lagging' | 'open-circuit' | 'quarantined' | 'wrong-network' | 'down';
export const UPSTREAM_STATES: readonly UpstreamState[] = ['connecting', 'healthy', 'lagging', 'open-circuit', 'quarantined', 'wrong-network', 'down'];
/** States in which an upstream gets tip-sensitive traffic (scripthash subscriptions live only there). */
const SERVING: ReadonlySet<UpstreamState> = new Set(['healthy']);
/** How often remove() looks whether the upstream's in-flight requests are answered. */
const REMOVE_POLL_MS = 25;

export interface UpstreamDefinition {
  readonly name: string;
  /** The first is used first; the others (the same host's other port) are tried when it fails. */
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly weight: number;
  readonly maxConnections: number;
  /** Requests written and unanswered per connection; more wait (UpstreamConnectionOptions.maxInFlight). */
  readonly maxInFlight?: number;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * A last-resort upstream (a verified peer under discovery.join_pool): chosen only
   * when no other upstream fits the request, and never for a broadcast.
   */
  readonly lastResort?: boolean;
}

export interface PoolOptions extends Omit<UpstreamConnectionOptions, 'logger'> {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** An upstream more than this many blocks behind the best tip gets no tip-sensitive requests. */
  readonly maxLagBlocks: number;
  /** How often every connection is pinged; a ping that fails closes the connection. */
  readonly pingIntervalMs: number;
  readonly breaker: BreakerOptions;
  /**
   * How long a request waits for an upstream when none fits it now. A request fails at
   * once when no upstream could come up within this window (every one excluded, on the
   * wrong network, quarantined, or down with its next retry later), so a wallet hears
   * it and tries another server instead of waiting out its whole timeout.
   */
  readonly noUpstreamWaitMs: number;
  /**
   * While some upstream is unreachable, a summary line at info this often says the
   * gateway is still retrying (the per-upstream warning is logged only once); 0: never.
   */
  readonly retrySummaryIntervalMs?: number;
}

export interface HeaderTip {
  readonly height: number;
  readonly hex: string;
}

/** Receives what the pool observes; the metrics room implements it. */
export interface PoolObserver {
  upstreamState(name: string, state: UpstreamState): void;
  upstreamTip(name: string, height: number, lag: number): void;
  upstreamRequest(name: string, outcome: RequestOutcome): void;
  upstreamReconnect(name: string): void;
  upstreamBreaker(name: string, state: BreakerState): void;
  /** One connection's liveness check: see pingAll. */
  upstreamPing(name: string, result: PingResult): void;
}

/**
 * 'answered': the ping came back in time. 'skipped': the connection answered
 * other requests since the last round, which proves it alive. 'late': the ping
 * timed out but other replies came while it waited (throttled or a full
 * window: slow, not dead; kept open). 'failed': nothing came back, or the
 * ping failed; a timed-out connection is closed.
 */
export type PingResult = 'answered' | 'skipped' | 'late' | 'failed';
export const PING_RESULTS: readonly PingResult[] = ['answered', 'skipped', 'late', 'failed'];

export interface PoolEvents {
  /** A connection finished its handshake and can carry requests. */
  ready: [conn: UpstreamConnection];
  /** A connection that was ready went away. */
  lost: [conn: UpstreamConnection];
  notification: [conn: UpstreamConnection, method: string, params: unknown[]];
  /** An upstream reported a new tip (unverified). */
  tip: [upstream: string, tip: HeaderTip];
  /** Something that may change what acquire() can return. */
  change: [];
  /** An upstream stopped being fit for tip-sensitive work (lagging, quarantined, circuit open, gone). */
  unserving: [upstream: string, state: UpstreamState];
}

export interface AcquireOptions {
  /** Requests about the same key (a scripthash) go to the same upstream while it is routable. */
  readonly key?: string;
  /** Tip-sensitive requests avoid lagging upstreams. */
  readonly tipSensitive?: boolean;
  /** Upstreams (by name) not to use: they already failed this request. */
  readonly excludeUpstreams?: ReadonlySet<string>;
  /** Connections not to use: they died under this request. */
  readonly excludeConnections?: ReadonlySet<UpstreamConnection>;
  /** Only upstreams whose own tip reaches this height: a lagging server asked for headers it lacks answers short. */
  readonly minTipHeight?: number;
  /** This upstream (by name), when it fits the request: the one that reported the transaction asked about. */
  readonly prefer?: string;
  /** Do not wait for an upstream to come up: settle for those fit now (asking others after an answer of "not found"). */
  readonly noWait?: boolean;
  /** A broadcast: never sent to a last-resort upstream (a peer we do not run). */
  readonly broadcast?: boolean;
}

export interface UpstreamStatus {
  readonly name: string;
  readonly state: UpstreamState;
  readonly endpoint: string;
  readonly version: string | null;
  readonly software: string | null;
  readonly tipHeight: number | null;
  readonly lag: number | null;
  readonly connections: number;
  readonly inFlight: number;
  readonly latencyMs: number | null;
  readonly errorRate: number;
  readonly breaker: BreakerState;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Why it is quarantined, while it is. */
  readonly quarantine: string | null;
  /** Cordoned by the operator (or being removed): no new requests, no subscriptions. */
  readonly cordoned: boolean;
}

class Upstream {
  readonly conns: (UpstreamConnection | null)[];
  readonly timers: (NodeJS.Timeout | null)[];
  /** When each slot's pending reconnect fires (epoch ms), or null. */
  readonly retryAt: (number | null)[];
  /** When each slot's connection attempt in progress began (epoch ms), or null. */
  readonly attemptStartedAt: (number | null)[];
  readonly breaker: CircuitBreaker;
  readonly latency = new Ewma(0.2);
  readonly errors = new Ewma(0.1);
  tip: HeaderTip | null = null;
  failures = 0;
  /** Why the last connection attempt failed, for the retry summary. */
  lastError: string | null = null;
  endpointIndex = 0;
  wrongNetwork = false;
  everConnected = false;
  /** Connections past their handshake and headers subscription (others may be open but still handshaking). */
  readonly readyConns = new Set<UpstreamConnection>();
  lastState: UpstreamState | null = null;
  quarantinedUntil = 0;
  quarantineReason: string | null = null;
  lastBreaker: BreakerState | null = null;
  /** Set by cordon(); also while it is being removed. */
  cordoned = false;
  /** Being removed: its connections are not reopened. */
  removed = false;

  constructor(
    readonly def: UpstreamDefinition,
    breaker: BreakerOptions,
    readonly log: Logger,
  ) {
    this.conns = new Array(def.maxConnections).fill(null);
    this.timers = new Array(def.maxConnections).fill(null);
    this.retryAt = new Array(def.maxConnections).fill(null);
    this.attemptStartedAt = new Array(def.maxConnections).fill(null);
    this.breaker = new CircuitBreaker(breaker);
  }

  get name(): string {
    return this.def.name;
  }

  openConns(): UpstreamConnection[] {
    return this.conns.filter((c): c is UpstreamConnection => c !== null && c.isOpen);
  }

  inFlight(): number {
    return this.openConns().reduce((n, c) => n + c.inFlight, 0);
  }
}

export class UpstreamPool extends EventEmitter<PoolEvents> {
  private readonly upstreams: Upstream[];
  private closed = false;
  private pingTimer: NodeJS.Timeout | null = null;
  /** Connections with a ping in flight. */
  private readonly pinging = new WeakSet<UpstreamConnection>();
  private summaryTimer: NodeJS.Timeout | null = null;
  /** The tip height the chain tracker has verified, once it has one. */
  private verifiedHeight: number | null = null;
  /** Set by the chain tracker: lag is measured only against its verified tip (nobody lags before there is one). */
  private lagFromVerifiedOnly = false;

  constructor(
    definitions: readonly UpstreamDefinition[],
    private readonly opts: PoolOptions,
    private readonly logger: Logger,
    private readonly observer?: PoolObserver,
  ) {
    super();
    this.setMaxListeners(0);
    this.upstreams = definitions.map((d) => new Upstream(d, opts.breaker, logger.child({ upstream: d.name })));
  }

  start(): void {
    for (const u of this.upstreams) this.open(u);
    this.pingTimer = setInterval(() => this.pingAll(), this.opts.pingIntervalMs);
    this.pingTimer.unref();
    const every = this.opts.retrySummaryIntervalMs ?? 0;
    if (every > 0) {
      this.summaryTimer = setInterval(() => this.logRetrySummary(), every);
      this.summaryTimer.unref();
    }
  }

  /** One info line naming every upstream still being retried, with its last error and next try. */
  private logRetrySummary(): void {
    const now = Date.now();
    const unavailable = this.upstreams
      .filter((u) => !u.removed && u.failures > 0 && u.openConns().length === 0)
      .map((u) => {
        const due = u.retryAt.filter((t): t is number => t !== null);
        return {
          name: u.name,
          state: this.computeState(u, now),
          failures: u.failures,
          lastError: u.lastError,
          nextRetryInMs: due.length > 0 ? Math.max(0, Math.min(...due) - now) : null,
        };
      });
    if (unavailable.length === 0) return;
    const available = this.upstreams.filter((u) => !u.removed && u.openConns().length > 0).length;
    this.logger.info({ unavailable, available }, 'still retrying unavailable upstreams');
  }

  private open(u: Upstream): void {
    for (let i = 0; i < u.conns.length; i++) void this.connect(u, i);
    this.refreshState(u);
  }

  /** Configured upstream names, in order. */
  names(): string[] {
    return this.upstreams.map((u) => u.name);
  }

  /**
   * Takes an upstream out of rotation until uncordon(): acquire() no longer
   * returns it and its subscriptions move to others ('unserving'); its
   * connections stay open and its health keeps being checked. False for an unknown name.
   */
  cordon(name: string): boolean {
    const u = this.find(name);
    if (!u) return false;
    if (u.cordoned) return true;
    u.cordoned = true;
    u.log.info('upstream cordoned: no new requests, subscriptions moving away');
    this.emit('unserving', u.name, this.computeState(u, Date.now()));
    this.emit('change');
    return true;
  }

  uncordon(name: string): boolean {
    const u = this.find(name);
    if (!u || u.removed) return false;
    if (!u.cordoned) return true;
    u.cordoned = false;
    u.log.info('upstream uncordoned');
    this.emit('change');
    return true;
  }

  /** Adds an upstream (a reload) and starts connecting to it; false when the name is taken. */
  add(def: UpstreamDefinition): boolean {
    if (this.find(def.name)) return false;
    const u = new Upstream(def, this.opts.breaker, this.logger.child({ upstream: def.name }));
    this.upstreams.push(u);
    u.log.info('upstream added');
    if (!this.closed) this.open(u);
    return true;
  }

  /**
   * Removes an upstream (a reload): cordoned first, so its subscriptions move
   * and nothing new is sent; the requests it has in flight are answered (for up
   * to maxWaitMs); then its connections are closed. False for an unknown name.
   */
  async remove(name: string, maxWaitMs: number): Promise<boolean> {
    const u = this.find(name);
    if (!u || u.removed) return false;
    this.cordon(name);
    u.removed = true;
    const until = Date.now() + maxWaitMs;
    while (u.inFlight() > 0 && Date.now() < until && !this.closed) {
      await new Promise((resolve) => setTimeout(resolve, REMOVE_POLL_MS));
    }
    u.log.info({ unanswered: u.inFlight() }, 'upstream removed');
    for (const t of u.timers) if (t) clearTimeout(t);
    const i = this.upstreams.indexOf(u);
    if (i >= 0) this.upstreams.splice(i, 1);
    for (const c of u.conns) c?.close();
    this.emit('change');
    return true;
  }

  private find(name: string): Upstream | undefined {
    return this.upstreams.find((x) => x.name === name);
  }

  /** The best tip height any connected, trusted upstream reports. */
  bestTipHeight(): number | null {
    let best: number | null = null;
    const now = Date.now();
    for (const u of this.upstreams) {
      if (u.quarantinedUntil > now) continue;
      if (u.tip && u.openConns().length > 0 && !u.wrongNetwork && (best === null || u.tip.height > best)) best = u.tip.height;
    }
    return best;
  }

  /**
   * The chain tracker's verified tip. Lag is measured against it once known, so an
   * upstream claiming a tip it cannot back never makes the others look behind.
   */
  setVerifiedTip(height: number): void {
    this.verifiedHeight = height;
    this.reportLags();
    this.refreshAll();
  }

  /** Every upstream's tip and lag to the observer (lag 0 while there is nothing to measure against). */
  private reportLags(): void {
    const best = this.referenceTipHeight();
    for (const x of this.upstreams) if (x.tip) this.observer?.upstreamTip(x.name, x.tip.height, best === null ? 0 : best - x.tip.height);
  }

  /**
   * With a chain tracker, no upstream is lagging until a chain is verified: an
   * upstream below a claimed-higher tip is not behind until that tip is proven.
   */
  measureLagFromVerifiedTip(): void {
    this.lagFromVerifiedOnly = true;
    this.refreshAll();
  }

  /**
   * The tip that routing measures against: the tracker's verified tip once there is
   * one, so a tip claimed and not (yet) proven steers nothing; the best claimed tip
   * only for a pool without a tracker.
   */
  referenceTipHeight(): number | null {
    return this.verifiedHeight ?? (this.lagFromVerifiedOnly ? null : this.bestTipHeight());
  }

  /**
   * Takes an upstream out of rotation for `ms`: it sent something provably
   * wrong (a header without proof of work, a proof that does not verify) or it
   * follows a lighter fork. Its connections stay open so it can be watched.
   */
  quarantine(name: string, reason: string, ms: number): void {
    const u = this.upstreams.find((x) => x.name === name);
    if (!u) return;
    const fresh = u.quarantinedUntil <= Date.now();
    u.quarantinedUntil = Date.now() + ms;
    u.quarantineReason = reason;
    if (fresh) u.log.warn({ reason, forMs: ms }, 'upstream quarantined');
    this.refreshState(u);
    setTimeout(() => this.refreshState(u), ms + 5).unref();
  }

  /** Ends a quarantine early (a fork it followed turned out to be ours after all). */
  release(name: string): void {
    const u = this.upstreams.find((x) => x.name === name);
    if (!u || u.quarantinedUntil <= Date.now()) return;
    u.quarantinedUntil = 0;
    u.quarantineReason = null;
    u.log.info('upstream released from quarantine');
    this.refreshState(u);
  }

  /** The least busy open connection to a named upstream, quarantined or not (the chain tracker asks it for headers). */
  connectionFor(name: string): UpstreamConnection | undefined {
    const conns = this.upstreams.find((x) => x.name === name)?.openConns() ?? [];
    return conns.reduce<UpstreamConnection | undefined>((a, b) => (a === undefined || b.inFlight < a.inFlight ? b : a), undefined);
  }

  /** Open connections of the upstream that owns `conn` (for spreading subscriptions). */
  siblings(conn: UpstreamConnection): UpstreamConnection[] {
    return this.owner(conn)?.openConns() ?? [];
  }

  /** Whether the upstream owning `conn` may serve tip-sensitive work now. */
  serves(conn: UpstreamConnection): boolean {
    const u = this.owner(conn);
    return u !== undefined && !u.cordoned && conn.isOpen && SERVING.has(this.computeState(u, Date.now()));
  }

  /** Open connections that may get requests (not cordoned), in configured order. */
  ready(): UpstreamConnection[] {
    return this.upstreams.flatMap((u) => (u.wrongNetwork || u.cordoned ? [] : u.openConns()));
  }

  state(name: string): UpstreamState | undefined {
    const u = this.upstreams.find((x) => x.name === name);
    return u ? this.computeState(u, Date.now()) : undefined;
  }

  status(): UpstreamStatus[] {
    const now = Date.now();
    const best = this.referenceTipHeight();
    return this.upstreams.map((u) => {
      const first = u.openConns()[0];
      const endpoint = u.def.endpoints[u.endpointIndex]!;
      return {
        name: u.name,
        state: this.computeState(u, now),
        endpoint: `${endpoint.scheme}://${endpoint.host}:${endpoint.port}`,
        version: first?.version ?? null,
        software: first?.serverSoftware ?? null,
        tipHeight: u.tip?.height ?? null,
        lag: u.tip && best !== null ? best - u.tip.height : null,
        connections: u.openConns().length,
        inFlight: u.inFlight(),
        latencyMs: u.latency.get(-1) < 0 ? null : Math.round(u.latency.get(0) * 100) / 100,
        errorRate: Math.round(u.errors.get(0) * 1000) / 1000,
        breaker: u.breaker.state(now),
        weight: u.def.weight,
        labels: u.def.labels,
        quarantine: u.quarantinedUntil > now ? u.quarantineReason : null,
        cordoned: u.cordoned,
      };
    });
  }

  /**
   * An open connection fit for the request. When none fits now it waits, until
   * `deadline` (epoch ms) at most and no longer than the no-upstream wait when
   * nothing is on its way; throws UpstreamError('connect', notSent) when none comes.
   */
  acquire(deadline: number, options: AcquireOptions = {}): Promise<UpstreamConnection> {
    // Nearly always one fits now: found without the waiting loop's async frame.
    const now = this.closed ? null : this.pick(options, Date.now());
    return now !== null ? Promise.resolve(now) : this.acquireWaiting(deadline, options);
  }

  private async acquireWaiting(deadline: number, options: AcquireOptions): Promise<UpstreamConnection> {
    const conn = await this.waitFor(deadline, options, (now) => this.pick(options, now));
    if (conn === null) throw new UpstreamError('connect', 'no upstream server is available', true);
    return conn;
  }

  /**
   * Resolves true once some upstream connection is open (its tip can then be verified),
   * false when none is and none can be within the no-upstream wait.
   */
  async whenAnyOpen(deadline: number): Promise<boolean> {
    const open = await this.waitFor(deadline, {}, () => (this.ready().length > 0 ? true : null));
    return open === true;
  }

  private async waitFor<T>(deadline: number, options: AcquireOptions, find: (now: number) => T | null): Promise<T | null> {
    const horizon = Date.now() + this.opts.noUpstreamWaitMs;
    for (;;) {
      const now = Date.now();
      const found = find(now);
      if (found !== null) return found;
      if (this.closed || options.noWait === true || now >= deadline || !this.mayComeUp(options, horizon, now)) return null;
      // Woken by any change, and at the horizon (a retry due later no longer counts).
      const wakeAt = now < horizon ? Math.min(deadline, horizon) : deadline;
      await new Promise<void>((resolve) => {
        const onChange = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.off('change', onChange);
          resolve();
        }, Math.max(1, wakeAt - now));
        this.once('change', onChange);
      });
    }
  }

  /**
   * Whether some upstream the request may use could fit it by `horizon`: one with an open
   * connection (its breaker, lag or tip may change), one connecting since before the
   * horizon, or one whose reconnect is due by then.
   */
  private mayComeUp(options: AcquireOptions, horizon: number, now: number): boolean {
    for (const u of this.upstreams) {
      if (u.wrongNetwork || u.cordoned || options.excludeUpstreams?.has(u.name)) continue;
      if (options.broadcast && u.def.lastResort) continue;
      if (u.quarantinedUntil > Math.max(now, horizon)) continue;
      if (now < horizon && u.openConns().some((c) => !options.excludeConnections?.has(c))) return true;
      if (u.attemptStartedAt.some((t) => t !== null && t <= horizon)) return true;
      if (u.retryAt.some((t) => t !== null && t <= horizon)) return true;
    }
    return false;
  }

  /** The router reports how a request went, so the breaker and error rate follow real traffic. */
  recordSuccess(conn: UpstreamConnection): void {
    const u = this.owner(conn);
    if (!u) return;
    u.errors.add(0);
    const wasOpen = u.breaker.state(Date.now()) !== 'closed';
    u.breaker.onSuccess();
    if (wasOpen) {
      u.log.info('circuit closed; upstream answers again');
      this.refreshState(u);
    }
  }

  recordFailure(conn: UpstreamConnection, reason: string): void {
    const u = this.owner(conn);
    if (!u) return;
    u.errors.add(1);
    const now = Date.now();
    if (u.breaker.onFailure(now)) {
      u.log.warn({ reason, consecutiveFailures: u.breaker.consecutiveFailures }, 'circuit opened; upstream gets no traffic for a while');
      this.refreshState(u);
      // Re-evaluate when the cooldown ends so waiting requests can probe it.
      setTimeout(() => this.refreshState(u), this.opts.breaker.cooldownMs + 5).unref();
    }
  }

  private pick(options: AcquireOptions, now: number): UpstreamConnection | null {
    const best = this.referenceTipHeight();
    let candidates: (Candidate & { u: Upstream; conn: UpstreamConnection })[] = [];
    for (const u of this.upstreams) {
      if (u.wrongNetwork || u.cordoned || u.quarantinedUntil > now || options.excludeUpstreams?.has(u.name)) continue;
      if (options.broadcast && u.def.lastResort) continue;
      if (!u.breaker.allows(now)) continue;
      if (options.tipSensitive && this.isLagging(u, best)) continue;
      if (options.minTipHeight !== undefined && (u.tip?.height ?? -1) < options.minTipHeight) continue;
      const conns = u.openConns().filter((c) => !options.excludeConnections?.has(c));
      if (conns.length === 0) continue;
      const conn = conns.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      candidates.push({ id: u.name, weight: u.def.weight, inFlight: u.inFlight(), latencyMs: u.latency.get(50), u, conn });
    }
    // Last-resort upstreams only while none of the others fits.
    if (candidates.some((c) => !c.u.def.lastResort)) candidates = candidates.filter((c) => !c.u.def.lastResort);
    const preferred = options.prefer !== undefined ? candidates.find((c) => c.id === options.prefer) : undefined;
    const chosen = preferred ?? (options.key !== undefined ? rendezvous(options.key, candidates) : leastLoaded(candidates));
    if (!chosen) return null;
    chosen.u.breaker.beginProbe(now);
    return chosen.conn;
  }

  private isLagging(u: Upstream, best: number | null): boolean {
    if (best === null) return false;
    if (!u.tip) return true;
    return best - u.tip.height > this.opts.maxLagBlocks;
  }

  private computeState(u: Upstream, now: number): UpstreamState {
    if (u.wrongNetwork) return 'wrong-network';
    if (u.openConns().length === 0) return u.everConnected || u.failures > 0 ? 'down' : 'connecting';
    if (u.quarantinedUntil > now) return 'quarantined';
    if (u.breaker.state(now) !== 'closed') return 'open-circuit';
    if (this.isLagging(u, this.referenceTipHeight())) return 'lagging';
    return 'healthy';
  }

  private refreshState(u: Upstream): void {
    // The breaker's state is reported here, so half-open (reached by time alone) shows too.
    const breaker = u.breaker.state(Date.now());
    if (breaker !== u.lastBreaker) {
      u.lastBreaker = breaker;
      this.observer?.upstreamBreaker(u.name, breaker);
    }
    const state = this.computeState(u, Date.now());
    if (state !== u.lastState) {
      const previous = u.lastState;
      if (previous !== null) u.log.info({ from: previous, to: state }, 'upstream state changed');
      u.lastState = state;
      this.observer?.upstreamState(u.name, state);
      if (previous !== null && SERVING.has(previous) && !SERVING.has(state)) this.emit('unserving', u.name, state);
    }
    this.emit('change');
  }

  private refreshAll(): void {
    for (const u of this.upstreams) this.refreshState(u);
  }

  private owner(conn: UpstreamConnection): Upstream | undefined {
    return this.upstreams.find((u) => u.conns.includes(conn));
  }

  private async connect(u: Upstream, slot: number): Promise<void> {
    if (this.closed || u.removed) return;
    const endpoint = u.def.endpoints[u.endpointIndex]!;
    const conn = new UpstreamConnection(endpoint, { ...this.opts, ...(u.def.maxInFlight !== undefined ? { maxInFlight: u.def.maxInFlight } : {}), logger: u.log });
    u.conns[slot] = conn;
    u.attemptStartedAt[slot] = Date.now();
    try {
      await conn.open();
      await this.followHeaders(u, conn);
    } catch (err) {
      u.attemptStartedAt[slot] = null;
      conn.close();
      if (u.conns[slot] === conn) u.conns[slot] = null;
      this.onConnectFailure(u, slot, err as Error, endpoint);
      return;
    }
    u.attemptStartedAt[slot] = null;
    if (this.closed || u.removed) {
      conn.close();
      return;
    }
    // Counted from the connections that became ready, not the open ones: two connecting together
    // are both open by the time either gets here, and the upstream's comeback would go unnoticed.
    u.readyConns.add(conn);
    const firstConn = u.readyConns.size === 1;
    u.failures = 0;
    u.wrongNetwork = false;
    if (u.everConnected && firstConn) this.observer?.upstreamReconnect(u.name);
    u.everConnected = true;
    if (firstConn) u.log.info({ version: conn.version, software: conn.serverSoftware, endpoint: `${endpoint.host}:${endpoint.port}`, via: endpoint.socks ? `socks${endpoint.socks.version}` : undefined }, 'upstream ready');
    conn.on('notification', (method, params) => this.onNotification(u, conn, method, params));
    conn.on('outcome', (outcome) => {
      if (outcome.result === 'ok' || outcome.result === 'error') u.latency.add(outcome.ms);
      this.observer?.upstreamRequest(u.name, outcome);
    });
    conn.once('close', (reason) => {
      if (u.conns[slot] === conn) u.conns[slot] = null;
      u.readyConns.delete(conn);
      if (this.closed) return;
      if (u.removed) {
        this.emit('lost', conn);
        return;
      }
      if (u.readyConns.size === 0) u.log.warn({ err: reason?.message ?? 'closed' }, 'upstream connection lost');
      this.emit('lost', conn);
      this.refreshState(u);
      this.schedule(u, slot, this.backoff(1));
    });
    this.emit('ready', conn);
    this.refreshAll();
  }

  private onConnectFailure(u: Upstream, slot: number, err: Error, endpoint: UpstreamEndpoint): void {
    const wrongNetwork = err instanceof UpstreamError && err.kind === 'wrong-network';
    u.wrongNetwork = wrongNetwork;
    u.failures++;
    u.lastError = err.message;
    // Try the other port (or address) of the same server next time; only once per failed endpoint,
    // or two connections failing on the same port at once would switch to the other and straight back.
    if (!wrongNetwork && u.def.endpoints.length > 1 && u.def.endpoints[u.endpointIndex] === endpoint) {
      u.endpointIndex = (u.endpointIndex + 1) % u.def.endpoints.length;
    }
    const delay = wrongNetwork ? this.opts.backoffMaxMs : this.backoff(u.failures);
    // The first failure is a warning whichever connection meets it (slots race); repeats come from slot 0 only.
    const first = u.failures === 1 || (wrongNetwork && slot === 0);
    if (first || slot === 0) {
      u.log[first ? 'warn' : 'debug'](
        { err: err.message, retryInMs: delay, failures: u.failures },
        wrongNetwork ? 'upstream is on the wrong network; not routing to it' : 'upstream unavailable',
      );
    }
    this.refreshState(u);
    this.schedule(u, slot, delay);
  }

  private async followHeaders(u: Upstream, conn: UpstreamConnection): Promise<void> {
    const tip = await conn.request('blockchain.headers.subscribe', [], this.opts.connectTimeoutMs);
    this.offerTip(u, tip);
  }

  private onNotification(u: Upstream, conn: UpstreamConnection, method: string, params: unknown[]): void {
    if (method === 'blockchain.headers.subscribe') this.offerTip(u, params[0]);
    this.emit('notification', conn, method, params);
  }

  private offerTip(u: Upstream, value: unknown): void {
    if (value === null || typeof value !== 'object') return;
    const { height, hex } = value as { height?: unknown; hex?: unknown };
    if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0 || !isHexOfLength(hex, 80)) return;
    if (u.tip && u.tip.height === height && u.tip.hex === hex) return;
    u.tip = { height, hex: hex.toLowerCase() };
    // Lag against the verified tip (or, without a tracker, the best claimed one). A new best tip
    // changes every other upstream's lag too, including one whose own tip is stuck.
    this.reportLags();
    this.emit('tip', u.name, u.tip);
    this.refreshAll();
  }

  /**
   * Liveness of every open connection, once per ping interval. One that
   * answered anything since the last round is alive and is not asked: under
   * load a ping only adds to what the server charges this connection. A ping
   * that times out closes its connection only if nothing at all came back
   * while it waited: a server delaying a busy session's replies (ElectrumX's
   * cost model) or a ping queued behind a full request window is slow, not
   * dead, and closing it would move every subscription it holds onto the
   * others, the herd that issue 11 pt 5 is about.
   */
  private pingAll(): void {
    const lastRound = performance.now() - this.opts.pingIntervalMs;
    for (const u of this.upstreams) {
      for (const conn of u.openConns()) {
        if (conn.repliedSince(lastRound)) {
          this.observer?.upstreamPing(u.name, 'skipped');
          continue;
        }
        // One ping at a time per connection: a ping timeout longer than the interval would stack them.
        if (this.pinging.has(conn)) continue;
        this.pinging.add(conn);
        const sent = performance.now();
        conn.request('server.ping', [], this.opts.connectTimeoutMs).finally(() => this.pinging.delete(conn)).then(
          () => {
            this.observer?.upstreamPing(u.name, 'answered');
            this.recordSuccess(conn);
          },
          (err: Error) => {
            const timedOut = err instanceof UpstreamError && err.kind === 'timeout';
            if (timedOut && conn.repliedSince(sent)) {
              this.observer?.upstreamPing(u.name, 'late');
              u.log.info({ timeoutMs: this.opts.connectTimeoutMs }, 'ping answered late while other replies came; the connection is slow, not dead: kept');
              return;
            }
            this.observer?.upstreamPing(u.name, 'failed');
            this.recordFailure(conn, `ping failed: ${err.message}`);
            // A connection that cannot answer a ping is dead even if TCP has not noticed.
            if (timedOut) conn.close();
          },
        );
      }
    }
  }

  private schedule(u: Upstream, slot: number, delay: number): void {
    if (this.closed || u.removed) return;
    const old = u.timers[slot];
    if (old) clearTimeout(old);
    u.retryAt[slot] = Date.now() + delay;
    u.timers[slot] = setTimeout(() => {
      u.timers[slot] = null;
      u.retryAt[slot] = null;
      void this.connect(u, slot);
    }, delay);
  }

  /** Exponential backoff with jitter, so a restarted server is not hit by every gateway at once. */
  private backoff(failures: number): number {
    const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** Math.min(failures - 1, 16));
    return Math.round(cap / 2 + (Math.random() * cap) / 2);
  }

  close(): void {
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    for (const u of this.upstreams) {
      for (const t of u.timers) if (t) clearTimeout(t);
      for (const c of u.conns) c?.close();
    }
    this.emit('change');
  }
}
