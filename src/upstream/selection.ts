// SPDX-License-Identifier: MIT
/**
 * Choosing an upstream: pure functions over candidates.
 *
 * - Sticky choice (requests about one scripthash): weighted rendezvous
 *   hashing, so every key has one preferred upstream, weights shift the share
 *   of keys, and when an upstream leaves only its keys move.
 * - Free choice: power of two choices over weight, outstanding requests and
 *   smoothed latency.
 */
export interface Candidate {
  readonly id: string;
  /** Relative share of traffic; > 0. */
  readonly weight: number;
  readonly inFlight: number;
  /** Smoothed latency in ms. */
  readonly latencyMs: number;
}

/**
 * A uniform number in (0, 1) from key and id, the same on every gateway
 * instance: 52 bits of a two-lane multiplicative hash of the UTF-8 bytes of
 * key, a 0 byte and id (lane a FNV-1a's prime, lane b MurmurHash2's
 * multiplier), each lane avalanched by MurmurHash3's 32-bit finalizer and
 * mixed into the other. Not cryptographic, and needs not be: a sticky choice
 * only has to spread keys evenly and stay put. It replaced a SHA-256 per
 * candidate per request (a native hash object each time), which was a tenth of
 * the gateway's JavaScript on pass-through.
 */
export function unitHash(key: string, id: string): number {
  let a = 0x9e3779b9;
  let b = 0x85ebca6b;
  let n = 0;
  const feed = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Rare (upstream names are free text): hash the UTF-8 bytes of what is left.
        for (const byte of Buffer.from(s.slice(i), 'utf8')) {
          a = Math.imul(a ^ byte, 0x01000193);
          b = Math.imul(b ^ byte, 0x5bd1e995);
          n++;
        }
        return;
      }
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      n++;
    }
  };
  feed(key);
  a = Math.imul(a, 0x01000193);
  b = Math.imul(b, 0x5bd1e995);
  n++;
  feed(id);
  a = fmix32(a ^ n);
  b = fmix32(b ^ a);
  a = fmix32(a ^ b);
  // 32 bits of a and the top 20 of b make a double in [0, 1); shifted away from 0 so the log is finite.
  return ((a >>> 0) * 2 ** 20 + (b >>> 12) + 0.5) / 2 ** 52;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Weighted rendezvous hashing: the candidate with the highest -weight / ln(u). */
export function rendezvous<C extends Candidate>(key: string, candidates: readonly C[]): C | undefined {
  if (candidates.length <= 1) return candidates[0];
  let best: C | undefined;
  let bestScore = -Infinity;
  for (const c of candidates) {
    const score = -c.weight / Math.log(unitHash(key, c.id));
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

/**
 * Free choice by "power of two choices": draw two candidates in proportion to
 * weight and keep the one with fewer outstanding requests per unit of
 * latency. Idle pools split traffic by weight; busy or slow upstreams shed it.
 */
export function leastLoaded<C extends Candidate>(candidates: readonly C[], random: () => number = Math.random): C | undefined {
  if (candidates.length <= 1) return candidates[0];
  const a = weightedSample(candidates, random);
  const b = weightedSample(candidates, random);
  return cost(b) < cost(a) ? b : a;
}

function cost(c: Candidate): number {
  return (c.inFlight + 1) * Math.max(c.latencyMs, 0.1);
}

function weightedSample<C extends Candidate>(candidates: readonly C[], random: () => number): C {
  const total = candidates.reduce((sum, c) => sum + c.weight, 0);
  let r = random() * total;
  for (const c of candidates) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return candidates[candidates.length - 1]!;
}
