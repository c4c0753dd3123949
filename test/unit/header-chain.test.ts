// SPDX-License-Identifier: MIT
/**
 * HeaderChain: the verified window of headers the chain tracker keeps. Built
 * from real regtest header chains (test/helpers/regtest-headers.ts, made with
 * node:crypto only) and the independent vectors in test/vectors/chain.json.
 * Hashes, work and proof of work are recomputed here with node:crypto.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, scryptSync } from 'node:crypto';
import { NETWORKS } from '../../src/config/networks.js';
import { HeaderChain, anchorStart, compareWork } from '../../src/chain/header-chain.js';
import { retargetBits } from '../../src/chain/difficulty.js';
import type { Network } from '../../src/config/networks.js';
import { regtestHeaders } from '../helpers/regtest-headers.js';
import { loadVectors } from '../helpers/vectors.js';

const REGTEST = NETWORKS.regtest;
const REGTEST_BITS = 0x207fffff;
const REGTEST_TARGET = 0x7fffffn << 232n;
/** Bitcoin Core's GetBlockProof for regtest bits: 2^256 / (target + 1), which is 2. */
const REGTEST_WORK = (1n << 256n) / (REGTEST_TARGET + 1n);

interface VectorHeader {
  readonly network: string;
  readonly height: number;
  readonly header: string;
  readonly hash: string;
}
const VECTORS = loadVectors<{ headers: VectorHeader[] }>('chain.json').headers;
function vector(network: string, height: number): VectorHeader {
  const v = VECTORS.find((h) => h.network === network && h.height === height);
  assert.ok(v, `vector ${network} ${height}`);
  return v;
}

function sha256d(b: Buffer): Buffer {
  return createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
}

function hashOf(hex: string): string {
  return Buffer.from(sha256d(Buffer.from(hex, 'hex'))).reverse().toString('hex');
}

/** A header on top of `prevHex` with the given bits, ground until sha256d meets those bits' target. */
function mineOn(prevHex: string, opts: { bits?: number; time?: number; salt?: string; prevHash?: Buffer } = {}): string {
  const bits = opts.bits ?? REGTEST_BITS;
  const exponent = bits >>> 24;
  const target = BigInt(bits & 0x7fffff) << BigInt(8 * (exponent - 3));
  const prev = Buffer.from(prevHex, 'hex');
  const h = Buffer.alloc(80);
  h.writeUInt32LE(0x20000000, 0);
  (opts.prevHash ?? sha256d(prev)).copy(h, 4);
  createHash('sha256').update(`header-chain-test ${opts.salt ?? ''}`).digest().copy(h, 36);
  h.writeUInt32LE(opts.time ?? prev.readUInt32LE(68) + 600, 68);
  h.writeUInt32LE(bits, 72);
  for (let nonce = 0; ; nonce++) {
    h.writeUInt32LE(nonce, 76);
    if (BigInt(`0x${Buffer.from(sha256d(h)).reverse().toString('hex')}`) <= target) return h.toString('hex');
  }
}

/** The same header with another nonce, chosen so that sha256d misses the regtest target. */
function breakPow(hex: string): string {
  const h = Buffer.from(hex, 'hex');
  for (let nonce = h.readUInt32LE(76) + 1; ; nonce++) {
    h.writeUInt32LE(nonce >>> 0, 76);
    if (BigInt(`0x${Buffer.from(sha256d(h)).reverse().toString('hex')}`) > REGTEST_TARGET) return h.toString('hex');
  }
}

const MAIN = regtestHeaders(60);

function anchored(hexes: readonly string[], keep = 200): HeaderChain {
  const chain = new HeaderChain(REGTEST, keep);
  const v = chain.verifyBranch(0, hexes, true);
  assert.ok(v.ok, v.ok ? '' : v.reason);
  chain.adopt(v.headers, true);
  return chain;
}

