// SPDX-License-Identifier: MIT
/**
 * Differential test: for every method of protocol 1.4 and of 1.6
 * (methodsAt), the gateway's answer equals the simulator's own answer at the
 * same version, compared as parsed JSON.
 *
 * Two simulators hold the same chain and mempool (same seed, same calls): a
 * 1.6 one and a 1.4-only one, each behind its own gateway. The reference is
 * always the 1.6 simulator asked directly at the wallet's version, so the
 * 1.4-only pairing checks the translation (a 1.6 wallet over a 1.4 upstream
 * must get exactly what a 1.6 server would say).
 *
 * Valid requests must match exactly. For bad params both sides must answer
 * with an error of the same code (1 for a bad value, -32602 for a wrong
 * number of arguments, as ElectrumX answers; the gateway's message names the
 * parameter). The server.* methods the gateway answers itself
 * describe the gateway, not the upstream: they are compared on what the
 * two must share (negotiated version, genesis hash, hash function, ...).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { METHOD_NAMES, methodsAt } from '../../src/protocol/methods.js';
import { SERVER_SOFTWARE } from '../../src/version.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { loadVectors } from '../helpers/vectors.js';
import { outcome, testP2wpkh, untilForwarding, type Outcome } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';

/** JSON normalisation: what a client parses from the bytes, so key order and spacing do not matter. */
const normal = (o: Outcome): unknown => JSON.parse(JSON.stringify(o));

const isError = (o: Outcome): o is { error: { code: number; message: string } } => 'error' in o;

interface AddressVector {
  network: string;
  kind: string;
  address: string;
  scripthash: string;
}
const REGTEST = loadVectors<{ vectors: AddressVector[] }>('addresses.json').vectors.filter((v) => v.network === 'regtest');

const ownAddress = (label: string): { address: string; scripthash: string } => testP2wpkh('differential-test', label);

const SEED = 'differential';

/** The same calls on both simulators: payments confirmed in one block, then some left in the mempool. */
function populate(sim: Simulator): { confirmed: string; mempool: string; fundedHeight: number } {
  let confirmed = '';
  REGTEST.forEach((v, i) => {
    const txid = sim.pay(v.address, 200_000 + i * 1000);
    if (v.kind === 'p2wpkh') confirmed = txid;
  });
  sim.mine(1);
  const fundedHeight = sim.tipHeight();
  const a = ownAddress('mempool');
  const mempool = sim.pay(a.address, 50_000);
  sim.pay(a.address, 20_000);
  sim.pay(REGTEST.find((v) => v.kind === 'p2wpkh')!.address, 7_000);
  return { confirmed, mempool, fundedHeight };
}

type Case = readonly [label: string, params: unknown];

interface Fixture {
  tip: number;
  fundedHeight: number;
  confirmed: string;
  confirmedRaw: string;
  mempool: string;
  mempoolRaw: string;
  wpkh: string;
  empty: string;
}

/** The methods that take no params. */
const NO_PARAMS = new Set([
  'server.banner',
  'server.donation_address',
  'server.peers.subscribe',
  'server.features',
  'server.ping',
  'blockchain.headers.subscribe',
  'blockchain.relayfee',
  'mempool.get_fee_histogram',
  'mempool.get_info',
]);

