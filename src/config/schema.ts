// SPDX-License-Identifier: MIT
/**
 * The zod schema of proxy.yaml: snake_case keys as written in the file, every
 * object strict (an unknown key, typo included, is an error), defaults from
 * config/defaults.ts. Endpoint strings are parsed here so their errors carry
 * the path of the offending entry. config/load.ts turns the output into the
 * camelCase GatewayConfig and runs the checks that span several keys.
 */
import { z } from 'zod';
import { NETWORK_NAMES } from './networks.js';
import {
  DEFAULT_ADMIN,
  DEFAULT_BANNER,
  DEFAULT_DONATION_ADDRESS,
  DEFAULT_LISTEN,
  DEFAULT_LOG_LEVEL,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_NETWORK,
  DEFAULT_REDIS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_NO_UPSTREAM_WAIT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_WORKERS,
  MAX_WORKERS,
  LOG_LEVELS,
  MAX_MAX_LINE_BYTES,
  MAX_REQUEST_TIMEOUT_MS,
  MAX_SHUTDOWN_GRACE_MS,
  DEFAULT_DRAIN_MS,
  MAX_DRAIN_MS,
  MIN_MAX_LINE_BYTES,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_SESSIONS_PER_GROUP,
  DEFAULT_MAX_BATCH,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_UNSENT_BYTES,
  DEFAULT_MAX_UNSENT_BYTES_TOTAL,
  DEFAULT_GROUP_PREFIX_IPV4,
  DEFAULT_GROUP_PREFIX_IPV6,
  DEFAULT_COST_SOFT_LIMIT,
  DEFAULT_COST_HARD_LIMIT,
  DEFAULT_BANDWIDTH_UNIT_BYTES,
  DEFAULT_COST_DECAY_PER_SECOND,
  DEFAULT_ERROR_COST,
DEFAULT_MAX_DELAY_MS,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS,
  DEFAULT_MAX_LAG_BLOCKS,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_QUARANTINE_MS,
  DEFAULT_MAX_REORG_DEPTH,
  DEFAULT_RESUBSCRIBE_CONCURRENCY,
  DEFAULT_RESUBSCRIBE_PER_SECOND,
  DEFAULT_CHECKPOINTS,
  DEFAULT_CACHE_MIN_DEPTH,
  DEFAULT_CACHE_MEMORY_BYTES,
  DEFAULT_CACHE_REDIS_TIMEOUT_MS,
  DEFAULT_CACHE_PER_TIP_TTL_MS,
  DEFAULT_DISCOVERY_ENABLED,
  DEFAULT_TOR_PROXY,
  DEFAULT_VERIFY_TIMEOUT_MS,
  DEFAULT_VERIFY_CONCURRENCY,
  DEFAULT_MAX_PEERS,
} from './defaults.js';
import { parseHostPort, parseListenUrl, parseRedisUrl, parseUpstreamUrl, UrlError } from './urls.js';

/** Wraps a parser that throws UrlError as a zod transform that reports a custom issue. */
function parsedString<T>(parse: (text: string) => T, typeError: string) {
  return z.string({ error: (issue) => (issue.input === undefined ? 'is required' : typeError) }).transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (err) {
      if (!(err instanceof UrlError)) throw err;
      ctx.issues.push({ code: 'custom', message: err.message, input: text });
      return z.NEVER;
    }
  });
}

/**
 * A section (mapping) whose keys are all optional. `section:` with nothing
 * under it (every child commented out) reads as null in YAML; that means
 * "all defaults", not an error.
 */
function section<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}

function intIn(min: number, max: number) {
  return z.number().int().min(min).max(max);
}

const port = intIn(1, 65535);

export const listenUrlSchema = parsedString(parseListenUrl, 'expected a listener URL such as tcp://0.0.0.0:50001');

