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
import { createHash } from 'node:crypto';

export interface Candidate {
  readonly id: string;
  /** Relative share of traffic; > 0. */
  readonly weight: number;
  readonly inFlight: number;
  /** Smoothed latency in ms. */
  readonly latencyMs: number;
}

/** A uniform number in (0, 1) from key and id, the same on every gateway instance. */
function unitHash(key: string, id: string): number {
  const h = createHash('sha256').update(key).update('\0').update(id).digest();
  // 52 bits of the hash give a double in [0, 1); shift away from 0 so the log is finite.
  const int = h.readUIntBE(0, 6) * 2 ** 4 + (h[6]! >> 4);
  return (int + 0.5) / 2 ** 52;
}

/** Weighted rendezvous hashing: the candidate with the highest -weight / ln(u). */
export function rendezvous<C extends Candidate>(key: string, candidates: readonly C[]): C | undefined {
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
