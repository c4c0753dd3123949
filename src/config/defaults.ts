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
/**
 * How long a request waits for an upstream to come up when none can answer it now. Past
 * it (or at once, when no upstream could come up that soon) the wallet gets an error and,
 * as with an unreachable ElectrumX, tries another server instead of hanging.
 */
export const DEFAULT_NO_UPSTREAM_WAIT_MS = 3_000;

/** Sessions the whole gateway accepts; ElectrumX's MAX_SESSIONS is 1000 for one server, a gateway fronts many. */
export const DEFAULT_MAX_SESSIONS = 10_000;
/** Sessions one subnet group may hold; more connections from one network buy nothing. */
export const DEFAULT_MAX_SESSIONS_PER_GROUP = 200;
/** Items in one batch; Fulcrum's max_batch. */
export const DEFAULT_MAX_BATCH = 345;
/** ElectrumX SESSION_TIMEOUT and Fulcrum's idle timeout: 10 minutes without a request. */
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/** A TLS handshake not finished by then is cut; until it finishes the client holds no session seat. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Fulcrum's max_buffer: a client that lets this much output pile up is not reading. */
export const DEFAULT_MAX_UNSENT_BYTES = 8_000_000;
/**
 * Unsent output of all sessions together: 256 MiB. Well-behaved wallets hold
 * next to none (answers leave within a turn), so this is what slow readers may
 * pile up in all: 32 sessions at max_unsent_bytes, an eighth of a 2 GB host,
 * far below what makes the process swap or meet the OOM killer.
 */
export const DEFAULT_MAX_UNSENT_BYTES_TOTAL = 268_435_456;
/** ElectrumX SESSION_GROUP_BY_SUBNET_IPV4 / _IPV6. */
export const DEFAULT_GROUP_PREFIX_IPV4 = 24;
export const DEFAULT_GROUP_PREFIX_IPV6 = 48;

/** ElectrumX's COST_SOFT_LIMIT, COST_HARD_LIMIT, BANDWIDTH_UNIT_COST and REQUEST_SLEEP; decay of 1 unit/s is its default. */
export const DEFAULT_COST_SOFT_LIMIT = 1000;
export const DEFAULT_COST_HARD_LIMIT = 10_000;
export const DEFAULT_BANDWIDTH_UNIT_BYTES = 5000;
export const DEFAULT_COST_DECAY_PER_SECOND = 1;
export const DEFAULT_ERROR_COST = 100;
export const DEFAULT_MAX_DELAY_MS = 2500;

/** ElectrumX's MAX_SEND: the largest answer (or batch of answers) sent to one client. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8_100_000;

/** Fulcrum's max_subs_per_ip and max_subs: a wallet rarely needs more than a few thousand. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION = 75_000;
export const DEFAULT_MAX_SUBSCRIPTIONS = 10_000_000;

/** Blocks an upstream may trail the best tip and still get scripthash and broadcast traffic. */
export const DEFAULT_MAX_LAG_BLOCKS = 1;
/** Upstream subscriptions per upstream connection: two connections stay under Fulcrum's 75,000 per IP. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 25_000;
/** One try at one upstream; the wallet's request_timeout_ms bounds all tries together. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;
export const DEFAULT_PING_INTERVAL_MS = 60_000;
/** How long an upstream that sent an invalid header or proof stays out of rotation. */
export const DEFAULT_QUARANTINE_MS = 600_000;
/** Deepest reorg followed; Fulcrum's max_reorg is 100. */
export const DEFAULT_MAX_REORG_DEPTH = 100;
/**
 * Subscriptions moved off a lost upstream at once, and per second: 25,000 (one connection's
 * worth) move in about 12 s without arriving at the next server as one flood of requests.
 */
export const DEFAULT_RESUBSCRIBE_CONCURRENCY = 100;
export const DEFAULT_RESUBSCRIBE_PER_SECOND = 2000;
/** chain.checkpoints: null keeps the checkpoints shipped for the network (config/networks.ts). */
export const DEFAULT_CHECKPOINTS = null;

/** Blocks below the tip before an answer about a block may be cached; 6 is the usual finality rule of thumb. */
export const DEFAULT_CACHE_MIN_DEPTH = 6;
/** The in-process cache's size: every 2016-header chunk is 161 KB, so 64 MB holds the headers of ~800,000 blocks. */
export const DEFAULT_CACHE_MEMORY_BYTES = 64 * 1024 * 1024;
/** A Redis call slower than this is skipped: the upstream answers instead. */
export const DEFAULT_CACHE_REDIS_TIMEOUT_MS = 50;
/** Fee answers are reused until the next block or this long, whichever comes first. */
export const DEFAULT_CACHE_PER_TIP_TTL_MS = 30_000;

export const DEFAULT_LOG_LEVEL: LoggingConfig['level'] = 'info';
export const LOG_LEVELS: readonly LoggingConfig['level'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
/**
 * After SIGTERM, sessions keep being served this long (readiness already failing) so a load
 * balancer can stop sending new clients and wallets can finish what they were doing.
 */
export const DEFAULT_DRAIN_MS = 10_000;
export const MAX_DRAIN_MS = 600_000;

/**
 * One process: a single gateway holds one upstream subscription per
 * scripthash and one cache; each extra worker (Node cluster) has its own.
 * "auto" means one worker per core (os.availableParallelism()).
 */
export const DEFAULT_WORKERS: number | 'auto' = 1;
export const MAX_WORKERS = 256;
export const MAX_SHUTDOWN_GRACE_MS = 600_000;

/**
 * Peer discovery (docs/peers.md). Off by default: turned on, the gateway
 * connects out to the servers its upstreams gossip about and reports the ones
 * it verified to wallets, which an operator should choose knowingly.
 */
export const DEFAULT_DISCOVERY_ENABLED = false;
/** "auto" tries a SOCKS5 proxy at 127.0.0.1:9050, then 127.0.0.1:9150 (Tor, Tor Browser), again every hour. */
export const DEFAULT_TOR_PROXY = 'auto';
/** ElectrumX's peer sessions wait 30 s for an answer (120 s over Tor). */
export const DEFAULT_VERIFY_TIMEOUT_MS = 30_000;
export const DEFAULT_VERIFY_CONCURRENCY = 4;
export const DEFAULT_MAX_PEERS = 1000;
