// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NETWORKS } from '../../src/config/networks.js';
import { blockHash } from '../../src/protocol/bitcoin/header.js';
import { judgePeer, type OurView, type PeerAnswers } from '../../src/peers/verify.js';
import { regtestHeaders } from '../helpers/regtest-headers.js';

const ours = regtestHeaders(40);
const fork = regtestHeaders(40, 'fork', ours.slice(0, 25));
const view: OurView = {
  genesisHash: NETWORKS.regtest.genesisHash,
  protocolMin: '1.4',
  protocolMax: '1.6',
  tipHeight: 40,
  hashAt: (h) => (ours[h] ? blockHash(ours[h]) : undefined),
};
const features = {
  hosts: { '127.1.0.1': { tcp_port: 50001 } },
  genesis_hash: NETWORKS.regtest.genesisHash,
  hash_function: 'sha256',
  protocol_min: '1.4',
  protocol_max: '1.4.2',
  pruning: null,
  server_version: 'ElectrumX 1.18.0',
};
const answers = (over: Partial<PeerAnswers> = {}): PeerAnswers => ({ host: '127.1.0.1', features, tipHeight: 40, checkHeader: ours[30]!, ...over });

describe('peer verification verdict', () => {
  it('accepts a peer on our chain, taking the ports of the host reached', () => {
    assert.deepEqual(judgePeer(answers(), view), {
      ok: true,
      ports: { tcp: 50001 },
      features: { serverVersion: 'ElectrumX 1.18.0', protocolMin: '1.4', protocolMax: '1.4.2', pruning: null },
    });
  });

  it('refuses another network, a missing host, no common protocol, a lag, a fork', () => {
    const refusal = (a: PeerAnswers): string => {
      const v = judgePeer(a, view);
      return v.ok ? 'ok' : v.refusal;
    };
    assert.equal(refusal(answers({ features: { ...features, genesis_hash: NETWORKS.bitcoin.genesisHash } })), 'wrong-network');
    assert.equal(refusal(answers({ host: '127.9.0.1' })), 'hosts');
    assert.equal(refusal(answers({ features: { ...features, protocol_min: '1.0', protocol_max: '1.2' } })), 'protocol');
    assert.equal(refusal(answers({ tipHeight: 20, checkHeader: ours[10]! })), 'lagging');
    assert.equal(refusal(answers({ tipHeight: 45, checkHeader: ours[35]! })), 'ok', 'within 5 ahead');
    assert.equal(refusal(answers({ checkHeader: fork[30]! })), 'fork');
    assert.equal(refusal(answers({ checkHeader: 'zz' })), 'malformed');
  });
});
