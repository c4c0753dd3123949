// SPDX-License-Identifier: MIT
/**
 * The method table against the spec (spesmilo/electrum-protocol:
 * protocol-changes.rst, protocol-methods.rst, protocol-removed.rst, and the
 * original 1.0/1.1 document): which methods exist at every version from 1.0
 * to 1.6, with which parameters; ElectrumX's arity messages; and the
 * argument validators, which answer error 1 (BAD_REQUEST) naming the parameter.
 *
 * The expected sets are written out here from the spec's change list, not
 * derived from the table under test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkByName } from '../../src/config/networks.js';
import { ErrorCode, RpcError } from '../../src/protocol/jsonrpc.js';
import { GATEWAY_VERSIONS, METHODS, METHOD_NAMES, UPSTREAM_VERSIONS, checkArity, lookupMethod, methodsAt, type MethodSpec } from '../../src/protocol/methods.js';
import { versionLess } from '../../src/protocol/version.js';
import { addressArg, booleanArg, hexArg, nonNegativeIntegerArg, scripthashArg, stringArg, txHashArg } from '../../src/protocol/params.js';

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

const without = (set: readonly string[], ...names: string[]): string[] => {
  for (const n of names) assert.ok(set.includes(n), `${n} to remove is in the previous version`);
  return set.filter((m) => !names.includes(m));
};

// ---- the spec, version by version (protocol-changes.rst; 1.0 from the original document) ----

const V1_0 = [
  'server.version',
  'server.banner',
  'server.donation_address',
  'server.peers.subscribe',
  'blockchain.address.get_balance',
  'blockchain.address.get_history',
  'blockchain.address.get_mempool',
  'blockchain.address.listunspent',
  'blockchain.address.subscribe',
  'blockchain.block.get_header',
  'blockchain.block.get_chunk',
  'blockchain.estimatefee',
  'blockchain.headers.subscribe',
  'blockchain.numblocks.subscribe',
  'blockchain.relayfee',
  'blockchain.transaction.broadcast',
  'blockchain.transaction.get',
  'blockchain.transaction.get_merkle',
  'blockchain.utxo.get_address',
];
// 1.1: scripthash methods, server.features and server.add_peer added; utxo.get_address and numblocks.subscribe removed.
const V1_1 = [
  ...without(V1_0, 'blockchain.utxo.get_address', 'blockchain.numblocks.subscribe'),
  'blockchain.scripthash.get_balance',
  'blockchain.scripthash.get_history',
  'blockchain.scripthash.get_mempool',
  'blockchain.scripthash.listunspent',
  'blockchain.scripthash.subscribe',
  'server.features',
  'server.add_peer',
];
// 1.2: block.headers, mempool.get_fee_histogram, server.ping added (get_chunk and address.* only deprecated).
const V1_2 = [...V1_1, 'blockchain.block.headers', 'mempool.get_fee_histogram', 'server.ping'];
// 1.3: block.header added; address.* removed.
const V1_3 = [
  ...without(
    V1_2,
    'blockchain.address.get_balance',
    'blockchain.address.get_history',
    'blockchain.address.get_mempool',
    'blockchain.address.listunspent',
    'blockchain.address.subscribe',
  ),
  'blockchain.block.header',
];
// 1.4: transaction.id_from_pos added; block.get_header and block.get_chunk removed.
const V1_4 = [...without(V1_3, 'blockchain.block.get_header', 'blockchain.block.get_chunk'), 'blockchain.transaction.id_from_pos'];
// 1.4.1: no new methods (AuxPoW truncation only).
const V1_4_1 = [...V1_4];
// 1.4.2: scripthash.unsubscribe added.
const V1_4_2 = [...V1_4_1, 'blockchain.scripthash.unsubscribe'];
// 1.6: broadcast_package and mempool.get_info added; relayfee removed.
const V1_6 = [...without(V1_4_2, 'blockchain.relayfee'), 'blockchain.transaction.broadcast_package', 'mempool.get_info'];

const EXPECTED: Record<string, string[]> = {
  '1.0': V1_0,
  '1.1': V1_1,
  '1.2': V1_2,
  '1.3': V1_3,
  '1.4': V1_4,
  '1.4.1': V1_4_1,
  '1.4.2': V1_4_2,
  '1.6': V1_6,
};

/** Parameter names (positional order) and how many are required, per version, from the spec's signatures. */
const SIGNATURES: [method: string, versions: string[], params: string[], required: number][] = [
  ['server.version', ['1.0', '1.1', '1.2', '1.3', '1.4', '1.4.1', '1.4.2', '1.6'], ['client_name', 'protocol_version'], 0],
  ['blockchain.headers.subscribe', ['1.0', '1.1'], [], 0],
  ['blockchain.headers.subscribe', ['1.2', '1.3'], ['raw'], 0],
  ['blockchain.headers.subscribe', ['1.4', '1.4.1', '1.4.2', '1.6'], [], 0],
  ['blockchain.block.get_header', ['1.0', '1.1', '1.2', '1.3'], ['height'], 1],
  ['blockchain.block.get_chunk', ['1.0', '1.1', '1.2', '1.3'], ['index'], 1],
  ['blockchain.block.header', ['1.3'], ['height'], 1],
  ['blockchain.block.header', ['1.4', '1.4.1', '1.4.2', '1.6'], ['height', 'cp_height'], 1],
  ['blockchain.block.headers', ['1.2', '1.3'], ['start_height', 'count'], 2],
  ['blockchain.block.headers', ['1.4', '1.4.1', '1.4.2', '1.6'], ['start_height', 'count', 'cp_height'], 2],
  ['blockchain.estimatefee', ['1.0', '1.1', '1.2', '1.3', '1.4', '1.4.1', '1.4.2'], ['number'], 1],
  ['blockchain.estimatefee', ['1.6'], ['number', 'mode'], 1],
  ['blockchain.transaction.get', ['1.0'], ['tx_hash', 'height'], 1],
  ['blockchain.transaction.get', ['1.1'], ['tx_hash'], 1],
  ['blockchain.transaction.get', ['1.2', '1.3', '1.4', '1.4.1', '1.4.2', '1.6'], ['tx_hash', 'verbose'], 1],
  ['blockchain.transaction.get_merkle', ['1.0', '1.4', '1.6'], ['tx_hash', 'height'], 2],
  ['blockchain.transaction.id_from_pos', ['1.4', '1.6'], ['height', 'tx_pos', 'merkle'], 2],
  ['blockchain.transaction.broadcast', ['1.0', '1.6'], ['raw_tx'], 1],
  ['blockchain.transaction.broadcast_package', ['1.6'], ['raw_txs', 'verbose'], 1],
  ['blockchain.utxo.get_address', ['1.0'], ['tx_hash', 'index'], 2],
  ['blockchain.address.subscribe', ['1.0', '1.2'], ['address'], 1],
  ['blockchain.scripthash.subscribe', ['1.1', '1.6'], ['scripthash'], 1],
  ['blockchain.scripthash.unsubscribe', ['1.4.2', '1.6'], ['scripthash'], 1],
  ['server.add_peer', ['1.1', '1.6'], ['features'], 1],
  ['server.ping', ['1.2', '1.6'], [], 0],
  ['mempool.get_info', ['1.6'], [], 0],
];

