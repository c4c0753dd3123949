// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, RpcError } from '../../src/protocol/jsonrpc.js';
import { clientResult, upstreamCall } from '../../src/routing/adapt.js';

const H = (n: number): string => n.toString(16).padStart(2, '0').repeat(80); // one 80-byte header, hex
const HEADERS = 'blockchain.block.headers';

/** What a client at `clientVersion` gets when an upstream at `upstreamVersion` answers `raw`. */
function roundTrip(method: string, args: unknown[], upstreamVersion: string, clientVersion: string, raw: unknown): { sent: { method: string; params: readonly unknown[] }; result: unknown } {
  const call = upstreamCall(method, args, upstreamVersion);
  return { sent: { method: call.method, params: call.params }, result: clientResult(method, call.toCanonical(raw), clientVersion) };
}

describe('blockchain.block.headers: 1.4 hex <-> 1.6 headers[]', () => {
  const v14 = { count: 3, hex: H(1) + H(2) + H(3), max: 2016 };
  const v16 = { count: 3, headers: [H(1), H(2), H(3)], max: 2016 };

  it('1.4 upstream -> 1.6 client: the hex is split into 160-char headers', () => {
    const { sent, result } = roundTrip(HEADERS, [1, 3], '1.4', '1.6', v14);
    assert.deepEqual(sent, { method: HEADERS, params: [1, 3] });
    assert.deepEqual(result, v16);
  });

  it('1.6 upstream -> 1.4 client: the headers are concatenated into hex', () => {
    assert.deepEqual(roundTrip(HEADERS, [1, 3], '1.6', '1.4', v16).result, v14);
    assert.deepEqual(roundTrip(HEADERS, [1, 3], '1.6', '1.4.2', v16).result, v14);
  });

  it('same version on both sides returns the same shape', () => {
    assert.deepEqual(roundTrip(HEADERS, [1, 3], '1.4', '1.4', v14).result, v14);
    assert.deepEqual(roundTrip(HEADERS, [1, 3], '1.6', '1.6', v16).result, v16);
  });

  it('keeps root and branch of a checkpointed answer in both directions', () => {
    const proof = { root: 'aa'.repeat(32), branch: ['bb'.repeat(32), 'cc'.repeat(32)] };
    const from14 = roundTrip(HEADERS, [1, 3, 10], '1.4', '1.6', { ...v14, ...proof });
    assert.deepEqual(from14.sent.params, [1, 3, 10]);
    assert.deepEqual(from14.result, { ...v16, ...proof });
    assert.deepEqual(roundTrip(HEADERS, [1, 3, 10], '1.6', '1.4', { ...v16, ...proof }).result, { ...v14, ...proof });
  });

  it('an empty range (start above the tip) is count 0 both ways', () => {
    assert.deepEqual(roundTrip(HEADERS, [99, 5], '1.4', '1.6', { count: 0, hex: '', max: 2016 }).result, { count: 0, headers: [], max: 2016 });
    assert.deepEqual(roundTrip(HEADERS, [99, 5], '1.6', '1.4', { count: 0, headers: [], max: 2016 }).result, { count: 0, hex: '', max: 2016 });
  });

  it('refuses a malformed upstream answer with -32603 instead of passing it on', () => {
    const call = upstreamCall(HEADERS, [0, 1], '1.4');
    for (const bad of [null, 'ab', 5, { count: 1, max: 2016 }, { count: 1, hex: H(1).slice(2), max: 2016 }, { count: 1, hex: 7 }]) {
      assert.throws(
        () => call.toCanonical(bad),
        (err: unknown) => err instanceof RpcError && err.code === ErrorCode.INTERNAL_ERROR && /blockchain\.block\.headers/.test(err.message),
        JSON.stringify(bad),
      );
    }
  });
});

