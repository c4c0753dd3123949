// SPDX-License-Identifier: MIT
/**
 * `electrum-gateway serve`: load the config (file and/or flags), build the
 * logger, start the gateway, and close it cleanly on SIGINT/SIGTERM.
 *
 * With `workers` above 1 the process becomes a Node cluster primary that
 * forks the workers (each re-runs this command and serves the gateway on the
 * shared listening sockets), forwards signals and exits when they have; see
 * the `workers` key in docs/configuration.md.
 *
 * Exit codes: 0 after a signal-initiated shutdown; 1 for a bad configuration,
 * a listener that cannot bind, or any other startup failure. User mistakes
 * get one plain line each on stderr, never a stack trace.
 */
import nodeCluster from 'node:cluster';
import os from 'node:os';
import type { CliOverrides } from '../config/load.js';
import { formatProblem, loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { formatHostPort } from '../config/urls.js';
import { adminRelay, answerAdminCalls, clusterControl } from '../control/cluster.js';
import type { AdminControl, ReloadReport } from '../control/types.js';
import { startGateway as realStartGateway, type BoundListener, type GatewayOptions } from '../gateway.js';
import { askPrimaryForMetrics, clusterMetricsResponder, joinClusterMetrics } from '../observability/cluster-metrics.js';
import { createLogger, setLogLevel, type Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { PROGRAM } from './program.js';

export interface ServeOptions {
  readonly configFile: string | null;
  readonly overrides: CliOverrides;
}

/** What serve needs of a running gateway (RunningGateway satisfies it). */
export interface ServedGateway {
  readonly listeners: readonly BoundListener[];
  /** The admin HTTP listener's real address, when one runs. */
  readonly admin?: { readonly host: string; readonly port: number } | null;
  /** Re-reads TLS certificates and keys; called on SIGHUP when there is no reload(). */
  reloadTls?(): void;
  /** Re-reads the configuration and applies it (SIGHUP). */
  reload?(): Promise<ReloadReport>;
  /** The admin operations on this process (a cluster worker answers the primary with them). */
  readonly control?: AdminControl;
  /** The configuration in force, once a reload has changed it. */
  readonly config?: GatewayConfig;
  /** Its metrics, shared with the cluster primary when it runs as a worker. */
  readonly metrics?: GatewayMetrics;
  close(): Promise<void>;
  /** The SIGTERM shutdown: readiness fails, sessions are served for drain_ms, then closed (falls back to close()). */
  drain?(): Promise<void>;
}

export interface ServeDeps {
  readonly startGateway: (config: GatewayConfig, logger: Logger, options?: GatewayOptions) => Promise<ServedGateway>;
  readonly stderr: NodeJS.WritableStream;
  readonly exit: (code: number) => void;
  /** Registers signal handlers; returns a function that removes them. */
  readonly onSignals: (signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Registers the handler for an exception or rejection nothing else caught (a bug, not a user error). */
  readonly onCrash: (handler: (err: unknown) => void) => void;
  /** Node's cluster module (a stand-in in tests); default the real one. */
  readonly cluster?: ClusterApi;
  /** The number of cores `workers: auto` means; default os.availableParallelism(). */
  readonly cores?: () => number;
}

/** The part of node:cluster serve uses. */
export interface ClusterApi {
  readonly isPrimary: boolean;
  readonly isWorker: boolean;
  fork(env?: NodeJS.ProcessEnv): ClusterWorker;
}

export interface ClusterWorker {
  readonly process: { readonly pid?: number | undefined; kill(signal?: NodeJS.Signals): boolean };
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): this;
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): this;
}

/** Environment variable carrying a worker's index (1..N); worker 1 runs the admin listener. */
export const WORKER_INDEX_ENV = 'ELECTRUM_GATEWAY_WORKER';
/** Messages between the primary and its workers over the cluster IPC channel. */
const HELLO = 'electrum-gateway:hello';
const READY = 'electrum-gateway:ready';
const SHUTDOWN = 'electrum-gateway:shutdown';
/** A worker that dies after starting is replaced after this long... */
const RESPAWN_DELAY_MS = 1_000;
/** ...unless this many have died within RESPAWN_WINDOW_MS: then the gateway stops. */
const MAX_RESPAWNS = 5;
const RESPAWN_WINDOW_MS = 60_000;

/** `workers` as a number: "auto" is one per core. */
export function resolveWorkers(setting: number | 'auto' | undefined, cores: () => number = defaultCores): number {
  if (setting === undefined) return 1;
  return setting === 'auto' ? Math.max(1, cores()) : setting;
}

function defaultCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

const defaultDeps: ServeDeps = {
  startGateway: realStartGateway,
  stderr: process.stderr,
  exit: (code) => process.exit(code),
  onSignals: (signals, handler) => {
    for (const s of signals) process.on(s, handler);
    return () => {
      for (const s of signals) process.off(s, handler);
    };
  },
  onCrash: (handler) => {
    process.on('uncaughtException', handler);
    process.on('unhandledRejection', handler);
  },
};

/** Extra time close() gets beyond the configured grace before the process gives up on it. */
const CLOSE_SAFETY_MARGIN_MS = 5_000;

export async function serve(options: ServeOptions, deps: ServeDeps = defaultDeps): Promise<void> {
  const say = (line: string) => deps.stderr.write(`${PROGRAM}: ${line}\n`);

  const loaded = loadConfig({ file: options.configFile, overrides: options.overrides });
  if (!loaded.ok) {
    for (const problem of loaded.problems) say(`config error: ${formatProblem(problem)}`);
    if (options.configFile !== null) say(`run "${PROGRAM} check-config ${options.configFile}" to check the file alone`);
    deps.exit(1);
    return;
  }
  const cluster = deps.cluster ?? (nodeCluster as unknown as ClusterApi);
  const workers = resolveWorkers(loaded.config.workers, deps.cores);
  const workerIndex = cluster.isWorker ? Number(process.env[WORKER_INDEX_ENV] ?? '0') : 0;
  if (workers > 1 && cluster.isPrimary) {
    runPrimary(loaded.config, workers, options, deps, cluster);
    return;
  }
  // In a cluster worker, only worker 1 runs the admin listener (see docs/configuration.md, workers).
  const config: GatewayConfig = workerIndex > 1 ? { ...loaded.config, admin: null } : loaded.config;
  const rootLogger = createLogger(config.logging);
  const logger = workerIndex > 0 ? rootLogger.child({ worker: workerIndex }) : rootLogger;
  // A worker listens for the primary's shutdown request from the start: one that arrives
  // while the gateway is still starting is acted on as soon as it has started.
  let requestShutdown: ((why: Record<string, unknown>) => void) | null = null;
  let earlyRequest: Record<string, unknown> | null = null;
  if (workerIndex > 0) {
    const request = (why: Record<string, unknown>): void => {
      if (requestShutdown) requestShutdown(why);
      else earlyRequest ??= why;
    };
    // The primary asks by message, not by signal: a Ctrl-C reaches the whole process group
    // as well, and two signals would mean "exit now".
    process.on('message', (m: unknown) => {
      const msg = m as { type?: unknown; drain?: unknown } | null;
      if (msg?.type === SHUTDOWN) request({ request: 'primary', drain: msg.drain === true });
    });
    // The primary is gone (killed): do not linger as an orphan holding the ports.
    process.on('disconnect', () => request({ request: 'primary exited' }));
    // Messages sent before a listener exists are lost: the primary waits for this before asking.
    process.send?.({ type: HELLO, worker: workerIndex });
  }
  const clusterMetrics = workerIndex > 0 ? joinClusterMetrics() : null;
  let served: ServedGateway | null = null;
  if (workerIndex > 0) answerAdminCalls(workerIndex, () => served?.control ?? null);
  // A reload reads the same file with the same flags, and sees what this process was started with.
  const reloadSource = (): ReturnType<typeof loadConfig> => {
    const next = loadConfig({ file: options.configFile, overrides: options.overrides });
    return next.ok && workerIndex > 1 ? { ...next, config: { ...next.config, admin: null } } : next;
  };
  deps.onCrash((err) => {
    // The stack goes to the JSON log; the terminal gets one line.
    logger.fatal({ err }, 'internal error');
    const message = err instanceof Error ? err.message : String(err);
    say(`internal error: ${message.split('\n', 1)[0]} (details in the log)`);
    deps.exit(1);
  });
  logger.info(
    {
      config: options.configFile ?? '(built-in defaults)',
      network: config.network.name,
      upstreams: config.upstreams.map((u) => u.url),
      redis: config.redis === null ? 'off' : redactUrl(config.redis),
      admin: config.admin === null ? 'off' : formatHostPort(config.admin.host, config.admin.port),
      ...(workerIndex > 0 ? { workers } : {}),
    },
    'starting',
  );

  let gateway: ServedGateway;
  try {
    gateway = await deps.startGateway(config, logger, {
      loadConfig: reloadSource,
      // Worker 1 runs the admin listener for the whole instance: its operations reach every worker.
      ...(workerIndex === 1 ? { adminControl: () => clusterControl() } : {}),
    });
  } catch (err) {
    const line = describeStartError(err, config.admin);
    say(line);
    if (line.startsWith('failed to start:')) logger.fatal({ err }, 'failed to start');
    deps.exit(1);
    return;
  }

  const admin = gateway.admin ?? null;
  if (clusterMetrics !== null && gateway.metrics !== undefined) {
    clusterMetrics.share(gateway.metrics.registry);
    // One scrape sees the whole instance: worker 1's /metrics is the primary's sum over the workers.
    if (admin !== null) gateway.metrics.exposeVia(askPrimaryForMetrics());
  }
  if (workerIndex > 0) process.send?.({ type: READY, worker: workerIndex });

  const running = gateway;
  served = gateway;
  /** drain_ms and shutdown_grace_ms as a reload may have changed them. */
  const timings = (): GatewayConfig => running.config ?? config;
  deps.onSignals(['SIGHUP'], () => {
    // SIGHUP would otherwise kill the process; here it means "re-read the configuration".
    if (running.reload !== undefined) {
      logger.info('SIGHUP: reloading the configuration');
      running.reload().catch((err: unknown) => logger.error({ err }, 'SIGHUP: reload failed'));
      return;
    }
    if (running.reloadTls === undefined) {
      logger.info('SIGHUP: nothing to reload');
      return;
    }
    try {
      running.reloadTls();
      logger.info('SIGHUP: TLS certificates and keys reloaded');
    } catch (err) {
      logger.error({ err }, 'SIGHUP: TLS reload failed; the previous certificates stay in use');
    }
  });

  let stopping = false;
  const beginShutdown = (why: Record<string, unknown>): void => {
    stopping = true;
    // SIGTERM is what supervisors (Kubernetes, Docker, systemd) send: drain. SIGINT is a person at a terminal: close now.
    const draining = why['signal'] === 'SIGTERM' || why['drain'] === true;
    logger.info(why, draining ? 'signal received, draining' : 'signal received, closing');
    const waitMs = (draining ? timings().drainMs : 0) + timings().shutdownGraceMs + CLOSE_SAFETY_MARGIN_MS;
    const safety = setTimeout(() => {
      logger.error({ waitedMs: waitMs }, 'shutdown did not finish; exiting');
      deps.exit(1);
    }, waitMs);
    safety.unref();
    (draining && running.drain ? running.drain() : running.close()).then(
      () => {
        clearTimeout(safety);
        removeHandlers();
        logger.info('bye');
        deps.exit(0);
      },
      (err: unknown) => {
        clearTimeout(safety);
        logger.error({ err }, 'error while shutting down');
        deps.exit(1);
      },
    );
  };
  const removeHandlers = deps.onSignals(['SIGINT', 'SIGTERM'], (signal) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for shutdown');
      deps.exit(1);
      return;
    }
    beginShutdown({ signal });
  });
  // A request while stopping (the primary's, after a Ctrl-C that also reached us) is a no-op.
  requestShutdown = (why) => {
    if (!stopping) beginShutdown(why);
  };
  // Announced only once the signal handlers are in place: a supervisor that
  // signals as soon as it reads this line must reach them, not the default.
  logger.info(
    {
      listeners: gateway.listeners.map((l) => ({ url: l.url, address: formatHostPort(l.host, l.port) })),
      admin: admin === null ? null : formatHostPort(admin.host, admin.port),
    },
    `serving on ${gateway.listeners.map((l) => formatHostPort(l.host, l.port)).join(', ')}`,
  );
  if (earlyRequest !== null) requestShutdown(earlyRequest);
}

