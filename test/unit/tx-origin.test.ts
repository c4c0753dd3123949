// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTxLookup, TxOrigins } from '../../src/routing/tx-origin.js';

const tx = (n: number): string => n.toString(16).padStart(64, '0');
const HISTORY = 'blockchain.scripthash.get_history';
const GET = 'blockchain.transaction.get';

describe('TxOrigins: which upstream listed a transaction', () => {
  it('remembers mempool and recent entries of listings, not deep ones', () => {
    const o = new TxOrigins();
    o.learn(HISTORY, [{ tx_hash: tx(1), height: 100 }, { tx_hash: tx(2), height: 196 }, { tx_hash: tx(3), height: 0 }, { tx_hash: tx(4), height: -1 }], 'a', 200);
    assert.equal(o.originOf(GET, [tx(1)]), undefined, '100 blocks deep: every upstream has it');
    assert.equal(o.originOf(GET, [tx(2)]), 'a', 'in the last 6 blocks');
    assert.equal(o.originOf(GET, [tx(3)]), 'a', 'mempool');
    assert.equal(o.originOf('blockchain.transaction.get_merkle', [tx(4), 0]), 'a', 'mempool with unconfirmed parents');
    assert.equal(o.size, 3);
  });

  it('listunspent and get_mempool teach it too; other methods and shapes do not', () => {
    const o = new TxOrigins();
    o.learn('blockchain.scripthash.listunspent', [{ tx_hash: tx(5), tx_pos: 0, height: 0, value: 1 }], 'b', 10);
    o.learn('blockchain.scripthash.get_mempool', [{ tx_hash: tx(6), height: 0, fee: 1 }], 'c', 10);
    o.learn('blockchain.scripthash.get_balance', { confirmed: 1, unconfirmed: 0 }, 'd', 10);
    o.learn(HISTORY, 'not a list', 'd', 10);
    o.learn(HISTORY, [null, 7, { tx_hash: 8, height: 0 }, { tx_hash: tx(9) }], 'd', 10);
    assert.equal(o.originOf(GET, [tx(5)]), 'b');
    assert.equal(o.originOf(GET, [tx(6)]), 'c');
    assert.equal(o.size, 2, 'malformed entries are skipped, never thrown on');
  });

  it('matches hashes whatever their case, and only for lookups by hash', () => {
    const o = new TxOrigins();
    o.learn(HISTORY, [{ tx_hash: 'AB'.repeat(32), height: 0 }], 'a', null);
    assert.equal(o.originOf(GET, ['ab'.repeat(32)]), 'a');
    assert.equal(o.originOf('blockchain.scripthash.get_history', ['ab'.repeat(32)]), undefined);
    assert.equal(o.originOf(GET, [42]), undefined);
    assert.equal(isTxLookup(GET), true);
    assert.equal(isTxLookup('blockchain.transaction.broadcast'), false);
  });

  it('is bounded: the oldest sightings go first', () => {
    const o = new TxOrigins({ maxEntries: 3 });
    o.learn(HISTORY, [1, 2, 3, 4, 5].map((n) => ({ tx_hash: tx(n), height: 0 })), 'a', 10);
    assert.equal(o.size, 3);
    assert.equal(o.originOf(GET, [tx(1)]), undefined);
    assert.equal(o.originOf(GET, [tx(5)]), 'a');
  });

  it('forgets a sighting after its window', async () => {
    const o = new TxOrigins({ windowMs: 20 });
    o.learn(HISTORY, [{ tx_hash: tx(1), height: 0 }], 'a', 10);
    assert.equal(o.originOf(GET, [tx(1)]), 'a');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(o.originOf(GET, [tx(1)]), undefined);
  });
});
