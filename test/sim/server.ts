// SPDX-License-Identifier: MIT
/**
 * One simulator connection: newline-delimited JSON-RPC 2.0 answered the way
 * ElectrumX (via aiorpcX) answers it, for protocol 1.4 .. 1.6, over the Chain.
 *
 * Faithful details worth knowing (digest §1.2, §2, §4):
 *  - sims whose protocolMax is >= 1.6 require server.version first, like
 *    ElectrumX: anything else gets two junk notifications, code 1
 *    "use server.version to identify client" and a disconnect. A 1.4-only sim
 *    is lenient (sessions start at protocolMin), like pre-1.6 servers.
 *  - the handler set depends on the negotiated version: relayfee < 1.6,
 *    scripthash.unsubscribe >= 1.4.2, mempool.get_info and broadcast_package >= 1.6.
 *  - argument errors use aiorpcX's texts, validation errors ElectrumX's.
 */
import type net from 'node:net';
import { LineFramer } from '../../src/protocol/framing.js';
import { bitsToTarget, blockHash, parseHeader, serializeHeader } from '../../src/protocol/bitcoin/header.js';
import { merkleBranch } from '../../src/protocol/bitcoin/merkle.js';
import { parseTransaction, serializeTransaction, TxParseError, txid as txidOf } from '../../src/protocol/bitcoin/tx.js';
import { statusHash } from '../../src/protocol/status.js';
import { RejectError, REGTEST_BITS, type Chain } from './chain.js';
import { ERROR_COST, EXCESSIVE_RESOURCE_USAGE, SERVER_BUSY, requestCost, type CostModel, type PricingFacts, type SessionCost } from './cost.js';

export type LieKind = 'header' | 'merkle' | 'tx' | 'deep-header' | 'fork-header';

export interface RpcErrorShape {
  code: number;
  message: string;
}

/**
 * Extension (failNext): the next `left` requests of `method` whose arguments `match`
 * get `error`, or with 'drop' are processed and never answered (a server that took
 * the request and then timed out on the client).
 */
export interface FailRule {
  readonly method: string;
  left: number;
  readonly error: RpcErrorShape | 'drop';
  readonly match?: (args: readonly unknown[]) => boolean;
  /** Requests this rule has failed so far. */
  hits: number;
}

/**
 * Extension: a result written as this exact JSON text, not by JSON.stringify, so a test can
 * send what a real server may (key orders, escapes, number spellings) and see what arrives.
 */
export class Verbatim {
  constructor(readonly text: string) {}
}

/** Stands for a Verbatim in the JSON.stringify of a line, then replaced by its text. */
const VERBATIM_MARK = '@@sim-verbatim@@';

/** JSON.stringify of a line, with each Verbatim inside it written as its text. */
function stringifyLine(obj: unknown): string {
  const texts: string[] = [];
  const json = JSON.stringify(obj, (_key, value: unknown) => {
    if (!(value instanceof Verbatim)) return value;
    texts.push(value.text);
    return VERBATIM_MARK;
  });
  if (texts.length === 0) return json;
  const parts = json.split(`"${VERBATIM_MARK}"`);
  return parts.map((p, i) => (i === 0 ? p : texts[i - 1] + p)).join('');
}

export interface SimHost {
  readonly chain: Chain;
  readonly serverVersion: string;
  readonly protocolMin: string;
  readonly protocolMax: string;
  readonly flavor: 'electrumx' | 'electrs';
  readonly genesisHash: string;
  readonly host: string;
  port(): number;
  readonly knobs: {
    latencyMs: number;
    failures: Map<string, RpcErrorShape>;
    drops: Set<string>;
    lie: LieKind | null;
    feeEstimates: boolean;
    /** Extension: ElectrumX 1.18+ PaddedRSTransport behaviour on this TCP port (see PaddedWriter). */
    padding: boolean;
    /** Extension: get_history answers for these scripthashes, instead of the chain's (setHistory); Verbatim: as written. */
    histories: Map<string, readonly unknown[] | Verbatim>;
    /** Extension: requests failed a given number of times (failNext), first rule first. */
    nextFailures: FailRule[];
    /** Extension: whether a Verbatim result may be written (set by setHistory with a text), so other lines skip the replacer. */
    verbatim: boolean;
  };
  countRequest(method: string): void;
  /** Extension: a session's lines read and not yet answered, each time it grows. */
  noteInFlight?(n: number): void;
  /** Tell every session that the chain or mempool changed (after a broadcast). */
  afterChange(): void;
  /** Extension (peer discovery): reshapes the server.features answer, e.g. to a real server's fixture. */
  readonly featuresOverride?: (base: Record<string, unknown>) => Record<string, unknown>;
  /** Extension: what server.peers.subscribe answers. */
  peerList(): unknown[];
  /** Extension: a server.add_peer call (recorded); its answer. */
  addPeer(features: unknown): boolean;
  /** sim.* control methods, or undefined when the sim does not accept them. */
  control?: (method: string, args: unknown[] | Record<string, unknown>) => unknown;
  /** Extension: ElectrumX's session cost model (the `costs` option), or null. */
  costs(): CostModel | null;
}

const MAX_LINE_BYTES = 1_000_000;
const MAX_CHUNK_SIZE = 2016;
/** ElectrumX uses 30 000 vB bins; the simulator's mempools are tiny, so its bins are smaller. */
const HISTOGRAM_BIN_SIZE = 250;
const BAD_REQUEST = 1;
const DAEMON_ERROR = 2;

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly disconnect = false,
  ) {
    super(message);
  }
}

type Tuple = number[];

