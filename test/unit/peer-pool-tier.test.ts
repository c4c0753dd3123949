// SPDX-License-Identifier: MIT
/** join_pool's bookkeeping: which good peers are pool upstreams, with a fake pool. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { newPeer, type PeerRecord } from '../../src/peers/peer.js';
import { MAX_POOL_PEERS, PeerPoolTier, peerUpstreamDefinition } from '../../src/peers/pool-tier.js';
import type { UpstreamDefinition } from '../../src/upstream/pool.js';

const good = (host: string, ports: PeerRecord['ports'] = { tcp: 50001 }): PeerRecord => ({
  ...newPeer(host, ports, 'peer'),
  features: { serverVersion: 'ElectrumX 1.18.0', protocolMin: '1.4', protocolMax: '1.4.3', pruning: null },
  lastGood: 1,
  lastTry: 1,
});

function fakePool() {
  const members = new Map<string, UpstreamDefinition>();
  const removed: string[] = [];
  return {
    members,
    removed,
    add: (def: UpstreamDefinition) => (members.has(def.name) ? false : (members.set(def.name, def), true)),
    remove: async (name: string) => (removed.push(name), members.delete(name)),
  };
}

describe('join_pool tier', () => {
  const tor = { version: 5 as const, host: '127.0.0.1', port: 9050 };

  it('defines a peer as a last-resort upstream, TLS first with certificates unchecked, onion through Tor', () => {
    const d = peerUpstreamDefinition(good('x.onion', { ssl: 50002, tcp: 50001 }), tor);
    assert.equal(d.name, 'peer:x.onion');
    assert.equal(d.lastResort, true);
    assert.equal(d.maxConnections, 1);
    assert.deepEqual(d.endpoints.map((e) => [e.scheme, e.port, e.tls?.insecure ?? null, e.socks?.port ?? null]), [
      ['tls', 50002, true, 9050],
      ['tcp', 50001, null, 9050],
    ]);
    assert.equal(peerUpstreamDefinition(good('a.example'), tor).endpoints[0]!.socks, undefined, 'clearnet peers are reached directly');
  });

  it('keeps the first four good peers, never a configured upstream, and follows changes', () => {
    const pool = fakePool();
    const tier = new PeerPoolTier(pool, new Set(['up.example']), () => null, () => 1000, pino({ level: 'silent' }));
    const list = ['up.example', 'a.example', 'b.example', 'c.example', 'd.example', 'e.example'].map((h) => good(h));
    tier.sync(list);
    assert.equal(MAX_POOL_PEERS, 4);
    assert.deepEqual([...pool.members.keys()], ['peer:a.example', 'peer:b.example', 'peer:c.example', 'peer:d.example']);
    // b turns stale (no longer in the good list): it leaves, e takes its place.
    tier.sync(list.filter((p) => p.host !== 'b.example'));
    assert.deepEqual(pool.removed, ['peer:b.example']);
    assert.deepEqual([...pool.members.keys()].sort(), ['peer:a.example', 'peer:c.example', 'peer:d.example', 'peer:e.example']);
    // a's ports changed: re-added with the new ones.
    tier.sync([good('a.example', { tcp: 60001 }), good('c.example'), good('d.example'), good('e.example')]);
    assert.equal(pool.members.get('peer:a.example')?.endpoints[0]?.port, 60001);
    tier.sync([]);
    assert.equal(pool.members.size, 0);
  });
});
