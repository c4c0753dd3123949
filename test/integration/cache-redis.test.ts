// SPDX-License-Identifier: MIT
/**
 * The answer cache's shared tier (L2) against a real redis-server (Debian
 * package redis-server), started on a free loopback port by test/helpers/redis.ts:
 *
 *  - what gateway A fetched, gateway B serves from Redis without touching any
 *    upstream: header ranges in every version form, chunks, proofs,
 *    transactions (simulator request counters and l2 lookups prove it);
 *  - Redis killed under a load of header and transaction requests: no client
 *    error, cache_redis_up drops to 0 and one log line says so; restarted:
 *    cache_redis_up is 1 again, L2 fills again and later requests hit it;
 *  - a reorg rewrites the height index in Redis: another instance never
 *    assembles a range from orphaned headers;
 *  - 200 sessions asking for the same chunk at the same moment, with Redis
 *    in the path: one upstream request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { anchoredAt, count, hexRange, listRange, lookups, metric } from '../helpers/cache-checks.js';
import { merkle } from '../helpers/merkle.js';
import { RedisServer } from '../helpers/redis.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const HEADERS = 'blockchain.block.headers';
const TX_GET = 'blockchain.transaction.get';
const GET_MERKLE = 'blockchain.transaction.get_merkle';
const ID_FROM_POS = 'blockchain.transaction.id_from_pos';
const PREFIX = 'eg:v2:regtest:';
/** What a pool connection sends by itself: handshake, its headers subscription, pings. */
const HOUSEKEEPING = new Set(['server.version', 'server.features', 'blockchain.headers.subscribe', 'server.ping']);

// ---------------------------------------------------------------- helpers

/** Everything a simulator was asked, housekeeping excluded. */
function forwarded(sim: Simulator): Record<string, number> {
  return Object.fromEntries(Object.entries(sim.stats.requests).filter(([m]) => !HOUSEKEEPING.has(m)));
}

const redisUp = async (gw: TestGateway): Promise<number> => metric(await gw.metrics(), 'electrum_gateway_cache_redis_up');

async function session(gw: TestGateway, protocol = '1.4', timeoutMs = 10_000): Promise<RpcClient> {
  const c = await RpcClient.connect(gw.port, gw.host, timeoutMs);
  await c.request('server.version', ['cache-redis-test', protocol]);
  return c;
}

async function ready(gw: TestGateway, sims: readonly Simulator[]): Promise<void> {
  const tip = sims[0]!.tipHeight();
  await RpcClient.until(
    async () => gw.gateway.tracker.tip?.height === tip && gw.gateway.pool.status().every((u) => u.state === 'healthy') && (await redisUp(gw)) === 1,
    `the gateway to follow ${sims.length} upstream(s) at ${tip} with Redis up`,
    20_000,
    20,
  );
}

function withRedis(url: string, cache: Partial<GatewayConfig['cache']> = {}, more: Partial<GatewayConfig> = {}) {
  return (c: GatewayConfig): GatewayConfig => ({ ...c, ...more, redis: url, cache: { ...c.cache, ...cache } });
}

/** Independent merkle maths (node:crypto): the branch of display-hex leaves for `pos`. */
const branchOf = (leaves: readonly string[], pos: number): string[] => merkle(leaves, pos).branch;

// ---------------------------------------------------------------- tests

