// SPDX-License-Identifier: MIT
/**
 * Orphans are re-adopted (issue 11, pt 5): subscriptions whose move to
 * another upstream failed — "server busy", "excessive resource usage", a
 * request the server took and never answered — are tried again with backoff
 * until each is held upstream exactly once, and the wallets holding them
 * hear of a real change exactly once. A session that leaves while its
 * orphans wait is not subscribed again. Moves spread over the connections
 * with room instead of piling onto one.
 *
 * The upstream that loses its subscriptions is cordoned (an operator draining
 * it) rather than killed: a dead upstream's reconnect attempts stir the pool
 * every few hundred milliseconds, which could re-adopt orphans by chance.
 * Failures come from the simulator's failNext knob, counted by the simulator.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Subscriber } from '../../src/subscriptions/hub.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { statusOf, testP2wpkh } from '../helpers/wallet-session.js';

const SCRIPTHASH = 'blockchain.scripthash.subscribe';
const BUSY = { code: -102, message: 'server busy - request timed out' };
const EXCESSIVE = { code: -101, message: 'excessive resource usage' };

async function session(port: number): Promise<RpcClient> {
  const c = await RpcClient.connect(port, '127.0.0.1', 15_000);
  await c.request('server.version', ['orphans-test', '1.4']);
  return c;
}

async function subscribeAll(c: RpcClient, scripthashes: readonly string[], expect: (sh: string) => string | null): Promise<void> {
  const replies = (await c.batch(scripthashes.map((sh) => ({ method: SCRIPTHASH, params: [sh] })))) as { result: unknown }[];
  replies.forEach((r, i) => assert.equal(r.result, expect(scripthashes[i]!), `initial status of ${i}`));
}

async function settled(tg: TestGateway, tip: number, connections: Record<string, number>): Promise<void> {
  await RpcClient.until(
    () =>
      tg.gateway.tracker.tip?.height === tip &&
      tg.gateway.pool.status().every((u) => u.state === 'healthy' && u.tipHeight === tip && u.connections === connections[u.name]),
    `every upstream healthy at ${tip}: ${JSON.stringify(tg.gateway.pool.status().map((u) => [u.name, u.state, u.tipHeight, u.connections]))}`,
    15_000,
    20,
  );
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `metric ${series} missing`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

const noOrphans = (tg: TestGateway): boolean => {
  const o = tg.gateway.hub.orphanCounts;
  return o.queued + o.moving + o.retrying + o.parked === 0;
};

describe('orphaned subscriptions are re-adopted', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('moves the next upstream fails are retried until each is held once; wallets hear of a change once; a departed session is not resubscribed', { timeout: 60_000 }, async () => {
    const seed = 'orphans';
    const a = await Simulator.start({ seed, initialBlocks: 140 });
    const b = await Simulator.start({ seed, initialBlocks: 140 });
    cleanups.push(() => a.stop(), () => b.stop());
    // S: 40 addresses shared by two sessions, a few with history; U: 20 of a third session only.
    const S = Array.from({ length: 40 }, (_, i) => testP2wpkh(seed, `shared-${i}`));
    const U = Array.from({ length: 20 }, (_, i) => testP2wpkh(seed, `leaver-${i}`));
    for (const w of S.slice(0, 5)) assert.equal(a.pay(w.address, 40_000), b.pay(w.address, 40_000));
    a.mine(1);
    b.mine(1);
    const tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'A', options: { max_connections: '1' } },
        { host: b.host, port: b.port, name: 'B', options: { max_connections: '2' } },
      ],
      // A request B takes and never answers fails the move after this long.
      requestTimeoutMs: 1_000,
      captureLogs: 'warn',
      admin: true,
      tweak: (c) => ({ ...c, pool: { ...c.pool, resubscribeConcurrency: 8, resubscribePerSecond: 1_000 } }),
    });
    cleanups.push(() => tg.close());
    await settled(tg, 141, { A: 1, B: 2 });
    const hub = tg.gateway.hub;

    tg.gateway.pool.cordon('B');
    const [s0, s1, leaver] = await Promise.all([session(tg.port), session(tg.port), session(tg.port)]);
    cleanups.push(async () => Promise.all([s0, s1, leaver].map((c) => c!.close())));
    const shS = S.map((w) => w.scripthash);
    const shU = U.map((w) => w.scripthash);
    await subscribeAll(leaver!, shU, () => null);
    for (const c of [s0!, s1!]) await subscribeAll(c, shS, (sh) => statusOf(a.history(sh)));
    assert.equal(a.stats.scripthashSubscriptions, 60);
    assert.equal(b.stats.scripthashSubscriptions, 0);

    // B fails every move of U's, and some of S's once each: busy, excessive, and taken but never answered.
    const inU = new Set(shU);
    const inS = new Set(shS);
    const dropped: string[] = [];
    const failU = b.failNext(SCRIPTHASH, Number.MAX_SAFE_INTEGER, BUSY, (args) => inU.has(args[0] as string));
    const busyS = b.failNext(SCRIPTHASH, 10, BUSY, (args) => inS.has(args[0] as string));
    const excessiveS = b.failNext(SCRIPTHASH, 4, EXCESSIVE, (args) => inS.has(args[0] as string));
    const dropS = b.failNext(SCRIPTHASH, 3, 'drop', (args) => {
      if (!inS.has(args[0] as string)) return false;
      dropped.push(args[0] as string);
      return true;
    });
    tg.gateway.pool.uncordon('B');
    tg.gateway.pool.cordon('A');

    // Each of U's moves has failed twice: it is being retried.
    await RpcClient.until(() => failU.hits >= 2 * U.length, "each of U's moves tried twice", 20_000, 5);
    await leaver!.close();
    await RpcClient.until(
      () => noOrphans(tg) && hub.scripthashCount === S.length && shS.every((sh) => b.subscriptionHolders().get(sh) === 1),
      `every one of S held on B, nothing else left (${JSON.stringify(hub.orphanCounts)}, ${hub.scripthashCount} in the hub, ${b.stats.scripthashSubscriptions} on B)`,
      30_000,
      20,
    );
    assert.deepEqual([busyS.left, excessiveS.left, dropS.left], [0, 0, 0], 'every planned failure happened');
    assert.equal(dropped.length, 3);
    const holders = b.subscriptionHolders();
    assert.equal(holders.size, S.length, 'nothing of U held on B, nothing held twice');
    for (const n of holders.values()) assert.equal(n, 1);
    assert.equal(hub.heldUpstreamSubscriptions, S.length);
    assert.equal(hub.subscriptionsByUpstream().get('B'), S.length);
    assert.equal(hub.scripthashCount, S.length);

    const m = await tg.metrics();
    assert.ok(metricValue(m, 'electrum_gateway_resubscription_retries_total{reason="busy"}') >= busyS.hits + U.length);
    assert.equal(metricValue(m, 'electrum_gateway_resubscription_retries_total{reason="excessive"}'), 4);
    assert.ok(metricValue(m, 'electrum_gateway_resubscription_retries_total{reason="timeout"}') >= 3);
    for (const state of ['queued', 'moving', 'retrying', 'parked']) assert.equal(metricValue(m, `electrum_gateway_orphaned_subscriptions{state="${state}"}`), 0);
    const warned = tg.logs.filter((l) => l['msg'] === 'subscription moves failed; their orphans will be retried with backoff');
    assert.ok(warned.length >= 1, 'failed moves are logged');
    assert.ok(warned.length <= 4, `in a few summed lines, not one per move (${warned.length})`);
    assert.ok(warned.every((l) => Array.isArray(l['upstreams']) && (l['upstreams'] as string[]).every((u) => u === 'B')), 'naming the upstream');

    // No status changed in the move: nobody was told anything.
    for (const c of [s0!, s1!]) assert.deepEqual(c.notifications.filter((n) => n.method === SCRIPTHASH), []);
    // A payment to one that was taken but unanswered, one that was refused once, one that moved at once:
    // each session hears of each exactly once.
    const refused = shS.find((sh) => !dropped.includes(sh) && sh !== shS[shS.length - 1])!;
    const paid = [dropped[0]!, refused, shS[shS.length - 1]!];
    for (const sh of paid) {
      const w = S.find((x) => x.scripthash === sh)!;
      assert.equal(b.pay(w.address, 25_000), a.pay(w.address, 25_000));
    }
    for (const c of [s0!, s1!]) {
      for (const sh of paid) {
        const status = statusOf(b.history(sh));
        await c.waitForNotification(SCRIPTHASH, (p) => p[0] === sh && p[1] === status, { timeoutMs: 10_000 });
      }
      await c.request('server.ping', []);
      const notes = c.notifications.filter((n) => n.method === SCRIPTHASH).map((n) => n.params[0]);
      assert.deepEqual([...notes].sort(), [...paid].sort(), 'one notification per paid scripthash');
    }
  });

  it('moves spread over the connections with room: none past its share, none with the whole burst', { timeout: 60_000 }, async () => {
    const a = await Simulator.start({ seed: 'orphans-spread', initialBlocks: 110 });
    const b = await Simulator.start({ seed: 'orphans-spread', initialBlocks: 110 });
    cleanups.push(() => a.stop(), () => b.stop());
    const N = 200;
    const tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'A', options: { max_connections: '2' } },
        { host: b.host, port: b.port, name: 'B', options: { max_connections: '2' } },
      ],
      tweak: (c) => ({ ...c, pool: { ...c.pool, maxSubscriptionsPerConnection: N / 2, resubscribeConcurrency: 20, resubscribePerSecond: 100_000 } }),
    });
    cleanups.push(() => tg.close());
    await settled(tg, 110, { A: 2, B: 2 });
    const hub = tg.gateway.hub;
    tg.gateway.pool.cordon('B');
    const sub: Subscriber = { notifyHeaders: () => undefined, notifyScripthash: () => undefined };
    const sh = (i: number): string => createHash('sha256').update(`spread:${i}`).digest('hex');
    for (let i = 0; i < N; i++) await hub.subscribeScripthash(sub, sh(i), Date.now() + 10_000);
    assert.deepEqual(a.subscriptionsPerConnection().sort(), [N / 2, N / 2]);

    b.setLatency(20);
    b.resetMaxInFlight();
    tg.gateway.pool.uncordon('B');
    tg.gateway.pool.cordon('A');
    await RpcClient.until(
      () => b.stats.scripthashSubscriptions === N && noOrphans(tg),
      `every subscription on B (${b.stats.scripthashSubscriptions} of ${N}, ${JSON.stringify(hub.orphanCounts)}, per connection ${b.subscriptionsPerConnection()})`,
      30_000,
      20,
    );
    assert.deepEqual(b.subscriptionsPerConnection().sort(), [N / 2, N / 2], 'each connection holds its share, no more');
    // 20 moves at once over two connections: about 10 each (plus a ping or a header request of the pool's).
    assert.ok(b.stats.maxInFlight <= 14, `one connection of B had ${b.stats.maxInFlight} requests at once`);
    assert.equal(hub.heldUpstreamSubscriptions, N);
  });

  it('a session subscribing to an orphan adopts it at once, and the sessions already on it hear of the change once', { timeout: 30_000 }, async () => {
    const seed = 'orphans-adopt';
    const a = await Simulator.start({ seed, initialBlocks: 140 });
    const b = await Simulator.start({ seed, initialBlocks: 140 });
    cleanups.push(() => a.stop(), () => b.stop());
    const tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'A', options: { max_connections: '1' } },
        { host: b.host, port: b.port, name: 'B', options: { max_connections: '1' } },
      ],
    });
    cleanups.push(() => tg.close());
    await settled(tg, 140, { A: 1, B: 1 });
    const hub = tg.gateway.hub;
    const heard: [string, string | null][] = [];
    const first: Subscriber = { notifyHeaders: () => undefined, notifyScripthash: (sh, status) => void heard.push([sh, status]) };
    const second: Subscriber = { notifyHeaders: () => undefined, notifyScripthash: () => assert.fail('the adopter hears the status as its answer') };
    const w = testP2wpkh(seed, 'x');
    tg.gateway.pool.cordon('B');
    assert.equal(await hub.subscribeScripthash(first, w.scripthash, Date.now() + 10_000), null);
    const refuse = b.failNext(SCRIPTHASH, Number.MAX_SAFE_INTEGER, BUSY, (args) => args[0] === w.scripthash);
    tg.gateway.pool.uncordon('B');
    tg.gateway.pool.cordon('A');
    await RpcClient.until(() => refuse.hits >= 2 && hub.orphanCounts.retrying === 1 && hub.orphanCounts.moving === 0, 'the move refused twice, waiting for its retry', 10_000, 5);
    assert.equal(b.pay(w.address, 30_000), a.pay(w.address, 30_000));
    const status = statusOf(b.history(w.scripthash));
    assert.notEqual(status, null);
    // In the same tick as the check above can still see it in backoff: this subscribe, not the retry, adopts it.
    refuse.left = 0;
    assert.equal(hub.orphanCounts.retrying, 1);
    const adopted = hub.subscribeScripthash(second, w.scripthash, Date.now() + 10_000);
    assert.equal(await adopted, status);
    assert.deepEqual(heard, [[w.scripthash, status]], 'told once, with the status that includes the payment');
    assert.deepEqual(hub.orphanCounts, { queued: 0, moving: 0, retrying: 0, parked: 0 }, 'its retry is called off');
    assert.equal(b.subscriptionHolders().get(w.scripthash), 1);
    assert.equal(hub.heldUpstreamSubscriptions, 1);
  });
});
