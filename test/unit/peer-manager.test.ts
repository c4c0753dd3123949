// SPDX-License-Identifier: MIT
/**
 * The peer manager's rules without sockets: a fake probe, a fake resolver, a
 * manual clock. What is reported (buckets, onion caps, private addresses),
 * add_peer's refusals, and Tor looked for again hourly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { defaultConfig } from '../../src/config/load.js';
import { networkByName } from '../../src/config/networks.js';
import type { DiscoveryConfig } from '../../src/config/types.js';
import { addressBucket, isPublicAddress, normalizeAddress } from '../../src/peers/addresses.js';
import { ADD_PEER_SESSION_PAUSE_MS, PeerManager, TOR_RETRY_MS, type Clock } from '../../src/peers/manager.js';
import type { ProbeResult, ProbeTarget } from '../../src/peers/probe.js';

const network = networkByName('regtest');
const silent = pino({ level: 'silent' });

function manager(opts: { discovery?: Partial<DiscoveryConfig>; resolve?: Record<string, string[]>; detect?: () => boolean } = {}) {
  const clock = { t: 1_000_000_000_000, now() { return this.t; } } satisfies Clock & { t: number };
  const probed: string[] = [];
  let detections = 0;
  const m = new PeerManager({
    network,
    discovery: { ...defaultConfig().discovery!, enabled: true, torProxy: null, ...opts.discovery },
    selfHosts: ['gw.example.org'],
    probe: async (t: ProbeTarget): Promise<ProbeResult> => {
      probed.push(t.host);
      return { kind: 'good', features: { serverVersion: 'x', protocolMin: '1.4', protocolMax: '1.6', pruning: null }, ports: t.ports, peerList: [], announced: false, via: t.host };
    },
    context: () => ({ ours: { genesisHash: network.genesisHash, protocolMin: '1.4', protocolMax: '1.6', tipHeight: 100, hashAt: () => undefined }, announce: null }),
    store: null,
    clock,
    logger: silent,
    resolve: async (h) => opts.resolve?.[h] ?? [],
    detectSocks: async () => {
      detections++;
      return opts.detect?.() ? { version: 5, host: '127.0.0.1', port: 9050 } : null;
    },
  });
  return { m, clock, probed, detections: () => detections };
}

const features = (host: string, genesis = network.genesisHash) => ({ hosts: { [host]: { tcp_port: 50001 } }, genesis_hash: genesis });

describe('peer addresses', () => {
  it('tells public from private, loopback, link-local and mapped addresses', () => {
    for (const a of ['8.8.8.8', '2001:4860::8888', '::ffff:1.2.3.4']) assert.ok(isPublicAddress(a), a);
    for (const a of ['10.0.0.1', '127.0.0.5', '192.168.1.1', '172.20.0.1', '169.254.1.1', '::1', 'fe80::1', 'fd00::1', '100.64.0.1', 'not-an-ip']) {
      assert.ok(!isPublicAddress(a), a);
    }
    assert.equal(normalizeAddress('::FFFF:10.1.2.3'), '10.1.2.3');
    assert.equal(addressBucket('8.8.4.4'), '8.8');
    assert.equal(addressBucket('2001:db8:1::1'), '2001:0db8');
    assert.equal(addressBucket('10.0.0.1'), null, 'private addresses are not bucketed');
  });
});

describe('peer manager', () => {
  it('reports at most two verified peers per /16, and never a private one unless allowed', async () => {
    const resolve = { 'a.example': ['8.8.1.1'], 'b.example': ['8.8.2.2'], 'c.example': ['8.8.3.3'], 'd.example': ['9.9.9.9'], 'p.example': ['10.0.0.7'] };
    const { m } = manager({ resolve });
    for (const h of Object.keys(resolve)) m.note(h, { tcp: 50001 }, 'config');
    await m.runDue();
    const hosts = m.subscribeAnswer(false).map((e) => e[1]);
    assert.equal(hosts.filter((h) => ['a.example', 'b.example', 'c.example'].includes(h)).length, 2, 'two of the 8.8/16 three');
    assert.ok(hosts.includes('d.example'));
    assert.ok(!hosts.includes('p.example'), 'a configured upstream at a private address is checked, never reported');
    assert.equal(m.table().find((p) => p.host === 'p.example')?.state, 'good');
  });

  it('takes no gossiped candidate at a private address, nor ourselves', () => {
    const { m } = manager();
    assert.equal(m.notePeerList([['10.1.1.1', '10.1.1.1', ['t50001']], ['gw.example.org', 'gw.example.org', ['t']], ['x', '8.8.8.8', ['t']]], 10), 1);
    assert.deepEqual(m.table().map((p) => p.host), ['8.8.8.8']);
  });

  it('caps onion peers: up to 50 to a connection from Tor, max(10, a quarter) to others', async () => {
    const { m } = manager({ discovery: { torProxy: 'socks5://127.0.0.1:9050' } });
    await m.start([], false);
    for (let i = 0; i < 60; i++) m.note(`onion${String(i).padStart(2, '0')}abcdefghij.onion`, { tcp: 50001 }, 'peer');
    await m.runDue();
    assert.equal(m.subscribeAnswer(true).length, 50);
    assert.equal(m.subscribeAnswer(false).length, 10);
    assert.ok(m.isFromTor('127.0.0.1') && m.isFromTor('::ffff:127.0.0.1') && !m.isFromTor('127.0.0.2'));
  });

  it('refuses add_peer for another network, without a port, from the same session within a minute, and for a host not resolving to the caller', async () => {
    const { m, clock } = manager({ resolve: { 'good.example': ['8.8.8.8'], 'other.example': ['9.9.9.9'] } });
    const s1 = {};
    assert.equal(await m.addPeer(features('good.example', '00'.repeat(32)), '8.8.8.8', {}), false, 'another network');
    assert.equal(await m.addPeer({ hosts: { 'good.example': {} }, genesis_hash: network.genesisHash }, '8.8.8.8', {}), false, 'no port');
    assert.equal(await m.addPeer(features('other.example'), '8.8.8.8', s1), false, 'resolves elsewhere');
    clock.t += 11 * 60_000;
    assert.equal(await m.addPeer(features('good.example'), '8.8.8.8', s1), true, 'a minute later the same session may');
    assert.equal(await m.addPeer(features('good2.example'), '8.8.8.8', s1), false, 'but not twice in a minute');
    clock.t += ADD_PEER_SESSION_PAUSE_MS;
    assert.equal(await m.addPeer(features('x.good.example'), '8.8.8.8', {}), false, 'one per domain in ten minutes');
    assert.equal(m.table().find((p) => p.host === 'good.example')?.state, 'new', 'accepted, not yet verified');
    assert.equal(m.subscribeAnswer(false).length, 0, 'nothing reported before verification');
  });

  it('a refused add_peer does not start the domain pause: the real server may still add itself', async () => {
    const { m } = manager({ resolve: { 'victim.example': ['8.8.4.4'] } });
    assert.equal(await m.addPeer(features('victim.example'), '9.9.9.9', {}), false, 'from an address it does not resolve to');
    assert.equal(await m.addPeer(features('victim.example'), '8.8.4.4', {}), true, 'from its own address, at once');
  });

  it('looks for Tor at start and again after an hour while it is not found, then takes onion peers', async () => {
    let up = false;
    const { m, clock, detections } = manager({ discovery: { torProxy: 'auto' }, detect: () => up });
    await m.start([], false);
    assert.equal(detections(), 1);
    assert.equal(m.note('abcdefghijklmnop.onion', { tcp: 50001 }, 'peer'), false, 'no onion without Tor');
    await m.runDue();
    assert.equal(detections(), 1, 'not again within the hour');
    up = true;
    clock.t += TOR_RETRY_MS;
    await m.runDue();
    assert.equal(detections(), 2);
    assert.deepEqual(m.tor, { version: 5, host: '127.0.0.1', port: 9050 });
    assert.equal(m.note('abcdefghijklmnop.onion', { tcp: 50001 }, 'peer'), true);
  });
});
