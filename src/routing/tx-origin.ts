// SPDX-License-Identifier: MIT
/**
 * Which upstream told a wallet about a transaction it may not be alone in
 * knowing yet: a mempool entry, or one in the last few blocks. Upstreams see
 * a transaction at different moments; a wallet that read a txid in one
 * upstream's history and then asks another for it would hear "no such
 * transaction". Asking the upstream that reported it first avoids that.
 *
 * Bounded in entries and in time: past the window every upstream has the
 * transaction or none does, and the entry has done its job.
 */
import { LRUCache } from 'lru-cache';
import { isRawJson } from '../protocol/raw-json.js';
import { ListingJson, scanListing, type ScannedListing } from './listing-scan.js';

/** Entries kept at most: a few busy wallets' mempools and recent blocks, about 4 MB. */
const MAX_ENTRIES = 20_000;
/** How long a sighting steers lookups: long enough to cover a wallet's sync after a notification. */
const WINDOW_MS = 120_000;
/** Confirmations below which a transaction may still be missing on a slightly lagging upstream. */
const RECENT_DEPTH = 6;

/** The methods whose answers list transactions a wallet then looks up. */
const LISTING_METHODS: ReadonlySet<string> = new Set([
  'blockchain.scripthash.get_history',
  'blockchain.scripthash.get_mempool',
  'blockchain.scripthash.listunspent',
]);

/** The methods that look up one transaction by its hash (first argument). */
const LOOKUP_METHODS: ReadonlySet<string> = new Set(['blockchain.transaction.get', 'blockchain.transaction.get_merkle']);

export function isTxLookup(method: string): boolean {
  return LOOKUP_METHODS.has(method);
}

export class TxOrigins {
  private readonly seen: LRUCache<string, string>;

  constructor(opts: { maxEntries?: number; windowMs?: number } = {}) {
    this.seen = new LRUCache<string, string>({ max: opts.maxEntries ?? MAX_ENTRIES, ttl: opts.windowMs ?? WINDOW_MS });
  }

  /**
   * Remembers the upstream behind the unconfirmed and recent transactions of a listing
   * answer (canonical form: entries with tx_hash and height). Deep ones are everywhere.
   * A listing passed through as bytes is read from them (listing-scan.ts), not parsed.
   */
  learn(method: string, canonical: unknown, upstream: string, tipHeight: number | null): void {
    if (!LISTING_METHODS.has(method)) return;
    const recentFrom = tipHeight === null ? -Infinity : tipHeight - RECENT_DEPTH;
    if (isRawJson(canonical)) {
      const listing = canonical instanceof ListingJson ? canonical.listing : scanListing(canonical.bytes);
      if (listing !== null) return this.learnScanned(listing, upstream, recentFrom);
      canonical = canonical.value();
    }
    if (!Array.isArray(canonical)) return;
    for (const entry of canonical) {
      if (entry === null || typeof entry !== 'object') continue;
      const { tx_hash: txHash, height } = entry as { tx_hash?: unknown; height?: unknown };
      if (typeof txHash !== 'string' || typeof height !== 'number') continue;
      if (height <= 0 || height > recentFrom) this.seen.set(txHash.toLowerCase(), upstream);
    }
  }

  private learnScanned(listing: ScannedListing, upstream: string, recentFrom: number): void {
    const heights = listing.heights;
    for (let i = 0; i < heights.length; i++) {
      const height = heights[i]!;
      if (height <= 0 || height > recentFrom) this.seen.set(listing.txHash(i).toLowerCase(), upstream);
    }
  }

  /** The upstream that reported this transaction recently, if any. */
  originOf(method: string, args: readonly unknown[]): string | undefined {
    if (!LOOKUP_METHODS.has(method) || typeof args[0] !== 'string') return undefined;
    return this.seen.get(args[0].toLowerCase());
  }

  get size(): number {
    return this.seen.size;
  }
}
