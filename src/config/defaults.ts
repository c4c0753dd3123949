// SPDX-License-Identifier: MIT
/**
 * The built-in defaults. proxy.yaml at the repository root spells out exactly
 * these values (a unit test loads it and compares), so running `serve` with no
 * config file and running it with the shipped proxy.yaml are the same thing.
 */
import type { NetworkName } from './networks.js';
import type { LoggingConfig } from './types.js';

export const DEFAULT_NETWORK: NetworkName = 'bitcoin';

/** Electrum's conventional plain-TCP port on all interfaces, like ElectrumX and Fulcrum. */
export const DEFAULT_LISTEN: readonly string[] = ['tcp://0.0.0.0:50001'];

/**
 * Long-running public bitcoin mainnet servers that also appear in Electrum's
 * own servers.json, over plain TCP so no certificate handling is needed for a
 * first run. Only used when the network is bitcoin and no upstream is given;
 * real deployments list their own servers.
 */
export const DEFAULT_BITCOIN_UPSTREAMS: readonly string[] = [
  'tcp://electrum.blockstream.info:50001',
  'tcp://electrum.emzy.de:50001',
  'tcp://electrum.bitaroo.net:50001',
];

/** Off by default: a single instance runs fine on its in-process cache. */
export const DEFAULT_REDIS: string | null = null;

/**
 * Loopback only: /status names the upstreams and /metrics is not meant for
 * the public. Containers that are scraped from outside set 0.0.0.0:8080.
 */
export const DEFAULT_ADMIN: string | null = '127.0.0.1:8080';

/** ElectrumX's wording; $SERVER_VERSION is substituted when the banner is served. */
export const DEFAULT_BANNER = 'You are connected to an electrum-gateway $SERVER_VERSION server.';
export const DEFAULT_DONATION_ADDRESS = '';

/** ElectrumX MAX_RECV: the longest request line accepted. */
export const DEFAULT_MAX_LINE_BYTES = 1_000_000;
export const MIN_MAX_LINE_BYTES = 1024;
export const MAX_MAX_LINE_BYTES = 100_000_000;

/** ElectrumX REQUEST_TIMEOUT and Fulcrum bitcoind_timeout are both 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const MAX_REQUEST_TIMEOUT_MS = 3_600_000;

export const DEFAULT_LOG_LEVEL: LoggingConfig['level'] = 'info';
export const LOG_LEVELS: readonly LoggingConfig['level'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
export const MAX_SHUTDOWN_GRACE_MS = 600_000;
