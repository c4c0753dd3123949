// SPDX-License-Identifier: MIT
/**
 * The subscription hub against real simulators: one upstream subscription per
 * scripthash however many sessions share it, notifications to exactly the
 * sessions that asked, subscriptions that survive the death of their upstream
 * without a spurious notification, and the limits (error 4) including the
 * per-connection cap that spreads subscriptions over an upstream's connections.
 *
 * Two simulators with the same seed hold the same chain; every payment and
 * block is made on both so they keep agreeing (a dead one's chain is still
 * in memory). Their initial heights avoid the simulator's construction-time
 * background payments (heights 101..130 and multiples of 25), which a copy
 * would not reproduce by mining.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient, type Notification } from '../helpers/rpc-client.js';
import { statusOf, testP2wpkh } from '../helpers/wallet-session.js';

const SCRIPTHASH = 'blockchain.scripthash.subscribe';

interface Wallet {
  readonly address: string;
  readonly scripthash: string;
}

/** A regtest P2WPKH address and its Electrum scripthash, computed here with node:crypto. */
function wallet(label: string): Wallet {
  return testP2wpkh('subscriptions-test', label);
}

async function session(port: number): Promise<RpcClient> {
  const c = await RpcClient.connect(port, '127.0.0.1', 15_000);
  const [, version] = (await c.request('server.version', ['subscriptions-test', ['1.4', '1.6']])) as [string, string];
  assert.equal(version, '1.6');
  return c;
}

/** Polls until every upstream is healthy with its connections open and the tracker is at `tip`. */
async function settled(tg: TestGateway, tip: number, connections?: number): Promise<void> {
  await RpcClient.until(
    () =>
      tg.gateway.tracker.tip?.height === tip &&
      tg.gateway.pool.status().every((u) => u.state === 'healthy' && u.tipHeight === tip && (connections === undefined || u.connections === connections)),
    `every upstream healthy at ${tip}: ${JSON.stringify(tg.gateway.pool.status().map((u) => [u.name, u.state, u.tipHeight, u.connections]))}`,
    15_000,
    20,
  );
}

function scripthashNotes(c: RpcClient, sh?: string): Notification[] {
  return c.notifications.filter((n) => n.method === SCRIPTHASH && (sh === undefined || n.params[0] === sh));
}

/** The sample value of a metric line in Prometheus text ("name{labels} value"). */
function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  assert.ok(line, `metric ${name} missing`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Sessions are opened a bounded number at a time so the shared machine is not flooded. */
async function inGroups<T>(n: number, group: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += group) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(group, n - i) }, (_, k) => make(i + k)))));
  }
  return out;
}

