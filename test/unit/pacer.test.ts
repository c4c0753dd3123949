// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pacer } from '../../src/subscriptions/pacer.js';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Pacer', () => {
  it('runs at most `concurrency` jobs at once, and every job in the end', async () => {
    const pacer = new Pacer({ concurrency: 3, perSecond: 1_000_000 });
    let running = 0;
    let most = 0;
    let done = 0;
    const gates: (() => void)[] = [];
    for (let i = 0; i < 10; i++) {
      pacer.add(`k${i}`, async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        done++;
      });
    }
    assert.equal(pacer.active, 3);
    assert.equal(pacer.queued, 7);
    while (done < 10) {
      gates.shift()?.();
      await tick();
    }
    assert.equal(most, 3);
    assert.deepEqual([pacer.active, pacer.queued], [0, 0]);
  });

  it('starts at most `perSecond` a second once its burst is spent', async () => {
    const pacer = new Pacer({ concurrency: 5, perSecond: 20 });
    let started = 0;
    for (let i = 0; i < 15; i++) pacer.add(`k${i}`, async () => void started++);
    assert.equal(started, 5, 'the burst: as many as may run at once');
    await tick(120);
    assert.ok(started < 15, `${started} started within 120 ms at 20 a second after the burst`);
    await tick(700);
    assert.equal(started, 15);
  });

  it('a key queued twice runs once; a failing job does not stop the others', async () => {
    const pacer = new Pacer({ concurrency: 1, perSecond: 1_000_000 });
    const ran: string[] = [];
    pacer.add('a', async () => {
      ran.push('a');
      throw new Error('boom');
    });
    pacer.add('b', async () => void ran.push('b'));
    pacer.add('b', async () => void ran.push('b again'));
    await tick(10);
    assert.deepEqual(ran, ['a', 'b']);
  });

  it('clear() drops what has not started', async () => {
    const pacer = new Pacer({ concurrency: 1, perSecond: 1 });
    const ran: string[] = [];
    pacer.add('a', async () => void ran.push('a'));
    pacer.add('b', async () => void ran.push('b'));
    pacer.clear();
    await tick(20);
    assert.deepEqual(ran, ['a']);
    assert.equal(pacer.queued, 0);
  });

  it('runs no more at once than its limit says now, at most `concurrency`', async () => {
    let limit = 2;
    const pacer = new Pacer({ concurrency: 4, perSecond: 1_000_000, limit: () => limit });
    const gates: (() => void)[] = [];
    for (let i = 0; i < 10; i++) pacer.add(`k${i}`, () => new Promise<void>((r) => gates.push(r)));
    assert.equal(pacer.active, 2);
    limit = 100;
    gates.shift()!();
    await tick(20);
    assert.equal(pacer.active, 4, 'a larger limit is capped by the concurrency');
    limit = 1;
    for (let i = 0; i < 3; i++) gates.shift()!();
    await tick(20);
    assert.equal(pacer.active, 1, 'a smaller limit lets the running ones finish and starts none until below it');
    assert.ok(pacer.has(`k9`) && !pacer.has('k0'));
    pacer.clear();
  });
});
