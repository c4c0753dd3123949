// SPDX-License-Identifier: MIT
/**
 * proxy.yaml -> GatewayConfig.
 *
 * 1. The YAML text is parsed with node ranges kept, so every problem can be
 *    pointed at by line:column.
 * 2. Command-line overrides replace the keys they name (a flag always wins
 *    over the file; a repeatable flag replaces the whole list).
 * 3. The result is validated by the zod schema (config/schema.ts), which
 *    applies the defaults.
 * 4. Checks that span several keys run last (duplicate names and addresses,
 *    upstreams required off bitcoin mainnet, banner file readable).
 *
 * Nothing throws for a user mistake: the result is either a config or the
 * complete list of problems, each with where it came from.
 */
import { parseListenerOptions } from '../frontend/listener-options.js';
import { parseSocksUrl, parseUpstreamOptions } from '../upstream/definitions.js';
import { blockList, isLoopbackHost } from './cidr.js';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { DEFAULT_BITCOIN_UPSTREAMS } from './defaults.js';
import { NETWORKS, type Checkpoint, type Network } from './networks.js';
import { allowedKeysAt, configFileSchema, type ConfigFile } from './schema.js';
import type { GatewayConfig, ListenerConfig, LoggingConfig, ServerIdentityConfig, UpstreamConfig } from './types.js';
import { formatHostPort, parseUpstreamUrl } from './urls.js';

/** One thing wrong with the configuration. */
export interface ConfigProblem {
  /** Where the bad value came from: the config file's path, or a flag such as "--listen". */
  readonly source: string;
  /** Key path in the file, e.g. "upstreams[1].url"; "" for the document as a whole. */
  readonly path: string;
  /** 1-based position in the file, when the value came from the file and the place is known. */
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/** Values given on the command line; each replaces the corresponding key of the file. */
export interface CliOverrides {
  readonly listen?: readonly string[];
  readonly upstreams?: readonly string[];
  readonly network?: string;
  /** A redis:// URL, or null to force the in-memory cache. */
  readonly redis?: string | null;
  /** HOST:PORT, or null to disable the admin listener. */
  readonly admin?: string | null;
  readonly logLevel?: string;
  /** Milliseconds (--drain-ms). */
  readonly drainMs?: number | string;
  /** A number of worker processes or "auto" (--workers). */
  readonly workers?: number | 'auto' | string;
}

export type LoadResult =
  | { readonly ok: true; readonly config: GatewayConfig; readonly problems: readonly [] }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export interface LoadOptions {
  /** Path of proxy.yaml; null or absent runs on the built-in defaults plus overrides. */
  readonly file?: string | null;
  readonly overrides?: CliOverrides;
  /** Relative paths (the file itself, banner_file without a file) resolve against this; default process.cwd(). */
  readonly cwd?: string;
}

export interface ParseOptions {
  /** Name used in problem reports, normally the file path. */
  readonly source: string;
  /** Directory that relative paths inside the config (banner_file) resolve against. */
  readonly baseDir: string;
  readonly overrides?: CliOverrides;
}

/** Thrown by loadConfigOrThrow; `message` lists every problem, one per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

/** Reads and validates a config file (or none), applying CLI overrides. */
export function loadConfig(options: LoadOptions = {}): LoadResult {
  const cwd = options.cwd ?? process.cwd();
  const overrides = options.overrides ?? {};
  if (options.file === undefined || options.file === null) {
    return parseConfigText('', { source: '<built-in defaults>', baseDir: cwd, overrides });
  }
  const file = options.file;
  const fullPath = isAbsolute(file) ? file : resolvePath(cwd, file);
  let text: string;
  try {
    if (statSync(fullPath).isDirectory()) {
      return failure([{ source: file, path: '', message: 'is a directory, not a config file' }]);
    }
    text = readFileSync(fullPath, 'utf8');
  } catch (err) {
    return failure([{ source: file, path: '', message: `cannot read the config file: ${describeFsError(err)}` }]);
  }
  return parseConfigText(text, { source: file, baseDir: dirname(fullPath), overrides });
}

/** loadConfig, throwing ConfigError instead of returning problems. */
export function loadConfigOrThrow(options: LoadOptions = {}): GatewayConfig {
  const result = loadConfig(options);
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config;
}

/** The configuration `serve` runs on with no file and no flags; equal to what proxy.yaml spells out. */
export function defaultConfig(): GatewayConfig {
  return loadConfigOrThrow({});
}

/** "proxy.yaml:12:5: upstreams[1].url: missing port …" — the compiler-style one-line form. */
export function formatProblem(problem: ConfigProblem): string {
  const where =
    problem.line !== undefined ? `${problem.source}:${problem.line}:${problem.column ?? 1}` : problem.source;
  const path = problem.path === '' ? '' : `${problem.path}: `;
  return `${where}: ${path}${problem.message}`;
}

/** Validates config text; `source` names it in problem reports. Pure apart from checking banner_file. */
export function parseConfigText(text: string, options: ParseOptions): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const located: LocatedContext = { doc, lineCounter, source: options.source, flags: [] };

