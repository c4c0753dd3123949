// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { NETWORKS } from '../../src/config/networks.js';
import { newPeer, parsePeerEntry, peerState, portsFromFeatures, subscribeEntry, type PeerRecord } from '../../src/peers/peer.js';
import { decodePeersFile, encodePeersFile, PeersFileError } from '../../src/peers/peers-file.js';
import { afterFailure, afterSuccess, duePeers, nextTryAt, RECHECK_GOOD_MS } from '../../src/peers/schedule.js';
import { PeersStore } from '../../src/peers/store.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const bitcoin = NETWORKS.bitcoin;
const FEATURES = { serverVersion: 'ElectrumX 1.18.0', protocolMin: '1.4', protocolMax: '1.6', pruning: null };

describe('peer records', () => {
  it('takes the ports of the host reached from features.hosts, ignoring other hosts and bad ports', () => {
    const features = { hosts: { 'Electrum.Example.com': { tcp_port: 50001, ssl_port: 50002 }, 'x.onion': { tcp_port: 1 } } };
    assert.deepEqual(portsFromFeatures(features, 'electrum.example.com'), { tcp: 50001, ssl: 50002 });
    assert.equal(portsFromFeatures(features, 'other.example.com'), null);
    assert.deepEqual(portsFromFeatures({ hosts: { h: { tcp_port: 70000, ssl_port: null } } }, 'h'), {});
    assert.equal(portsFromFeatures('nonsense', 'h'), null);
  });

  it('reads peers.subscribe entries, bare letters meaning the network default port', () => {
    assert.deepEqual(parsePeerEntry(['1.2.3.4', 'E.Example.org', ['v1.4', 'p10000', 't', 's995']], bitcoin), {
      host: 'e.example.org',
      ports: { tcp: 50001, ssl: 995 },
    });
    assert.equal(parsePeerEntry(['1.2.3.4', 'e.example.org', ['v1.4']], bitcoin), null, 'no transport');
    assert.equal(parsePeerEntry(['1.2.3.4', 'bad host!', ['t']], bitcoin), null);
    assert.equal(parsePeerEntry('junk', bitcoin), null);
  });

  it('writes the protocol form [ip, host, [v, p, s, t]]', () => {
    const p = afterSuccess(newPeer('e.example.org', { tcp: 50001, ssl: 50012 }, 'peer'), 1000, { ...FEATURES, pruning: 10000 }, ['1.2.3.4']);
    assert.deepEqual(subscribeEntry(p, bitcoin), ['1.2.3.4', 'e.example.org', ['v1.6', 'p10000', 's50012', 't']]);
  });

  it('states follow the record: new, good, stale after 24 h or a failure, failing when never good', () => {
    const fresh = newPeer('h.example', { tcp: 1 }, 'config');
    assert.equal(peerState(fresh, 0), 'new');
    const good = afterSuccess(fresh, 0, FEATURES, []);
    assert.equal(peerState(good, 23 * HOUR), 'good');
    assert.equal(peerState(good, 24 * HOUR), 'stale');
    assert.equal(peerState(afterFailure(good, HOUR)!, HOUR), 'stale');
    assert.equal(peerState(afterFailure(fresh, 0)!, 0), 'failing');
  });
});

describe('peer schedule', () => {
  it('re-verifies good peers every 3 h and backs failures off 10, 20, 40 min', () => {
    let p: PeerRecord = afterSuccess(newPeer('h.example', { tcp: 1 }, 'config'), 0, FEATURES, []);
    assert.equal(nextTryAt(p), RECHECK_GOOD_MS);
    const waits: number[] = [];
    let t = 0;
    for (let i = 0; i < 3; i++) {
      p = afterFailure(p, t)!;
      waits.push((nextTryAt(p) - t) / MIN);
      t = nextTryAt(p);
    }
    assert.deepEqual(waits, [10, 20, 40]);
  });

  it('forgets a never-good peer after 3 failures and any peer after 10', () => {
    let fresh: PeerRecord | null = newPeer('h.example', { tcp: 1 }, 'peer');
    let n = 0;
    while (fresh) {
      fresh = afterFailure(fresh, 0);
      n++;
    }
    assert.equal(n, 3);
    let good: PeerRecord | null = afterSuccess(newPeer('g.example', { tcp: 1 }, 'peer'), 0, FEATURES, []);
    n = 0;
    while (good) {
      good = afterFailure(good, 0);
      n++;
    }
    assert.equal(n, 10);
  });

  it('puts peers about to turn stale first among those due', () => {
    const now = 20 * HOUR;
    const older = afterSuccess(newPeer('older.example', { tcp: 1 }, 'peer'), 1 * HOUR, FEATURES, []);
    const newer = afterSuccess(newPeer('newer.example', { tcp: 1 }, 'peer'), 10 * HOUR, FEATURES, []);
    const fresh = newPeer('fresh.example', { tcp: 1 }, 'peer');
    const notDue = afterSuccess(newPeer('recent.example', { tcp: 1 }, 'peer'), 19 * HOUR, FEATURES, []);
    assert.deepEqual(duePeers([fresh, newer, notDue, older], now).map((p) => p.host), ['older.example', 'newer.example', 'fresh.example']);
  });
});

describe('peers file', () => {
  const good = afterSuccess(newPeer('e.example.org', { tcp: 50001, ssl: 50002 }, 'add_peer'), 5000, FEATURES, ['1.2.3.4']);

  it('round-trips records and drops ones that do not fit', () => {
    const text = encodePeersFile('bitcoin', [good]);
    assert.deepEqual(decodePeersFile(text, 'bitcoin'), { peers: [good], dropped: 0 });
    const doc = JSON.parse(text) as { peers: unknown[] };
    doc.peers.push({ host: 'x', ports: {} }, { ...good, host: 'dup.example', tryCount: -1 });
    assert.equal(decodePeersFile(JSON.stringify(doc), 'bitcoin').dropped, 2);
  });

  it('refuses a truncated file, another network, another version', () => {
    const text = encodePeersFile('bitcoin', [good]);
    assert.throws(() => decodePeersFile(text.slice(0, text.length / 2), 'bitcoin'), PeersFileError);
    assert.throws(() => decodePeersFile(text, 'testnet'), /network/);
    assert.throws(() => decodePeersFile(text.replace('"version": 1', '"version": 9'), 'bitcoin'), /version/);
  });

  it('the store writes atomically, restores, and sets a truncated file aside with a log line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eg-peers-'));
    const path = join(dir, 'peers.json');
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const store = new PeersStore(path, 'bitcoin', log, () => 42);
    assert.deepEqual(await store.load(), [], 'no file yet');
    await store.save([good]);
    assert.deepEqual(readdirSync(dir), ['peers.json'], 'no temporary file left behind');
    assert.deepEqual(await new PeersStore(path, 'bitcoin', log).load(), [good]);

    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.slice(0, 40));
    assert.deepEqual(await new PeersStore(path, 'bitcoin', log, () => 42).load(), []);
    assert.deepEqual(readdirSync(dir).sort(), ['peers.json.corrupt-42']);
    assert.ok(lines.some((l) => l.includes('set aside')), lines.join(''));
  });
});
