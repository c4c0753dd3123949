// SPDX-License-Identifier: MIT
/**
 * Structured JSON logging. Every connection-scoped logger is a child carrying
 * the peer (client address or upstream name), so any line can be traced to it.
 */
import { pino, type Logger } from 'pino';
import type { LoggingConfig } from '../config/types.js';

export type { Logger };

export function createLogger(config: LoggingConfig, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      name: 'electrum-gateway',
      level: config.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? process.stdout,
  );
}
