// SPDX-License-Identifier: MIT
/**
 * Memory per client bounded before it is spent (issue 11 pt 6), through a
 * real gateway: a batch's items are worked on at most 20 at a time (the rest
 * wait, and are all answered), and an answer whose size is remembered from
 * before is refused before it is fetched when it cannot fit in the line's
 * max_response_bytes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_REQUESTS_IN_FLIGHT } from '../../src/limits/request-slots.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

const LIMIT = 500_000;
const LONG = 'ee'.repeat(32);
/** About 80 bytes an entry on the wire: 2,000 entries are about 160 KB. */
const longHistory = Array.from({ length: 2000 }, (_, i) => ({ tx_hash: (i % 16).toString(16).repeat(64), height: 1 + (i % 100) }));

describe('batch admission', () => {
  let sim: Simulator;
  let gw: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'batch-admission', initialBlocks: 110 });
    sim.setHistory(LONG, longHistory);
    gw = await startTestGateway({
      // One upstream connection that would take 200 requests at once: what holds a batch back is the session's cap.
      upstreams: [{ host: sim.host, port: sim.port, name: 'one', options: { max_in_flight: '200', max_connections: '1' } }],
      tweak: (c) => ({ ...c, limits: { ...c.limits, maxResponseBytes: LIMIT } }),
    });
    await RpcClient.until(() => gw.gateway.tracker.tip?.height === 110, 'the gateway to follow the upstream', 10_000);
  });
  after(async () => {
    await gw.close();
    await sim.stop();
  });

  it(`a batch's items are worked on ${MAX_REQUESTS_IN_FLIGHT} at a time; the rest wait and are all answered`, async () => {
    const { client } = await connectNegotiated(gw.port, '1.6');
    sim.setLatency(30);
    sim.resetMaxInFlight();
    const items = Array.from({ length: 100 }, (_, i) => ({ method: 'blockchain.scripthash.get_history', params: [(i + 1).toString(16).padStart(64, '0')] }));
    const answers = (await client.batch(items)) as Record<string, unknown>[];
    sim.setLatency(0);
    assert.equal(answers.length, 100);
    assert.ok(
      answers.every((a) => Array.isArray(a.result) && a.result.length === 0),
      'every item answered',
    );
    assert.ok(sim.stats.maxInFlight <= MAX_REQUESTS_IN_FLIGHT, `the upstream saw ${sim.stats.maxInFlight} of one batch at once`);
    assert.ok(sim.stats.maxInFlight >= MAX_REQUESTS_IN_FLIGHT / 2, `items did overlap (${sim.stats.maxInFlight} at once)`);
    // The session goes on, and a line sent behind a big batch is answered too.
    const [batchAgain, pong] = await Promise.all([client.batch(items.slice(0, 50)), client.request('server.ping', [])]);
    assert.equal((batchAgain as unknown[]).length, 50);
    assert.equal(pong, null);
    await client.close();
  });

  it('an answer remembered as too large for what is left of the line is refused before it is fetched', async () => {
    const { client } = await connectNegotiated(gw.port, '1.6');
    const first = (await client.request('blockchain.scripthash.get_history', [LONG])) as unknown[];
    assert.equal(first.length, longHistory.length, 'the first time its size is unknown: fetched and answered');
    const bytes = JSON.stringify(first).length;
    const fit = Math.floor(LIMIT / bytes);
    assert.ok(fit >= 2 && fit < 5, `the test needs 2..4 answers to fit (${bytes} bytes each)`);
    const fetchedBefore = sim.stats.requests['blockchain.scripthash.get_history'] ?? 0;
    const answers = (await client.batch(Array.from({ length: 5 }, () => ({ method: 'blockchain.scripthash.get_history', params: [LONG] })))) as Record<string, unknown>[];
    const results = answers.filter((a) => 'result' in a);
    const refused = answers.filter((a) => 'error' in a);
    assert.equal(results.length, fit, 'as many as fit are answered');
    assert.equal(refused.length, 5 - fit);
    for (const a of refused) assert.deepEqual(a.error, { code: -32600, message: `response too large (over ${LIMIT} bytes)` });
    const fetched = (sim.stats.requests['blockchain.scripthash.get_history'] ?? 0) - fetchedBefore;
    assert.ok(fetched <= fit, `the refused ones were never fetched (${fetched} fetched for ${fit} answers)`);
    // On its own it still fits: the budget is the line's, not the session's.
    assert.equal(((await client.request('blockchain.scripthash.get_history', [LONG])) as unknown[]).length, longHistory.length);
    await client.close();
  });
});
