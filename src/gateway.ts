// SPDX-License-Identifier: MIT
/** The composition root: the only module that knows every room. (Being built; see issue 2.) */
import type { GatewayConfig } from './config/types.js';
import type { Logger } from './observability/logger.js';

export interface BoundListener {
  readonly url: string;
  readonly host: string;
  /** The real port, also when the config asked for port 0. */
  readonly port: number;
}

export interface RunningGateway {
  readonly listeners: readonly BoundListener[];
  /** Stops accepting, lets in-flight requests finish for up to shutdownGraceMs, then closes everything. */
  close(): Promise<void>;
}

export async function startGateway(_config: GatewayConfig, _logger: Logger): Promise<RunningGateway> {
  throw new Error('not built yet');
}
