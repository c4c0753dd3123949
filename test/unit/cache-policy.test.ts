// SPDX-License-Identifier: MIT
/**
 * The cache policy table (src/cache/policy.ts, docs/caching.md): which
 * canonical requests are cacheable, at which depth, under which key.
 *
 * `buried(h)` is built exactly as the answer cache builds it:
 * h <= tip - min_depth, and nothing is buried while there is no tip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_HEADERS, cachePlan, type CachePlan } from '../../src/cache/policy.js';

const TXID = 'ab'.repeat(32);
const OTHER_TXID = 'cd'.repeat(32);

function burial(tip: number | null, minDepth: number): (h: number) => boolean {
  return (h) => tip !== null && h <= tip - minDepth;
}

/** tip 1000, min_depth 6: 994 is the highest cacheable height. */
const TIP = 1000;
const DEPTH = 6;
const DEEPEST_CACHEABLE = TIP - DEPTH;
const buried = burial(TIP, DEPTH);

const plan = (method: string, args: readonly unknown[], b = buried): CachePlan => cachePlan(method, args, b);

describe('cache policy: headers', () => {
  it('a single header is cached from min_depth below the tip, never nearer', () => {
    assert.deepEqual(plan('blockchain.block.header', [DEEPEST_CACHEABLE]), { kind: 'headers', start: DEEPEST_CACHEABLE, count: 1, single: true });
    assert.deepEqual(plan('blockchain.block.header', [0]), { kind: 'headers', start: 0, count: 1, single: true });
    for (const h of [DEEPEST_CACHEABLE + 1, TIP - 1, TIP, TIP + 1, TIP + 1000]) {
      assert.deepEqual(plan('blockchain.block.header', [h]), { kind: 'never' }, `header ${h}`);
    }
  });

  it('the depth follows cache.min_depth (0, 1, 6, 100)', () => {
    for (const depth of [0, 1, 6, 100]) {
      const b = burial(TIP, depth);
      assert.equal(plan('blockchain.block.header', [TIP - depth], b).kind, 'headers', `min_depth ${depth}: tip - ${depth}`);
      assert.equal(plan('blockchain.block.header', [TIP - depth + 1], b).kind, 'never', `min_depth ${depth}: tip - ${depth} + 1`);
    }
  });

  it('nothing about a block is cached before there is a tip', () => {
    const noTip = burial(null, DEPTH);
    assert.equal(plan('blockchain.block.header', [0], noTip).kind, 'never');
    assert.equal(plan('blockchain.block.headers', [0, 10], noTip).kind, 'never');
    assert.equal(plan('blockchain.block.header', [0, 5], noTip).kind, 'never');
    assert.equal(plan('blockchain.transaction.get_merkle', [TXID, 0], noTip).kind, 'never');
    assert.equal(plan('blockchain.transaction.id_from_pos', [0, 0], noTip).kind, 'never');
  });

  it('a range is cached only when its last header is buried', () => {
    assert.deepEqual(plan('blockchain.block.headers', [0, MAX_HEADERS], burial(MAX_HEADERS - 1 + DEPTH, DEPTH)), { kind: 'headers', start: 0, count: MAX_HEADERS, single: false });
    assert.deepEqual(plan('blockchain.block.headers', [0, MAX_HEADERS], burial(MAX_HEADERS - 2 + DEPTH, DEPTH)), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [DEEPEST_CACHEABLE - 9, 10]), { kind: 'headers', start: DEEPEST_CACHEABLE - 9, count: 10, single: false });
    // One header past the limit, a range reaching the tip, a range past the tip (a short reply): never.
    assert.deepEqual(plan('blockchain.block.headers', [DEEPEST_CACHEABLE - 9, 11]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [TIP - 10, 11]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [TIP - 10, MAX_HEADERS]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [TIP + 1, 1]), { kind: 'never' });
  });

  it('a range is cached only for 1..2016 headers (what every server guarantees in full)', () => {
    assert.equal(MAX_HEADERS, 2016);
    const high = burial(100_000, DEPTH);
    assert.deepEqual(plan('blockchain.block.headers', [0, 0], high), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [0, MAX_HEADERS + 1], high), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [0, MAX_HEADERS + 1, 50_000], high), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [0, MAX_HEADERS, 50_000], high).kind, 'block-bound');
    assert.deepEqual(plan('blockchain.block.headers', [0, 1]), { kind: 'headers', start: 0, count: 1, single: false });
  });

  it('a legacy chunk (get_chunk(i) = headers(i*2016, 2016)) is cacheable once its last header is buried', () => {
    const b = burial(2 * 2016 + DEPTH - 1, DEPTH);
    assert.equal(plan('blockchain.block.headers', [2016, 2016], b).kind, 'headers');
    assert.equal(plan('blockchain.block.headers', [2 * 2016, 2016], b).kind, 'never');
    const justShort = burial(2 * 2016 + DEPTH - 2, DEPTH);
    assert.equal(plan('blockchain.block.headers', [2016, 2016], justShort).kind, 'never');
  });

  it('cp_height variants are block-bound to the checkpoint block and need it buried', () => {
    assert.deepEqual(plan('blockchain.block.header', [50, DEEPEST_CACHEABLE]), { kind: 'block-bound', key: `hcp:50:${DEEPEST_CACHEABLE}`, height: DEEPEST_CACHEABLE });
    assert.deepEqual(plan('blockchain.block.header', [DEEPEST_CACHEABLE, DEEPEST_CACHEABLE]), {
      kind: 'block-bound',
      key: `hcp:${DEEPEST_CACHEABLE}:${DEEPEST_CACHEABLE}`,
      height: DEEPEST_CACHEABLE,
    });
    assert.deepEqual(plan('blockchain.block.header', [50, DEEPEST_CACHEABLE + 1]), { kind: 'never' });
    // A header above its checkpoint is an error upstream, never a cache entry.
    assert.deepEqual(plan('blockchain.block.header', [60, 50]), { kind: 'never' });

    assert.deepEqual(plan('blockchain.block.headers', [0, 10, DEEPEST_CACHEABLE]), { kind: 'block-bound', key: `hscp:0:10:${DEEPEST_CACHEABLE}`, height: DEEPEST_CACHEABLE });
    assert.deepEqual(plan('blockchain.block.headers', [0, 10, DEEPEST_CACHEABLE + 1]), { kind: 'never' });
    // The range must end at or below the checkpoint.
    assert.deepEqual(plan('blockchain.block.headers', [DEEPEST_CACHEABLE - 5, 10, DEEPEST_CACHEABLE]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.block.headers', [DEEPEST_CACHEABLE - 9, 10, DEEPEST_CACHEABLE]).kind, 'block-bound');
  });

  it('different arguments never share a key', () => {
    const keys = [
      plan('blockchain.block.header', [1, 100]),
      plan('blockchain.block.header', [2, 100]),
      plan('blockchain.block.header', [1, 101]),
      plan('blockchain.block.headers', [1, 2, 100]),
      plan('blockchain.block.headers', [1, 3, 100]),
      plan('blockchain.block.headers', [2, 2, 100]),
      plan('blockchain.transaction.get_merkle', [TXID, 100]),
      plan('blockchain.transaction.get_merkle', [OTHER_TXID, 100]),
      plan('blockchain.transaction.get_merkle', [TXID, 101]),
      plan('blockchain.transaction.id_from_pos', [100, 1]),
      plan('blockchain.transaction.id_from_pos', [100, 2]),
      plan('blockchain.transaction.id_from_pos', [101, 1]),
      plan('blockchain.estimatefee', [2]),
      plan('blockchain.estimatefee', [6]),
      plan('blockchain.estimatefee', [2, 'ECONOMICAL']),
      plan('blockchain.relayfee', []),
      plan('mempool.get_info', []),
      plan('mempool.get_fee_histogram', []),
    ].map((p) => ('key' in p ? p.key : assert.fail(`no key in ${JSON.stringify(p)}`)));
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
  });
});