describe('HeaderChain.verifyBranch', () => {
  test('a valid chain verifies, with hashes, heights and cumulative work', () => {
    const chain = new HeaderChain(REGTEST, 200);
    const v = chain.verifyBranch(0, MAIN.slice(0, 21), true);
    assert.ok(v.ok);
    assert.equal(REGTEST_WORK, 2n);
    assert.equal(v.headers.length, 21);
    assert.equal(v.work, 21n * REGTEST_WORK);
    v.headers.forEach((h, i) => {
      assert.equal(h.height, i);
      assert.equal(h.hash, hashOf(MAIN[i]!));
      assert.equal(h.work, BigInt(i + 1) * REGTEST_WORK);
    });
    assert.equal(v.headers[0]!.hash, vector('regtest', 0).hash, 'the helper starts from the real regtest genesis');
    chain.adopt(v.headers, true);
    assert.equal(chain.tip?.height, 20);
    assert.equal(chain.tip?.hash, hashOf(MAIN[20]!));
    // Extending from our tip counts work from the start of the branch.
    const ext = chain.verifyBranch(21, MAIN.slice(21, 24));
    assert.ok(ext.ok);
    assert.equal(ext.work, 3n * REGTEST_WORK);
    assert.equal(ext.headers[2]!.work, 24n * REGTEST_WORK);
  });

  test('a header that does not link to the one before is refused at its height', () => {
    const chain = anchored(MAIN.slice(0, 31));
    // Header 32 in place of 31: valid proof of work, wrong previous hash.
    const skip = chain.verifyBranch(31, [MAIN[32]!]);
    assert.equal(skip.ok, false);
    if (!skip.ok) {
      assert.equal(skip.height, 31);
      assert.match(skip.reason, /does not link/);
    }
    // Inside a branch: the break is found where it is.
    const inside = chain.verifyBranch(31, [MAIN[31]!, MAIN[32]!, MAIN[34]!, MAIN[35]!]);
    assert.equal(inside.ok, false);
    if (!inside.ok) assert.equal(inside.height, 33);
    // A header from another chain at the right height.
    const other = regtestHeaders(31, 'other');
    const foreign = chain.verifyBranch(31, [other[31]!]);
    assert.equal(foreign.ok, false);
    if (!foreign.ok) assert.match(foreign.reason, /does not link/);
    // Even an anchored (trusted) run must link internally.
    const broken = new HeaderChain(REGTEST, 200).verifyBranch(10, [MAIN[10]!, MAIN[11]!, MAIN[13]!], true);
    assert.equal(broken.ok, false);
    if (!broken.ok) assert.equal(broken.height, 12);
  });

  test('a header whose proof of work fails is refused, however well it links', () => {
    const chain = anchored(MAIN.slice(0, 31));
    const bad = breakPow(MAIN[31]!);
    assert.equal(bad.slice(0, 152), MAIN[31]!.slice(0, 152), 'only the nonce differs');
    const v = chain.verifyBranch(31, [bad]);
    assert.equal(v.ok, false);
    if (!v.ok) {
      assert.equal(v.height, 31);
      assert.match(v.reason, /proof of work/);
    }
    const later = chain.verifyBranch(31, [MAIN[31]!, MAIN[32]!, breakPow(MAIN[33]!)]);
    assert.equal(later.ok, false);
    if (!later.ok) assert.equal(later.height, 33);
    // Bits easier than the network allows fail proof of work, whatever the hash.
    const tooEasy = mineOn(MAIN[30]!, { bits: 0x2100ffff });
    const easy = chain.verifyBranch(31, [tooEasy]);
    assert.equal(easy.ok, false);
    if (!easy.ok) assert.match(easy.reason, /proof of work/);
    // Garbage is refused, not thrown.
    const junk = chain.verifyBranch(31, ['00'.repeat(79)]);
    assert.equal(junk.ok, false);
  });

  test('bits other than the rules expect are refused even with valid proof of work', () => {
    const chain = anchored(MAIN.slice(0, 31));
    // A harder target than regtest's fixed one: its proof of work is fine, but regtest never retargets.
    const harder = mineOn(MAIN[30]!, { bits: 0x207ffffe });
    assert.notEqual(hashOf(harder), hashOf(MAIN[31]!));
    const v = chain.verifyBranch(31, [harder]);
    assert.equal(v.ok, false);
    if (!v.ok) {
      assert.equal(v.height, 31);
      assert.match(v.reason, /bits/);
    }
    // The same header is fine with the right bits.
    const right = mineOn(MAIN[30]!, { salt: 'right' });
    assert.ok(chain.verifyBranch(31, [right]).ok);
  });

  test('anchoring: the first run is trusted from wherever it starts, everything after must link to it', () => {
    const chain = new HeaderChain(REGTEST, 200);
    const unanchored = chain.verifyBranch(40, MAIN.slice(40, 51));
    assert.equal(unanchored.ok, false, 'an empty chain has nothing to link to');
    if (!unanchored.ok) assert.match(unanchored.reason, /no header at 39/);
    const v = chain.verifyBranch(40, MAIN.slice(40, 51), true);
    assert.ok(v.ok);
    chain.adopt(v.headers, true);
    assert.equal(chain.baseHeight, 40);
    assert.equal(chain.tip?.height, 50);
    assert.equal(chain.get(39), undefined);
    assert.equal(chain.hashAt(45), hashOf(MAIN[45]!));
    assert.ok(chain.verifyBranch(51, MAIN.slice(51, 55)).ok);
    const below = chain.verifyBranch(30, MAIN.slice(30, 55));
    assert.equal(below.ok, false, 'a branch starting below the window cannot be linked');
    const gap = chain.verifyBranch(52, MAIN.slice(52, 55));
    assert.equal(gap.ok, false, 'a branch starting above the tip leaves a gap');
  });

  test('test vectors: mainnet genesis work, litecoin-regtest scrypt headers', () => {
    const btcGenesis = vector('bitcoin', 0);
    const btc = new HeaderChain(NETWORKS.bitcoin, 200);
    const g = btc.verifyBranch(0, [btcGenesis.header], true);
    assert.ok(g.ok);
    assert.equal(g.headers[0]!.hash, btcGenesis.hash);
    // 2^256 / (0xffff * 2^208 + 1) = 0x100010001, the chainwork of block 0 that bitcoind reports.
    assert.equal(g.work, 0x100010001n);

    const LTC = NETWORKS['litecoin-regtest'];
    const l0 = vector('litecoin-regtest', 0);
    const l1 = vector('litecoin-regtest', 1);
    const ltc = new HeaderChain(LTC, 200);
    const v = ltc.verifyBranch(0, [l0.header, l1.header], true);
    assert.ok(v.ok, v.ok ? '' : v.reason);
    assert.deepEqual(
      v.headers.map((h) => h.hash),
      [l0.hash, l1.hash],
    );
    ltc.adopt(v.headers, true);
    // Block 1 with a nonce whose scrypt hash misses the target (found with node:crypto's scrypt).
    const raw = Buffer.from(l1.header, 'hex');
    for (let nonce = raw.readUInt32LE(76) + 1; ; nonce++) {
      raw.writeUInt32LE(nonce >>> 0, 76);
      const pow = BigInt(`0x${Buffer.from(scryptSync(raw, raw, 32, { N: 1024, r: 1, p: 1 })).reverse().toString('hex')}`);
      if (pow > REGTEST_TARGET) break;
    }
    const fresh = new HeaderChain(LTC, 200);
    const first = fresh.verifyBranch(0, [l0.header], true);
    assert.ok(first.ok);
    fresh.adopt(first.headers, true);
    const bad = fresh.verifyBranch(1, [raw.toString('hex')]);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.reason, /proof of work/);
    // Blocks 150 and 300 are real but not consecutive.
    const apart = new HeaderChain(LTC, 200).verifyBranch(150, [vector('litecoin-regtest', 150).header, vector('litecoin-regtest', 300).header], true);
    assert.equal(apart.ok, false);
    if (!apart.ok) {
      assert.equal(apart.height, 151);
      assert.match(apart.reason, /does not link/);
    }
  });
});

