// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { DeadlineQueue } from '../../src/upstream/deadlines.js';

/** A queue on a fake clock (mocked setTimeout), with a set of live keys like a connection's pending map. */
function setup(): { q: DeadlineQueue; live: Set<number>; expired: number[]; clock: { t: number }; advance(ms: number): void } {
  const clock = { t: 1000 };
  const live = new Set<number>();
  const expired: number[] = [];
  const q = new DeadlineQueue(
    {
      isLive: (k) => live.has(k),
      expire: (k) => {
        live.delete(k);
        expired.push(k);
        q.settled();
      },
    },
    () => clock.t,
  );
  return {
    q,
    live,
    expired,
    clock,
    advance(ms: number) {
      clock.t += ms;
      mock.timers.tick(ms);
    },
  };
}

describe('DeadlineQueue (one timer for many request timeouts)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('expires a key at its deadline, not before', () => {
    const { q, live, expired, advance } = setup();
    live.add(1);
    q.add(1, 1100);
    advance(99);
    assert.deepEqual(expired, []);
    advance(1);
    assert.deepEqual(expired, [1]);
    assert.equal(q.size, 0);
  });

  it('expires keys in deadline order, whatever order they were added in', () => {
    const { q, live, expired, advance } = setup();
    for (const [k, d] of [
      [1, 1300],
      [2, 1100],
      [3, 1200],
      [4, 1100],
      [5, 1500],
    ] as const) {
      live.add(k);
      q.add(k, d);
    }
    advance(100);
    assert.deepEqual(expired, [2, 4]);
    advance(100);
    assert.deepEqual(expired, [2, 4, 3]);
    advance(300);
    assert.deepEqual(expired, [2, 4, 3, 1, 5]);
  });

  it('does not expire a key answered before its deadline', () => {
    const { q, live, expired, advance } = setup();
    live.add(1);
    live.add(2);
    q.add(1, 1100);
    q.add(2, 1200);
    live.delete(1);
    q.settled();
    advance(150);
    assert.deepEqual(expired, []);
    advance(50);
    assert.deepEqual(expired, [2]);
  });

  it('an earlier deadline added later re-arms the timer for it', () => {
    const { q, live, expired, advance } = setup();
    live.add(1);
    q.add(1, 6000);
    live.add(2);
    q.add(2, 1050);
    advance(50);
    assert.deepEqual(expired, [2]);
    advance(4949);
    assert.deepEqual(expired, [2]);
    advance(1);
    assert.deepEqual(expired, [2, 1]);
  });

  it('holds entries in proportion to the live keys, not to how many were ever added', () => {
    const { q, live, expired, clock } = setup();
    // A busy connection: 10,000 requests answered at once, none left waiting.
    for (let k = 1; k <= 10_000; k++) {
      live.add(k);
      q.add(k, clock.t + 30_000 + k);
      live.delete(k);
      q.settled();
    }
    assert.ok(q.size <= 64 + 1, `queue holds ${q.size} entries for 0 live keys`);
    // With some live: they all still expire.
    live.add(20_001);
    q.add(20_001, clock.t + 100);
    for (let k = 20_002; k <= 25_000; k++) {
      live.add(k);
      q.add(k, clock.t + 200);
      live.delete(k);
      q.settled();
    }
    assert.ok(q.size <= 2 * 1 + 64 + 1, `queue holds ${q.size} entries for 1 live key`);
    clock.t += 100;
    mock.timers.tick(100);
    assert.deepEqual(expired, [20_001]);
  });

  it('clear() drops every key and nothing fires afterwards', () => {
    const { q, live, expired, advance } = setup();
    live.add(1);
    q.add(1, 1100);
    q.clear();
    advance(1000);
    assert.deepEqual(expired, []);
    assert.equal(q.size, 0);
  });

  it('many keys due together all expire in one firing', () => {
    const { q, live, expired, advance } = setup();
    for (let k = 1; k <= 500; k++) {
      live.add(k);
      q.add(k, 1100);
    }
    advance(100);
    assert.equal(expired.length, 500);
    assert.deepEqual(expired.slice(0, 3), [1, 2, 3]);
  });
});
