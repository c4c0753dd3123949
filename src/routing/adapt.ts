// SPDX-License-Identifier: MIT
/**
 * Translation between a wallet's protocol version and an upstream's, through
 * one canonical form (1.6 shapes). Pure functions: the router calls
 * `upstreamCall` to learn what to send and how to read the answer, then
 * `clientResult` to shape the canonical answer for the wallet.
 */
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import { isRawJson } from '../protocol/raw-json.js';
import { asListing, historyListing } from './listing-scan.js';
import { orderHistory, type StatusEntry } from '../protocol/status.js';
import { versionLess } from '../protocol/version.js';
import type { Gap } from './gaps.js';

export interface UpstreamCall {
  readonly method: string;
  readonly params: readonly unknown[];
  /** A second request on the same connection whose answer the canonical form also needs. */
  readonly also?: { readonly method: string; readonly params: readonly unknown[] };
  /** Turns the upstream's answer (and the second one's) into the canonical form; throws RpcError on a malformed answer. */
  readonly toCanonical: (raw: unknown, alsoRaw?: unknown) => unknown;
  /**
   * toCanonical takes the answer as RawJson too and keeps it bytes when they
   * already are the canonical form (a listing: listing-scan.ts), so the
   * answer may be asked for raw.
   */
  readonly readsRaw?: boolean;
}

const identity = (raw: unknown): unknown => raw;

/**
 * Whether the upstream's answer is already the canonical one (no
 * translation), or one toCanonical reads as bytes: then its result bytes may
 * be passed through as they came (RawJson), if nothing else needs to look inside.
 */
export function passesThrough(call: UpstreamCall): boolean {
  return (call.toCanonical === identity || call.readsRaw === true) && call.also === undefined;
}
const HEADER_HEX = 160;

/** Satoshis per vbyte to BTC per 1,000 vbytes, the unit of relayfee and mempool.get_info. */
const SAT_PER_VB_IN_BTC_PER_KVB = 1e-5;

export function upstreamCall(method: string, args: readonly unknown[], upstreamVersion: string, gaps: ReadonlySet<Gap> = NO_GAPS): UpstreamCall {
  const old = versionLess(upstreamVersion, '1.6');
  switch (method) {
    case 'blockchain.block.headers':
      return { method, params: args, toCanonical: canonicalHeaders };
    case 'blockchain.scripthash.get_mempool':
      if (gaps.has('get_mempool')) {
        // electrs: its history ends with the mempool entries (height 0 or -1, with their fee).
        return {
          method: 'blockchain.scripthash.get_history',
          params: args,
          toCanonical: (raw) => (canonicalHistory(method, raw) as StatusEntry[]).filter((e) => e.height <= 0),
        };
      }
      return { method, params: args, readsRaw: true, toCanonical: (raw) => canonicalHistory(method, raw) };
    case 'blockchain.scripthash.get_history':
      // 1.6 fixes the mempool order; 1.4 servers (electrs) may use another, so it is imposed here.
      return { method, params: args, readsRaw: true, toCanonical: (raw) => canonicalHistory(method, raw) };
    case 'blockchain.scripthash.listunspent':
      return { method, params: args, readsRaw: true, toCanonical: listingAsIs };
    case 'blockchain.estimatefee':
      return { method, params: old ? args.slice(0, 1) : args, toCanonical: identity };
    case 'blockchain.relayfee':
      return old
        ? { method, params: [], toCanonical: identity }
        : { method: 'mempool.get_info', params: [], toCanonical: (raw) => field(raw, 'minrelaytxfee') };
    case 'mempool.get_info':
      return old
        ? {
            method: 'blockchain.relayfee',
            params: [],
            also: { method: 'mempool.get_fee_histogram', params: [] },
            toCanonical: (raw, histogram) => mempoolInfoFromRelayFee(raw, histogram),
          }
        : { method, params: [], toCanonical: identity };
    case 'blockchain.transaction.broadcast_package':
      if (old) {
        throw new RpcError(ErrorCode.UNAVAILABLE, 'blockchain.transaction.broadcast_package needs an upstream that speaks protocol 1.6');
      }
      return { method, params: args, toCanonical: identity };
    default:
      return { method, params: args, toCanonical: identity };
  }
}

const NO_GAPS: ReadonlySet<Gap> = new Set();

/**
 * mempool.get_info for a server older than 1.6, which knows only its relay fee and its fee
 * histogram. The relay fee stands for minrelaytxfee and incrementalrelayfee (bitcoind's
 * defaults are equal). mempoolminfee must never be reported below the real one, or wallets
 * would build transactions the mempool refuses: when bitcoind raises it, it has evicted
 * everything below the new minimum less one increment, so the lowest fee rate still in the
 * histogram plus one increment bounds it from above. The price is a floor at most one
 * increment above the real one while the mempool is not full.
 */
