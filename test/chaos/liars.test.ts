// SPDX-License-Identifier: MIT
/**
 * Chaos: a lying upstream of every kind in the pool. One honest simulator and
 * three with the same chain that lie (the simulator's lie knobs): headers with
 * a wrong prev-hash and failing PoW, merkle branches with a wrong sibling,
 * transactions one satoshi off. Wallets ask for headers (deep and near the
 * tip, while blocks are mined), transactions and merkle proofs, with the cache
 * on; every answer is compared with the honest chain. Must be 0: poisoned
 * answers served, and errors (an honest upstream can always answer).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { merkle } from '../helpers/merkle.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { duration, nonZero, report, sleep } from './figures.js';
import { ask, openWallet, stableQuestions, type Question, type Wallet } from './load.js';

const WALLETS = 10;
const RUN_MS = duration(6_000, 15_000);
const LIES = ['header', 'merkle', 'tx'] as const;

/** Questions whose every answer must be the honest chain's, merkle branches checked leaf to root. */
function honestQuestions(honest: Simulator): Question[] {
  const out = stableQuestions(honest, 150, 3).map((q): Question => {
    if (q.method !== 'blockchain.transaction.get_merkle') return q;
    const [txid, h] = q.params as [string, number];
    const leaves = honest.blockTxids(h);
    const want = merkle(leaves, leaves.indexOf(txid)).branch;
    return { ...q, expect: (r) => (JSON.stringify((r as { merkle?: unknown }).merkle) === JSON.stringify(want) ? null : `merkle of ${txid}`) };
  });
  // id_from_pos with a merkle proof, checked the same way.
  for (const h of [101, 105, 111, 117]) {
    const leaves = honest.blockTxids(h);
    const want = merkle(leaves, 1).branch;
    out.push({
      method: 'blockchain.transaction.id_from_pos',
      params: [h, 1, true],
      expect: (r) => {
        const a = r as { tx_hash?: unknown; merkle?: unknown };
        return a.tx_hash === leaves[1] && JSON.stringify(a.merkle) === JSON.stringify(want) ? null : `id_from_pos ${h}:1`;
      },
    });
  }
  return out;
}

describe('chaos: a lying upstream of every kind in the pool', () => {
  let honest: Simulator;
  const liars: Simulator[] = [];
  let gw: TestGateway;

  before(async () => {
    honest = await Simulator.start({ seed: 'chaos-liars', initialBlocks: 140 });
    for (const kind of LIES) {
      const sim = await Simulator.start({ seed: 'chaos-liars', initialBlocks: 140 });
      sim.lie(kind);
      liars.push(sim);
    }
    gw = await startTestGateway({
      upstreams: [{ host: honest.host, port: honest.port, name: 'honest' }, ...liars.map((s, i) => ({ host: s.host, port: s.port, name: `liar-${LIES[i]}` }))],
      requestTimeoutMs: 10_000,
    });
    await untilForwarding(gw.port);
  });

  after(async () => {
    await gw?.close();
    await honest?.stop();
    for (const s of liars) await s.stop();
  });

  it('serves no poisoned answer', async () => {
    const wallets: Wallet[] = [];
    for (let i = 0; i < WALLETS; i++) wallets.push(await openWallet(gw.port, 'chaos-liars', `w${i}`));
    const deep = honestQuestions(honest);
    let stopping = false;
    const load = wallets.map((w, i) => ask(w, deep, () => stopping, 5, i * 11));
    // Near the tip: new blocks on every simulator, headers asked right after, and the tips notified.
    const nearTip: string[] = [];
    let blocks = 0;
    const deadline = Date.now() + RUN_MS;
    const probe = wallets[0]!;
    while (Date.now() < deadline) {
      for (const s of [honest, ...liars]) s.mine();
      blocks++;
      const tip = honest.tipHeight();
      await sleep(300);
      for (const h of [tip, tip - 1, tip - 2]) {
        try {
          const hex = await probe.client.request('blockchain.block.header', [h]);
          probe.requests++;
          if (hex !== honest.headerHex(h)) nearTip.push(`header ${h}`);
        } catch (err) {
          probe.failures.push(`near-tip header ${h}: ${(err as Error).message}`);
        }
      }
      await sleep(300);
    }
    stopping = true;
    await Promise.all(load);
    // Every tip a wallet was told of is the honest chain's.
    let poisonedTips = 0;
    for (const w of wallets) {
      for (const n of w.client.notifications) {
        if (n.method !== 'blockchain.headers.subscribe') continue;
        const t = n.params[0] as { height: number; hex: string };
        if (t.hex !== honest.headerHex(t.height)) poisonedTips++;
      }
    }
    const status = gw.gateway.pool.status();
    const figures = {
      scenario: 'lying upstreams',
      setup: `1 honest + 3 lying upstreams (${LIES.join(', ')}); ${WALLETS} wallets; cache on; ${RUN_MS / 1000} s with a block every 0.6 s`,
      figures: {
        requests: wallets.reduce((a, w) => a + w.requests, 0),
        blocks,
        poisoned_answers_served: wallets.reduce((a, w) => a + w.wrong.length, 0) + nearTip.length,
        poisoned_tips_notified: poisonedTips,
        errors_to_wallets: wallets.reduce((a, w) => a + w.failures.length, 0),
        dropped_sessions: wallets.filter((w) => w.dropped).length,
        liars_out_of_rotation: status.filter((u) => u.name.startsWith('liar-') && u.state !== 'healthy').length,
      },
      mustBeZero: ['poisoned_answers_served', 'poisoned_tips_notified', 'errors_to_wallets', 'dropped_sessions'],
    };
    report(figures);
    const wrong = [...wallets.flatMap((w) => w.wrong), ...nearTip].slice(0, 5);
    const failed = wallets.flatMap((w) => w.failures).slice(0, 5);
    assert.equal(nonZero(figures), '', `poisoned: ${JSON.stringify(wrong)}; failed: ${JSON.stringify(failed)}; pool: ${JSON.stringify(status.map((u) => [u.name, u.state]))}`);
    for (const w of wallets) await w.client.close();
  });
});
