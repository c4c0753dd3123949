// SPDX-License-Identifier: MIT
/** The composition root: the only module that knows every room and wires them together. */
import { formatProblem, type LoadResult } from './config/load.js';
import type { GatewayConfig, UpstreamConfig } from './config/types.js';
import { localControl } from './control/local.js';
import { planReload } from './control/reload-plan.js';
import type { AdminControl, ReloadReport } from './control/types.js';
import { blockList } from './config/cidr.js';
import { startListener, type Listener, type ListenerDeps } from './frontend/listener.js';
import { UnsentBudget } from './limits/unsent-budget.js';
import { Admission } from './limits/admission.js';
import type { CostOptions } from './limits/cost.js';
import { LocalLedger, type CostLedger } from './limits/ledger.js';
import { RedisLedger } from './limits/redis-ledger.js';
import { startAdmin, type AdminServer } from './observability/admin.js';
import { controlRoutes } from './observability/admin-routes.js';
import { logLevelOf, setLogLevel, type Logger } from './observability/logger.js';
import { GatewayMetrics } from './observability/metrics.js';
import { UPSTREAM_VERSIONS } from './protocol/methods.js';
import { Router } from './routing/router.js';
import { AnswerCache } from './cache/answer-cache.js';
import { MemoryTier, RedisTier, redisKeyPrefix } from './cache/tiers.js';
import { ChainTracker } from './chain/tracker.js';
import { SubscriptionHub } from './subscriptions/hub.js';
import { upstreamDefinition } from './upstream/definitions.js';
import { UpstreamPool } from './upstream/pool.js';
import { SERVER_SOFTWARE } from './version.js';
import { defaultConfig } from './config/load.js';
import { featureHosts, serverFeatures, selfPeers } from './frontend/local-methods.js';
import { PeerManager, SYSTEM_CLOCK, type Clock } from './peers/manager.js';
import { parsePeerEntry, type PeerPorts, type PeerRecord } from './peers/peer.js';
import { PeerPoolTier } from './peers/pool-tier.js';
import { probePeer, type ProbeTarget } from './peers/probe.js';
import { PeersStore } from './peers/store.js';

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
  /** Peer discovery, when discovery.enabled (tests drive it with their clock through runDue()). */
  readonly peers: PeerManager | null;
  /** Re-reads every TLS listener's certificate and key. */
  reloadTls(): void;
  /**
   * SIGHUP and POST /reload: re-reads the configuration (options.loadConfig), refuses it with
   * its problems if it fails check-config's checks, else applies what can change live (see
   * control/reload-plan.ts), re-reads TLS certificates, and reports what needs a restart.
   */
  reload(): Promise<ReloadReport>;
  /** The admin operations on this process (the cluster worker answers the primary with them). */
  readonly control: AdminControl;
  /** The configuration in force (changed by reload). */
  readonly config: GatewayConfig;
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

/** How often, while an upstream is unreachable, an info line says the gateway is still retrying. */
const RETRY_SUMMARY_INTERVAL_MS = 60_000;

/** Largest message accepted from an upstream: above ElectrumX's 8.1 MB MAX_SEND so big answers pass. */
const UPSTREAM_MAX_MESSAGE_BYTES = 16_000_000;

export interface GatewayOptions {
  /** Where a reload reads the configuration from (the CLI: the same file and flags as at start). */
  readonly loadConfig?: () => LoadResult;
  /** Under --workers N: the admin routes act through this (every worker) instead of this process alone. */
  readonly adminControl?: (local: AdminControl) => AdminControl;
  /**
   * The clock peer discovery's schedule reads. Given one, the gateway does not
   * verify peers on its own: the caller (a test) advances its clock and calls
   * peers.runDue().
   */
  readonly peersClock?: Clock;
}

