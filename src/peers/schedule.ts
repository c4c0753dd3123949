// SPDX-License-Identifier: MIT
/**
 * When each peer is verified next, and when it is forgotten. Pure: the time
 * is always passed in, so tests drive it with a clock of their own.
 *
 *  - a good peer is re-verified about every 3 hours;
 *  - a failure is retried after 10 min, then 20, 40, ... (capped at a day);
 *  - a peer never seen good is forgotten after 3 failures, any peer after 10;
 *  - among peers due, those closest to leaving the 24 h good window go first.
 */
import { GOOD_WINDOW_MS, type PeerFeatures, type PeerRecord } from './peer.js';

export const RECHECK_GOOD_MS = 3 * 3600_000;
export const RETRY_BASE_MS = 10 * 60_000;
export const RETRY_MAX_MS = 24 * 3600_000;
export const FORGET_NEVER_GOOD_AFTER = 3;
export const FORGET_ANY_AFTER = 10;

export function nextTryAt(p: PeerRecord): number {
  if (p.lastTry === null) return 0;
  if (p.tryCount === 0) return (p.lastGood ?? p.lastTry) + RECHECK_GOOD_MS;
  return p.lastTry + Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (p.tryCount - 1));
}

/** Peers due at `now`, most urgent first: good peers about to turn stale, then new ones, then the rest by due time. */
export function duePeers(peers: Iterable<PeerRecord>, now: number): PeerRecord[] {
  const due = [...peers].filter((p) => nextTryAt(p) <= now);
  const rank = (p: PeerRecord): [number, number] => {
    if (p.lastGood !== null && now - p.lastGood < GOOD_WINDOW_MS) return [0, p.lastGood];
    if (p.lastTry === null) return [1, 0];
    return [2, nextTryAt(p)];
  };
  return due.sort((a, b) => {
    const [ra, ka] = rank(a);
    const [rb, kb] = rank(b);
    return ra - rb || ka - kb || a.host.localeCompare(b.host);
  });
}

/** The earliest time any peer is due, or null with none. */
export function nextDue(peers: Iterable<PeerRecord>): number | null {
  let best: number | null = null;
  for (const p of peers) {
    const t = nextTryAt(p);
    if (best === null || t < best) best = t;
  }
  return best;
}

export function afterSuccess(p: PeerRecord, now: number, features: PeerFeatures, ipAddresses: readonly string[], ports = p.ports): PeerRecord {
  return { ...p, ports, features, lastGood: now, lastTry: now, tryCount: 0, ipAddresses: [...ipAddresses] };
}

/** The record after a failed attempt, or null when it is to be forgotten. */
export function afterFailure(p: PeerRecord, now: number): PeerRecord | null {
  const tryCount = p.tryCount + 1;
  if (tryCount >= FORGET_ANY_AFTER) return null;
  if (p.lastGood === null && tryCount >= FORGET_NEVER_GOOD_AFTER) return null;
  return { ...p, lastTry: now, tryCount };
}