  if (doc.errors.length > 0) {
    return failure(
      doc.errors.map((err) => {
        const pos = err.linePos?.[0];
        return {
          source: options.source,
          path: '',
          ...(pos !== undefined ? { line: pos.line, column: pos.col } : {}),
          message: `YAML syntax: ${firstLine(err.message).replace(/ at line \d+, column \d+:?$/, '')}`,
        };
      }),
    );
  }

  let raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) raw = {};
  if (!isPlainObject(raw)) {
    return failure([
      problemAt(located, [], `the top level must be a mapping of keys (network:, listen:, …), got ${describeValue(raw)}`),
    ]);
  }

  const input: Record<string, unknown> = { ...raw };
  applyOverrides(input, options.overrides ?? {}, located.flags);

  const parsed = configFileSchema.safeParse(input, { error: errorMap });
  if (!parsed.success) {
    return failure(sortProblems(parsed.error.issues.flatMap((issue) => problemsFromIssue(located, issue))));
  }

  const problems: ConfigProblem[] = [];
  const config = toGatewayConfig(parsed.data, options.baseDir, located, problems);
  if (problems.length > 0) return failure(sortProblems(problems));
  return { ok: true, config, problems: [] };
}

// ---------------------------------------------------------------------------
// overrides

interface FlagOrigin {
  readonly path: readonly PropertyKey[];
  readonly flag: string;
}

function applyOverrides(input: Record<string, unknown>, overrides: CliOverrides, flags: FlagOrigin[]): void {
  if (overrides.network !== undefined) {
    input['network'] = overrides.network;
    flags.push({ path: ['network'], flag: '--network' });
  }
  if (overrides.listen !== undefined && overrides.listen.length > 0) {
    input['listen'] = [...overrides.listen];
    flags.push({ path: ['listen'], flag: '--listen' });
  }
  if (overrides.upstreams !== undefined && overrides.upstreams.length > 0) {
    input['upstreams'] = [...overrides.upstreams];
    flags.push({ path: ['upstreams'], flag: '--upstream' });
  }
  if (overrides.redis !== undefined) {
    input['redis'] = overrides.redis;
    flags.push({ path: ['redis'], flag: '--redis' });
  }
  if (overrides.admin !== undefined) {
    input['admin'] = overrides.admin;
    flags.push({ path: ['admin'], flag: '--admin' });
  }
  if (overrides.drainMs !== undefined) {
    const d = overrides.drainMs;
    input['drain_ms'] = typeof d === 'string' && /^\d+$/.test(d.trim()) ? Number(d.trim()) : d;
    flags.push({ path: ['drain_ms'], flag: '--drain-ms' });
  }
  if (overrides.workers !== undefined) {
    const w = overrides.workers;
    input['workers'] = typeof w === 'string' && /^\d+$/.test(w.trim()) ? Number(w.trim()) : w;
    flags.push({ path: ['workers'], flag: '--workers' });
  }
  if (overrides.logLevel !== undefined) {
    const logging = input['logging'];
    // A malformed logging: section in the file is still reported as such.
    if (logging === undefined || logging === null || isPlainObject(logging)) {
      input['logging'] = { ...(isPlainObject(logging) ? logging : {}), level: overrides.logLevel };
      flags.push({ path: ['logging', 'level'], flag: '--log-level' });
    }
  }
}

// ---------------------------------------------------------------------------
// GatewayConfig assembly and cross-key checks

/**
 * chain.checkpoints replaces the network's shipped checkpoints, lowest first
 * (the tracker anchors on the newest). Chainwork is hex, as bitcoind prints it.
 */