export function mempoolInfoFromRelayFee(relayfee: unknown, histogram: unknown): Record<string, number> {
  if (typeof relayfee !== 'number' || !Number.isFinite(relayfee) || relayfee < 0) {
    throw malformed('blockchain.relayfee', 'not a non-negative number');
  }
  if (!Array.isArray(histogram)) throw malformed('mempool.get_fee_histogram', 'not a list');
  let lowest: number | null = null;
  for (const bin of histogram) {
    if (!Array.isArray(bin) || typeof bin[0] !== 'number' || !Number.isFinite(bin[0]) || bin[0] < 0) {
      throw malformed('mempool.get_fee_histogram', 'an entry that is not [fee_rate, vsize]');
    }
    lowest = lowest === null ? bin[0] : Math.min(lowest, bin[0]);
  }
  const floor = lowest === null ? relayfee : Math.max(relayfee, lowest * SAT_PER_VB_IN_BTC_PER_KVB + relayfee);
  return { mempoolminfee: Math.round(floor * 1e8) / 1e8, minrelaytxfee: relayfee, incrementalrelayfee: relayfee };
}

/**
 * The canonical answer in the client's shape. A RawJson answer whose shape is
 * the same for this client goes through untouched; one that must be reshaped
 * is parsed here, once.
 */
/** Whether clientResult would change a canonical answer of `method` for this client version. */
export function reshapedForClient(method: string, clientVersion: string): boolean {
  return method === 'blockchain.block.headers' && versionLess(clientVersion, '1.6');
}

export function clientResult(method: string, canonical: unknown, clientVersion: string): unknown {
  if (method === 'blockchain.block.headers' && versionLess(clientVersion, '1.6')) {
    const c = (isRawJson(canonical) ? canonical.value() : canonical) as { count: number; headers: string[]; max: number; root?: string; branch?: string[] };
    const out: Record<string, unknown> = { count: c.count, hex: c.headers.join(''), max: c.max };
    if (c.root !== undefined) out.root = c.root;
    if (c.branch !== undefined) out.branch = c.branch;
    return out;
  }
  return canonical;
}

/** Accepts both the 1.4 `hex` form and the 1.6 `headers` list; returns the 1.6 form. */
export function canonicalHeaders(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object') throw malformed('blockchain.block.headers', 'not an object');
  const r = raw as Record<string, unknown>;
  let headers: string[];
  if (Array.isArray(r.headers)) {
    headers = r.headers.map(String);
  } else if (typeof r.hex === 'string') {
    if (r.hex.length % HEADER_HEX !== 0) throw malformed('blockchain.block.headers', 'hex is not a whole number of headers');
    headers = [];
    for (let i = 0; i < r.hex.length; i += HEADER_HEX) headers.push(r.hex.slice(i, i + HEADER_HEX));
  } else {
    throw malformed('blockchain.block.headers', 'neither hex nor headers');
  }
  const out: Record<string, unknown> = { count: headers.length, headers, max: r.max };
  if (r.root !== undefined) out.root = r.root;
  if (r.branch !== undefined) out.branch = r.branch;
  return out;
}

/**
 * A history or mempool list in spec order. Its bytes (RawJson) stay bytes,
 * spliced into that order if the server used another; bytes the listing
 * scanner does not read as a listing are parsed and judged here as any answer.
 */
function canonicalHistory(method: string, raw: unknown): unknown {
  if (isRawJson(raw)) {
    const listing = historyListing(raw);
    if (listing !== null) return listing;
    raw = raw.value();
  }
  if (!Array.isArray(raw)) throw malformed(method, 'not a list');
  for (const e of raw) {
    if (e === null || typeof e !== 'object' || typeof (e as StatusEntry).tx_hash !== 'string' || typeof (e as StatusEntry).height !== 'number') {
      throw malformed(method, 'an entry without tx_hash and height');
    }
  }
  return orderHistory(raw as StatusEntry[]);
}

/** listunspent as the server sent it; its bytes as a ListingJson, so TxOrigins reads them without parsing. */
function listingAsIs(raw: unknown): unknown {
  return isRawJson(raw) ? (asListing(raw) ?? raw.value()) : raw;
}

function field(raw: unknown, name: string): unknown {
  if (raw === null || typeof raw !== 'object' || !(name in raw)) throw malformed('mempool.get_info', `no ${name}`);
  return (raw as Record<string, unknown>)[name];
}

function malformed(method: string, why: string): RpcError {
  return new RpcError(ErrorCode.INTERNAL_ERROR, `upstream sent a malformed ${method} answer: ${why}`);
}