/**
 * The cluster primary: forks `count` workers, reports when all serve, passes
 * on SIGHUP, asks every worker to shut down on SIGINT/SIGTERM and exits when
 * they have (0 when all exited 0). Replaces a worker that dies after start;
 * stops everything when one cannot start or too many die.
 */
function runPrimary(initial: GatewayConfig, count: number, options: ServeOptions, deps: ServeDeps, cluster: ClusterApi): void {
  let config = initial;
  const say = (line: string) => deps.stderr.write(`${PROGRAM}: ${line}\n`);
  const logger = createLogger(config.logging).child({ role: 'primary' });
  const live = new Map<number, ClusterWorker>();
  /** Workers listening for SHUTDOWN (they said hello). */
  const listening = new Set<ClusterWorker>();
  const ready = new Set<number>();
  const deaths: number[] = [];
  let stopping = false;
  let failed = false;
  let allReadyLogged = false;
  deps.onCrash((err) => {
    logger.fatal({ err }, 'internal error');
    say(`internal error: ${(err instanceof Error ? err.message : String(err)).split('\n', 1)[0]} (details in the log)`);
    for (const w of live.values()) w.process.kill('SIGKILL');
    deps.exit(1);
  });
  logger.info({ config: options.configFile ?? '(built-in defaults)', workers: count, setting: config.workers }, 'starting workers');
  const answerMetrics = clusterMetricsResponder();
  /** The primary's own share of a reload: its drain timings and log level (the workers apply the rest). */
  const reloadOwn = (): void => {
    const next = loadConfig({ file: options.configFile, overrides: options.overrides });
    if (!next.ok) return; // every worker reports the problems
    config = { ...config, drainMs: next.config.drainMs, shutdownGraceMs: next.config.shutdownGraceMs, logging: next.config.logging };
    setLogLevel(logger, config.logging.level);
  };
  const relayAdmin = adminRelay(
    () => new Map([...live].filter(([, w]) => listening.has(w))),
    (op, args) => {
      if (op === 'reload') reloadOwn();
      if (op === 'setLogLevel' && typeof args[0] === 'string') setLogLevel(logger, args[0] as GatewayConfig['logging']['level']);
    },
  );

  const finish = (): void => {
    if (live.size > 0) return;
    logger.info({ failed }, failed ? 'workers stopped after a failure' : 'bye');
    deps.exit(failed ? 1 : 0);
  };
  let drainWorkers = false;
  const stopAll = (why: Record<string, unknown>): void => {
    if (stopping) return;
    stopping = true;
    drainWorkers = why['signal'] === 'SIGTERM';
    logger.info(why, drainWorkers ? 'draining workers' : 'stopping workers');
    for (const w of listening) w.send({ type: SHUTDOWN, drain: drainWorkers });
    const waitMs = (drainWorkers ? config.drainMs : 0) + config.shutdownGraceMs + CLOSE_SAFETY_MARGIN_MS;
    const safety = setTimeout(() => {
      logger.error({ waitedMs: waitMs }, 'workers did not stop; killing them');
      for (const w of live.values()) w.process.kill('SIGKILL');
      deps.exit(1);
    }, waitMs);
    safety.unref();
    finish();
  };
  const spawn = (index: number): void => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    live.set(index, worker);
    worker.on('message', (m: unknown) => {
      if (answerMetrics(m, (reply) => void worker.send(reply))) return;
      if (relayAdmin(m, worker)) return;
      const type = (m as { type?: unknown } | null)?.type;
      if (type === HELLO) {
        listening.add(worker);
        if (stopping) worker.send({ type: SHUTDOWN, drain: drainWorkers });
        return;
      }
      if (type !== READY) return;
      ready.add(index);
      if (!allReadyLogged && ready.size === count) {
        allReadyLogged = true;
        logger.info({ workers: count, pids: [...live.values()].map((w) => w.process.pid) }, `all ${count} workers serving`);
      }
    });
    worker.on('exit', (code, signal) => {
      listening.delete(worker);
      if (live.get(index) === worker) live.delete(index);
      const wasReady = ready.delete(index);
      if (stopping) {
        // A worker still starting when a Ctrl-C reached the process group dies of the signal itself: that is a stop, not a failure.
        if (code !== 0 && signal !== 'SIGINT' && signal !== 'SIGTERM') failed = true;
        finish();
        return;
      }
      if (!wasReady) {
        // It never served: the same cause (a port in use, a bad certificate) would stop every worker.
        logger.error({ worker: index, code, signal }, 'worker failed to start; stopping the gateway');
        failed = true;
        stopAll({ reason: `worker ${index} failed to start` });
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && deaths[0]! < now - RESPAWN_WINDOW_MS) deaths.shift();
      if (deaths.length > MAX_RESPAWNS) {
        logger.error({ worker: index, code, signal, deaths: deaths.length }, 'workers keep dying; stopping the gateway');
        say(`workers died ${deaths.length} times within ${RESPAWN_WINDOW_MS / 1000} s; stopping`);
        failed = true;
        stopAll({ reason: 'too many worker deaths' });
        return;
      }
      logger.error({ worker: index, code, signal }, `worker died; replacing it in ${RESPAWN_DELAY_MS} ms`);
      setTimeout(() => {
        if (!stopping) spawn(index);
      }, RESPAWN_DELAY_MS).unref();
    });
  };
  for (let i = 1; i <= count; i++) spawn(i);

  deps.onSignals(['SIGHUP'], () => {
    logger.info({ workers: live.size }, 'SIGHUP: passing it to every worker');
    reloadOwn();
    for (const w of live.values()) w.process.kill('SIGHUP');
  });
  deps.onSignals(['SIGINT', 'SIGTERM'], (signal) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing the workers');
      for (const w of live.values()) w.process.kill('SIGKILL');
      deps.exit(1);
      return;
    }
    stopAll({ signal });
  });
}