/** ElectrumX util.protocol_tuple: "1.4.2" -> [1,4,2]; anything unparsable -> [0]. */
export function protocolTuple(s: unknown): Tuple {
  if (typeof s !== 'string') return [0];
  const parts = s.split('.');
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\s*[+-]?\d+\s*$/.test(p)) return [0];
    out.push(parseInt(p, 10));
  }
  return out;
}

/** Python tuple comparison. */
export function cmpTuple(a: Tuple, b: Tuple): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

function versionString(t: Tuple): string {
  const v = [...t];
  while (v.length < 2) v.push(0);
  return v.join('.');
}

/** Python's str() of a JSON value, for error texts that interpolate user input. */
function pyStr(v: unknown): string {
  if (typeof v === 'string') return v;
  return pyRepr(v);
}

function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`;
  }
  return String(v);
}

function commas(n: number): string {
  return n.toLocaleString('en-US');
}

/** ElectrumX non_negative_integer (Python int() semantics for the common JSON types). */
function nonNegativeInteger(v: unknown): number {
  let n: number | null = null;
  if (typeof v === 'number' && Number.isFinite(v)) n = Math.trunc(v);
  else if (typeof v === 'boolean') n = v ? 1 : 0;
  else if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) n = parseInt(v, 10);
  if (n !== null && n >= 0 && Number.isSafeInteger(n)) return n;
  throw new RpcError(BAD_REQUEST, `${pyStr(v)} should be a non-negative integer`);
}

function isHexStr(v: unknown): v is string {
  return typeof v === 'string' && v.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(v);
}

function assertHash(v: unknown, what: (x: string) => string): string {
  if (typeof v === 'string' && v.length === 64 && /^[0-9a-fA-F]*$/.test(v)) return v.toLowerCase();
  throw new RpcError(BAD_REQUEST, what(pyStr(v)));
}

const txHash = (v: unknown): string => assertHash(v, (x) => `${x} should be a transaction hash`);
const scriptHash = (v: unknown): string => assertHash(v, (x) => `${x} is not a valid script hash`);

function assertBool(v: unknown, name: string): boolean {
  if (v === true || v === false || v === 0 || v === 1) return Boolean(v);
  throw new RpcError(BAD_REQUEST, `"${name}" must be a boolean`);
}

function daemonError(code: number, message: string): RpcError {
  return new RpcError(DAEMON_ERROR, `daemon error: DaemonError(${pyRepr({ code, message })})`);
}

/** ElectrumX's compact fee histogram over [feeRate, vsize] pairs. */
export function compactHistogram(rates: Array<[number, number]>, binSize = HISTOGRAM_BIN_SIZE): Array<[number, number]> {
  const byRate = new Map<number, number>();
  for (const [rate, size] of rates) byRate.set(rate, (byRate.get(rate) ?? 0) + size);
  const compact: Array<[number, number]> = [];
  let cum = 0;
  let prev: number | null = null;
  let bin = binSize;
  for (const [rate, size] of [...byRate.entries()].sort((a, b) => b[0] - a[0])) {
    if (size > 2 * bin && prev !== null && cum > 0) {
      compact.push([prev, cum]);
      cum = 0;
      bin *= 1.1;
    }
    cum += size;
    if (cum > bin) {
      compact.push([rate, cum]);
      cum = 0;
      bin *= 1.1;
    }
    prev = rate;
  }
  return compact;
}

/** Bitcoin Core's fee-estimate buckets as ElectrumX maps block targets. */
function bucketTarget(n: number): number {
  if (n <= 1) return 1;
  if (n <= 12) return n;
  if (n === 25) return n;
  if (n <= 48) return Math.floor(n / 2) * 2;
  if (n <= 1008) return Math.floor(n / 24) * 24;
  return 1008;
}

/** The simulator's deterministic fee estimate in BTC/kvB for a block target. */
export function simFeeEstimate(target: number): number {
  const satPerVb = Math.max(1, Math.round(50 / (bucketTarget(target) + 1)));
  return satPerVb / 100_000;
}

// ------------------------------------------------------------------ lies

function lieHeader(hex: string): string {
  const raw = Buffer.from(hex, 'hex');
  raw[4] = raw[4]! ^ 0x01; // break the link to the previous block
  const h = parseHeader(raw);
  const target = bitsToTarget(REGTEST_BITS);
  // and make sure the proof of work fails too
  for (let nonce = h.nonce + 1; ; nonce++) {
    const candidate = serializeHeader({ ...h, nonce: nonce >>> 0 });
    if (BigInt('0x' + blockHash(candidate)) > target) return candidate.toString('hex');
  }
}

/** 'deep-header' forges the headers at least this far below the tip; the recent ones stay honest. */
export const DEEP_LIE_DEPTH = 1000;

/** Another history from the regtest genesis: headers with valid proof of work, each linking to the last, none of them the real chain's. */
const forgedChain: Buffer[] = [];

function forgedHeader(height: number, genesis: Buffer): string {
  if (height === 0) return genesis.toString('hex');
  if (forgedChain.length === 0) forgedChain.push(genesis);
  const target = bitsToTarget(REGTEST_BITS);
  while (forgedChain.length <= height) {
    const h = forgedChain.length;
    const prev = forgedChain[h - 1]!;
    const base = parseHeader(genesis);
    const merkleRoot = blockHash(Buffer.from(`forged ${h}`.padEnd(80, '.')));
    for (let nonce = 0; ; nonce++) {
      const candidate = serializeHeader({ ...base, prevHash: blockHash(prev), merkleRoot, time: base.time + h * 600 + 7, nonce });
      if (BigInt('0x' + blockHash(candidate)) <= target) {
        forgedChain.push(candidate);
        break;
      }
    }
  }
  return forgedChain[height]!.toString('hex');
}

/** 'fork-header' answers for the last this many blocks with another block at the same height. */
export const FORK_LIE_DEPTH = 10;

/** A competing block at the same height: same parent, another merkle root, proof of work ground anew. */
function forkHeader(hex: string): string {
  const h = parseHeader(Buffer.from(hex, 'hex'));
  const merkleRoot = blockHash(Buffer.from(`fork of ${hex}`.slice(0, 80)));
  const target = bitsToTarget(REGTEST_BITS);
  for (let nonce = 0; ; nonce++) {
    const candidate = serializeHeader({ ...h, merkleRoot, nonce });
    if (BigInt('0x' + blockHash(candidate)) <= target) return candidate.toString('hex');
  }
}

function lieBranch(branch: string[]): string[] {
  if (branch.length === 0) return ['11'.repeat(32)];
  const first = branch[0]!;
  const flipped = (first[0] === '0' ? '1' : '0') + first.slice(1);
  return [flipped, ...branch.slice(1)];
}

function lieTx(raw: Buffer): Buffer {
  const tx = parseTransaction(raw);
  const outputs = tx.outputs.map((o, i) => (i === 0 ? { ...o, value: o.value + 1n } : o));
  return serializeTransaction({ ...tx, outputs });
}

// ------------------------------------------------------------------ methods

type Args = unknown[];
interface MethodSpec {
  readonly names: readonly string[];
  readonly required: number;
  /** server.version: extra positional/named args are ignored. */
  readonly ignoreExtra?: boolean;
  readonly fn: (s: Session, a: Args) => unknown;
}

function spec(names: string[], required: number, fn: MethodSpec['fn'], ignoreExtra = false): MethodSpec {
  return { names, required, fn, ignoreExtra };
}

const BASE_METHODS: Record<string, MethodSpec> = {
  'server.version': spec(['client_name', 'protocol_version'], 0, (s, a) => s.serverVersion(a[0], a[1]), true),
  'server.features': spec([], 0, (s) => s.features()),
  'server.banner': spec([], 0, (s) => `You are connected to an ${s.host.serverVersion} server (electrum-gateway simulator).`),
  'server.donation_address': spec([], 0, () => ''),
  'server.ping': spec([], 0, () => null),
  'server.peers.subscribe': spec([], 0, (s) => s.host.peerList()),
  'server.add_peer': spec(['features'], 1, (s, a) => s.host.addPeer(a[0])),
  'blockchain.headers.subscribe': spec([], 0, (s) => s.headersSubscribe()),
  'blockchain.block.header': spec(['height', 'cp_height'], 1, (s, a) => s.blockHeader(a[0], a[1] ?? 0)),
  'blockchain.block.headers': spec(['start_height', 'count', 'cp_height'], 2, (s, a) => s.blockHeaders(a[0], a[1], a[2] ?? 0)),
  'blockchain.estimatefee': spec(['number', 'mode'], 1, (s, a) => s.estimateFee(a[0], a[1] ?? null)),
  'mempool.get_fee_histogram': spec([], 0, (s) => compactHistogram(s.host.chain.mempoolFeeRates())),
  'blockchain.scripthash.get_balance': spec(['scripthash'], 1, (s, a) => s.host.chain.balance(scriptHash(a[0]))),
  'blockchain.scripthash.get_history': spec(['scripthash'], 1, (s, a) => {
    const sh = scriptHash(a[0]);
    return s.host.knobs.histories.get(sh) ?? s.host.chain.history(sh);
  }),
  'blockchain.scripthash.get_mempool': spec(['scripthash'], 1, (s, a) => s.host.chain.mempoolHistory(scriptHash(a[0]))),
  'blockchain.scripthash.listunspent': spec(['scripthash'], 1, (s, a) => s.host.chain.listUnspent(scriptHash(a[0]))),
  'blockchain.scripthash.subscribe': spec(['scripthash'], 1, (s, a) => s.scripthashSubscribe(a[0])),
  'blockchain.transaction.get': spec(['tx_hash', 'verbose'], 1, (s, a) => s.transactionGet(a[0], a[1] ?? false)),
  'blockchain.transaction.get_merkle': spec(['tx_hash', 'height'], 2, (s, a) => s.transactionMerkle(a[0], a[1])),
  'blockchain.transaction.id_from_pos': spec(['height', 'tx_pos', 'merkle'], 2, (s, a) => s.idFromPos(a[0], a[1], a[2] ?? false)),
  'blockchain.transaction.broadcast': spec(['raw_tx'], 1, (s, a) => s.broadcast(a[0])),
};

const UNSUBSCRIBE: Record<string, MethodSpec> = {
  'blockchain.scripthash.unsubscribe': spec(['scripthash'], 1, (s, a) => s.scripthashUnsubscribe(a[0])),
};
const V16_METHODS: Record<string, MethodSpec> = {
  'blockchain.transaction.broadcast_package': spec(['raw_txs', 'verbose'], 1, (s, a) => s.broadcastPackage(a[0], a[1] ?? false)),
  'mempool.get_info': spec([], 0, () => ({ mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 })),
};
const PRE16_METHODS: Record<string, MethodSpec> = {
  'blockchain.relayfee': spec([], 0, () => 0.00001),
};

/** What electrs 0.10 lacks or takes differently (its electrum.rs method table). */
const ELECTRS_OVERRIDES: Record<string, MethodSpec> = {
  'blockchain.block.header': spec(['height'], 1, (s, a) => s.blockHeader(a[0], 0)),
  'blockchain.block.headers': spec(['start_height', 'count'], 2, (s, a) => s.blockHeaders(a[0], a[1], 0)),
};
const ELECTRS_MISSING = ['blockchain.scripthash.get_mempool', 'server.add_peer'];

function handlersFor(ptuple: Tuple, flavor: SimHost['flavor'] = 'electrumx'): Record<string, MethodSpec> {
  const h: Record<string, MethodSpec> = { ...BASE_METHODS };
  if (cmpTuple(ptuple, [1, 4, 2]) >= 0) Object.assign(h, UNSUBSCRIBE);
  Object.assign(h, cmpTuple(ptuple, [1, 6]) >= 0 ? V16_METHODS : PRE16_METHODS);
  if (flavor === 'electrs') {
    Object.assign(h, ELECTRS_OVERRIDES);
    for (const m of ELECTRS_MISSING) delete h[m];
  }
  return h;
}

/** aiorpcX handler_invocation: positional or named arguments checked against the handler's signature. */
function bindArgs(method: string, m: MethodSpec, params: unknown[] | Record<string, unknown>): Args {
  if (Array.isArray(params)) {
    const n = params.length;
    if (n < m.required) {
      throw new RpcError(-32602, `${n} argument${n === 1 ? '' : 's'} passed to method "${method}" but it requires ${m.required}`);
    }
    if (!m.ignoreExtra && n > m.names.length) {
      throw new RpcError(-32602, `${n} argument${n === 1 ? '' : 's'} passed to method ${method} taking at most ${m.names.length}`);
    }
    return params;
  }
  const required = m.names.slice(0, m.required);
  const missing = required.filter((k) => !(k in params)).sort();
  if (missing.length) {
    throw new RpcError(-32602, `method "${method}" requires parameter${missing.length === 1 ? '' : 's'} ${missing.map((k) => `"${k}"`).join(', ')}`);
  }
  if (!m.ignoreExtra) {
    const excess = Object.keys(params)
      .filter((k) => !m.names.includes(k))
      .sort();
    if (excess.length) {
      throw new RpcError(-32602, `method "${method}" does not take parameter${excess.length === 1 ? '' : 's'} ${excess.map((k) => `"${k}"`).join(', ')}`);
    }
  }
  return m.names.map((k) => params[k]);
}

// ------------------------------------------------------------------ session

type Reply = Record<string, unknown>;

export class Session {
  private readonly framer = new LineFramer(MAX_LINE_BYTES);
  private svSeen = false;
  private ptuple: Tuple;
  private handlers: Record<string, MethodSpec>;
  private readonly strict: boolean;
  private headersSubscribed = false;
  private lastTipSent: string | null = null;
  /** scripthash -> last status sent (subscribe answer or notification). */
  readonly subs = new Map<string, string | null>();
  private closed = false;
  /** Extension: single-request lines read whose answer is not yet written (with latency set). */
  private unanswered = 0;
  /** Extension: created on the first write with the padding knob on. */
  private padder: PaddedWriter | null = null;
  /** Extension: this session's cost, when the sim models ElectrumX's costs. */
  private readonly cost: SessionCost | null;

  constructor(
    readonly host: SimHost,
    private readonly socket: net.Socket,
    private readonly onClose: (s: Session) => void,
  ) {
    this.strict = cmpTuple(protocolTuple(host.protocolMax), [1, 6]) >= 0;
    this.ptuple = protocolTuple(host.protocolMin);
    this.handlers = handlersFor(this.ptuple, host.flavor);
    this.cost = host.costs()?.open(socket.remoteAddress, () => this.subs.size) ?? null;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.padder?.stop();
      this.closeCost();
      this.onClose(this);
    });
  }

  destroy(): void {
    this.closed = true;
    this.padder?.stop();
    this.closeCost();
    this.socket.destroy();
  }

  private costClosed = false;

  private closeCost(): void {
    if (!this.cost || this.costClosed) return;
    this.costClosed = true;
    this.host.costs()?.close(this.cost);
  }

  /** Extension: what this session's cost is now (own), or null without the cost model. */
  get currentCost(): number | null {
    return this.cost ? this.cost.cost : null;
  }

  private write(obj: unknown): void {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return;
    const text = (this.host.knobs.verbatim ? stringifyLine(obj) : JSON.stringify(obj)) + '\n';
    if (this.cost) this.bump(Buffer.byteLength(text) / this.cost.limits.bandwidthUnitCost);
    if (this.host.knobs.padding) {
      this.padder ??= new PaddedWriter(this.socket);
      this.padder.write(text);
      return;
    }
    this.padder?.flush();
    this.socket.write(text);
  }

  /** Extension: the client's address, for the per-IP connection cap. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  private later(fn: () => void): void {
    const ms = this.host.knobs.latencyMs;
    if (ms > 0) setTimeout(fn, ms);
    else fn();
  }

  notify(method: string, params: unknown[]): void {
    this.write({ jsonrpc: '2.0', method, params });
  }

  private onData(chunk: Buffer): void {
    if (this.cost) this.bump(chunk.length / this.cost.limits.bandwidthUnitCost);
    for (const ev of this.framer.push(chunk)) {
      if (ev.kind !== 'line') continue; // oversize lines are dropped silently, as aiorpcX does
      if (ev.line.length === 0 || this.closed) continue;
      this.onLine(ev.line);
    }
  }

  private onLine(line: Buffer): void {
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(line));
    } catch (e) {
      const message = e instanceof TypeError ? 'messages must be encoded in UTF-8' : 'invalid JSON';
      this.later(() => this.write({ jsonrpc: '2.0', error: { code: -32700, message }, id: null }));
      return;
    }
    if (this.cost) {
      this.onCostedPayload(payload);
      return;
    }
    if (Array.isArray(payload)) {
      if (payload.length === 0) {
        this.later(() => this.write({ jsonrpc: '2.0', error: { code: -32600, message: 'batch is empty' }, id: null }));
        return;
      }
      const replies: Reply[] = [];
      let disconnect = false;
      for (const item of payload) {
        const r = this.handleOne(item);
        if (r.reply) replies.push(r.reply);
        if (r.disconnect) disconnect = true;
      }
      this.later(() => {
        if (replies.length) this.write(replies);
        if (disconnect) this.socket.end();
      });
      return;
    }
    const r = this.handleOne(payload);
    this.host.noteInFlight?.(++this.unanswered);
    this.later(() => {
      this.unanswered--;
      if (r.reply) this.write(r.reply);
      if (r.disconnect) this.socket.end();
    });
  }

  // ---------------------------------------------------------------- cost model (extension)

  private bump(delta: number): void {
    this.cost!.bump(delta);
    this.host.costs()!.note(this.cost!);
  }

  /** With the cost model: every request (each item of a batch) throttled as ElectrumX would. */
  private onCostedPayload(payload: unknown): void {
    if (Array.isArray(payload)) {
      if (payload.length === 0) {
        this.write({ jsonrpc: '2.0', error: { code: -32600, message: 'batch is empty' }, id: null });
        return;
      }
      void Promise.all(payload.map((item) => this.throttled(item))).then((outs) => {
        const replies = outs.map((o) => o.reply).filter((r): r is Reply => r !== undefined);
        this.later(() => {
          if (replies.length) this.write(replies);
          if (outs.some((o) => o.disconnect)) this.socket.end();
        });
      });
      return;
    }
    this.host.noteInFlight?.(++this.unanswered);
    void this.throttled(payload).then((r) =>
      this.later(() => {
        this.unanswered--;
        if (r.reply) this.write(r.reply);
        if (r.disconnect) this.socket.end();
      }),
    );
  }

  /**
   * One request through ElectrumX's gate: a processing slot (fewer as the cost
   * climbs), the sleep its cost earns, then the work and its price; all within
   * the request timeout, or "server busy". At zero concurrency: -101 and close.
   */
  private async throttled(msg: unknown): Promise<{ reply?: Reply; disconnect?: boolean }> {
    const cost = this.cost!;
    const model = this.host.costs()!;
    const m = typeof msg === 'object' && msg !== null && !Array.isArray(msg) ? (msg as Record<string, unknown>) : null;
    const method = typeof m?.['method'] === 'string' ? m['method'] : '';
    const id = m?.['id'];
    const hasId = id !== undefined && id !== null;
    const fail = (code: number, message: string): Reply | undefined => (hasId ? { jsonrpc: '2.0', error: { code, message }, id } : undefined);
    if (method.startsWith('sim.')) return this.handleOne(msg);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), cost.limits.requestTimeoutMs);
    });
    const busy = (): { reply?: Reply } => {
      model.stats.timedOutRequests++;
      model.stats.errorReplies++;
      this.bump(ERROR_COST);
      return { reply: fail(SERVER_BUSY, 'server busy - request timed out') };
    };
    const admission = cost.admit();
    const admitted = await Promise.race([admission.admitted, timeout]);
    if (admitted === 'timeout') {
      // Handed a slot in the same instant: give it back once it arrives.
      if (!admission.cancel()) void admission.admitted.then(() => cost.release());
      return busy();
    }
    try {
      if (admitted.excessive) {
        model.stats.costDisconnects++;
        model.stats.errorReplies++;
        this.bump(ERROR_COST);
        return { reply: fail(EXCESSIVE_RESOURCE_USAGE, 'excessive resource usage'), disconnect: true };
      }
      const sleepMs = cost.sleepMs();
      if (sleepMs > 0) {
        model.stats.throttledRequests++;
        const slept = await Promise.race([new Promise<'slept'>((r) => setTimeout(() => r('slept'), sleepMs)), timeout]);
        if (slept === 'timeout' || this.closed) return slept === 'timeout' ? busy() : {};
      }
      const out = this.handleOne(msg);
      if (out.reply && 'error' in out.reply) {
        model.stats.errorReplies++;
        this.bump(ERROR_COST);
      } else if (method) {
        const params = m?.['params'];
        const args = Array.isArray(params) ? params : params && typeof params === 'object' ? Object.values(params) : [];
        this.bump(requestCost(method, args, this.pricingFacts(method, args)));
      }
      return out;
    } finally {
      clearTimeout(timer);
      cost.release();
    }
  }

  /** What a method's price depends on, read from the chain. */
  private pricingFacts(method: string, args: readonly unknown[]): PricingFacts {
    const chain = this.host.chain;
    if (method.startsWith('blockchain.scripthash.') && typeof args[0] === 'string') {
      const sh = args[0].toLowerCase();
      const history = chain.history(sh);
      const mempool = history.filter((h) => h.height <= 0).length;
      const facts: PricingFacts = { historyLength: history.length - mempool, mempoolLength: mempool, historyCached: this.host.costs()!.historyCached(sh) };
      return method.endsWith('get_balance') || method.endsWith('listunspent') ? { ...facts, utxos: chain.listUnspent(sh).length } : facts;
    }
    if (method === 'blockchain.transaction.get_merkle' || method === 'blockchain.transaction.id_from_pos') {
      const height = Number(method.endsWith('get_merkle') ? args[1] : args[0]);
      try {
        return { blockTxs: chain.txids(height).length };
      } catch {
        return {};
      }
    }
    return {};
  }

  private handleOne(msg: unknown): { reply?: Reply; disconnect?: boolean } {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      return { reply: { jsonrpc: '2.0', error: { code: -32600, message: 'request object must be a dictionary' }, id: null } };
    }
    const m = msg as Record<string, unknown>;
    if (!('method' in m)) return {}; // a response to nothing we sent: ignore
    const id = m['id'];
    if (id !== undefined && id !== null && typeof id !== 'number' && typeof id !== 'string') {
      return { reply: { jsonrpc: '2.0', error: { code: -32600, message: `invalid "id": ${pyStr(id)}` }, id: null } };
    }
    const isNotification = id === undefined || id === null;
    const answer = (result: unknown): Reply | undefined => (isNotification ? undefined : { jsonrpc: '2.0', result, id });
    const fail = (code: number, message: string): Reply | undefined =>
      isNotification ? undefined : { jsonrpc: '2.0', error: { code, message }, id };
    const method = m['method'];
    if (typeof method !== 'string') return { reply: fail(-32601, 'method must be a string') };
    const params = m['params'] ?? [];
    if (typeof params !== 'object' || params === null) {
      return { reply: fail(-32602, `invalid request arguments: ${pyStr(params)}`) };
    }
    const args = params as unknown[] | Record<string, unknown>;
    this.host.countRequest(method);

    if (method.startsWith('sim.') && this.host.control) {
      try {
        return { reply: answer(this.host.control(method, args)) };
      } catch (e) {
        return { reply: fail(BAD_REQUEST, e instanceof Error ? e.message : String(e)) };
      }
    }

    if (!this.svSeen && method !== 'server.version' && this.strict) {
      // ElectrumX: "crash old client" junk, then refuse and disconnect.
      this.notify('blockchain.relayfee', []);
      this.notify('blockchain.estimatefee', []);
      return { reply: fail(BAD_REQUEST, 'use server.version to identify client'), disconnect: true };
    }

    const failure = this.host.knobs.failures.get(method);
    if (failure) return { reply: fail(failure.code, failure.message) };
    const positional = Array.isArray(args) ? args : Object.values(args);
    const rule = this.host.knobs.nextFailures.find((r) => r.method === method && r.left > 0 && (r.match?.(positional) ?? true));
    if (rule) {
      rule.left--;
      rule.hits++;
      if (rule.error !== 'drop') return { reply: fail(rule.error.code, rule.error.message) };
    }
    const dropped = this.host.knobs.drops.has(method) || rule !== undefined;

    const handler = this.handlers[method];
    let out: { reply?: Reply; disconnect?: boolean };
    if (!handler) {
      out = { reply: fail(-32601, `unknown method "${method}"`) };
    } else {
      try {
        const result = handler.fn(this, bindArgs(method, handler, args));
        out = { reply: answer(result) };
      } catch (e) {
        if (e instanceof RpcError) out = { reply: fail(e.code, e.message), disconnect: e.disconnect };
        else out = { reply: fail(-32603, 'internal server error') };
      }
    }
    if (dropped) return {};
    return out;
  }

  // ---------------------------------------------------------------- handlers

  serverVersion(clientName: unknown, protocolVersion: unknown): unknown {
    if (this.svSeen) throw new RpcError(BAD_REQUEST, 'server.version already sent');
    this.svSeen = true;
    void clientName;
    const min = protocolTuple(this.host.protocolMin);
    const max = protocolTuple(this.host.protocolMax);
    let cmin: Tuple;
    let cmax: Tuple;
    if (protocolVersion === undefined || protocolVersion === null) {
      cmin = cmax = min;
    } else if (Array.isArray(protocolVersion) && protocolVersion.length === 2) {
      cmin = protocolTuple(protocolVersion[0]);
      cmax = protocolTuple(protocolVersion[1]);
    } else {
      cmin = cmax = protocolTuple(protocolVersion);
    }
    const result = cmpTuple(cmax, max) <= 0 ? cmax : max;
    const floor = cmpTuple(cmin, min) >= 0 ? cmin : min;
    if (cmpTuple(result, floor) < 0 || cmpTuple(result, [0]) === 0) {
      throw new RpcError(BAD_REQUEST, `unsupported protocol version: ${pyStr(protocolVersion)}`, true);
    }
    this.ptuple = result;
    this.handlers = handlersFor(result, this.host.flavor);
    return [this.host.serverVersion, versionString(result)];
  }

  /** The negotiated protocol version string ("1.4", "1.6", ...). */
  get protocol(): string {
    return versionString(this.ptuple);
  }

  features(): Record<string, unknown> {
    const port = this.host.port();
    const base = {
      hosts: { [this.host.host]: { tcp_port: port } },
      pruning: null,
      server_version: this.host.serverVersion,
      protocol_min: versionString(protocolTuple(this.host.protocolMin)),
      protocol_max: versionString(protocolTuple(this.host.protocolMax)),
      genesis_hash: this.host.genesisHash,
      hash_function: 'sha256',
      services: [`tcp://${this.host.host}:${port}`],
    };
    return this.host.featuresOverride ? this.host.featuresOverride(base) : base;
  }

  private tipResult(): { hex: string; height: number } {
    const tip = this.host.chain.tip();
    const hex = tip.header.toString('hex');
    return { hex: this.host.knobs.lie === 'header' ? lieHeader(hex) : hex, height: tip.height };
  }

  headersSubscribe(): unknown {
    this.headersSubscribed = true;
    this.lastTipSent = this.host.chain.tip().hash;
    return this.tipResult();
  }

  private rawHeader(height: number): string {
    const b = this.host.chain.block(height);
    if (!b) throw new RpcError(BAD_REQUEST, `height ${commas(height)} out of range`);
    const hex = b.header.toString('hex');
    if (this.host.knobs.lie === 'deep-header' && height <= this.host.chain.tipHeight() - DEEP_LIE_DEPTH) return forgedHeader(height, this.host.chain.block(0)!.header);
    if (this.host.knobs.lie === 'fork-header' && height > this.host.chain.tipHeight() - FORK_LIE_DEPTH) return forkHeader(hex);
    return this.host.knobs.lie === 'header' ? lieHeader(hex) : hex;
  }

  private merkleProof(cpHeight: number, height: number): { branch: string[]; root: string } {
    const max = this.host.chain.tipHeight();
    if (!(height <= cpHeight && cpHeight <= max)) {
      throw new RpcError(BAD_REQUEST, `require header height ${commas(height)} <= cp_height ${commas(cpHeight)} <= chain height ${commas(max)}`);
    }
    const p = this.host.chain.headerProof(height, cpHeight);
    return this.host.knobs.lie === 'merkle' ? { branch: lieBranch(p.branch), root: p.root } : p;
  }

  blockHeader(h: unknown, cp: unknown): unknown {
    const height = nonNegativeInteger(h);
    const cpHeight = nonNegativeInteger(cp);
    const header = this.rawHeader(height);
    if (cpHeight === 0) return header;
    return { header, ...this.merkleProof(cpHeight, height) };
  }

  blockHeaders(s: unknown, c: unknown, cp: unknown): unknown {
    const start = nonNegativeInteger(s);
    let count = nonNegativeInteger(c);
    const cpHeight = nonNegativeInteger(cp);
    count = Math.min(count, MAX_CHUNK_SIZE);
    const tip = this.host.chain.tipHeight();
    count = Math.max(0, Math.min(count, tip + 1 - start));
    const headers: string[] = [];
    for (let h = start; h < start + count; h++) headers.push(this.rawHeader(h));
    const v16 = cmpTuple(this.ptuple, [1, 6]) >= 0;
    const result: Record<string, unknown> = v16 ? { count, max: MAX_CHUNK_SIZE, headers } : { hex: headers.join(''), count, max: MAX_CHUNK_SIZE };
    if (count && cpHeight) Object.assign(result, this.merkleProof(cpHeight, start + count - 1));
    return result;
  }

  estimateFee(n: unknown, mode: unknown): unknown {
    const number = nonNegativeInteger(n);
    const m = typeof mode === 'string' ? mode.toUpperCase() : null;
    if (m !== null && m !== 'CONSERVATIVE' && m !== 'ECONOMICAL') {
      throw new RpcError(BAD_REQUEST, `unknown estimatefee mode: ${m}`);
    }
    if (!this.host.knobs.feeEstimates) return -1;
    return simFeeEstimate(number);
  }

  scripthashSubscribe(sh: unknown): unknown {
    const h = scriptHash(sh);
    const status = statusHash(this.host.chain.history(h));
    this.subs.set(h, status);
    return status;
  }

  scripthashUnsubscribe(sh: unknown): boolean {
    return this.subs.delete(scriptHash(sh));
  }

  transactionGet(t: unknown, v: unknown): unknown {
    const id = txHash(t);
    const verbose = assertBool(v, 'verbose');
    const found = this.host.chain.getTx(id);
    if (!found) throw daemonError(-5, 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.');
    const raw = this.host.knobs.lie === 'tx' ? lieTx(found.stx.raw) : found.stx.raw;
    if (verbose) return this.host.chain.verboseTx(id, raw);
    return raw.toString('hex');
  }

  transactionMerkle(t: unknown, h: unknown): unknown {
    const id = txHash(t);
    const height = nonNegativeInteger(h);
    this.rawHeader(height);
    const txids = this.host.chain.txids(height);
    const pos = txids.indexOf(id);
    if (pos < 0) throw new RpcError(BAD_REQUEST, `tx ${id} not in block at height ${commas(height)}`);
    let branch = merkleBranch(txids, pos);
    if (this.host.knobs.lie === 'merkle') branch = lieBranch(branch);
    return { block_height: height, merkle: branch, pos };
  }

  idFromPos(h: unknown, p: unknown, m: unknown): unknown {
    const txPos = nonNegativeInteger(p);
    const height = nonNegativeInteger(h);
    const merkle = assertBool(m, 'merkle');
    const tip = this.host.chain.tipHeight();
    if (height > tip) {
      throw new RpcError(BAD_REQUEST, `db error: DBError('block ${commas(height)} not on disk (>${commas(tip)})')`);
    }
    const txids = this.host.chain.txids(height);
    const id = txids[txPos];
    if (id === undefined) throw new RpcError(BAD_REQUEST, `no tx at position ${commas(txPos)} in block at height ${commas(height)}`);
    if (!merkle) return id;
    let branch = merkleBranch(txids, txPos);
    if (this.host.knobs.lie === 'merkle') branch = lieBranch(branch);
    return { tx_hash: id, merkle: branch };
  }

  broadcast(raw: unknown): unknown {
    if (!isHexStr(raw)) throw new RpcError(BAD_REQUEST, `${pyStr(raw)} should be a hex string`);
    // bitcoind answers a re-broadcast of a transaction already in its mempool with the txid.
    const existing = this.mempoolTxid(raw);
    if (existing) return existing;
    try {
      const id = this.host.chain.acceptRaw(raw);
      this.host.afterChange();
      return id;
    } catch (e) {
      if (e instanceof RejectError) {
        throw new RpcError(BAD_REQUEST, `the transaction was rejected by network rules.\n\n${e.message}\n[${raw}]`);
      }
      throw e;
    }
  }

  private mempoolTxid(raw: string): string | null {
    let id: string;
    try {
      id = txidOf(parseTransaction(raw));
    } catch (e) {
      if (e instanceof TxParseError) return null;
      throw e;
    }
    return this.host.chain.mempoolTxs().some((t) => t.txid === id) ? id : null;
  }

  broadcastPackage(raws: unknown, v: unknown): unknown {
    if (!Array.isArray(raws)) throw new RpcError(BAD_REQUEST, `${pyStr(raws)} should be a list`);
    for (const r of raws) if (!isHexStr(r)) throw new RpcError(BAD_REQUEST, `${pyStr(r)} should be a hex string`);
    const verbose = v === true;
    for (const r of raws as string[]) {
      try {
        parseTransaction(r);
      } catch {
        throw new RpcError(BAD_REQUEST, `the tx package was rejected by network rules.\n\nTX decode failed: ${r.slice(0, 64)}.`);
      }
    }
    if (raws.length === 0) throw new RpcError(BAD_REQUEST, 'the tx package was rejected by network rules.\n\nPackage must contain at least one transaction.');
    const results = this.host.chain.acceptPackage(raws as string[]);
    const ok = results.every((r) => !r.error);
    if (ok) this.host.afterChange();
    if (verbose) {
      const txResults: Record<string, unknown> = {};
      for (const r of results) {
        txResults[r.wtxid] = r.error
          ? { txid: r.txid, error: r.error }
          : { txid: r.txid, vsize: r.vsize, fees: { base: (r.fee ?? 0) / 100_000_000 } };
      }
      return { package_msg: ok ? 'success' : 'transaction failed', 'tx-results': txResults, 'replaced-transactions': [] };
    }
    const errors = results.filter((r) => r.error).map((r) => ({ txid: r.txid, error: r.error }));
    return errors.length ? { success: false, errors } : { success: true };
  }

  // ---------------------------------------------------------------- notifications

  /** Called after the chain or mempool changed: sends what ElectrumX would send. */
  onChange(statusOf: (sh: string) => string | null): void {
    if (this.closed) return;
    if (this.headersSubscribed) {
      const tip = this.host.chain.tip();
      if (tip.hash !== this.lastTipSent) {
        this.lastTipSent = tip.hash;
        this.notify('blockchain.headers.subscribe', [this.tipResult()]);
      }
    }
    for (const [sh, last] of this.subs) {
      const status = statusOf(sh);
      if (status !== last) {
        this.subs.set(sh, status);
        // ElectrumX computes the status of a touched address at a subscription's price.
        if (this.cost) this.bump(requestCost('blockchain.scripthash.subscribe', [sh], this.pricingFacts('blockchain.scripthash.subscribe', [sh])));
        this.notify('blockchain.scripthash.subscribe', [sh, status]);
      }
    }
  }
}