describe('answer cache with Redis (L2)', () => {
  let redis: RedisServer;
  /** A plain client of the same Redis, to look at what the gateways stored. */
  let inspect: Redis;

  before(async () => {
    redis = await RedisServer.start();
    inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    inspect.on('error', () => undefined);
    await inspect.connect();
  });
  after(async () => {
    inspect.disconnect();
    await redis.stop();
  });

  it('what instance A fetched, instance B serves from Redis without touching any upstream', async (t) => {
    await inspect.flushall();
    const seed = 'cache-shared';
    const [s1, s2] = await Promise.all([Simulator.start({ initialBlocks: 2030, seed }), Simulator.start({ initialBlocks: 2030, seed })]);
    // A generous Redis timeout: on a busy test machine a stalled read would send B upstream (tested elsewhere).
    // Anchored on block 2020, so chunk 0 and the heights asked below are below the tracker's verified
    // index (which would serve them itself): they are fetched, proven, stored and shared through Redis.
    const tweak = anchoredAt(s1, 2020, withRedis(redis.url, { redisTimeoutMs: 2000 }));
    const a = await startTestGateway({ upstreams: [{ host: s1.host, port: s1.port, name: 'a-upstream' }], admin: true, tweak });
    const b = await startTestGateway({ upstreams: [{ host: s2.host, port: s2.port, name: 'b-upstream' }], admin: true, tweak });
    t.after(async () => {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([s1.stop(), s2.stop()]);
    });
    await Promise.all([ready(a, [s1]), ready(b, [s2])]);
    const tx = s1.blockTxids(105)[1]!;
    const txids106 = s1.blockTxids(106);
    const cpHeight = 2000;

    // Instance A: one chunk, a proof, its transaction, an id_from_pos, a checkpoint proof.
    const a12 = await session(a, '1.2');
    const a14 = await session(a, '1.4');
    t.after(() => Promise.all([a12.close(), a14.close()]));
    assert.equal(await a12.request('blockchain.block.get_chunk', [0]), hexRange(s1, 0, 2016));
    const proof = await a14.request(GET_MERKLE, [tx, 105]);
    assert.equal(await a14.request(TX_GET, [tx]), s1.rawTransaction(tx));
    const pos = await a14.request(ID_FROM_POS, [106, 1, true]);
    const cp = await a14.request('blockchain.block.header', [1500, cpHeight]);
    assert.equal(await lookups(a, HEADERS, 'miss'), 1);

    // Stored in Redis as binary, under compact keys prefixed by network.
    await RpcClient.until(async () => (await inspect.exists(`${PREFIX}hidx:2015`, `${PREFIX}tx:${tx}`)) === 2, 'A to write to Redis');
    assert.equal((await inspect.getBuffer(`${PREFIX}hidx:2015`))!.toString('hex'), s1.blockHash(2015));
    assert.equal((await inspect.getBuffer(`${PREFIX}hdr:${s1.blockHash(2015)}`))!.toString('hex'), s1.headerHex(2015));
    assert.equal((await inspect.getBuffer(`${PREFIX}tx:${tx}`))!.toString('hex'), s1.rawTransaction(tx));
    assert.equal(await inspect.exists(`${PREFIX}mk:${tx}:105:${s1.blockHash(105)}`), 1);
    await RpcClient.until(async () => (await inspect.exists(`${PREFIX}ip:106:1:${s1.blockHash(106)}`, `${PREFIX}hcp:1500:${cpHeight}:${s1.blockHash(cpHeight)}`)) === 2, 'the proofs in Redis');

    // Instance B: every form, from Redis; neither simulator is asked anything.
    const b12 = await session(b, '1.2');
    const b14 = await session(b, '1.4');
    const b16 = await session(b, '1.6');
    t.after(() => Promise.all([b12.close(), b14.close(), b16.close()]));
    const asked = [forwarded(s1), forwarded(s2)];
    const s2Headers = count(s2, HEADERS);
    assert.deepEqual(await b14.request(HEADERS, [0, 2016]), { count: 2016, hex: hexRange(s2, 0, 2016), max: 2016 });
    assert.equal(await b12.request('blockchain.block.get_chunk', [0]), hexRange(s2, 0, 2016));
    assert.deepEqual(await b16.request(HEADERS, [500, 100]), { count: 100, headers: listRange(s2, 500, 100), max: 2016 });
    assert.equal(await b14.request('blockchain.block.header', [1500]), s2.headerHex(1500));
    assert.equal(((await b12.request('blockchain.block.get_header', [1000])) as { prev_block_hash: string }).prev_block_hash, s2.blockHash(999));
    assert.deepEqual(await b14.request(GET_MERKLE, [tx, 105]), proof);
    assert.deepEqual(proof, { block_height: 105, merkle: branchOf(s2.blockTxids(105), 1), pos: 1 });
    assert.equal(await b16.request(TX_GET, [tx]), s2.rawTransaction(tx));
    assert.deepEqual(await b14.request(ID_FROM_POS, [106, 1, true]), pos);
    assert.deepEqual(pos, { tx_hash: txids106[1], merkle: branchOf(txids106, 1) });
    assert.equal(await b14.request(ID_FROM_POS, [106, 1]), txids106[1]);
    assert.deepEqual(await b16.request('blockchain.block.header', [1500, cpHeight]), cp);
    assert.equal(count(s2, HEADERS), s2Headers, "B caused no blockchain.block.headers request");
    assert.deepEqual([forwarded(s1), forwarded(s2)], asked, 'no upstream was asked anything');

    const text = await b.metrics();
    const l2 = (method: string): number => metric(text, 'electrum_gateway_cache_lookups_total', { method, result: 'l2' });
    assert.ok(l2(HEADERS) >= 1, 'header ranges were l2 hits');
    assert.ok(l2(GET_MERKLE) >= 1 && l2(TX_GET) >= 1 && l2(ID_FROM_POS) >= 1, 'proofs and the transaction were l2 hits');
    assert.ok(l2('blockchain.block.header') >= 1, 'the checkpoint proof was an l2 hit');
    assert.equal(metric(text, 'electrum_gateway_cache_lookups_total', { result: 'miss' }), 0, 'B missed nothing');
    assert.ok(metric(text, 'electrum_gateway_cache_served_bytes_total') >= 2016 * 80 * 2);
    assert.ok(metric(text, 'electrum_gateway_cache_redis_duration_seconds_count') >= 1, 'Redis latency is measured');

    // What B took from Redis is in its memory now.
    const l1Before = await lookups(b, HEADERS, 'l1');
    await b14.request(HEADERS, [0, 2016]);
    assert.equal(await lookups(b, HEADERS, 'l1'), l1Before + 1);
    assert.deepEqual([forwarded(s1), forwarded(s2)], asked);
  });

  it('Redis killed under a load of header and transaction requests: no client error; restarted, L2 fills again', async (t) => {
    await inspect.flushall();
    const sim = await Simulator.start({ initialBlocks: 300, seed: 'cache-kill' });
    // A memory tier of a few transactions, so the load keeps going to Redis.
    const gw = await startTestGateway({
      upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }],
      admin: true,
      captureLogs: 'warn',
      requestTimeoutMs: 10_000,
      tweak: withRedis(redis.url, { memoryBytes: 2_000 }),
    });
    let running = true;
    let loops: Promise<void>[] = [];
    t.after(async () => {
      // The load stops before the gateway does, so no request is left waiting on a closed gateway.
      running = false;
      await Promise.all(loops);
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    const tip = sim.tipHeight();
    const txs: { txid: string; height: number }[] = [];
    for (let h = 101; h <= 130; h++) for (const txid of sim.blockTxids(h)) txs.push({ txid, height: h });
    const setup = await session(gw);
    t.after(() => setup.close());
    for (const x of txs) await setup.request(GET_MERKLE, [x.txid, x.height]);

    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => session(gw, i % 2 ? '1.4' : '1.6')));
    t.after(() => Promise.all(clients.map((c) => c.close())));
    let ok = 0;
    const failures: string[] = [];
    const call = async (c: RpcClient, i: number, n: number): Promise<void> => {
      const k = i * 31 + n * 7;
      switch (n % 3) {
        case 0: {
          const start = k % (tip - 40);
          const r = (await c.request(HEADERS, [start, 25])) as { hex?: string; headers?: string[] };
          assert.equal(r.hex ?? r.headers!.join(''), hexRange(sim, start, 25));
          break;
        }
        case 1: {
          const x = txs[k % txs.length]!;
          assert.equal(await c.request(TX_GET, [x.txid]), sim.rawTransaction(x.txid));
          break;
        }
        default: {
          const h = k % (tip - 6);
          assert.equal(await c.request('blockchain.block.header', [h]), sim.headerHex(h));
        }
      }
    };
    loops = clients.map(async (c, i) => {
      for (let n = 0; running; n++) {
        try {
          await call(c, i, n);
          ok++;
        } catch (err) {
          failures.push(`${i}/${n}: ${(err as Error).message}`);
        }
      }
    });
    const okAfter = async (more: number, what: string): Promise<void> => {
      const target = ok + more;
      await RpcClient.until(() => ok >= target || failures.length > 0, what, 20_000);
      assert.deepEqual(failures, []);
    };

    await okAfter(150, 'load with Redis up');
    // Headers come from the tracker's verified index (every one from genesis here); transactions from Redis.
    assert.ok((await lookups(gw, TX_GET, 'l2')) > 0, 'the load uses Redis');

    await redis.kill();
    await RpcClient.until(async () => (await redisUp(gw)) === 0, 'cache_redis_up to drop to 0', 10_000);
    await okAfter(150, 'load with Redis down');
    const downLines = gw.logs.filter((r) => String(r.msg).startsWith('Redis cache unavailable'));
    assert.equal(downLines.length, 1, 'one rate-limited log line');

    await redis.restart();
    await RpcClient.until(async () => (await redisUp(gw)) === 1, 'cache_redis_up back to 1', 15_000);
    const l2Before = (await lookups(gw, HEADERS, 'l2')) + (await lookups(gw, 'blockchain.block.header', 'l2')) + (await lookups(gw, TX_GET, 'l2'));
    await RpcClient.until(async () => (await inspect.dbsize()) > 0, 'L2 to fill again', 10_000);
    await RpcClient.until(
      async () => (await lookups(gw, HEADERS, 'l2')) + (await lookups(gw, 'blockchain.block.header', 'l2')) + (await lookups(gw, TX_GET, 'l2')) > l2Before,
      'later requests to hit L2',
      15_000,
    );
    await okAfter(50, 'load after the restart');
    running = false;
    await Promise.all(loops);
    assert.deepEqual(failures, [], 'no client error');
    assert.ok(ok > 350);
  });

  it('a reorg with Redis in the path: no instance serves an orphaned header, and none is written to Redis', async (t) => {
    await inspect.flushall();
    const seed = 'cache-redis-reorg';
    const [s1, s2] = await Promise.all([Simulator.start({ initialBlocks: 125, seed }), Simulator.start({ initialBlocks: 125, seed })]);
    const tweak = withRedis(redis.url, { minDepth: 2, redisTimeoutMs: 2000 });
    const a = await startTestGateway({ upstreams: [{ host: s1.host, port: s1.port, name: 'a' }], admin: true, tweak });
    const b = await startTestGateway({ upstreams: [{ host: s2.host, port: s2.port, name: 'b' }], admin: true, tweak });
    t.after(async () => {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([s1.stop(), s2.stop()]);
    });
    await Promise.all([ready(a, [s1]), ready(b, [s2])]);
    const ca = await session(a);
    const cb = await session(b);
    t.after(() => Promise.all([ca.close(), cb.close()]));
    await ca.request('blockchain.headers.subscribe');
    await cb.request('blockchain.headers.subscribe');
    const old = listRange(s1, 0, 126);
    // Every header from the anchor (genesis here) up is in each tracker's verified index: served
    // from there, never fetched, so never stored in Redis where a reorg would have to find it.
    const asked = [count(s1, HEADERS), count(s2, HEADERS)];
    assert.equal(((await ca.request(HEADERS, [100, 24])) as { hex: string }).hex, old.slice(100, 124).join(''));
    assert.equal(((await cb.request(HEADERS, [100, 24])) as { hex: string }).hex, old.slice(100, 124).join(''));
    assert.deepEqual([count(s1, HEADERS), count(s2, HEADERS)], asked, 'no header request upstream');
    assert.deepEqual(await inspect.keys(`${PREFIX}hidx:*`), []);

    const sinceA = ca.notifications.length;
    const sinceB = cb.notifications.length;
    s1.reorg(6);
    s2.reorg(6);
    const newTip = (p: unknown[]): boolean => (p[0] as { height: number }).height === 126;
    await ca.waitForNotification('blockchain.headers.subscribe', newTip, { since: sinceA, timeoutMs: 10_000 });
    await cb.waitForNotification('blockchain.headers.subscribe', newTip, { since: sinceB, timeoutMs: 10_000 });
    // Deep headers are still answered from memory: B serves 100..119 without its upstream.
    const deep = count(s2, HEADERS);
    assert.equal(((await cb.request(HEADERS, [100, 20])) as { hex: string }).hex, hexRange(s2, 100, 20));
    assert.equal(count(s2, HEADERS), deep, 'deep headers need no upstream');
    // Above the fork, only the new chain, from any instance.
    for (const c of [cb, ca]) {
      const r = (await c.request(HEADERS, [100, 25])) as { hex: string };
      assert.equal(r.hex, hexRange(s1, 100, 25));
      for (let i = 20; i < 24; i++) assert.notEqual(r.hex.slice(i * 160, (i + 1) * 160), old[100 + i], `header ${100 + i} is not orphaned`);
    }
    assert.deepEqual(await inspect.keys(`${PREFIX}hidx:*`), [], 'still nothing of the headers in Redis');
  });

  it('200 sessions asking for the same chunk at the same moment, Redis in the path: one upstream request', async (t) => {
    await inspect.flushall();
    const sim = await Simulator.start({ initialBlocks: 2030, seed: 'cache-redis-storm' });
    const gw = await startTestGateway({
      upstreams: [{ host: sim.host, port: sim.port, name: 'sim' }],
      admin: true,
      requestTimeoutMs: 20_000,
      // Anchored on block 2020: chunk 0 is below the tracker's verified index, so it is fetched (once) and stored.
      tweak: anchoredAt(sim, 2020, (c) => withRedis(redis.url)({ ...c, limits: { ...c.limits, maxSessionsPerGroup: 1000 } })),
    });
    t.after(async () => {
      await gw.close();
      await sim.stop();
    });
    await ready(gw, [sim]);
    const clients = await Promise.all(Array.from({ length: 200 }, (_, i) => session(gw, ['1.2', '1.4', '1.6'][i % 3], 30_000)));
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const chunk = hexRange(sim, 0, 2016);
    const before = count(sim, HEADERS);
    const replies = await Promise.all(clients.map((c, i) => (i % 3 === 0 ? c.request('blockchain.block.get_chunk', [0]) : c.request(HEADERS, [0, 2016]))));
    assert.equal(count(sim, HEADERS), before + 1, 'one upstream request');
    replies.forEach((r, i) => {
      if (i % 3 === 0) assert.equal(r, chunk);
      else assert.equal((r as { hex?: string; headers?: string[] }).hex ?? (r as { headers: string[] }).headers.join(''), chunk);
    });
  });
});