/** One line for the operator; the system error codes that are user mistakes get a plain explanation. */
export function describeStartError(err: unknown, admin?: { readonly host: string; readonly port: number } | null): string {
  const e = (err ?? {}) as { code?: unknown; address?: unknown; port?: unknown; message?: unknown };
  const where =
    typeof e.address === 'string' && typeof e.port === 'number' ? formatHostPort(e.address, e.port) : undefined;
  // Listeners and the admin listener never share a port that could bind (check-config refuses it), so the port names the one that failed.
  const isAdmin = admin != null && admin.port !== 0 && e.port === admin.port;
  const at = where !== undefined ? ` ${where}` : '';
  switch (e.code) {
    case 'EADDRINUSE':
      if (isAdmin) {
        return `cannot open the admin listener (metrics, status) on${at}: address already in use by another process (EADDRINUSE); move it with --admin HOST:PORT or turn it off with --admin none`;
      }
      return `cannot listen on${at}: address already in use by another process (EADDRINUSE)`;
    case 'EACCES':
      return `cannot listen on${at}: permission denied; ports below 1024 need privileges (EACCES)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on${at}: no local interface has this address (EADDRNOTAVAIL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on${at}: host name does not resolve (${String(e.code)})`;
    default: {
      const message = typeof e.message === 'string' ? e.message : String(err);
      return `failed to start: ${message.split('\n', 1)[0]}`;
    }
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
