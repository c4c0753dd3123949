// SPDX-License-Identifier: MIT
/**
 * Bitcoin merkle trees, with hashes exchanged as display hex the way Electrum
 * servers send them. At each level an odd last node is paired with itself.
 *
 * The same maths serves two Electrum uses:
 *  - blockchain.transaction.get_merkle: leaves are the block's txids, the
 *    branch proves one txid against the header's merkle root;
 *  - cp_height checkpoint proofs (blockchain.block.header(s) with cp_height):
 *    leaves are the block hashes of heights 0..cp_height, the branch proves the
 *    hash of one header against `root`.
 */
import { fromDisplayHex, sha256d, toDisplayHex } from './hash.js';

export class MerkleError extends Error {
  override readonly name = 'MerkleError';
}

function leaf(hex: string, what: string): Buffer {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) throw new MerkleError(`${what} is not a 32-byte hex hash`);
  return fromDisplayHex(hex);
}

function parent(left: Buffer, right: Buffer): Buffer {
  return sha256d(Buffer.concat([left, right]));
}

function nextLevel(level: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < level.length; i += 2) {
    const l = level[i]!;
    out.push(parent(l, level[i + 1] ?? l));
  }
  return out;
}

/** Merkle root of display-hex leaves (txids, or header hashes), as display hex. */
export function merkleRoot(leaves: readonly string[]): string {
  if (leaves.length === 0) throw new MerkleError('a merkle tree needs at least one leaf');
  let level = leaves.map((h, i) => leaf(h, `leaf ${i}`));
  while (level.length > 1) level = nextLevel(level);
  return toDisplayHex(level[0]!);
}

export interface BranchAndRoot {
  /** Sibling hashes from the leaf level upwards, display hex: what get_merkle returns as `merkle`. */
  readonly branch: string[];
  readonly root: string;
}

/** The branch proving `leaves[index]`, and the root it proves against (ElectrumX's Merkle.branch_and_root). */
export function merkleBranchAndRoot(leaves: readonly string[], index: number): BranchAndRoot {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new MerkleError(`index ${index} out of range for ${leaves.length} leaves`);
  }
  let level = leaves.map((h, i) => leaf(h, `leaf ${i}`));
  const branch: string[] = [];
  let i = index;
  while (level.length > 1) {
    const sibling = level[i ^ 1] ?? level[i]!;
    branch.push(toDisplayHex(sibling));
    level = nextLevel(level);
    i >>= 1;
  }
  return { branch, root: toDisplayHex(level[0]!) };
}

/** Just the branch for position `index`. */
export function merkleBranch(leaves: readonly string[], index: number): string[] {
  return merkleBranchAndRoot(leaves, index).branch;
}

/**
 * The root obtained by hashing `leafHash` up `branch`, where `index` is the
 * leaf's position (get_merkle's `pos`; for cp_height proofs, the header's height).
 * Throws on malformed hashes or an index that does not fit the branch length.
 */
export function rootFromBranch(leafHash: string, branch: readonly string[], index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new MerkleError(`index must be a non-negative integer, got ${index}`);
  if (branch.length < 53 && index >= 2 ** branch.length) {
    throw new MerkleError(`index ${index} does not fit a branch of length ${branch.length}`);
  }
  let h = leaf(leafHash, 'leaf');
  let i = index;
  branch.forEach((sibHex, n) => {
    const sib = leaf(sibHex, `branch[${n}]`);
    h = i % 2 === 1 ? parent(sib, h) : parent(h, sib);
    i = Math.floor(i / 2);
  });
  return toDisplayHex(h);
}

/** True when `branch` proves `leafHash` at `index` against `expectedRoot`; false (never a throw) otherwise. */
export function verifyMerkleBranch(leafHash: string, branch: readonly string[], index: number, expectedRoot: string): boolean {
  try {
    return rootFromBranch(leafHash, branch, index) === expectedRoot.toLowerCase();
  } catch {
    return false;
  }
}