function withCheckpoints(network: Network, checkpoints: ConfigFile['chain']['checkpoints']): Network {
  if (checkpoints === null) return network;
  const list: Checkpoint[] = [...checkpoints]
    .sort((a, b) => a.height - b.height)
    .map((c) => ({ height: c.height, hash: c.hash, chainwork: c.chainwork === null ? null : BigInt(c.chainwork.startsWith('0x') ? c.chainwork : `0x${c.chainwork}`) }));
  return { ...network, checkpoints: list };
}

function toGatewayConfig(
  file: ConfigFile,
  baseDir: string,
  ctx: LocatedContext,
  problems: ConfigProblem[],
): GatewayConfig {
  const network = withCheckpoints(NETWORKS[file.network], file.chain.checkpoints);

  const listen: ListenerConfig[] = file.listen.map((l) => ({
    url: l.url,
    scheme: l.scheme,
    host: l.host,
    port: l.port,
    path: l.path,
    options: l.options,
  }));
  const seenAddresses = new Map<string, number>();
  listen.forEach((l, i) => {
    if (l.port === 0) return; // every port-0 listener gets its own free port
    const key = formatHostPort(l.host.toLowerCase(), l.port);
    const first = seenAddresses.get(key);
    if (first !== undefined) {
      problems.push(problemAt(ctx, ['listen', i], `${key} is already used by listen[${first}]`));
    } else {
      seenAddresses.set(key, i);
    }
  });

  let upstreamEntries = file.upstreams;
  if (upstreamEntries === undefined) {
    if (file.network === 'bitcoin') {
      upstreamEntries = DEFAULT_BITCOIN_UPSTREAMS.map((url) => ({ url: parseUpstreamUrl(url) }));
    } else {
      problems.push(
        problemAt(
          ctx,
          ['network'],
          `network ${file.network} needs upstreams (in the file or with --upstream): ` +
            'the built-in upstreams are public bitcoin mainnet servers',
        ),
      );
      upstreamEntries = [];
    }
  }
  const upstreams: UpstreamConfig[] = upstreamEntries.map((u) => ({
    name: u.name ?? formatHostPort(u.url.host, u.url.port),
    url: u.url.url,
    scheme: u.url.scheme,
    host: u.url.host,
    port: u.url.port,
    path: u.url.path,
    options: u.url.options,
  }));
  const seenNames = new Map<string, number>();
  upstreams.forEach((u, i) => {
    const first = seenNames.get(u.name);
    if (first !== undefined) {
      const explicit = upstreamEntries?.[i]?.name !== undefined;
      problems.push(
        problemAt(
          ctx,
          explicit ? ['upstreams', i, 'name'] : ['upstreams', i],
          `upstream name "${u.name}" is already used by upstreams[${first}]; ` +
            'names label logs and metrics, give each upstream a distinct name',
        ),
      );
    } else {
      seenNames.set(u.name, i);
    }
  });

  const adminToken = readAdminToken(file, baseDir, ctx, problems);
  if (file.admin !== null) {
    const key = formatHostPort(file.admin.host.toLowerCase(), file.admin.port);
    const clash = file.admin.port === 0 ? undefined : seenAddresses.get(key);
    if (clash !== undefined) problems.push(problemAt(ctx, ['admin'], `${key} is already used by listen[${clash}]`));
    if (file.admin_token === null && file.admin_token_file === null && !isLoopbackHost(file.admin.host)) {
      problems.push(
        problemAt(
          ctx,
          ['admin'],
          `${key} listens beyond loopback, where anyone who reaches it could disconnect wallets or reload the config; ` +
            'set admin_token or admin_token_file (clients then send "Authorization: Bearer TOKEN") or bind the admin listener to 127.0.0.1',
        ),
      );
    }
  }

  let bannerFile: string | null = null;
  if (file.server.banner_file !== null) {
    bannerFile = isAbsolute(file.server.banner_file)
      ? file.server.banner_file
      : resolvePath(baseDir, file.server.banner_file);
    try {
      if (!statSync(bannerFile).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      accessSync(bannerFile, fsConstants.R_OK);
    } catch (err) {
      problems.push(
        problemAt(ctx, ['server', 'banner_file'], `cannot read banner file ${bannerFile}: ${describeFsError(err)}`),
      );
    }
  }

  // Options ride on the URLs' query strings; check them here so check-config reports them with their place.
  listen.forEach((l, i) => {
    try {
      parseListenerOptions(l);
    } catch (err) {
      problems.push(problemAt(ctx, ['listen', i], (err as Error).message));
    }
  });
  if (file.pool.socks !== null) {
    try {
      parseSocksUrl(file.pool.socks);
    } catch (err) {
      problems.push(problemAt(ctx, ['pool', 'socks'], (err as Error).message));
    }
  }
  upstreams.forEach((u, i) => {
    try {
      parseUpstreamOptions(u.options ?? {});
    } catch (err) {
      problems.push(problemAt(ctx, ['upstreams', i], `${u.url}: ${(err as Error).message}`));
    }
  });
  // limits.exempt is the name operators of ElectrumX and Fulcrum look for; cost.exempt, the
  // first spelling, is still read so that existing files keep working. Both are checked.
  const exemptLists = [['limits', file.limits.exempt], ['cost', file.cost.exempt]] as const;
  for (const [section, list] of exemptLists) {
    list.forEach((cidr, i) => {
      try {
        blockList([cidr], `${section}.exempt`);
      } catch (err) {
        problems.push(problemAt(ctx, [section, 'exempt', i], (err as Error).message));
      }
    });
  }
  const exempt = [...new Set([...file.limits.exempt, ...file.cost.exempt])];

  const resolveFile = (value: string | null): string | null => {
    if (value === null) return null;
    return isAbsolute(value) ? value : resolvePath(baseDir, value);
  };
  const peersFile = resolveFile(file.discovery.peers_file);
  const torBannerFile = resolveFile(file.discovery.tor_banner_file);
  if (torBannerFile !== null) {
    try {
      if (!statSync(torBannerFile).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      accessSync(torBannerFile, fsConstants.R_OK);
    } catch (err) {
      problems.push(problemAt(ctx, ['discovery', 'tor_banner_file'], `cannot read Tor banner file ${torBannerFile}: ${describeFsError(err)}`));
    }
  }
  const torProxy = file.discovery.tor_proxy;
  if (torProxy !== null && torProxy !== 'auto') {
    try {
      if (parseSocksUrl(torProxy).version !== 5) throw new Error('Tor speaks SOCKS5: use socks5://HOST:PORT');
    } catch (err) {
      problems.push(problemAt(ctx, ['discovery', 'tor_proxy'], `${(err as Error).message} (or "auto", or null for no Tor)`));
    }
  }

  const server: ServerIdentityConfig = {
    banner: file.server.banner,
    bannerFile,
    donationAddress: file.server.donation_address,
    hosts: Object.fromEntries(
      Object.entries(file.server.hosts).map(([host, ports]) => [
        host,
        Object.fromEntries(Object.entries(ports).filter(([, v]) => v !== undefined)),
      ]),
    ),
  };

  return {
    network,
    listen,
    upstreams,
    redis: file.redis,
    admin: file.admin,
    server,
    limits: {
      maxLineBytes: file.limits.max_line_bytes,
      requestTimeoutMs: file.limits.request_timeout_ms,
      noUpstreamWaitMs: file.limits.no_upstream_wait_ms,
      maxSessions: file.limits.max_sessions,
      maxSessionsPerGroup: file.limits.max_sessions_per_group,
      maxBatch: file.limits.max_batch,
      idleTimeoutMs: file.limits.idle_timeout_ms,
      handshakeTimeoutMs: file.limits.handshake_timeout_ms,
      maxUnsentBytes: file.limits.max_unsent_bytes,
      maxUnsentBytesTotal: file.limits.max_unsent_bytes_total,
      groupPrefixIpv4: file.limits.group_prefix_ipv4,
      groupPrefixIpv6: file.limits.group_prefix_ipv6,
      maxResponseBytes: file.limits.max_response_bytes,
      maxSubscriptionsPerSession: file.limits.max_subscriptions_per_session,
      maxSubscriptions: file.limits.max_subscriptions,
      exempt,
    },
    cache: {
      minDepth: file.cache.min_depth,
      memoryBytes: file.cache.memory_bytes,
      redisTimeoutMs: file.cache.redis_timeout_ms,
      perTipTtlMs: file.cache.per_tip_ttl_ms,
    },
    pool: {
      maxLagBlocks: file.pool.max_lag_blocks,
      maxSubscriptionsPerConnection: file.pool.max_subscriptions_per_connection,
      attemptTimeoutMs: file.pool.attempt_timeout_ms,
      pingIntervalMs: file.pool.ping_interval_ms,
      quarantineMs: file.pool.quarantine_ms,
      maxReorgDepth: file.pool.max_reorg_depth,
      resubscribeConcurrency: file.pool.resubscribe_concurrency,
      resubscribePerSecond: file.pool.resubscribe_per_second,
      socks: file.pool.socks,
    },
    cost: {
      softLimit: file.cost.soft_limit,
      hardLimit: file.cost.hard_limit,
      bandwidthUnitBytes: file.cost.bandwidth_unit_bytes,
      decayPerSecond: file.cost.decay_per_second,
      errorCost: file.cost.error_cost,
      maxDelayMs: file.cost.max_delay_ms,
      sharedFailOpen: file.cost.shared_fail_open,
    },
    logging: { level: file.logging.level as LoggingConfig['level'] },
    discovery: {
      enabled: file.discovery.enabled,
      peersFile,
      torProxy,
      torBanner: file.discovery.tor_banner,
      torBannerFile,
      joinPool: file.discovery.join_pool,
      announce: file.discovery.announce,
      allowPrivate: file.discovery.allow_private,
      verifyConcurrency: file.discovery.verify_concurrency,
      verifyTimeoutMs: file.discovery.verify_timeout_ms,
      maxPeers: file.discovery.max_peers,
    },
    shutdownGraceMs: file.shutdown_grace_ms,
    drainMs: file.drain_ms,
    adminToken,
    workers: file.workers,
  };
}

// ---------------------------------------------------------------------------
// issues -> problems with locations

interface LocatedContext {
  readonly doc: Document;
  readonly lineCounter: LineCounter;
  readonly source: string;
  readonly flags: FlagOrigin[];
}

type Issue = z.core.$ZodIssue;

function problemsFromIssue(ctx: LocatedContext, issue: Issue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(issue.path) ?? [];
    return issue.keys.map((key) => {
      const suggestion = closest(key, allowed);
      const hint =
        suggestion !== undefined
          ? ` (did you mean "${suggestion}"?)`
          : allowed.length > 0
            ? ` (allowed here: ${allowed.join(', ')})`
            : '';
      return problemAt(ctx, [...issue.path, key], `unknown key "${key}"${hint}`, true);
    });
  }
  return [problemAt(ctx, issue.path, issue.message)];
}

/** Builds a problem for `path`, attributing it to a flag when a flag supplied that value. */
function problemAt(ctx: LocatedContext, path: readonly PropertyKey[], message: string, atKey = false): ConfigProblem {
  const flag = ctx.flags.find((f) => f.path.every((seg, i) => path[i] === seg));
  if (flag !== undefined) {
    return { source: flag.flag, path: '', message };
  }
  const where = locate(ctx.doc, path, atKey);
  const pos = where.offset === undefined ? undefined : ctx.lineCounter.linePos(where.offset);
  return {
    source: ctx.source,
    path: formatPath(path.slice(0, where.displayDepth)),
    ...(pos !== undefined ? { line: pos.line, column: pos.col } : {}),
    message,
  };
}

/**
 * Finds the node `path` names. When the path leaves the document (a missing
 * key), the deepest existing node is used; when it runs into a scalar (a plain
 * URL string standing for {url: …}), the shown path stops at that scalar.
 */
function locate(
  doc: Document,
  path: readonly PropertyKey[],
  atKey: boolean,
): { offset: number | undefined; displayDepth: number } {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (let depth = 0; depth < path.length; depth++) {
    const segment = path[depth];
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(segment));
      if (pair === undefined) return { offset, displayDepth: path.length };
      const keyOffset = rangeStart(pair.key);
      const last = depth === path.length - 1;
      if (last && atKey) return { offset: keyOffset ?? offset, displayDepth: path.length };
      node = pair.value;
      offset = rangeStart(node) ?? keyOffset ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) return { offset, displayDepth: path.length };
      node = item;
      offset = rangeStart(item) ?? offset;
    } else if (isScalar(node)) {
      return { offset, displayDepth: depth };
    } else {
      return { offset, displayDepth: path.length };
    }
  }
  return { offset, displayDepth: path.length };
}