describe('the method table, version by version', () => {
  it('the gateway negotiates 1.0, 1.1, 1.2, 1.3, 1.4, 1.4.1, 1.4.2 and 1.6 (1.5 was never defined) and asks upstreams for 1.4-1.6', () => {
    assert.deepEqual([...GATEWAY_VERSIONS], ['1.0', '1.1', '1.2', '1.3', '1.4', '1.4.1', '1.4.2', '1.6']);
    assert.deepEqual([...UPSTREAM_VERSIONS], ['1.4', '1.4.1', '1.4.2', '1.6']);
  });

  for (const [version, expected] of Object.entries(EXPECTED)) {
    it(`methodsAt(${version}) is exactly the spec's list`, () => {
      assert.deepEqual(methodsAt(version), [...expected].sort());
      for (const m of expected) assert.equal(spec(m, version).name, m);
    });
  }

  it('a method that does not exist at a version is not found there', () => {
    for (const version of GATEWAY_VERSIONS) {
      const present = new Set(EXPECTED[version]);
      for (const name of METHOD_NAMES) {
        if (!present.has(name)) assert.equal(lookupMethod(name, version), undefined, `${name} at ${version}`);
      }
    }
  });

  it('versions between table versions behave like the version below them', () => {
    // 1.4.3 added only a Namecoin method; 1.5 was skipped: both read as 1.4.2. 1.3.5 reads as 1.3.
    assert.deepEqual(methodsAt('1.4.3'), [...V1_4_2].sort());
    assert.deepEqual(methodsAt('1.5'), [...V1_4_2].sort());
    assert.deepEqual(methodsAt('1.3.5'), [...V1_3].sort());
    assert.deepEqual(methodsAt('1.7'), [...V1_6].sort());
  });

  it('names outside the spec and unparsable versions find nothing', () => {
    for (const v of GATEWAY_VERSIONS) {
      for (const m of ['daemon.passthrough', 'blockchain.scriptpubkey.get_history', 'blockchain.address.get_proof', 'blockchain.outpoint.subscribe', '', 'SERVER.VERSION', 'server.version ']) {
        assert.equal(lookupMethod(m, v), undefined, `${m} at ${v}`);
      }
    }
    assert.equal(lookupMethod('server.ping', 'x'), undefined);
    assert.equal(lookupMethod('server.ping', '1'), undefined);
    assert.deepEqual(methodsAt('junk'), []);
    assert.deepEqual(methodsAt('0.10'), []);
  });

  for (const [name, versions, params, required] of SIGNATURES) {
    it(`${name} takes (${params.join(', ')}) with ${required} required at ${versions.join(', ')}`, () => {
      for (const v of versions) {
        const s = spec(name, v);
        assert.deepEqual(s.params, params, `${name} at ${v}`);
        assert.equal(s.required, required, `${name} at ${v}`);
      }
    });
  }

  it('every row is sane: required <= params, since < removedIn, and one row per name at any version', () => {
    const inRow = (m: MethodSpec, v: string): boolean => !versionLess(v, m.since) && (m.removedIn === undefined || versionLess(v, m.removedIn));
    for (const m of METHODS) {
      assert.ok(m.required <= m.params.length, m.name);
      if (m.removedIn) assert.ok(versionLess(m.since, m.removedIn), m.name);
    }
    for (const v of [...GATEWAY_VERSIONS, '1.4.3', '1.5', '1.7']) {
      for (const name of METHOD_NAMES) {
        const rows = METHODS.filter((m) => m.name === name && inRow(m, v));
        assert.ok(rows.length <= 1, `${name} has ${rows.length} rows at ${v}`);
        assert.equal(lookupMethod(name, v), rows[0], `${name} at ${v}`);
      }
    }
    assert.equal(METHOD_NAMES.size, new Set(Object.values(EXPECTED).flat()).size);
  });
});

