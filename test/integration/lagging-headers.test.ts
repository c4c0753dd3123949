// SPDX-License-Identifier: MIT
/**
 * Buried headers may come from a lagging upstream (they are the same
 * everywhere), but only ones it has: asked for headers past its own tip it
 * answers short, which the cache would take for a lie. The router asks only
 * upstreams whose tip reaches the last header requested, so an honest laggard
 * is never quarantined for being behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

describe('headers from a pool with a laggard', () => {
  let leader: Simulator;
  let laggard: Simulator;
  let tg: TestGateway;

  before(async () => {
    // The same seed and size give the same chain; the leader then mines 12 blocks the laggard lacks.
    leader = await Simulator.start({ seed: 'lagging-headers', initialBlocks: 140 });
    laggard = await Simulator.start({ seed: 'lagging-headers', initialBlocks: 140 });
    assert.equal(laggard.blockHash(140), leader.blockHash(140), 'one chain up to 140');
    leader.mine(12);
    tg = await startTestGateway({
      upstreams: [
        { host: leader.host, port: leader.port, name: 'leader' },
        { host: laggard.host, port: laggard.port, name: 'laggard' },
      ],
      // Headers 6 below the tip are buried and cacheable: 141..146 are buried at tip 152 yet past the laggard's 140.
      tweak: (c) => ({ ...c, cache: { ...c.cache, minDepth: 6 } }),
    });
    await RpcClient.until(
      () => tg.gateway.tracker.tip?.height === 152 && tg.gateway.pool.status().every((u) => u.tipHeight !== null),
      'the gateway to follow both upstreams',
      10_000,
    );
  });

  after(async () => {
    await tg.close();
    await leader.stop();
    await laggard.stop();
  });

  it('asks only upstreams that have the headers, and quarantines nobody', async () => {
    const { client } = await connectNegotiated(tg.port, '1.6');
    const laggardBefore = laggard.stats.requests['blockchain.block.headers'] ?? 0;
    // Ranges ending between the laggard's tip and the buried limit, each a separate cache miss.
    for (let last = 141; last <= 146; last++) {
      for (const count of [1, 2, 3]) {
        const start = last - count + 1;
        const got = (await client.request('blockchain.block.headers', [start, count])) as { count: number; headers: string[] };
        assert.equal(got.count, count, `headers ${start}..${last}`);
        assert.equal(got.headers[count - 1], leader.headerHex(last));
      }
    }
    // Buried headers the laggard does have may still go to it.
    for (let h = 100; h < 110; h++) assert.equal(await client.request('blockchain.block.header', [h]), leader.headerHex(h));
    const states = tg.gateway.pool.status().map((u) => [u.name, u.quarantine]);
    assert.deepEqual(states, [
      ['leader', null],
      ['laggard', null],
    ]);
    assert.ok((laggard.stats.requests['blockchain.block.headers'] ?? 0) >= laggardBefore, 'the laggard was still asked for what it has');
    await client.close();
  });
});