/** The configured upstreams as the first peer candidates: host and ports, from the URL and its tcp_port/ssl_port options. */
function upstreamSeeds(config: GatewayConfig): ProbeTarget[] {
  return config.upstreams.map((u) => {
    const ports: { -readonly [K in keyof PeerPorts]: number } = {};
    ports[u.scheme === 'tls' ? 'ssl' : u.scheme] = u.port;
    const o = u.options ?? {};
    if (o.tcp_port !== undefined && u.scheme === 'tls') ports.tcp = Number(o.tcp_port);
    if (o.ssl_port !== undefined && u.scheme === 'tcp') ports.ssl = Number(o.ssl_port);
    return { host: u.host, ports };
  });
}

function startPeers(config: GatewayConfig, logger: Logger, tracker: ChainTracker, metrics: GatewayMetrics, clock: Clock, pool: UpstreamPool): PeerManager | null {
  const discovery = config.discovery ?? defaultConfig().discovery!;
  if (!discovery.enabled) return null;
  const log = logger.child({ component: 'peers' });
  const protocolRange: [string, string] = [UPSTREAM_VERSIONS[0], UPSTREAM_VERSIONS[UPSTREAM_VERSIONS.length - 1]!];
  const selfHosts = Object.keys(featureHosts(config));
  const publicSelf = selfPeers(config);
  const ourFeatures = serverFeatures(config);
  const hostsOf = ourFeatures.hosts as Record<string, Record<string, number>>;
  let manager: PeerManager | null = null;
  const tier = discovery.joinPool
    ? new PeerPoolTier(pool, new Set(config.upstreams.map((u) => u.host.toLowerCase())), () => manager?.tor ?? null, () => config.limits.requestTimeoutMs, log)
    : null;
  manager = new PeerManager({
    network: config.network,
    discovery,
    selfHosts,
    store: discovery.peersFile ? new PeersStore(discovery.peersFile, config.network.name, log, () => clock.now()) : null,
    clock,
    logger: log,
    onChange: (counts) => metrics.peerCounts(counts),
    ...(tier ? { onGood: (good: readonly PeerRecord[]) => tier.sync(good) } : {}),
    context: () => {
      const tip = tracker.tip;
      return {
        ours: tip
          ? { genesisHash: config.network.genesisHash, protocolMin: protocolRange[0], protocolMax: protocolRange[1], tipHeight: tip.height, hashAt: (h) => tracker.hashAt(h) }
          : null,
        announce:
          discovery.announce && publicSelf.length > 0
            ? {
                features: ourFeatures,
                // Listed under one of our names with the ports we report: nothing to announce.
                listsUs: (list) =>
                  list.some((entry) => {
                    const p = parsePeerEntry(entry, config.network);
                    const mine = p ? hostsOf[p.host] : undefined;
                    return mine !== undefined && p!.ports.tcp === mine.tcp_port && p!.ports.ssl === mine.ssl_port;
                  }),
              }
            : null,
      };
    },
    probe: (target, ctx) =>
      probePeer(target, ctx, {
        clientName: SERVER_SOFTWARE,
        protocolRange,
        timeoutMs: discovery.verifyTimeoutMs,
        maxMessageBytes: 1_000_000,
        logger: log,
      }),
  });
  return manager;
}