export const upstreamEntrySchema = z.preprocess(
  (value) => (typeof value === 'string' ? { url: value } : value),
  z.strictObject(
    {
      url: parsedString(parseUpstreamUrl, 'expected an upstream URL such as tcp://electrum.example.com:50001'),
      name: z.string().trim().min(1).max(100).optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type' ? 'expected an upstream URL string or a mapping with url (and optional name)' : undefined,
    },
  ),
);

const redisSchema = parsedString(parseRedisUrl, 'expected a redis:// URL, or null for the in-memory cache only').nullable();
const adminSchema = parsedString(parseHostPort, 'expected HOST:PORT such as 127.0.0.1:8080, or null to disable').nullable();

const hostPortsSchema = z.strictObject(
  {
    tcp_port: port.optional(),
    ssl_port: port.optional(),
    ws_port: port.optional(),
    wss_port: port.optional(),
  },
  {
    error: (issue) =>
      issue.code === 'invalid_type' ? 'expected a mapping of tcp_port / ssl_port / ws_port / wss_port' : undefined,
  },
);

export const serverSchema = z.strictObject({
  banner: z.string().default(DEFAULT_BANNER),
  banner_file: z.string().trim().min(1).nullable().default(null),
  donation_address: z.string().trim().default(DEFAULT_DONATION_ADDRESS),
  hosts: z.record(z.string().trim().min(1), hostPortsSchema).default({}),
});

export const limitsSchema = z.strictObject({
  max_line_bytes: intIn(MIN_MAX_LINE_BYTES, MAX_MAX_LINE_BYTES).default(DEFAULT_MAX_LINE_BYTES),
  request_timeout_ms: intIn(1, MAX_REQUEST_TIMEOUT_MS).default(DEFAULT_REQUEST_TIMEOUT_MS),
  no_upstream_wait_ms: intIn(0, MAX_REQUEST_TIMEOUT_MS).default(DEFAULT_NO_UPSTREAM_WAIT_MS),
  max_sessions: intIn(1, 10_000_000).default(DEFAULT_MAX_SESSIONS),
  max_sessions_per_group: intIn(1, 10_000_000).default(DEFAULT_MAX_SESSIONS_PER_GROUP),
  max_batch: intIn(1, 100_000).default(DEFAULT_MAX_BATCH),
  idle_timeout_ms: intIn(1000, 86_400_000).default(DEFAULT_IDLE_TIMEOUT_MS),
  handshake_timeout_ms: intIn(100, 600_000).default(DEFAULT_HANDSHAKE_TIMEOUT_MS),
  max_unsent_bytes: intIn(65_536, 1_000_000_000).default(DEFAULT_MAX_UNSENT_BYTES),
  max_unsent_bytes_total: intIn(0, 1_000_000_000_000).default(DEFAULT_MAX_UNSENT_BYTES_TOTAL),
  group_prefix_ipv4: intIn(0, 32).default(DEFAULT_GROUP_PREFIX_IPV4),
  group_prefix_ipv6: intIn(0, 128).default(DEFAULT_GROUP_PREFIX_IPV6),
  max_response_bytes: intIn(350_000, 1_000_000_000).default(DEFAULT_MAX_RESPONSE_BYTES),
  max_subscriptions_per_session: intIn(1, 100_000_000).default(DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION),
  max_subscriptions: intIn(1, 1_000_000_000).default(DEFAULT_MAX_SUBSCRIPTIONS),
  exempt: z.array(z.string().trim().min(1)).default([]),
});

export const cacheSchema = z.strictObject({
  min_depth: intIn(1, 10_000).default(DEFAULT_CACHE_MIN_DEPTH),
  memory_bytes: intIn(0, 1_000_000_000_000).default(DEFAULT_CACHE_MEMORY_BYTES),
  redis_timeout_ms: intIn(1, 60_000).default(DEFAULT_CACHE_REDIS_TIMEOUT_MS),
  per_tip_ttl_ms: intIn(0, 3_600_000).default(DEFAULT_CACHE_PER_TIP_TTL_MS),
});

