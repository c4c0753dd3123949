// SPDX-License-Identifier: MIT
/**
 * discovery.join_pool over real sockets: a verified peer becomes a
 * last-resort upstream. While the configured upstream answers, the peer gets
 * no wallet request; once it is gone the peer answers them; a broadcast is
 * never sent to it; a peer that turns stale leaves the pool.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Clock } from '../../src/peers/manager.js';
import { RECHECK_GOOD_MS } from '../../src/peers/schedule.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';

class ManualClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

/** Waits for what happens on its own (a tip, a reconnect); no timing is asserted. */
async function until(what: string, cond: () => boolean, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const scripthash = () => randomBytes(32).toString('hex');

describe('discovery.join_pool: verified peers as a last-resort upstream tier', () => {
  let upstream: Simulator;
  let peer: Simulator;
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const historyCalls = (s: Simulator) => s.stats.requests['blockchain.scripthash.get_history'] ?? 0;
  const peerInPool = () => gw.gateway.pool.status().find((u) => u.name === 'peer:127.0.0.41');

  const ask = async (method: string, params: unknown[]) => {
    const c = await RpcClient.connect(gw.port);
    try {
      return await c.request(method, params, { timeoutMs: 20_000 });
    } finally {
      await c.close();
    }
  };

  before(async () => {
    upstream = await Simulator.start({ host: '127.0.0.40', initialBlocks: 120 });
    peer = await Simulator.start({ host: '127.0.0.41', initialBlocks: 120 });
    upstream.setPeers([[peer.host, peer.host, ['v1.6', `t${peer.port}`]]]);
    gw = await startTestGateway({
      upstreams: [{ host: upstream.host, port: upstream.port, name: 'upstream' }],
      startOptions: { peersClock: clock },
      tweak: (c) => ({
        ...c,
        limits: { ...c.limits, noUpstreamWaitMs: 500 },
        discovery: { ...c.discovery!, enabled: true, joinPool: true, allowPrivate: true, torProxy: null, peersFile: join(mkdtempSync(join(tmpdir(), 'eg-peers-pool-')), 'peers.json') },
      }),
    });
    await until('the chain tracker tip', () => gw.gateway.tracker.tip?.height === 120);
    const peers = gw.gateway.peers!;
    for (let i = 0; i < 3 && peers.table().some((p) => p.state === 'new'); i++) await peers.runDue();
  });

  after(async () => {
    await gw?.close();
    await Promise.all([upstream.stop(), peer.stop()]);
  });

  it('adds the verified peer to the pool, but not the configured upstream a second time', async () => {
    assert.equal(gw.gateway.peers!.table().find((p) => p.host === '127.0.0.41')?.state, 'good');
    assert.ok(peerInPool(), 'the peer is a pool upstream');
    assert.deepEqual(peerInPool()!.labels, { source: 'peer', server: 'ElectrumX 1.18.0' });
    assert.deepEqual(
      gw.gateway.pool.status().map((u) => u.name).sort(),
      ['peer:127.0.0.41', 'upstream'],
    );
  });

  it('sends wallet requests to the configured upstream while it answers, to the peer once it is gone', async () => {
    await until('the peer connected', () => peerInPool()?.connections === 1);
    const before = historyCalls(peer);
    for (let i = 0; i < 5; i++) assert.deepEqual(await ask('blockchain.scripthash.get_history', [scripthash()]), []);
    assert.equal(historyCalls(peer), before, 'the peer is last resort: nothing while the upstream answers');

    await upstream.stop();
    await until('the upstream down', () => gw.gateway.pool.state('upstream') === 'down');
    assert.deepEqual(await ask('blockchain.scripthash.get_history', [scripthash()]), []);
    assert.equal(historyCalls(peer), before + 1, 'the peer answered');
  });

  it('never sends a broadcast to a peer', async () => {
    // With the upstream gone only the peer could take it: the wallet hears there is no upstream instead.
    await assert.rejects(ask('blockchain.transaction.broadcast', ['02000000000000000000']), (err: unknown) => err instanceof RpcCallError && /no upstream/.test(err.message));
    assert.equal(peer.stats.requests['blockchain.transaction.broadcast'] ?? 0, 0);
  });

  it('takes the peer out of the pool when it turns stale', async () => {
    await peer.stop();
    clock.t += RECHECK_GOOD_MS;
    await gw.gateway.peers!.runDue();
    assert.equal(gw.gateway.peers!.table().find((p) => p.host === '127.0.0.41')?.state, 'stale');
    await until('the peer removed from the pool', () => peerInPool() === undefined);
  });
});