describe('HeaderChain.adopt', () => {
  test('adopting a heavier branch returns the orphaned hashes, lowest first', () => {
    const chain = anchored(MAIN.slice(0, 21));
    // A fork from block 17: five blocks (18..22) against our three (18..20).
    const fork = regtestHeaders(22, 'fork', MAIN.slice(0, 18));
    assert.notEqual(hashOf(fork[18]!), hashOf(MAIN[18]!));
    const v = chain.verifyBranch(18, fork.slice(18));
    assert.ok(v.ok);
    assert.equal(v.work, 5n * REGTEST_WORK);
    assert.equal(chain.workAbove(17), 3n * REGTEST_WORK);
    assert.ok(v.work > chain.workAbove(17));
    const orphaned = chain.adopt(v.headers);
    assert.deepEqual(orphaned, [hashOf(MAIN[18]!), hashOf(MAIN[19]!), hashOf(MAIN[20]!)]);
    assert.equal(chain.tip?.height, 22);
    assert.equal(chain.tip?.hash, hashOf(fork[22]!));
    assert.equal(chain.hashAt(17), hashOf(MAIN[17]!), 'below the fork nothing changes');
    assert.equal(chain.hashAt(18), hashOf(fork[18]!));
    assert.equal(chain.tip?.work, 23n * REGTEST_WORK, 'cumulative work continues across the fork point');
    // Extending the new tip works; the old branch no longer links.
    assert.ok(chain.verifyBranch(23, regtestHeaders(23, 'fork', fork).slice(23)).ok);
    assert.equal(chain.verifyBranch(21, [MAIN[21]!]).ok, false);
  });

  test('an equally heavy branch weighs the same as ours (the tracker keeps the first seen)', () => {
    const chain = anchored(MAIN.slice(0, 21));
    const rival = regtestHeaders(20, 'rival', MAIN.slice(0, 18));
    const v = chain.verifyBranch(18, rival.slice(18));
    assert.ok(v.ok);
    assert.equal(v.work, chain.workAbove(17));
    assert.equal(chain.workAbove(20), 0n);
  });

  test('extending returns no orphans', () => {
    const chain = anchored(MAIN.slice(0, 21));
    const v = chain.verifyBranch(21, MAIN.slice(21, 25));
    assert.ok(v.ok);
    assert.deepEqual(chain.adopt(v.headers), []);
    assert.equal(chain.tip?.height, 24);
  });

  test('the window keeps at least a retarget period, and no more than it needs', () => {
    const interval = REGTEST.retarget.interval;
    const long = regtestHeaders(interval + 100, 'long');
    const chain = new HeaderChain(REGTEST, 200);
    const v = chain.verifyBranch(0, long, true);
    assert.ok(v.ok);
    chain.adopt(v.headers, true);
    const tip = interval + 100;
    assert.equal(chain.tip?.height, tip);
    const held = tip - chain.baseHeight + 1;
    assert.ok(held >= interval + 1, `holds ${held} headers, fewer than a retarget period and its start`);
    assert.ok(held <= interval + 2, `holds ${held} headers, more than it needs`);
    for (const h of [chain.baseHeight, tip - interval, tip]) assert.equal(chain.hashAt(h), hashOf(long[h]!), `height ${h}`);
    assert.equal(chain.get(chain.baseHeight - 1), undefined, 'older headers are dropped');
    // Extending one block at a time moves the window without growing it.
    let all = long;
    for (let i = 0; i < 5; i++) {
      all = regtestHeaders(all.length, 'long', all);
      const ext = chain.verifyBranch(all.length - 1, [all[all.length - 1]!]);
      assert.ok(ext.ok);
      chain.adopt(ext.headers);
    }
    assert.equal(chain.tip!.height - chain.baseHeight + 1, held);
    // Asking for more than a period keeps that many.
    const big = new HeaderChain(REGTEST, interval + 50);
    const bv = big.verifyBranch(0, long, true);
    assert.ok(bv.ok);
    big.adopt(bv.headers, true);
    assert.equal(tip - big.baseHeight + 1, interval + 50);
  });

  test('every verified block (hash and header) stays known below the window, replaced by a reorg, unknown below the anchor', () => {
    const interval = REGTEST.retarget.interval;
    const tip = interval + 300;
    const long = regtestHeaders(tip, 'index');
    const chain = new HeaderChain(REGTEST, 200);
    // Anchored at 100 and extended in pieces, as the tracker does.
    const anchor = chain.verifyBranch(100, long.slice(100, 1100), true);
    assert.ok(anchor.ok);
    chain.adopt(anchor.headers, true);
    for (let from = 1100; from <= tip; from += 700) {
      const v = chain.verifyBranch(from, long.slice(from, Math.min(tip + 1, from + 700)));
      assert.ok(v.ok);
      chain.adopt(v.headers);
    }
    assert.ok(chain.baseHeight > 250, `whole headers are held near the tip only (from ${chain.baseHeight})`);
    for (const h of [100, 101, 200, chain.baseHeight - 1, chain.baseHeight, 1500, tip]) {
      assert.equal(chain.verifiedHash(h), hashOf(long[h]!), `hash at ${h}`);
      assert.equal(chain.headerBytes(h)?.toString('hex'), long[h], `header at ${h}`);
    }
    assert.equal(chain.verifiedHash(99), undefined, 'below the anchor nothing is known');
    assert.equal(chain.headerBytes(99), undefined);
    assert.equal(chain.verifiedHash(tip + 1), undefined, 'above the tip nothing is known');
    assert.equal(chain.headerBytes(tip + 1), undefined);
    // A heavier fork from tip-10 replaces the entries above its start, and only those.
    const fork = regtestHeaders(tip + 2, 'index fork', long.slice(0, tip - 9));
    const v = chain.verifyBranch(tip - 9, fork.slice(tip - 9));
    assert.ok(v.ok);
    chain.adopt(v.headers);
    assert.equal(chain.verifiedHash(tip - 10), hashOf(long[tip - 10]!));
    assert.equal(chain.headerBytes(tip - 10)?.toString('hex'), long[tip - 10]);
    for (const h of [tip - 9, tip - 5, tip, tip + 2]) {
      assert.equal(chain.verifiedHash(h), hashOf(fork[h]!), `the fork's hash at ${h}`);
      assert.equal(chain.headerBytes(h)?.toString('hex'), fork[h], `the fork's header at ${h}, not the orphan`);
    }
    assert.notEqual(fork[tip - 5], long[tip - 5]);
    assert.equal(chain.verifiedHash(200), hashOf(long[200]!), 'deep entries are untouched');
    assert.equal(chain.headerBytes(200)?.toString('hex'), long[200]);
  });
});

