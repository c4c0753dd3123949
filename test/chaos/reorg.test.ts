// SPDX-License-Identifier: MIT
/**
 * Chaos: reorgs of depth 1, 3 and 7 under load. Wallets keep asking for the
 * headers of the last blocks and merkle proofs of the transactions in them,
 * with the cache on (its minimum depth of 6 is below the deepest reorg, so
 * cached answers about orphaned blocks are possible). Each answer is judged
 * against the chain as it was when the request was sent and as it is when the
 * answer arrives; only requests sent after the gateway's tracker had followed
 * the last reorg are judged (before that a stale answer is the upstream
 * notification racing the request, not the gateway serving what it knew was
 * orphaned). Must be 0: orphaned headers and orphaned merkle proofs served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { merkle } from '../helpers/merkle.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { testP2wpkh, untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { duration, nonZero, report, sleep } from './figures.js';

const WALLETS = 10;
const DEPTHS = [1, 3, 7];
const RECENT = 12;
const LOAD_MS = duration(1_500, 4_000);

/** The chain as it stands: header and txids of the recent heights. */
interface ChainView {
  readonly tip: number;
  readonly headers: Map<number, string>;
  readonly txids: Map<number, string[]>;
}

function view(sim: Simulator): ChainView {
  const tip = sim.tipHeight();
  const headers = new Map<number, string>();
  const txids = new Map<number, string[]>();
  for (let h = Math.max(1, tip - RECENT - 8); h <= tip; h++) {
    headers.set(h, sim.headerHex(h));
    txids.set(h, sim.blockTxids(h));
  }
  return { tip, headers, txids };
}

describe('chaos: reorgs of depth 1, 3 and 7 under load', () => {
  let sim: Simulator;
  let gw: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'chaos-reorg', initialBlocks: 140 });
    gw = await startTestGateway({ upstreams: [sim] });
    await untilForwarding(gw.port);
  });

  after(async () => {
    await gw?.close();
    await sim?.stop();
  });

  it('serves no header and no merkle proof of an orphaned block once the gateway follows the reorg', async () => {
    let current = view(sim);
    /** Bumped on every chain change; `followed` is the last one the gateway's tracker has reached. */
    let epoch = 0;
    let followed = 0;
    const views = new Map<number, ChainView>([[0, current]]);
    const follow = async (): Promise<void> => {
      const tipHex = sim.headerHex(sim.tipHeight());
      await RpcClient.until(() => gw.gateway.tracker.tip?.hex === tipHex, 'the gateway to follow the chain', 10_000);
      followed = epoch;
    };
    const changed = (): void => {
      current = view(sim);
      views.set(++epoch, current);
    };
    let headerAnswers = 0;
    let merkleAnswers = 0;
    let judged = 0;
    let orphanedHeaders = 0;
    let orphanedMerkle = 0;
    let failures = 0;
    const examples: string[] = [];
    let stopping = false;

    const wallet = async (i: number): Promise<void> => {
      const c = await RpcClient.connect(gw.port, '127.0.0.1', 10_000);
      await c.request('server.version', [`chaos-reorg-${i}`, '1.4']);
      let n = i;
      while (!stopping) {
        n++;
        const sent = epoch;
        const judge = followed === sent;
        const v = views.get(sent)!;
        const h = v.tip - (n % RECENT);
        const ids = v.txids.get(h) ?? [];
        try {
          if (n % 2 === 0 || ids.length < 2) {
            const hex = (await c.request('blockchain.block.header', [h])) as string;
            headerAnswers++;
            if (!judge) continue;
            judged++;
            const now = views.get(epoch)!;
            if (hex !== v.headers.get(h) && hex !== now.headers.get(h)) {
              orphanedHeaders++;
              if (examples.length < 5) examples.push(`header ${h} (sent at epoch ${sent})`);
            }
          } else {
            const pos = 1 + (n % (ids.length - 1));
            const txid = ids[pos]!;
            const r = (await c.request('blockchain.transaction.get_merkle', [txid, h])) as { merkle: string[]; pos: number; block_height: number };
            merkleAnswers++;
            if (!judge) continue;
            judged++;
            const inChain = (cv: ChainView): boolean => {
              const leaves = cv.txids.get(h);
              return leaves !== undefined && leaves[r.pos] === txid && JSON.stringify(merkle(leaves, r.pos).branch) === JSON.stringify(r.merkle);
            };
            if (!inChain(v) && !inChain(views.get(epoch)!)) {
              orphanedMerkle++;
              if (examples.length < 5) examples.push(`merkle of ${txid} at ${h} (sent at epoch ${sent})`);
            }
          }
        } catch (err) {
          // "tx not in block" for a transaction the reorg sent back to the mempool is a right answer.
          if (!(err instanceof RpcCallError)) failures++;
        }
      }
      await c.close();
    };

    // Blocks with several transactions each, so merkle proofs near the tip are not trivial.
    const busyBlocks = (n: number): void => {
      for (let b = 0; b < n; b++) {
        for (let k = 0; k < 3; k++) sim.pay(testP2wpkh('chaos-reorg', `pay${b}-${k}`).address, 20_000 + k);
        sim.mine();
      }
      changed();
    };
    busyBlocks(RECENT);
    await follow();
    const load = Array.from({ length: WALLETS }, (_, i) => wallet(i));
    const reorgs: string[] = [];
    for (const depth of DEPTHS) {
      busyBlocks(depth + 1);
      await follow();
      await sleep(LOAD_MS);
      const orphaned = sim.reorg(depth);
      reorgs.push(`${depth}:${orphaned.length}`);
      changed();
      await follow();
      await sleep(LOAD_MS);
    }
    stopping = true;
    await Promise.all(load);

    const figures = {
      scenario: 'reorgs',
      setup: `depths ${DEPTHS.join(', ')}; ${WALLETS} wallets asking for the last ${RECENT} headers and their merkle proofs; cache on (min depth 6)`,
      figures: {
        header_answers: headerAnswers,
        merkle_answers: merkleAnswers,
        judged_answers: judged,
        orphaned_headers_served: orphanedHeaders,
        orphaned_merkle_proofs_served: orphanedMerkle,
        transport_failures: failures,
      },
      mustBeZero: ['orphaned_headers_served', 'orphaned_merkle_proofs_served', 'transport_failures'],
    };
    report(figures);
    assert.equal(nonZero(figures), '', `examples: ${examples.join('; ')}`);
    assert.deepEqual(reorgs, DEPTHS.map((d) => `${d}:${d}`), 'each reorg orphaned as many blocks as its depth');
    assert.ok(judged > 100, 'enough answers were judged');
  });
});
