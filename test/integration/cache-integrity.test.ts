// SPDX-License-Identifier: MIT
/**
 * The answer cache trusts Redis no more than an upstream (issue 11 pt 2),
 * against a real redis-server:
 *
 *  - a Redis pre-filled with forged entries of every kind (single headers, a
 *    whole forged chunk with valid proof of work, a header body that does not
 *    hash to its index, a transaction, a merkle proof, an id_from_pos proof,
 *    a checkpoint proof; written under the current key format and under the
 *    old `eg:<network>:` one) serves none of them: every answer is the
 *    simulator's, no answer at all is an L2 hit, each kind is counted in
 *    electrum_gateway_cache_rejected_total and the forged entries are gone or
 *    overwritten with the truth afterwards;
 *  - genuine entries under another network's key prefix are never read (no
 *    L2 hit: the gateway asked an upstream);
 *  - a liar upstream whose deep headers are another history (valid proof of
 *    work, each linking to the one before) poisons nothing: wallets get the
 *    honest headers, the liar is quarantined, and Redis holds only honest
 *    headers, which a second instance then serves;
 *  - near the tip (nothing cached), a liar answering block.header(s) with
 *    competing blocks of valid proof of work, and one answering get_merkle
 *    with a wrong branch, reach no wallet: the answers are checked against
 *    the tracker's headers, both liars are quarantined, the wallet gets the
 *    honest upstream's answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import { DEEP_LIE_DEPTH, FORK_LIE_DEPTH } from '../sim/server.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { anchoredAt, count, hexRange, listRange, metric } from '../helpers/cache-checks.js';
import { merkle } from '../helpers/merkle.js';
import { RedisServer } from '../helpers/redis.js';
import { regtestHeaders } from '../helpers/regtest-headers.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';
import { createHash } from 'node:crypto';

const HEADERS = 'blockchain.block.headers';
const PREFIX = 'eg:v2:regtest:';
const LEGACY_PREFIX = 'eg:regtest:';
const OTHER_NETWORK = 'eg:v2:testnet:';

const sha256d = (b: Buffer): Buffer => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
/** Display hex of a header's block hash, with node:crypto alone. */
const hashOf = (hex: string): string => Buffer.from(sha256d(Buffer.from(hex, 'hex'))).reverse().toString('hex');
const bin = (hex: string): Buffer => Buffer.from(hex, 'hex');

function withRedis(url: string) {
  return (c: GatewayConfig): GatewayConfig => ({ ...c, redis: url, cache: { ...c.cache, redisTimeoutMs: 2000 } });
}

async function session(gw: TestGateway, protocol = '1.4'): Promise<RpcClient> {
  const c = await RpcClient.connect(gw.port, gw.host, 15_000);
  await c.request('server.version', ['cache-integrity-test', protocol]);
  return c;
}

async function ready(gw: TestGateway, tip: number, upstreams: number): Promise<void> {
  await RpcClient.until(
    async () =>
      gw.gateway.tracker.tip?.height === tip &&
      gw.gateway.pool.status().filter((u) => u.state === 'healthy').length === upstreams &&
      metric(await gw.metrics(), 'electrum_gateway_cache_redis_up') === 1,
    `the gateway at ${tip} with ${upstreams} upstream(s) and Redis up`,
    30_000,
    20,
  );
}

const rejected = async (gw: TestGateway, kind: string): Promise<number> => metric(await gw.metrics(), 'electrum_gateway_cache_rejected_total', { tier: 'l2', kind });

