// SPDX-License-Identifier: MIT
/**
 * Prometheus metrics, one registry per gateway instance (tests run several in
 * one process). Names follow Prometheus conventions: the electrum_gateway_
 * prefix, base units in the name (_seconds, _bytes, _blocks), _total on
 * counters, snake_case labels with bounded values only: upstream and listener
 * names from the config, known method names, outcomes and reasons. Never a
 * scripthash, an address or a subnet group: those are unbounded.
 *
 * With --workers N each worker keeps its own registry and the primary sums
 * them (cli/serve.ts, cluster-metrics.ts); `aggregator` says how a gauge
 * combines across workers where a sum would mislead.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BatchedCounter, BatchedHistogram, type CounterCell, type HistogramCell } from './batched-metrics.js';
import type { FailoverReason } from '../routing/router.js';
import type { RequestOutcome } from '../upstream/connection.js';
import type { BreakerState } from '../upstream/health.js';
import { PING_RESULTS, UPSTREAM_STATES, type PingResult, type PoolObserver, type UpstreamState } from '../upstream/pool.js';
import { MOVE_FAILURES, type HubObserver, type MoveFailure, type OrphanCounts } from '../subscriptions/hub.js';
import { CACHED_KINDS, type CacheObserver, type CachedKind } from '../cache/answer-cache.js';
import type { L2Observer, Tier } from '../cache/tiers.js';

const PREFIX = 'electrum_gateway_';
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
/** Every reason a session is closed or refused, exported at 0 from the start so dashboards and alerts see the series before the first one. */
export const DISCONNECT_REASONS = ['hard_limit', 'oversize', 'idle', 'slow_reader', 'max_sessions', 'max_sessions_per_group', 'proxy_refused', 'version', 'admin', 'handshake_timeout', 'handshakes', 'unsent_total'] as const;
const FAILOVER_REASONS: readonly FailoverReason[] = ['connection', 'server', 'verification'];
/** client_frames_total's outcomes. */
export const FRAME_OUTCOMES = ['ok', 'invalid_json', 'invalid_request', 'empty_batch', 'batch_too_large', 'oversize'] as const;
export type FrameOutcome = (typeof FRAME_OUTCOMES)[number];

/** One method's request series, bound once (methods are a bounded list) and then only added to. */
export interface RequestCells {
  readonly ok: CounterCell;
  readonly duration: HistogramCell;
  /** The series of an error answer, by JSON-RPC code. */
  result(code: number): CounterCell;
}

/** One upstream and method: its outcome counters and its latency. */
interface UpstreamCells {
  readonly results: Map<string, CounterCell>;
  readonly duration: HistogramCell;
}

