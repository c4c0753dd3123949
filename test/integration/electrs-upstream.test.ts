// SPDX-License-Identifier: MIT
/**
 * electrs behind the gateway: it speaks 1.4 but has no get_mempool, no
 * cp_height and no mempool.get_info. What docs/upstreams.md promises a 1.6
 * wallet about it, checked against the simulator's electrs flavour (its
 * method table as in electrs 0.10's electrum.rs).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient, connectNegotiated } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';

const GET_MEMPOOL = 'blockchain.scripthash.get_mempool';
const count = (sim: Simulator, method: string): number => sim.stats.requests[method] ?? 0;

async function gatewayOver(sims: readonly { sim: Simulator; name: string }[]): Promise<{ tg: TestGateway; client: RpcClient }> {
  // One connection each: what a server lacks is learned per connection, and the counts below are the server's.
  const tg = await startTestGateway({ upstreams: sims.map(({ sim, name }) => ({ host: sim.host, port: sim.port, name, options: { max_connections: '1' } })) });
  await RpcClient.until(() => tg.gateway.pool.status().every((u) => u.state === 'healthy'), 'every upstream healthy', 10_000);
  const { client } = await connectNegotiated(tg.port, '1.6');
  return { tg, client };
}

/** The sim's own relay fee and fee histogram, asked directly. */
async function feesOf(sim: Simulator): Promise<{ relayfee: number; histogram: [number, number][] }> {
  const direct = await RpcClient.connect(sim.port, sim.host);
  await direct.request('server.version', ['test', '1.4']);
  const relayfee = (await direct.request('blockchain.relayfee')) as number;
  const histogram = (await direct.request('mempool.get_fee_histogram')) as [number, number][];
  await direct.close();
  return { relayfee, histogram };
}

describe('a pool of electrs only', () => {
  let electrs: Simulator;
  let tg: TestGateway;
  let client: RpcClient;

  before(async () => {
    electrs = await Simulator.start({ seed: 'electrs-upstream', initialBlocks: 120, flavor: 'electrs' });
    ({ tg, client } = await gatewayOver([{ sim: electrs, name: 'electrs' }]));
  });

  after(async () => {
    await client?.close();
    await tg?.close();
    await electrs?.stop();
  });

  it('get_mempool is built from its history, without asking it for a method it lacks', async () => {
    const w = testP2wpkh('electrs-upstream', 'mempool');
    electrs.pay(w.address, 20_000, { confirm: true });
    const unconfirmed = electrs.pay(w.address, 30_000);
    const history = electrs.history(w.scripthash);
    assert.equal(history.length, 2);
    const mempool = (await client.request(GET_MEMPOOL, [w.scripthash])) as { tx_hash: string; height: number; fee?: number }[];
    assert.deepEqual(
      mempool.map((e) => [e.tx_hash, e.height]),
      [[unconfirmed, 0]],
    );
    assert.equal(typeof mempool[0]!.fee, 'number', 'the mempool entry keeps its fee');
    assert.equal(count(electrs, GET_MEMPOOL), 0);
  });

  it('cp_height requests get a clear -100 at once; without cp_height they are served', async () => {
    await assert.rejects(client.request('blockchain.block.header', [100, 110]), (e: RpcCallError) => e.code === -100 && /cp_height/.test(e.message) && /electrs/.test(e.message));
    await assert.rejects(client.request('blockchain.block.headers', [100, 5, 110]), (e: RpcCallError) => e.code === -100 && /cp_height/.test(e.message));
    assert.equal(await client.request('blockchain.block.header', [100, 0]), electrs.headerHex(100));
  });

  it('mempool.get_info reports a minimum fee never below the relay fee nor below the lowest rate in its mempool', async () => {
    // Enough payments to fill a histogram bin (the simulator's are 250 vB). The answer is cached
    // per tip, so this is the first mempool.get_info asked; the empty case is in test/unit/adapt-fees.
    for (let i = 0; i < 6; i++) electrs.pay(testP2wpkh('electrs-upstream', `fee-${i}`).address, 15_000 + i);
    const { relayfee, histogram } = await feesOf(electrs);
    assert.ok(histogram.length > 0, 'the payments are in its histogram');
    const lowest = Math.min(...histogram.map(([rate]) => rate));
    const info = (await client.request('mempool.get_info')) as Record<string, number>;
    assert.deepEqual(info, {
      mempoolminfee: Math.round((lowest * 1e-5 + relayfee) * 1e8) / 1e8,
      minrelaytxfee: relayfee,
      incrementalrelayfee: relayfee,
    });
    assert.ok(info.mempoolminfee! > relayfee);
  });
});

describe('electrs beside a 1.6 ElectrumX', () => {
  let electrs: Simulator;
  let electrumx: Simulator;
  let tg: TestGateway;
  let client: RpcClient;

  before(async () => {
    electrs = await Simulator.start({ seed: 'electrs-beside', initialBlocks: 120, flavor: 'electrs' });
    electrumx = await Simulator.start({ seed: 'electrs-beside', initialBlocks: 120 });
    ({ tg, client } = await gatewayOver([
      { sim: electrs, name: 'electrs' },
      { sim: electrumx, name: 'electrumx' },
    ]));
  });

  after(async () => {
    await client?.close();
    await tg?.close();
    await electrs?.stop();
    await electrumx?.stop();
  });

  it('checkpoint proofs come from the server that has them', async () => {
    const before = count(electrs, 'blockchain.block.header');
    for (let h = 90; h < 100; h++) {
      const got = (await client.request('blockchain.block.header', [h, 110])) as { header: string; root: string; branch: string[] };
      assert.equal(got.header, electrumx.headerHex(h));
      assert.equal(got.branch.length > 0, true);
    }
    assert.equal(count(electrs, 'blockchain.block.header') - before, 0);
  });

  it("mempool.get_info comes from the 1.6 server's daemon figures, not derived from electrs'", async () => {
    const relayBefore = count(electrs, 'blockchain.relayfee');
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(await client.request('mempool.get_info'), { mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
    }
    assert.equal(count(electrs, 'blockchain.relayfee') - relayBefore, 0);
  });
});

describe('a server that lacks get_mempool without saying who it is', () => {
  let sim: Simulator;
  let tg: TestGateway;
  let client: RpcClient;

  before(async () => {
    sim = await Simulator.start({ seed: 'unnamed-gap', initialBlocks: 115, flavor: 'electrs', serverVersion: 'SomeServer 1.0' });
    ({ tg, client } = await gatewayOver([{ sim, name: 'unnamed' }]));
  });

  after(async () => {
    await client?.close();
    await tg?.close();
    await sim?.stop();
  });

  it('its "unknown method" is learned once; the wallet gets the answer both times', async () => {
    const w = testP2wpkh('unnamed-gap', 'w');
    const txid = sim.pay(w.address, 25_000);
    for (let i = 0; i < 2; i++) {
      const got = (await client.request(GET_MEMPOOL, [w.scripthash])) as { tx_hash: string }[];
      assert.deepEqual(
        got.map((e) => e.tx_hash),
        [txid],
      );
    }
    assert.equal(count(sim, GET_MEMPOOL), 1, 'asked once, refused, never asked again on that connection');
    assert.equal(tg.gateway.pool.status()[0]!.state, 'healthy', 'a missing method is not a failing server');
  });
});
