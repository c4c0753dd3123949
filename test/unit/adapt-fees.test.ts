// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RpcError } from '../../src/protocol/jsonrpc.js';
import { mempoolInfoFromRelayFee, upstreamCall } from '../../src/routing/adapt.js';
import { gapNeeded, gapsOfSoftware, revealsGap } from '../../src/routing/gaps.js';

describe('mempool.get_info from a pre-1.6 server', () => {
  it('asks for the relay fee and the fee histogram on the same connection', () => {
    const call = upstreamCall('mempool.get_info', [], '1.4');
    assert.equal(call.method, 'blockchain.relayfee');
    assert.deepEqual(call.also, { method: 'mempool.get_fee_histogram', params: [] });
    assert.equal(upstreamCall('mempool.get_info', [], '1.6').also, undefined, 'a 1.6 server reports the daemon\'s own figures');
  });

  it('an empty mempool: every figure is the relay fee', () => {
    assert.deepEqual(mempoolInfoFromRelayFee(0.00001, []), { mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
  });

  it('otherwise the lowest rate in the histogram plus one increment, in BTC/kvB', () => {
    // 12.5 sat/vB lowest -> 0.000125 BTC/kvB, plus the 0.00001 increment.
    const info = mempoolInfoFromRelayFee(0.00001, [
      [40, 100_000],
      [12.5, 250_000],
      [20, 90_000],
    ]);
    assert.deepEqual(info, { mempoolminfee: 0.000135, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
  });

  it('never reports the minimum below the relay fee', () => {
    assert.equal(mempoolInfoFromRelayFee(0.0001, [[0, 10]]).mempoolminfee, 0.0001);
  });

  it('a malformed relay fee or histogram is an upstream error, not a number made up', () => {
    for (const [relay, hist] of [
      ['0.00001', []],
      [-1, []],
      [0.00001, {}],
      [0.00001, [['x', 1]]],
      [0.00001, [[-2, 1]]],
    ] as const) {
      assert.throws(() => mempoolInfoFromRelayFee(relay, hist), (e: RpcError) => e.code === -32603 && /malformed/.test(e.message));
    }
  });
});

describe('gaps: what a server lacks', () => {
  it('names the gap a request falls into', () => {
    assert.equal(gapNeeded('blockchain.scripthash.get_mempool', ['ab']), 'get_mempool');
    assert.equal(gapNeeded('blockchain.block.header', [5, 10]), 'cp_height');
    assert.equal(gapNeeded('blockchain.block.header', [5, 0]), null, 'cp_height 0 is no proof');
    assert.equal(gapNeeded('blockchain.block.headers', [5, 2, 10]), 'cp_height');
    assert.equal(gapNeeded('blockchain.block.headers', [5, 2]), null);
    assert.equal(gapNeeded('blockchain.scripthash.get_history', ['ab']), null);
  });

  it('knows electrs by its software string', () => {
    assert.deepEqual(gapsOfSoftware('electrs/0.10.6'), ['get_mempool', 'cp_height']);
    assert.deepEqual(gapsOfSoftware('ElectrumX 1.18.0'), []);
    assert.deepEqual(gapsOfSoftware('Fulcrum 1.11.1'), []);
    assert.deepEqual(gapsOfSoftware(null), []);
  });

  it('reads a refusal as a gap only where it can mean one', () => {
    assert.equal(revealsGap('get_mempool', new RpcError(-32601, 'method not found')), true);
    assert.equal(revealsGap('get_mempool', new RpcError(-32602, 'invalid params')), false);
    assert.equal(revealsGap('cp_height', new RpcError(-32602, 'invalid params')), true);
    assert.equal(revealsGap('cp_height', new RpcError(1, 'height 5 out of range')), false);
    assert.equal(revealsGap('cp_height', new Error('closed')), false);
  });
});
