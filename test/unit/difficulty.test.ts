// SPDX-License-Identifier: MIT
/**
 * The retarget rules (GetNextWorkRequired) of Bitcoin Core and Litecoin Core.
 * Expectations come from the rules' definitions, worked by hand in the
 * comments, and from Bitcoin Core's own pow_tests.cpp vectors (real mainnet
 * blocks), never from the code under test.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NETWORKS } from '../../src/config/networks.js';
import { checkBits, retargetBits, timespanStartHeight, type HeaderFacts } from '../../src/chain/difficulty.js';

const BTC = NETWORKS.bitcoin;
const LTC = NETWORKS.litecoin;
const TESTNET = NETWORKS.testnet;
const REGTEST = NETWORKS.regtest;
const LTC_REGTEST = NETWORKS['litecoin-regtest'];

/** Two weeks, Bitcoin's nPowTargetTimespan. */
const TWO_WEEKS = 14 * 24 * 3600;
/** Three and a half days, Litecoin's nPowTargetTimespan. */
const HALF_WEEK = 302_400;

describe('retargetBits', () => {
  test('a period that took exactly the target timespan keeps its bits', () => {
    // target * span / span = target, and re-encoding a normalised compact gives it back.
    for (const bits of [0x1d00ffff, 0x1b0404cb, 0x1c05a3f4, 0x170e92aa]) {
      assert.equal(retargetBits(BTC, bits, 1_000_000, 1_000_000 + TWO_WEEKS), bits, `bitcoin 0x${bits.toString(16)}`);
    }
    for (const bits of [0x1e0fffff, 0x1b0e6d0f]) {
      assert.equal(retargetBits(LTC, bits, 1_000_000, 1_000_000 + HALF_WEEK), bits, `litecoin 0x${bits.toString(16)}`);
    }
  });

  test("Bitcoin Core's pow_tests vectors (mainnet blocks 30240..32255 and others)", () => {
    // get_next_work: first retarget below the limit; span 1262152739-1261130161 = 1022578 s,
    // 0xffff * 1022578 / 1209600 = 55402.6 -> mantissa 0xd86a.
    assert.equal(retargetBits(BTC, 0x1d00ffff, 1261130161, 1262152739), 0x1d00d86a);
    // get_next_work_pow_limit: blocks 0..2015 were slow; the target would pass the limit and is capped.
    assert.equal(retargetBits(BTC, 0x1d00ffff, 1231006505, 1233061996), 0x1d00ffff);
    // get_next_work_lower_limit_actual: 289434 s < 302400 s is clamped to a quarter: 0x05a3f4 / 4 = 0x0168fd.
    assert.equal(retargetBits(BTC, 0x1c05a3f4, 1279008237, 1279297671), 0x1c0168fd);
    // get_next_work_upper_limit_actual: 6048000 s (5 periods) is clamped to 4x: 0x387f6f * 4 = 0xe1fdbc,
    // whose top bit would read as a sign, so one more byte of exponent: 0x1d00e1fd.
    assert.equal(retargetBits(BTC, 0x1c387f6f, 1263163443, 1269211443), 0x1d00e1fd);
  });

  test('the timespan is clamped to a factor of 4 each way', () => {
    const bits = 0x1c05a3f4;
    // Faster than a quarter: exactly as if it took a quarter (target / 4 = mantissa 0x0168fd).
    assert.equal(retargetBits(BTC, bits, 0, TWO_WEEKS / 4), 0x1c0168fd);
    assert.equal(retargetBits(BTC, bits, 0, 1), 0x1c0168fd);
    assert.equal(retargetBits(BTC, bits, 0, -5000), 0x1c0168fd, 'a negative timespan (time going back) clamps too');
    // Slower than four times: as if it took four times (0x05a3f4 * 4 = 0x168fd0).
    assert.equal(retargetBits(BTC, bits, 0, TWO_WEEKS * 4), 0x1c168fd0);
    assert.equal(retargetBits(BTC, bits, 0, TWO_WEEKS * 40), 0x1c168fd0);
    // Inside the bounds it is proportional: twice as long doubles the target (0x05a3f4 * 2 = 0x0b47e8).
    assert.equal(retargetBits(BTC, bits, 0, TWO_WEEKS * 2), 0x1c0b47e8);
    // Litecoin's bounds are a quarter and four times its 3.5 days.
    assert.equal(retargetBits(LTC, bits, 0, HALF_WEEK / 4), 0x1c0168fd);
    assert.equal(retargetBits(LTC, bits, 0, 1), 0x1c0168fd);
    assert.equal(retargetBits(LTC, bits, 0, HALF_WEEK * 9), 0x1c168fd0);
    // 302400 s is Litecoin's full span (bits unchanged) but Bitcoin's fast bound (target quartered).
    assert.equal(retargetBits(LTC, bits, 0, HALF_WEEK), bits);
    assert.equal(retargetBits(BTC, bits, 0, HALF_WEEK), 0x1c0168fd);
  });

  test("the target never passes the network's proof-of-work limit", () => {
    // 0x1c7fffff is about half the limit 0x1d00ffff (0x7fffff * 2^200 vs 0xffff00 * 2^200).
    // x1.5 stays under it: 0x7fffff * 3 / 2 = 0xbffffe.8 -> 0xbffffe80 * 2^192 -> 0x1d00bfff.
    assert.equal(retargetBits(BTC, 0x1c7fffff, 0, (TWO_WEEKS * 3) / 2), 0x1d00bfff);
    // x2 would be 0xfffffe * 2^200 > 0xffff00 * 2^200: capped at the limit.
    assert.equal(retargetBits(BTC, 0x1c7fffff, 0, TWO_WEEKS * 2), 0x1d00ffff);
    assert.equal(retargetBits(BTC, 0x1d00ffff, 0, TWO_WEEKS * 4), 0x1d00ffff);
    // Litecoin's limit is 0x1e0fffff.
    assert.equal(retargetBits(LTC, 0x1e0fffff, 0, HALF_WEEK * 4), 0x1e0fffff);
    assert.equal(retargetBits(LTC, 0x1e07ffff, 0, HALF_WEEK * 4), 0x1e0fffff);
    // Signet has its own limit.
    assert.equal(retargetBits(NETWORKS.signet, 0x1e0377ae, 0, TWO_WEEKS * 4), 0x1e0377ae);
  });
});