describe('shared scripthash subscriptions', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('1,000 sessions on the same 100 scripthashes hold exactly 100 upstream subscriptions; one payment notifies exactly its subscribers', { timeout: 90_000 }, async (t) => {
    const SESSIONS = 1000;
    const a = await Simulator.start({ seed: 'subs-fanout', initialBlocks: 140 });
    const b = await Simulator.start({ seed: 'subs-fanout', initialBlocks: 140 });
    cleanups.push(() => a.stop(), () => b.stop());
    const tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'A' },
        { host: b.host, port: b.port, name: 'B' },
      ],
      admin: true,
      requestTimeoutMs: 15_000,
      tweak: (c) => ({ ...c, limits: { ...c.limits, maxSessionsPerGroup: SESSIONS + 50, maxSessions: SESSIONS + 50 } }),
    });
    cleanups.push(() => tg.close());
    await settled(tg, 140);

    const wallets = Array.from({ length: 100 }, (_, i) => wallet(`fanout-${i}`));
    const paid = wallets[0]!;
    const other = wallets[1]!;
    // Every 7th session leaves out the scripthash that will be paid.
    const watchesPaid = (i: number): boolean => i % 7 !== 0;
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const clients = await inGroups(SESSIONS, 100, async (i) => {
      const c = await session(tg.port);
      const mine = wallets.filter((w) => w !== paid || watchesPaid(i));
      const replies = (await c.batch(
        mine.map((w) => ({ method: SCRIPTHASH, params: [w.scripthash] })),
        30_000,
      )) as { result?: unknown; error?: unknown }[];
      assert.equal(replies.length, mine.length);
      for (const r of replies) assert.equal(r.result, null, `a fresh scripthash has no history: ${JSON.stringify(r)}`);
      return c;
    });
    cleanups.push(async () => Promise.all(clients.map((c) => c.close())));
    const cpu = process.cpuUsage(cpu0);
    t.diagnostic(`${SESSIONS} sessions subscribed to 100 scripthashes in ${Date.now() - t0} ms (${Math.round((cpu.user + cpu.system) / 1000)} ms CPU, gateway and clients together)`);
    const subscribers = clients.filter((_, i) => watchesPaid(i));
    const others = clients.filter((_, i) => !watchesPaid(i));
    assert.equal(subscribers.length + others.length, SESSIONS);
    assert.ok(others.length > 100);

    // Exactly one upstream subscription per scripthash, spread over both simulators by stickiness.
    assert.equal(a.stats.scripthashSubscriptions + b.stats.scripthashSubscriptions, 100);
    assert.ok(a.stats.scripthashSubscriptions > 0 && b.stats.scripthashSubscriptions > 0, 'sticky routing uses both upstreams');
    assert.equal((a.stats.requests[SCRIPTHASH] ?? 0) + (b.stats.requests[SCRIPTHASH] ?? 0), 100, 'no scripthash was subscribed upstream twice');
    const sessionSubs = subscribers.length * 100 + others.length * 99;
    const m = await tg.metrics();
    assert.equal(metric(m, 'electrum_gateway_upstream_subscriptions'), 100);
    assert.equal(metric(m, 'electrum_gateway_session_subscriptions'), sessionSubs);

    // One payment (made on both simulators: the same transaction, so the chains agree).
    const txid = a.pay(paid.address, 250_000);
    assert.equal(b.pay(paid.address, 250_000), txid, 'equal seeds make equal transactions');
    const expected = statusOf(a.history(paid.scripthash));
    assert.ok(expected);
    await RpcClient.until(() => subscribers.every((c) => scripthashNotes(c).length >= 1), 'every subscriber of the paid scripthash to be notified', 30_000, 25);
    // A second payment, to a scripthash everyone watches, is the barrier: once every session has
    // its notification, anything the first payment sent to a session came before it.
    a.pay(other.address, 40_000);
    b.pay(other.address, 40_000);
    const otherStatus = statusOf(a.history(other.scripthash));
    await RpcClient.until(() => clients.every((c) => scripthashNotes(c, other.scripthash).length >= 1), 'the barrier notification to reach every session', 30_000, 25);

    for (const c of subscribers) {
      assert.deepEqual(
        scripthashNotes(c).map((n) => n.params),
        [
          [paid.scripthash, expected],
          [other.scripthash, otherStatus],
        ],
      );
    }
    for (const c of others) assert.deepEqual(scripthashNotes(c).map((n) => n.params), [[other.scripthash, otherStatus]], 'a session that did not subscribe hears nothing of it');
    // The status is the one the session's own get_history hashes to.
    const history = (await subscribers[0]!.request('blockchain.scripthash.get_history', [paid.scripthash])) as { tx_hash: string; height: number }[];
    assert.deepEqual(
      history.map((h) => [h.tx_hash, h.height]),
      [[txid, 0]],
    );
    assert.equal(statusOf(history), expected);
    const after = await tg.metrics();
    assert.equal(metric(after, 'electrum_gateway_notifications_sent_total{kind="scripthash"}'), subscribers.length + SESSIONS);

    // When every session has gone, so have the upstream subscriptions.
    await Promise.all(clients.map((c) => c.close()));
    await RpcClient.until(() => a.stats.scripthashSubscriptions + b.stats.scripthashSubscriptions === 0, 'the upstream subscriptions to be dropped', 15_000, 25);
    assert.equal(metric(await tg.metrics(), 'electrum_gateway_session_subscriptions'), 0);
    assert.equal(metric(await tg.metrics(), 'electrum_gateway_upstream_subscriptions'), 0);
  });
});