export class GatewayMetrics implements PoolObserver, HubObserver, CacheObserver, L2Observer {
  readonly registry = new Registry();
  private readonly upstreamStateGauge = new Gauge({
    name: `${PREFIX}upstream_state`,
    help: 'Current state of each upstream: 1 for the state it is in, 0 for the others (with workers: the share of workers that see it so)',
    labelNames: ['upstream', 'state'],
    aggregator: 'average',
    registers: [this.registry],
  });
  private readonly upstreamTipGauge = new Gauge({
    name: `${PREFIX}upstream_tip_height`,
    help: 'Latest block height each upstream reported',
    labelNames: ['upstream'],
    aggregator: 'max',
    registers: [this.registry],
  });
  private readonly upstreamLagGauge = new Gauge({
    name: `${PREFIX}upstream_lag_blocks`,
    help: 'Blocks each upstream is behind the best tip in the pool',
    labelNames: ['upstream'],
    aggregator: 'max',
    registers: [this.registry],
  });
  private readonly upstreamDuration = new BatchedHistogram({
    name: `${PREFIX}upstream_request_duration_seconds`,
    help: 'Time from sending a request to an upstream to its answer',
    labelNames: ['upstream', 'method'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamRequests = new BatchedCounter({
    name: `${PREFIX}upstream_requests_total`,
    help: 'Requests sent to upstreams by outcome: ok, error (the server answered with an error), timeout, closed',
    labelNames: ['upstream', 'method', 'result'],
    registers: [this.registry],
  });
  private readonly upstreamFailovers = new Counter({
    name: `${PREFIX}upstream_failovers_total`,
    help: 'Requests moved to another upstream after this one failed them, by reason: connection (lost), server (timeout or server error), verification (a wrong answer)',
    labelNames: ['upstream', 'reason'],
    registers: [this.registry],
  });
  private readonly upstreamReconnects = new Counter({
    name: `${PREFIX}upstream_reconnects_total`,
    help: 'Times an upstream came back after losing every connection',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly upstreamPings = new Counter({
    name: `${PREFIX}upstream_pings_total`,
    help: 'Liveness checks per upstream connection, by result: answered, skipped (it answered other requests since the last round), late (timed out while other replies came: slow, kept open), failed (closed when it timed out)',
    labelNames: ['upstream', 'result'],
    registers: [this.registry],
  });
  private readonly upstreamBreakerGauge = new Gauge({
    name: `${PREFIX}upstream_circuit_state`,
    help: 'Circuit breaker per upstream: 0 closed, 1 half-open, 2 open (with workers: the most open any worker has)',
    labelNames: ['upstream'],
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: `${PREFIX}sessions`,
    help: 'Open client sessions by listener and transport (tcp, tls, ws, wss)',
    labelNames: ['listener', 'transport'],
    registers: [this.registry],
  });
  /** The configured session cap (limits.max_sessions), so an alert can compare sessions with it; summed over workers, each enforces its own. */
  readonly sessionsMax = new Gauge({
    name: `${PREFIX}sessions_max`,
    help: 'The most sessions this instance accepts (limits.max_sessions; with workers, the sum of theirs)',
    registers: [this.registry],
  });
  readonly bytesReceived = new BatchedCounter({
    name: `${PREFIX}client_received_bytes_total`,
    help: 'Bytes received from wallets, by listener',
    labelNames: ['listener'],
    registers: [this.registry],
  });
  readonly bytesSent = new BatchedCounter({
    name: `${PREFIX}client_sent_bytes_total`,
    help: 'Bytes sent to wallets (JSON-RPC messages), by listener',
    labelNames: ['listener'],
    registers: [this.registry],
  });
  readonly clientFrames = new BatchedCounter({
    name: `${PREFIX}client_frames_total`,
    help: 'Lines (WebSocket messages) read from wallets, by outcome: ok (one request or a batch), invalid_json, invalid_request (not a request object, bad id, method or params), empty_batch, batch_too_large, oversize',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly disconnects = new Counter({
    name: `${PREFIX}client_disconnects_total`,
    help: 'Sessions the gateway closed or refused, by reason: hard_limit, oversize, idle, slow_reader, unsent_total, max_sessions, max_sessions_per_group, proxy_refused, version, admin, handshake_timeout, handshakes',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: `${PREFIX}client_throttled_requests_total`,
    help: 'Requests delayed because their group was above the soft cost limit',
    registers: [this.registry],
  });
  readonly groupCost = new BatchedHistogram({
    name: `${PREFIX}client_group_cost`,
    help: 'Cost of the requesting subnet group, observed at each request (soft limit 1000, hard 10000 by default)',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 7500, 10000],
    registers: [this.registry],
  });
  private readonly ledgerStateGauge = new Gauge({
    name: `${PREFIX}cost_ledger_state`,
    help: 'Where group costs are kept: 1 for the current state (local, shared in Redis, or fallback to local while Redis is unreachable)',
    labelNames: ['state'],
    aggregator: 'average',
    registers: [this.registry],
  });
  private readonly ledgerErrors = new Counter({
    name: `${PREFIX}cost_ledger_errors_total`,
    help: 'Failed attempts to reach Redis for shared cost accounting',
    registers: [this.registry],
  });

  private readonly notifications = new Counter({
    name: `${PREFIX}notifications_sent_total`,
    help: 'Notifications delivered to sessions, by kind (headers, scripthash)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly resubscriptions = new Counter({
    name: `${PREFIX}resubscriptions_total`,
    help: 'Scripthash subscriptions moved to another upstream because theirs died, lagged or was quarantined',
    registers: [this.registry],
  });
  private readonly resubscriptionRetries = new Counter({
    name: `${PREFIX}resubscription_retries_total`,
    help: 'Subscription moves that failed and were scheduled again after a backoff, by reason (timeout, busy, excessive, connection, full, other)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  private readonly cacheLookups = new BatchedCounter({
    name: `${PREFIX}cache_lookups_total`,
    help: 'Cacheable requests by method and where the answer came from: l1 (memory), l2 (Redis) or miss (an upstream)',
    labelNames: ['method', 'result'],
    registers: [this.registry],
  });
  private readonly cacheBytes = new BatchedCounter({
    name: `${PREFIX}cache_served_bytes_total`,
    help: 'Bytes of answers served from the cache (binary size of headers and transactions, JSON size of proofs)',
    registers: [this.registry],
  });
  private readonly coalescedRequests = new BatchedCounter({
    name: `${PREFIX}coalesced_requests_total`,
    help: 'Requests that shared an identical request already in flight instead of making their own upstream call',
    labelNames: ['method'],
    registers: [this.registry],
  });
  private readonly verificationFailures = new Counter({
    name: `${PREFIX}verification_failures_total`,
    help: 'Upstream answers that failed verification (header, merkle proof, transaction bytes) and were discarded',
    labelNames: ['upstream', 'method'],
    registers: [this.registry],
  });
  private readonly cacheRejections = new Counter({
    name: `${PREFIX}cache_rejected_total`,
    help: 'Entries read back from a cache tier (Redis) that failed re-verification and were dropped, by tier and kind (header, transaction, merkle, id_from_pos, checkpoint)',
    labelNames: ['tier', 'kind'],
    registers: [this.registry],
  });
  private readonly redisUpGauge = new Gauge({
    name: `${PREFIX}cache_redis_up`,
    help: '1 when the Redis cache tier is connected, 0 when it is down or not configured (with workers: 0 if any worker has lost it)',
    aggregator: 'min',
    registers: [this.registry],
  });
  private readonly redisLatencyHistogram = new Histogram({
    name: `${PREFIX}cache_redis_duration_seconds`,
    help: 'Latency of Redis cache reads',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers: [this.registry],
  });

  /** Method -> its cache_lookups_total cells by result, bound on the method's first lookup. */
  private readonly lookupCells = new Map<string, Map<Tier | 'miss', CounterCell>>();
  private readonly servedBytesCell = this.cacheBytes.cell({});

  cacheLookup(method: string, result: Tier | 'miss'): void {
    let cells = this.lookupCells.get(method);
    if (!cells) {
      cells = new Map();
      this.lookupCells.set(method, cells);
    }
    let cell = cells.get(result);
    if (!cell) {
      cell = this.cacheLookups.cell({ method, result });
      cells.set(result, cell);
    }
    cell.inc();
  }

  cacheServedBytes(bytes: number): void {
    this.servedBytesCell.inc(bytes);
  }

  coalesced(method: string): void {
    this.coalescedRequests.inc({ method });
  }

  cacheRejected(tier: Tier, kind: CachedKind): void {
    this.cacheRejections.inc({ tier, kind });
  }

  verificationFailure(upstream: string, method: string): void {
    this.verificationFailures.inc({ upstream, method });
  }

  redisUp(up: boolean): void {
    this.redisUpGauge.set(up ? 1 : 0);
  }

  redisLatency(seconds: number): void {
    this.redisLatencyHistogram.observe(seconds);
  }

  notificationSent(kind: 'headers' | 'scripthash', sessions: number): void {
    if (sessions > 0) this.notifications.inc({ kind }, sessions);
  }

  resubscribed(count: number): void {
    this.resubscriptions.inc(count);
  }

  moveRetried(reason: MoveFailure): void {
    this.resubscriptionRetries.inc({ reason });
  }

  /** The hub's orphans and its move window, read at scrape time. */
  watchMoves(read: () => { orphans: OrphanCounts; window: number }): void {
    new Gauge({
      name: `${PREFIX}orphaned_subscriptions`,
      help: 'Scripthashes with sessions but no upstream subscription, by what they wait for: queued (their turn to move), moving, retrying (backoff after a failed move), parked (no upstream ready)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const o = read().orphans;
        for (const state of ['queued', 'moving', 'retrying', 'parked'] as const) this.set({ state }, o[state]);
      },
    });
    new Gauge({
      name: `${PREFIX}resubscribe_window`,
      help: 'Subscription moves allowed in flight now: pool.resubscribe_concurrency, less while the upstream taking them answers slowly or fails them',
      registers: [this.registry],
      collect() {
        this.set(read().window);
      },
    });
  }

  /** The unsent output of every session together (limits.max_unsent_bytes_total), read at scrape time. */
  watchUnsent(read: () => number): void {
    new Gauge({
      name: `${PREFIX}client_unsent_bytes`,
      help: 'Bytes written to wallets and not yet taken by them, all sessions together (limits.max_unsent_bytes_total)',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Subscription gauges read from the hub at scrape time. */
  watchSubscriptions(read: () => { sessions: number; upstream: number }): void {
    new Gauge({
      name: `${PREFIX}session_subscriptions`,
      help: 'Scripthash subscriptions held by sessions (one scripthash watched by 3 sessions counts 3)',
      registers: [this.registry],
      collect() {
        this.set(read().sessions);
      },
    });
    new Gauge({
      name: `${PREFIX}upstream_subscriptions`,
      help: 'Unique scripthash subscriptions the gateway holds on upstreams',
      registers: [this.registry],
      collect() {
        this.set(read().upstream);
      },
    });
  }

  private readonly peersGauge = new Gauge({
    name: `${PREFIX}peers`,
    help: 'Peer servers known to discovery by state (new, good, stale, failing); good ones are reported to wallets',
    labelNames: ['state'],
    aggregator: 'max',
    registers: [this.registry],
  });

  /** The peer table's counts per state (src/peers/); the four states are the only label values. */
  peerCounts(counts: Readonly<Record<string, number>>): void {
    for (const [state, n] of Object.entries(counts)) this.peersGauge.set({ state }, n);
  }

  ledgerState(state: 'local' | 'shared' | 'fallback'): void {
    for (const s of ['local', 'shared', 'fallback']) this.ledgerStateGauge.set({ state: s }, s === state ? 1 : 0);
  }

  ledgerError(): void {
    this.ledgerErrors.inc();
  }
  readonly clientRequests = new BatchedCounter({
    name: `${PREFIX}client_requests_total`,
    help: 'Requests from wallets by method and outcome (ok or the JSON-RPC error code)',
    labelNames: ['method', 'result'],
    registers: [this.registry],
  });
  readonly clientRequestDuration = new BatchedHistogram({
    name: `${PREFIX}client_request_duration_seconds`,
    help: 'Time from a wallet request being read to its answer being ready (cost delays included), by method',
    labelNames: ['method'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Method label -> its request cells (see requestCells). */
  private readonly requestCellsByMethod = new Map<string, RequestCells>();
  /** client_frames_total by outcome, bound up front: the outcomes are a fixed list. */
  readonly frames: Readonly<Record<FrameOutcome, CounterCell>> = Object.fromEntries(
    FRAME_OUTCOMES.map((outcome) => [outcome, this.clientFrames.cell({ outcome })]),
  ) as Record<FrameOutcome, CounterCell>;
  /** The one group-cost series (no labels). */
  readonly groupCostCell = this.groupCost.cell();
  /** Upstream name -> method -> its cells. */
  private readonly upstreamCells = new Map<string, Map<string, UpstreamCells>>();

  /**
   * The client_requests_total and duration series of one method label (a
   * known method name, "other" or "(invalid)": a bounded set), bound on its
   * first request; a request only adds to them.
   */
  requestCells(method: string): RequestCells {
    let cells = this.requestCellsByMethod.get(method);
    if (!cells) {
      const byCode = new Map<number, CounterCell>();
      cells = {
        ok: this.clientRequests.cell({ method, result: 'ok' }),
        duration: this.clientRequestDuration.cell({ method }),
        result: (code) => {
          let c = byCode.get(code);
          if (!c) {
            c = this.clientRequests.cell({ method, result: String(code) });
            byCode.set(code, c);
          }
          return c;
        },
      };
      this.requestCellsByMethod.set(method, cells);
    }
    return cells;
  }

  /** Where /metrics gets its text: this registry, or (in a cluster worker) the primary's sum over all workers. */
  private readonly knownUpstreams = new Set<string>();
  private exposition: () => Promise<string> = () => this.registry.metrics();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    for (const reason of DISCONNECT_REASONS) this.disconnects.inc({ reason }, 0);
    for (const kind of ['headers', 'scripthash']) this.notifications.inc({ kind }, 0);
    for (const reason of MOVE_FAILURES) this.resubscriptionRetries.inc({ reason }, 0);
    for (const kind of CACHED_KINDS) this.cacheRejections.inc({ tier: 'l2', kind }, 0);
  }

  /** The /metrics body. */
  text(): Promise<string> {
    return this.exposition();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Serve /metrics from elsewhere (the cluster primary's aggregate) instead of this registry. */
  exposeVia(source: () => Promise<string>): void {
    this.exposition = source;
  }

  failover(upstream: string, reason: FailoverReason): void {
    this.upstreamFailovers.inc({ upstream, reason });
  }

  upstreamState(name: string, state: UpstreamState): void {
    // First sight of an upstream: its failover series exist (at 0) before its first failover.
    if (!this.knownUpstreams.has(name)) {
      this.knownUpstreams.add(name);
      for (const reason of FAILOVER_REASONS) this.upstreamFailovers.inc({ upstream: name, reason }, 0);
      this.upstreamReconnects.inc({ upstream: name }, 0);
      for (const result of PING_RESULTS) this.upstreamPings.inc({ upstream: name, result }, 0);
    }
    for (const s of UPSTREAM_STATES) this.upstreamStateGauge.set({ upstream: name, state: s }, s === state ? 1 : 0);
  }

  upstreamTip(name: string, height: number, lag: number): void {
    this.upstreamTipGauge.set({ upstream: name }, height);
    this.upstreamLagGauge.set({ upstream: name }, Math.max(0, lag));
  }

  upstreamRequest(name: string, outcome: RequestOutcome): void {
    let byMethod = this.upstreamCells.get(name);
    if (!byMethod) {
      byMethod = new Map();
      this.upstreamCells.set(name, byMethod);
    }
    const { method, result } = outcome;
    let cells = byMethod.get(method);
    if (!cells) {
      cells = { results: new Map(), duration: this.upstreamDuration.cell({ upstream: name, method }) };
      byMethod.set(method, cells);
    }
    let counter = cells.results.get(result);
    if (!counter) {
      counter = this.upstreamRequests.cell({ upstream: name, method, result });
      cells.results.set(result, counter);
    }
    counter.inc();
    if (result === 'ok' || result === 'error') cells.duration.observe(outcome.ms / 1000);
  }

  upstreamPing(name: string, result: PingResult): void {
    this.upstreamPings.inc({ upstream: name, result });
  }

  upstreamReconnect(name: string): void {
    this.upstreamReconnects.inc({ upstream: name });
  }

  upstreamBreaker(name: string, state: BreakerState): void {
    this.upstreamBreakerGauge.set({ upstream: name }, BREAKER_VALUE[state]);
  }
}
