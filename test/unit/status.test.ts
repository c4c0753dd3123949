// SPDX-License-Identifier: MIT
/**
 * Scripthash status and the canonical mempool order, against the history and
 * status ElectrumX returned (test/vectors/chain.json) and the spec text.
 */
import { VECTORS_DIR } from '../helpers/vectors.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canonicalStatus,
  compareMempool,
  isCanonicalHistory,
  orderHistory,
  sortMempool,
  statusHash,
  type StatusEntry,
} from '../../src/protocol/status.js';

const VECTORS = VECTORS_DIR;
const chain = JSON.parse(readFileSync(join(VECTORS, 'chain.json'), 'utf8')) as {
  status: { history: Array<StatusEntry & { fee?: number }>; status: string };
};
const v = chain.status;

test('status vector: ElectrumX history in 1.6 order hashes to ElectrumX status', () => {
  assert.equal(statusHash(v.history), v.status);
  assert.equal(canonicalStatus(v.history), v.status);
  assert.equal(isCanonicalHistory(v.history), true);
  assert.deepEqual(orderHistory(v.history), v.history);
});

test('status is order-sensitive; canonicalStatus restores the spec order of the mempool part', () => {
  const swapped = [...v.history];
  const n = swapped.length;
  [swapped[n - 1], swapped[n - 2]] = [swapped[n - 2]!, swapped[n - 1]!];
  assert.notEqual(statusHash(swapped), v.status);
  assert.equal(isCanonicalHistory(swapped), false);
  assert.equal(canonicalStatus(swapped), v.status);
  // Confirmed entries moved after mempool ones are put back first.
  const rotated = [...v.history.slice(-2), ...v.history.slice(0, -2)];
  assert.equal(isCanonicalHistory(rotated), false);
  assert.equal(canonicalStatus(rotated), v.status);
});

test('empty history has a null status', () => {
  assert.equal(statusHash([]), null);
  assert.equal(canonicalStatus([]), null);
});

test('status is sha256 over "txid:height:" strings (spec definition, computed here by hand)', () => {
  const h = [
    { tx_hash: 'aa'.repeat(32), height: 5 },
    { tx_hash: 'bb'.repeat(32), height: -1 },
  ];
  const expected = createHash('sha256').update(`${'aa'.repeat(32)}:5:${'bb'.repeat(32)}:-1:`).digest('hex');
  assert.equal(statusHash(h), expected);
});

test('canonical mempool sort: height 0 before -1, ties by txid display hex', () => {
  const a = { tx_hash: '0f'.repeat(32), height: -1 };
  const b = { tx_hash: 'ff'.repeat(32), height: 0 };
  const c = { tx_hash: '01'.repeat(32), height: 0 };
  const d = { tx_hash: '00'.repeat(32), height: -1 };
  const sorted = sortMempool([a, b, c, d]);
  assert.deepEqual(sorted, [c, b, d, a]);
  assert.ok(compareMempool(b, a) < 0);
  assert.ok(compareMempool(a, d) > 0);
  assert.equal(compareMempool(a, { ...a }), 0);
  // The input array is not touched.
  const input = [a, b];
  sortMempool(input);
  assert.deepEqual(input, [a, b]);
  // The vector's two mempool txs are both height 0 and sorted by txid.
  const mp = v.history.filter((e) => e.height <= 0);
  assert.equal(mp.length, 2);
  assert.deepEqual(sortMempool([...mp].reverse()), mp);
});

test('orderHistory keeps same-height confirmed entries in their given (in-block) order', () => {
  const x = { tx_hash: 'ff'.repeat(32), height: 7 };
  const y = { tx_hash: '00'.repeat(32), height: 7 };
  const z = { tx_hash: '11'.repeat(32), height: 3 };
  assert.deepEqual(orderHistory([x, y, z]), [z, x, y]);
  assert.equal(isCanonicalHistory([z, x, y]), true);
  assert.equal(isCanonicalHistory([x, z]), false);
});
