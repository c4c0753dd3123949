// SPDX-License-Identifier: MIT
/**
 * Chain anchoring against real simulators on a network with real difficulty
 * rules: mainnet's (bits fixed within a 2016-block period, no min-difficulty
 * blocks) with a limit easy enough to mine in a test, anchored on a custom
 * checkpoint at height 100 of the honest chain. The honest simulator mines at
 * bits 0x2000ffff (about 256 hashes a block); liars offer longer chains of the
 * easiest target (0x207fffff, about 2 hashes a block):
 *
 *  - one that shares the honest chain up to the checkpoint and then drops to
 *    the easiest target (breaking the rule that bits change only at a
 *    retarget, which anchoring used to skip);
 *  - one grown from genesis that never passes through the checkpoint.
 *
 * The liar answers first and claims the higher tip; the honest chain wins,
 * the liar is quarantined (named in /status, the state metric and the log),
 * the honest upstream is never called lagging, and wallets see the honest tip.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { NETWORKS, type Network } from '../../src/config/networks.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, type Notification } from '../helpers/rpc-client.js';

const HEADERS = 'blockchain.headers.subscribe';
const HONEST_BITS = 0x2000ffff;
const EASIEST_BITS = 0x207fffff;
const CHECKPOINT = 100;

/** Mainnet's retarget rules over regtest's genesis, with regtest's easy limit so blocks can be mined here. */
function rulesNetwork(checkpointHash: string): Network {
  return {
    ...NETWORKS.regtest,
    retarget: { interval: 2016, targetTimespanSeconds: 14 * 24 * 3600, powLimitBits: EASIEST_BITS, noRetargeting: false, allowMinDifficultyBlocks: false },
    checkpoints: [{ height: CHECKPOINT, hash: checkpointHash, chainwork: null }],
  };
}

function headerNotes(c: RpcClient): { height: number; hex: string }[] {
  return c.notifications.filter((n: Notification) => n.method === HEADERS).map((n) => n.params[0] as { height: number; hex: string });
}

function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (want.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('chain anchoring on a checkpoint, by work', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function honestSim(seed: string): Promise<Simulator> {
    const sim = await Simulator.start({ seed, initialBlocks: 140, bits: (h) => (h === 0 ? EASIEST_BITS : HONEST_BITS) });
    cleanups.push(() => sim.stop());
    return sim;
  }

  async function run(liar: Simulator, honest: Simulator, reason: RegExp): Promise<void> {
    const tg: TestGateway = await startTestGateway({
      upstreams: [
        { host: liar.host, port: liar.port, name: 'X' },
        { host: honest.host, port: honest.port, name: 'H' },
      ],
      admin: true,
      captureLogs: 'info',
      tweak: (c) => ({ ...c, network: rulesNetwork(honest.blockHash(CHECKPOINT)) }),
    });
    cleanups.push(() => tg.close());
    await RpcClient.until(
      () => tg.gateway.tracker.tip?.height === 140 && tg.gateway.pool.state('X') === 'quarantined' && tg.gateway.pool.state('H') === 'healthy',
      'the honest chain anchored and the liar quarantined',
      20_000,
    );
    assert.equal(tg.gateway.tracker.tip?.hex, honest.headerHex(140));
    assert.equal(tg.gateway.tracker.hashAt(120), honest.blockHash(120));
    const doc = await tg.status();
    const x = doc.upstreams.find((u) => u.name === 'X')!;
    assert.equal(x.state, 'quarantined');
    assert.match(String(x['quarantine']), reason);
    assert.deepEqual(doc['tip'], { height: 140, hash: honest.blockHash(140) });
    const m = await tg.metrics();
    assert.equal(metric(m, 'electrum_gateway_upstream_state', { upstream: 'X', state: 'quarantined' }), 1);
    assert.equal(metric(m, 'electrum_gateway_upstream_state', { upstream: 'H', state: 'healthy' }), 1);
    assert.ok(
      tg.logs.some((r) => r['upstream'] === 'X' && r['msg'] === 'upstream quarantined'),
      'the log names the liar',
    );
    // The liar claimed the higher tip first; the honest upstream was never called behind.
    assert.deepEqual(
      tg.logs.filter((r) => r['upstream'] === 'H' && (r['to'] === 'lagging' || r['to'] === 'quarantined')),
      [],
      'the honest upstream was never lagging or quarantined',
    );

    const c = await RpcClient.connect(tg.port);
    cleanups.push(() => c.close());
    await c.request('server.version', ['anchoring-test', '1.6']);
    assert.deepEqual(await c.request(HEADERS), { height: 140, hex: honest.headerHex(140) });
    assert.equal(await c.request('blockchain.block.header', [130]), honest.headerHex(130));
    honest.mine(1);
    liar.mine(3);
    await RpcClient.until(() => headerNotes(c).length > 0, 'the honest 141', 10_000);
    assert.deepEqual(headerNotes(c), [{ height: 141, hex: honest.headerHex(141) }]);
    assert.equal(tg.gateway.pool.state('X'), 'quarantined');
  }

  it('a longer chain that drops to the easiest target right after the checkpoint loses to the honest one', { timeout: 60_000 }, async () => {
    const honest = await honestSim('anchoring-easy');
    const liar = await Simulator.start({ seed: 'anchoring-easy', initialBlocks: 180, bits: (h) => (h === 0 || h > CHECKPOINT ? EASIEST_BITS : HONEST_BITS) });
    cleanups.push(() => liar.stop());
    assert.equal(liar.blockHash(CHECKPOINT), honest.blockHash(CHECKPOINT), 'the liar holds the checkpoint');
    assert.notEqual(liar.blockHash(CHECKPOINT + 1), honest.blockHash(CHECKPOINT + 1));
    await run(liar, honest, /header 101: bits 0x207fffff changed from 0x2000ffff outside a retarget/);
  });

  it('a longer chain from genesis that does not pass through the checkpoint is never anchored on', { timeout: 60_000 }, async () => {
    const honest = await honestSim('anchoring-other');
    const liar = await Simulator.start({ seed: 'anchoring-other-liar', initialBlocks: 300 });
    cleanups.push(() => liar.stop());
    await run(liar, honest, /not the checkpoint/);
  });
});
