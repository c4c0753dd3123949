// SPDX-License-Identifier: MIT
/**
 * Which `bits` a header must carry at its height: Bitcoin Core's and Litecoin
 * Core's GetNextWorkRequired, as pure functions over the headers they read.
 */
import type { Network } from '../config/networks.js';
import { bitsToTarget, targetToBits } from '../protocol/bitcoin/header.js';

export interface HeaderFacts {
  readonly height: number;
  readonly bits: number;
  readonly time: number;
}

/** Retarget from the period's timespan, clamped to a factor of 4 and capped at the network's limit. */
export function retargetBits(network: Network, lastBits: number, firstTime: number, lastTime: number): number {
  const span = network.retarget.targetTimespanSeconds;
  const actual = Math.min(Math.max(lastTime - firstTime, Math.floor(span / 4)), span * 4);
  let target = (bitsToTarget(lastBits) * BigInt(actual)) / BigInt(span);
  const limit = bitsToTarget(network.retarget.powLimitBits);
  if (target > limit) target = limit;
  return targetToBits(target);
}

/**
 * The height whose timestamp starts the timespan measured at a retarget to
 * `height`. Bitcoin measures interval-1 blocks (an old off-by-one); Litecoin
 * measures the full interval except at its first retarget.
 */
export function timespanStartHeight(network: Network, height: number): number {
  const { interval } = network.retarget;
  if (network.coin === 'litecoin' && height !== interval) return height - interval - 1;
  return height - interval;
}

export type BitsVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Checks a header's bits against the rules. `prev` is the header before it;
 * `periodStart` is the header at timespanStartHeight(height), needed only at a
 * retarget height. Testnets' 20-minute min-difficulty blocks are accepted when
 * they are late enough, and after one the difficulty may return to the
 * period's (which needs history we may not hold, so any valid bits no easier
 * than the limit pass there).
 */
export function checkBits(network: Network, header: HeaderFacts, prev: HeaderFacts, periodStart: HeaderFacts | null): BitsVerdict {
  const { retarget } = network;
  if (retarget.noRetargeting) {
    return header.bits === prev.bits ? { ok: true } : { ok: false, reason: `bits ${hex(header.bits)} differ from the previous block's ${hex(prev.bits)} on a chain without retargeting` };
  }
  if (header.height % retarget.interval === 0) {
    if (!periodStart) return { ok: false, reason: 'the retarget period start is not known' };
    const expected = retargetBits(network, prev.bits, periodStart.time, prev.time);
    if (header.bits === expected) return { ok: true };
    return { ok: false, reason: `bits ${hex(header.bits)} at retarget height ${header.height}; expected ${hex(expected)}` };
  }
  if (retarget.allowMinDifficultyBlocks) {
    if (header.bits === retarget.powLimitBits && header.time > prev.time + 20 * 60) return { ok: true };
    // After min-difficulty blocks the real difficulty comes back; without the period's history accept it.
    if (prev.bits === retarget.powLimitBits) return { ok: true };
  }
  return header.bits === prev.bits ? { ok: true } : { ok: false, reason: `bits ${hex(header.bits)} changed from ${hex(prev.bits)} outside a retarget` };
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
