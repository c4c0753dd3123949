// SPDX-License-Identifier: MIT
/**
 * Which methods exist at which protocol version, with their parameter names.
 * One table, read by the session (does this method exist for this client?) and
 * by the upstream adapter (does the upstream's version have it?).
 */
import { ErrorCode, RpcError, positional, type Params } from './jsonrpc.js';
import { compareVersions, parseVersion } from './version.js';

/**
 * The versions the gateway negotiates with wallets, ascending. 1.5 was never
 * defined; 1.4.1 only changed AuxPoW truncation, which no network here has.
 */
export const GATEWAY_VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '1.4.1', '1.4.2', '1.6'] as const;
/** The versions the gateway asks upstreams for, ascending: what ElectrumX, Fulcrum and electrs speak. */
export const UPSTREAM_VERSIONS = ['1.4', '1.4.1', '1.4.2', '1.6'] as const;

export interface MethodSpec {
  readonly name: string;
  /** Parameter names in positional order; named params must use exactly these. */
  readonly params: readonly string[];
  /** How many leading params are required. */
  readonly required: number;
  /** First version that has the method (with this signature). */
  readonly since: string;
  /** First version that no longer has it (or has another signature, listed as its own row). */
  readonly removedIn?: string;
  /** Extra arguments are ignored rather than refused (server.version, and 1.0's ignored height). */
  readonly ignoresExtra?: boolean;
}

const M = (name: string, params: readonly string[], required: number, since: string, extra: Partial<MethodSpec> = {}): MethodSpec => ({
  name,
  params,
  required,
  since,
  ...extra,
});

/** Every method at every version: one row per signature. */
export const METHODS: readonly MethodSpec[] = [
  M('server.version', ['client_name', 'protocol_version'], 0, '1.0', { ignoresExtra: true }),
  M('server.banner', [], 0, '1.0'),
  M('server.donation_address', [], 0, '1.0'),
  M('server.peers.subscribe', [], 0, '1.0'),
  M('server.features', [], 0, '1.1'),
  M('server.add_peer', ['features'], 1, '1.1'),
  M('server.ping', [], 0, '1.2'),

  M('blockchain.numblocks.subscribe', [], 0, '1.0', { removedIn: '1.1' }),
  M('blockchain.headers.subscribe', [], 0, '1.0', { removedIn: '1.2' }),
  M('blockchain.headers.subscribe', ['raw'], 0, '1.2', { removedIn: '1.4' }),
  M('blockchain.headers.subscribe', [], 0, '1.4'),
  M('blockchain.block.get_header', ['height'], 1, '1.0', { removedIn: '1.4' }),
  M('blockchain.block.get_chunk', ['index'], 1, '1.0', { removedIn: '1.4' }),
  M('blockchain.block.headers', ['start_height', 'count'], 2, '1.2', { removedIn: '1.4' }),
  M('blockchain.block.headers', ['start_height', 'count', 'cp_height'], 2, '1.4'),
  M('blockchain.block.header', ['height'], 1, '1.3', { removedIn: '1.4' }),
  M('blockchain.block.header', ['height', 'cp_height'], 1, '1.4'),

  M('blockchain.estimatefee', ['number'], 1, '1.0', { removedIn: '1.6' }),
  M('blockchain.estimatefee', ['number', 'mode'], 1, '1.6'),
  M('blockchain.relayfee', [], 0, '1.0', { removedIn: '1.6' }),
  M('mempool.get_fee_histogram', [], 0, '1.2'),
  M('mempool.get_info', [], 0, '1.6'),

  M('blockchain.address.get_balance', ['address'], 1, '1.0', { removedIn: '1.3' }),
  M('blockchain.address.get_history', ['address'], 1, '1.0', { removedIn: '1.3' }),
  M('blockchain.address.get_mempool', ['address'], 1, '1.0', { removedIn: '1.3' }),
  M('blockchain.address.listunspent', ['address'], 1, '1.0', { removedIn: '1.3' }),
  M('blockchain.address.subscribe', ['address'], 1, '1.0', { removedIn: '1.3' }),
  M('blockchain.utxo.get_address', ['tx_hash', 'index'], 2, '1.0', { removedIn: '1.1' }),

  M('blockchain.scripthash.get_balance', ['scripthash'], 1, '1.1'),
  M('blockchain.scripthash.get_history', ['scripthash'], 1, '1.1'),
  M('blockchain.scripthash.get_mempool', ['scripthash'], 1, '1.1'),
  M('blockchain.scripthash.listunspent', ['scripthash'], 1, '1.1'),
  M('blockchain.scripthash.subscribe', ['scripthash'], 1, '1.1'),
  M('blockchain.scripthash.unsubscribe', ['scripthash'], 1, '1.4.2'),

  M('blockchain.transaction.broadcast', ['raw_tx'], 1, '1.0'),
  M('blockchain.transaction.broadcast_package', ['raw_txs', 'verbose'], 1, '1.6'),
  // 1.0 documented a height argument that servers ignored; it is accepted and dropped.
  M('blockchain.transaction.get', ['tx_hash', 'height'], 1, '1.0', { removedIn: '1.1' }),
  M('blockchain.transaction.get', ['tx_hash'], 1, '1.1', { removedIn: '1.2' }),
  M('blockchain.transaction.get', ['tx_hash', 'verbose'], 1, '1.2'),
  M('blockchain.transaction.get_merkle', ['tx_hash', 'height'], 2, '1.0'),
  M('blockchain.transaction.id_from_pos', ['height', 'tx_pos', 'merkle'], 2, '1.4'),
];

