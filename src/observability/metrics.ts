// SPDX-License-Identifier: MIT
/**
 * Prometheus metrics, one registry per gateway instance (tests run several in
 * one process). Names follow Prometheus conventions: a unit suffix, _total on
 * counters, snake_case labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestOutcome } from '../upstream/connection.js';
import type { BreakerState } from '../upstream/health.js';
import { UPSTREAM_STATES, type PoolObserver, type UpstreamState } from '../upstream/pool.js';

const PREFIX = 'electrum_gateway_';
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class GatewayMetrics implements PoolObserver {
  readonly registry = new Registry();
  private readonly upstreamStateGauge = new Gauge({
    name: `${PREFIX}upstream_state`,
    help: 'Current state of each upstream: 1 for the state it is in, 0 for the others',
    labelNames: ['upstream', 'state'],
    registers: [this.registry],
  });
  private readonly upstreamTipGauge = new Gauge({
    name: `${PREFIX}upstream_tip_height`,
    help: 'Latest block height each upstream reported',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly upstreamLagGauge = new Gauge({
    name: `${PREFIX}upstream_lag_blocks`,
    help: 'Blocks each upstream is behind the best tip in the pool',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly upstreamDuration = new Histogram({
    name: `${PREFIX}upstream_request_duration_seconds`,
    help: 'Time from sending a request to an upstream to its answer',
    labelNames: ['upstream', 'method'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamRequests = new Counter({
    name: `${PREFIX}upstream_requests_total`,
    help: 'Requests sent to upstreams by outcome: ok, error (the server answered with an error), timeout, closed',
    labelNames: ['upstream', 'method', 'result'],
    registers: [this.registry],
  });
  private readonly upstreamReconnects = new Counter({
    name: `${PREFIX}upstream_reconnects_total`,
    help: 'Times an upstream came back after losing every connection',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  private readonly upstreamBreakerGauge = new Gauge({
    name: `${PREFIX}upstream_circuit_state`,
    help: 'Circuit breaker per upstream: 0 closed, 1 half-open, 2 open',
    labelNames: ['upstream'],
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: `${PREFIX}sessions`,
    help: 'Open client sessions by listener',
    labelNames: ['listener'],
    registers: [this.registry],
  });
  readonly clientRequests = new Counter({
    name: `${PREFIX}client_requests_total`,
    help: 'Requests from wallets by method and outcome (ok or the JSON-RPC error code)',
    labelNames: ['method', 'result'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  upstreamState(name: string, state: UpstreamState): void {
    for (const s of UPSTREAM_STATES) this.upstreamStateGauge.set({ upstream: name, state: s }, s === state ? 1 : 0);
  }

  upstreamTip(name: string, height: number, lag: number): void {
    this.upstreamTipGauge.set({ upstream: name }, height);
    this.upstreamLagGauge.set({ upstream: name }, Math.max(0, lag));
  }

  upstreamRequest(name: string, outcome: RequestOutcome): void {
    this.upstreamRequests.inc({ upstream: name, method: outcome.method, result: outcome.result });
    if (outcome.result === 'ok' || outcome.result === 'error') {
      this.upstreamDuration.observe({ upstream: name, method: outcome.method }, outcome.ms / 1000);
    }
  }

  upstreamReconnect(name: string): void {
    this.upstreamReconnects.inc({ upstream: name });
  }

  upstreamBreaker(name: string, state: BreakerState): void {
    this.upstreamBreakerGauge.set({ upstream: name }, BREAKER_VALUE[state]);
  }
}
