// SPDX-License-Identifier: MIT
/**
 * The answer cache through the in-process gateway and real simulators, in
 * memory only (L1, no Redis configured); cache-redis.test.ts covers L2.
 * Simulator request counters prove what reached an upstream.
 *
 *  - repeats of buried headers (every version form), proofs, proven
 *    transactions and fee answers are served without upstream calls;
 *  - a mempool transaction, a verbose transaction, a short headers reply and
 *    anything near the tip are never cached;
 *  - 200 sessions asking for the same chunk at the same moment: one upstream request;
 *  - a lying upstream (header, merkle, tx): never cached, never served, quarantined;
 *  - reorgs: after the notification no orphaned header, chunk or proof is
 *    served, also from answers still in flight when the reorg became known;
 *    deep entries stay cached.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { bech32 } from 'bech32';
import type { GatewayConfig } from '../../src/config/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { anchoredAt, count, hexRange, listRange, lookups, metric } from '../helpers/cache-checks.js';
import { merkle } from '../helpers/merkle.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const HEADERS = 'blockchain.block.headers';
const TX_GET = 'blockchain.transaction.get';
const GET_MERKLE = 'blockchain.transaction.get_merkle';
const ID_FROM_POS = 'blockchain.transaction.id_from_pos';

// ---------------------------------------------------------------- helpers

/** Upstream request counts for `methods` on `sims`, to compare before and after. */
function counts(sims: readonly Simulator[], methods: readonly string[] = [HEADERS, TX_GET, GET_MERKLE, ID_FROM_POS, 'blockchain.block.header']): string {
  return JSON.stringify(sims.map((s) => methods.map((m) => count(s, m))));
}

async function session(gw: TestGateway, protocol = '1.4', timeoutMs = 10_000): Promise<RpcClient> {
  const c = await RpcClient.connect(gw.port, gw.host, timeoutMs);
  await c.request('server.version', ['cache-test', protocol]);
  return c;
}

async function errorOf(p: Promise<unknown>): Promise<RpcCallError> {
  try {
    const r = await p;
    assert.fail(`expected a JSON-RPC error, got ${JSON.stringify(r).slice(0, 200)}`);
  } catch (err) {
    if (err instanceof RpcCallError) return err;
    throw err;
  }
}

/** The gateway follows every simulator and its chain tracker holds their tip. */
async function ready(gw: TestGateway, sims: readonly Simulator[]): Promise<void> {
  const tip = sims[0]!.tipHeight();
  await RpcClient.until(
    () => gw.gateway.tracker.tip?.height === tip && gw.gateway.pool.status().every((u) => u.state === 'healthy'),
    `the gateway to follow ${sims.length} upstream(s) at ${tip}`,
    20_000,
    10,
  );
}

const withCache = (cache: Partial<GatewayConfig['cache']>, more: Partial<GatewayConfig> = {}) => (c: GatewayConfig): GatewayConfig => ({
  ...c,
  ...more,
  cache: { ...c.cache, ...cache },
});

function expectedMerkle(sim: Simulator, txid: string, height: number): { block_height: number; merkle: string[]; pos: number } {
  const txids = sim.blockTxids(height);
  const pos = txids.indexOf(txid);
  assert.ok(pos >= 0, `${txid} is in block ${height}`);
  return { block_height: height, merkle: merkle(txids, pos).branch, pos };
}

function regtestAddress(tag: string): string {
  const program = createHash('sha256').update(tag).digest().subarray(0, 20);
  return bech32.encode('bcrt', [0, ...bech32.toWords(program)]);
}

/** Confirmed transactions of blocks [from, to], with their heights, coinbases included. */
function txsIn(sim: Simulator, from: number, to: number): { txid: string; height: number; pos: number }[] {
  const out: { txid: string; height: number; pos: number }[] = [];
  for (let h = from; h <= to; h++) sim.blockTxids(h).forEach((txid, pos) => out.push({ txid, height: h, pos }));
  return out;
}

// ---------------------------------------------------------------- L1