const ALL = METHODS;

/** Method names that exist at some version, for metrics labels. */
export const METHOD_NAMES: ReadonlySet<string> = new Set(METHODS.map((m) => m.name));

/** The names of every method at `version`, sorted. */
export function methodsAt(version: string): string[] {
  const v = parseVersion(version);
  if (!v) return [];
  return [...new Set(ALL.filter((m) => atVersion(m, v)).map((m) => m.name))].sort();
}

function atVersion(spec: MethodSpec, version: readonly number[]): boolean {
  if (compareVersions(version, parseVersion(spec.since)!) < 0) return false;
  return spec.removedIn === undefined || compareVersions(version, parseVersion(spec.removedIn)!) < 0;
}

/** The method as it exists at `version`, or undefined when it does not. */
export function lookupMethod(name: string, version: string): MethodSpec | undefined {
  const v = parseVersion(version);
  if (!v) return undefined;
  return ALL.find((m) => m.name === name && atVersion(m, v));
}

/** Positional arguments after the arity check, with ElectrumX's messages. */
export function checkArity(spec: MethodSpec, params: Params): unknown[] {
  // Extra named arguments are ignored like extra positional ones (server.version from 1.6).
  const given =
    spec.ignoresExtra && !Array.isArray(params)
      ? Object.fromEntries(Object.entries(params).filter(([name]) => spec.params.includes(name)))
      : params;
  const args = positional(given, spec.params, spec.name);
  while (args.length > 0 && args.length > spec.required && args[args.length - 1] === undefined) args.pop();
  const missing = args.slice(0, spec.required).some((a) => a === undefined);
  if (args.length < spec.required || missing) {
    throw new RpcError(
      ErrorCode.INVALID_PARAMS,
      `${args.length} argument${args.length === 1 ? '' : 's'} passed to method "${spec.name}" but it requires ${spec.required}`,
    );
  }
  if (args.length > spec.params.length) {
    if (spec.ignoresExtra) return args.slice(0, spec.params.length);
    throw new RpcError(
      ErrorCode.INVALID_PARAMS,
      `${args.length} arguments passed to method "${spec.name}" taking at most ${spec.params.length}`,
    );
  }
  return args;
}
