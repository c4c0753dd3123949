// SPDX-License-Identifier: MIT
/**
 * Choosing an upstream (src/upstream/selection.ts), without sockets:
 * leastLoaded spreads free requests by weight and sheds load from busy or
 * slow upstreams; rendezvous keeps a scripthash on one upstream, gives each
 * upstream a share of keys in proportion to its weight, and when an upstream
 * leaves (or joins) moves only the keys that must move.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { leastLoaded, rendezvous, unitHash, type Candidate } from '../../src/upstream/selection.js';

/** A small deterministic PRNG (mulberry32), so the counts below are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cand(id: string, weight = 1, inFlight = 0, latencyMs = 50): Candidate {
  return { id, weight, inFlight, latencyMs };
}

/** Scripthash-like keys. */
function keys(n: number, salt = 'k'): string[] {
  return Array.from({ length: n }, (_, i) => createHash('sha256').update(`${salt}:${i}`).digest('hex'));
}

function counts<C extends Candidate>(picks: Iterable<C | undefined>): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of picks) {
    assert.ok(p, 'a candidate was chosen');
    m.set(p.id, (m.get(p.id) ?? 0) + 1);
  }
  return m;
}

describe('leastLoaded (free choice)', () => {
  it('returns undefined for no candidates and the only one for one', () => {
    assert.equal(leastLoaded([]), undefined);
    const only = cand('a', 1, 99, 9999);
    assert.equal(leastLoaded([only]), only);
  });

  it('splits an idle pool in proportion to weight', () => {
    const pool = [cand('a', 1), cand('b', 2), cand('c', 3)];
    const random = prng(1);
    const n = 60_000;
    const c = counts(Array.from({ length: n }, () => leastLoaded(pool, random)));
    for (const [id, w] of [['a', 1], ['b', 2], ['c', 3]] as const) {
      const share = (c.get(id) ?? 0) / n;
      assert.ok(Math.abs(share - w / 6) < 0.01, `${id}: share ${share.toFixed(4)}, expected ${(w / 6).toFixed(4)}`);
    }
  });

  it('equal weights give equal shares', () => {
    const pool = [cand('a'), cand('b'), cand('c'), cand('d')];
    const random = prng(2);
    const n = 40_000;
    const c = counts(Array.from({ length: n }, () => leastLoaded(pool, random)));
    for (const id of ['a', 'b', 'c', 'd']) {
      const share = (c.get(id) ?? 0) / n;
      assert.ok(Math.abs(share - 0.25) < 0.01, `${id}: share ${share.toFixed(4)}`);
    }
  });

  it('sheds load from an upstream with many requests outstanding', () => {
    const pool = [cand('busy', 1, 20), cand('idle', 1, 0)];
    const random = prng(3);
    const n = 20_000;
    const c = counts(Array.from({ length: n }, () => leastLoaded(pool, random)));
    // Power of two choices: the busy one wins only when both draws are it (1/4).
    const busy = (c.get('busy') ?? 0) / n;
    assert.ok(Math.abs(busy - 0.25) < 0.015, `busy share ${busy.toFixed(4)}`);
  });

  it('sheds load from a slow upstream, and a heavier weight does not rescue a saturated one', () => {
    const slow = [cand('slow', 1, 0, 500), cand('fast', 1, 0, 5)];
    const random = prng(4);
    const n = 20_000;
    const c = counts(Array.from({ length: n }, () => leastLoaded(slow, random)));
    assert.ok((c.get('slow') ?? 0) / n < 0.3, 'the slow upstream gets about a quarter');
    // weight 3 vs 1: the heavy one is drawn first 3/4 of the time but loses every comparison with the idle one
    const heavy = [cand('heavy', 3, 50), cand('light', 1, 0)];
    const h = counts(Array.from({ length: n }, () => leastLoaded(heavy, random)));
    const heavyShare = (h.get('heavy') ?? 0) / n;
    assert.ok(Math.abs(heavyShare - 9 / 16) < 0.015, `heavy share ${heavyShare.toFixed(4)} (both draws heavy: 9/16)`);
  });
});