describe('answer cache in memory (no Redis)', () => {
  it('serves repeats of buried headers (every version form), proofs, proven transactions and fees without upstream calls', async (t) => {
    const sim = await Simulator.start({ initialBlocks: 130, seed: 'cache-l1' });
    const gw = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }], admin: true });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    assert.equal(gw.config.redis, null);
    assert.equal(gw.config.cache.minDepth, 6, 'the default min_depth');
    const c14 = await session(gw, '1.4');
    const c16 = await session(gw, '1.6');
    const c12 = await session(gw, '1.2');
    t.after(() => Promise.all([c14, c16, c12].map((c) => c.close())));

    // Headers: every one from the anchor (genesis on regtest) up is in the tracker's verified index,
    // so every form is built from it without asking the upstream, the first time too.
    const before = counts([sim]);
    assert.deepEqual(await c14.request(HEADERS, [60, 60]), { count: 60, hex: hexRange(sim, 60, 60), max: 2016 });
    assert.deepEqual(await c14.request(HEADERS, [60, 60]), { count: 60, hex: hexRange(sim, 60, 60), max: 2016 });
    assert.deepEqual(await c16.request(HEADERS, [70, 20]), { count: 20, headers: listRange(sim, 70, 20), max: 2016 });
    assert.equal(await c14.request('blockchain.block.header', [100]), sim.headerHex(100));
    assert.equal(await c16.request('blockchain.block.header', [119]), sim.headerHex(119));
    const dict = (await c12.request('blockchain.block.get_header', [90])) as Record<string, unknown>;
    assert.equal(dict.block_height, 90);
    assert.equal(dict.prev_block_hash, sim.blockHash(89));
    assert.equal(counts([sim]), before, 'no upstream request for cached headers');
    assert.ok((await lookups(gw, HEADERS, 'l1')) >= 2);
    assert.ok((await lookups(gw, 'blockchain.block.header', 'l1')) >= 2);
    assert.equal(await lookups(gw, HEADERS, 'l2'), 0);
    assert.ok(metric(await gw.metrics(), 'electrum_gateway_cache_served_bytes_total') >= 80 * (60 + 20 + 2));
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_cache_redis_up'), 0, 'no Redis configured');

    // A transaction is cached only once a verified proof buried it.
    const [tx] = sim.blockTxids(105).slice(1);
    assert.ok(tx);
    const raw = sim.rawTransaction(tx);
    let tg = count(sim, TX_GET);
    assert.equal(await c14.request(TX_GET, [tx]), raw);
    assert.equal(await c14.request(TX_GET, [tx]), raw);
    assert.equal(count(sim, TX_GET), tg + 2, 'not cached before its proof');
    const gm = count(sim, GET_MERKLE);
    assert.deepEqual(await c14.request(GET_MERKLE, [tx, 105]), expectedMerkle(sim, tx, 105));
    assert.deepEqual(await c16.request(GET_MERKLE, [tx, 105]), expectedMerkle(sim, tx, 105));
    assert.equal(count(sim, GET_MERKLE), gm + 1, 'the proof is cached');
    tg = count(sim, TX_GET);
    assert.equal(await c14.request(TX_GET, [tx]), raw);
    assert.equal(await c16.request(TX_GET, [tx]), raw);
    assert.equal(await c14.request(TX_GET, [tx, false]), raw);
    assert.equal(count(sim, TX_GET), tg + 1, 'proven and buried: one fetch, then cached');

    // id_from_pos: one entry with or without merkle; it proves the transaction too.
    const txids106 = sim.blockTxids(106);
    const ip = count(sim, ID_FROM_POS);
    assert.equal(await c14.request(ID_FROM_POS, [106, 1]), txids106[1]);
    assert.deepEqual(await c14.request(ID_FROM_POS, [106, 1, true]), { tx_hash: txids106[1], merkle: merkle(txids106, 1).branch });
    assert.equal(await c16.request(ID_FROM_POS, [106, 1, false]), txids106[1]);
    assert.equal(count(sim, ID_FROM_POS), ip + 1);
    tg = count(sim, TX_GET);
    assert.equal(await c14.request(TX_GET, [txids106[1]]), sim.rawTransaction(txids106[1]!));
    assert.equal(await c14.request(TX_GET, [txids106[1]]), sim.rawTransaction(txids106[1]!));
    assert.equal(count(sim, TX_GET), tg + 1);
    assert.ok((await lookups(gw, TX_GET, 'l1')) >= 3);

    // Fee answers: until the next tip.
    const fee = count(sim, 'blockchain.estimatefee');
    const f1 = await c14.request('blockchain.estimatefee', [2]);
    assert.equal(await c16.request('blockchain.estimatefee', [2]), f1);
    assert.equal(count(sim, 'blockchain.estimatefee'), fee + 1);
    const hist = count(sim, 'mempool.get_fee_histogram');
    await c16.request('mempool.get_fee_histogram');
    await c16.request('mempool.get_fee_histogram');
    assert.equal(count(sim, 'mempool.get_fee_histogram'), hist + 1);
    sim.mine(1);
    await RpcClient.until(() => gw.gateway.tracker.tip?.height === 131, 'the new tip');
    assert.equal(await c14.request('blockchain.estimatefee', [2]), f1);
    assert.equal(count(sim, 'blockchain.estimatefee'), fee + 2, 'a new tip drops fee answers');

    // Still cached after the new tip.
    const after = counts([sim]);
    assert.deepEqual(await c14.request(HEADERS, [60, 60]), { count: 60, hex: hexRange(sim, 60, 60), max: 2016 });
    assert.equal(await c14.request(TX_GET, [tx]), raw);
    assert.equal(counts([sim]), after);
  });

  it('serves headers far below the tracker window from its verified index: no upstream request, the first time either', async (t) => {
    // More blocks than the tracker keeps whole (a retarget period and two), so the low ones are below its window.
    const sim = await Simulator.start({ initialBlocks: 2100, seed: 'cache-deep' });
    const gw = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }], admin: true });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    assert.equal(gw.gateway.tracker.headerAt(40), undefined, 'height 40 is below the window of whole headers');
    assert.equal(gw.gateway.tracker.hashAt(40), sim.blockHash(40), 'its hash is still known');
    assert.equal(gw.gateway.tracker.headerBytes(40)?.toString('hex'), sim.headerHex(40), 'and the header itself');
    const c = await session(gw, '1.4');
    const c16 = await session(gw, '1.6');
    t.after(() => Promise.all([c.close(), c16.close()]));
    const before = counts([sim]);
    assert.equal(await c.request('blockchain.block.header', [40]), sim.headerHex(40));
    assert.deepEqual(await c.request(HEADERS, [50, 10]), { count: 10, hex: hexRange(sim, 50, 10), max: 2016 });
    assert.deepEqual(await c16.request(HEADERS, [2000, 50]), { count: 50, headers: listRange(sim, 2000, 50), max: 2016 });
    assert.equal(await c16.request('blockchain.block.header', [2090]), sim.headerHex(2090));
    assert.equal(counts([sim]), before, 'no header request reached the upstream');
    assert.ok((await lookups(gw, 'blockchain.block.header', 'l1')) >= 2);
  });

  it('headers asked for past the tip with a cp_height get the empty answer, and the honest upstream stays in rotation', async (t) => {
    // Found by the fuzzing chaos scenario: ElectrumX answers such a range with no headers and no
    // proof, which the checkpoint check took for a lie, quarantining the only upstream for 10 minutes.
    const sim = await Simulator.start({ initialBlocks: 40, seed: 'cache-past-tip' });
    const gw = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }], admin: true });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    const c = await session(gw, '1.6');
    t.after(() => c.close());
    assert.deepEqual(await c.request(HEADERS, [45, 10, 30]), { count: 0, headers: [], max: 2016 });
    assert.equal(gw.gateway.pool.status()[0]!.quarantine, null, 'not quarantined');
    assert.equal(await c.request('blockchain.block.header', [7]), sim.headerHex(7), 'and still answering');
  });

  it('never caches a mempool transaction, a verbose transaction, a short headers reply or anything near the tip', async (t) => {
    const sim = await Simulator.start({ initialBlocks: 130, seed: 'cache-never' });
    // per_tip_ttl_ms 0: fee answers are not reused even within one tip.
    const gw = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }], admin: true, tweak: withCache({ perTipTtlMs: 0 }) });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    const c = await session(gw, '1.4');
    const c12 = await session(gw, '1.2');
    t.after(() => Promise.all([c.close(), c12.close()]));
    const tip = sim.tipHeight();
    const twice = async (method: string, args: unknown[], check: (r: unknown) => void, client = c, upstreamMethod = method): Promise<void> => {
      const before = count(sim, upstreamMethod);
      check(await client.request(method, args));
      check(await client.request(method, args));
      assert.equal(count(sim, upstreamMethod), before + 2, `${method}(${JSON.stringify(args)}) reached the upstream both times`);
    };

    // A mempool transaction.
    const mempoolTx = sim.pay(regtestAddress('cache-never'), 50_000);
    await twice(TX_GET, [mempoolTx], (r) => assert.equal(r, sim.rawTransaction(mempoolTx)));

    // A verbose transaction, even one proven and buried (whose raw form is cached).
    const [deep] = sim.blockTxids(110).slice(1);
    assert.ok(deep);
    await c.request(GET_MERKLE, [deep, 110]);
    const tg = count(sim, TX_GET);
    await c.request(TX_GET, [deep]);
    await c.request(TX_GET, [deep]);
    assert.equal(count(sim, TX_GET), tg + 1, 'its raw form is cached');
    await twice(TX_GET, [deep, true], (r) => assert.equal((r as { txid: string }).txid, deep));

    // A confirmed transaction with no proof yet.
    const [unproven] = sim.blockTxids(111).slice(1);
    await twice(TX_GET, [unproven], (r) => assert.equal(r, sim.rawTransaction(unproven!)));

    // A transaction proven in a block near the tip, and that proof.
    const [recent] = sim.blockTxids(tip - 2).slice(1);
    assert.ok(recent, `block ${tip - 2} has a payment`);
    await twice(GET_MERKLE, [recent, tip - 2], (r) => assert.deepEqual(r, expectedMerkle(sim, recent, tip - 2)));
    await twice(TX_GET, [recent], (r) => assert.equal(r, sim.rawTransaction(recent)));
    await twice(ID_FROM_POS, [tip - 2, 1, true], (r) => assert.equal((r as { tx_hash: string }).tx_hash, sim.blockTxids(tip - 2)[1]));

    // Short headers replies (the range runs past the tip), and headers near the tip.
    await twice(HEADERS, [tip - 2, 10], (r) => assert.deepEqual(r, { count: 3, hex: hexRange(sim, tip - 2, 3), max: 2016 }));
    await twice(HEADERS, [100, 100], (r) => assert.equal((r as { count: number }).count, tip - 99));
    await twice('blockchain.block.get_chunk', [0], (r) => assert.equal(r, hexRange(sim, 0, tip + 1)), c12, HEADERS);
    await twice('blockchain.block.header', [tip - 5], (r) => assert.equal(r, sim.headerHex(tip - 5)));
    await twice(HEADERS, [tip - 10, 6], (r) => assert.equal((r as { hex: string }).hex, hexRange(sim, tip - 10, 6)));
    // ... while the deepest cacheable range is cached.
    const h = count(sim, HEADERS);
    await c.request(HEADERS, [tip - 15, 10]);
    await c.request(HEADERS, [tip - 15, 10]);
    assert.equal(count(sim, HEADERS), h, 'buried: from the verified index, never asked');

    // Scripthash methods and broadcasts are never cached.
    const sh = createHash('sha256').update('cache-never-sh').digest('hex');
    await twice('blockchain.scripthash.get_history', [sh], (r) => assert.deepEqual(r, []));
    await twice('blockchain.scripthash.get_balance', [sh], (r) => assert.deepEqual(r, { confirmed: 0, unconfirmed: 0 }));
    const rawMempool = sim.rawTransaction(mempoolTx)!;
    await twice('blockchain.transaction.broadcast', [rawMempool], (r) => assert.equal(r, mempoolTx));

    await twice('blockchain.estimatefee', [2], (r) => assert.ok((r as number) > 0));
    await twice('mempool.get_fee_histogram', [], (r) => assert.ok(Array.isArray(r)));

    assert.equal(await lookups(gw, TX_GET, 'l2'), 0);
  });

  it('200 sessions asking for the same chunk at the same moment cost one upstream request', async (t) => {
    const sim = await Simulator.start({ initialBlocks: 2040, seed: 'cache-storm' });
    // Anchored on block 2030 (its run starts at 2016), so chunk 0 is below the anchor: not in the
    // tracker's index, asked of the upstream and proven by linking down from block 2016.
    const gw = await startTestGateway({
      upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }],
      admin: true,
      requestTimeoutMs: 20_000,
      tweak: anchoredAt(sim, 2030, (c) => ({ ...c, limits: { ...c.limits, maxSessionsPerGroup: 1000 } })),
    });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    const clients = await Promise.all(Array.from({ length: 200 }, (_, i) => session(gw, ['1.2', '1.4', '1.6'][i % 3], 30_000)));
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const chunk = hexRange(sim, 0, 2016);
    // The answer takes a while upstream, so the sessions' requests overlap.
    sim.setLatency(200);
    const before = count(sim, HEADERS);
    const replies = await Promise.all(
      clients.map((c, i) => (i % 3 === 0 ? c.request('blockchain.block.get_chunk', [0]) : c.request(HEADERS, [0, 2016]))),
    );
    sim.setLatency(0);
    assert.equal(count(sim, HEADERS), before + 1, 'one upstream request for 200 sessions');
    replies.forEach((r, i) => {
      if (i % 3 === 0) assert.equal(r, chunk);
      else if (i % 3 === 1) assert.deepEqual(r, { count: 2016, hex: chunk, max: 2016 });
      else assert.deepEqual(r, { count: 2016, headers: listRange(sim, 0, 2016), max: 2016 });
    });
    const text = await gw.metrics();
    const coalesced = metric(text, 'electrum_gateway_coalesced_requests_total', { method: HEADERS });
    const hits = metric(text, 'electrum_gateway_cache_lookups_total', { method: HEADERS, result: 'l1' });
    const misses = metric(text, 'electrum_gateway_cache_lookups_total', { method: HEADERS, result: 'miss' });
    assert.equal(hits + misses, 200, 'every session was looked up');
    assert.equal(coalesced + hits, 199, 'the 199 others shared the call in flight or found it cached');
  });

  it('identical broadcasts in flight at the same moment each reach the upstream; none is answered from a cache', async (t) => {
    const sim = await Simulator.start({ initialBlocks: 130, seed: 'cache-broadcast' });
    const gw = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }], admin: true });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    const clients = await Promise.all([session(gw, '1.4'), session(gw, '1.6'), session(gw, '1.4')]);
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const txid = sim.pay(regtestAddress('cache-broadcast'), 40_000);
    const raw = sim.rawTransaction(txid)!;
    const BROADCAST = 'blockchain.transaction.broadcast';

    // The simulator holds every answer, so all three requests are in flight together, for certain.
    sim.dropMethod(BROADCAST, true);
    const before = count(sim, BROADCAST);
    const held = clients.map((c) => c.request(BROADCAST, [raw]).then(
      () => 'answered',
      () => 'failed',
    ));
    await RpcClient.until(() => count(sim, BROADCAST) === before + 3, 'three broadcasts to reach the upstream', 10_000, 10);
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_coalesced_requests_total', { method: BROADCAST }), 0);
    sim.dropMethod(BROADCAST, false);

    // Answered again: each sequential broadcast is its own upstream call too.
    const next = count(sim, BROADCAST);
    assert.equal(await clients[0]!.request(BROADCAST, [raw]), txid);
    assert.equal(await clients[1]!.request(BROADCAST, [raw]), txid);
    assert.equal(count(sim, BROADCAST), next + 2);
    await Promise.all(clients.map((c) => c.close()));
    assert.ok(!(await Promise.all(held)).includes('answered'), 'a dropped answer is never invented');
  });
});

