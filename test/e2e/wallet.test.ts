// SPDX-License-Identifier: MIT
/**
 * The real Electrum wallet (Debian package electrum 4.3.4, regtest daemon) end to end:
 *
 *   electrum daemon --oneserver --> [gateway child process] --> test/sim Simulator
 *
 * The simulator pays several addresses of a wallet restored from a fixed seed, some before
 * the wallet connects (found through get_history) and some while it is connected (found
 * through scripthash/header notifications), confirmed and in the mempool, then mines more
 * blocks. The wallet must end up synchronized with exactly the simulator's view: balance,
 * history (txids and heights, every confirmed one merkle-verified by electrum itself) and
 * chain height.
 *
 * Two routes run the same scenario: "direct" (wallet -> simulator; the simulator's own
 * acceptance test) and "gateway" (wallet -> gateway -> simulator).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bech32 } from 'bech32';
import { Simulator } from '../sim/index.js';
import {
  ElectrumWallet,
  TEST_SEED_FIRST_ADDRESSES,
  electrumAvailable,
  type HistoryItem,
} from '../helpers/electrum-wallet.js';
import { GatewayProcess, gatewayCliBuilt } from '../helpers/gateway-process.js';
import { expectedOf, matches, walletSnapshot, type Expected, type Payment } from '../helpers/wallet-scenario.js';

/** Electrum-protocol scripthash of a native segwit regtest address. */
function scripthashOf(address: string): string {
  const { prefix, words } = bech32.decode(address);
  assert.equal(prefix, 'bcrt', `not a regtest bech32 address: ${address}`);
  assert.equal(words[0], 0, `not a segwit v0 address: ${address}`);
  const program = Buffer.from(bech32.fromWords(words.slice(1)));
  const script = Buffer.concat([Buffer.from([0x00, program.length]), program]);
  return Buffer.from(createHash('sha256').update(script).digest()).reverse().toString('hex');
}

/** What a correct server says about the wallet, computed from the simulator's own state. */
function expectedFromSimulator(sim: Simulator, payments: Payment[]): Expected {
  const byTxid = new Map<string, { height: number; sats: number }>();
  for (const p of payments) {
    const hist = sim.history(scripthashOf(p.address));
    const entry = hist.find((h) => h.tx_hash === p.txid);
    assert.ok(entry, `simulator history of ${p.address} lacks its own payment ${p.txid}: ${JSON.stringify(hist)}`);
    const prev = byTxid.get(p.txid);
    byTxid.set(p.txid, { height: entry.height, sats: (prev?.sats ?? 0) + p.sats });
  }
  return expectedOf(byTxid, sim.tipHeight());
}

function historyView(items: HistoryItem[]): Record<string, { height: number; sats: number }> {
  const out: Record<string, { height: number; sats: number }> = {};
  for (const i of items) out[i.txid] = { height: i.height, sats: i.valueSats };
  return out;
}

function expectedView(e: Expected): Record<string, { height: number; sats: number }> {
  return Object.fromEntries([...e.byTxid].map(([txid, v]) => [txid, { height: v.height, sats: v.sats }]));
}

type Route = 'direct' | 'gateway';

const skipElectrum = electrumAvailable() ? false : 'the electrum executable (Debian package electrum) is not installed';

