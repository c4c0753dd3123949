// SPDX-License-Identifier: MIT
/**
 * Checks that an upstream's answer is true before it is cached or served:
 * headers link and meet their proof of work, a merkle branch folds to the
 * block's merkle root, transaction bytes hash to the txid asked for. Pure;
 * each returns the reason an answer is wrong, or null.
 */
import type { Network } from '../config/networks.js';
import { blockHash, checkProofOfWork, parseHeader } from '../protocol/bitcoin/header.js';
import { rootFromBranch } from '../protocol/bitcoin/merkle.js';
import { txid as computeTxid } from '../protocol/bitcoin/tx.js';

/**
 * Consecutive headers from `start`: each meets its proof of work and links to
 * the one before; where the chain tracker (or the store) knows a height's
 * hash, the header must be that block, and the first must link to the block
 * below it when that is known.
 */
export function verifyHeaders(network: Network, start: number, headers: readonly string[], knownHash: (height: number) => string | undefined): string | null {
  let prevHash = knownHash(start - 1);
  for (let i = 0; i < headers.length; i++) {
    const height = start + i;
    const hex = headers[i]!;
    let parsed;
    try {
      parsed = parseHeader(hex);
    } catch (err) {
      return `header ${height} is malformed: ${(err as Error).message}`;
    }
    const pow = checkProofOfWork(hex, network);
    if (!pow.ok) return `header ${height} fails proof of work (${pow.reason})`;
    if (prevHash !== undefined && parsed.prevHash !== prevHash) return `header ${height} does not link to the block below it`;
    const hash = blockHash(hex);
    const known = knownHash(height);
    if (known !== undefined && known !== hash) return `header ${height} is not the best chain's block ${known}`;
    prevHash = hash;
  }
  return null;
}

/** A get_merkle answer for `txid` in the block whose header is `headerHex`. */
export function verifyMerkle(txid: string, answer: unknown, headerHex: string): string | null {
  if (answer === null || typeof answer !== 'object') return 'get_merkle answer is not an object';
  const { merkle, pos } = answer as { merkle?: unknown; pos?: unknown };
  if (!Array.isArray(merkle) || typeof pos !== 'number') return 'get_merkle answer lacks merkle or pos';
  return branchMatches(txid, merkle as string[], pos, headerHex) ? null : `merkle branch for ${txid} does not lead to the block's merkle root`;
}

/** An id_from_pos answer with merkle=true. */
export function verifyIdFromPos(answer: unknown, pos: number, headerHex: string): string | null {
  if (answer === null || typeof answer !== 'object') return 'id_from_pos answer is not an object';
  const { tx_hash, merkle } = answer as { tx_hash?: unknown; merkle?: unknown };
  if (typeof tx_hash !== 'string' || !Array.isArray(merkle)) return 'id_from_pos answer lacks tx_hash or merkle';
  return branchMatches(tx_hash, merkle as string[], pos, headerHex) ? null : `merkle branch for position ${pos} does not lead to the block's merkle root`;
}

function branchMatches(leaf: string, branch: readonly string[], pos: number, headerHex: string): boolean {
  try {
    return rootFromBranch(leaf, branch, pos) === parseHeader(headerHex).merkleRoot;
  } catch {
    return false;
  }
}

/** Raw transaction bytes that really are the transaction `txid`. */
export function verifyTransaction(txid: string, raw: unknown): string | null {
  if (typeof raw !== 'string') return 'transaction is not a hex string';
  try {
    return computeTxid(raw) === txid ? null : `transaction bytes hash to another txid than ${txid}`;
  } catch (err) {
    return `transaction does not parse: ${(err as Error).message}`;
  }
}