// ------------------------------------------------------------------ padding (extension)

/**
 * What ElectrumX 1.18+ does to TCP/SSL output (its PaddedRSTransport, a
 * countermeasure against traffic analysis), re-implemented from its
 * description:
 *
 *  - replies go into a send buffer; the buffer is written out only when it
 *    holds at least 1024 bytes, or nothing was sent for a second, or the
 *    session has sent fewer than 1024 bytes so far (1.19 exempts the start of
 *    a session); otherwise it waits for the second to pass (ElectrumX polls
 *    twice a second, so a real server holds a reply 1 to 1.5 s; here the
 *    timer fires at exactly 1 s);
 *  - what is written is padded with spaces just before the last message's
 *    closing "}" or "]" to a power of two of at least 1024 bytes, so one
 *    packet can carry several replies; when padding the whole buffer would
 *    waste more than padding a prefix of it to half that size, only the
 *    prefix goes now and the rest waits.
 *
 * WebSocket output is not padded by ElectrumX; the simulator only speaks TCP.
 */
export class PaddedWriter {
  static readonly MIN_PACKET = 1024;
  static readonly HOLD_MS = 1000;
  private buf: Buffer = Buffer.alloc(0);
  private lastSend = performance.now();
  private sent = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Packets written, for tests. */
  packets = 0;