/** Valid requests for every method: the answers must be equal. */
function validCases(method: string, f: Fixture, version: string): Case[] {
  const sh = (name: string): Case[] => [
    [`${name} of a funded script`, [f.wpkh]],
    [`${name} of an empty script`, [f.empty]],
    [`${name}, named`, { scripthash: f.wpkh }],
  ];
  if (NO_PARAMS.has(method)) return [['no arguments', []]];
  switch (method) {
    case 'server.add_peer':
      return [['a peer', [{ hosts: { 'peer.example': { tcp_port: 50001 } }, genesis_hash: '00'.repeat(32) }]]];
    case 'blockchain.block.header':
      return [
        ['genesis', [0]],
        ['tip', [f.tip]],
        ['with a checkpoint', [3, f.tip]],
        ['beyond the tip', [f.tip + 5]],
        ['named', { height: 2 }],
      ];
    case 'blockchain.block.headers':
      return [
        ['first ten', [0, 10]],
        ['truncated at the tip', [f.tip - 2, 10]],
        ['past the tip', [f.tip + 3, 4]],
        ['with a checkpoint', [1, 4, f.tip]],
        ['count zero', [5, 0]],
        ['named', { start_height: 2, count: 3 }],
      ];
    case 'blockchain.estimatefee':
      return [
        ['2 blocks', [2]],
        ['25 blocks', [25]],
        ['1 block', [1]],
        ...(version === '1.6' ? [['with mode', [5, 'ECONOMICAL']] as Case, ['with mode, named', { number: 10, mode: 'conservative' }] as Case] : []),
      ];
    case 'blockchain.scripthash.get_balance':
    case 'blockchain.scripthash.get_history':
    case 'blockchain.scripthash.get_mempool':
    case 'blockchain.scripthash.listunspent':
    case 'blockchain.scripthash.subscribe':
      return sh(method);
    case 'blockchain.scripthash.unsubscribe':
      return [
        ['subscribed', [f.wpkh]],
        ['no longer subscribed', [f.wpkh]],
        ['never subscribed', [f.empty]],
      ];
    case 'blockchain.transaction.broadcast':
      // bitcoind answers a transaction already in its mempool with its txid.
      return [['a mempool transaction again', [f.mempoolRaw]]];
    case 'blockchain.transaction.broadcast_package':
      return [
        ['a package already in the mempool', [[f.mempoolRaw]]],
        ['verbose', [[f.mempoolRaw], true]],
      ];
    case 'blockchain.transaction.get':
      return [
        ['confirmed', [f.confirmed]],
        ['in the mempool', [f.mempool]],
        ['verbose', [f.confirmed, true]],
        ['verbose false', [f.mempool, false]],
        ['unknown', ['ee'.repeat(32)]],
      ];
    case 'blockchain.transaction.get_merkle':
      return [
        ['confirmed', [f.confirmed, f.fundedHeight]],
        ['wrong height', [f.confirmed, f.fundedHeight - 1]],
      ];
    case 'blockchain.transaction.id_from_pos':
      return [
        ['coinbase', [f.fundedHeight, 0]],
        ['with merkle', [f.fundedHeight, 1, true]],
        ['position past the end', [f.fundedHeight, 999]],
      ];
    default:
      return [];
  }
}

/** Bad params for every method that takes params: both must answer with an error. */
function badCases(method: string, f: Fixture, version: string): Case[] {
  if (NO_PARAMS.has(method)) return [['an argument too many', [1]]];
  switch (method) {
    case 'server.add_peer':
      return [['no features', []]];
    case 'blockchain.block.header':
      return [
        ['no height', []],
        ['negative', [-1]],
        ['not a number', ['x']],
        ['an argument too many', [1, f.tip, 3]],
        ['unknown name', { height: 1, cp: 2 }],
      ];
    case 'blockchain.block.headers':
      return [
        ['no count', [0]],
        ['negative start', [-1, 2]],
        ['bad checkpoint', [0, 2, 'x']],
      ];
    case 'blockchain.estimatefee':
      return [
        ['no number', []],
        ['negative', [-1]],
        ...(version === '1.6' ? [['unknown mode', [2, 'FASTEST']] as Case] : []),
      ];
    case 'blockchain.scripthash.get_balance':
    case 'blockchain.scripthash.get_history':
    case 'blockchain.scripthash.get_mempool':
    case 'blockchain.scripthash.listunspent':
    case 'blockchain.scripthash.subscribe':
    case 'blockchain.scripthash.unsubscribe':
      return [
        ['not hex', ['zz']],
        ['too short', [f.wpkh.slice(2)]],
        ['a number', [5]],
        ['missing', []],
      ];
    case 'blockchain.transaction.broadcast':
      return [
        ['not hex', ['zz']],
        ['missing', []],
        ['a confirmed transaction (inputs spent)', [f.confirmedRaw]],
      ];
    case 'blockchain.transaction.broadcast_package':
      return [
        ['not a list', ['zz']],
        ['a bad transaction', [['zz']]],
        ['missing', []],
      ];
    case 'blockchain.transaction.get':
      return [
        ['not a hash', ['zz']],
        ['bad verbose', [f.confirmed, 'maybe']],
        ['missing', []],
      ];
    case 'blockchain.transaction.get_merkle':
      return [
        ['no height', [f.confirmed]],
        ['negative height', [f.confirmed, -1]],
        ['not a hash', ['zz', f.fundedHeight]],
      ];
    case 'blockchain.transaction.id_from_pos':
      return [
        ['no position', [f.fundedHeight]],
        ['negative position', [f.fundedHeight, -1]],
        ['beyond the tip', [f.tip + 5, 0]],
      ];
    default:
      return [];
  }
}

