// SPDX-License-Identifier: MIT
/**
 * Memory per client bounded before it is spent, without sockets: the cap on
 * requests in the works (batch items one by one, the rest waiting in order),
 * the remembered answer sizes (bounded, least recently used out), the JSON
 * size measured without building JSON, a line's response budget reserved
 * before the fetch, a session charged for a remembered size up front, and
 * the unsent-bytes budget of all sessions (largest holders cut first).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnswerSizes, MIN_REMEMBERED_BYTES, ResponseBudget, jsonBytes } from '../../src/limits/answer-sizes.js';
import { DEFAULT_COST_OPTIONS } from '../../src/limits/cost.js';
import { LocalLedger } from '../../src/limits/ledger.js';
import { RequestSlots } from '../../src/limits/request-slots.js';
import { SessionCost, costTerms } from '../../src/limits/session-cost.js';
import { UnsentBudget, type UnsentHolder } from '../../src/limits/unsent-budget.js';
import { RawJson } from '../../src/protocol/raw-json.js';
import { RpcError } from '../../src/protocol/jsonrpc.js';

const SH = 'ab'.repeat(32);
const history = (n: number): { tx_hash: string; height: number }[] => Array.from({ length: n }, (_, i) => ({ tx_hash: (i % 16).toString(16).repeat(64), height: 100 + i }));

describe('request slots', () => {
  it('runs at most max at once; the rest wait in order and run as slots free', async () => {
    let drained = 0;
    const slots = new RequestSlots(3, () => drained++);
    const releases: (() => void)[] = [];
    const started: number[] = [];
    const done = Array.from({ length: 7 }, (_, i) =>
      slots.run(
        () =>
          new Promise<number>((resolve) => {
            started.push(i);
            releases.push(() => resolve(i));
          }),
      ),
    );
    await Promise.resolve();
    assert.deepEqual(started, [0, 1, 2]);
    assert.equal(slots.busy, 3);
    assert.equal(slots.waiting, 4);
    releases.shift()!();
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [0, 1, 2, 3, 4], 'two freed slots, two more started, in order');
    assert.equal(slots.busy, 3);
    assert.equal(drained, 0, 'still some waiting');
    for (let i = 0; i < 5; i++) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(drained, 1, 'told once, when the last waiting one got its slot');
    assert.deepEqual(await Promise.all(done), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(slots.busy, 0);
    assert.equal(slots.waiting, 0);
  });

  it('a failing or throwing request frees its slot', async () => {
    const slots = new RequestSlots(1);
    await assert.rejects(slots.run(() => Promise.reject(new Error('no'))), /no/);
    await assert.rejects(
      slots.run(() => {
        throw new Error('sync');
      }),
      /sync/,
    );
    assert.equal(await slots.run(() => Promise.resolve(5)), 5);
    assert.equal(slots.busy, 0);
  });

  it('tryTake takes a free slot at once, never ahead of a waiting request; release starts the next in line', async () => {
    const slots = new RequestSlots(2);
    assert.equal(slots.tryTake(), true);
    assert.equal(slots.tryTake(), true);
    assert.equal(slots.tryTake(), false, 'full');
    let ran = false;
    const waiting = slots.run(() => {
      ran = true;
      return Promise.resolve('queued');
    });
    slots.release();
    assert.equal(ran, true, 'the waiting request got the freed slot, synchronously');
    assert.equal(await waiting, 'queued');
    assert.equal(slots.busy, 1);
    // One slot is free but a request waits behind the last busy one: tryTake must not jump the queue.
    const full = new RequestSlots(1);
    assert.equal(full.tryTake(), true);
    const behind = full.run(() => Promise.resolve(1));
    assert.equal(full.tryTake(), false, 'a request waits: no slot taken ahead of it');
    full.release();
    assert.equal(await behind, 1);
    assert.equal(full.busy, 0);
    assert.equal(full.tryTake(), true);
  });
});

describe('answer sizes', () => {
  it('measures JSON without building it, exactly for what answers hold', () => {
    const samples: unknown[] = [history(500), { hex: 'ab'.repeat(300), n: 3, ok: true, none: null }, ['x', 1, [2, 3], {}], 'deadbeef', 12.5, []];
    for (const v of samples) assert.equal(jsonBytes(v), Buffer.byteLength(JSON.stringify(v)), JSON.stringify(v).slice(0, 40));
    const raw = RawJson.fromValue(history(10));
    assert.equal(jsonBytes(raw), raw.bytes.length);
  });

  it('remembers large answers of histories and transactions, for the same arguments only', () => {
    const sizes = new AnswerSizes();
    assert.equal(sizes.expect('blockchain.scripthash.get_history', [SH]), 0, 'never seen');
    const big = history(1000);
    const bytes = sizes.learn('blockchain.scripthash.get_history', [SH], big);
    assert.equal(bytes, JSON.stringify(big).length);
    assert.equal(sizes.expect('blockchain.scripthash.get_history', [SH]), bytes);
    assert.equal(sizes.expect('blockchain.scripthash.get_history', ['cd'.repeat(32)]), 0, 'another scripthash');
    assert.equal(sizes.expect('blockchain.scripthash.listunspent', [SH]), 0, 'another method');
    // A small answer is measured but not remembered, and forgets the old size.
    assert.ok(sizes.learn('blockchain.scripthash.get_history', [SH], history(2))! < MIN_REMEMBERED_BYTES);
    assert.equal(sizes.expect('blockchain.scripthash.get_history', [SH]), 0);
    const tx = 'ff'.repeat(20_000);
    sizes.learn('blockchain.transaction.get', ['00'.repeat(32)], tx);
    assert.equal(sizes.expect('blockchain.transaction.get', ['00'.repeat(32)]), tx.length + 2);
    assert.equal(sizes.expect('blockchain.transaction.get', ['00'.repeat(32), true]), 0, 'verbose is another answer');
  });

  it('does not measure methods whose answers vary (or are fixed by their arguments)', () => {
    const sizes = new AnswerSizes();
    assert.equal(sizes.learn('server.features', [], { a: 'x'.repeat(20_000) }), null);
    assert.equal(sizes.learn('blockchain.block.headers', [0, 2016], { hex: 'x'.repeat(20_000) }), null);
    assert.equal(sizes.expect('blockchain.block.headers', [0, 2016]), 2016 * 162, 'header ranges: known from the arguments');
    assert.equal(sizes.size, 0);
  });

  it('holds at most its bound, the least recently used going first', () => {
    const sizes = new AnswerSizes(3, 1);
    const sh = (i: number): string => i.toString(16).padStart(64, '0');
    for (let i = 0; i < 3; i++) sizes.learn('blockchain.scripthash.get_history', [sh(i)], history(i + 1));
    sizes.expect('blockchain.scripthash.get_history', [sh(0)]); // used: 1 is now the oldest
    sizes.learn('blockchain.scripthash.get_history', [sh(3)], history(4));
    assert.equal(sizes.size, 3);
    assert.ok(sizes.expect('blockchain.scripthash.get_history', [sh(0)]) > 0);
    assert.equal(sizes.expect('blockchain.scripthash.get_history', [sh(1)]), 0, 'the least recently used went');
    for (let i = 0; i < 100; i++) sizes.learn('blockchain.scripthash.get_history', [sh(100 + i)], history(1));
    assert.equal(sizes.size, 3);
  });
});

describe('response budget', () => {
  it('refuses before the fetch what cannot fit beside the other answers, and settles on the real size', () => {
    const budget = new ResponseBudget(1000);
    assert.equal(budget.reserve(600), 600);
    assert.equal(budget.reserve(0), 0, 'unknown sizes always go');
    assert.throws(() => budget.reserve(500), (e: unknown) => e instanceof RpcError && e.code === -32600 && /response too large \(over 1000 bytes\)/.test(e.message));
    budget.settle(600, 300); // smaller than expected
    budget.settle(0, 200); // an unknown one came in at 200
    assert.equal(budget.taken, 500);
    assert.equal(budget.reserve(500), 500, 'room freed by the real sizes');
    assert.throws(() => budget.reserve(1), RpcError);
    budget.settle(500, 0); // failed: nothing held
    assert.equal(budget.taken, 500);
  });

  it('a single answer expected over the limit is refused on its own', () => {
    assert.throws(() => new ResponseBudget(100).reserve(101), RpcError);
  });
});

describe('a session charged for a remembered size before the fetch', () => {
  it('pays the expected bytes at admission and is not charged twice when they are sent', () => {
    const ledger = new LocalLedger(0);
    const sizes = new AnswerSizes();
    const cost = new SessionCost('g', false, costTerms(ledger, { ...DEFAULT_COST_OPTIONS, bandwidthUnitBytes: 1000 }, sizes));
    const big = history(1000);
    const bytes = JSON.stringify(big).length;
    cost.admit('blockchain.scripthash.get_history', [SH]);
    assert.equal(ledger.current('g'), 1, 'first time: the base cost only');
    cost.answered('blockchain.scripthash.get_history', [SH], big);
    cost.bytesSent(bytes);
    const afterFirst = ledger.current('g');
    assert.ok(Math.abs(afterFirst - (1 + bytes / 1000)) < 1e-9);
    cost.admit('blockchain.scripthash.get_history', [SH]);
    const admitted = ledger.current('g');
    assert.ok(Math.abs(admitted - afterFirst - (1 + bytes / 1000)) < 1e-9, 'second time: base plus the remembered size, before the answer exists');
    cost.bytesSent(bytes);
    assert.equal(ledger.current('g'), admitted, 'the real bytes use up what was prepaid');
    void ledger.close();
  });
});

describe('unsent bytes of all sessions', () => {
  /** A session whose unsent bytes the test sets; cut() records the order. */
  const holder = (name: string, bytes: number, cuts: string[]): UnsentHolder & { bytes: number } => {
    const h = {
      bytes,
      unsent: () => h.bytes,
      cut: () => {
        cuts.push(name);
        h.bytes = 0;
      },
    };
    return h;
  };

  it('under the budget nobody is cut; over it the largest holders go first, until the total is back under', () => {
    const cuts: string[] = [];
    let max = 1000;
    const budget = new UnsentBudget(() => max);
    const a = holder('a', 300, cuts);
    const b = holder('b', 500, cuts);
    const c = holder('c', 150, cuts);
    budget.note(a, a.bytes);
    budget.note(b, b.bytes);
    budget.note(c, c.bytes);
    assert.equal(budget.total, 950);
    assert.deepEqual(cuts, []);
    const d = holder('d', 400, cuts);
    budget.note(d, d.bytes); // 1350: cut b (500), then 850 is under
    assert.deepEqual(cuts, ['b']);
    assert.equal(budget.total, 850);
    assert.equal(budget.holders, 3);
    max = 500; // a reload lowers it: applied at the next report
    c.bytes = 160;
    budget.note(c, c.bytes); // 860 over 500: d (400) goes, 460 is under
    assert.deepEqual(cuts, ['b', 'd']);
    assert.equal(budget.total, 460);
  });

  it('stale reports are measured afresh before anyone is cut', () => {
    const cuts: string[] = [];
    const budget = new UnsentBudget(() => 1000);
    const a = holder('a', 900, cuts);
    budget.note(a, 900);
    a.bytes = 10; // the client read most of it; no report yet
    const b = holder('b', 600, cuts);
    budget.note(b, 600);
    assert.deepEqual(cuts, [], 'the total was 610, not 1500');
    assert.equal(budget.total, 610);
  });

  it('drained and closed sessions leave the account; 0 is no bound', () => {
    const cuts: string[] = [];
    const budget = new UnsentBudget(() => 0);
    const a = holder('a', 5_000_000, cuts);
    budget.note(a, a.bytes);
    assert.deepEqual(cuts, []);
    budget.note(a, 0);
    assert.equal(budget.holders, 0);
    budget.note(a, 10);
    budget.remove(a);
    assert.equal(budget.total, 0);
    assert.equal(budget.holders, 0);
  });
});
