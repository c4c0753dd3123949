// SPDX-License-Identifier: MIT
/**
 * headers-hot: random blockchain.block.header and blockchain.block.headers
 * (1–10 headers) at heights buried below the tip — the answers that can never
 * change, so a gateway with a cache answers them without its upstream once
 * warm. Each session has one request in flight at a time.
 */
import { tipHeight } from './fixtures.js';
import type { Scenario } from './types.js';

export interface HeadersHotData {
  /** Highest height asked for: well below the tip, so reorgs cannot touch it. */
  readonly maxHeight: number;
}

export const headersHot: Scenario<HeadersHotData> = {
  name: 'headers-hot',
  kind: 'throughput',
  describe: 'random block.header / block.headers (1–10) below the tip',
  async prepare(ctx) {
    return { maxHeight: (await tipHeight(ctx.sim)) - 10 };
  },
  async op(conn, ctx) {
    const height = Math.floor(ctx.random() * (ctx.data.maxHeight + 1));
    if (ctx.random() < 0.5) {
      await conn!.call('blockchain.block.header', [height]);
    } else {
      const count = 1 + Math.floor(ctx.random() * 10);
      await conn!.call('blockchain.block.headers', [Math.min(height, ctx.data.maxHeight - count + 1), count]);
    }
  },
};