  constructor(private readonly socket: net.Socket) {}

  write(text: string): void {
    this.buf = Buffer.concat([this.buf, Buffer.from(text, 'utf8')]);
    this.consume(false);
  }

  /** Sends everything buffered now (padding off again). */
  flush(): void {
    while (this.buf.length > 0) this.consume(true);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.buf = Buffer.alloc(0);
  }

  private consume(force: boolean): void {
    if (this.socket.destroyed || this.socket.writableEnded) return this.stop();
    if (this.buf.length === 0) return;
    const now = performance.now();
    const due = force || this.buf.length >= PaddedWriter.MIN_PACKET || now - this.lastSend >= PaddedWriter.HOLD_MS || this.sent < PaddedWriter.MIN_PACKET;
    if (due) {
      const buf = this.buf;
      // (1) everything, padded to the next power of two
      const large = Math.max(PaddedWriter.MIN_PACKET, 2 ** Math.ceil(Math.log2(buf.length + 1)));
      const padLarge = large - buf.length;
      // (2) the messages that fit in half of that, the rest later
      const small = Math.max(PaddedWriter.MIN_PACKET, large / 2);
      const lastNl = buf.lastIndexOf(0x0a, small - 1);
      const smallPayload = lastNl === -1 ? -1 : lastNl + 1;
      const padSmall = smallPayload === -1 ? Infinity : small - smallPayload;
      const [pad, take] = force || padLarge <= padSmall ? [padLarge, buf.length] : [padSmall, smallPayload];
      // spaces go inside the JSON, before the closing "}\n" or "]\n" of the last message taken
      const packet = Buffer.concat([buf.subarray(0, take - 2), Buffer.alloc(pad, 0x20), buf.subarray(take - 2, take)]);
      this.socket.write(packet);
      this.packets++;
      this.sent += packet.length;
      this.lastSend = performance.now();
      this.buf = buf.subarray(take);
    }
    if (this.buf.length > 0 && !force && !this.timer) {
      const wait = Math.max(1, this.lastSend + PaddedWriter.HOLD_MS - performance.now());
      this.timer = setTimeout(() => {
        this.timer = null;
        this.consume(false);
      }, wait);
    }
  }
}