describe('checkArity (ElectrumX messages, -32602)', () => {
  const header = (): MethodSpec => spec('blockchain.block.header', '1.4');
  const headers = (): MethodSpec => spec('blockchain.block.headers', '1.4');

  it('accepts required and optional positional params', () => {
    assert.deepEqual(checkArity(header(), [5]), [5]);
    assert.deepEqual(checkArity(header(), [5, 10]), [5, 10]);
    assert.deepEqual(checkArity(spec('server.features', '1.4'), []), []);
    assert.deepEqual(checkArity(spec('blockchain.transaction.get', '1.0'), ['aa', 100]), ['aa', 100]);
  });

  it('too few: "N argument(s) passed to method "X" but it requires M"', () => {
    assert.throws(() => checkArity(header(), []), rpcError(ErrorCode.INVALID_PARAMS, '0 arguments passed to method "blockchain.block.header" but it requires 1'));
    assert.throws(() => checkArity(headers(), [1]), rpcError(-32602, '1 argument passed to method "blockchain.block.headers" but it requires 2'));
    assert.throws(
      () => checkArity(spec('blockchain.utxo.get_address', '1.0'), ['aa']),
      rpcError(-32602, '1 argument passed to method "blockchain.utxo.get_address" but it requires 2'),
    );
    assert.throws(() => checkArity(spec('blockchain.address.get_history', '1.2'), []), rpcError(-32602, '0 arguments passed to method "blockchain.address.get_history" but it requires 1'));
  });

  it('too many: "N arguments passed to method "X" taking at most M" (where a later version added the parameter)', () => {
    assert.throws(() => checkArity(header(), [1, 2, 3]), rpcError(-32602, '3 arguments passed to method "blockchain.block.header" taking at most 2'));
    assert.throws(() => checkArity(spec('server.ping', '1.4'), [1]), rpcError(-32602, '1 arguments passed to method "server.ping" taking at most 0'));
    // mode arrives in 1.6, cp_height in 1.4, verbose in 1.2, raw in 1.2 (and leaves in 1.4); 1.1 dropped height.
    const tooMany: [string, string, unknown[]][] = [
      ['blockchain.estimatefee', '1.4.2', [2, 'ECONOMICAL']],
      ['blockchain.block.header', '1.3', [1, 10]],
      ['blockchain.block.headers', '1.3', [0, 2, 10]],
      ['blockchain.transaction.get', '1.1', ['aa', true]],
      ['blockchain.headers.subscribe', '1.1', [true]],
      ['blockchain.headers.subscribe', '1.4', [true]],
      ['blockchain.transaction.get', '1.0', ['aa', 1, 2]],
    ];
    for (const [name, v, args] of tooMany) {
      assert.throws(() => checkArity(spec(name, v), args), rpcError(-32602, `${args.length} arguments passed to method "${name}" taking at most ${args.length - 1}`), `${name} at ${v}`);
    }
    assert.deepEqual(checkArity(spec('blockchain.estimatefee', '1.6'), [2, 'ECONOMICAL']), [2, 'ECONOMICAL']);
    assert.deepEqual(checkArity(spec('blockchain.headers.subscribe', '1.2'), [true]), [true]);
    assert.deepEqual(checkArity(spec('blockchain.transaction.get', '1.2'), ['aa', true]), ['aa', true]);
  });

  it('server.version ignores extra positional and named arguments at every version', () => {
    for (const v of GATEWAY_VERSIONS) {
      assert.deepEqual(checkArity(spec('server.version', v), ['wallet', ['1.4', '1.6'], 'extra', 4]), ['wallet', ['1.4', '1.6']]);
      assert.deepEqual(checkArity(spec('server.version', v), []), []);
      assert.deepEqual(checkArity(spec('server.version', v), { client_name: 'w', protocol_version: '1.6', client_id: 'x', flags: [1] }), ['w', '1.6']);
    }
    assert.deepEqual(checkArity(spec('server.version', '1.6'), { protocol_version: '1.4', future: true }), [undefined, '1.4']);
  });

  it('named params are mapped to the version\'s names; unknown names are refused, naming them', () => {
    assert.deepEqual(checkArity(headers(), { count: 3, start_height: 10 }), [10, 3]);
    assert.deepEqual(checkArity(header(), { height: 1, cp_height: 5 }), [1, 5]);
    assert.deepEqual(checkArity(spec('blockchain.headers.subscribe', '1.3'), { raw: false }), [false]);
    assert.deepEqual(checkArity(spec('blockchain.utxo.get_address', '1.0'), { index: 1, tx_hash: 'aa' }), ['aa', 1]);
    assert.throws(() => checkArity(header(), { height: 1, cp: 2 }), rpcError(-32602, /no parameter named "cp"/));
    assert.throws(() => checkArity(spec('blockchain.headers.subscribe', '1.4'), { raw: true }), rpcError(-32602, /"blockchain.headers.subscribe" has no parameter named "raw"/));
    assert.throws(() => checkArity(spec('blockchain.estimatefee', '1.4'), { number: 2, mode: 'ECONOMICAL' }), rpcError(-32602, /no parameter named "mode"/));
    assert.throws(() => checkArity(spec('server.ping', '1.6'), { x: 1 }), rpcError(-32602, /no parameter named "x"/));
  });

  it('a named call missing a required param is an arity error', () => {
    assert.throws(() => checkArity(headers(), { count: 3 }), rpcError(-32602, /passed to method "blockchain.block.headers" but it requires 2$/));
    assert.throws(() => checkArity(headers(), { cp_height: 3 }), rpcError(-32602, /but it requires 2$/));
    assert.throws(() => checkArity(header(), {}), rpcError(-32602, '0 arguments passed to method "blockchain.block.header" but it requires 1'));
  });

  it('trailing absent optionals are dropped; the caller\'s params are not modified', () => {
    assert.deepEqual(checkArity(headers(), { start_height: 0, count: 1 }), [0, 1]);
    const params = [1, 2];
    const out = checkArity(header(), params);
    out.push(9);
    assert.deepEqual(params, [1, 2]);
  });
});

