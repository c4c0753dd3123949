// SPDX-License-Identifier: MIT
/**
 * passthrough: get_history / listunspent / get_balance of random funded
 * scripthashes — answers that change with every block and payment, so no
 * proxy may cache them: every request goes to the upstream.
 */
import { fundedAddresses } from './fixtures.js';
import { pick, type Scenario } from './types.js';

export interface PassthroughData {
  readonly scripthashes: readonly string[];
}

const METHODS = ['blockchain.scripthash.get_history', 'blockchain.scripthash.listunspent', 'blockchain.scripthash.get_balance'];

export const passthrough: Scenario<PassthroughData> = {
  name: 'passthrough',
  kind: 'throughput',
  describe: 'scripthash get_history / listunspent / get_balance (never cacheable)',
  async prepare(ctx) {
    const funded = await fundedAddresses(ctx, ctx.quick ? 100 : 300);
    return { scripthashes: funded.map((a) => a.scripthash) };
  },
  async op(conn, ctx) {
    await conn!.call(pick(METHODS, ctx.random), [pick(ctx.data.scripthashes, ctx.random)]);
  },
};