describe('timespanStartHeight', () => {
  test('Bitcoin measures interval-1 blocks: the period starts at height - 2016', () => {
    // Bitcoin Core: pindexFirst = pindexLast (height-1) walked back interval-1 = 2015 blocks.
    assert.equal(timespanStartHeight(BTC, 32256), 30240, 'the retarget to 32256 reads the time of block 30240 (pow_tests)');
    assert.equal(timespanStartHeight(BTC, 2016), 0);
    assert.equal(timespanStartHeight(BTC, 4032), 2016);
    assert.equal(timespanStartHeight(TESTNET, 4032), 2016);
  });

  test('Litecoin measures the full interval except at its first retarget', () => {
    // Litecoin Core: blockstogoback = interval-1 when height == interval, otherwise interval.
    assert.equal(timespanStartHeight(LTC, 2016), 0);
    assert.equal(timespanStartHeight(LTC, 4032), 2015);
    assert.equal(timespanStartHeight(LTC, 2016 * 100), 2016 * 99 - 1);
    assert.equal(timespanStartHeight(NETWORKS['litecoin-testnet'], 6048), 4031);
  });
});

function facts(height: number, bits: number, time: number): HeaderFacts {
  return { height, bits, time };
}

describe('checkBits', () => {
  test('outside a retarget the bits must not change', () => {
    const prev = facts(32254, 0x1d00ffff, 1262152000);
    assert.deepEqual(checkBits(BTC, facts(32255, 0x1d00ffff, 1262152739), prev, null), { ok: true });
    const wrong = checkBits(BTC, facts(32255, 0x1d00d86a, 1262152739), prev, null);
    assert.equal(wrong.ok, false);
  });

  test('at a retarget height the bits must be the retarget of the period', () => {
    const prev = facts(32255, 0x1d00ffff, 1262152739);
    const start = facts(30240, 0x1d00ffff, 1261130161);
    assert.deepEqual(checkBits(BTC, facts(32256, 0x1d00d86a, 1262153464), prev, start), { ok: true });
    const unchanged = checkBits(BTC, facts(32256, 0x1d00ffff, 1262153464), prev, start);
    assert.equal(unchanged.ok, false, 'keeping the old bits at a retarget is wrong');
    if (!unchanged.ok) assert.match(unchanged.reason, /retarget/);
    const noHistory = checkBits(BTC, facts(32256, 0x1d00d86a, 1262153464), prev, null);
    assert.equal(noHistory.ok, false, 'a retarget cannot be checked without the period start');
  });

  test("Litecoin's retarget reads the period start the caller looked up at its own height", () => {
    // Same arithmetic, Litecoin span: a period of exactly 3.5 days keeps the bits, half of it halves the target.
    const prev = facts(4031, 0x1c05a3f4, 2_000_000);
    const start = facts(timespanStartHeight(LTC, 4032), 0x1c05a3f4, 2_000_000 - HALF_WEEK);
    assert.equal(start.height, 2015);
    assert.deepEqual(checkBits(LTC, facts(4032, 0x1c05a3f4, 2_000_150), prev, start), { ok: true });
    const halfTime = facts(2015, 0x1c05a3f4, 2_000_000 - HALF_WEEK / 2);
    assert.deepEqual(checkBits(LTC, facts(4032, 0x1c02d1fa, 2_000_150), prev, halfTime), { ok: true });
    assert.equal(checkBits(LTC, facts(4032, 0x1c05a3f4, 2_000_150), prev, halfTime).ok, false);
  });

  test('chains without retargeting keep the same bits, also at retarget heights', () => {
    for (const net of [REGTEST, LTC_REGTEST]) {
      const prev = facts(2015, 0x207fffff, 1_000_000);
      // A period ten times too slow: a retargeting chain would change the bits here.
      const start = facts(0, 0x207fffff, 1_000_000 - 10 * TWO_WEEKS);
      assert.deepEqual(checkBits(net, facts(2016, 0x207fffff, 1_000_600), prev, start), { ok: true }, net.name);
      assert.deepEqual(checkBits(net, facts(2016, 0x207fffff, 1_000_600), prev, null), { ok: true }, `${net.name} needs no history`);
      assert.equal(checkBits(net, facts(2016, 0x207ffffe, 1_000_600), prev, start).ok, false, `${net.name} retarget height`);
      assert.equal(checkBits(net, facts(77, 0x2000ffff, 1_000_600), facts(76, 0x207fffff, 1_000_000), null).ok, false, `${net.name} ordinary height`);
    }
  });

  test('testnet: a min-difficulty block is allowed only more than 20 minutes after the previous one', () => {
    const limit = TESTNET.retarget.powLimitBits;
    assert.equal(limit, 0x1d00ffff);
    const prev = facts(1000, 0x1c0ffff0, 1_500_000_000);
    // Bitcoin Core: block time > previous time + 2 * 10 minutes.
    assert.deepEqual(checkBits(TESTNET, facts(1001, limit, prev.time + 20 * 60 + 1), prev, null), { ok: true });
    assert.equal(checkBits(TESTNET, facts(1001, limit, prev.time + 20 * 60), prev, null).ok, false, 'exactly 20 minutes is not late enough');
    assert.equal(checkBits(TESTNET, facts(1001, limit, prev.time + 60), prev, null).ok, false);
    // The real difficulty is always fine.
    assert.deepEqual(checkBits(TESTNET, facts(1001, 0x1c0ffff0, prev.time + 60), prev, null), { ok: true });
    assert.deepEqual(checkBits(TESTNET, facts(1001, 0x1c0ffff0, prev.time + 3600), prev, null), { ok: true });
    // After a min-difficulty block the difficulty returns to the period's.
    const minDiff = facts(1001, limit, prev.time + 1300);
    assert.deepEqual(checkBits(TESTNET, facts(1002, 0x1c0ffff0, minDiff.time + 600), minDiff, null), { ok: true });
    // Mainnet has no such rule.
    assert.equal(checkBits(BTC, facts(1001, 0x1d00ffff, prev.time + 3600), prev, null).ok, false);
    assert.equal(checkBits(LTC, facts(1001, LTC.retarget.powLimitBits, prev.time + 3600), prev, null).ok, false);
  });

  test('testnet: no min-difficulty exception at a retarget height', () => {
    const limit = TESTNET.retarget.powLimitBits;
    const prev = facts(4031, 0x1c0ffff0, 1_500_000_000);
    const start = facts(2016, 0x1c0ffff0, 1_500_000_000 - TWO_WEEKS);
    const late = facts(4032, limit, prev.time + 3600);
    assert.equal(checkBits(TESTNET, late, prev, start).ok, false);
    assert.deepEqual(checkBits(TESTNET, facts(4032, 0x1c0ffff0, prev.time + 3600), prev, start), { ok: true });
  });
});
