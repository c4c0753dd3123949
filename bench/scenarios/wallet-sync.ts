// SPDX-License-Identifier: MIT
/**
 * wallet-sync: what an Electrum wallet sends when it starts, on a fresh
 * connection each time: server.version, blockchain.headers.subscribe, the
 * header chunk holding the tip, scripthash.subscribe for every address (half
 * of them used, half fresh as the gap limit requires), get_history for the
 * used ones, then transaction.get and get_merkle for every history item.
 * Requests within a step go out together, as Electrum pipelines them.
 *
 * The follow-up requests come from the histories read at preparation, not
 * from the answers, so every target gets exactly the same requests (the echo
 * floor included, whose answers are filler of the right size).
 */
import { benchAddresses, fundedAddresses, tipHeight, type FundedAddress } from './fixtures.js';
import type { BenchConnection } from '../loadgen/client.js';
import type { Scenario } from './types.js';

export interface WalletSyncData {
  readonly tip: number;
  readonly funded: readonly FundedAddress[];
  readonly fresh: readonly string[];
  /** Addresses per wallet (half used, half fresh). */
  readonly addressesPerWallet: number;
}

export const walletSync: Scenario<WalletSyncData> = {
  name: 'wallet-sync',
  kind: 'throughput',
  reconnectPerOp: true,
  describe: 'Electrum start-up on a new connection: version, headers, subscribe + history + txs + proofs',
  async prepare(ctx) {
    const addressesPerWallet = ctx.quick ? 20 : 60;
    const funded = await fundedAddresses(ctx, ctx.quick ? 100 : 300);
    const fresh = benchAddresses('fresh', ctx.quick ? 200 : 1000).map((a) => a.scripthash);
    return { tip: await tipHeight(ctx.sim), funded, fresh, addressesPerWallet };
  },
  async op(_conn, ctx) {
    const { funded, fresh, tip, addressesPerWallet } = ctx.data;
    const used = Math.ceil(addressesPerWallet / 2);
    const a = Math.floor(ctx.random() * funded.length);
    const b = Math.floor(ctx.random() * fresh.length);
    const mine = Array.from({ length: used }, (_, i) => funded[(a + i) % funded.length]!);
    const unused = Array.from({ length: addressesPerWallet - used }, (_, i) => fresh[(b + i) % fresh.length]!);
    const conn = await ctx.connect();
    try {
      await walletStartup(conn, tip, mine, unused);
    } finally {
      conn.close();
    }
  },
};

/**
 * One Electrum start-up on a connection that has negotiated server.version:
 * the tip, its header chunk, a subscription per address, the histories of the
 * used addresses, and every history item's transaction and (when confirmed)
 * merkle proof. The subscriptions stay open for as long as `conn` does
 * (mixed-real keeps them).
 */
export async function walletStartup(conn: BenchConnection, tip: number, mine: readonly FundedAddress[], unused: readonly string[]): Promise<void> {
  await conn.call('blockchain.headers.subscribe');
  await conn.call('blockchain.block.headers', [Math.floor(tip / 2016) * 2016, 2016]);
  await Promise.all([...mine.map((f) => f.scripthash), ...unused].map((sh) => conn.call('blockchain.scripthash.subscribe', [sh])));
  await Promise.all(mine.map((f) => conn.call('blockchain.scripthash.get_history', [f.scripthash])));
  const items = mine.flatMap((f) => f.history);
  await Promise.all(
    items.flatMap((h) => [
      conn.call('blockchain.transaction.get', [h.tx_hash]),
      ...(h.height > 0 ? [conn.call('blockchain.transaction.get_merkle', [h.tx_hash, h.height])] : []),
    ]),
  );
}
