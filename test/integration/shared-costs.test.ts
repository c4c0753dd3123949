// SPDX-License-Identifier: MIT
/**
 * Two gateway instances sharing one real redis-server for their cost ledger:
 *
 *  - a subnet that spreads its sessions across both is held to one budget;
 *  - Redis killed during load: no client sees an error (fail-open), both
 *    instances say "fallback" in /status and in the ledger-state metric, and
 *    they go back to "shared" by themselves when Redis is back;
 *  - with shared_fail_open false, requests get -102 while Redis is away and
 *    are served again when it returns.
 *
 * Every client is on loopback; 127.0.0.1 and 127.0.0.2 are one /24, 127.0.3.x
 * and 127.0.4.x are others.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RedisServer } from '../helpers/redis.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const SOFT = 300;
const HARD = 1000;
/** What one chunk request is charged before it runs: base 1 + 2016 headers * 162 bytes / 5000. */
const CHUNK_UNITS = 1 + (2016 * 162) / 5000;

async function connectFrom(port: number, localAddress: string): Promise<RpcClient> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  // The test client over a socket we opened ourselves, to choose its source address.
  const Ctor = RpcClient as unknown as new (socket: net.Socket, timeoutMs: number) => RpcClient;
  return new Ctor(socket, 10_000);
}

interface Status {
  costs: { ledger: string; topGroups: { group: string; cost: number }[] };
}

function status(gw: TestGateway): Promise<Status> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: gw.gateway.admin!.port, path: '/status', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(JSON.parse(body) as Status));
      })
      .on('error', reject);
  });
}

async function ledgerGauge(gw: TestGateway): Promise<Record<string, number>> {
  const metric = gw.gateway.metrics.registry.getSingleMetric('electrum_gateway_cost_ledger_state');
  assert.ok(metric, 'the ledger state metric exists');
  const { values } = await metric.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.state), v.value]));
}

async function ledgerErrors(gw: TestGateway): Promise<number> {
  const metric = gw.gateway.metrics.registry.getSingleMetric('electrum_gateway_cost_ledger_errors_total');
  const { values } = await metric!.get();
  return values.reduce((n, v) => n + v.value, 0);
}