// ---------------------------------------------------------------- verification

describe('a lying upstream', () => {
  type Lie = 'header' | 'merkle' | 'tx';
  const verificationMethod: Record<Lie, string[]> = { header: ['blockchain.block.header'], merkle: [GET_MERKLE, ID_FROM_POS], tx: [TX_GET] };

  for (const lie of ['header', 'merkle', 'tx'] as const) {
    it(`lie '${lie}' beside an honest upstream: the wallet gets the true answer, the liar is quarantined, only true answers are cached`, async (t) => {
      const [good, liar] = await Promise.all([Simulator.start({ initialBlocks: 130, seed: `cache-lie-${lie}` }), Simulator.start({ initialBlocks: 130, seed: `cache-lie-${lie}` })]);
      const gw = await startTestGateway({
        upstreams: [
          { host: good.host, port: good.port, name: 'good' },
          { host: liar.host, port: liar.port, name: 'liar' },
        ],
        admin: true,
        captureLogs: 'warn',
      });
      t.after(async () => {
        await gw.close();
        await Promise.all([good.stop(), liar.stop()]);
      });
      await ready(gw, [good, liar]);
      const c = await session(gw, '1.6');
      t.after(() => c.close());
      liar.lie(lie);

      const quarantined = (): boolean => gw.gateway.pool.status().find((u) => u.name === 'liar')!.quarantine !== null;
      // Distinct cacheable requests, each a cache miss, until the pool has picked the liar once.
      const txs = txsIn(good, 101, 124);
      const ask: ((i: number) => Promise<void>)[] = [];
      if (lie === 'header') {
        // Buried headers come from the tracker's verified index and reach no upstream; near-tip ones are asked and checked.
        const tip = good.tipHeight();
        ask.push(async (i) => assert.equal(await c.request('blockchain.block.header', [tip - (i % 4)]), good.headerHex(tip - (i % 4))));
      } else if (lie === 'merkle') {
        ask.push(async (i) => {
          const tx = txs[i % txs.length]!;
          if (i % 2) assert.deepEqual(await c.request(GET_MERKLE, [tx.txid, tx.height]), expectedMerkle(good, tx.txid, tx.height));
          else assert.deepEqual(await c.request(ID_FROM_POS, [tx.height, tx.pos, true]), { tx_hash: tx.txid, merkle: expectedMerkle(good, tx.txid, tx.height).merkle });
        });
      } else {
        ask.push(async (i) => {
          const tx = txs[i % txs.length]!;
          await c.request(GET_MERKLE, [tx.txid, tx.height]);
          assert.equal(await c.request(TX_GET, [tx.txid]), good.rawTransaction(tx.txid));
        });
      }
      let asked = 0;
      for (; asked < txs.length && !quarantined(); asked++) await ask[0]!(asked);
      assert.ok(quarantined(), `the liar was picked within ${asked} requests and quarantined`);
      const liarStatus = gw.gateway.pool.status().find((u) => u.name === 'liar')!;
      assert.equal(liarStatus.state, 'quarantined');
      assert.match(String(liarStatus.quarantine), new RegExp(verificationMethod[lie].map((m) => m.replace(/\./g, '\\.')).join('|')));
      assert.equal(gw.gateway.pool.status().find((u) => u.name === 'good')!.state, 'healthy');
      const text = await gw.metrics();
      const failures = verificationMethod[lie].reduce((s, m) => s + metric(text, 'electrum_gateway_verification_failures_total', { upstream: 'liar', method: m }), 0);
      assert.ok(failures >= 1, 'verification_failures_total counts the liar');
      assert.equal(metric(text, 'electrum_gateway_verification_failures_total', { upstream: 'good' }), 0);
      assert.ok(
        gw.logs.some((r) => String(r.msg).includes('failed verification') && r.upstream === 'liar'),
        'a log line names the liar',
      );

      // The quarantined liar gets nothing more; what was answered is cached (near-tip headers never are), and it is the truth.
      const liarBefore = counts([liar]);
      const bothBefore = counts([good, liar]);
      for (let i = 0; i < asked; i++) await ask[0]!(i);
      assert.equal(counts([liar]), liarBefore, 'the liar is not asked while quarantined');
      if (lie !== 'header') assert.equal(counts([good, liar]), bothBefore, 'every answer came from the cache, and each was the true one');
      else {
        const buried = counts([good, liar]);
        for (let h = 10; h < 20; h++) assert.equal(await c.request('blockchain.block.header', [h]), good.headerHex(h));
        assert.equal(counts([good, liar]), buried, 'buried headers are the verified index itself');
      }
    });
  }

  it('alone: the wallet gets an error, nothing is cached; honest again after its quarantine, it is asked again', async (t) => {
    const liar = await Simulator.start({ initialBlocks: 130, seed: 'cache-lie-alone' });
    const gw = await startTestGateway({
      upstreams: [{ host: liar.host, port: liar.port, name: 'liar' }],
      admin: true,
      // Quarantined longer than a request may wait, so the request fails rather than waits it out.
      requestTimeoutMs: 800,
      tweak: (c) => ({ ...c, pool: { ...c.pool, quarantineMs: 1500 } }),
    });
    t.after(async () => {
      await gw.close();
      await liar.stop();
    });
    await ready(gw, [liar]);
    const c = await session(gw, '1.4');
    t.after(() => c.close());
    const state = (): string => gw.gateway.pool.status()[0]!.state;

    /** cached: a true answer is kept (near-tip headers never are, so each call asks again). */
    const cases: { lie: 'header' | 'merkle' | 'tx'; method: string; prepare?: () => Promise<unknown>; call: () => Promise<unknown>; truth: unknown; cached?: false }[] = [];
    const [txA] = liar.blockTxids(105).slice(1);
    const [txB] = liar.blockTxids(106).slice(1);
    // A buried header would come from the tracker's verified index and never reach the liar: one near the tip does.
    const nearTip = liar.tipHeight() - 2;
    cases.push({ lie: 'header', method: 'blockchain.block.header', call: () => c.request('blockchain.block.header', [nearTip]), truth: liar.headerHex(nearTip), cached: false });
    cases.push({ lie: 'merkle', method: GET_MERKLE, call: () => c.request(GET_MERKLE, [txA, 105]), truth: expectedMerkle(liar, txA!, 105) });
    cases.push({
      lie: 'tx',
      method: TX_GET,
      prepare: () => c.request(GET_MERKLE, [txB, 106]),
      call: () => c.request(TX_GET, [txB]),
      truth: liar.rawTransaction(txB!),
    });
    for (const k of cases) {
      await k.prepare?.();
      liar.lie(k.lie);
      const asked = count(liar, k.method);
      await errorOf(k.call());
      assert.equal(count(liar, k.method), asked + 1, `${k.lie}: the liar was asked`);
      assert.equal(state(), 'quarantined');
      liar.lie(null);
      await RpcClient.until(() => state() === 'healthy', `${k.lie}: the quarantine to end`, 5000);
      assert.deepEqual(await k.call(), k.truth);
      assert.equal(count(liar, k.method), asked + 2, `${k.lie}: the lie was not cached, so the upstream is asked again`);
      assert.deepEqual(await k.call(), k.truth);
      assert.equal(count(liar, k.method), k.cached === false ? asked + 3 : asked + 2, `${k.lie}: the true answer is cached (unless near the tip)`);
    }
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_verification_failures_total', { upstream: 'liar' }), 3);
  });
});

