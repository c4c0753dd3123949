// SPDX-License-Identifier: MIT
/**
 * chunk-download: wallets downloading 2016-header chunks (about 322 kB of
 * JSON each) in a loop, as Electrum does on first start — bandwidth, and,
 * run against the gateway with its default limits, the cost limiter's effect.
 */
import { tipHeight } from './fixtures.js';
import type { Scenario } from './types.js';

export interface ChunkData {
  /** Start heights of the complete chunks below the tip. */
  readonly starts: readonly number[];
}

export const CHUNK = 2016;

export const chunkDownload: Scenario<ChunkData> = {
  name: 'chunk-download',
  kind: 'throughput',
  describe: 'blockchain.block.headers of whole 2016-header chunks, in a loop',
  async prepare(ctx) {
    const tip = await tipHeight(ctx.sim);
    const full = Math.floor((tip + 1) / CHUNK);
    if (full < 1) throw new Error(`chunk-download needs at least ${CHUNK} blocks; the simulator has ${tip + 1}`);
    return { starts: Array.from({ length: full }, (_, i) => i * CHUNK) };
  },
  async op(conn, ctx) {
    const starts = ctx.data.starts;
    const start = starts[Math.floor(ctx.random() * starts.length)]!;
    await conn!.call('blockchain.block.headers', [start, CHUNK]);
  },
};