describe('cache integrity: Redis and upstreams are verified alike', () => {
  let redis: RedisServer;
  let inspect: Redis;

  before(async () => {
    redis = await RedisServer.start();
    inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    inspect.on('error', () => undefined);
    await inspect.connect();
  });
  after(async () => {
    inspect.disconnect();
    await redis.stop();
  });

  it('a Redis pre-filled with forged entries of every kind serves none of them', async (t) => {
    await inspect.flushall();
    const sim = await Simulator.start({ initialBlocks: 2030, seed: 'cache-forged' });
    t.after(() => sim.stop());
    // Another history from the same genesis: valid proof of work, each header linking to the last.
    const forged = regtestHeaders(2015, 'forged by a neighbour sharing the Redis');
    assert.notEqual(forged[5], sim.headerHex(5));
    const tx = sim.blockTxids(105)[1]!;
    const txids106 = sim.blockTxids(106);
    const tx110 = sim.blockTxids(110)[1]!;
    const rawTx = sim.rawTransaction(tx)!;
    const forgedTx = rawTx.slice(0, -10) + (rawTx.slice(-10, -8) === '00' ? '01' : '00') + rawTx.slice(-8);
    const hashes2000 = Array.from({ length: 2001 }, (_, h) => sim.blockHash(h));
    const honestCp = merkle(hashes2000, 1500);

    const fill = async (prefix: string): Promise<void> => {
      const m = inspect.pipeline();
      for (let h = 0; h <= 2015; h++) {
        m.set(`${prefix}hidx:${h}`, bin(hashOf(forged[h]!)));
        m.set(`${prefix}hdr:${hashOf(forged[h]!)}`, bin(forged[h]!));
      }
      // An index entry naming the real block, whose body is another header.
      m.set(`${prefix}hidx:1800`, bin(sim.blockHash(1800)));
      m.set(`${prefix}hdr:${sim.blockHash(1800)}`, bin(sim.headerHex(1801)));
      m.set(`${prefix}tx:${tx}`, bin(forgedTx));
      const wrongBranch = merkle(sim.blockTxids(105), 1).branch.map((b, i) => (i === 0 ? b.replace(/^./, (c) => (c === '0' ? '1' : '0')) : b));
      m.set(`${prefix}mk:${tx}:105:${sim.blockHash(105)}`, JSON.stringify({ block_height: 105, merkle: wrongBranch, pos: 1 }));
      // A genuine proof for position 2, offered as position 1.
      m.set(`${prefix}ip:106:1:${sim.blockHash(106)}`, JSON.stringify({ tx_hash: txids106[2], merkle: merkle(txids106, 2).branch }));
      // A forged header with a branch and root made to agree with it.
      const forgedLeaves = [...hashes2000];
      forgedLeaves[1500] = hashOf(forged[1500]!);
      const fcp = merkle(forgedLeaves, 1500);
      m.set(`${prefix}hcp:1500:2000:${sim.blockHash(2000)}`, JSON.stringify({ branch: fcp.branch, header: forged[1500], root: fcp.root }));
      await m.exec();
    };
    await fill(PREFIX);
    await fill(LEGACY_PREFIX);
    // Genuine entries, but another network's: a gateway that read them would count L2 hits.
    const other = inspect.pipeline();
    for (let h = 900; h < 910; h++) {
      other.set(`${OTHER_NETWORK}hidx:${h}`, bin(sim.blockHash(h)));
      other.set(`${OTHER_NETWORK}hdr:${sim.blockHash(h)}`, bin(sim.headerHex(h)));
    }
    other.set(`${OTHER_NETWORK}mk:${tx110}:110:${sim.blockHash(110)}`, JSON.stringify({ block_height: 110, merkle: merkle(sim.blockTxids(110), 1).branch, pos: 1 }));
    other.set(`${OTHER_NETWORK}tx:${tx110}`, bin(sim.rawTransaction(tx110)!));
    await other.exec();

    // Anchored on block 2020 (its run starts at 2016): the headers asked are below the tracker's verified
    // index, which would otherwise serve them itself and never read Redis for them.
    const gw = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }], admin: true, captureLogs: 'warn', tweak: anchoredAt(sim, 2020, withRedis(redis.url)) });
    t.after(() => gw.close());
    await ready(gw, 2030, 1);
    const c12 = await session(gw, '1.2');
    const c14 = await session(gw, '1.4');
    t.after(() => Promise.all([c12.close(), c14.close()]));

    const ask = async (): Promise<void> => {
      assert.equal(await c12.request('blockchain.block.get_chunk', [0]), hexRange(sim, 0, 2016), 'chunk 0');
      assert.deepEqual(await c14.request(HEADERS, [0, 13]), { count: 13, hex: hexRange(sim, 0, 13), max: 2016 }, 'the range below the window');
      assert.equal(await c14.request('blockchain.block.header', [5]), sim.headerHex(5));
      assert.equal(await c14.request('blockchain.block.header', [1700]), sim.headerHex(1700));
      assert.deepEqual(await c14.request(HEADERS, [1790, 20]), { count: 20, hex: hexRange(sim, 1790, 20), max: 2016 });
      assert.deepEqual(await c14.request('blockchain.transaction.get_merkle', [tx, 105]), { block_height: 105, merkle: merkle(sim.blockTxids(105), 1).branch, pos: 1 });
      assert.equal(await c14.request('blockchain.transaction.get', [tx]), rawTx);
      assert.deepEqual(await c14.request('blockchain.transaction.id_from_pos', [106, 1, true]), { tx_hash: txids106[1], merkle: merkle(txids106, 1).branch });
      assert.deepEqual(await c14.request('blockchain.block.header', [1500, 2000]), { branch: honestCp.branch, header: sim.headerHex(1500), root: honestCp.root });
      assert.deepEqual(await c14.request(HEADERS, [900, 10]), { count: 10, hex: hexRange(sim, 900, 10), max: 2016 });
      await c14.request('blockchain.transaction.get_merkle', [tx110, 110]);
      assert.equal(await c14.request("blockchain.transaction.get", [tx110]), sim.rawTransaction(tx110)!);
    };
    await ask();
    const text = await gw.metrics();
    assert.equal(metric(text, 'electrum_gateway_cache_lookups_total', { result: 'l2' }), 0, 'not one answer came from Redis');
    for (const kind of ['header', 'transaction', 'merkle', 'id_from_pos', 'checkpoint']) assert.ok((await rejected(gw, kind)) >= 1, `a forged ${kind} was counted`);
    assert.ok(gw.logs.some((r) => String(r.msg).startsWith('cache entry from Redis failed verification')), 'and logged');

    // The forged entries were deleted, or overwritten with what the upstream proved.
    await RpcClient.until(async () => (await inspect.getBuffer(`${PREFIX}tx:${tx}`))?.toString('hex') === rawTx, 'the transaction rewritten', 5000);
    const mk = await inspect.get(`${PREFIX}mk:${tx}:105:${sim.blockHash(105)}`);
    assert.deepEqual(JSON.parse(mk!), { block_height: 105, merkle: merkle(sim.blockTxids(105), 1).branch, pos: 1 });
    for (const h of [1700, 1800, 2015]) assert.equal((await inspect.getBuffer(`${PREFIX}hidx:${h}`))?.toString('hex'), sim.blockHash(h), `hidx:${h}`);
    assert.equal((await inspect.getBuffer(`${PREFIX}hdr:${sim.blockHash(1800)}`))?.toString('hex'), sim.headerHex(1800));

    // Asked again: the same honest answers (now from memory), no more rejections.
    const before = await rejected(gw, 'header');
    await ask();
    assert.equal(await rejected(gw, 'header'), before);
  });

  it('a liar upstream forging deep headers poisons nothing: deep headers come from the verified index, never from it, and nothing of theirs reaches Redis', async (t) => {
    await inspect.flushall();
    const seed = 'cache-deep-liar';
    const [honest, liar, third] = await Promise.all([0, 1, 2].map(() => Simulator.start({ initialBlocks: 2100, seed })));
    t.after(() => Promise.all([honest!.stop(), liar!.stop(), third!.stop()]));
    // The liar answers faster, so it would be asked first.
    honest!.setLatency(40);
    const a = await startTestGateway({
      upstreams: [
        { host: honest!.host, port: honest!.port, name: 'honest' },
        { host: liar!.host, port: liar!.port, name: 'liar' },
      ],
      admin: true,
      tweak: withRedis(redis.url),
    });
    t.after(() => a.close());
    await ready(a, 2100, 2);
    liar!.lie('deep-header');
    const forgedBelow = 2100 - DEEP_LIE_DEPTH;
    const c = await session(a, '1.6');
    t.after(() => c.close());
    // Deep ranges inside the forged history, each distinct, and the whole first chunk: the tracker
    // verified every header from its anchor (genesis here) when it started, before the lie, and
    // serves them from that index, so no upstream is asked and the liar has nothing to forge into.
    const ranges: [number, number][] = Array.from({ length: 40 }, (_, i) => [100 + i * 7, 20]);
    ranges.push([0, 2016]);
    const asked = { honest: count(honest!, HEADERS) + count(honest!, 'blockchain.block.header'), liar: count(liar!, HEADERS) + count(liar!, 'blockchain.block.header') };
    for (const [start, n] of ranges) {
      assert.ok(start <= forgedBelow, `${start} is in the forged history`);
      const r = (await c.request(HEADERS, [start, n])) as { headers: string[] };
      assert.deepEqual(r.headers, listRange(honest!, start, n), `headers ${start}+${n}`);
    }
    for (const h of [150, 777, 1010]) assert.equal(await c.request('blockchain.block.header', [h]), honest!.headerHex(h));
    assert.equal(count(liar!, HEADERS) + count(liar!, 'blockchain.block.header'), asked.liar, 'the liar was never asked for a header');
    assert.equal(count(honest!, HEADERS) + count(honest!, 'blockchain.block.header'), asked.honest, 'nor the honest upstream');
    assert.deepEqual(await inspect.keys(`${PREFIX}hidx:*`), [], 'headers the index holds are not written to Redis');
    assert.deepEqual(await inspect.keys(`${PREFIX}hdr:*`), []);

    // A second instance, honest upstream only, serves the same ranges from its own verified index.
    const b = await startTestGateway({ upstreams: [{ host: third!.host, port: third!.port, name: 'third' }], admin: true, tweak: withRedis(redis.url) });
    t.after(() => b.close());
    await ready(b, 2100, 1);
    const cb = await session(b, '1.6');
    t.after(() => cb.close());
    const thirdAsked = count(third!, HEADERS);
    for (const [start, n] of ranges) assert.deepEqual(((await cb.request(HEADERS, [start, n])) as { headers: string[] }).headers, listRange(honest!, start, n));
    assert.equal(count(third!, HEADERS), thirdAsked, 'served from memory');
    assert.equal(await rejected(b, 'header'), 0);
  });

  it('near the tip, forged headers and merkle branches are checked against the tracker and never reach a wallet', async (t) => {
    const seed = 'near-tip-liars';
    // Block 150 carries payments (every 25th block does), so its merkle branches are not trivial.
    const [honest, forks, branches] = await Promise.all([0, 1, 2].map(() => Simulator.start({ initialBlocks: 150, seed })));
    t.after(() => Promise.all([honest!.stop(), forks!.stop(), branches!.stop()]));
    honest!.setLatency(40);
    const gw = await startTestGateway({
      upstreams: [
        { host: honest!.host, port: honest!.port, name: 'honest' },
        { host: forks!.host, port: forks!.port, name: 'liar-forks' },
        { host: branches!.host, port: branches!.port, name: 'liar-branches' },
      ],
      admin: true,
    });
    t.after(() => gw.close());
    await RpcClient.until(() => gw.gateway.tracker.tip?.height === 150 && gw.gateway.pool.status().every((u) => u.state === 'healthy'), 'three healthy upstreams at 150', 20_000, 20);
    forks!.lie('fork-header');
    branches!.lie('merkle');
    const c = await session(gw, '1.4');
    t.after(() => c.close());
    const tip = 150;
    const txids = honest!.blockTxids(tip);
    assert.ok(txids.length >= 2);
    const caught = (): boolean => gw.gateway.pool.status().filter((u) => u.name.startsWith('liar-') && u.state === 'quarantined').length === 2;
    // Round after round (the choice between upstreams is random) until both liars have been picked and caught.
    for (let round = 0; round < 40 && (round < 2 || !caught()); round++) {
      for (let k = 0; k < FORK_LIE_DEPTH - 4; k++) assert.equal(await c.request('blockchain.block.header', [tip - k]), honest!.headerHex(tip - k), `header ${tip - k}`);
      assert.deepEqual(await c.request(HEADERS, [tip - 4, 5]), { count: 5, hex: hexRange(honest!, tip - 4, 5), max: 2016 });
      for (let pos = 0; pos < txids.length; pos++) {
        assert.deepEqual(await c.request('blockchain.transaction.get_merkle', [txids[pos], tip]), { block_height: tip, merkle: merkle(txids, pos).branch, pos }, `get_merkle ${pos}`);
      }
    }
    const status = gw.gateway.pool.status();
    const text = await gw.metrics();
    for (const name of ['liar-forks', 'liar-branches']) {
      assert.equal(status.find((u) => u.name === name)?.state, 'quarantined', `${name} is out of rotation`);
      assert.ok(metric(text, 'electrum_gateway_verification_failures_total', { upstream: name }) >= 1, `${name}'s answer failed verification`);
    }
    assert.equal(status.find((u) => u.name === 'honest')?.state, 'healthy');
  });
});