describe('real Electrum 4.3.4 wallet, regtest', { concurrency: true }, () => {
  for (const route of ['direct', 'gateway'] as Route[]) {
    const skip = skipElectrum || (route === 'gateway' && !gatewayCliBuilt() ? 'gateway CLI not built' : false);
    test(`syncs balance, history and height ${route === 'direct' ? 'directly from the simulator' : 'through the gateway'}`, { skip, timeout: 120_000 }, async (t) => {
      // Teardown also on failure, newest first: wallet, gateway, simulator. Each is idempotent.
      const cleanups: (() => Promise<unknown>)[] = [];
      t.after(async () => {
        for (const c of cleanups.reverse()) await c().catch(() => undefined);
      });
      const t0 = Date.now();
      const phases: string[] = [];
      const mark = (name: string): void => void phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      const sim = await Simulator.start({ seed: `wallet-e2e-${route}` });
      cleanups.push(() => sim.stop());
      let gw: GatewayProcess | undefined;
      if (route === 'gateway') {
        gw = await GatewayProcess.start({ upstream: sim.url, network: 'regtest' });
        const g = gw;
        cleanups.push(() => g.stop({ expectCleanExit: false }));
      }
      const server = gw ? { host: gw.host, port: gw.port } : { host: sim.host, port: sim.port };
      const wallet = await ElectrumWallet.create({ server });
      cleanups.push(() => wallet.stop());
      const gwTail = (): string => (gw ? gw.logTail(30) : '');
      const diag = (): string => `${wallet.logTail(80)}${gw ? `\n${gwTail()}` : ''}`;

      mark('restored');
      const addrs = wallet.receivingAddresses;
      assert.deepEqual(addrs.slice(0, TEST_SEED_FIRST_ADDRESSES.length), [...TEST_SEED_FIRST_ADDRESSES], 'restored wallet has unexpected addresses (electrum version drift?)');
      assert.ok(addrs.length >= 6, `expected at least 6 receiving addresses, got ${addrs.length}`);

      const payments: Payment[] = [];
      const pay = (i: number, sats: number, confirm: boolean): void => {
        const address = addrs[i]!;
        payments.push({ address, sats, txid: sim.pay(address, sats, { confirm }) });
      };

      // Before the wallet connects: found through scripthash.subscribe + get_history.
      pay(0, 150_000_000, true);
      pay(1, 25_000_000, true);
      pay(2, 10_000_000, false); // confirmed by the next mine()
      sim.mine(2);

      await wallet.startDaemon();
      await wallet.loadWallet();
      mark('daemon');
      // A balance alone proves little: the waits require every confirmed tx SPV-verified (walletSnapshot).
      const snapshot = () => walletSnapshot(wallet);

      const first = expectedFromSimulator(sim, payments);
      await wallet.waitUntil(`the first sync to match the simulator (${JSON.stringify({ tip: first.tip, balance: first.balance, txs: first.byTxid.size })})`, snapshot, matches(first), { timeoutMs: 45_000, describe: gwTail });
      mark('first sync');

      // While connected: found through blockchain.headers / scripthash notifications.
      pay(3, 5_000_000, true);
      sim.mine(3);
      pay(4, 1_234_567, false); // stays in the mempool
      pay(0, 7_654_321, false); // address reuse, also mempool
      const want = expectedFromSimulator(sim, payments);
      assert.equal(want.balance.unconfirmed, 1_234_567 + 7_654_321);
      assert.equal(want.balance.confirmed, 150_000_000 + 25_000_000 + 10_000_000 + 5_000_000);

      await wallet.waitUntil(`the wallet to catch up with the simulator (${JSON.stringify({ tip: want.tip, balance: want.balance, txs: want.byTxid.size })})`, snapshot, matches(want), { timeoutMs: 45_000, describe: gwTail });
      mark('caught up');

      // Final reads through the real command line, as a user would do them (in parallel:
      // each call is a python start-up).
      const [synced, balance, history, info] = await Promise.all([
        wallet.cli(['is_synchronized'], { wallet: true }),
        wallet.getBalance('cli'),
        wallet.onchainHistory('cli'),
        wallet.cli(['getinfo']) as Promise<{ blockchain_height: number; server_height: number; connected: boolean }>,
      ]);
      assert.equal(synced, true, diag());
      assert.deepEqual(balance, want.balance, `getbalance differs from the simulator's payments\n${diag()}`);
      assert.deepEqual(historyView(history), expectedView(want), `onchain_history differs from the simulator\n${diag()}`);
      for (const h of history) {
        assert.equal(h.incoming, true, `${h.txid} should be incoming`);
        if (h.height > 0) assert.equal(h.confirmations, want.tip - h.height + 1, `${h.txid} confirmations`);
        else assert.equal(h.confirmations, 0, `${h.txid} is in the mempool`);
      }
      assert.equal(history.filter((h) => h.height <= 0).length, 2, 'two mempool transactions');
      assert.equal(info.connected, true);
      assert.equal(info.blockchain_height, sim.tipHeight(), `blockchain_height\n${diag()}`);
      assert.equal(info.server_height, sim.tipHeight(), `server_height\n${diag()}`);
      mark('cli reads');
      t.diagnostic(`tip ${sim.tipHeight()}, ${history.length} txs, sim requests ${JSON.stringify(sim.stats.requests)}`);

      await wallet.stop();
      if (gw) {
        const status = await gw.stop();
        assert.deepEqual(status, { code: 0, signal: null });
        const errors = gw.logs.filter((r) => typeof r['level'] === 'number' && r['level'] >= 50);
        assert.deepEqual(errors, [], `the gateway logged errors during a normal wallet session\n${gw.logTail(30)}`);
      }
      await sim.stop();
      mark('stopped');
      t.diagnostic(phases.join(', '));
    });
  }
});
