// SPDX-License-Identifier: MIT
/**
 * The cache of immutable answers, between sessions and the router.
 *
 *   session -> AnswerCache.forward -> policy -> L1 -> L2 -> coalesce -> router -> verify -> store
 *
 * Headers are stored once each (80 bytes, by height, with the block hash they
 * belong to) and every header answer, range, chunk or version form is built
 * from them. Block-bound answers (merkle proofs, id_from_pos, checkpoint
 * proofs) carry the block hash in their key, so a reorg makes them
 * unreachable; the tracker's reorg event also drops them from memory and
 * rewrites Redis's height index. Nothing is stored that failed verification,
 * no header is stored unless it is proven on the tracker's verified chain, and
 * nothing read back from Redis is served before it passes the same checks
 * again (a Redis shared with others is trusted no more than an upstream).
 * Identical requests in flight share one upstream call, cached or not;
 * broadcasts never do (each is an action of its own).
 *
 * A caller that sends the answer to the wallet untouched (ForwardOptions.raw)
 * gets a cache hit in its wire form (RawJson): headers, ranges, chunks and
 * transactions are written straight from the stored bytes (wire-forms.ts),
 * and the larger ones are kept in that form, one per answer shape (a range is
 * a list from 1.6, one hex string before), in L1's bounded wire memo; a proof
 * is served as the JSON bytes L1 holds. So a hit never runs JSON.stringify
 * over its result.
 */
import type { ChainTracker, Reorg } from '../chain/tracker.js';
import type { Network } from '../config/networks.js';
import type { Logger } from '../observability/logger.js';
import { blockHash } from '../protocol/bitcoin/header.js';
import { rootFromBranch } from '../protocol/bitcoin/merkle.js';
import { argsKey } from '../protocol/jsonrpc.js';
import { RawJson } from '../protocol/raw-json.js';
import { versionLess } from '../protocol/version.js';
import { clientResult, reshapedForClient } from '../routing/adapt.js';
import type { Router, Verifier } from '../routing/router.js';
import { LRUCache } from 'lru-cache';
import { MAX_HEADERS, cachePlan, coalescable, type CachePlan } from './policy.js';
import type { MemoryTier, RedisTier, Tier } from './tiers.js';
import { linkedHeaders, verifyHeaders, verifyIdFromPos, verifyMerkle, verifyTransaction } from './verify.js';
import { headerWire, headersWire, hexEquals, hexStringWire, type HeaderSource } from './wire-forms.js';

/**
 * What the cache needs of the chain tracker: its verified headers and hashes
 * (hashAt and headerBytes cover every height from its anchor up), its tip, a way
 * to wait until every offered tip is handled, and its tip and reorg events.
 */
export type ChainView = Pick<ChainTracker, 'tip' | 'hashAt' | 'headerAt' | 'headerBytes' | 'settled' | 'on'>;

export interface ForwardOptions {
  /**
   * The caller writes the result to the wallet as it is and never looks
   * inside it: the answer may then come back as RawJson (wire bytes, already
   * in the client's shape). Callers that read the answer leave it unset.
   */
  readonly raw?: boolean;
}

/** What the session needs from whatever forwards its requests. */
export interface Forwarder {
  forward(method: string, args: readonly unknown[], clientVersion: string, deadline: number, opts?: ForwardOptions): Promise<unknown>;
  /**
   * The answer at once, when memory holds it, for a caller that writes it to
   * the wallet untouched (as forward's `raw`): wire bytes in the client's
   * shape, or undefined (then forward). A hit answered here costs no promise,
   * no microtask and no await along the session's path, which on a cache hit
   * were a third of the work.
   */
  hit?(method: string, args: readonly unknown[], clientVersion: string): RawJson | undefined;
}

/** What an entry read back from a tier is; a bounded label. */
export const CACHED_KINDS = ['header', 'transaction', 'merkle', 'id_from_pos', 'checkpoint'] as const;
export type CachedKind = (typeof CACHED_KINDS)[number];

export interface CacheObserver {
  cacheLookup(method: string, result: Tier | 'miss'): void;
  cacheServedBytes(bytes: number): void;
  coalesced(method: string): void;
  /** An entry read back from a tier failed re-verification: dropped, and the request went upstream. */
  cacheRejected(tier: Tier, kind: CachedKind): void;
}