describe('cache policy: transactions and proofs', () => {
  it('a non-verbose transaction is a transaction entry (cached once the cache has proven it buried)', () => {
    assert.deepEqual(plan('blockchain.transaction.get', [TXID]), { kind: 'transaction', txid: TXID });
    // Whether it is buried is decided by the cache from a verified merkle proof, not from the request.
    assert.deepEqual(plan('blockchain.transaction.get', [TXID], () => false), { kind: 'transaction', txid: TXID });
  });

  it('a verbose transaction is never cached (it carries confirmations)', () => {
    assert.deepEqual(plan('blockchain.transaction.get', [TXID, true]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.transaction.get', [TXID, true], () => true), { kind: 'never' });
  });

  it('get_merkle is keyed by txid and height, cached only when the height is buried', () => {
    assert.deepEqual(plan('blockchain.transaction.get_merkle', [TXID, DEEPEST_CACHEABLE]), { kind: 'block-bound', key: `mk:${TXID}:${DEEPEST_CACHEABLE}`, height: DEEPEST_CACHEABLE });
    assert.deepEqual(plan('blockchain.transaction.get_merkle', [TXID, DEEPEST_CACHEABLE + 1]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.transaction.get_merkle', [TXID, TIP]), { kind: 'never' });
  });

  it('id_from_pos is keyed by height and position, the same entry with or without merkle', () => {
    const expected = { kind: 'block-bound', key: `ip:${DEEPEST_CACHEABLE}:7`, height: DEEPEST_CACHEABLE };
    assert.deepEqual(plan('blockchain.transaction.id_from_pos', [DEEPEST_CACHEABLE, 7]), expected);
    assert.deepEqual(plan('blockchain.transaction.id_from_pos', [DEEPEST_CACHEABLE, 7, true]), expected);
    assert.deepEqual(plan('blockchain.transaction.id_from_pos', [DEEPEST_CACHEABLE + 1, 7]), { kind: 'never' });
    assert.deepEqual(plan('blockchain.transaction.id_from_pos', [DEEPEST_CACHEABLE + 1, 7, true]), { kind: 'never' });
  });
});

describe('cache policy: per-tip answers', () => {
  const PER_TIP: [string, unknown[]][] = [
    ['blockchain.estimatefee', [2]],
    ['blockchain.estimatefee', [2, 'CONSERVATIVE']],
    ['blockchain.relayfee', []],
    ['mempool.get_info', []],
    ['mempool.get_fee_histogram', []],
  ];

  it('fee answers are per-tip entries, whatever the depth or tip', () => {
    for (const [method, args] of PER_TIP) {
      for (const b of [buried, () => false, () => true]) {
        const p = plan(method, args, b);
        assert.equal(p.kind, 'per-tip', method);
        assert.ok('key' in p && p.key.startsWith(`${method}:`), `${method} key names the method`);
      }
    }
  });
});

describe('cache policy: never', () => {
  const NEVER: [string, unknown[]][] = [
    ['blockchain.scripthash.get_history', [TXID]],
    ['blockchain.scripthash.get_balance', [TXID]],
    ['blockchain.scripthash.get_mempool', [TXID]],
    ['blockchain.scripthash.listunspent', [TXID]],
    ['blockchain.scripthash.subscribe', [TXID]],
    ['blockchain.scripthash.unsubscribe', [TXID]],
    ['blockchain.address.get_history', ['bcrt1qxyz']],
    ['blockchain.address.get_balance', ['bcrt1qxyz']],
    ['blockchain.transaction.broadcast', ['0200']],
    ['blockchain.transaction.broadcast_package', [['0200']]],
    ['blockchain.headers.subscribe', []],
    ['blockchain.numblocks.subscribe', []],
    ['server.version', ['x', '1.4']],
    ['server.features', []],
    ['server.banner', []],
    ['server.donation_address', []],
    ['server.peers.subscribe', []],
    ['server.ping', []],
    ['blockchain.block.get_chunk', [0]],
    ['blockchain.block.get_header', [0]],
    ['blockchain.utxo.get_address', [TXID, 0]],
    ['no.such.method', [1]],
  ];

  it('scripthash and address methods, broadcasts, subscriptions, session methods: never, even when everything is buried', () => {
    for (const [method, args] of NEVER) {
      assert.deepEqual(plan(method, args, () => true), { kind: 'never' }, method);
      assert.deepEqual(plan(method, args, buried), { kind: 'never' }, method);
    }
  });

  it('is pure: the same request gives the same plan', () => {
    const a = plan('blockchain.block.headers', [100, 50]);
    const b = plan('blockchain.block.headers', [100, 50]);
    assert.deepEqual(a, b);
  });
});
