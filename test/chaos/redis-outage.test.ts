// SPDX-License-Identifier: MIT
/**
 * Chaos: the shared cache (a real redis-server) killed and restored, twice,
 * under wallet load. The in-process tier is off so answers go through
 * Redis. Must be 0: errors (and wrong answers) to wallets, dropped sessions.
 * Afterwards Redis holds entries again and later requests are served from it
 * (the cache refilled).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { lookups, metric } from '../helpers/cache-checks.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RedisServer } from '../helpers/redis.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { duration, nonZero, report, sleep } from './figures.js';
import { ask, openWallet, stableQuestions, type Wallet } from './load.js';

const WALLETS = 12;
const OUTAGE_MS = duration(2_000, 5_000);
const BETWEEN_MS = duration(2_000, 5_000);
const CACHED = ['blockchain.block.header', 'blockchain.block.headers', 'blockchain.transaction.get', 'blockchain.transaction.get_merkle'];

const redisUp = async (gw: TestGateway): Promise<number> => metric(await gw.metrics(), 'electrum_gateway_cache_redis_up');
const l2Hits = async (gw: TestGateway): Promise<number> => {
  let sum = 0;
  for (const m of CACHED) sum += await lookups(gw, m, 'l2');
  return sum;
};

describe('chaos: Redis killed and restored under load', () => {
  let sim: Simulator;
  let redis: RedisServer;
  let inspect: Redis;
  let gw: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'chaos-redis', initialBlocks: 140 });
    redis = await RedisServer.start();
    inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    inspect.on('error', () => undefined);
    gw = await startTestGateway({
      upstreams: [sim],
      admin: true,
      tweak: (c) => ({ ...c, redis: redis.url, cache: { ...c.cache, memoryBytes: 0, redisTimeoutMs: 1_000 } }),
    });
    await untilForwarding(gw.port);
    await RpcClient.until(async () => (await redisUp(gw)) === 1, 'Redis up', 10_000);
  });

  after(async () => {
    await gw?.close();
    inspect?.disconnect();
    await redis?.stop();
    await sim?.stop();
  });

  it('serves every wallet through two Redis outages and refills Redis afterwards', async () => {
    const wallets: Wallet[] = [];
    for (let i = 0; i < WALLETS; i++) wallets.push(await openWallet(gw.port, 'chaos-redis', `w${i}`));
    const questions = stableQuestions(sim, 300, 7);
    let stopping = false;
    const load = wallets.map((w, i) => ask(w, questions, () => stopping, 5, i * 17));

    await sleep(BETWEEN_MS);
    const keysBefore = await inspect.dbsize();
    let outages = 0;
    for (let round = 0; round < 2; round++) {
      await redis.kill();
      outages++;
      await sleep(OUTAGE_MS);
      await redis.restart();
      await RpcClient.until(async () => (await redisUp(gw)) === 1, 'cache_redis_up back to 1', 15_000);
      await sleep(BETWEEN_MS);
    }
    // The restarted Redis is empty: the load must fill it again, and later lookups must hit it.
    await RpcClient.until(async () => (await inspect.dbsize()) > 0, 'Redis to fill again', 15_000);
    const hitsAfterRefill = await l2Hits(gw);
    await RpcClient.until(async () => (await l2Hits(gw)) > hitsAfterRefill, 'requests to hit the refilled Redis', 15_000);
    const keysAfter = await inspect.dbsize();
    stopping = true;
    await Promise.all(load);

    const figures = {
      scenario: 'Redis outage',
      setup: `${WALLETS} wallets; L1 off (0 bytes); Redis SIGKILLed twice for ${OUTAGE_MS / 1000} s, restarted empty`,
      figures: {
        requests: wallets.reduce((a, w) => a + w.requests, 0),
        outages,
        errors_to_wallets: wallets.reduce((a, w) => a + w.failures.length, 0),
        wrong_answers: wallets.reduce((a, w) => a + w.wrong.length, 0),
        dropped_sessions: wallets.filter((w) => w.dropped).length,
        redis_keys_before: keysBefore,
        redis_keys_after_refill: keysAfter,
        l2_hits_total: await l2Hits(gw),
      },
      mustBeZero: ['errors_to_wallets', 'wrong_answers', 'dropped_sessions'],
    };
    report(figures);
    assert.equal(nonZero(figures), '', `first failures: ${JSON.stringify(wallets.flatMap((w) => w.failures).slice(0, 5))}`);
    assert.ok(keysBefore > 0 && keysAfter > 0, 'Redis was used before the outage and refilled after it');
    for (const w of wallets) await w.client.close();
  });
});