describe('failover of subscriptions', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  /**
   * Two simulators on the same chain, one connection each (so requests to the
   * survivor travel behind its answers to the resubscriptions: a request sent
   * through it afterwards is a barrier), ten sessions on 40 scripthashes, a
   * quarter of which already have history.
   */
  async function world(seed: string) {
    const a = await Simulator.start({ seed, initialBlocks: 140 });
    const b = await Simulator.start({ seed, initialBlocks: 140 });
    cleanups.push(() => a.stop(), () => b.stop());
    const wallets = Array.from({ length: 40 }, (_, i) => wallet(`${seed}-${i}`));
    for (const w of wallets.slice(0, 10)) {
      assert.equal(a.pay(w.address, 60_000), b.pay(w.address, 60_000));
    }
    a.mine(1);
    b.mine(1);
    assert.equal(a.blockHash(141), b.blockHash(141));
    const tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'A', options: { max_connections: '1' } },
        { host: b.host, port: b.port, name: 'B', options: { max_connections: '1' } },
      ],
      admin: true,
    });
    cleanups.push(() => tg.close());
    await settled(tg, 141, 1);
    const clients = await Promise.all(Array.from({ length: 10 }, () => session(tg.port)));
    cleanups.push(async () => Promise.all(clients.map((c) => c.close())));
    for (const c of clients) {
      const replies = (await c.batch(wallets.map((w) => ({ method: SCRIPTHASH, params: [w.scripthash] })))) as { result: string | null }[];
      replies.forEach((r, i) => {
        const w = wallets[i]!;
        assert.equal(r.result, statusOf(a.history(w.scripthash)), `initial status of ${i}`);
      });
    }
    // Which simulator holds each subscription: the pool's sticky choice, cross-checked with the simulators' counts.
    const holder = new Map<string, string>();
    for (const w of wallets) holder.set(w.scripthash, (await tg.gateway.pool.acquire(Date.now() + 1000, { key: w.scripthash, tipSensitive: true })).name);
    const onA = wallets.filter((w) => holder.get(w.scripthash) === 'A');
    const onB = wallets.filter((w) => holder.get(w.scripthash) === 'B');
    assert.equal(a.stats.scripthashSubscriptions, onA.length);
    assert.equal(b.stats.scripthashSubscriptions, onB.length);
    assert.ok(onA.length > 0 && onB.length > 0);
    // A quiet start: nobody has been notified of anything yet.
    for (const c of clients) assert.deepEqual(c.notifications, []);
    return { a, b, tg, wallets, clients, onA };
  }

  /** Each session asks the survivor for `sh`'s history: its answer comes after every resubscription's. */
  async function barrier(clients: RpcClient[], sh: string): Promise<{ tx_hash: string; height: number }[]> {
    const answers = await Promise.all(clients.map((c) => c.request('blockchain.scripthash.get_history', [sh]) as Promise<{ tx_hash: string; height: number }[]>));
    for (const h of answers) assert.deepEqual(h, answers[0]);
    return answers[0]!;
  }

  it('killing the upstream that holds a set of subscriptions: sessions keep them, only a real change is notified, once', { timeout: 60_000 }, async () => {
    const { a, b, tg, wallets, clients, onA } = await world('failover');
    // One with history and one without, both held by A.
    const paid = onA.find((w) => a.history(w.scripthash).length > 0) ?? onA[0]!;
    const connectionsBefore = b.stats.totalConnections;

    await a.stop();
    // Paid during the outage, on the survivor; the dead simulator's chain gets the same payment so they still agree.
    const txid = b.pay(paid.address, 33_000);
    assert.equal(a.pay(paid.address, 33_000), txid);

    await RpcClient.until(() => b.stats.scripthashSubscriptions === wallets.length, 'every subscription to move to B', 15_000, 20);
    const history = await barrier(clients, paid.scripthash);
    assert.ok(history.some((h) => h.tx_hash === txid && h.height === 0), 'the payment is in the history B serves');
    const expected = statusOf(history);
    assert.equal(expected, statusOf(b.history(paid.scripthash)));
    for (const c of clients) {
      assert.equal(c.isClosed, false, 'the session was kept open');
      assert.deepEqual(c.notifications, [{ method: SCRIPTHASH, params: [paid.scripthash, expected] }], 'exactly one notification, with the new status');
    }
    // The subscriptions still work: a payment to one that moved, and to one that did not.
    const moved = onA.find((w) => w !== paid)!;
    const stayed = wallets.find((w) => !onA.includes(w))!;
    for (const w of [moved, stayed]) {
      assert.equal(b.pay(w.address, 12_000), a.pay(w.address, 12_000));
      const status = statusOf(b.history(w.scripthash));
      await Promise.all(clients.map((c) => c.waitForNotification(SCRIPTHASH, (p) => p[0] === w.scripthash && p[1] === status, { timeoutMs: 10_000 })));
    }
    for (const c of clients) assert.equal(scripthashNotes(c).length, 3);
    assert.equal(b.stats.totalConnections, connectionsBefore, 'B was not reconnected to');
    assert.equal(b.stats.scripthashSubscriptions, wallets.length, 'no subscription was made twice');
    const m = await tg.metrics();
    assert.equal(metric(m, 'electrum_gateway_resubscriptions_total'), onA.length);
    assert.equal(metric(m, 'electrum_gateway_upstream_subscriptions'), wallets.length);
    assert.equal(metric(m, 'electrum_gateway_session_subscriptions'), wallets.length * clients.length);
  });

  it('a payment landing while the resubscription is in flight is notified once, with the status that includes it', { timeout: 60_000 }, async () => {
    const { a, b, wallets, clients, onA } = await world('failover-race');
    const paid = onA[0]!;
    // B answers slowly but announces changes at once: the payment's notification for a scripthash
    // reaches the gateway before B's answer to the resubscription that made B watch it.
    b.setLatency(300);
    const before = b.stats.requests[SCRIPTHASH] ?? 0;
    await a.stop();
    await RpcClient.until(() => (b.stats.requests[SCRIPTHASH] ?? 0) === before + onA.length, 'B to receive every resubscription', 15_000, 5);
    const txid = b.pay(paid.address, 21_000);
    assert.equal(a.pay(paid.address, 21_000), txid);
    const expected = statusOf(b.history(paid.scripthash));
    assert.notEqual(expected, null);
    const history = await barrier(clients, paid.scripthash);
    assert.equal(statusOf(history), expected);
    for (const c of clients) {
      assert.deepEqual(
        scripthashNotes(c).map((n) => n.params),
        [[paid.scripthash, expected]],
        'the session must end up with the status its get_history hashes to, told once',
      );
    }
    assert.equal(b.stats.scripthashSubscriptions, wallets.length);
  });

  it('a payment landing while the first subscription is in flight is not lost', { timeout: 30_000 }, async () => {
    const sim = await Simulator.start({ seed: 'first-race', initialBlocks: 140 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({ upstreams: [{ host: sim.host, port: sim.port, name: 'S', options: { max_connections: '1' } }] });
    cleanups.push(() => tg.close());
    await settled(tg, 140, 1);
    const c = await session(tg.port);
    cleanups.push(() => c.close());
    const w = wallet('first-race');
    sim.setLatency(300);
    const before = sim.stats.requests[SCRIPTHASH] ?? 0;
    const answer = c.request(SCRIPTHASH, [w.scripthash]) as Promise<string | null>;
    await RpcClient.until(() => (sim.stats.requests[SCRIPTHASH] ?? 0) === before + 1, 'the simulator to receive the subscription', 10_000, 5);
    sim.pay(w.address, 10_000);
    const expected = statusOf(sim.history(w.scripthash));
    const told = [await answer];
    const history = (await c.request('blockchain.scripthash.get_history', [w.scripthash])) as { tx_hash: string; height: number }[];
    assert.equal(statusOf(history), expected);
    told.push(...scripthashNotes(c, w.scripthash).map((n) => n.params[1] as string | null));
    assert.equal(told[told.length - 1], expected, `the session was told ${JSON.stringify(told)}; the status is ${expected}`);
    assert.equal(new Set(told).size, told.length, 'no status was told twice');
  });
});

