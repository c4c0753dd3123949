// SPDX-License-Identifier: MIT
/**
 * Sessions that subscribe and vanish while their subscribe is still in flight
 * upstream leave nothing behind: no scripthash in the hub, no per-connection
 * count, no subscription on the upstream (a real simulator over a socket,
 * counted by the simulator itself). The 10,000 sessions are in-process
 * subscribers of the gateway's hub (sockets would only make the test slow);
 * a throttled request of a session that closed is never run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import type { Subscriber } from '../../src/subscriptions/hub.js';

const scripthash = (i: number): string => createHash('sha256').update(`churn:${i}`).digest('hex');

function subscriber(): Subscriber {
  return { notifyHeaders: () => undefined, notifyScripthash: () => undefined };
}

async function nothingLeft(tg: TestGateway, sim: Simulator): Promise<void> {
  const hub = tg.gateway.hub;
  await RpcClient.until(
    () => hub.scripthashCount === 0 && hub.heldUpstreamSubscriptions === 0 && sim.stats.scripthashSubscriptions === 0,
    `hub ${hub.scripthashCount} scripthashes, ${hub.heldUpstreamSubscriptions} counted on connections, upstream ${sim.stats.scripthashSubscriptions}`,
    20_000,
    20,
  );
}

describe('subscription churn', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('10,000 sessions that subscribe and vanish mid-flight leave zero subscriptions and zero counts upstream', { timeout: 120_000 }, async () => {
    const sim = await Simulator.start({ initialBlocks: 5 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({ upstreams: [sim], requestTimeoutMs: 20_000 });
    cleanups.push(() => tg.close());
    await RpcClient.until(() => tg.gateway.tracker.tip !== null && tg.gateway.pool.ready().length > 0, 'gateway ready', 15_000);
    // Every answer takes a little while, so a departure lands while the subscribe is in flight.
    sim.setLatency(3);
    const hub = tg.gateway.hub;
    const SESSIONS = 10_000;
    const ROUND = 500;
    const SHARED = 300; // sessions share scripthashes, so entries gain and lose several subscribers mid-flight
    let answered = 0;
    for (let round = 0; round < SESSIONS; round += ROUND) {
      const work: Promise<void>[] = [];
      for (let i = round; i < round + ROUND; i++) {
        const sub = subscriber();
        const sh = scripthash(i % SHARED);
        const pending = hub.subscribeScripthash(sub, sh, Date.now() + 20_000).then(
          () => void answered++,
          () => undefined,
        );
        switch (i % 4) {
          case 0: // the connection drops at once
            hub.removeSubscriber(sub, [sh]);
            break;
          case 1: // an unsubscribe a moment later, still before the answer
            work.push(new Promise<void>((r) => setImmediate(r)).then(() => void hub.unsubscribeScripthash(sub, sh)));
            break;
          case 2: // gone after the answer
            work.push(pending.then(() => hub.removeSubscriber(sub, [sh])));
            break;
          default: // gone a few milliseconds in, while the upstream is still working
            work.push(new Promise<void>((r) => setTimeout(r, 2)).then(() => hub.removeSubscriber(sub, [sh])));
        }
        work.push(pending);
      }
      await Promise.all(work);
    }
    assert.ok(answered > SESSIONS / 2, `most subscribes were answered (${answered})`);
    assert.ok((sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0) >= SHARED, 'the subscribes really went upstream');
    await nothingLeft(tg, sim);
    assert.equal(hub.sessionSubscriptionCount, 0);
  });

  it('a throttled subscribe of a session that closed never runs', { timeout: 60_000 }, async () => {
    const sim = await Simulator.start({ initialBlocks: 5 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({
      upstreams: [sim],
      // server.version costs 0.5 and bytes a little: the subscribe (1) lands about a quarter of the way
      // from the soft limit to the hard one, so it waits most of a second.
      tweak: (c) => ({ ...c, cost: { ...c.cost, softLimit: 1, hardLimit: 3, maxDelayMs: 3_000, decayPerSecond: 0 } }),
    });
    cleanups.push(() => tg.close());
    await RpcClient.until(() => tg.gateway.tracker.tip !== null && tg.gateway.pool.ready().length > 0, 'gateway ready', 15_000);
    const c = await RpcClient.connect(tg.port);
    await c.request('server.version', ['churn', '1.4']);
    const before = sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0;
    c.call('blockchain.scripthash.subscribe', [scripthash(1)]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150));
    await c.close();
    // Long past the delay the throttled request had: it must not have reached the upstream or the hub.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0, before);
    assert.equal(tg.gateway.hub.scripthashCount, 0);
    assert.equal(sim.stats.scripthashSubscriptions, 0);
  });
});
