// SPDX-License-Identifier: MIT
/**
 * The Electrum scripthash status (protocol-basics "Status"):
 *   confirmed txs in chain order (height ascending, ties by position in block),
 *   then mempool txs in the canonical 1.6 order: height 0 before height -1,
 *   ties by txid compared as display hex;
 *   status = hex(sha256(concat("<txid>:<height>:"))), or null when there are none.
 *
 * The wallet recomputes the status from the get_history it receives, in the
 * order it receives it, so whoever serves a history must hash exactly what it
 * serves: statusHash() hashes the order given, canonicalStatus() sorts first.
 */
import { createHash } from 'node:crypto';

export interface StatusEntry {
  readonly tx_hash: string;
  /** Block height; 0 = mempool with confirmed inputs; -1 = mempool spending an unconfirmed output. */
  readonly height: number;
}

export function isMempoolHeight(height: number): boolean {
  return height <= 0;
}

/** Canonical mempool comparison: 0 before -1, then txid display hex ascending. */
export function compareMempool(a: StatusEntry, b: StatusEntry): number {
  if (a.height !== b.height) return b.height - a.height;
  const x = a.tx_hash.toLowerCase();
  const y = b.tx_hash.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The mempool entries in canonical 1.6 order (a new array; the input is not touched). */
export function sortMempool<T extends StatusEntry>(entries: readonly T[]): T[] {
  return [...entries].sort(compareMempool);
}

/**
 * A history in spec order: confirmed entries first, stably sorted by height
 * (so same-block entries keep their given, in-block order), then the mempool
 * entries in canonical order.
 */
export function orderHistory<T extends StatusEntry>(history: readonly T[]): T[] {
  const confirmed = history.filter((e) => !isMempoolHeight(e.height));
  const mempool = history.filter((e) => isMempoolHeight(e.height));
  const withIndex = confirmed.map((e, i) => ({ e, i }));
  withIndex.sort((a, b) => a.e.height - b.e.height || a.i - b.i);
  return [...withIndex.map((x) => x.e), ...sortMempool(mempool)];
}

/** True when the mempool part follows the confirmed part and is in canonical order (what Electrum ≥4.7 demands at 1.6). */
export function isCanonicalHistory(history: readonly StatusEntry[]): boolean {
  let seenMempool = false;
  let prevHeight = 0;
  for (let i = 0; i < history.length; i++) {
    const e = history[i]!;
    if (isMempoolHeight(e.height)) {
      if (seenMempool && compareMempool(history[i - 1]!, e) > 0) return false;
      seenMempool = true;
    } else {
      if (seenMempool || e.height < prevHeight) return false;
      prevHeight = e.height;
    }
  }
  return true;
}

/** The status of a history, hashed in exactly the order given. */
export function statusHash(history: readonly StatusEntry[]): string | null {
  if (history.length === 0) return null;
  const h = createHash('sha256');
  for (const e of history) h.update(`${e.tx_hash}:${e.height}:`, 'ascii');
  return h.digest('hex');
}

/** The status of a history after putting it in spec order (see orderHistory). */
export function canonicalStatus(history: readonly StatusEntry[]): string | null {
  return statusHash(orderHistory(history));
}
