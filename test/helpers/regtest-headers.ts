// SPDX-License-Identifier: MIT
/**
 * A chain of real regtest headers (valid proof of work, each linking to the
 * one before) for scripted upstreams that are not the full simulator. Built
 * with node:crypto only, independently of the gateway's own header code.
 */
import { createHash } from 'node:crypto';

const GENESIS = '0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000';
const REGTEST_BITS = 0x207fffff;
/** The regtest target 0x7fffff << 8*(0x20-3), as the top bytes of a big-endian 256-bit number. */
const TARGET = BigInt(0x7fffff) << BigInt(8 * (0x20 - 3));

function sha256d(b: Buffer): Buffer {
  return createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
}

/** Headers 0..tip (hex), deterministic for a given `salt` so two chains can fork. */
export function regtestHeaders(tip: number, salt = '', from: readonly string[] = [GENESIS]): string[] {
  const out = [...from];
  while (out.length <= tip) {
    const height = out.length;
    const prev = Buffer.from(out[height - 1]!, 'hex');
    const h = Buffer.alloc(80);
    h.writeUInt32LE(0x20000000, 0);
    sha256d(prev).copy(h, 4);
    createHash('sha256').update(`merkle ${salt} ${height}`).digest().copy(h, 36);
    h.writeUInt32LE(1296688602 + height * 600, 68);
    h.writeUInt32LE(REGTEST_BITS, 72);
    for (let nonce = 0; ; nonce++) {
      h.writeUInt32LE(nonce, 76);
      const hash = BigInt(`0x${Buffer.from(sha256d(h)).reverse().toString('hex')}`);
      if (hash <= TARGET) break;
    }
    out.push(h.toString('hex'));
  }
  return out;
}
