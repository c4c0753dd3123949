// SPDX-License-Identifier: MIT
/**
 * Structured JSON logging. Every connection-scoped logger is a child carrying
 * the peer (client address or upstream name), so any line can be traced to it.
 *
 * The level can change at run time (POST /log-level, a reload). pino copies a
 * parent's level into each child when the child is made, so setting the
 * root's level would miss the children already made for open sessions and
 * upstreams. Instead pino itself lets everything through and one shared
 * threshold, checked in the logMethod hook before anything is serialized,
 * decides: changing it reaches every child at once.
 */
import { pino, type Logger } from 'pino';
import type { LoggingConfig } from '../config/types.js';

export type { Logger };
export type LogLevel = LoggingConfig['level'];

interface Threshold {
  value: number;
  name: LogLevel;
}

/** Each root logger made here -> the threshold it and its children obey. */
const thresholds = new WeakMap<object, Threshold>();

/** pino makes a child with Object.create(parent), so a child's root is on its prototype chain. */
function thresholdOf(logger: Logger): Threshold | undefined {
  for (let o: object | null = logger; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const t = thresholds.get(o);
    if (t !== undefined) return t;
  }
  return undefined;
}

function levelValue(level: LogLevel): number {
  return level === 'silent' ? Infinity : pino.levels.values[level]!;
}

export function createLogger(config: LoggingConfig, destination?: NodeJS.WritableStream): Logger {
  const threshold: Threshold = { value: levelValue(config.level), name: config.level };
  const logger = pino(
    {
      name: 'electrum-gateway',
      level: 'trace',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method, level) {
          if (level < threshold.value) return;
          method.apply(this, args);
        },
      },
    },
    destination ?? process.stdout,
  );
  thresholds.set(logger, threshold);
  return logger;
}

/** Changes the level of the logger, its parent's family and every child (see above); a logger made elsewhere gets pino's own level. */
export function setLogLevel(logger: Logger, level: LogLevel): void {
  const threshold = thresholdOf(logger);
  if (threshold === undefined) {
    logger.level = level;
    return;
  }
  threshold.value = levelValue(level);
  threshold.name = level;
}

/** The level in force (what setLogLevel last set). */
export function logLevelOf(logger: Logger): LogLevel {
  return thresholdOf(logger)?.name ?? (logger.level as LogLevel);
}

/**
 * Whether a line at `level` would be written. Callers on hot or per-connection paths ask first,
 * so a line that is not written costs no child logger and no object of fields.
 */
export function logEnabled(logger: Logger, level: Exclude<LogLevel, 'silent'>): boolean {
  const threshold = thresholdOf(logger);
  if (threshold === undefined) return logger.isLevelEnabled(level);
  return pino.levels.values[level]! >= threshold.value;
}
