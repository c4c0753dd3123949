// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MoveWindow } from '../../src/subscriptions/window.js';

function clocked(max = 100, slowMs = 5_000, restoreMs = 60_000): { w: MoveWindow; at: (ms: number) => void } {
  let now = 1_000_000;
  const w = new MoveWindow({ max, slowMs: () => slowMs, restoreMs, now: () => now });
  return { w, at: (ms) => void (now = ms) };
}

describe('MoveWindow', () => {
  it('starts full and stays full while moves are answered in time', () => {
    const { w, at } = clocked();
    assert.equal(w.limit, 100);
    for (let i = 0; i < 50; i++) {
      at(1_000_000 + i * 10);
      assert.equal(w.record(1_000_000 + i * 10 - 5, false), false);
    }
    assert.equal(w.limit, 100);
  });

  it('halves on a congested or slow move, once for the moves that were in flight together', () => {
    const { w, at } = clocked();
    at(1_010_000);
    assert.equal(w.record(1_000_000, false), true, 'a move answered after 10 s is congestion');
    assert.equal(w.limit, 50);
    assert.equal(w.record(1_000_500, true), false, 'started before the cut: says nothing new');
    assert.equal(w.limit, 50);
    at(1_010_100);
    assert.equal(w.record(1_010_050, true), true, 'started after the cut: halves again');
    assert.equal(w.limit, 25);
  });

  it('never goes below 1, and grows back by about one per window of moves that went well', () => {
    const { w, at } = clocked(8);
    for (let i = 0; i < 6; i++) {
      at(1_000_000 + i * 100);
      w.record(1_000_000 + i * 100, true);
    }
    assert.equal(w.limit, 1);
    let t = 1_001_000;
    for (let i = 0; i < 1 + 2 + 3 + 1; i++) w.record(t++, false);
    at(t);
    assert.equal(w.limit, 4);
  });

  it('is full again after a spell with no move at all, not after a quiet spell of moves kept under the threshold', () => {
    const { w, at } = clocked(100, 5_000, 60_000);
    at(1_010_000);
    w.record(1_000_000, false);
    assert.equal(w.limit, 50);
    // Moves keep flowing in time for two minutes: additive growth only.
    let t = 1_010_000;
    for (let i = 0; i < 120; i++) {
      t += 1_000;
      at(t);
      w.record(t - 100, false);
    }
    assert.ok(w.limit < 100 && w.limit > 50, `grew additively to ${w.limit}`);
    at(t + 60_000);
    assert.equal(w.limit, 100);
  });
});
