// SPDX-License-Identifier: MIT
/**
 * subscribe-storm: many sessions each subscribe to the headers and to 10
 * scripthashes drawn from a shared pool; then a few payments to pool
 * addresses and one new block. Measured: the time until every session has
 * been told the new tip and the final status of each changed scripthash it
 * watches, memory per subscribed session, and how many subscriptions the
 * target opened on the upstream (the gateway should open exactly one per
 * unique scripthash; a plain TCP proxy opens one per session and scripthash).
 */
import { statusHash } from '../../src/protocol/status.js';
import { benchAddresses, tipHeight, type BenchAddress } from './fixtures.js';
import { seededRandom, type Scenario } from './types.js';

export interface StormData {
  readonly pool: readonly BenchAddress[];
  readonly perSession: number;
  /** Pool indexes paid when the storm is triggered. */
  readonly payTo: readonly number[];
}

export const SUBSCRIPTIONS_PER_SESSION = 10;

function chosen(data: StormData, index: number): number[] {
  const random = seededRandom(0x5eed + index);
  const picked = new Set<number>();
  while (picked.size < Math.min(data.perSession, data.pool.length)) picked.add(Math.floor(random() * data.pool.length));
  return [...picked];
}

export const subscribeStorm: Scenario<StormData> = {
  name: 'subscribe-storm',
  kind: 'storm',
  describe: 'N sessions × (headers + 10 scripthashes from a pool), then payments and a block: delivery time',
  async prepare(ctx) {
    const poolSize = Math.max(SUBSCRIPTIONS_PER_SESSION, Math.ceil(ctx.sessions / 2));
    // A fresh family per size, so an earlier run's payments do not change this run's statuses.
    const pool = benchAddresses(`storm-${ctx.sessions}-${Date.now()}`, poolSize);
    return { pool, perSession: SUBSCRIPTIONS_PER_SESSION, payTo: [0, 1, 2, 3, 4].filter((i) => i < poolSize) };
  },
  subscriptionsOf(data, index) {
    return chosen(data, index).map((i) => data.pool[i]!.scripthash);
  },
  async setup(conn, ctx) {
    const subs = chosen(ctx.data, ctx.index).map((i) => ctx.data.pool[i]!.scripthash);
    await Promise.all([
      conn.call('blockchain.headers.subscribe'),
      ...subs.map((sh) => conn.call('blockchain.scripthash.subscribe', [sh])),
    ]);
  },
  async trigger(ctx, data) {
    const startedAtMs = performance.timeOrigin + performance.now();
    for (const [n, i] of data.payTo.entries()) await ctx.sim.call('sim.pay', [data.pool[i]!.address, 20_000 + n]);
    await ctx.sim.call('sim.mine', [1]);
    const height = await tipHeight(ctx.sim);
    const finalStatus: Record<string, string | null> = {};
    for (const i of data.payTo) {
      const sh = data.pool[i]!.scripthash;
      const history = (await ctx.sim.call('blockchain.scripthash.get_history', [sh])) as { tx_hash: string; height: number }[];
      finalStatus[sh] = statusHash(history);
    }
    return { finalStatus, height, startedAtMs };
  },
};
