// SPDX-License-Identifier: MIT
/**
 * Chaos: every subscription moved onto a server that prices requests as
 * ElectrumX does (issue 11, pt 5).
 *
 * Wallets (a few sessions with many distinct addresses each) hold N
 * scripthash subscriptions through the gateway, all on upstream A (B is
 * cordoned meanwhile). B is a simulator with ElectrumX's default cost limits
 * (test/sim/cost.ts: soft 1,000, hard 10,000, 10 concurrent requests, 2.5 s
 * sleep at the hard limit, 30 s request timeout, 5,000 bytes a unit). A dies;
 * the gateway moves every subscription to B at its default pace
 * (pool.resubscribe_concurrency 100, resubscribe_per_second 2,000).
 *
 * A subscription costs ElectrumX about 0.33 (0.3 for an address with no
 * history, plus its bytes), and a session's cost is what throttles it: the
 * gateway spreads the subscriptions over enough connections to B
 * (max_subscriptions_per_connection 2,500, about 830 a session, under the soft
 * limit). Must be 0: sessions B closed for their cost, requests B answered
 * "server busy", B connections the gateway lost, subscriptions missing on B
 * or held there twice.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';
import { fullRun, nonZero, report, sleep } from './figures.js';

// Overrides for exploring other settings by hand (not used by npm test or npm run chaos):
// COST_SUBSCRIPTIONS, COST_PER_CONNECTION, and COST_LIMIT_SCALE dividing B's soft and hard limits
// (with the subscriptions divided alike, the same cost fractions are reached that many times sooner),
// COST_WAIT_MS for how long the move may take, COST_TRACE_MS to print its progress that often. The
// tenth-scale run with a connection's default share (docs/configuration.md, max_subscriptions_per_connection):
// COST_PER_CONNECTION=2500 COST_LIMIT_SCALE=10 COST_WAIT_MS=900000.
const N = Number(process.env.COST_SUBSCRIPTIONS ?? (fullRun ? 50_000 : 5_000));
const PER_CONNECTION = Number(process.env.COST_PER_CONNECTION ?? 2_500);
const LIMIT_SCALE = Number(process.env.COST_LIMIT_SCALE ?? 1);
const CONNECTIONS = Math.ceil(N / PER_CONNECTION);
const SESSIONS = 4;
const PIPELINE = 256;

const scripthash = (i: number): string => createHash('sha256').update(`failover-costs:${i}`).digest('hex');

describe('chaos: subscriptions moved onto an upstream with ElectrumX cost limits', () => {
  let a: Simulator;
  let b: Simulator;
  let gw: TestGateway;
  const wallets: RpcClient[] = [];

  before(async () => {
    a = await Simulator.start({ seed: 'failover-costs', initialBlocks: 110 });
    b = await Simulator.start({
      seed: 'failover-costs',
      initialBlocks: 110,
      costs: LIMIT_SCALE === 1 ? true : { softLimit: 1000 / LIMIT_SCALE, hardLimit: 10_000 / LIMIT_SCALE },
    });
    const conns = { max_connections: String(CONNECTIONS) };
    gw = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'a', options: conns },
        { host: b.host, port: b.port, name: 'b', options: conns },
      ],
      requestTimeoutMs: 30_000,
      tweak: (c) => ({
        ...c,
        pool: { ...c.pool, maxSubscriptionsPerConnection: PER_CONNECTION },
        limits: { ...c.limits, maxSubscriptionsPerSession: Math.max(c.limits.maxSubscriptionsPerSession, Math.ceil(N / SESSIONS)) },
      }),
    });
    await RpcClient.until(() => gw.gateway.pool.ready().length === 2 * CONNECTIONS, `${CONNECTIONS} connections to each upstream`, 20_000);
    // Everything lands on A first.
    gw.gateway.pool.cordon('b');
  });

  after(async () => {
    for (const w of wallets) w.destroy();
    await gw?.close();
    await a?.stop();
    await b?.stop();
  });

  it('moves every subscription to B once, without B throttling the gateway into a disconnect', { timeout: fullRun ? 900_000 : 300_000 + Number(process.env.COST_WAIT_MS ?? 0) }, async () => {
    for (let s = 0; s < SESSIONS; s++) wallets.push((await connectNegotiated(gw.port, '1.4', `costs-${s}`)).client);
    // Each session subscribes its share, PIPELINE requests outstanding at a time.
    await Promise.all(
      wallets.map(async (w, s) => {
        const mine: number[] = [];
        for (let i = s; i < N; i += SESSIONS) mine.push(i);
        let next = 0;
        const lane = async (): Promise<void> => {
          while (next < mine.length) {
            const i = mine[next++]!;
            const status = await w.request('blockchain.scripthash.subscribe', [scripthash(i)], { timeoutMs: 60_000 });
            assert.equal(status, null, `a fresh address has no history (${i})`);
          }
        };
        await Promise.all(Array.from({ length: PIPELINE }, lane));
      }),
    );
    const hub = gw.gateway.hub;
    await RpcClient.until(() => a.stats.scripthashSubscriptions === N, `all ${N} on A (${a.stats.scripthashSubscriptions})`, 60_000);
    assert.equal(b.stats.scripthashSubscriptions, 0);

    gw.gateway.pool.uncordon('b');
    const bConnectionsBefore = b.stats.totalConnections;
    let lostB = 0;
    gw.gateway.pool.on('lost', (conn) => {
      if (conn.name === 'b') lostB++;
    });
    b.resetMaxInFlight();
    let gatewayInFlight = 0;
    const started = Date.now();
    await a.stop();
    let done = false;
    const traceMs = Number(process.env.COST_TRACE_MS ?? 0);
    let tracedAt = started;
    const sampler = (async () => {
      while (!done) {
        const s = gw.gateway.pool.status().find((u) => u.name === 'b');
        if (s && s.inFlight > gatewayInFlight) gatewayInFlight = s.inFlight;
        if (traceMs > 0 && Date.now() - tracedAt >= traceMs) {
          tracedAt = Date.now();
          const c = b.costStats;
          console.log(
            `failover-costs trace t=${Math.round((tracedAt - started) / 1000)}s on_B=${b.stats.scripthashSubscriptions} hub_on_b=${hub.subscriptionsByUpstream().get('b') ?? 0} queued=${hub.moves.queued} active=${hub.moves.active} window=${hub.moveWindow} retrying=${hub.orphanCounts.retrying} B_conns=${s?.connections ?? 0} busy=${c?.timedOutRequests} cost_disconnects=${c?.costDisconnects} peak_cost=${Math.round(c?.peakSessionCost ?? 0)}`,
          );
        }
        await sleep(50);
      }
    })();
    try {
      await RpcClient.until(
        () => b.stats.scripthashSubscriptions >= N && hub.moves.queued === 0 && hub.moves.active === 0,
        `every subscription on B`,
        Number(process.env.COST_WAIT_MS ?? (fullRun ? 600_000 : 240_000)),
        100,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${b.stats.scripthashSubscriptions} of ${N} there, ${hub.moves.queued} queued, B's costs ${JSON.stringify(b.costStats)}`);
    } finally {
      done = true;
      await sampler;
    }
    const seconds = (Date.now() - started) / 1000;
    const holders = b.subscriptionHolders();
    let twice = 0;
    for (const n of holders.values()) if (n > 1) twice++;
    let missing = 0;
    for (let i = 0; i < N; i++) if (!holders.has(scripthash(i))) missing++;
    const costs = b.costStats!;
    const figures = {
      scenario: 'failover onto ElectrumX costs',
      setup: `${N.toLocaleString('en-US')} subscriptions from ${SESSIONS} wallet sessions held on A, A killed, all moved to B (simulated ElectrumX default cost limits) over ${CONNECTIONS} connections of at most ${PER_CONNECTION.toLocaleString('en-US')}; default resubscribe pace (100 at once, 2,000/s)`,
      figures: {
        B_cost_disconnects: costs.costDisconnects,
        B_server_busy_replies: costs.timedOutRequests,
        B_connections_lost: lostB + (b.stats.totalConnections - bConnectionsBefore),
        missing_on_B: missing,
        held_twice_on_B: twice,
        moved: holders.size,
        seconds_to_move: Math.round(seconds * 10) / 10,
        moved_per_second: Math.round(holders.size / seconds),
        B_peak_session_cost: Math.round(costs.peakSessionCost),
        B_soft_limit: 1000 / LIMIT_SCALE,
        B_min_concurrency: costs.minConcurrency,
        B_throttled_requests: costs.throttledRequests,
        B_max_in_flight_per_connection: b.stats.maxInFlight,
        gateway_max_in_flight_to_B: gatewayInFlight,
      },
      mustBeZero: ['B_cost_disconnects', 'B_server_busy_replies', 'B_connections_lost', 'missing_on_B', 'held_twice_on_B'],
    };
    report(figures);
    assert.equal(nonZero(figures), '');
    assert.equal(hub.subscriptionsByUpstream().get('b'), N, 'the hub holds every subscription on B');
    assert.equal(hub.heldUpstreamSubscriptions, N);
  });
});
