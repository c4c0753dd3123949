// SPDX-License-Identifier: MIT
/**
 * Checks that an answer is true before it is cached or served, whether it
 * comes from an upstream or back from Redis (a Redis shared with others is
 * trusted no more than an upstream): headers link and meet their proof of
 * work, a merkle branch folds to the block's merkle root, transaction bytes
 * hash to the txid asked for, and a header is cached only when it is proven
 * on the verified chain (linkedHeaders). Pure; the verified chain comes in as
 * a `KnownHash` lookup. Each check returns the reason an answer is wrong, or null.
 */
import type { Network } from '../config/networks.js';
import { blockHash, checkProofOfWork, parseHeader } from '../protocol/bitcoin/header.js';
import { rootFromBranch } from '../protocol/bitcoin/merkle.js';
import { txid as computeTxid } from '../protocol/bitcoin/tx.js';

/**
 * The hash of the verified best chain's block at a height, when it is known:
 * the chain tracker's verified headers, headers already proven and held in
 * memory, or the prev-hash of a proven header one above.
 */
export type KnownHash = (height: number) => string | undefined;

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

/**
 * Which of the consecutive headers from `start` are proven on the verified
 * chain: a header is when its hash is the known block at its height, or when
 * the proven header above it names it as its prev-hash (for the last one of
 * the run, when the block above the run is known). So a run below the
 * tracker's window is proven by linking down from a block it holds, and a
 * forged run, however good its proof of work, never is. `headers` must have
 * passed verifyHeaders (or be checked here with `pow`); holes (undefined)
 * break the chain of proof. Returns one flag per header.
 */
export function linkedHeaders(start: number, headers: readonly (string | undefined)[], known: KnownHash): boolean[] {
  const out = new Array<boolean>(headers.length).fill(false);
  // The prev-hash of the proven header just above index i; the block above the run speaks through known().
  let linkedAbove: string | undefined;
  for (let i = headers.length - 1; i >= 0; i--) {
    const hex = headers[i];
    let parsed;
    try {
      parsed = hex === undefined ? undefined : { hash: blockHash(hex), prevHash: parseHeader(hex).prevHash };
    } catch {
      parsed = undefined;
    }
    if (!parsed) {
      linkedAbove = undefined;
      continue;
    }
    const k = known(start + i);
    const proven = k !== undefined ? k === parsed.hash : linkedAbove === parsed.hash;
    out[i] = proven;
    linkedAbove = proven ? parsed.prevHash : undefined;
  }
  return out;
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
