// SPDX-License-Identifier: MIT
/** Independent merkle maths for tests, with node:crypto only (not the gateway's own code). */
import { createHash } from 'node:crypto';

const sha256d = (b: Buffer): Buffer => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();

/** Merkle root and branch of `leaves` (display hex) for `pos`, Bitcoin's rules (odd last node paired with itself). */
export function merkle(leaves: readonly string[], pos: number): { root: string; branch: string[] } {
  let level: Buffer[] = leaves.map((h) => Buffer.from(h, 'hex').reverse());
  const branch: string[] = [];
  let i = pos;
  while (level.length > 1) {
    branch.push(Buffer.from(level[i ^ 1] ?? level[i]!).reverse().toString('hex'));
    const next: Buffer[] = [];
    for (let k = 0; k < level.length; k += 2) next.push(sha256d(Buffer.concat([level[k]!, level[k + 1] ?? level[k]!])));
    level = next;
    i >>= 1;
  }
  return { root: Buffer.from(level[0]!).reverse().toString('hex'), branch };
}
