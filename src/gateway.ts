// SPDX-License-Identifier: MIT
/** The composition root: the only module that knows every room and wires them together. */
import type { GatewayConfig } from './config/types.js';
import { blockList } from './config/cidr.js';
import { startListener, type Listener, type ListenerDeps } from './frontend/listener.js';
import { Admission } from './limits/admission.js';
import type { CostOptions } from './limits/cost.js';
import { LocalLedger, type CostLedger } from './limits/ledger.js';
import { RedisLedger } from './limits/redis-ledger.js';
import { startAdmin, type AdminServer } from './observability/admin.js';
import type { Logger } from './observability/logger.js';
import { GatewayMetrics } from './observability/metrics.js';
import { UPSTREAM_VERSIONS } from './protocol/methods.js';
import { Router } from './routing/router.js';
import { AnswerCache } from './cache/answer-cache.js';
import { MemoryTier, RedisTier } from './cache/tiers.js';
import { ChainTracker } from './chain/tracker.js';
import { SubscriptionHub } from './subscriptions/hub.js';
import { upstreamDefinition } from './upstream/definitions.js';
import { UpstreamPool } from './upstream/pool.js';
import { SERVER_SOFTWARE } from './version.js';

export interface BoundListener {
  readonly url: string;
  readonly host: string;
  /** The real port, also when the config asked for port 0. */
  readonly port: number;
}

export interface RunningGateway {
  readonly listeners: readonly BoundListener[];
  /** The admin HTTP listener's address, when configured. */
  readonly admin: { readonly host: string; readonly port: number } | null;
  readonly metrics: GatewayMetrics;
  readonly pool: UpstreamPool;
  readonly tracker: ChainTracker;
  /** The shared subscriptions (tests count what it holds). */
  readonly hub: SubscriptionHub;
  /** Re-reads every TLS listener's certificate and key (the CLI calls it on SIGHUP). */
  reloadTls(): void;
  /** Stops accepting, lets in-flight requests finish for up to shutdownGraceMs, then closes everything. */
  close(): Promise<void>;
  /**
   * The SIGTERM path: stops accepting and fails /readyz at once, serves the open sessions
   * (subscriptions included) for drainMs or until they have all left, closes them in
   * batches after answering what they have in flight, then close().
   */
  drain(): Promise<void>;
}

/** Sessions closed together at the end of a drain, and the pause between batches: their wallets reconnect elsewhere in waves, not all at once. */
const DRAIN_BATCH = 200;
const DRAIN_BATCH_PAUSE_MS = 100;
/** How often a drain looks whether every session has already left. */
const DRAIN_POLL_MS = 100;

/** Largest message accepted from an upstream: above ElectrumX's 8.1 MB MAX_SEND so big answers pass. */
const UPSTREAM_MAX_MESSAGE_BYTES = 16_000_000;