export const poolSchema = z.strictObject({
  max_lag_blocks: intIn(0, 1000).default(DEFAULT_MAX_LAG_BLOCKS),
  max_subscriptions_per_connection: intIn(1, 100_000_000).default(DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION),
  attempt_timeout_ms: intIn(100, 3_600_000).default(DEFAULT_ATTEMPT_TIMEOUT_MS),
  ping_interval_ms: intIn(1000, 3_600_000).default(DEFAULT_PING_INTERVAL_MS),
  quarantine_ms: intIn(0, 86_400_000).default(DEFAULT_QUARANTINE_MS),
  max_reorg_depth: intIn(1, 10_000).default(DEFAULT_MAX_REORG_DEPTH),
  resubscribe_concurrency: intIn(1, 100_000).default(DEFAULT_RESUBSCRIBE_CONCURRENCY),
  resubscribe_per_second: intIn(1, 1_000_000).default(DEFAULT_RESUBSCRIBE_PER_SECOND),
  socks: z.string().trim().min(1).nullable().default(null),
});

/** A block trusted without asking anyone: height, display-order hash, and its chainwork as hex (bitcoind's getblockheader "chainwork") when known. */
export const checkpointSchema = z.strictObject({
  height: intIn(0, 1_000_000_000),
  hash: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'expected a block hash: 64 hex digits, in display order')
    .transform((h) => h.toLowerCase()),
  // A string: YAML would read an unquoted 0x… as a number and lose its digits.
  chainwork: z
    .string({ error: 'expected the chainwork as a quoted hex string, e.g. "0x1f4" (as bitcoind prints it)' })
    .regex(/^(0x)?[0-9a-fA-F]{1,64}$/, 'expected the chainwork as a quoted hex string, e.g. "0x1f4" (as bitcoind prints it)')
    .nullable()
    .default(null),
});

export const chainSchema = z.strictObject({
  // null keeps the network's shipped checkpoints; a list replaces them (the newest is the anchor).
  checkpoints: z.array(checkpointSchema).min(1).nullable().default(DEFAULT_CHECKPOINTS),
});

export const costSchema = z
  .strictObject({
    soft_limit: z.number().min(0).default(DEFAULT_COST_SOFT_LIMIT),
    hard_limit: z.number().min(0).default(DEFAULT_COST_HARD_LIMIT),
    bandwidth_unit_bytes: intIn(1, 1_000_000_000).default(DEFAULT_BANDWIDTH_UNIT_BYTES),
    decay_per_second: z.number().min(0).default(DEFAULT_COST_DECAY_PER_SECOND),
    error_cost: z.number().min(0).default(DEFAULT_ERROR_COST),
    max_delay_ms: intIn(0, 600_000).default(DEFAULT_MAX_DELAY_MS),
    exempt: z.array(z.string().trim().min(1)).default([]),
    shared_fail_open: z.boolean().default(true),
  })
  .refine((c) => c.hard_limit === 0 || c.hard_limit > c.soft_limit, {
    message: 'hard_limit must be above soft_limit (or 0 to turn cost limits off)',
    path: ['hard_limit'],
  });

export const discoverySchema = z.strictObject({
  enabled: z.boolean().default(DEFAULT_DISCOVERY_ENABLED),
  peers_file: z.string().trim().min(1).nullable().default(null),
  // "auto", a socks5:// URL, or null for no Tor at all (.onion peers are then never tried).
  tor_proxy: z.string().trim().min(1).nullable().default(DEFAULT_TOR_PROXY),
  tor_banner: z.string().nullable().default(null),
  tor_banner_file: z.string().trim().min(1).nullable().default(null),
  join_pool: z.boolean().default(false),
  announce: z.boolean().default(true),
  allow_private: z.boolean().default(false),
  verify_concurrency: intIn(1, 64).default(DEFAULT_VERIFY_CONCURRENCY),
  verify_timeout_ms: intIn(100, 600_000).default(DEFAULT_VERIFY_TIMEOUT_MS),
  max_peers: intIn(1, 5000).default(DEFAULT_MAX_PEERS),
});