export interface AnswerCacheOptions {
  /** Only answers about blocks at least this deep below the tip are cached. */
  readonly minDepth: number;
  /** Per-tip answers (fees) are kept at most this long, and never past a new tip. */
  readonly perTipTtlMs: number;
}

/** The version whose answer shapes are canonical. */
const CANONICAL = '1.6';
/** Transactions proven to be in a block, remembered so their bytes may be cached. */
const MAX_CONFIRMED_TXIDS = 200_000;
/** At most one log line per this long about forged cache entries (they are counted in metrics). */
const REJECT_LOG_INTERVAL_MS = 10_000;
/**
 * Wire forms at least this large are kept in L1's wire memo; smaller ones
 * (one header, a few) are rebuilt per hit, which costs about what a memo
 * lookup does, while a 2016-header chunk (330 kB) costs 2016 hex encodes.
 */
export const WIRE_MEMO_MIN_BYTES = 1024;

interface PerTipEntry {
  readonly value: unknown;
  readonly tipHash: string | undefined;
  readonly at: number;
}

export class AnswerCache implements Forwarder {
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly perTip = new Map<string, PerTipEntry>();
  /** txid -> height of the block a verified merkle proof put it in. */
  private readonly confirmed = new LRUCache<string, number>({ max: MAX_CONFIRMED_TXIDS });
  private lastRejectLog = 0;
  /**
   * Bumped by every reorg, which also empties the wire memo: a wire form
   * built from headers read before a reorg is not stored after it.
   */
  private generation = 0;

  constructor(
    private readonly router: Router,
    private readonly tracker: ChainView,
    private readonly network: Network,
    private readonly opts: AnswerCacheOptions,
    private readonly l1: MemoryTier,
    private readonly l2: RedisTier | null,
    private readonly log: Logger,
    private readonly observer?: CacheObserver,
  ) {
    tracker.on('reorg', (r) => this.onReorg(r));
    tracker.on('tip', () => this.perTip.clear());
  }