/**
 * Mainnet's rules over a period of 8 blocks (8 * 600 s) and regtest's easy
 * limit, so retargets happen within a few mined headers.
 */
const SMALL: Network = {
  ...REGTEST,
  retarget: { interval: 8, targetTimespanSeconds: 8 * 600, powLimitBits: REGTEST_BITS, noRetargeting: false, allowMinDifficultyBlocks: false },
  checkpoints: [],
};
const HARD = 0x2000ffff;

/** Headers from `from` (the last one given) onward, `count` of them, each at the bits the rules expect, `spacing` seconds apart. */
function grow(network: Network, from: readonly string[], startHeight: number, count: number, spacing: number, salt: string): string[] {
  const out = [...from];
  const heightOf = (i: number): number => startHeight + i;
  while (out.length < from.length + count) {
    const i = out.length;
    const height = heightOf(i);
    const prev = Buffer.from(out[i - 1]!, 'hex');
    let bits = prev.readUInt32LE(72);
    if (height % network.retarget.interval === 0) {
      const first = Buffer.from(out[i - network.retarget.interval]!, 'hex');
      bits = retargetBits(network, bits, first.readUInt32LE(68), prev.readUInt32LE(68));
    }
    out.push(mineOn(out[i - 1]!, { bits, time: prev.readUInt32LE(68) + spacing, salt: `${salt} ${height}` }));
  }
  return out.slice(from.length);
}

