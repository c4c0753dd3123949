// SPDX-License-Identifier: MIT
/**
 * Chaos: one of two upstreams killed and restarted every 2 s under load.
 *
 * Two simulators with the same seed (the same chain) sit behind the gateway;
 * the second is stopped and restarted (same port) on a 2 s cycle for the whole
 * run while wallets ask idempotent questions with the cache off (so the
 * questions reach the upstreams), blocks are mined and wallets are paid on
 * both simulators. Must be 0: failed idempotent requests, wrong answers,
 * dropped sessions, lost and duplicated notifications (a header height or an
 * address status a wallet did not get, or got twice).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';
import { duration, nonZero, report, sleep } from './figures.js';
import { ask, headerHeights, openWallet, stableQuestions, statuses, type Wallet } from './load.js';

const RUN_MS = duration(20_000, 60_000);
const WALLETS = 16;
const CYCLE_MS = 2_000;

describe('chaos: an upstream killed and restarted every 2 s under load', () => {
  let stable: Simulator;
  let flapping: Simulator;
  let gw: TestGateway;

  before(async () => {
    stable = await Simulator.start({ seed: 'chaos-flap', initialBlocks: 140 });
    flapping = await Simulator.start({ seed: 'chaos-flap', initialBlocks: 140 });
    gw = await startTestGateway({
      upstreams: [
        { host: stable.host, port: stable.port, name: 'stable' },
        { host: flapping.host, port: flapping.port, name: 'flapping' },
      ],
      requestTimeoutMs: 10_000,
      tweak: (c) => ({ ...c, cache: { ...c.cache, memoryBytes: 0 } }),
    });
    await untilForwarding(gw.port);
    await RpcClient.until(() => gw.gateway.pool.status().every((u) => u.state === 'healthy'), 'both upstreams healthy', 10_000);
  });

  after(async () => {
    await gw?.close();
    await stable?.stop();
    await flapping?.stop();
  });

  it('fails no idempotent request, drops no session, loses or repeats no notification', async () => {
    const wallets: Wallet[] = [];
    for (let i = 0; i < WALLETS; i++) wallets.push(await openWallet(gw.port, 'chaos-flap', `w${i}`));
    const startTip = stable.tipHeight();
    const questions = stableQuestions(stable, 200);
    let stopping = false;
    const load = wallets.map((w, i) => ask(w, questions, () => stopping, 10, i * 13));

    // Every status a wallet's address goes through, from the stable simulator's view; the first is
    // the one the subscribe answered, the others must each be notified.
    const expectedStatuses = new Map<string, (string | null)[]>(wallets.map((w) => [w.scripthash, [stable.status(w.scripthash)]]));
    const changed = (): void => {
      for (const w of wallets) {
        const s = stable.status(w.scripthash);
        const seen = expectedStatuses.get(w.scripthash)!;
        if (seen[seen.length - 1] !== s) seen.push(s);
      }
    };
    let kills = 0;
    let blocks = 0;
    let payments = 0;
    const deadline = Date.now() + RUN_MS;
    const flap = (async () => {
      while (Date.now() < deadline) {
        await flapping.stop();
        kills++;
        await sleep(CYCLE_MS / 2);
        await flapping.restart();
        await sleep(CYCLE_MS / 2);
      }
    })();
    // The chain moves on both simulators alike: a payment, then a block, every 1.5 s.
    let n = 0;
    while (Date.now() < deadline) {
      const w = wallets[n++ % wallets.length]!;
      const a = stable.pay(w.address, 10_000 + n);
      const b = flapping.pay(w.address, 10_000 + n);
      assert.equal(a, b, 'both simulators make the same payment');
      payments++;
      changed();
      await sleep(750);
      stable.mine();
      flapping.mine();
      blocks++;
      changed();
      await sleep(750);
    }
    await flap;
    // Let the last notifications arrive before judging.
    const finalTip = stable.tipHeight();
    await RpcClient.until(
      () => wallets.every((w) => headerHeights(w.client.notifications).at(-1) === finalTip && statuses(w.client.notifications, w.scripthash).at(-1) === stable.status(w.scripthash)),
      'every wallet to see the final tip and its final status',
      15_000,
    ).catch(() => undefined);
    stopping = true;
    await Promise.all(load);

    let lost = 0;
    let duplicated = 0;
    const lostWhat: string[] = [];
    for (const w of wallets) {
      const heights = headerHeights(w.client.notifications);
      for (let h = startTip + 1; h <= finalTip; h++) {
        if (!heights.includes(h)) {
          lost++;
          lostWhat.push(`header ${h}`);
        }
      }
      duplicated += heights.length - new Set(heights).size;
      const got = statuses(w.client.notifications, w.scripthash);
      for (let i = 1; i < got.length; i++) if (got[i] === got[i - 1]) duplicated++;
      expectedStatuses.get(w.scripthash)!.forEach((s, i) => {
        if (i > 0 && !got.includes(s)) {
          lost++;
          lostWhat.push(`status #${i} of ${w.address}`);
        }
      });
    }
    const figures = {
      scenario: 'upstream flapping',
      setup: `${RUN_MS / 1000} s; 2 upstreams, one killed and restarted every ${CYCLE_MS / 1000} s; ${WALLETS} wallets; cache off; a payment and a block every 1.5 s`,
      figures: {
        requests: wallets.reduce((a, w) => a + w.requests, 0),
        kills,
        blocks,
        payments,
        failed_idempotent_requests: wallets.reduce((a, w) => a + w.failures.length, 0),
        wrong_answers: wallets.reduce((a, w) => a + w.wrong.length, 0),
        dropped_sessions: wallets.filter((w) => w.dropped).length,
        lost_notifications: lost,
        duplicated_notifications: duplicated,
      },
      mustBeZero: ['failed_idempotent_requests', 'wrong_answers', 'dropped_sessions', 'lost_notifications', 'duplicated_notifications'],
    };
    report(figures);
    const failures = wallets.flatMap((w) => w.failures).slice(0, 5);
    assert.equal(nonZero(figures), '', `first failures: ${JSON.stringify(failures)}; lost: ${lostWhat.slice(0, 10).join(', ')}`);
    assert.ok(kills >= 2 && blocks >= 2, 'the scenario did kill the upstream and move the chain');
    for (const w of wallets) await w.client.close();
  });
});
