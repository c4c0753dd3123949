// SPDX-License-Identifier: MIT
/**
 * The parts of the real-wallet scenario (test/e2e/wallet*.test.ts) that the
 * e2e tests share: what the simulator says the wallet should hold, and the
 * wallet's own view of itself to compare with it.
 */
import type { Balance, ElectrumWallet } from './electrum-wallet.js';

export interface Payment {
  address: string;
  sats: number;
  txid: string;
}

export interface Expected {
  byTxid: Map<string, { height: number; sats: number }>;
  balance: Balance;
  tip: number;
}

/** The wallet's expected balance from its transactions (height > 0: confirmed) at chain tip `tip`. */
export function expectedOf(byTxid: Map<string, { height: number; sats: number }>, tip: number): Expected {
  let confirmed = 0;
  let unconfirmed = 0;
  for (const { height, sats } of byTxid.values()) {
    if (height > 0) confirmed += sats;
    else unconfirmed += sats;
  }
  return { byTxid, balance: { confirmed, unconfirmed, unmatured: 0 }, tip };
}

/**
 * What the wallet says about itself, read over its RPC. A balance alone
 * proves little: electrum counts a confirmed tx in getbalance before it has
 * checked its merkle proof. A tx is SPV-verified once onchain_history shows
 * confirmations > 0, hence `unverified`.
 */
export async function walletSnapshot(wallet: ElectrumWallet) {
  const info = await wallet.getInfo();
  const history = await wallet.onchainHistory();
  return {
    connected: info.connected,
    height: info.blockchain_height,
    synchronized: await wallet.isSynchronized(),
    balance: await wallet.getBalance(),
    txs: history.length,
    unverified: history.filter((h) => h.height > 0 && h.confirmations <= 0).map((h) => h.txid),
  };
}

export type Snapshot = Awaited<ReturnType<typeof walletSnapshot>>;

/** The wallet is connected, synchronized, at the expected tip, with the expected balance and transactions, all verified. */
export const matches = (e: Expected) => (s: Snapshot): boolean =>
  s.connected &&
  s.synchronized &&
  s.height === e.tip &&
  s.balance.confirmed === e.balance.confirmed &&
  s.balance.unconfirmed === e.balance.unconfirmed &&
  s.txs === e.byTxid.size &&
  s.unverified.length === 0;
