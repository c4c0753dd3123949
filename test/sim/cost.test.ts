// SPDX-License-Identifier: MIT
/**
 * The simulator's ElectrumX cost model: the rules on a fake clock, then over
 * a real socket (throttling past the soft limit, -101 and a disconnect at the
 * hard limit, "server busy" for a request left waiting past the timeout).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { RpcClient, rpcErrorOf } from '../helpers/rpc-client.js';
import { CostModel, ELECTRUMX_COSTS, SessionCost, groupOf, requestCost, type CostLimits } from './cost.js';
import { Simulator } from './index.js';

const sh = (i: number): string => createHash('sha256').update(`cost:${i}`).digest('hex');

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('ElectrumX cost rules', () => {
  it('prices requests as ElectrumX does', () => {
    assert.equal(requestCost('server.ping', []), 0.1);
    // A subscription to an empty address, not in the history cache: 0.1 + 0.1 (miss) + 0.1 (status).
    assert.ok(Math.abs(requestCost('blockchain.scripthash.subscribe', [sh(1)], { historyLength: 0 }) - 0.3) < 1e-9);
    assert.ok(Math.abs(requestCost('blockchain.scripthash.subscribe', [sh(1)], { historyLength: 0, historyCached: true }) - 0.2) < 1e-9);
    assert.equal(requestCost('blockchain.block.headers', [0, 2016]), 2016 / 50);
    assert.equal(requestCost('blockchain.block.headers', [0, 2016, 100]), 2016 / 50 + 1);
    assert.equal(requestCost('blockchain.block.header', [5]), 0.25);
    assert.equal(requestCost('blockchain.block.header', [5, 10]), 1.25);
  });

  it('throttles linearly from the soft to the hard limit, and admits at zero concurrency only to refuse', async () => {
    const c = clock();
    const s = new SessionCost(ELECTRUMX_COSTS, c.now, null);
    assert.equal(s.cost, 5);
    assert.equal(s.concurrency, 10);
    assert.equal(s.sleepMs(), 0);
    s.bump(5495); // 5,500: halfway from 1,000 to 10,000
    assert.equal(s.concurrency, 5);
    assert.equal(s.sleepMs(), 1250);
    s.bump(4500); // 10,000
    assert.equal(s.concurrency, 0);
    const { excessive } = await s.admit().admitted;
    assert.equal(excessive, true);
  });

  it('decays at hard/10,000 a second, then as the periodic pass sets from the subscriptions held', () => {
    const c = clock();
    const s = new SessionCost(ELECTRUMX_COSTS, c.now, null);
    s.bump(995); // 1,000
    c.advance(100_000);
    s.recalc();
    assert.equal(s.cost, 900);
    s.periodic(10_000); // 10,000 / (10,000 + 50,000) a second
    c.advance(60_000);
    s.recalc();
    assert.ok(Math.abs(s.cost - (900 - 60 * (10_000 / 60_000))) < 1e-9);
  });

  it('a lowered concurrency takes effect as holders release', async () => {
    const c = clock();
    const limits: CostLimits = { ...ELECTRUMX_COSTS, initialConcurrent: 2 };
    const s = new SessionCost(limits, c.now, null);
    await s.admit().admitted;
    await s.admit().admitted;
    let third = false;
    void s.admit().admitted.then(() => (third = true));
    s.bump(limits.softLimit + (limits.hardLimit - limits.softLimit) / 2); // target 1
    assert.equal(s.concurrency, 1);
    s.release(); // two held, target one: this slot is retired
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false);
    s.release(); // now one is free again for the waiter
    await new Promise((r) => setImmediate(r));
    assert.equal(third, true);
  });

  it('groups public addresses by /24 (private ones are in no group unless asked) and keeps a closed session’s cost', () => {
    assert.equal(groupOf('203.0.113.7', false), '203.0.113.0/24');
    assert.equal(groupOf('::ffff:203.0.113.9', false), '203.0.113.0/24');
    assert.equal(groupOf('127.0.0.1', false), null);
    assert.equal(groupOf('10.1.2.3', false), null);
    assert.equal(groupOf('127.0.0.1', true), '127.0.0.0/24');
    const c = clock();
    const model = new CostModel(ELECTRUMX_COSTS, c.now);
    const a = model.open('203.0.113.7', () => 0);
    const b = model.open('203.0.113.8', () => 0);
    const other = model.open('198.51.100.1', () => 0);
    a.bump(3000);
    b.recalc();
    assert.equal(b.extra(), a.cost);
    assert.equal(other.extra(), 0);
    model.close(a);
    b.recalc();
    assert.equal(b.extra(), 3005, 'a closed session’s cost stays with its group');
    model.periodic(); // refunds 300 s × 10,000 / 5,000 = 600
    assert.equal(b.extra(), 2405);
    model.stop();
  });
});

describe('the simulator with ElectrumX costs', () => {
  async function session(sim: Simulator): Promise<RpcClient> {
    const c = await RpcClient.connect(sim.port, sim.host, 20_000);
    await c.request('server.version', ['cost-test', '1.4']);
    return c;
  }

  it('throttles a session past the soft limit and closes it at the hard limit with -101', async () => {
    // Small limits and dear bytes (about 3.7 a subscription), so it takes a few hundred requests;
    // the cost is recomputed each time it moves by 100, as ElectrumX does.
    const sim = await Simulator.start({ seed: 'cost', initialBlocks: 101, costs: { softLimit: 100, hardLimit: 1000, requestSleepMs: 20, bandwidthUnitCost: 50 } });
    try {
      const c = await session(sim);
      let refused: Error | null = null;
      for (let i = 0; i < 1000 && refused === null; i++) {
        await c.request('blockchain.scripthash.subscribe', [sh(i)]).catch((e: Error) => (refused = e));
      }
      assert.ok(refused, 'the session was refused at last');
      const err = await rpcErrorOf(Promise.reject(refused));
      assert.equal(err.code, -101);
      assert.match(err.message, /excessive resource usage/);
      await RpcClient.until(() => sim.stats.connections === 0, 'the sim to close the session');
      const stats = sim.costStats!;
      assert.ok(stats.throttledRequests > 0, 'requests slept before the hard limit');
      assert.ok(stats.minConcurrency < 10, 'concurrency came down');
      assert.equal(stats.costDisconnects, 1);
      c.destroy();
    } finally {
      await sim.stop();
    }
  });

  it('answers a request left waiting past the request timeout "server busy", at an error’s cost', async () => {
    // One request at a time, each slept 100 ms (a tenth of the way to the hard limit, from the
    // connection's own cost): of four sent together the last ones wait past the 250 ms timeout.
    const sim = await Simulator.start({ seed: 'cost', initialBlocks: 101, costs: { softLimit: 4, hardLimit: 14, initialConcurrent: 1, requestSleepMs: 1000, requestTimeoutMs: 250 } });
    try {
      const c = await session(sim);
      const outcomes = await Promise.all([0, 1, 2, 3].map((i) => c.request('blockchain.scripthash.subscribe', [sh(i)]).then(() => 'ok', (e: Error) => e.message)));
      assert.ok(outcomes.includes('server busy - request timed out'), JSON.stringify(outcomes));
      assert.ok(sim.costStats!.timedOutRequests >= 1);
      assert.ok(sim.costStats!.peakSessionCost >= 100, 'the error cost 100');
      c.destroy();
    } finally {
      await sim.stop();
    }
  });
});
