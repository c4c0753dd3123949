// SPDX-License-Identifier: MIT
/**
 * A slow upstream delays only its own tips (issue 11, pt 7). Each upstream's
 * offered tips are handled in a lane of its own: here one upstream announces
 * a tip and then never serves the headers under it, and while its fetch is
 * stuck, blocks mined on the honest upstream still reach the wallets'
 * blockchain.headers.subscribe. When the stuck fetch times out it counts
 * against that upstream's health; once it serves headers again its next tip
 * is followed like anyone's.
 *
 * Both simulators have the same seed and size, so they hold the same chain;
 * heights 141.. are past the simulator's construction-time payments, so the
 * blocks each mines are the same blocks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

const HEADERS = 'blockchain.headers.subscribe';
/** The slow upstream's stuck fetch lasts this long (one header call is one try: min(attempt, request) timeout). */
const FETCH_TIMEOUT_MS = 4_000;

describe('a stalling upstream does not hold back the others’ tips', () => {
  let fast: Simulator;
  let slow: Simulator;
  let tg: TestGateway;

  before(async () => {
    fast = await Simulator.start({ seed: 'slow-upstream', initialBlocks: 140 });
    slow = await Simulator.start({ seed: 'slow-upstream', initialBlocks: 140 });
    tg = await startTestGateway({
      upstreams: [
        { host: fast.host, port: fast.port, name: 'fast' },
        { host: slow.host, port: slow.port, name: 'slow' },
      ],
      requestTimeoutMs: FETCH_TIMEOUT_MS,
      captureLogs: 'warn',
    });
    await RpcClient.until(
      () => tg.gateway.tracker.tip?.height === 140 && tg.gateway.pool.status().every((u) => u.tipHeight === 140 && u.state === 'healthy'),
      'the gateway to follow both upstreams at 140',
      10_000,
    );
  });

  after(async () => {
    await tg.close();
    await fast.stop();
    await slow.stop();
  });

  const status = (name: string) => tg.gateway.pool.status().find((u) => u.name === name)!;

  it('delivers the fast upstream’s blocks while the slow one is stuck, then penalizes the slow one', async () => {
    const { client } = await connectNegotiated(tg.port, '1.6');
    const first = (await client.request(HEADERS)) as { height: number };
    assert.equal(first.height, 140);

    // The slow upstream jumps three blocks ahead and never serves the headers under its tip.
    slow.dropMethod('blockchain.block.headers', true);
    const asked = slow.stats.requests['blockchain.block.headers'] ?? 0;
    slow.mine(3);
    await RpcClient.until(
      () => status('slow').tipHeight === 143 && (slow.stats.requests['blockchain.block.headers'] ?? 0) > asked,
      'the gateway to ask the slow upstream for the headers under its tip 143',
    );
    assert.ok(status('slow').inFlight >= 1, 'the header fetch is stuck at the slow upstream');

    // The honest fast upstream mines the same blocks one by one: each reaches the wallet now.
    for (let h = 141; h <= 143; h++) {
      fast.mine(1);
      assert.equal(fast.blockHash(h), slow.blockHash(h), `one chain at ${h}`);
      const note = await client.waitForNotification(HEADERS, (p) => (p[0] as { height: number }).height === h, { timeoutMs: FETCH_TIMEOUT_MS * 3 });
      assert.equal((note.params[0] as { hex: string }).hex, fast.headerHex(h));
      // Ordering, not timing: the wallet heard of block h while the slow upstream's fetch was still stuck.
      const s = status('slow');
      assert.ok(s.inFlight >= 1 && s.errorRate === 0, `block ${h} arrived before the slow upstream's fetch ended (slow: ${JSON.stringify(s)})`);
    }
    assert.equal(tg.gateway.tracker.tip?.height, 143);

    // The stuck fetch ends in a timeout that counts against the slow upstream only.
    await RpcClient.until(() => status('slow').errorRate > 0, 'the slow upstream to be penalized for its stalled fetch', FETCH_TIMEOUT_MS * 3);
    const logged = tg.logs.filter((r) => r['msg'] === 'upstream header fetch timed out');
    assert.ok(logged.length >= 1 && logged.every((r) => r['upstream'] === 'slow'), `the timeout is logged naming the slow upstream: ${JSON.stringify(logged)}`);
    assert.equal(status('fast').errorRate, 0);
    assert.equal(status('fast').state, 'healthy');
    assert.equal(status('slow').quarantine, null, 'slow is not a liar: it is not quarantined');

    // Serving headers again, its next tip is followed like anyone's.
    slow.dropMethod('blockchain.block.headers', false);
    slow.mine(1);
    const note = await client.waitForNotification(HEADERS, (p) => (p[0] as { height: number }).height === 144);
    assert.equal((note.params[0] as { hex: string }).hex, slow.headerHex(144));
    const heights = client.notifications.filter((n) => n.method === HEADERS).map((n) => (n.params[0] as { height: number }).height);
    assert.deepEqual(heights, [141, 142, 143, 144], 'each tip announced once, in order');
    await client.close();
  });
});