describe('argument validation (params.ts): error 1 (BAD_REQUEST, as ElectrumX and Fulcrum) naming the parameter', () => {
  const sh = 'ab'.repeat(32);
  const regtest = networkByName('regtest');

  it('scripthash: 64 hex characters, lowercased', () => {
    assert.equal(scripthashArg(sh.toUpperCase()), sh);
    assert.throws(() => scripthashArg('abc'), rpcError(ErrorCode.BAD_REQUEST, 'invalid scripthash: "abc" is not a valid script hash (64 hex characters)'));
    for (const bad of [5, null, undefined, `${sh}00`, 'zz'.repeat(32), sh.slice(1), [sh], { sh }]) {
      assert.throws(() => scripthashArg(bad), rpcError(1, /^invalid scripthash: .* is not a valid script hash/), JSON.stringify(bad));
    }
  });

  it('long bad values are shortened in the message', () => {
    const long = 'q'.repeat(500);
    assert.throws(() => scripthashArg(long), (err: unknown) => err instanceof RpcError && err.code === 1 && err.message.length < 160 && err.message.includes('q'.repeat(80)) && err.message.includes('…'));
  });

  it('tx hash: 64 hex characters, under the name given', () => {
    assert.equal(txHashArg('CD'.repeat(32)), 'cd'.repeat(32));
    assert.throws(() => txHashArg('xyz'), rpcError(1, 'invalid tx_hash: "xyz" should be a transaction hash (64 hex characters)'));
    assert.throws(() => txHashArg(undefined), rpcError(1, /^invalid tx_hash: /));
    assert.throws(() => txHashArg(7, 'txid'), rpcError(1, /^invalid txid: 7 should be a transaction hash/));
  });

  it('non-negative integers name the parameter', () => {
    assert.equal(nonNegativeIntegerArg(0, 'height'), 0);
    assert.equal(nonNegativeIntegerArg(840000, 'height'), 840000);
    for (const bad of [-1, 1.5, '5', null, Number.NaN, Infinity, 2 ** 60, true]) {
      assert.throws(() => nonNegativeIntegerArg(bad, 'cp_height'), rpcError(1, /^invalid cp_height: .* should be a non-negative integer$/), String(bad));
    }
    assert.throws(() => nonNegativeIntegerArg(-3, 'index'), rpcError(1, 'invalid index: -3 should be a non-negative integer'));
  });

  it('booleans: true/false, and the 0/1 old clients sent', () => {
    assert.equal(booleanArg(true, 'verbose'), true);
    assert.equal(booleanArg(false, 'verbose'), false);
    assert.equal(booleanArg(1, 'merkle'), true);
    assert.equal(booleanArg(0, 'merkle'), false);
    for (const bad of ['true', 2, null, []]) assert.throws(() => booleanArg(bad, 'verbose'), rpcError(1, /^invalid verbose: .* should be true or false$/));
  });

  it('hex strings: non-empty, whole bytes, hex digits only', () => {
    assert.equal(hexArg('00ff', 'raw_tx'), '00ff');
    for (const bad of ['', '0', 'zz', '0x00', 5, null]) assert.throws(() => hexArg(bad, 'raw_tx'), rpcError(1, 'invalid raw_tx: should be a non-empty hex string of whole bytes'), String(bad));
  });

  it('strings', () => {
    assert.equal(stringArg('ECONOMICAL', 'mode'), 'ECONOMICAL');
    assert.throws(() => stringArg(5, 'mode'), rpcError(1, 'invalid mode: 5 should be a string'));
  });

  it('addresses: the scripthash of a valid address of the network; anything else names the parameter and the network', () => {
    // Electrum 4.3.4's scripthash for this regtest P2WPKH address (test/vectors/addresses.json).
    assert.equal(addressArg('bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', regtest), '9623df75239b5daa7f5f03042d325b51498c4bb7059c7748b17049bf96f73888');
    const bad: [unknown, RegExp][] = [
      ['bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', /another network: prefix "bc", regtest uses "bcrt"/],
      ['bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081', /bad bech32 checksum/],
      ['mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8s', /bad base58 checksum/],
      ['1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH', /another network: version byte 0x00/],
      [42, /must be a string/],
      ['', /bad length/],
    ];
    for (const [value, why] of bad) {
      assert.throws(() => addressArg(value, regtest), rpcError(1, /^invalid address: .* is not a valid regtest address \(/), JSON.stringify(value));
      assert.throws(() => addressArg(value, regtest), (err: unknown) => err instanceof RpcError && why.test(err.message), JSON.stringify(value));
    }
  });
});