export async function startGateway(config: GatewayConfig, logger: Logger, options: GatewayOptions = {}): Promise<RunningGateway> {
  /** The configuration in force; a reload replaces its live keys. Everything read per use reads it. */
  let current = config;
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
      // limits.* apply live on reload: read where they are used.
      get noUpstreamWaitMs() {
        return current.limits.noUpstreamWaitMs;
      },
      retrySummaryIntervalMs: RETRY_SUMMARY_INTERVAL_MS,
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
      // One header call is one try at one upstream.
      get fetchTimeoutMs() {
        return Math.min(config.pool.attemptTimeoutMs, current.limits.requestTimeoutMs);
      },
      quarantineMs: config.pool.quarantineMs,
    },
    logger.child({ component: 'chain' }),
  );
  const hub = new SubscriptionHub(
    pool,
    tracker,
    {
      get requestTimeoutMs() {
        return current.limits.requestTimeoutMs;
      },
      maxPerConnection: config.pool.maxSubscriptionsPerConnection,
      get maxTotal() {
        return current.limits.maxSubscriptions;
      },
      resubscribeConcurrency: config.pool.resubscribeConcurrency,
      resubscribePerSecond: config.pool.resubscribePerSecond,
    },
    logger,
    metrics,
  );
  metrics.watchSubscriptions(() => ({ sessions: hub.sessionSubscriptionCount, upstream: hub.scripthashCount }));
  metrics.watchMoves(() => ({ orphans: hub.orphanCounts, window: hub.moveWindow }));
  const router = new Router(pool, {
    get attemptTimeoutMs() {
      return Math.min(config.pool.attemptTimeoutMs, current.limits.requestTimeoutMs);
    },
    quarantineMs: config.pool.quarantineMs,
    onVerificationFailure: (upstream, method, reason) => {
      metrics.verificationFailure(upstream, method);
      logger.warn({ upstream, method, reason }, 'upstream answer failed verification; discarded');
    },
    onFailover: (upstream, reason) => metrics.failover(upstream, reason),
  });
  const l2 = config.redis
    ? new RedisTier(config.redis, redisKeyPrefix(config.network.name), config.cache.redisTimeoutMs, logger.child({ component: 'cache' }), metrics)
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
  const admission = new Admission(config.limits.maxSessions, config.limits.maxSessionsPerGroup);
  // Read at each check: limits.* apply live on reload.
  const unsent = new UnsentBudget(() => current.limits.maxUnsentBytesTotal);
  metrics.watchUnsent(() => unsent.total);
  let exemptFor = config.limits.exempt;
  let exemptList = blockList(exemptFor, 'limits.exempt');
  const peers = startPeers(config, logger, tracker, metrics, options.peersClock ?? SYSTEM_CLOCK, pool);
  const deps: ListenerDeps = {
    peers,
    get config() {
      return current;
    },
    router: cache,
    hub,
    logger,
    metrics,
    costAccountingAvailable: () => config.cost.sharedFailOpen || ledger.state() !== 'fallback',
    admission,
    ledger,
    cost,
    unsent,
    // limits.* apply live on reload, so the list is rebuilt when the configuration in force changes.
    get exempt() {
      if (exemptFor !== current.limits.exempt) {
        exemptFor = current.limits.exempt;
        exemptList = blockList(exemptFor, 'limits.exempt');
      }
      return exemptList;
    },
  };
  const listeners: Listener[] = [];
  const reloadTls = (): void => {
    for (const l of listeners) l.reloadTls();
  };

  /** Set by close(): nothing is added to the pool after it. */
  let closing: Promise<void> | null = null;
  /** Upstreams a reload removed that are still draining, by name: one added again under that name waits for its drain. */
  const removals = new Map<string, Promise<void>>();
  /** Their URLs, so GET /upstreams still names what is draining. */
  const drainingUrls = new Map<string, string>();
  /**
   * Resolves once an upstream other than those being removed is healthy, so the subscriptions
   * moved off a removed one have somewhere to go (an upstream added by the same reload is still
   * connecting). At once when there is no other upstream that could come up; bounded like a connect.
   */
  const otherServing = async (removing: ReadonlySet<string>): Promise<void> => {
    // After this reload's additions are in the pool.
    await new Promise((resolve) => setImmediate(resolve));
    const until = Date.now() + Math.min(current.limits.requestTimeoutMs, 10_000);
    while (!closing && Date.now() < until) {
      const others = pool.status().filter((u) => !removing.has(u.name) && !removals.has(u.name) && !u.cordoned);
      if (others.length === 0 || others.some((u) => u.state === 'healthy')) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const addUpstream = (u: UpstreamConfig): void => {
    const add = (): void => {
      if (closing) return;
      if (!pool.add(upstreamDefinition(u, current.pool.socks))) logger.warn({ upstream: u.name }, 'reload: upstream not added: the name is taken');
    };
    const draining = removals.get(u.name);
    if (draining) void draining.then(add);
    else add();
  };
  const removeUpstream = (name: string, removing: ReadonlySet<string>, url: string): void => {
    drainingUrls.set(name, url);
    // Cordoned once another upstream serves (subscriptions move then), closed once its in-flight requests are answered.
    const done: Promise<void> = otherServing(removing)
      .then(() => pool.remove(name, current.limits.requestTimeoutMs))
      .then(
        () => undefined,
        (err: unknown) => logger.error({ upstream: name, err }, 'reload: removing the upstream failed'),
      )
      .finally(() => {
        if (removals.get(name) === done) {
          removals.delete(name);
          drainingUrls.delete(name);
        }
      });
    removals.set(name, done);
  };

  let reloading: Promise<ReloadReport> | null = null;
  const reload = (): Promise<ReloadReport> => {
    // Two reloads at once (SIGHUP while POST /reload runs) would race on the pool: the second waits.
    const run = async (): Promise<ReloadReport> => {
      const loaded = options.loadConfig?.() ?? null;
      if (loaded === null) return refused(['this gateway was started without a configuration source to reload from']);
      if (!loaded.ok) return refused(loaded.problems.map(formatProblem));
      const before = current;
      const plan = planReload(current, loaded.config);
      current = plan.effective;
      admission.resize(current.limits.maxSessions, current.limits.maxSessionsPerGroup);
      metrics.sessionsMax.set(current.limits.maxSessions);
      // A level set through POST /log-level lasts until the reload: the configured one is back.
      const levelBefore = logLevelOf(logger);
      setLogLevel(logger, current.logging.level);
      const applied = levelBefore !== current.logging.level && !plan.applied.includes('logging.level') ? [...plan.applied, 'logging.level'] : plan.applied;
      // Removals first, so a replaced upstream (same name, new URL) is added back only after its drain.
      const removing = new Set(plan.removedUpstreams);
      for (const name of plan.removedUpstreams) removeUpstream(name, removing, before.upstreams.find((u) => u.name === name)?.url ?? '');
      for (const u of plan.addedUpstreams) addUpstream(u);
      let tlsError: string | null = null;
      try {
        reloadTls();
      } catch (err) {
        tlsError = (err as Error).message;
      }
      const report: ReloadReport = {
        ok: true,
        errors: tlsError === null ? [] : [`TLS certificates not reloaded (the previous ones stay in use): ${tlsError}`],
        applied,
        requiresRestart: plan.requiresRestart,
        upstreams: { added: plan.addedUpstreams.map((u) => u.name), removed: [...plan.removedUpstreams] },
      };
      logger.info(report, plan.requiresRestart.length > 0 ? 'configuration reloaded; some changes require a restart' : 'configuration reloaded');
      return report;
    };
    const next = (reloading ?? Promise.resolve()).then(run, run);
    reloading = next;
    return next;
  };
  const refused = (errors: readonly string[]): ReloadReport => {
    logger.error({ errors }, 'reload refused: the configuration has errors; the running one is kept');
    return { ok: false, errors, applied: [], requiresRestart: [], upstreams: { added: [], removed: [] } };
  };
  const openSessions = () => listeners.flatMap((l) => [...l.sessions()]);
  const control = localControl({
    sessions: openSessions,
    pool,
    hub,
    upstreamUrl: (name) => current.upstreams.find((u) => u.name === name)?.url ?? drainingUrls.get(name) ?? '',
    disconnectGraceMs: () => current.shutdownGraceMs,
    logger,
    reload,
  });
  pool.start();
  await peers?.start(upstreamSeeds(config), options.peersClock === undefined);

  let draining = false;
  let admin: AdminServer | null = null;
  try {
    for (const l of config.listen) {
      const listener = await startListener(l, deps);
      listeners.push(listener);
      logger.info({ listener: l.url, host: listener.host, port: listener.port }, 'listening');
    }
    if (config.admin) {
      const routes = controlRoutes(options.adminControl ? options.adminControl(control) : control);
      admin = await startAdmin(
        config.admin.host,
        config.admin.port,
        {
          metrics,
          status: () => ({
            server: SERVER_SOFTWARE,
            network: current.network.name,
            tip: tracker.tip ? { height: tracker.tip.height, hash: tracker.hashAt(tracker.tip.height) } : null,
            sessions: listeners.reduce((n, l) => n + [...l.sessions()].length, 0),
            subscriptions: { sessions: hub.sessionSubscriptionCount, upstream: hub.scripthashCount },
            costs: { ledger: ledger.state(), topGroups: ledger.top(10) },
            upstreams: pool.status(),
          }),
          ready: () => (draining ? { ready: false, why: 'draining' } : pool.ready().length > 0 ? { ready: true } : { ready: false, why: 'no upstream available' }),
          token: () => current.adminToken,
          routes: [
            ...routes,
            {
              method: 'GET',
              path: '/peers',
              // Under --workers N each worker runs its own discovery; this answers the one that took the request.
              handle: async () =>
                peers
                  ? { status: 200, body: { network: config.network.name, tor: peers.tor ? `${peers.tor.host}:${peers.tor.port}` : null, counts: peers.counts(), peers: peers.table() } }
                  : { status: 404, body: { error: 'peer discovery is off (discovery.enabled: false)' } },
            },
          ],
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
    await peers?.stop();
    pool.close();
    await ledger.close();
    await l2?.close();
    throw err;
  }
  logger.info({ network: config.network.name, upstreams: config.upstreams.map((u) => u.name) }, 'gateway started');

  // One sweep for every session's idle timer rather than a timer per session; its period follows
  // limits.idle_timeout_ms as a reload changes it.
  const sweepIdle = (): void => {
    const now = Date.now();
    for (const l of listeners) for (const s of l.sessions()) if (s.idleFor(now) > current.limits.idleTimeoutMs) s.closeIdle();
    idleSweep = setTimeout(sweepIdle, Math.min(10_000, Math.max(250, current.limits.idleTimeoutMs / 10)));
    idleSweep.unref();
  };
  let idleSweep = setTimeout(sweepIdle, Math.min(10_000, Math.max(250, config.limits.idleTimeoutMs / 10)));
  idleSweep.unref();

  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({ graceMs: current.shutdownGraceMs }, 'shutting down');
      await Promise.all(listeners.map((l) => l.stopAccepting().catch(() => undefined)));
      const sessions = listeners.flatMap((l) => [...l.sessions()]);
      const idle = Promise.all(sessions.map((s) => s.idle()));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, current.shutdownGraceMs);
      });
      await Promise.race([idle, grace]);
      clearTimeout(timer);
      clearTimeout(idleSweep);
      for (const l of listeners) l.destroyAll();
      await admin?.close();
      // Saves the peers file a last time.
      await peers?.stop();
      hub.close();
      pool.close();
      await ledger.close();
      await l2?.close();
      logger.info('stopped');
    })();
    return closing;
  };

  let drainingDone: Promise<void> | null = null;
  const drain = (): Promise<void> => {
    drainingDone ??= (async () => {
      draining = true;
      await Promise.all(listeners.map((l) => l.stopAccepting().catch(() => undefined)));
      logger.info({ drainMs: current.drainMs, sessions: openSessions().length }, 'draining: not accepting, readiness failing, serving open sessions');
      const until = Date.now() + current.drainMs;
      while (Date.now() < until && openSessions().length > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_POLL_MS, Math.max(1, until - Date.now()))));
      }
      const remaining = openSessions();
      if (remaining.length > 0) logger.info({ sessions: remaining.length, batch: DRAIN_BATCH }, 'drain time over; closing sessions in batches');
      const closing: Promise<void>[] = [];
      for (let i = 0; i < remaining.length; i += DRAIN_BATCH) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_BATCH_PAUSE_MS));
        const batch = remaining.slice(i, i + DRAIN_BATCH);
        logger.info({ batch: i / DRAIN_BATCH + 1, sessions: batch.length }, 'drain: closing a batch of sessions once their requests are answered');
        for (const s of batch) closing.push(s.closeGracefully('server shutting down', current.shutdownGraceMs));
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
    peers,
    reloadTls,
    reload,
    control,
    get config() {
      return current;
    },
    close,
    drain,
  };
}
