// SPDX-License-Identifier: MIT
/**
 * The real Electrum wallet (Debian package electrum 4.3.4, regtest daemon) through a gateway
 * with two upstreams, one of which is killed midway:
 *
 *   electrum daemon --oneserver --> [gateway child process] --> simulator A (killed midway)
 *                                                           \-> simulator B
 *
 * Both simulators start from the same seed, and every payment and block is made on both
 * (the killed one's chain stays in memory), so they hold the same chain and the same
 * transactions. The wallet syncs, A dies, more payments and blocks arrive while only B is
 * left, and the wallet must end with exactly B's view: balance, history (every confirmed
 * transaction merkle-verified by electrum itself) and height, without the gateway logging
 * an error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { bech32 } from 'bech32';
import { Simulator } from '../sim/index.js';
import { ElectrumWallet, TEST_SEED_FIRST_ADDRESSES, electrumAvailable, type HistoryItem } from '../helpers/electrum-wallet.js';
import { expectedOf, matches, walletSnapshot, type Expected, type Payment } from '../helpers/wallet-scenario.js';
import { GatewayProcess, gatewayCliBuilt } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/ports.js';

function scripthashOf(address: string): string {
  const { prefix, words } = bech32.decode(address);
  assert.equal(prefix, 'bcrt');
  const program = Buffer.from(bech32.fromWords(words.slice(1)));
  const script = Buffer.concat([Buffer.from([0x00, program.length]), program]);
  return Buffer.from(createHash('sha256').update(script).digest()).reverse().toString('hex');
}

function expectedFrom(sim: Simulator, payments: Payment[]): Expected {
  const byTxid = new Map<string, { height: number; sats: number }>();
  for (const p of payments) {
    const entry = sim.history(scripthashOf(p.address)).find((h) => h.tx_hash === p.txid);
    assert.ok(entry, `the simulator's history of ${p.address} lacks ${p.txid}`);
    byTxid.set(p.txid, { height: entry.height, sats: (byTxid.get(p.txid)?.sats ?? 0) + p.sats });
  }
  return expectedOf(byTxid, sim.tipHeight());
}

function view(items: HistoryItem[]): Record<string, { height: number; sats: number }> {
  return Object.fromEntries(items.map((i) => [i.txid, { height: i.height, sats: i.valueSats }]));
}

function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as Record<string, unknown>);
          } catch (err) {
            reject(err as Error);
          }
        });
      })
      .on('error', reject);
  });
}

const skip = !electrumAvailable() ? 'the electrum executable (Debian package electrum) is not installed' : !gatewayCliBuilt() ? 'gateway CLI not built' : false;

test('the real Electrum wallet keeps syncing through the gateway when one of its two upstreams dies', { skip, timeout: 120_000 }, async (t) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  const a = await Simulator.start({ seed: 'wallet-failover' });
  cleanups.push(() => a.stop());
  const b = await Simulator.start({ seed: 'wallet-failover' });
  cleanups.push(() => b.stop());
  const adminPort = await freePort();
  const gw = await GatewayProcess.start({ upstream: [a.url, b.url], network: 'regtest', admin: `127.0.0.1:${adminPort}` });
  cleanups.push(() => gw.stop({ expectCleanExit: false }));
  const wallet = await ElectrumWallet.create({ server: { host: gw.host, port: gw.port } });
  cleanups.push(() => wallet.stop());
  const diag = (): string => `${wallet.logTail(60)}\n${gw.logTail(30)}`;
  const addrs = wallet.receivingAddresses;
  assert.deepEqual(addrs.slice(0, TEST_SEED_FIRST_ADDRESSES.length), [...TEST_SEED_FIRST_ADDRESSES]);

  const payments: Payment[] = [];
  /** The same payment on both simulators: the same transaction, so their chains keep agreeing. */
  const pay = (i: number, sats: number, confirm: boolean): void => {
    const address = addrs[i]!;
    const txid = b.pay(address, sats, { confirm });
    assert.equal(a.pay(address, sats, { confirm }), txid, 'both simulators make the same transaction');
    payments.push({ address, sats, txid });
  };
  const mine = (n: number): void => {
    b.mine(n);
    a.mine(n);
    assert.equal(a.blockHash(a.tipHeight()), b.blockHash(b.tipHeight()), 'both simulators mine the same blocks');
  };

  pay(0, 150_000_000, true);
  pay(1, 25_000_000, true);
  pay(2, 10_000_000, false);
  mine(2);
  // Both upstreams in rotation at the tip before the wallet subscribes, so its addresses spread over both.
  await wallet.waitUntil(
    'both upstreams healthy at the tip',
    () => getJson(adminPort, '/status') as Promise<{ upstreams: { state: string; tipHeight: number | null }[] }>,
    (st) => st.upstreams.length === 2 && st.upstreams.every((u) => u.state === 'healthy' && u.tipHeight === b.tipHeight()),
    { timeoutMs: 20_000, intervalMs: 50, describe: () => gw.logTail(30) },
  );

  await wallet.startDaemon();
  await wallet.loadWallet();
  const snapshot = () => walletSnapshot(wallet);
  const first = expectedFrom(b, payments);
  await wallet.waitUntil('the first sync', snapshot, matches(first), { timeoutMs: 45_000, describe: () => gw.logTail(30) });
  // Both upstreams serve the wallet's subscriptions (sticky by scripthash): A takes some of them with it.
  assert.ok(a.stats.scripthashSubscriptions > 0, `A holds none of the wallet's subscriptions: ${JSON.stringify(a.stats)}\n${gw.logTail(30)}`);
  assert.ok(b.stats.scripthashSubscriptions > 0, `B holds none of the wallet's subscriptions: ${JSON.stringify(b.stats)}\n${gw.logTail(30)}`);

  await a.stop();
  // While only B is left: a confirmed payment, blocks, a mempool payment and address reuse.
  pay(3, 5_000_000, true);
  mine(3);
  pay(4, 1_234_567, false);
  pay(0, 7_654_321, false);
  const want = expectedFrom(b, payments);
  assert.equal(want.balance.confirmed, 150_000_000 + 25_000_000 + 10_000_000 + 5_000_000);
  assert.equal(want.balance.unconfirmed, 1_234_567 + 7_654_321);
  await wallet.waitUntil(
    `the wallet to catch up after the failover (${JSON.stringify({ tip: want.tip, balance: want.balance, txs: want.byTxid.size })})`,
    snapshot,
    matches(want),
    { timeoutMs: 45_000, describe: () => gw.logTail(30) },
  );

  const [balance, history, info] = await Promise.all([
    wallet.getBalance('cli'),
    wallet.onchainHistory('cli'),
    wallet.cli(['getinfo']) as Promise<{ blockchain_height: number; server_height: number; connected: boolean }>,
  ]);
  assert.deepEqual(balance, want.balance, diag());
  assert.deepEqual(view(history), Object.fromEntries(want.byTxid), diag());
  for (const h of history) {
    if (h.height > 0) assert.equal(h.confirmations, want.tip - h.height + 1, `${h.txid} confirmations`);
    else assert.equal(h.confirmations, 0);
  }
  assert.equal(info.connected, true);
  assert.equal(info.blockchain_height, b.tipHeight());
  assert.equal(info.server_height, b.tipHeight());
  // Every subscription of the wallet now lives on B, once.
  type Status = { subscriptions: { upstream: number; sessions: number }; upstreams: { name: string; state: string }[] };
  const status = await wallet.waitUntil(
    "B to hold every one of the gateway's upstream subscriptions",
    () => getJson(adminPort, '/status') as Promise<Status>,
    (st) => st.subscriptions.upstream === b.stats.scripthashSubscriptions,
    { timeoutMs: 10_000, intervalMs: 50, describe: () => `B: ${JSON.stringify(b.stats)}\n${gw.logTail(30)}` },
  );
  assert.ok(status.subscriptions.upstream >= 30, `the wallet watches at least its 20 + 10 addresses: ${JSON.stringify(status.subscriptions)}`);
  assert.equal(status.subscriptions.sessions, status.subscriptions.upstream, 'one session, one subscription per scripthash');
  assert.deepEqual(
    status.upstreams.map((u) => u.state),
    ['down', 'healthy'],
    JSON.stringify(status.upstreams),
  );

  const moved = gw.logs.filter((r) => r['msg'] === 'moving subscriptions to other upstreams');
  assert.ok(moved.length > 0 && moved.every((r) => typeof r['scripthashes'] === 'number'), `the gateway moved subscriptions off A\n${gw.logTail(30)}`);
  await wallet.stop();
  assert.deepEqual(await gw.stop(), { code: 0, signal: null }, gw.logTail(30));
  const errors = gw.logs.filter((r) => typeof r['level'] === 'number' && r['level'] >= 50);
  assert.deepEqual(errors, [], `the gateway logged errors\n${gw.logTail(30)}`);
  t.diagnostic(`tip ${b.tipHeight()}, ${history.length} txs; moved ${moved.map((r) => r['scripthashes']).join('+')} subscriptions; B requests ${JSON.stringify(b.stats.requests)}`);
});
