// SPDX-License-Identifier: MIT
/**
 * Failover without a thundering herd (issue 11.5): requests per upstream
 * connection are capped (max_in_flight), and subscriptions moved off a dead
 * upstream arrive at the next one a few at a time. Both are measured by the
 * simulator itself: the most requests one of its connections had read and not
 * yet answered at once, with a latency that makes requests overlap.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Subscriber } from '../../src/subscriptions/hub.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

const subscriber = (): Subscriber => ({ notifyHeaders: () => undefined, notifyScripthash: () => undefined });
const scripthash = (i: number): string => createHash('sha256').update(`pacing:${i}`).digest('hex');

describe('failover without a thundering herd', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('an upstream connection never has more than max_in_flight requests unanswered; the rest wait and are answered', async () => {
    const sim = await Simulator.start({ seed: 'pacing-inflight', initialBlocks: 120 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({
      upstreams: [{ host: sim.host, port: sim.port, name: 'capped', options: { max_in_flight: '3', max_connections: '1' } }],
      // Nothing cached: every header below is a request to the upstream.
      tweak: (c) => ({ ...c, cache: { ...c.cache, memoryBytes: 0, minDepth: 10_000 } }),
    });
    cleanups.push(() => tg.close());
    await RpcClient.until(() => tg.gateway.tracker.tip?.height === 120, 'the gateway to follow the upstream', 10_000);
    sim.setLatency(25);
    sim.resetMaxInFlight();
    const wallets = await Promise.all([0, 1, 2, 3].map(() => connectNegotiated(tg.port, '1.6')));
    const asked: Promise<void>[] = [];
    for (let h = 0; h < 40; h++) {
      const { client } = wallets[h % wallets.length]!;
      asked.push(client.request('blockchain.block.header', [h]).then((hex) => assert.equal(hex, sim.headerHex(h), `header ${h}`)));
    }
    await Promise.all(asked);
    assert.ok(sim.stats.maxInFlight <= 3, `the simulator saw ${sim.stats.maxInFlight} requests at once on one connection`);
    assert.ok(sim.stats.maxInFlight >= 2, 'requests did overlap (the measurement can see more than one)');
    for (const { client } of wallets) await client.close();
  });

  it('subscriptions moved off a dead upstream reach the next at resubscribe_concurrency at most', { timeout: 60_000 }, async () => {
    const a = await Simulator.start({ seed: 'pacing-move', initialBlocks: 110 });
    const b = await Simulator.start({ seed: 'pacing-move', initialBlocks: 110 });
    cleanups.push(() => a.stop(), () => b.stop());
    const tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'a' },
        { host: b.host, port: b.port, name: 'b' },
      ],
      tweak: (c) => ({ ...c, pool: { ...c.pool, resubscribeConcurrency: 4, resubscribePerSecond: 100_000 } }),
    });
    cleanups.push(() => tg.close());
    await RpcClient.until(() => tg.gateway.pool.ready().length === 4, 'two connections to each upstream', 10_000);
    const hub = tg.gateway.hub;
    const N = 400;
    await Promise.all(Array.from({ length: N }, (_, i) => hub.subscribeScripthash(subscriber(), scripthash(i), Date.now() + 20_000)));
    const onA = a.stats.scripthashSubscriptions;
    assert.ok(onA > 50 && b.stats.scripthashSubscriptions > 50, `sticky routing spread them (a ${onA}, b ${b.stats.scripthashSubscriptions})`);

    b.setLatency(20);
    b.resetMaxInFlight();
    await a.stop();
    await RpcClient.until(
      () => b.stats.scripthashSubscriptions === N && hub.moves.queued === 0 && hub.moves.active === 0,
      `every subscription on b (${b.stats.scripthashSubscriptions} of ${N}, ${hub.moves.queued} queued)`,
      30_000,
    );
    // Four moves at once, plus at most a ping or a header request of the pool's own.
    assert.ok(b.stats.maxInFlight <= 6, `b saw ${b.stats.maxInFlight} requests at once on one connection while ${onA} subscriptions moved`);
    assert.equal(hub.heldUpstreamSubscriptions, N);
  });
});