// ---------------------------------------------------------------- reorgs

describe('reorgs', () => {
  it('after the reorg notification no orphaned header, range or proof is served; deep entries stay cached', async (t) => {
    const seed = 'cache-reorg';
    const sims = await Promise.all([Simulator.start({ initialBlocks: 125, seed }), Simulator.start({ initialBlocks: 125, seed })]);
    const [a, b] = sims as [Simulator, Simulator];
    const gw = await startTestGateway({
      upstreams: sims.map((s, i) => ({ host: s.host, port: s.port, name: `sim${i}` })),
      admin: true,
      // min_depth 2: entries up to 123 are cached, so a 6-block reorg reaches cached ones.
      tweak: withCache({ minDepth: 2 }),
    });
    t.after(async () => {
      await gw.close();
      await Promise.all(sims.map((s) => s.stop()));
    });
    await ready(gw, sims);
    const reorgs: { forkHeight: number; orphaned: readonly string[] }[] = [];
    gw.gateway.tracker.on('reorg', (r) => reorgs.push(r));
    const c = await session(gw, '1.4');
    t.after(() => c.close());
    assert.equal(((await c.request('blockchain.headers.subscribe')) as { height: number }).height, 125);

    // Fill the cache with entries on both sides of the coming fork (119 | 120..123).
    const old = { headers: listRange(a, 0, 126), txs: txsIn(a, 110, 123).filter((x) => x.pos > 0) };
    const cp = (r: unknown): { header: string; root: string; branch: string[] } => r as { header: string; root: string; branch: string[] };
    await c.request(HEADERS, [90, 34]);
    for (const x of old.txs) {
      await c.request(GET_MERKLE, [x.txid, x.height]);
      await c.request(TX_GET, [x.txid]);
    }
    for (let h = 115; h <= 123; h++) await c.request(ID_FROM_POS, [h, 0, true]);
    assert.deepEqual(cp(await c.request('blockchain.block.header', [100, 123])).root, merkle(old.headers.slice(0, 124).map((_, i) => a.blockHash(i)), 100).root);
    const filled = counts(sims);
    await c.request(HEADERS, [90, 34]);
    for (const x of old.txs) await c.request(GET_MERKLE, [x.txid, x.height]);
    await c.request('blockchain.block.header', [100, 123]);
    assert.equal(counts(sims), filled, 'all of it is cached');

    // Both upstreams reorganise: 120..125 orphaned, 120..126 new.
    const since = c.notifications.length;
    const orphaned = a.reorg(6);
    b.reorg(6);
    assert.deepEqual(b.blockHash(126), a.blockHash(126), 'both simulators are on the same new chain');
    await c.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === 126, { since, timeoutMs: 10_000 });
    assert.equal(reorgs.length, 1);
    assert.equal(reorgs[0]!.forkHeight, 119);
    assert.deepEqual([...reorgs[0]!.orphaned], orphaned);
    const isOrphan = (hex: string): boolean => old.headers.indexOf(hex) >= 120;

    // Deep entries (<= 119) are still served from the cache.
    const deep = counts(sims);
    const deepHits = await lookups(gw, HEADERS, 'l1');
    assert.deepEqual(await c.request(HEADERS, [90, 30]), { count: 30, hex: hexRange(a, 90, 30), max: 2016 });
    for (const x of old.txs.filter((y) => y.height <= 119)) {
      assert.deepEqual(await c.request(GET_MERKLE, [x.txid, x.height]), expectedMerkle(a, x.txid, x.height));
      assert.equal(await c.request(TX_GET, [x.txid]), a.rawTransaction(x.txid));
    }
    assert.equal(counts(sims), deep, 'deep headers, proofs and transactions stay cached');
    assert.equal(await lookups(gw, HEADERS, 'l1'), deepHits + 1);

    // Above the fork, only the new chain.
    const range = (await c.request(HEADERS, [90, 35])) as { hex: string; count: number };
    assert.equal(range.hex, hexRange(a, 90, 35));
    for (let h = 120; h <= 126; h++) {
      const hex = (await c.request('blockchain.block.header', [h])) as string;
      assert.equal(hex, a.headerHex(h), `header ${h}`);
      assert.ok(!isOrphan(hex), `header ${h} is not orphaned`);
    }
    const chunk = (await c.request(HEADERS, [100, 27])) as { hex: string };
    for (let i = 0; i < 27; i++) assert.ok(!isOrphan(chunk.hex.slice(i * 160, (i + 1) * 160)), `range entry ${100 + i}`);
    for (const x of old.txs.filter((y) => y.height >= 120)) {
      // The new blocks are empty: the old proofs must not come back.
      await errorOf(c.request(GET_MERKLE, [x.txid, x.height]));
      // Its bytes are the same, wherever it is.
      assert.equal(await c.request(TX_GET, [x.txid]), a.rawTransaction(x.txid));
    }
    for (let h = 120; h <= 123; h++) {
      assert.deepEqual(await c.request(ID_FROM_POS, [h, 0, true]), { tx_hash: a.blockTxids(h)[0], merkle: [] }, `coinbase of the new block ${h}`);
      await errorOf(c.request(ID_FROM_POS, [h, 1, true]));
    }
    const proof = cp(await c.request('blockchain.block.header', [100, 123]));
    assert.equal(proof.header, a.headerHex(100));
    assert.deepEqual(
      { root: proof.root, branch: proof.branch },
      merkle(Array.from({ length: 124 }, (_, i) => a.blockHash(i)), 100),
      'the checkpoint proof is for the new chain',
    );
  });

  // Buried headers are not among the requests: they come from the tracker's verified index, which the
  // reorg itself rewrites, so none is ever in flight upstream (the test above shows none orphaned is served).
  it('an answer still in flight from a slow upstream when the reorg becomes known is not served if it is orphaned', async (t) => {
    const seed = 'cache-reorg-inflight';
    const [fast, slow] = await Promise.all([Simulator.start({ initialBlocks: 125, seed }), Simulator.start({ initialBlocks: 125, seed })]);
    const gw = await startTestGateway({
      // The slow upstream gets nearly every request; the fast one tells the gateway about the reorg.
      upstreams: [
        { host: fast.host, port: fast.port, name: 'fast', options: { weight: '0.001' } },
        { host: slow.host, port: slow.port, name: 'slow', options: { weight: '1000' } },
      ],
      admin: true,
      requestTimeoutMs: 15_000,
      tweak: withCache({ minDepth: 2 }),
    });
    t.after(async () => {
      await gw.close();
      await Promise.all([fast.stop(), slow.stop()]);
    });
    await ready(gw, [fast, slow]);
    const c = await session(gw, '1.4', 20_000);
    t.after(() => c.close());
    await c.request('blockchain.headers.subscribe');
    await c.request(HEADERS, [119, 3]);
    const [tx] = fast.blockTxids(121).slice(1);
    assert.ok(tx);
    const oldCoinbase = fast.blockTxids(121)[0];

    slow.setLatency(3500);
    const sent = counts([slow], [GET_MERKLE, ID_FROM_POS]);
    const calls = {
      merkle: c.call(GET_MERKLE, [tx, 121], { id: 'merkle' }),
      pos0: c.call(ID_FROM_POS, [121, 0, true], { id: 'pos0' }),
      pos1: c.call(ID_FROM_POS, [121, 1], { id: 'pos1' }),
    };
    await RpcClient.until(
      () => {
        const [m, p] = JSON.parse(counts([slow], [GET_MERKLE, ID_FROM_POS]))[0] as number[];
        const [m0, p0] = JSON.parse(sent)[0] as number[];
        return m! > m0! && p! >= p0! + 2;
      },
      'the slow upstream to have every request',
      10_000,
    );
    const since = c.notifications.length;
    fast.reorg(6);
    slow.reorg(6);
    await c.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === 126, { since, timeoutMs: 10_000 });
    slow.setLatency(0);
    // The same requests again, while the first ones are still in flight: they must not share the orphaned answers.
    const answered = (id: string): boolean => c.received.some((m) => (m as { id?: unknown }).id === id);
    assert.ok(!answered('merkle') && !answered('pos0'), 'the first requests are still in flight');
    const again = {
      merkle: c.call(GET_MERKLE, [tx, 121], { id: 'merkle-again' }),
      pos0: c.call(ID_FROM_POS, [121, 0, true], { id: 'pos0-again' }),
    };
    const replies = {
      merkle: await calls.merkle,
      pos0: await calls.pos0,
      pos1: await calls.pos1,
      'merkle-again': await again.merkle,
      'pos0-again': await again.pos0,
    };
    // The scenario: every answer reached the wallet after the reorg notification.
    const notified = c.received.findIndex((m) => (m as { method?: string; params?: [{ height: number }] }).method === 'blockchain.headers.subscribe' && (m as { params: [{ height: number }] }).params[0].height === 126);
    for (const id of Object.keys(replies)) {
      const at = c.received.findIndex((m) => (m as { id?: unknown }).id === id);
      assert.ok(notified >= 0 && at > notified, `the ${id} answer came after the reorg notification`);
    }
    // The transaction's block is orphaned and the new block 121 is empty.
    assert.ok('error' in replies.merkle, `no orphaned merkle proof: ${JSON.stringify(replies.merkle).slice(0, 300)}`);
    assert.ok('error' in replies.pos1, `no orphaned id_from_pos: ${JSON.stringify(replies.pos1).slice(0, 300)}`);
    assert.deepEqual(replies.pos0.result, { tx_hash: fast.blockTxids(121)[0], merkle: [] });
    assert.ok('error' in replies['merkle-again'], `no orphaned merkle proof: ${JSON.stringify(replies['merkle-again']).slice(0, 300)}`);
    assert.deepEqual(replies['pos0-again'].result, { tx_hash: fast.blockTxids(121)[0], merkle: [] });
    assert.notEqual(fast.blockTxids(121)[0], oldCoinbase);
  });
});