function rangeStart(node: unknown): number | undefined {
  if (node !== null && typeof node === 'object' && 'range' in node) {
    const range = (node as Node).range;
    if (Array.isArray(range)) return range[0];
  }
  return undefined;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

/** upstreams[1].url */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const text = String(segment);
      const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(text);
      out += plain ? (out === '' ? text : `.${text}`) : `[${JSON.stringify(text)}]`;
    }
  }
  return out;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  // File problems in file order first, then those that came from flags.
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => {
      const fa = a.p.source.startsWith('--') ? 1 : 0;
      const fb = b.p.source.startsWith('--') ? 1 : 0;
      if (fa !== fb) return fa - fb;
      const la = a.p.line ?? 0;
      const lb = b.p.line ?? 0;
      if (la !== lb) return la - lb;
      const ca = a.p.column ?? 0;
      const cb = b.p.column ?? 0;
      return ca !== cb ? ca - cb : a.i - b.i;
    })
    .map(({ p }) => p);
}

// ---------------------------------------------------------------------------
// messages

/** Wording for zod's built-in issues; schema-level messages take precedence over it. */
function errorMap(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected = describeExpected(String(issue.expected));
      const hint =
        (issue.expected === 'number' || issue.expected === 'int') &&
        typeof issue.input === 'string' &&
        /^\s*[+-]?[\d_]+(\.\d+)?\s*$/.test(issue.input)
          ? ' (write the number without quotes or underscores)'
          : '';
      return `expected ${expected}, got ${describeValue(issue.input)}${hint}`;
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return `must list at least ${min} ${min === 1 ? 'entry' : 'entries'}`;
      if (issue.origin === 'string') return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
      return issue.inclusive === false ? `must be greater than ${min}` : `must be at least ${fmtNumber(min)}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return `must list at most ${max} entries`;
      if (issue.origin === 'string') return `must be at most ${max} characters`;
      return issue.inclusive === false ? `must be less than ${max}` : `must be at most ${fmtNumber(max)}`;
    }
    case 'invalid_value': {
      const values = issue.values.map(String);
      const suggestion = typeof issue.input === 'string' ? closest(issue.input, values) : undefined;
      const hint = suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : '';
      return `expected one of ${values.join(', ')}; got ${describeValue(issue.input)}${hint}`;
    }
    case 'unrecognized_keys':
      return `unknown key(s) ${issue.keys.join(', ')}`;
    case 'invalid_key':
      return 'invalid key';
    default:
      return undefined;
  }
}

function fmtNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toString();
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'object':
      return 'a mapping (key: value lines)';
    case 'array':
      return 'a list (lines starting with "- ")';
    case 'boolean':
      return 'true or false';
    default:
      return expected;
  }
}

export function describeValue(value: unknown): string {
  if (value === null) return 'an empty value (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** The candidate closest to `word`, ignoring case, "_" and "-", if it is close enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const w = norm(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = levenshtein(w, norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.ceil(w.length / 2)));
  return bestDistance <= limit ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function describeFsError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function failure(problems: readonly ConfigProblem[]): LoadResult {
  return { ok: false, problems };
}

/**
 * The admin token from admin_token or, read once at load, from admin_token_file (a relative path
 * is taken from the config file's folder, as banner_file is). Setting both is refused: which one
 * wins would be a guess.
 */
function readAdminToken(file: ConfigFile, baseDir: string, ctx: LocatedContext, problems: ConfigProblem[]): string | null {
  if (file.admin_token_file === null) return file.admin_token;
  if (file.admin_token !== null) {
    problems.push(problemAt(ctx, ['admin_token_file'], 'set admin_token or admin_token_file, not both'));
    return file.admin_token;
  }
  const tokenFile = isAbsolute(file.admin_token_file) ? file.admin_token_file : resolvePath(baseDir, file.admin_token_file);
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    problems.push(problemAt(ctx, ['admin_token_file'], `cannot read admin token file ${tokenFile}: ${describeFsError(err)}`));
    return null;
  }
  if (token.length < 16 || /\s/.test(token)) {
    problems.push(problemAt(ctx, ['admin_token_file'], `${tokenFile} must hold one token of at least 16 characters without spaces`));
    return null;
  }
  return token;
}
