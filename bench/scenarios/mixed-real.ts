// SPDX-License-Identifier: MIT
/**
 * mixed-real: the request mix of a wallet population rather than of one busy
 * client. Every session is one wallet that starts as an Electrum wallet does
 * (the wallet-sync start-up, all wallets at once as after a server restart)
 * and keeps its connection and subscriptions open. Then, in the measured
 * phase, 9 wallets in 10 sit idle on their subscriptions and the tenth (the
 * sessions whose index is a multiple of 10) keep one request in flight each:
 *
 *   50 %  blockchain.scripthash.get_history of one of its used addresses
 *   40 %  blockchain.transaction.get of a transaction in its history
 *   10 %  blockchain.transaction.broadcast of a transaction already in the
 *         simulator's mempool
 *
 * The broadcasts are of real signed transactions (paid by the simulator at
 * preparation and left unconfirmed), re-sent: the simulator, like bitcoind,
 * answers a transaction already in its mempool with its txid, so every
 * target gets the same answer however often the run repeats. A fresh
 * transaction per broadcast would need a fresh coin per request and per run
 * and would grow the mempool (and every status) as the run goes; the cost a
 * proxy adds to a broadcast (one uncacheable request to an upstream, never
 * retried) is the same either way. Nothing changes the chain during the run,
 * so the idle wallets get no notifications: what they cost is memory and the
 * upstream subscriptions they hold.
 *
 * Wallets do not share addresses: wallet i uses funded addresses i*5 .. i*5+4
 * and fresh addresses of its own, so the upstream subscriptions a proxy opens
 * are those of a real population (one per address), not of a shared pool.
 */
import { benchAddresses, fundedAddresses, tipHeight, type FundedAddress } from './fixtures.js';
import type { Scenario } from './types.js';
import { walletStartup } from './wallet-sync.js';

/** Used and fresh addresses per wallet: a few used receiving addresses, then Electrum's gap limits (20 receiving, 10 change, less the used). */
export const USED_PER_WALLET = 5;
export const FRESH_PER_WALLET = 25;
/** One wallet in ACTIVE_EVERY is active in the measured phase. */
export const ACTIVE_EVERY = 10;
/** Mempool transactions the broadcasts re-send. */
const BROADCASTS = 20;

export interface MixedRealData {
  readonly tip: number;
  readonly wallets: number;
  /** USED_PER_WALLET funded addresses per wallet, wallet i's at i*USED_PER_WALLET. */
  readonly funded: readonly FundedAddress[];
  /** FRESH_PER_WALLET scripthashes per wallet, wallet i's at i*FRESH_PER_WALLET. */
  readonly fresh: readonly string[];
  /** Raw hex of unconfirmed transactions in the simulator's mempool. */
  readonly broadcasts: readonly string[];
}

function walletOf(data: MixedRealData, index: number): { mine: FundedAddress[]; unused: string[] } {
  const i = index % data.wallets;
  return {
    mine: data.funded.slice(i * USED_PER_WALLET, (i + 1) * USED_PER_WALLET),
    unused: data.fresh.slice(i * FRESH_PER_WALLET, (i + 1) * FRESH_PER_WALLET),
  };
}

export const mixedReal: Scenario<MixedRealData> = {
  name: 'mixed-real',
  kind: 'throughput',
  describe: 'N wallets start up and stay subscribed; 1 in 10 then asks get_history / transaction.get / broadcast',
  async prepare(ctx) {
    const wallets = ctx.sessions;
    const funded = await fundedAddresses(ctx, wallets * USED_PER_WALLET);
    const fresh = benchAddresses(`mixed-fresh-${wallets}`, wallets * FRESH_PER_WALLET).map((a) => a.scripthash);
    // A new family each time: the payments of an earlier preparation may have been mined since.
    const payees = benchAddresses(`mixed-broadcast-${Date.now()}`, BROADCASTS);
    const broadcasts: string[] = [];
    for (const [i, a] of payees.entries()) {
      const txid = (await ctx.sim.call('sim.pay', [a.address, 15_000 + i])) as string;
      broadcasts.push((await ctx.sim.call('blockchain.transaction.get', [txid])) as string);
    }
    return { tip: await tipHeight(ctx.sim), wallets, funded, fresh, broadcasts };
  },
  subscriptionsOf(data, index) {
    const { mine, unused } = walletOf(data, index);
    return [...mine.map((f) => f.scripthash), ...unused];
  },
  async setup(conn, ctx) {
    const { mine, unused } = walletOf(ctx.data, ctx.index);
    await walletStartup(conn, ctx.data.tip, mine, unused);
  },
  activeInRun(_data, index) {
    return index % ACTIVE_EVERY === 0;
  },
  async op(conn, ctx) {
    const { mine } = walletOf(ctx.data, ctx.index);
    const r = ctx.random();
    if (r < 0.5) {
      await conn!.call('blockchain.scripthash.get_history', [mine[Math.floor(ctx.random() * mine.length)]!.scripthash]);
    } else if (r < 0.9) {
      const items = mine.flatMap((f) => f.history);
      await conn!.call('blockchain.transaction.get', [items[Math.floor(ctx.random() * items.length)]!.tx_hash]);
    } else {
      const raws = ctx.data.broadcasts;
      await conn!.call('blockchain.transaction.broadcast', [raws[Math.floor(ctx.random() * raws.length)]!]);
    }
  },
};
