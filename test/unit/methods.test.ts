// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, RpcError } from '../../src/protocol/jsonrpc.js';
import { GATEWAY_VERSIONS, METHODS, UPSTREAM_VERSIONS, checkArity, lookupMethod, type MethodSpec } from '../../src/protocol/methods.js';
import { hexArg, nonNegativeIntegerArg, scripthashArg, txHashArg } from '../../src/protocol/params.js';

function spec(name: string, version: string): MethodSpec {
  const s = lookupMethod(name, version);
  assert.ok(s, `${name} should exist at ${version}`);
  return s;
}

function rpcError(code: number, message: string | RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RpcError, `expected RpcError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  };
}

describe('lookupMethod', () => {
  it('knows the methods every version since 1.4 has', () => {
    const common = [
      'server.version',
      'server.features',
      'server.banner',
      'server.donation_address',
      'server.ping',
      'server.peers.subscribe',
      'server.add_peer',
      'blockchain.headers.subscribe',
      'blockchain.block.header',
      'blockchain.block.headers',
      'blockchain.estimatefee',
      'mempool.get_fee_histogram',
      'blockchain.scripthash.get_balance',
      'blockchain.scripthash.get_history',
      'blockchain.scripthash.get_mempool',
      'blockchain.scripthash.listunspent',
      'blockchain.scripthash.subscribe',
      'blockchain.transaction.broadcast',
      'blockchain.transaction.get',
      'blockchain.transaction.get_merkle',
      'blockchain.transaction.id_from_pos',
    ];
    for (const v of GATEWAY_VERSIONS) for (const m of common) assert.equal(spec(m, v).name, m);
  });

  it('blockchain.scripthash.unsubscribe arrives in 1.4.2', () => {
    assert.equal(lookupMethod('blockchain.scripthash.unsubscribe', '1.4'), undefined);
    assert.equal(lookupMethod('blockchain.scripthash.unsubscribe', '1.4.1'), undefined);
    assert.ok(lookupMethod('blockchain.scripthash.unsubscribe', '1.4.2'));
    assert.ok(lookupMethod('blockchain.scripthash.unsubscribe', '1.6'));
  });

  it('blockchain.relayfee exists before 1.6 only; mempool.get_info and broadcast_package from 1.6 only', () => {
    for (const v of ['1.4', '1.4.1', '1.4.2']) {
      assert.ok(lookupMethod('blockchain.relayfee', v), v);
      assert.equal(lookupMethod('mempool.get_info', v), undefined, v);
      assert.equal(lookupMethod('blockchain.transaction.broadcast_package', v), undefined, v);
    }
    assert.equal(lookupMethod('blockchain.relayfee', '1.6'), undefined);
    assert.ok(lookupMethod('mempool.get_info', '1.6'));
    assert.ok(lookupMethod('blockchain.transaction.broadcast_package', '1.6'));
  });

  it('blockchain.estimatefee takes mode only from 1.6', () => {
    assert.deepEqual(spec('blockchain.estimatefee', '1.4.2').params, ['number']);
    assert.deepEqual(spec('blockchain.estimatefee', '1.6').params, ['number', 'mode']);
    assert.equal(spec('blockchain.estimatefee', '1.6').required, 1);
  });

  it('methods removed before 1.4 and unknown names do not exist', () => {
    for (const v of GATEWAY_VERSIONS) {
      for (const m of [
        'blockchain.address.get_history',
        'blockchain.block.get_chunk',
        'blockchain.block.get_header',
        'blockchain.numblocks.subscribe',
        'blockchain.utxo.get_address',
        'daemon.passthrough',
        'blockchain.scriptpubkey.get_history',
        '',
        'SERVER.VERSION',
      ]) {
        assert.equal(lookupMethod(m, v), undefined, `${m} at ${v}`);
      }
    }
  });

  it('an unparsable version finds nothing', () => {
    assert.equal(lookupMethod('server.ping', 'x'), undefined);
  });

  it('the table has one row per name (plus the versioned estimatefee) and sane arity', () => {
    const names = METHODS.map((m) => m.name);
    assert.equal(new Set(names).size, names.length);
    for (const m of METHODS) {
      assert.ok(m.required <= m.params.length, m.name);
    }
    assert.deepEqual([...UPSTREAM_VERSIONS], [...GATEWAY_VERSIONS]);
  });
});

describe('checkArity (ElectrumX messages)', () => {
  const header = (): MethodSpec => spec('blockchain.block.header', '1.4');
  const headers = (): MethodSpec => spec('blockchain.block.headers', '1.4');

  it('accepts required and optional positional params', () => {
    assert.deepEqual(checkArity(header(), [5]), [5]);
    assert.deepEqual(checkArity(header(), [5, 10]), [5, 10]);
    assert.deepEqual(checkArity(spec('server.features', '1.4'), []), []);
  });

  it('too few: "N argument(s) passed to method "X" but it requires M"', () => {
    assert.throws(() => checkArity(header(), []), rpcError(ErrorCode.INVALID_PARAMS, '0 arguments passed to method "blockchain.block.header" but it requires 1'));
    assert.throws(() => checkArity(headers(), [1]), rpcError(-32602, '1 argument passed to method "blockchain.block.headers" but it requires 2'));
    assert.throws(
      () => checkArity(spec('blockchain.transaction.get_merkle', '1.6'), ['aa']),
      rpcError(-32602, '1 argument passed to method "blockchain.transaction.get_merkle" but it requires 2'),
    );
  });

  it('too many: "N arguments passed to method "X" taking at most M"', () => {
    assert.throws(() => checkArity(header(), [1, 2, 3]), rpcError(-32602, '3 arguments passed to method "blockchain.block.header" taking at most 2'));
    assert.throws(() => checkArity(spec('server.ping', '1.4'), [1]), rpcError(-32602, '1 arguments passed to method "server.ping" taking at most 0'));
    assert.throws(
      () => checkArity(spec('blockchain.estimatefee', '1.4'), [2, 'ECONOMICAL']),
      rpcError(-32602, '2 arguments passed to method "blockchain.estimatefee" taking at most 1'),
    );
    assert.deepEqual(checkArity(spec('blockchain.estimatefee', '1.6'), [2, 'ECONOMICAL']), [2, 'ECONOMICAL']);
  });

  it('server.version ignores extra arguments (1.6 rule)', () => {
    assert.deepEqual(checkArity(spec('server.version', '1.6'), ['wallet', ['1.4', '1.6'], 'extra', 4]), ['wallet', ['1.4', '1.6']]);
    assert.deepEqual(checkArity(spec('server.version', '1.6'), []), []);
  });

  it('server.version ignores extra named arguments too (1.6: "extraneous positional or named args MUST be ignored")', () => {
    assert.deepEqual(checkArity(spec('server.version', '1.6'), { client_name: 'w', protocol_version: '1.6', client_id: 'x', flags: [1] }), ['w', '1.6']);
    assert.deepEqual(checkArity(spec('server.version', '1.6'), { protocol_version: '1.4', future: true }), [undefined, '1.4']);
    // Other methods still refuse unknown names.
    assert.throws(() => checkArity(spec('server.ping', '1.6'), { x: 1 }), rpcError(-32602, /no parameter named "x"/));
  });

  it('named params are mapped to positions', () => {
    assert.deepEqual(checkArity(headers(), { count: 3, start_height: 10 }), [10, 3]);
    assert.deepEqual(checkArity(header(), { height: 1, cp_height: 5 }), [1, 5]);
    assert.deepEqual(checkArity(spec('server.version', '1.4'), { client_name: 'w', protocol_version: '1.4' }), ['w', '1.4']);
  });

  it('a named call missing a required param is an arity error', () => {
    assert.throws(() => checkArity(headers(), { count: 3 }), rpcError(-32602, /passed to method "blockchain.block.headers" but it requires 2$/));
    assert.throws(() => checkArity(headers(), { cp_height: 3 }), rpcError(-32602, /but it requires 2$/));
    assert.throws(() => checkArity(header(), {}), rpcError(-32602, '0 arguments passed to method "blockchain.block.header" but it requires 1'));
  });

  it('a named call with an unknown name is refused', () => {
    assert.throws(() => checkArity(header(), { height: 1, cp: 2 }), rpcError(-32602, /no parameter named "cp"/));
  });

  it('trailing named optionals that are absent are dropped, so the call stays canonical', () => {
    assert.deepEqual(checkArity(headers(), { start_height: 0, count: 1 }), [0, 1]);
  });

  it('does not modify the caller\'s params', () => {
    const params = [1, 2];
    const out = checkArity(header(), params);
    out.push(9);
    assert.deepEqual(params, [1, 2]);
  });
});

describe('argument validation (params.ts)', () => {
  const sh = 'ab'.repeat(32);

  it('scripthash: 64 hex chars, lowercased', () => {
    assert.equal(scripthashArg(sh.toUpperCase()), sh);
    assert.throws(() => scripthashArg('abc'), rpcError(ErrorCode.BAD_REQUEST, 'abc is not a valid script hash'));
    assert.throws(() => scripthashArg(5), rpcError(1, '5 is not a valid script hash'));
    assert.throws(() => scripthashArg(null), rpcError(1, 'null is not a valid script hash'));
    assert.throws(() => scripthashArg(`${sh}00`), rpcError(1, /is not a valid script hash$/));
    assert.throws(() => scripthashArg('zz'.repeat(32)), rpcError(1, /is not a valid script hash$/));
  });

  it('long bad values are shortened in the message', () => {
    const long = 'q'.repeat(500);
    assert.throws(() => scripthashArg(long), (err: unknown) => err instanceof RpcError && err.message.length < 120 && err.message.startsWith('q'.repeat(80)));
  });

  it('tx hash: 64 hex chars', () => {
    assert.equal(txHashArg('CD'.repeat(32)), 'cd'.repeat(32));
    assert.throws(() => txHashArg('xyz'), rpcError(1, 'xyz should be a transaction hash'));
    assert.throws(() => txHashArg(undefined), rpcError(1, /should be a transaction hash$/));
  });

  it('non-negative integers', () => {
    assert.equal(nonNegativeIntegerArg(0), 0);
    assert.equal(nonNegativeIntegerArg(840000), 840000);
    for (const bad of [-1, 1.5, '5', null, Number.NaN, Infinity, 2 ** 60]) {
      assert.throws(() => nonNegativeIntegerArg(bad), rpcError(1, /should be a non-negative integer$/), String(bad));
    }
  });

  it('hex strings: even length, hex digits only', () => {
    assert.equal(hexArg('00ff', 'raw_tx'), '00ff');
    assert.equal(hexArg('', 'raw_tx'), '');
    for (const bad of ['0', 'zz', 5, null]) assert.throws(() => hexArg(bad, 'raw_tx'), rpcError(1, 'raw_tx should be a hex string'));
  });
});