export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const metrics = new GatewayMetrics();
  metrics.sessionsMax.set(config.limits.maxSessions);
  const pool = new UpstreamPool(
    config.upstreams.map((u) => upstreamDefinition(u, config.pool.socks)),
    {
      clientName: SERVER_SOFTWARE,
      protocolRange: [UPSTREAM_VERSIONS[0], UPSTREAM_VERSIONS[UPSTREAM_VERSIONS.length - 1]!],
      genesisHash: config.network.genesisHash,
      connectTimeoutMs: Math.min(config.limits.requestTimeoutMs, 10_000),
      maxMessageBytes: UPSTREAM_MAX_MESSAGE_BYTES,
      backoffBaseMs: 250,
      backoffMaxMs: 30_000,
      maxLagBlocks: config.pool.maxLagBlocks,
      pingIntervalMs: config.pool.pingIntervalMs,
      breaker: { failureThreshold: 5, cooldownMs: 10_000 },
    },
    logger,
    metrics,
  );
  const tracker = new ChainTracker(
    pool,
    config.network,
    {
      keep: 200,
      maxReorgDepth: config.pool.maxReorgDepth,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      quarantineMs: config.pool.quarantineMs,
    },
    logger.child({ component: 'chain' }),
  );
  const hub = new SubscriptionHub(
    pool,
    tracker,
    {
      requestTimeoutMs: config.limits.requestTimeoutMs,
      maxPerConnection: config.pool.maxSubscriptionsPerConnection,
      maxTotal: config.limits.maxSubscriptions,
    },
    logger,
    metrics,
  );
  metrics.watchSubscriptions(() => ({ sessions: hub.sessionSubscriptionCount, upstream: hub.scripthashCount }));
  const router = new Router(pool, {
    attemptTimeoutMs: Math.min(config.pool.attemptTimeoutMs, config.limits.requestTimeoutMs),
    quarantineMs: config.pool.quarantineMs,
    onVerificationFailure: (upstream, method, reason) => {
      metrics.verificationFailure(upstream, method);
      logger.warn({ upstream, method, reason }, 'upstream answer failed verification; discarded');
    },
    onFailover: (upstream, reason) => metrics.failover(upstream, reason),
  });
  const l2 = config.redis
    ? new RedisTier(config.redis, `eg:${config.network.name}:`, config.cache.redisTimeoutMs, logger.child({ component: 'cache' }), metrics)
    : null;
  const cache = new AnswerCache(
    router,
    tracker,
    config.network,
    { minDepth: config.cache.minDepth, perTipTtlMs: config.cache.perTipTtlMs },
    new MemoryTier(config.cache.memoryBytes),
    l2,
    logger.child({ component: 'cache' }),
    metrics,
  );
  const cost: CostOptions = config.cost;
  const ledger: CostLedger = config.redis
    ? new RedisLedger(
        {
          url: config.redis,
          prefix: `eg:${config.network.name}:`,
          decayPerSecond: cost.decayPerSecond,
          hardLimit: cost.hardLimit,
          commandTimeoutMs: 50,
          flushMs: 100,
        },
        logger.child({ component: 'cost-ledger' }),
        metrics,
      )
    : new LocalLedger(cost.decayPerSecond);
  if (!config.redis) metrics.ledgerState('local');
  const deps: ListenerDeps = {
    config,
    router: cache,
    hub,
    logger,
    metrics,
    costAccountingAvailable: () => config.cost.sharedFailOpen || ledger.state() !== 'fallback',
    admission: new Admission(config.limits.maxSessions, config.limits.maxSessionsPerGroup),
    ledger,
    cost,
    exempt: blockList(config.cost.exempt, 'cost.exempt'),
  };
  pool.start();

  const listeners: Listener[] = [];
  let draining = false;
  let admin: AdminServer | null = null;
  try {
    for (const l of config.listen) {
      const listener = await startListener(l, deps);
      listeners.push(listener);
      logger.info({ listener: l.url, host: listener.host, port: listener.port }, 'listening');
    }
    if (config.admin) {
      admin = await startAdmin(
        config.admin.host,
        config.admin.port,
        {
          metrics,
          status: () => ({
            server: SERVER_SOFTWARE,
            network: config.network.name,
            tip: tracker.tip ? { height: tracker.tip.height, hash: tracker.hashAt(tracker.tip.height) } : null,
            sessions: listeners.reduce((n, l) => n + [...l.sessions()].length, 0),
            subscriptions: { sessions: hub.sessionSubscriptionCount, upstream: hub.scripthashCount },
            costs: { ledger: ledger.state(), topGroups: ledger.top(10) },
            upstreams: pool.status(),
          }),
          ready: () => (draining ? { ready: false, why: 'draining' } : pool.ready().length > 0 ? { ready: true } : { ready: false, why: 'no upstream available' }),
          token: config.adminToken,
        },
        logger,
      );
    }
  } catch (err) {
    for (const l of listeners) {
      await l.stopAccepting();
      l.destroyAll();
    }
    await admin?.close();
    pool.close();
    await ledger.close();
    await l2?.close();
    throw err;
  }
  logger.info({ network: config.network.name, upstreams: config.upstreams.map((u) => u.name) }, 'gateway started');

  // One sweep for every session's idle timer rather than a timer per session.
  const idleSweep = setInterval(
    () => {
      const now = Date.now();
      for (const l of listeners) for (const s of l.sessions()) if (s.idleFor(now) > config.limits.idleTimeoutMs) s.closeIdle();
    },
    Math.min(10_000, Math.max(250, config.limits.idleTimeoutMs / 10)),
  );
  idleSweep.unref();

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({ graceMs: config.shutdownGraceMs }, 'shutting down');
      await Promise.all(listeners.map((l) => l.stopAccepting().catch(() => undefined)));
      const sessions = listeners.flatMap((l) => [...l.sessions()]);
      const idle = Promise.all(sessions.map((s) => s.idle()));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, config.shutdownGraceMs);
      });
      await Promise.race([idle, grace]);
      clearTimeout(timer);
      clearInterval(idleSweep);
      for (const l of listeners) l.destroyAll();
      await admin?.close();
      pool.close();
      await ledger.close();
      await l2?.close();
      logger.info('stopped');
    })();
    return closing;
  };

  const openSessions = () => listeners.flatMap((l) => [...l.sessions()]);
  let drainingDone: Promise<void> | null = null;
  const drain = (): Promise<void> => {
    drainingDone ??= (async () => {
      draining = true;
      await Promise.all(listeners.map((l) => l.stopAccepting().catch(() => undefined)));
      logger.info({ drainMs: config.drainMs, sessions: openSessions().length }, 'draining: not accepting, readiness failing, serving open sessions');
      const until = Date.now() + config.drainMs;
      while (Date.now() < until && openSessions().length > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_POLL_MS, Math.max(1, until - Date.now()))));
      }
      const remaining = openSessions();
      if (remaining.length > 0) logger.info({ sessions: remaining.length, batch: DRAIN_BATCH }, 'drain time over; closing sessions in batches');
      const closing: Promise<void>[] = [];
      for (let i = 0; i < remaining.length; i += DRAIN_BATCH) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_BATCH_PAUSE_MS));
        for (const s of remaining.slice(i, i + DRAIN_BATCH)) closing.push(s.closeGracefully('server shutting down', config.shutdownGraceMs));
      }
      await Promise.all(closing);
      await close();
    })();
    return drainingDone;
  };

  return {
    listeners: listeners.map((l) => ({ url: l.config.url, host: l.host, port: l.port })),
    admin: admin ? { host: admin.host, port: admin.port } : null,
    metrics,
    pool,
    tracker,
    hub,
    reloadTls: () => {
      for (const l of listeners) l.reloadTls();
    },
    close,
    drain,
  };
}
