// SPDX-License-Identifier: MIT
/**
 * Cached answers written straight to wire bytes (issue 12 pt 2) must be
 * byte for byte what JSON.stringify gave for the value the old path built,
 * in every shape a client version takes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headerWire, headersWire, hexEquals, hexStringWire, writeHex } from '../../src/cache/wire-forms.js';
import { clientResult } from '../../src/routing/adapt.js';

function header(i: number): Buffer {
  const b = Buffer.alloc(80 + 32);
  for (let k = 0; k < b.length; k++) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}

describe('wire forms of cached answers', () => {
  it('one header is its hex string, from the L1 buffer (hash after it ignored) or from hex', () => {
    const h = header(3);
    const hex = h.toString('hex', 0, 80);
    assert.equal(headerWire(h).toString('latin1'), JSON.stringify(hex));
    assert.equal(headerWire(hex).toString('latin1'), JSON.stringify(hex));
  });

  it('writeHex spells every byte value as toString("hex") does, at any offset, and returns the offset after', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, b) => b));
    const out = Buffer.alloc(3 + 512 + 3, 0x2e);
    assert.equal(writeHex(out, 3, all, 0, 256), 3 + 512);
    assert.equal(out.toString('latin1', 3, 515), all.toString('hex'));
    assert.equal(out.toString('latin1', 0, 3) + out.toString('latin1', 515), '......', 'nothing written outside');
    assert.equal(writeHex(out, 0, all, 250, 6), 12);
    assert.equal(out.toString('latin1', 0, 12), 'fafbfcfdfeff');
  });

  it('a header viewed inside a larger buffer (the tracker index) is written from its own 80 bytes', () => {
    const index = Buffer.concat([header(1), header(2), header(3)]);
    const view = index.subarray(112 + 32, 112 + 32 + 80);
    assert.equal(headerWire(view).toString('latin1'), JSON.stringify(view.toString('hex')));
    const wire = headersWire([view, header(4)], 2016, 'list').toString('latin1');
    assert.equal(wire, JSON.stringify({ count: 2, headers: [view.toString('hex'), header(4).toString('hex', 0, 80)], max: 2016 }));
  });

  it('a range is what JSON.stringify of the old answer gives, for 1.6 and for every older version', () => {
    for (const n of [1, 2, 10, 2016]) {
      const hs = Array.from({ length: n }, (_, i) => header(i));
      const hexes = hs.map((h) => h.toString('hex', 0, 80));
      const canonical = { count: n, headers: hexes, max: 2016 };
      for (const version of ['1.0', '1.2', '1.4', '1.4.2', '1.6']) {
        const old = JSON.stringify(clientResult('blockchain.block.headers', canonical, version));
        const shape = version === '1.6' ? 'list' : 'hex';
        assert.equal(headersWire(hs, 2016, shape).toString('latin1'), old, `${n} headers at ${version}`);
        // Mixed sources (L1 buffers and L2 hex) give the same bytes.
        assert.equal(headersWire(hs.map((h, i) => (i % 2 ? h : hexes[i]!)), 2016, shape).toString('latin1'), old);
      }
    }
  });

  it('an empty range is still valid JSON', () => {
    assert.equal(headersWire([], 2016, 'list').toString(), '{"count":0,"headers":[],"max":2016}');
    assert.equal(headersWire([], 2016, 'hex').toString(), '{"count":0,"hex":"","max":2016}');
  });

  it('a transaction is its hex string', () => {
    for (const tx of [Buffer.alloc(0), Buffer.from('0100000001ff', 'hex'), Buffer.alloc(5000, 0xab)]) {
      assert.equal(hexStringWire(tx).toString('latin1'), JSON.stringify(tx.toString('hex')));
    }
  });

  it('hexEquals compares bytes with their lowercase hex without encoding them, and tells every difference', () => {
    const h = header(5);
    const hash = h.toString('hex', 80);
    assert.equal(hexEquals(h, 80, hash), true);
    assert.equal(hexEquals(h, 0, h.toString('hex')), true);
    for (let i = 0; i < hash.length; i++) {
      const other = hash.slice(0, i) + (hash[i] === '0' ? '1' : '0') + hash.slice(i + 1);
      assert.equal(hexEquals(h, 80, other), false, `a difference in digit ${i}`);
    }
    assert.equal(hexEquals(h, 80, hash.slice(0, 62)), false, 'shorter');
    assert.equal(hexEquals(h, 79, hash), false, 'longer');
    assert.equal(hexEquals(h, 80, hash.toUpperCase()), hash === hash.toUpperCase(), 'the tracker keeps lowercase hex');
  });
});