describe('relayfee <-> mempool.get_info', () => {
  const info = { mempoolminfee: 0.00002, minrelaytxfee: 0.00001, incrementalrelayfee: 0.000015 };

  it('a 1.4 client\'s relayfee on a 1.6 upstream becomes mempool.get_info().minrelaytxfee', () => {
    const { sent, result } = roundTrip('blockchain.relayfee', [], '1.6', '1.4', info);
    assert.deepEqual(sent, { method: 'mempool.get_info', params: [] });
    assert.equal(result, 0.00001);
  });

  it('relayfee on a 1.4 upstream is passed through', () => {
    const { sent, result } = roundTrip('blockchain.relayfee', [], '1.4.2', '1.4', 0.00001);
    assert.deepEqual(sent, { method: 'blockchain.relayfee', params: [] });
    assert.equal(result, 0.00001);
  });

  it('a 1.6 client\'s mempool.get_info on a 1.4 upstream is built from relayfee and the fee histogram', () => {
    const call = upstreamCall('mempool.get_info', [], '1.4');
    assert.deepEqual({ method: call.method, params: call.params }, { method: 'blockchain.relayfee', params: [] });
    assert.deepEqual(call.also, { method: 'mempool.get_fee_histogram', params: [] });
    assert.deepEqual(call.toCanonical(0.00001, []), { mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
  });

  it('mempool.get_info on a 1.6 upstream is passed through whole', () => {
    const { sent, result } = roundTrip('mempool.get_info', [], '1.6', '1.6', info);
    assert.deepEqual(sent, { method: 'mempool.get_info', params: [] });
    assert.deepEqual(result, info);
  });

  it('a get_info answer without minrelaytxfee is refused, not turned into undefined', () => {
    const call = upstreamCall('blockchain.relayfee', [], '1.6');
    for (const bad of [null, 5, { mempoolminfee: 1 }]) {
      assert.throws(() => call.toCanonical(bad), (err: unknown) => err instanceof RpcError && err.code === ErrorCode.INTERNAL_ERROR, JSON.stringify(bad));
    }
  });
});

describe('blockchain.estimatefee', () => {
  it('the 1.6 mode argument is dropped for a 1.4 upstream', () => {
    for (const v of ['1.4', '1.4.1', '1.4.2']) {
      assert.deepEqual(upstreamCall('blockchain.estimatefee', [6, 'CONSERVATIVE'], v).params, [6], v);
    }
  });

  it('and kept for a 1.6 upstream', () => {
    assert.deepEqual(upstreamCall('blockchain.estimatefee', [6, 'CONSERVATIVE'], '1.6').params, [6, 'CONSERVATIVE']);
    assert.deepEqual(upstreamCall('blockchain.estimatefee', [6], '1.6').params, [6]);
  });

  it('the answer passes through', () => {
    assert.equal(roundTrip('blockchain.estimatefee', [2], '1.4', '1.6', 0.0002).result, 0.0002);
    assert.equal(roundTrip('blockchain.estimatefee', [2], '1.6', '1.4', -1).result, -1);
  });
});

describe('blockchain.transaction.broadcast_package', () => {
  it('is refused for a 1.4 upstream with an RpcError (the router then tells the client)', () => {
    for (const v of ['1.4', '1.4.2']) {
      assert.throws(
        () => upstreamCall('blockchain.transaction.broadcast_package', [['00']], v),
        (err: unknown) => err instanceof RpcError && err.code === ErrorCode.UNAVAILABLE && /1\.6/.test(err.message),
      );
    }
  });

  it('is forwarded unchanged to a 1.6 upstream', () => {
    const { sent, result } = roundTrip('blockchain.transaction.broadcast_package', [['00', '11'], false], '1.6', '1.6', { success: true });
    assert.deepEqual(sent, { method: 'blockchain.transaction.broadcast_package', params: [['00', '11'], false] });
    assert.deepEqual(result, { success: true });
  });
});

describe('everything else passes through untouched', () => {
  it('method, params and result are identical at any pair of versions', () => {
    const cases: [string, unknown[], unknown][] = [
      ['blockchain.block.header', [5], H(5)],
      ['blockchain.scripthash.get_history', ['ab'.repeat(32)], [{ height: 1, tx_hash: 'cd'.repeat(32) }]],
      ['blockchain.transaction.get', ['cd'.repeat(32)], '0100'],
      ['blockchain.transaction.get_merkle', ['cd'.repeat(32), 3], { block_height: 3, merkle: [], pos: 0 }],
    ];
    for (const [method, args, raw] of cases) {
      for (const [up, client] of [
        ['1.4', '1.6'],
        ['1.6', '1.4'],
        ['1.6', '1.6'],
      ] as const) {
        const { sent, result } = roundTrip(method, args, up, client, raw);
        assert.deepEqual(sent, { method, params: args });
        assert.deepEqual(result, raw);
      }
    }
  });
});
