// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetrySchedule } from '../../src/subscriptions/retries.js';

describe('RetrySchedule', () => {
  it('backs off exponentially per key, in the upper half of each step, up to the cap', () => {
    const lowest = new RetrySchedule({ baseMs: 1_000, maxMs: 8_000, random: () => 0 });
    const highest = new RetrySchedule({ baseMs: 1_000, maxMs: 8_000, random: () => 1 });
    const lo = [1, 2, 3, 4, 5, 6].map(() => lowest.schedule('k', () => undefined));
    const hi = [1, 2, 3, 4, 5, 6].map(() => highest.schedule('k', () => undefined));
    assert.deepEqual(lo, [500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    assert.deepEqual(hi, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    assert.equal(lowest.size, 1, 'one timer per key, rescheduling replaces it');
    assert.equal(lowest.schedule('other', () => undefined), 500, 'counted per key');
    lowest.clear();
    highest.clear();
  });

  it('runs the retry once its delay has passed, and forgetting a key cancels it and its count', async () => {
    const r = new RetrySchedule({ baseMs: 20, maxMs: 1_000, random: () => 0 });
    let ran = 0;
    r.schedule('a', () => void ran++);
    r.schedule('b', () => assert.fail('b was forgotten'));
    assert.ok(r.has('a') && r.has('b'));
    r.forget('b');
    assert.equal(r.failuresOf('b'), 0);
    await new Promise((done) => setTimeout(done, 60));
    assert.equal(ran, 1);
    assert.equal(r.size, 0);
    assert.equal(r.failuresOf('a'), 1, 'the count stays until the key is forgotten');
    assert.equal(r.schedule('a', () => undefined), 20, 'the next delay of a twice-failed key');
    r.clear();
  });
});