describe('rendezvous (sticky choice by scripthash)', () => {
  const pool = [cand('a'), cand('b'), cand('c'), cand('d')];
  const ks = keys(8000);

  it('returns undefined without candidates', () => {
    assert.equal(rendezvous('x', []), undefined);
  });

  it('is sticky: the same key picks the same upstream whatever the order or load of the candidates', () => {
    const reversed = [...pool].reverse();
    const loaded = pool.map((c, i) => cand(c.id, c.weight, i * 7, 10 + i * 100));
    for (const k of ks.slice(0, 500)) {
      const first = rendezvous(k, pool)!.id;
      assert.equal(rendezvous(k, pool)!.id, first);
      assert.equal(rendezvous(k, reversed)!.id, first);
      assert.equal(rendezvous(k, loaded)!.id, first, 'load does not move a key');
    }
  });

  it('spreads keys evenly over equal weights', () => {
    const c = counts(ks.map((k) => rendezvous(k, pool)));
    for (const id of ['a', 'b', 'c', 'd']) {
      const share = (c.get(id) ?? 0) / ks.length;
      assert.ok(Math.abs(share - 0.25) < 0.025, `${id}: share ${share.toFixed(4)}`);
    }
  });

  it('when one upstream leaves, only its keys move, and they spread over the others', () => {
    const before = new Map(ks.map((k) => [k, rendezvous(k, pool)!.id]));
    const without = pool.filter((c) => c.id !== 'c');
    let moved = 0;
    const movedTo = new Map<string, number>();
    for (const k of ks) {
      const was = before.get(k)!;
      const now = rendezvous(k, without)!.id;
      if (was !== 'c') {
        assert.equal(now, was, `key ${k.slice(0, 8)} moved from ${was} though ${was} stayed`);
      } else {
        moved++;
        movedTo.set(now, (movedTo.get(now) ?? 0) + 1);
      }
    }
    assert.equal(moved, [...before.values()].filter((id) => id === 'c').length);
    for (const id of ['a', 'b', 'd']) {
      const share = (movedTo.get(id) ?? 0) / moved;
      assert.ok(Math.abs(share - 1 / 3) < 0.06, `c's keys going to ${id}: ${share.toFixed(3)}`);
    }
    // And when it comes back, exactly those keys return.
    for (const k of ks) assert.equal(rendezvous(k, pool)!.id, before.get(k));
  });

  it('a new upstream takes keys only for itself (about 1/(n+1) of them)', () => {
    const bigger = [...pool, cand('e')];
    let taken = 0;
    for (const k of ks) {
      const was = rendezvous(k, pool)!.id;
      const now = rendezvous(k, bigger)!.id;
      if (now !== was) {
        assert.equal(now, 'e', 'a key only moves to the newcomer');
        taken++;
      }
    }
    const share = taken / ks.length;
    assert.ok(Math.abs(share - 0.2) < 0.025, `newcomer's share ${share.toFixed(4)}`);
  });

  it('weights shift the share of keys', () => {
    const weighted = [cand('a', 1), cand('b', 3)];
    const c = counts(ks.map((k) => rendezvous(k, weighted)));
    const b = (c.get('b') ?? 0) / ks.length;
    assert.ok(Math.abs(b - 0.75) < 0.025, `weight 3 of 4: share ${b.toFixed(4)}`);
    const three = [cand('a', 1), cand('b', 2), cand('c', 5)];
    const c3 = counts(ks.map((k) => rendezvous(k, three)));
    for (const [id, w] of [['a', 1], ['b', 2], ['c', 5]] as const) {
      const share = (c3.get(id) ?? 0) / ks.length;
      assert.ok(Math.abs(share - w / 8) < 0.025, `${id}: share ${share.toFixed(4)}, expected ${w / 8}`);
    }
  });

  it('raising one weight moves keys only towards that upstream', () => {
    const heavier = pool.map((c) => (c.id === 'b' ? cand('b', 2) : c));
    let toB = 0;
    for (const k of ks) {
      const was = rendezvous(k, pool)!.id;
      const now = rendezvous(k, heavier)!.id;
      if (now !== was) {
        assert.equal(now, 'b');
        toB++;
      }
    }
    // b goes from 1/4 to 2/5 of the keys.
    const gained = toB / ks.length;
    assert.ok(Math.abs(gained - (2 / 5 - 1 / 4)) < 0.025, `b gained ${gained.toFixed(4)}`);
  });

  it('is a pure function of key, ids and weights (the same on every gateway instance)', () => {
    // An independent computation of the documented hash, in BigInt arithmetic mod 2^32 over the
    // UTF-8 bytes of key \0 id, then score -w/ln(u).
    const M = (1n << 32n) - 1n;
    const mul = (x: bigint, y: bigint): bigint => (x * y) & M;
    const fmix = (h: bigint): bigint => {
      h ^= h >> 16n;
      h = mul(h, 0x85ebca6bn);
      h ^= h >> 13n;
      h = mul(h, 0xc2b2ae35n);
      return h ^ (h >> 16n);
    };
    const u = (k: string, id: string): number => {
      const bytes = Buffer.concat([Buffer.from(k, 'utf8'), Buffer.from([0]), Buffer.from(id, 'utf8')]);
      let a = 0x9e3779b9n;
      let b = 0x85ebca6bn;
      for (const byte of bytes) {
        a = mul(a ^ BigInt(byte), 0x01000193n);
        b = mul(b ^ BigInt(byte), 0x5bd1e995n);
      }
      a = fmix(a ^ BigInt(bytes.length));
      b = fmix(b ^ a);
      a = fmix(a ^ b);
      return (Number(a) * 2 ** 20 + Number(b >> 12n) + 0.5) / 2 ** 52;
    };
    const score = (k: string, c: Candidate): number => -c.weight / Math.log(u(k, c.id));
    const fixed = [cand('electrumx-1', 1), cand('fulcrum-1', 2), cand('electrs-1', 1), cand('électrum-ü', 1)];
    const picks = new Set<string>();
    for (const k of keys(400, 'pinned')) {
      for (const c of fixed) assert.equal(unitHash(k, c.id), u(k, c.id), `u(${k}, ${c.id})`);
      const expected = fixed.reduce((a, b) => (score(k, b) > score(k, a) ? b : a));
      assert.equal(rendezvous(k, fixed)!.id, expected.id);
      picks.add(expected.id);
    }
    assert.equal(picks.size, 4);
  });

  it('spreads keys differing only in their last character, and ids differing only in theirs', () => {
    const near = Array.from({ length: 4000 }, (_, i) => `${'ab'.repeat(31)}${(i % 256).toString(16).padStart(2, '0')}${i >> 8}`);
    const ids = Array.from({ length: 4 }, (_, i) => cand(`upstream-${i}`, 1));
    const shares = new Map<string, number>();
    for (const k of near) {
      const id = rendezvous(k, ids)!.id;
      shares.set(id, (shares.get(id) ?? 0) + 1);
    }
    for (const c of ids) assert.ok(Math.abs((shares.get(c.id) ?? 0) / near.length - 0.25) < 0.03, `${c.id}: ${shares.get(c.id)}`);
  });
});