/** A number of worker processes, or "auto" for one per core. */
export const workersSchema = z.union([z.literal('auto'), intIn(1, MAX_WORKERS)], {
  error: () => `expected a whole number of worker processes from 1 to ${MAX_WORKERS}, or "auto" for one per core`,
});

export const loggingSchema = z.strictObject({
  level: z.enum(LOG_LEVELS as [string, ...string[]]).default(DEFAULT_LOG_LEVEL),
});

/** The whole file. The document may also be empty (all defaults). */
export const configFileSchema = z.strictObject({
  network: z.enum(NETWORK_NAMES).default(DEFAULT_NETWORK),
  listen: z.array(listenUrlSchema).min(1).default([...DEFAULT_LISTEN].map(parseListenUrl)),
  /** No default here: the default depends on the network (see config/load.ts). */
  upstreams: z.array(upstreamEntrySchema).min(1).optional(),
  redis: redisSchema.default(DEFAULT_REDIS === null ? null : parseRedisUrl(DEFAULT_REDIS)),
  admin: adminSchema.default(DEFAULT_ADMIN === null ? null : parseHostPort(DEFAULT_ADMIN)),
  server: section(serverSchema.prefault({})),
  limits: section(limitsSchema.prefault({})),
  cost: section(costSchema.prefault({})),
  pool: section(poolSchema.prefault({})),
  chain: section(chainSchema.prefault({})),
  cache: section(cacheSchema.prefault({})),
  logging: section(loggingSchema.prefault({})),
  discovery: section(discoverySchema.prefault({})),
  shutdown_grace_ms: intIn(0, MAX_SHUTDOWN_GRACE_MS).default(DEFAULT_SHUTDOWN_GRACE_MS),
  drain_ms: intIn(0, MAX_DRAIN_MS).default(DEFAULT_DRAIN_MS),
  admin_token: z.string().trim().min(16, 'admin_token must be at least 16 characters').nullable().default(null),
  // A file holding the token (a Kubernetes Secret volume, a Docker secret), so the token need not sit in proxy.yaml.
  admin_token_file: z.string().trim().min(1).nullable().default(null),
  workers: workersSchema.default(DEFAULT_WORKERS),
});

export type ConfigFileInput = z.input<typeof configFileSchema>;
export type ConfigFile = z.output<typeof configFileSchema>;

/**
 * The keys a mapping at `path` may hold, for "did you mean" hints on unknown
 * keys. Follows the schema through wrappers (default, optional, preprocess…),
 * arrays (numeric path segments) and records (any key). Returns null when the
 * path does not lead to a fixed-key object.
 */
export function allowedKeysAt(path: readonly PropertyKey[], schema: z.ZodType = configFileSchema): string[] | null {
  let node: z.ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (node === undefined) return null;
    const def = node.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'object' && typeof segment === 'string') {
      node = (def['shape'] as Record<string, z.ZodType>)[segment];
    } else if (def.type === 'array' && typeof segment === 'number') {
      node = def['element'] as z.ZodType;
    } else if (def.type === 'record') {
      node = def['valueType'] as z.ZodType;
    } else {
      return null;
    }
    node = node === undefined ? undefined : unwrap(node);
  }
  if (node === undefined) return null;
  const def = node.def as unknown as { type: string; shape?: Record<string, unknown> };
  return def.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : null;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let node = schema;
  for (;;) {
    const def = node.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') {
      node = def['innerType'] as z.ZodType;
    } else if (def.type === 'pipe') {
      // preprocess = pipe(transform, schema); .transform() = pipe(schema, transform)
      const input = def['in'] as z.ZodType;
      const output = def['out'] as z.ZodType;
      node = (input.def as { type: string }).type === 'transform' ? output : input;
    } else {
      return node;
    }
  }
}