describe('cost budgets shared through Redis', () => {
  let redis: RedisServer;
  let probe: Redis;
  let sim: Simulator;
  let a: TestGateway;
  let b: TestGateway;
  let closed: TestGateway;

  const start = (failOpen = true): Promise<TestGateway> =>
    startTestGateway({
      upstreams: [sim],
      tweak: (c): GatewayConfig => ({
        ...c,
        redis: redis.url,
        admin: { host: '127.0.0.1', port: 0 },
        cost: { ...c.cost, softLimit: SOFT, hardLimit: HARD, maxDelayMs: 20, decayPerSecond: 1, sharedFailOpen: failOpen },
      }),
    });

  /** The group's cost as Redis holds it (0 when absent). */
  const sharedCost = async (group: string): Promise<number> => Number((await probe.hget(`eg:regtest:cost:${group}`, 'c').catch(() => null)) ?? 0);

  before(async () => {
    redis = await RedisServer.start();
    probe = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100, lazyConnect: false });
    probe.on('error', () => undefined);
    sim = await Simulator.start({ seed: 'shared-costs' });
    [a, b, closed] = await Promise.all([start(), start(), start(false)]);
    for (const gw of [a, b, closed]) {
      const c = await connectFrom(gw.port, '127.0.200.1');
      await RpcClient.until(async () => (await c.request('blockchain.block.header', [0]).catch(() => null)) !== null, 'the gateway to reach the simulator', 10_000, 25);
      await c.close();
    }
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close(), closed?.close()]);
    probe?.disconnect();
    await sim?.stop();
    await redis?.stop();
  });

  it('a subnet that spreads its sessions over both instances is held to one budget', async () => {
    const group = '127.0.0.0/24';
    const onA = await connectFrom(a.port, '127.0.0.1');
    const onB = await connectFrom(b.port, '127.0.0.2');
    const served = { a: 0, b: 0 };
    let refused: { on: 'a' | 'b'; err: RpcCallError } | null = null;
    for (let i = 0; i < 40 && !refused; i++) {
      const on = i % 2 === 0 ? 'a' : 'b';
      const client = on === 'a' ? onA : onB;
      const before = await sharedCost(group);
      try {
        const r = (await client.request('blockchain.block.headers', [0, 2016])) as { count: number };
        assert.equal(r.count, sim.tipHeight() + 1);
        served[on]++;
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        refused = { on, err };
        break;
      }
      // Each charge reaches Redis within a flush (100 ms); wait for it before the other instance's turn.
      await RpcClient.until(async () => (await sharedCost(group)) >= before + CHUNK_UNITS - 5, `instance ${on}'s charge to reach Redis`, 5000, 10);
    }
    const total = served.a + served.b;
    console.log(`# one subnet over two instances: ${served.a} chunks on A + ${served.b} on B, then ${refused ? `${refused.err.code} on ${refused.on}` : 'no refusal'}; Redis holds ${(await sharedCost(group)).toFixed(0)}`);
    assert.ok(refused, 'the subnet was refused in the end');
    assert.equal(refused.err.code, -101);
    // One budget: about HARD / CHUNK_UNITS chunks in all (an instance learns the other's last charge at its next flush).
    assert.ok(total <= Math.ceil(HARD / CHUNK_UNITS) + 1, `${total} chunks served in all`);
    // Two budgets would have let each instance serve that many on its own.
    assert.ok(served.a * CHUNK_UNITS < HARD - CHUNK_UNITS && served.b * CHUNK_UNITS < HARD - CHUNK_UNITS, 'neither instance alone had charged enough to refuse');
    assert.ok(served.a >= 3 && served.b >= 3, 'both instances served the subnet');

    // The other instance's session is refused as soon as it has heard from Redis (its next flush).
    const other = refused.on === 'a' ? onB : onA;
    let pings = 0;
    await RpcClient.until(
      async () => {
        pings++;
        return other.request('server.ping').then(
          () => false,
          (e: RpcCallError) => e.code === -101,
        );
      },
      'the other instance to refuse the subnet too',
      5000,
      150,
    );
    assert.ok(pings <= 5, `refused after ${pings} pings (0.1 units each)`);

    // Both show the subnet as their top talker; another subnet is served on both.
    for (const gw of [a, b]) {
      const top = (await status(gw)).costs.topGroups[0];
      assert.equal(top?.group, group);
      assert.ok(top!.cost >= HARD - 2 * CHUNK_UNITS, `cost known to this instance: ${top!.cost}`);
      const bystander = await connectFrom(gw.port, '127.0.3.1');
      assert.equal(await bystander.request('server.ping'), null);
      await bystander.close();
    }
  });

  it('Redis dies under load: no client errors, both instances fall back and then share again; fail-closed refuses meanwhile', async () => {
    // Load: one wallet per instance from a fresh subnet, far from any limit.
    const wallets = [await connectFrom(a.port, '127.0.3.10'), await connectFrom(b.port, '127.0.3.11')];
    const strict = await connectFrom(closed.port, '127.0.4.10');
    let phase: 'before' | 'down' | 'after' = 'before';
    const served = { before: 0, down: 0, after: 0 };
    const errors: string[] = [];
    let running = true;
    const load = wallets.map(async (w, i) => {
      for (let n = 0; running; n++) {
        const p = phase;
        try {
          if (n % 2 === 0) await w.request('server.ping');
          else assert.equal(await w.request('blockchain.block.header', [(n + i) % 100]), sim.headerHex((n + i) % 100));
          served[p]++;
        } catch (err) {
          errors.push(`${p}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const bothAre = async (state: string): Promise<boolean> => (await status(a)).costs.ledger === state && (await status(b)).costs.ledger === state;

    try {
      await RpcClient.until(() => bothAre('shared'), 'both instances to share their ledger', 5000, 25);
      assert.equal(await strict.request('server.ping'), null, 'fail-closed serves while Redis is up');
      const errorsBefore = await ledgerErrors(a);

      await redis.kill();
      phase = 'down';
      await RpcClient.until(() => bothAre('fallback'), 'both instances to report the fallback in /status', 5000, 25);
      for (const gw of [a, b]) assert.deepEqual(await ledgerGauge(gw), { local: 0, shared: 0, fallback: 1 });
      assert.ok((await ledgerErrors(a)) > errorsBefore, 'failed Redis calls are counted');
      const servedAtFallback = served.down;
      await RpcClient.until(() => served.down >= servedAtFallback + 20, 'wallets to be served during the outage', 5000, 10);
      // Fail-closed: the shared budget cannot be checked, so requests are refused.
      await RpcClient.until(
        () =>
          strict.request('server.ping').then(
            () => false,
            (e: RpcCallError) => e.code === -102,
          ),
        'the fail-closed instance to refuse with -102',
        5000,
        50,
      );
      await assert.rejects(strict.request('blockchain.block.header', [1]), (e: RpcCallError) => e.code === -102 && /cost accounting unavailable/.test(e.message));

      await redis.restart();
      phase = 'after';
      await RpcClient.until(() => bothAre('shared'), 'both instances to share again', 15_000, 50);
      for (const gw of [a, b]) assert.deepEqual(await ledgerGauge(gw), { local: 0, shared: 1, fallback: 0 });
      const servedAtRecovery = served.after;
      await RpcClient.until(() => served.after >= servedAtRecovery + 20, 'wallets to be served after the outage', 5000, 10);
      // Shared again for real: the load's subnet is back in Redis (which restarted empty).
      await RpcClient.until(async () => (await sharedCost('127.0.3.0/24')) > 0, "the wallets' subnet to be charged in Redis again", 5000, 25);
      // And fail-closed serves again once it has reconnected.
      await RpcClient.until(
        () =>
          strict.request('server.ping').then(
            () => true,
            () => false,
          ),
        'the fail-closed instance to serve again',
        15_000,
        50,
      );
    } finally {
      running = false;
      await Promise.all(load);
    }
    console.log(`# wallets served: ${served.before} before, ${served.down} while Redis was down, ${served.after} after; errors: ${errors.length}`);
    assert.deepEqual(errors, [], 'no wallet of a fail-open instance saw an error');
    for (const w of [...wallets, strict]) await w.close();
  });

  it('fail-closed serves its first requests as soon as Redis is connected', async () => {
    // A fresh fail-closed instance with Redis up: it must not refuse while waiting for its first flush.
    const fresh = await start(false);
    try {
      await RpcClient.until(async () => (await status(fresh)).costs.ledger === 'shared', 'the fresh instance to connect to Redis', 5000, 25);
      const c = await connectFrom(fresh.port, '127.0.5.1');
      assert.equal(await c.request('server.ping'), null);
      assert.equal(await c.request('blockchain.block.header', [2]), sim.headerHex(2));
      await c.close();
    } finally {
      await fresh.close();
    }
  });
});
