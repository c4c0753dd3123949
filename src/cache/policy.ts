// SPDX-License-Identifier: MIT
/**
 * What may be cached, and for how long: one table, in code and in
 * docs/caching.md. Pure: the tip height comes in as an argument.
 *
 * | request                                   | cached when                                   | kept     |
 * |-------------------------------------------|-----------------------------------------------|----------|
 * | blockchain.block.header(h)                | h <= tip - min_depth                          | forever* |
 * | blockchain.block.headers(s, n)            | the whole range <= tip - min_depth, full reply| forever* |
 * | ... with cp_height                        | cp_height <= tip - min_depth                  | forever* |
 * | blockchain.transaction.get(txid)          | non-verbose, txid proven in a block <= tip - min_depth | forever |
 * | blockchain.transaction.get_merkle(t, h)   | h <= tip - min_depth                          | forever* |
 * | blockchain.transaction.id_from_pos(h, p)  | h <= tip - min_depth                          | forever* |
 * | estimatefee, relayfee, mempool.get_info,  | always                                        | until the|
 * |   mempool.get_fee_histogram               |                                               | next tip or tip_ttl_ms, this instance only |
 * | everything else (scripthash, broadcast…)  | never                                         |          |
 *
 * (*) keyed by the block hash at that height and dropped on a reorg.
 */

export type CachePlan =
  | { readonly kind: 'never' }
  /** Assembled from stored headers, one per height. */
  | { readonly kind: 'headers'; readonly start: number; readonly count: number; readonly single: boolean }
  /** A whole answer that depends on the block at `height` (its hash goes in the key). */
  | { readonly kind: 'block-bound'; readonly key: string; readonly height: number }
  /** Raw transaction bytes, immutable for a txid once it is buried. */
  | { readonly kind: 'transaction'; readonly txid: string }
  /** Changes with every block: kept until the next tip, in this process only. */
  | { readonly kind: 'per-tip'; readonly key: string };

/**
 * Requests that must reach an upstream once per wallet request: a broadcast is
 * an action, not a question, so two wallets sending the same bytes at the same
 * moment each get their own call (and their own error, if it is refused).
 */
const NEVER_SHARED = new Set(['blockchain.transaction.broadcast', 'blockchain.transaction.broadcast_package']);

/** Whether identical requests in flight may share one upstream call. */
export function coalescable(method: string): boolean {
  return !NEVER_SHARED.has(method);
}

const PER_TIP = new Set(['blockchain.estimatefee', 'blockchain.relayfee', 'mempool.get_info', 'mempool.get_fee_histogram']);

/** The headers a request is guaranteed to cover: ElectrumX, Fulcrum and electrs all stop at 2016. */
export const MAX_HEADERS = 2016;

/**
 * How a canonical request (as forwarded, defaults dropped) may be cached.
 * `buried(h)` says whether height h is at least min_depth below the tip.
 */
export function cachePlan(method: string, args: readonly unknown[], buried: (height: number) => boolean): CachePlan {
  switch (method) {
    case 'blockchain.block.header': {
      const [height, cp] = args as [number, number | undefined];
      if (cp !== undefined) return buried(cp) && height <= cp ? { kind: 'block-bound', key: `hcp:${height}:${cp}`, height: cp } : { kind: 'never' };
      return buried(height) ? { kind: 'headers', start: height, count: 1, single: true } : { kind: 'never' };
    }
    case 'blockchain.block.headers': {
      const [start, count, cp] = args as [number, number, number | undefined];
      if (count < 1 || count > MAX_HEADERS) return { kind: 'never' };
      const last = start + count - 1;
      if (cp !== undefined) return buried(cp) && last <= cp ? { kind: 'block-bound', key: `hscp:${start}:${count}:${cp}`, height: cp } : { kind: 'never' };
      return buried(last) ? { kind: 'headers', start, count, single: false } : { kind: 'never' };
    }
    case 'blockchain.transaction.get':
      // A verbose answer carries confirmations and changes every block.
      return args.length === 1 ? { kind: 'transaction', txid: String(args[0]) } : { kind: 'never' };
    case 'blockchain.transaction.get_merkle': {
      const [txid, height] = args as [string, number];
      return buried(height) ? { kind: 'block-bound', key: `mk:${txid}:${height}`, height } : { kind: 'never' };
    }
    case 'blockchain.transaction.id_from_pos': {
      const [height, pos] = args as [number, number];
      return buried(height) ? { kind: 'block-bound', key: `ip:${height}:${pos}`, height } : { kind: 'never' };
    }
    default:
      return PER_TIP.has(method) ? { kind: 'per-tip', key: `${method}:${JSON.stringify(args)}` } : { kind: 'never' };
  }
}