  forward(method: string, args: readonly unknown[], clientVersion: string, deadline: number, opts?: ForwardOptions): Promise<unknown> {
    let plan: CachePlan;
    try {
      plan = cachePlan(method, args, this.buried);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const raw = opts?.raw === true;
    // Written in the client's shape from the stored headers; everything else raw is the same in canonical and client shapes.
    if (raw && plan.kind === 'headers') return this.headersForClient(method, plan.start, plan.count, plan.single, clientVersion, deadline);
    const canonical = this.canonical(plan, method, args, deadline, raw);
    // Most answers are the same in every version's shape: no continuation to reshape them.
    return reshapedForClient(method, clientVersion) ? canonical.then((answer) => clientResult(method, answer, clientVersion)) : canonical;
  }

  hit(method: string, args: readonly unknown[], clientVersion: string): RawJson | undefined {
    const plan = cachePlan(method, args, this.buried);
    if (plan.kind === 'headers') return this.headersInMemory(method, plan.start, plan.count, plan.single, clientVersion);
    if (plan.kind === 'transaction') return this.cacheableTx(plan.txid) ? this.txMemo(method, plan.txid) : undefined;
    return undefined;
  }

  /** Whether a transaction's bytes may be cached: a verified proof put it in a block buried deep enough. */
  private cacheableTx(txid: string): boolean {
    const height = this.confirmed.get(txid);
    return height !== undefined && this.buried(height);
  }

  /** A cacheable transaction's wire form, when the wire memo holds it. */
  private txMemo(method: string, txid: string): RawJson | undefined {
    const memo = this.l1.getWire(`tx:${txid}`);
    if (memo === undefined) return undefined;
    this.observer?.cacheLookup(method, 'l1');
    this.observer?.cacheServedBytes((memo.length - 2) / 2);
    return new RawJson(memo);
  }

  private buried = (height: number): boolean => {
    const tip = this.tracker.tip;
    return tip !== null && height <= tip.height - this.opts.minDepth;
  };

  private async canonical(plan: CachePlan, method: string, args: readonly unknown[], deadline: number, raw: boolean): Promise<unknown> {
    switch (plan.kind) {
      case 'never':
        // Raw and parsed callers never share one call: a caller that reads the answer must not get bytes.
        return coalescable(method)
          ? this.fetch(method, args, deadline, this.nearTipVerifier(method, args), undefined, '', raw)
          : this.router.forward(method, args, CANONICAL, deadline, undefined, raw);
      case 'per-tip':
        return this.perTipAnswer(method, args, plan.key, deadline);
      case 'headers': {
        const headers = await this.headers(method, plan.start, plan.count, deadline);
        return plan.single ? headers[0] : { count: headers.length, headers, max: MAX_HEADERS };
      }
      case 'transaction':
        return this.transaction(method, plan.txid, deadline, raw);
      case 'block-bound':
        return this.blockBound(method, args, plan.key, plan.height, deadline, raw);
    }
  }

  /**
   * A header answer in the client's shape, for a caller that takes RawJson:
   * from the wire memo, or written from the stored headers (and memoized when
   * large), or, on a miss, the upstream's verified answer as a value.
   */
  private async headersForClient(method: string, start: number, count: number, single: boolean, clientVersion: string, deadline: number): Promise<unknown> {
    const inMemory = this.headersInMemory(method, start, count, single, clientVersion);
    if (inMemory !== undefined) return inMemory;
    const shape = versionLess(clientVersion, '1.6') ? 'hex' : 'list';
    const memoKey = single ? null : `hs:${shape}:${start}:${count}`;
    const generation = this.generation;
    const found = await this.storedHeaders(start, count);
    if (found.every((h) => h !== undefined)) {
      this.observer?.cacheLookup(method, found.tier);
      this.observer?.cacheServedBytes(count * 80);
      const headers = found as HeaderSource[];
      const wire = single ? headerWire(headers[0]!) : headersWire(headers, MAX_HEADERS, shape);
      if (memoKey !== null && wire.length >= WIRE_MEMO_MIN_BYTES && generation === this.generation) this.l1.setWire(memoKey, wire);
      return new RawJson(wire);
    }
    const headers = await this.fetchHeaders(method, start, count, deadline);
    return clientResult(method, single ? headers[0] : { count: headers.length, headers, max: MAX_HEADERS }, clientVersion);
  }

  /**
   * A header answer in the client's shape from memory alone (the wire memo,
   * the tracker's window, L1), or undefined when any header is elsewhere.
   */
  private headersInMemory(method: string, start: number, count: number, single: boolean, clientVersion: string): RawJson | undefined {
    const shape = versionLess(clientVersion, '1.6') ? 'hex' : 'list';
    const memoKey = single ? null : `hs:${shape}:${start}:${count}`;
    if (memoKey !== null) {
      const memo = this.l1.getWire(memoKey);
      if (memo !== undefined) {
        this.observer?.cacheLookup(method, 'l1');
        this.observer?.cacheServedBytes(count * 80);
        return new RawJson(memo);
      }
    }
    if (single) {
      const h = this.heldHeader(start);
      if (h === undefined) return undefined;
      this.observer?.cacheLookup(method, 'l1');
      this.observer?.cacheServedBytes(80);
      return new RawJson(headerWire(h));
    }
    const headers = new Array<HeaderSource>(count);
    for (let i = 0; i < count; i++) {
      const h = this.heldHeader(start + i);
      if (h === undefined) return undefined;
      headers[i] = h;
    }
    this.observer?.cacheLookup(method, 'l1');
    this.observer?.cacheServedBytes(count * 80);
    const wire = headersWire(headers, MAX_HEADERS, shape);
    if (memoKey !== null && wire.length >= WIRE_MEMO_MIN_BYTES) this.l1.setWire(memoKey, wire);
    return new RawJson(wire);
  }

  /**
   * One upstream call per identical request in flight. `store` runs once, when
   * that call answers, not once per request sharing it; `scope` keeps apart
   * requests that must not share an answer (the block hash a proof is checked against).
   * `raw`: the answer may come back as RawJson (only when nothing verifies or stores it).
   */
  private fetch(method: string, args: readonly unknown[], deadline: number, verify?: Verifier, store?: (answer: unknown) => void, scope = '', raw = false): Promise<unknown> {
    const asRaw = raw && verify === undefined && store === undefined;
    const key = `${method}${argsKey(args)}${scope}${asRaw ? '#raw' : ''}`;
    const pending = this.inflight.get(key);
    if (pending) {
      this.observer?.coalesced(method);
      return pending;
    }
    // One continuation for both outcomes (not then + finally): a promise less per request.
    const p = this.router.forward(method, args, CANONICAL, deadline, verify, asRaw).then(
      (answer) => {
        this.inflight.delete(key);
        store?.(answer);
        return answer;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private async perTipAnswer(method: string, args: readonly unknown[], key: string, deadline: number): Promise<unknown> {
    const tipHash = this.tipHash();
    const hit = this.perTip.get(key);
    if (hit && hit.tipHash === tipHash && Date.now() - hit.at < this.opts.perTipTtlMs) {
      this.observer?.cacheLookup(method, 'l1');
      return hit.value;
    }
    this.observer?.cacheLookup(method, 'miss');
    const value = await this.fetch(method, args, deadline);
    this.perTip.set(key, { value, tipHash, at: Date.now() });
    return value;
  }

  /** Headers [start, start+count), each from L1, then L2, then (all missing ones at once) an upstream. */
  private async headers(method: string, start: number, count: number, deadline: number): Promise<string[]> {
    const found = await this.storedHeaders(start, count);
    if (found.every((h) => h !== undefined)) {
      this.observer?.cacheLookup(method, found.tier);
      this.observer?.cacheServedBytes(count * 80);
      return (found as HeaderSource[]).map(headerHex);
    }
    return this.fetchHeaders(method, start, count, deadline);
  }

  /** The headers of a range not all held: asked of an upstream (all of them, at once), verified, stored. */
  private async fetchHeaders(method: string, start: number, count: number, deadline: number): Promise<string[]> {
    this.observer?.cacheLookup(method, 'miss');
    const verify: Verifier = (canonical) => {
      const got = (canonical as { headers?: unknown }).headers;
      if (!Array.isArray(got)) return 'headers answer has no headers';
      // A short answer is only right at the tip, and nothing here is near it.
      if (got.length !== count) return `asked for ${count} headers below the tip, got ${got.length}`;
      return verifyHeaders(this.network, start, got as string[], (h) => this.knownHash(h));
    };
    const store = (answer: unknown): void => this.storeHeaders(start, (answer as { headers: string[] }).headers);
    const answer = (await this.fetch('blockchain.block.headers', count === 1 ? [start, 1] : [start, count], deadline, verify, store)) as { headers: string[] };
    return answer.headers;
  }

  /**
   * Headers [start, start+count) held: from L1 as its buffer (the 80 bytes
   * and the hash; no hex until an answer is written), from L2 as hex.
   */
  private async storedHeaders(start: number, count: number): Promise<(HeaderSource | undefined)[] & { tier: Tier }> {
    const out = Object.assign(new Array<HeaderSource | undefined>(count).fill(undefined), { tier: 'l1' as Tier });
    const missing: number[] = [];
    for (let i = 0; i < count; i++) {
      const b = this.heldHeader(start + i);
      if (b !== undefined) out[i] = b;
      else missing.push(i);
    }
    if (missing.length === 0 || !this.l2?.healthy) return out;
    // What memory held, as hex before the waits: a view into the tracker's index would show
    // another chain's bytes if a reorg rewrote it meanwhile, mixing two chains in one answer.
    for (let i = 0; i < count; i++) if (out[i] !== undefined) out[i] = headerHex(out[i]!);
    const hashes = await this.l2.mget(missing.map((i) => `hidx:${start + i}`));
    const withHash = missing.map((i, n) => ({ i, hash: hashes[n] })).filter((x): x is { i: number; hash: Buffer } => x.hash !== undefined);
    const bodies = await this.l2.mget(withHash.map((x) => `hdr:${x.hash.toString('hex')}`));
    // Redis is trusted no more than an upstream: a header read back is served only once it is
    // proven on the verified chain (the tracker's block at its height, or linked down from one).
    // Redis keeps the 80 bytes, not a wire form: that is what the check hashes.
    const candidates = out.map((h) => (h === undefined ? undefined : headerHex(h)));
    const fromL2 = new Map<number, { hash: Buffer; body: Buffer }>();
    const forged: string[] = [];
    withHash.forEach(({ i, hash }, n) => {
      const body = bodies[n];
      if (!body) return;
      if (body.length !== 80 || blockHash(body) !== hash.toString('hex')) {
        forged.push(`hidx:${start + i}`, `hdr:${hash.toString('hex')}`);
        return;
      }
      candidates[i] = body.toString('hex');
      fromL2.set(i, { hash, body });
    });
    const proven = linkedHeaders(start, candidates, (h) => this.knownHash(h));
    for (const [i, { hash, body }] of fromL2) {
      if (!proven[i]) {
        // Contradicting the verified chain is a forgery; merely unlinked (below what we can prove) is a miss.
        if (this.knownHash(start + i) !== undefined) forged.push(`hidx:${start + i}`);
        else this.rejected('header', `header ${start + i} from Redis does not link to the verified chain`);
        continue;
      }
      out[i] = body;
      out.tier = 'l2';
      this.l1SetHeader(start + i, body, hash);
    }
    if (forged.length > 0) {
      this.rejected('header', `header entries in Redis contradict the verified chain near ${start}`);
      this.l2.delete(forged);
    }
    // The request that fetched them may have answered while we waited on Redis.
    for (const i of missing) {
      if (out[i] !== undefined) continue;
      const b = this.heldHeader(start + i);
      if (b !== undefined) out[i] = b;
    }
    return out;
  }

  /** Only headers proven on the verified chain are stored: a forged deep run, however good its proof of work, is served at most, never kept. */
  private storeHeaders(start: number, headers: readonly string[]): void {
    const proven = linkedHeaders(start, headers, (h) => this.knownHash(h));
    const l2: [string, Buffer][] = [];
    headers.forEach((hex, i) => {
      const height = start + i;
      if (!proven[i] || !this.buried(height)) return;
      const body = Buffer.from(hex, 'hex');
      const hash = blockHash(body);
      const hashBytes = Buffer.from(hash, 'hex');
      this.l1SetHeader(height, body, hashBytes);
      l2.push([`hidx:${height}`, hashBytes], [`hdr:${hash}`, body]);
    });
    this.l2?.set(l2);
  }

  /**
   * The verified chain's hash at `height`: the tracker's, a proven header in
   * memory, or the prev-hash of the proven header one above (so proof runs
   * down from the tracker's lowest header through what is held).
   */
  private knownHash(height: number): string | undefined {
    const known = this.tracker.hashAt(height) ?? this.l1Header(height)?.hash;
    if (known !== undefined) return known;
    const above = this.l1.get(`h:${height + 1}`);
    return above ? Buffer.from(above.subarray(4, 36)).reverse().toString('hex') : undefined;
  }

  /**
   * In memory a header is kept with its block hash (80 + 32 bytes), so a
   * cache hit never hashes it again: hashing every header of every served
   * range was a fifth of the CPU of a cache hit, and 40 % of a chunk's.
   */
  private l1Header(height: number): { hex: string; hash: string } | undefined {
    const b = this.l1.get(`h:${height}`);
    return b ? { hex: b.toString('hex', 0, 80), hash: b.toString('hex', 80) } : undefined;
  }

  /**
   * A header held in memory: from the anchor up the tracker's verified index
   * holds every one (a view into it: nothing to look up, check or store);
   * below it, L1's buffer (80 bytes, then its hash), proven when it was
   * stored and checked against the hash the tracker knows, when it knows
   * one. A header left by a reorg is never served.
   */
  private heldHeader(height: number): HeaderSource | undefined {
    const verified = this.tracker.headerBytes(height);
    if (verified !== undefined) return verified;
    const b = this.l1.get(`h:${height}`);
    if (b === undefined) return undefined;
    const known = this.tracker.hashAt(height);
    return known === undefined || hexEquals(b, 80, known) ? b : undefined;
  }

  private l1SetHeader(height: number, body: Buffer, hash: Buffer): void {
    this.l1.set(`h:${height}`, Buffer.concat([body, hash]));
  }

  private async transaction(method: string, txid: string, deadline: number, raw: boolean): Promise<unknown> {
    const cacheable = this.cacheableTx(txid);
    if (cacheable) {
      const memo = raw ? this.txMemo(method, txid) : undefined;
      if (memo !== undefined) return memo;
      // L1 and Redis hold the raw bytes: the check on read-back hashes them.
      const hit = await this.lookup(`tx:${txid}`, 'transaction', (v) => verifyTransaction(txid, v.toString('hex')));
      if (hit) {
        this.observer?.cacheLookup(method, hit.tier);
        this.observer?.cacheServedBytes(hit.value.length);
        if (!raw) return hit.value.toString('hex');
        const wire = hexStringWire(hit.value);
        if (wire.length >= WIRE_MEMO_MIN_BYTES) this.l1.setWire(`tx:${txid}`, wire);
        return new RawJson(wire);
      }
    }
    this.observer?.cacheLookup(method, 'miss');
    // Verified whether or not it will be cached: a wrong transaction is never served.
    const store = cacheable ? (raw: unknown): void => this.store(`tx:${txid}`, Buffer.from(String(raw), 'hex')) : undefined;
    return this.fetch(method, [txid], deadline, (c) => verifyTransaction(txid, c), store);
  }

  private async blockBound(method: string, args: readonly unknown[], key: string, height: number, deadline: number, raw: boolean): Promise<unknown> {
    const [header] = await this.headers('blockchain.block.header', height, 1, deadline);
    const hash = blockHash(header!);
    const fullKey = `${key}:${hash}`;
    const { upstreamArgs, verify } = this.blockBoundCall(method, args, header!);
    // What Redis holds is checked exactly as an upstream's answer would be, against the header we hold.
    // Redis keeps the proof as JSON, which the check parses; L1 gets it rewritten by JSON.stringify,
    // so what L1 holds is the gateway's own compact JSON, fit to be written to a wallet as it is.
    let parsed: unknown;
    const hit = await this.lookup(
      fullKey,
      blockBoundKind(method),
      async (v) => {
        try {
          parsed = JSON.parse(v.toString('utf8'));
        } catch {
          return 'not JSON';
        }
        return verify(parsed);
      },
      () => Buffer.from(JSON.stringify(parsed), 'utf8'),
    );
    // A reorg known while we waited orphaned this block: start again from the new one.
    if (this.orphanedSince(height, hash)) return this.blockBound(method, args, key, height, deadline, raw);
    if (hit) {
      this.observer?.cacheLookup(method, hit.tier);
      this.observer?.cacheServedBytes(hit.value.length);
      if (raw && method === 'blockchain.transaction.get_merkle') {
        // Its wire form in every version is the stored proof itself.
        this.noteConfirmed(method, args, null, height);
        return new RawJson(hit.value);
      }
      const stored: unknown = JSON.parse(hit.value.toString('utf8'));
      // A proof from the cache (another instance's, through Redis) proves the transaction here too.
      this.noteConfirmed(method, args, stored, height);
      return this.fromStored(method, args, stored);
    }
    this.observer?.cacheLookup(method, 'miss');
    // The tip may have moved while we waited: an answer about an orphaned block is neither stored nor served.
    const store = (answer: unknown): void => {
      if (!this.orphanedSince(height, hash)) this.store(fullKey, Buffer.from(JSON.stringify(answer), 'utf8'));
    };
    // Checked against this block's header: shared only with requests about the same block.
    const answer = await this.fetch(method, upstreamArgs, deadline, verify, store, `@${hash}`);
    if (this.orphanedSince(height, hash)) return this.blockBound(method, args, key, height, deadline, raw);
    this.noteConfirmed(method, args, answer, height);
    return this.fromStored(method, args, answer);
  }

  /** A verified proof puts a transaction in a block: its bytes may be cached once that block is buried. */
  private noteConfirmed(method: string, args: readonly unknown[], answer: unknown, height: number): void {
    if (method === 'blockchain.transaction.get_merkle') this.confirmed.set(String(args[0]), height);
    if (method === 'blockchain.transaction.id_from_pos') this.confirmed.set(String((answer as { tx_hash: string }).tx_hash), height);
  }

  /** Whether the best chain's block at `height` is now another than `hash` (a reorg became known). */
  private orphanedSince(height: number, hash: string): boolean {
    const now = this.tracker.hashAt(height);
    return now !== undefined && now !== hash;
  }

  /** What to ask upstream for a block-bound answer, and how to check it against the block's header. */
  private blockBoundCall(method: string, args: readonly unknown[], header: string): { upstreamArgs: readonly unknown[]; verify: Verifier } {
    switch (method) {
      case 'blockchain.transaction.get_merkle':
        return { upstreamArgs: args, verify: (c) => verifyMerkle(String(args[0]), c, header) };
      case 'blockchain.transaction.id_from_pos':
        // Always ask for the proof, so the answer can be checked; it is dropped for wallets that did not ask.
        return { upstreamArgs: [args[0], args[1], true], verify: (c) => verifyIdFromPos(c, Number(args[1]), header) };
      default:
        return { upstreamArgs: args, verify: (c) => this.verifyCheckpointProof(method, args, c) };
    }
  }

  private fromStored(method: string, args: readonly unknown[], stored: unknown): unknown {
    if (method === 'blockchain.transaction.id_from_pos' && args[2] !== true) return (stored as { tx_hash: string }).tx_hash;
    return stored;
  }

  /** A cp_height answer: its headers verify, and the branch folds the last header's hash into the root. */
  private verifyCheckpointProof(method: string, args: readonly unknown[], canonical: unknown): string | null {
    const c = canonical as { branch?: unknown; root?: unknown; header?: unknown; headers?: unknown };
    const start = Number(args[0]);
    // Asked for headers past the tip, a server has none to send and, as ElectrumX, no proof either:
    // an honest answer, which must not get the only upstream quarantined by a client that asks it.
    if (method === 'blockchain.block.headers' && Array.isArray(c.headers) && c.headers.length === 0) {
      const tip = this.tracker.tip;
      return tip !== null && start > tip.height ? null : 'no headers for a range below the tip';
    }
    if (!Array.isArray(c.branch) || typeof c.root !== 'string') return 'checkpoint answer lacks branch or root';
    const headers = method === 'blockchain.block.header' ? [String(c.header)] : Array.isArray(c.headers) ? (c.headers as string[]) : [];
    if (headers.length === 0) return 'checkpoint answer has no headers';
    if (method === 'blockchain.block.headers' && headers.length !== Number(args[1])) return 'short checkpoint answer';
    const wrong = verifyHeaders(this.network, start, headers, (h) => this.knownHash(h));
    if (wrong) return wrong;
    const last = start + headers.length - 1;
    try {
      return rootFromBranch(blockHash(headers[headers.length - 1]!), c.branch as string[], last) === c.root ? null : 'checkpoint branch does not lead to its root';
    } catch (err) {
      return `checkpoint branch is malformed: ${(err as Error).message}`;
    }
  }

  /**
   * L1 then L2; what comes back from L2 must pass `verify` (the check an
   * upstream's answer passes) or it is dropped. `forL1` gives the form L1
   * keeps of a verified L2 value (by default the value itself).
   */
  private async lookup(
    key: string,
    kind: CachedKind,
    verify: (value: Buffer) => string | null | Promise<string | null>,
    forL1?: (value: Buffer) => Buffer,
  ): Promise<{ value: Buffer; tier: Tier } | null> {
    const local = this.l1.get(key);
    if (local) return { value: local, tier: 'l1' };
    if (!this.l2?.healthy) return null;
    const [remote] = await this.l2.mget([key]);
    if (remote) {
      const wrong = await verify(remote);
      if (wrong === null) {
        const kept = forL1 ? forL1(remote) : remote;
        this.l1.set(key, kept);
        return { value: kept, tier: 'l2' };
      }
      this.rejected(kind, `${key}: ${wrong}`);
      this.l2.delete([key]);
    }
    // The request that fetched it may have answered while we waited on Redis.
    const late = this.l1.get(key);
    return late ? { value: late, tier: 'l1' } : null;
  }

  /** A forged (or no longer provable) entry from Redis: counted, logged at most every few seconds. */
  private rejected(kind: CachedKind, reason: string): void {
    this.observer?.cacheRejected('l2', kind);
    const now = Date.now();
    if (now - this.lastRejectLog >= REJECT_LOG_INTERVAL_MS) {
      this.lastRejectLog = now;
      this.log.warn({ kind, reason }, 'cache entry from Redis failed verification; dropped, asking an upstream');
    }
  }

  /**
   * Answers about blocks near the tip are not cached, but they are checked
   * against the tracker's verified headers before a wallet sees them: a
   * mismatch makes the router quarantine that upstream and ask another. An
   * honest upstream may be a moment ahead of the tracker on a reorg, so a
   * mismatch is judged again once the tracker has handled every tip offered.
   */
  private nearTipVerifier(method: string, args: readonly unknown[]): Verifier | undefined {
    let check: ((c: unknown) => string | null) | undefined;
    switch (method) {
      case 'blockchain.block.header': {
        const height = Number(args[0]);
        if (args[1] !== undefined) check = (c) => this.verifyCheckpointProof(method, args, c);
        else check = (c) => (typeof c === 'string' ? verifyHeaders(this.network, height, [c], (h) => this.knownHash(h)) : 'header answer is not hex');
        break;
      }
      case 'blockchain.block.headers': {
        const start = Number(args[0]);
        if (args[2] !== undefined) check = (c) => this.verifyCheckpointProof(method, args, c);
        else
          check = (c) => {
            const got = (c as { headers?: unknown }).headers;
            return Array.isArray(got) ? verifyHeaders(this.network, start, got as string[], (h) => this.knownHash(h)) : 'headers answer has no headers';
          };
        break;
      }
      case 'blockchain.transaction.get_merkle': {
        const txid = String(args[0]);
        const height = Number(args[1]);
        check = (c) => {
          const header = this.tracker.headerAt(height)?.hex;
          // Above the tracker's tip (an upstream a moment ahead) there is nothing to check against yet.
          return header === undefined ? null : verifyMerkle(txid, c, header);
        };
        break;
      }
      default:
        return undefined;
    }
    const first = check;
    return async (c) => {
      if (first(c) === null) return null;
      await this.tracker.settled();
      return first(c);
    };
  }

  private store(key: string, value: Buffer): void {
    this.l1.set(key, value);
    this.l2?.set([[key, value]]);
  }

  private tipHash(): string | undefined {
    const tip = this.tracker.tip;
    return tip ? this.tracker.hashAt(tip.height) : undefined;
  }

  /**
   * After a reorg: headers above the fork leave memory and Redis's height
   * index, block-bound answers for those heights leave memory (in Redis their
   * keys name orphaned blocks and are never asked for again), and what we
   * knew of confirmations there is forgotten.
   */
  private onReorg(r: Reorg): void {
    const above = (height: number): boolean => height > r.forkHeight;
    this.generation++;
    this.l1.clearWire();
    const dropped = this.l1.deleteWhere((key) => {
      const m = /^(?:h|mk:[0-9a-f]+|ip|hcp:\d+|hscp:\d+:\d+):(\d+)/.exec(key);
      return m !== null && above(Number(m[1]));
    });
    const tipHeight = r.tip.height;
    const stale: string[] = [];
    for (let h = r.forkHeight + 1; h <= Math.max(tipHeight, r.forkHeight + r.orphaned.length); h++) stale.push(`hidx:${h}`);
    this.l2?.delete(stale);
    for (const [txid, height] of this.confirmed.entries()) if (above(height)) this.confirmed.delete(txid);
    this.perTip.clear();
    this.log.info({ forkHeight: r.forkHeight, dropped }, 'cache invalidated above the fork');
  }
}

function headerHex(h: HeaderSource): string {
  return typeof h === 'string' ? h : h.toString('hex', 0, 80);
}

function blockBoundKind(method: string): CachedKind {
  if (method === 'blockchain.transaction.get_merkle') return 'merkle';
  if (method === 'blockchain.transaction.id_from_pos') return 'id_from_pos';
  return 'checkpoint';
}