describe('subscription limits', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function expectLimit(c: RpcClient, sh: string, what: RegExp): Promise<void> {
    await assert.rejects(c.request(SCRIPTHASH, [sh]), (err: unknown) => {
      assert.ok(err instanceof RpcCallError, String(err));
      assert.equal(err.code, 4);
      assert.match(err.message, what);
      return true;
    });
  }

  it('per session: error 4 past the limit, for that session only, until it unsubscribes', { timeout: 30_000 }, async () => {
    const sim = await Simulator.start({ seed: 'limit-session', initialBlocks: 140 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({ upstreams: [sim], tweak: (c) => ({ ...c, limits: { ...c.limits, maxSubscriptionsPerSession: 5 } }) });
    cleanups.push(() => tg.close());
    await settled(tg, 140);
    const ws = Array.from({ length: 7 }, (_, i) => wallet(`limit-session-${i}`));
    const one = await session(tg.port);
    const two = await session(tg.port);
    cleanups.push(() => one.close(), () => two.close());
    for (const w of ws.slice(0, 5)) assert.equal(await one.request(SCRIPTHASH, [w.scripthash]), null);
    await expectLimit(one, ws[5]!.scripthash, /limit/);
    assert.equal(await one.request(SCRIPTHASH, [ws[0]!.scripthash]), null, 'subscribing again to one it has is not a new subscription');
    // The other session is not affected.
    for (const w of ws.slice(2, 7)) assert.equal(await two.request(SCRIPTHASH, [w.scripthash]), null);
    await expectLimit(two, ws[0]!.scripthash, /limit/);
    assert.equal(sim.stats.scripthashSubscriptions, 7);
    // The refused subscription was not half made: paying it does not notify the session that was refused.
    assert.equal(await one.request('blockchain.scripthash.unsubscribe', [ws[0]!.scripthash]), true);
    assert.equal(await one.request(SCRIPTHASH, [ws[5]!.scripthash]), null);
    await expectLimit(one, ws[6]!.scripthash, /limit/);
    sim.pay(ws[6]!.address, 5_000);
    await two.waitForNotification(SCRIPTHASH, (p) => p[0] === ws[6]!.scripthash, { timeoutMs: 10_000 });
    sim.pay(ws[5]!.address, 5_000);
    await one.waitForNotification(SCRIPTHASH, (p) => p[0] === ws[5]!.scripthash, { timeoutMs: 10_000 });
    assert.deepEqual(scripthashNotes(one).map((n) => n.params[0]), [ws[5]!.scripthash]);
  });

  it('in total: error 4 for a new scripthash past the limit, shared ones still fine, room again when sessions leave', { timeout: 30_000 }, async () => {
    const sim = await Simulator.start({ seed: 'limit-total', initialBlocks: 140 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({ upstreams: [sim], admin: true, tweak: (c) => ({ ...c, limits: { ...c.limits, maxSubscriptions: 8 } }) });
    cleanups.push(() => tg.close());
    await settled(tg, 140);
    const ws = Array.from({ length: 12 }, (_, i) => wallet(`limit-total-${i}`));
    const one = await session(tg.port);
    const two = await session(tg.port);
    cleanups.push(() => one.close(), () => two.close());
    for (const w of ws.slice(0, 5)) await one.request(SCRIPTHASH, [w.scripthash]);
    for (const w of ws.slice(3, 8)) await two.request(SCRIPTHASH, [w.scripthash]); // 3 and 4 are shared
    assert.equal(sim.stats.scripthashSubscriptions, 8);
    await expectLimit(two, ws[8]!.scripthash, /limit/);
    await expectLimit(one, ws[8]!.scripthash, /limit/);
    assert.equal(await one.request(SCRIPTHASH, [ws[7]!.scripthash]), null, 'joining an existing subscription needs no new one');
    assert.equal(sim.stats.scripthashSubscriptions, 8);
    // The first session leaves: the three scripthashes only it watched are freed.
    await one.close();
    await RpcClient.until(() => sim.stats.scripthashSubscriptions === 5, 'the departed session to free its scripthashes', 10_000, 20);
    for (const w of ws.slice(8, 11)) assert.equal(await two.request(SCRIPTHASH, [w.scripthash]), null);
    await expectLimit(two, ws[11]!.scripthash, /limit/);
    assert.equal(sim.stats.scripthashSubscriptions, 8);
    assert.equal(metric(await tg.metrics(), 'electrum_gateway_upstream_subscriptions'), 8);
  });

  it("per connection: subscriptions are spread over the upstream's connections, error 4 when all are full", { timeout: 30_000 }, async () => {
    const sim = await Simulator.start({ seed: 'limit-connection', initialBlocks: 140 });
    cleanups.push(() => sim.stop());
    const tg = await startTestGateway({
      upstreams: [{ host: sim.host, port: sim.port, name: 'S', options: { max_connections: '3' } }],
      tweak: (c) => ({ ...c, pool: { ...c.pool, maxSubscriptionsPerConnection: 4 } }),
    });
    cleanups.push(() => tg.close());
    await settled(tg, 140, 3);
    assert.equal(sim.stats.connections, 3);
    const ws = Array.from({ length: 14 }, (_, i) => wallet(`limit-connection-${i}`));
    const sessions = await Promise.all([session(tg.port), session(tg.port)]);
    cleanups.push(async () => Promise.all(sessions.map((c) => c.close())));
    // Three connections of four: twelve fit, one at a time so none is placed before the previous is counted.
    for (const [i, w] of ws.slice(0, 12).entries()) assert.equal(await sessions[i % 2]!.request(SCRIPTHASH, [w.scripthash]), null, `subscription ${i}`);
    assert.equal(sim.stats.scripthashSubscriptions, 12);
    await expectLimit(sessions[0]!, ws[12]!.scripthash, /S/);
    // Sharing needs no room.
    assert.equal(await sessions[1]!.request(SCRIPTHASH, [ws[0]!.scripthash]), null);
    // Leaving frees room on its connection.
    assert.equal(await sessions[0]!.request('blockchain.scripthash.unsubscribe', [ws[2]!.scripthash]), true);
    await RpcClient.until(() => sim.stats.scripthashSubscriptions === 11, 'the upstream unsubscribe', 10_000, 20);
    assert.equal(await sessions[0]!.request(SCRIPTHASH, [ws[12]!.scripthash]), null);
    await expectLimit(sessions[1]!, ws[13]!.scripthash, /S/);
    // Every one of the twelve is notified.
    const held = [...ws.slice(0, 2), ...ws.slice(3, 13)];
    for (const w of held) sim.pay(w.address, 7_000);
    await RpcClient.until(
      () => held.every((w) => sessions.some((c) => scripthashNotes(c, w.scripthash).length === 1)),
      'a notification for each of the twelve subscriptions',
      10_000,
      20,
    );
  });
});