describe('anchoring on a checkpoint, weighing by work', () => {
  // Heights 0..7: one period at HARD bits, the checkpoint at 7 (its last block).
  const base = [MAIN[0]!];
  for (let h = 1; h <= 7; h++) base.push(mineOn(base[h - 1]!, { bits: HARD, salt: `base ${h}` }));
  const checkpoint = { height: 7, hash: hashOf(base[7]!), chainwork: 1000n };

  test('anchorStart: the anchor holds the timespan the first retarget above the checkpoint measures', () => {
    assert.equal(anchorStart(NETWORKS.bitcoin, 747_935), 745_920, 'a period end: the whole period');
    assert.equal(anchorStart(NETWORKS.bitcoin, 0), 0);
    assert.equal(anchorStart(NETWORKS.bitcoin, 100), 0, 'mid-period: from the period start');
    assert.equal(anchorStart(NETWORKS.bitcoin, 4032), 4032, 'a retarget height: its own period starts there');
    assert.equal(anchorStart(NETWORKS.litecoin, 2015), 0, "litecoin's first retarget measures from 0");
    assert.equal(anchorStart(NETWORKS.litecoin, 4031), 2015, 'later ones one block further back');
    assert.equal(anchorStart(SMALL, 7), 0);
  });

  test('anchorOn takes only a run that ends at the checkpoint, with its hash; work starts at its chainwork', () => {
    const wrongHash = new HeaderChain(SMALL, 20).anchorOn({ ...checkpoint, hash: hashOf(base[6]!) }, 0, base);
    assert.equal(wrongHash.ok, false);
    if (!wrongHash.ok) assert.match(wrongHash.reason, /not the checkpoint/);
    const short = new HeaderChain(SMALL, 20).anchorOn(checkpoint, 0, base.slice(0, 7));
    assert.equal(short.ok, false, 'a run that stops below the checkpoint');
    const other = regtestHeaders(7, 'other');
    const foreign = new HeaderChain(SMALL, 20).anchorOn(checkpoint, 0, other);
    assert.equal(foreign.ok, false, 'another chain of the same length');
    const broken = new HeaderChain(SMALL, 20).anchorOn(checkpoint, 0, [...base.slice(0, 3), other[3]!, ...base.slice(4)]);
    assert.equal(broken.ok, false, 'a run that does not link');
    const chain = new HeaderChain(SMALL, 20);
    const v = chain.anchorOn(checkpoint, 0, base);
    assert.ok(v.ok, v.ok ? '' : v.reason);
    assert.equal(chain.tip?.hash, checkpoint.hash);
    assert.equal(chain.tip?.work, 1000n, "the checkpoint's chainwork");
  });

  test('the retarget right above the checkpoint is checked, never taken on trust', () => {
    const chain = new HeaderChain(SMALL, 20);
    assert.ok(chain.anchorOn(checkpoint, 0, base).ok);
    // 7 spacings of 600 s measured against 8 * 600: the target shrinks to 7/8, 0x00dfff... (computed by hand).
    const right = mineOn(base[7]!, { bits: 0x2000dfff, salt: 'right' });
    assert.ok(chain.verifyBranch(8, [right]).ok);
    for (const bits of [REGTEST_BITS, HARD]) {
      const v = chain.verifyBranch(8, [mineOn(base[7]!, { bits, salt: `wrong ${bits}` })]);
      assert.equal(v.ok, false, `bits ${bits.toString(16)} at the retarget`);
      if (!v.ok) assert.match(v.reason, /expected 0x2000dfff/);
    }
    // And between retargets the bits cannot drop to the easiest target.
    const v = chain.verifyBranch(8, [right, mineOn(right, { bits: REGTEST_BITS, salt: 'easy' })]);
    assert.equal(v.ok, false);
    if (!v.ok) assert.match(v.reason, /outside a retarget/);
  });

  test('a longer chain that follows every rule but carries less work loses to a shorter heavier one', () => {
    // Honest: blocks 600 s apart (difficulty rises). Slow: 4 times slower, so its retarget at 16 makes blocks easier.
    const honestHexes = grow(SMALL, base, 0, 13, 600, 'honest');
    const slowHexes = grow(SMALL, base, 0, 16, 2400, 'slow');
    const build = (hexes: string[]): HeaderChain => {
      const chain = new HeaderChain(SMALL, 20);
      assert.ok(chain.anchorOn(checkpoint, 0, base).ok);
      const v = chain.verifyBranch(8, hexes);
      assert.ok(v.ok, v.ok ? '' : v.reason);
      chain.adopt(v.headers);
      return chain;
    };
    const honest = build(honestHexes).tip!;
    const slow = build(slowHexes).tip!;
    assert.equal(honest.height, 20);
    assert.equal(slow.height, 23);
    assert.ok(Buffer.from(slowHexes[8]!, 'hex').readUInt32LE(72) !== Buffer.from(honestHexes[8]!, 'hex').readUInt32LE(72), 'the retarget at 16 differs');
    assert.ok(compareWork(honest, slow) > 0, `honest ${honest.work} vs slow ${slow.work}`);
    assert.ok(compareWork(slow, honest) < 0);
    assert.equal(compareWork(honest, { work: honest.work }), 0, 'equal work: neither wins (the chain held stays)');
  });
});
