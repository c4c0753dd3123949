// SPDX-License-Identifier: MIT
/**
 * `electrum-gateway serve`: load the config (file and/or flags), build the
 * logger, start the gateway, and close it cleanly on SIGINT/SIGTERM.
 *
 * Exit codes: 0 after a signal-initiated shutdown; 1 for a bad configuration,
 * a listener that cannot bind, or any other startup failure. User mistakes
 * get one plain line each on stderr, never a stack trace.
 */
import type { CliOverrides } from '../config/load.js';
import { formatProblem, loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { formatHostPort } from '../config/urls.js';
import { startGateway as realStartGateway, type BoundListener } from '../gateway.js';
import { createLogger, type Logger } from '../observability/logger.js';
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
  /** Re-reads TLS certificates and keys; called on SIGHUP. */
  reloadTls?(): void;
  close(): Promise<void>;
}

export interface ServeDeps {
  readonly startGateway: (config: GatewayConfig, logger: Logger) => Promise<ServedGateway>;
  readonly stderr: NodeJS.WritableStream;
  readonly exit: (code: number) => void;
  /** Registers signal handlers; returns a function that removes them. */
  readonly onSignals: (signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Registers the handler for an exception or rejection nothing else caught (a bug, not a user error). */
  readonly onCrash: (handler: (err: unknown) => void) => void;
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
  const config = loaded.config;
  const logger = createLogger(config.logging);
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
    },
    'starting',
  );

  let gateway: ServedGateway;
  try {
    gateway = await deps.startGateway(config, logger);
  } catch (err) {
    const line = describeStartError(err);
    say(line);
    if (line.startsWith('failed to start:')) logger.fatal({ err }, 'failed to start');
    deps.exit(1);
    return;
  }

  const admin = gateway.admin ?? null;
  logger.info(
    {
      listeners: gateway.listeners.map((l) => ({ url: l.url, address: formatHostPort(l.host, l.port) })),
      admin: admin === null ? null : formatHostPort(admin.host, admin.port),
    },
    `serving on ${gateway.listeners.map((l) => formatHostPort(l.host, l.port)).join(', ')}`,
  );

  const running = gateway;
  deps.onSignals(['SIGHUP'], () => {
    // SIGHUP would otherwise kill the process; here it means "certificates were renewed".
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
  const removeHandlers = deps.onSignals(['SIGINT', 'SIGTERM'], (signal) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for shutdown');
      deps.exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'signal received, closing');
    const safety = setTimeout(() => {
      logger.error({ waitedMs: config.shutdownGraceMs + CLOSE_SAFETY_MARGIN_MS }, 'shutdown did not finish; exiting');
      deps.exit(1);
    }, config.shutdownGraceMs + CLOSE_SAFETY_MARGIN_MS);
    safety.unref();
    running.close().then(
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
  });
}

/** One line for the operator; the system error codes that are user mistakes get a plain explanation. */
export function describeStartError(err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; address?: unknown; port?: unknown; message?: unknown };
  const where =
    typeof e.address === 'string' && typeof e.port === 'number' ? formatHostPort(e.address, e.port) : undefined;
  const at = where !== undefined ? ` ${where}` : '';
  switch (e.code) {
    case 'EADDRINUSE':
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