/** The shared part of what the gateway answers itself (its own identity is not the upstream's). */
function shared(method: string, o: Outcome): unknown {
  if (isError(o)) return o;
  const r = o.result as Record<string, unknown>;
  switch (method) {
    case 'server.features':
      return { genesis_hash: r.genesis_hash, hash_function: r.hash_function, pruning: r.pruning };
    case 'server.banner':
      return typeof o.result;
    default:
      return normal(o);
  }
}

const LOCAL_IDENTITY = new Set(['server.features', 'server.banner']);

describe('differential: the gateway answers like the simulator at 1.4 and 1.6', () => {
  let sim16: Simulator;
  let sim14: Simulator;
  let gw16: TestGateway;
  let gw14: TestGateway;
  let fixture: Fixture;

  before(async () => {
    sim16 = await Simulator.start({ seed: SEED });
    sim14 = await Simulator.start({ seed: SEED, protocolMax: '1.4' });
    const a = populate(sim16);
    const b = populate(sim14);
    assert.deepEqual(b, a);
    assert.equal(sim14.blockHash(sim14.tipHeight()), sim16.blockHash(sim16.tipHeight()), 'the two simulators hold the same chain');
    assert.deepEqual(sim14.mempoolTxids(), sim16.mempoolTxids(), 'and the same mempool');
    fixture = {
      tip: sim16.tipHeight(),
      fundedHeight: a.fundedHeight,
      confirmed: a.confirmed,
      confirmedRaw: sim16.rawTransaction(a.confirmed)!,
      mempool: a.mempool,
      mempoolRaw: sim16.rawTransaction(a.mempool)!,
      wpkh: REGTEST.find((v) => v.kind === 'p2wpkh')!.scripthash,
      empty: 'ab'.repeat(32),
    };
    gw16 = await startTestGateway({ upstreams: [sim16] });
    gw14 = await startTestGateway({ upstreams: [sim14] });
    await untilForwarding(gw16.port);
    await untilForwarding(gw14.port);
  });

  after(async () => {
    await gw16?.close();
    await gw14?.close();
    await sim16?.stop();
    await sim14?.stop();
  });

  it('a 1.6 wallet over a pool of both: broadcast_package goes to the 1.6 upstream, every time', async () => {
    const mixed = await startTestGateway({ upstreams: [sim14, sim16], admin: true });
    const direct = await RpcClient.connect(sim16.port);
    const wallets: RpcClient[] = [];
    try {
      await untilForwarding(mixed.port);
      await RpcClient.until(async () => (await mixed.status()).upstreams.filter((u) => u.state === 'healthy').length === 2, 'both upstreams to be ready');
      await direct.request('server.version', ['differential', '1.6']);
      const expected = normal(await outcome(direct, 'blockchain.transaction.broadcast_package', [[fixture.mempoolRaw]]));
      for (let i = 0; i < 8; i++) {
        const w = await RpcClient.connect(mixed.port);
        wallets.push(w);
        await w.request('server.version', ['differential', '1.6']);
        const got = normal(await outcome(w, 'blockchain.transaction.broadcast_package', [[fixture.mempoolRaw]]));
        assert.deepEqual(got, expected, `attempt ${i}`);
      }
    } finally {
      for (const w of wallets) await w.close();
      await direct.close();
      await mixed.close();
    }
  });

  for (const version of ['1.4', '1.6'] as const) {
    for (const upstream of ['1.6', '1.4-only'] as const) {
      it(`a ${version} wallet over a ${upstream} simulator: every method, valid and bad params`, async () => {
        const direct = await RpcClient.connect(sim16.port);
        const via = await RpcClient.connect((upstream === '1.6' ? gw16 : gw14).port);
        const covered = new Set<string>();
        try {
          // server.version: the negotiated version is the same; the software is the gateway's.
          const dv = (await direct.request('server.version', ['differential', version])) as [string, string];
          const gv = (await via.request('server.version', ['differential', version])) as [string, string];
          assert.equal(gv[1], dv[1]);
          assert.equal(gv[1], version);
          assert.deepEqual(gv, [SERVER_SOFTWARE, version]);
          covered.add('server.version');

          for (const method of methodsAt(version)) {
            if (method === 'server.version') continue;
            covered.add(method);
            const valid = validCases(method, fixture, version);
            assert.ok(valid.length > 0, `${method} has valid cases`);
            for (const [label, params] of valid) {
              const expected = await outcome(direct, method, params);
              const got = await outcome(via, method, params);
              const what = `${method} ${label} (${JSON.stringify(params).slice(0, 80)})`;
              if (method === 'blockchain.transaction.broadcast_package' && upstream === '1.4-only') {
                // The one answer a 1.4 upstream cannot give: a clear error instead.
                assert.ok(isError(got), what);
                assert.equal(got.error.code, -100, what);
                assert.match(got.error.message, /needs an upstream that speaks protocol 1\.6/);
                continue;
              }
              if (method === 'mempool.get_info' && upstream === '1.4-only' && !isError(got) && !isError(expected)) {
                // Derived from the relay fee and the histogram (adapt.ts): the minimum may be above the daemon's, never below.
                const g = got.result as Record<string, number>;
                const e = expected.result as Record<string, number>;
                assert.deepEqual([g.minrelaytxfee, g.incrementalrelayfee], [e.minrelaytxfee, e.incrementalrelayfee], what);
                assert.ok(g.mempoolminfee! >= e.mempoolminfee!, `${what}: ${g.mempoolminfee} below the daemon's ${e.mempoolminfee}`);
                continue;
              }
              if (LOCAL_IDENTITY.has(method)) assert.deepEqual(shared(method, got), shared(method, expected), what);
              else assert.deepEqual(normal(got), normal(expected), what);
            }
            for (const [label, params] of badCases(method, fixture, version)) {
              const expected = await outcome(direct, method, params);
              const got = await outcome(via, method, params);
              const what = `${method} ${label} (${JSON.stringify(params).slice(0, 80)})`;
              assert.ok(isError(expected), `the simulator refuses ${what}: ${JSON.stringify(expected).slice(0, 200)}`);
              assert.ok(isError(got), `the gateway refuses ${what}: ${JSON.stringify(got).slice(0, 200)}`);
              // Wallets match on codes: the gateway answers the code the real server answers for the same input.
              assert.equal(got.error.code, expected.error.code, `${what}: gateway ${JSON.stringify(got.error)} vs simulator ${JSON.stringify(expected.error)}`);
              // Where the wording differs it is the gateway's own check, which names the parameter.
              if (got.error.message !== expected.error.message) assert.match(got.error.message, /^(invalid \w+(\[\d+\])?: |\d+ arguments? passed to method |invalid request arguments: |the transaction was rejected by network rules)/, what);
            }
          }
          assert.deepEqual([...covered].sort(), methodsAt(version));

          // Methods of other versions: unknown on both sides.
          for (const method of METHOD_NAMES) {
            if (covered.has(method)) continue;
            const expected = await outcome(direct, method, []);
            const got = await outcome(via, method, []);
            assert.deepEqual(normal(got), normal(expected), `${method} at ${version}`);
            assert.ok(isError(got) && got.error.code === -32601, method);
          }
        } finally {
          await direct.close();
          await via.close();
        }
      });
    }
  }
});
