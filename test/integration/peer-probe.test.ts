// SPDX-License-Identifier: MIT
/**
 * The probe over real sockets against simulators answering server.features as
 * ElectrumX 1.18 and Fulcrum 2.1 do (test/vectors/peer-features.ts), the
 * other port tried when the first does not answer, and every refusal from a
 * simulator set up to earn it: another network, a fork 10 blocks deep, a tip
 * 20 behind, hosts not listing the host reached, no protocol overlap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { probePeer, type ProbeContext } from '../../src/peers/probe.js';
import type { OurView } from '../../src/peers/verify.js';
import { Simulator } from '../sim/index.js';
import { freePort } from '../helpers/ports.js';
import { ELECTRUMX_1_18_FEATURES, FULCRUM_2_1_FEATURES, MAINNET_GENESIS, servedBy } from '../vectors/peer-features.js';

const log = pino({ level: 'silent' });
const opts = { clientName: 'electrum-gateway test', protocolRange: ['1.4', '1.6'] as const, timeoutMs: 5000, maxMessageBytes: 1_000_000, logger: log };

describe('peer probe', () => {
  let ours: Simulator;
  let electrumx: Simulator;
  let fulcrum: Simulator;
  let view: OurView;

  before(async () => {
    ours = await Simulator.start({ host: '127.0.0.30', initialBlocks: 120 });
    const genesis = ours.genesisHash;
    electrumx = await Simulator.start({
      host: '127.0.0.31',
      initialBlocks: 120,
      protocolMax: '1.4.3',
      serverVersion: 'ElectrumX 1.18.0',
      features: () => servedBy(ELECTRUMX_1_18_FEATURES, '127.0.0.31', electrumx.port, genesis),
    });
    fulcrum = await Simulator.start({
      host: '127.0.0.32',
      initialBlocks: 121,
      serverVersion: 'Fulcrum 2.1.0',
      features: () => servedBy(FULCRUM_2_1_FEATURES, '127.0.0.32', fulcrum.port, genesis),
    });
    view = { genesisHash: genesis, protocolMin: '1.4', protocolMax: '1.6', tipHeight: ours.tipHeight(), hashAt: (h) => (h <= ours.tipHeight() ? ours.blockHash(h) : undefined) };
  });
  after(async () => {
    await Promise.all([ours.stop(), electrumx.stop(), fulcrum.stop()]);
  });

  const ctx = (): ProbeContext => ({ ours: view, torProxy: null, announce: null });

  it('accepts an ElectrumX 1.18 answer and keeps its version and protocol range', async () => {
    const r = await probePeer({ host: '127.0.0.31', ports: { tcp: electrumx.port } }, ctx(), opts);
    assert.equal(r.kind, 'good', JSON.stringify(r));
    if (r.kind !== 'good') return;
    assert.deepEqual(r.features, { serverVersion: 'ElectrumX 1.18.0', protocolMin: '1.4', protocolMax: '1.4.3', pruning: null });
    assert.deepEqual(r.ports, { tcp: electrumx.port });
    assert.equal(r.via, `tcp://127.0.0.31:${electrumx.port}`);
  });

  it('accepts a Fulcrum 2.1 answer (dsproof, broadcast_package and sorted keys ignored), one block ahead', async () => {
    const r = await probePeer({ host: '127.0.0.32', ports: { tcp: fulcrum.port } }, ctx(), opts);
    assert.equal(r.kind, 'good', JSON.stringify(r));
    if (r.kind !== 'good') return;
    assert.deepEqual(r.features, { serverVersion: 'Fulcrum 2.1.0', protocolMin: '1.4', protocolMax: '1.6', pruning: null });
  });

  it('refuses the same fixtures unchanged: they are mainnet servers', async () => {
    const mainnet = await Simulator.start({ host: '127.0.0.33', initialBlocks: 120, features: (base) => ({ ...FULCRUM_2_1_FEATURES, hosts: base.hosts }) });
    try {
      const r = await probePeer({ host: '127.0.0.33', ports: { tcp: mainnet.port } }, ctx(), opts);
      assert.equal(r.kind, 'refused');
      assert.equal(r.kind === 'refused' && r.refusal, 'wrong-network');
    } finally {
      await mainnet.stop();
    }
  });

  it('tries the TCP port when the TLS one refuses the connection', async () => {
    const closed = await freePort('127.0.0.31');
    const r = await probePeer({ host: '127.0.0.31', ports: { ssl: closed, tcp: electrumx.port } }, ctx(), opts);
    assert.equal(r.kind, 'good', JSON.stringify(r));
    assert.equal(r.kind === 'good' && r.via, `tcp://127.0.0.31:${electrumx.port}`);
  });

  it('says unreachable, naming the port, when neither port answers', async () => {
    const a = await freePort('127.0.0.31');
    const r = await probePeer({ host: '127.0.0.31', ports: { tcp: a } }, ctx(), opts);
    assert.equal(r.kind, 'unreachable');
    assert.match(r.kind === 'unreachable' ? r.reason : '', new RegExp(`tcp://127\\.0\\.0\\.31:${a}`));
  });

  it('refuses a simulator of another network (its genesis) as wrong-network, at server.features', async () => {
    const other = await Simulator.start({ host: '127.0.0.34', initialBlocks: 120, genesisHash: MAINNET_GENESIS });
    try {
      const r = await probePeer({ host: '127.0.0.34', ports: { tcp: other.port } }, ctx(), opts);
      assert.equal(r.kind, 'refused', JSON.stringify(r));
      assert.equal(r.kind === 'refused' && r.refusal, 'wrong-network');
      assert.equal(other.stats.requests['blockchain.block.header'] ?? 0, 0, 'nothing more is asked of another network');
    } finally {
      await other.stop();
    }
  });

  it('refuses a simulator on a fork 10 blocks deep: its tip is close, its header at tip-10 is not ours', async () => {
    const forked = await Simulator.start({ host: '127.0.0.35', initialBlocks: 120 });
    forked.reorg(10);
    try {
      assert.ok(Math.abs(forked.tipHeight() - view.tipHeight) <= 5, 'the tip alone would pass');
      const r = await probePeer({ host: '127.0.0.35', ports: { tcp: forked.port } }, ctx(), opts);
      assert.equal(r.kind, 'refused', JSON.stringify(r));
      assert.equal(r.kind === 'refused' && r.refusal, 'fork');
      // The same sim before its reorg would pass: the refusal is the fork, not the set-up.
      const same = await Simulator.start({ host: '127.0.0.35', initialBlocks: 120 });
      try {
        const ok = await probePeer({ host: '127.0.0.35', ports: { tcp: same.port } }, ctx(), opts);
        assert.equal(ok.kind, 'good', JSON.stringify(ok));
      } finally {
        await same.stop();
      }
    } finally {
      await forked.stop();
    }
  });

  it('refuses a simulator lagging 20 blocks', async () => {
    const lagging = await Simulator.start({ host: '127.0.0.36', initialBlocks: 100 });
    try {
      const r = await probePeer({ host: '127.0.0.36', ports: { tcp: lagging.port } }, ctx(), opts);
      assert.equal(r.kind, 'refused', JSON.stringify(r));
      assert.equal(r.kind === 'refused' && r.refusal, 'lagging');
    } finally {
      await lagging.stop();
    }
  });

  it('refuses a simulator whose hosts do not list the host it was reached at', async () => {
    const elsewhere = await Simulator.start({ host: '127.0.0.37', initialBlocks: 120, features: (b) => ({ ...b, hosts: { 'elsewhere.example.org': { tcp_port: 50001 } } }) });
    try {
      const r = await probePeer({ host: '127.0.0.37', ports: { tcp: elsewhere.port } }, ctx(), opts);
      assert.equal(r.kind, 'refused', JSON.stringify(r));
      assert.equal(r.kind === 'refused' && r.refusal, 'hosts');
    } finally {
      await elsewhere.stop();
    }
  });

  it('refuses a simulator whose protocol range does not overlap ours', async () => {
    const old = await Simulator.start({ host: '127.0.0.38', initialBlocks: 120, features: (b) => ({ ...b, protocol_min: '1.0', protocol_max: '1.2' }) });
    try {
      const r = await probePeer({ host: '127.0.0.38', ports: { tcp: old.port } }, ctx(), { ...opts, protocolRange: ['1.2', '1.6'] as const });
      assert.equal(r.kind, 'refused', JSON.stringify(r));
      assert.equal(r.kind === 'refused' && r.refusal, 'protocol');
    } finally {
      await old.stop();
    }
  });

  it('judges nothing before the chain tracker has a tip', async () => {
    const r = await probePeer({ host: '127.0.0.31', ports: { tcp: electrumx.port } }, { ours: null, torProxy: null, announce: null }, opts);
    assert.equal(r.kind, 'unreachable');
  });
});
