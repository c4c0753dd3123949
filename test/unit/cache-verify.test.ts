// SPDX-License-Identifier: MIT
/**
 * The checks run before anything is cached or served (src/cache/verify.ts),
 * against independent data:
 *
 *  - headers: real regtest chains built with node:crypto alone
 *    (test/helpers/regtest-headers.ts), Bitcoin's genesis block, and Litecoin
 *    Core's regtest headers (scrypt) from test/vectors/chain.json;
 *  - merkle proofs: Litecoin Core's block 151 (13 txids, merkle root, the
 *    branch ElectrumX returns for position 3), and branches for every other
 *    position computed here with node:crypto;
 *  - transactions: Bitcoin's genesis coinbase and a segwit transaction whose
 *    txid was computed by the Electrum 4.3.4 library.
 *
 * Every genuine item passes; the same item with one byte changed fails.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { linkedHeaders, verifyHeaders, verifyIdFromPos, verifyMerkle, verifyTransaction } from '../../src/cache/verify.js';
import { networkByName } from '../../src/config/networks.js';
import { merkle } from '../helpers/merkle.js';
import { regtestHeaders } from '../helpers/regtest-headers.js';
import { loadVectors } from '../helpers/vectors.js';

interface ChainVectors {
  headers: { network: string; height: number; header: string; hash: string; pow_hash: string }[];
  merkle: { network: string; height: number; block_hash: string; merkle_root: string; txids: string[]; proof_for_pos: number; tx_hash: string; branch: string[] };
}

const vectors = loadVectors<ChainVectors>('chain.json');
const REGTEST = networkByName('regtest');
const BITCOIN = networkByName('bitcoin');
const LTC_REGTEST = networkByName('litecoin-regtest');

// ---------------------------------------------------------------- independent maths (node:crypto only)

function sha256d(b: Buffer): Buffer {
  return createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
}

/** Display hex (byte-reversed) of sha256d. */
function displayHash(b: Buffer): string {
  return Buffer.from(sha256d(b)).reverse().toString('hex');
}

const rev = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();

/** An 80-byte header carrying `merkleRootDisplay`; only its merkle root matters to the proof checks. */
function headerWithRoot(merkleRootDisplay: string): string {
  const h = Buffer.alloc(80);
  h.writeUInt32LE(0x20000000, 0);
  rev(merkleRootDisplay).copy(h, 36);
  h.writeUInt32LE(0x207fffff, 72);
  return h.toString('hex');
}

/** `hex` with byte `at` XORed with `mask` (never 0, so the byte always changes). */
function corrupt(hex: string, at: number, mask = 0x01): string {
  const b = Buffer.from(hex, 'hex');
  b[at] = b[at]! ^ mask;
  return b.toString('hex');
}

/** `hex` (a 32-byte display hash) with one nibble changed. */
function corruptHash(hex: string, at = 0): string {
  const c = hex[at] === '0' ? '1' : '0';
  return hex.slice(0, at) + c + hex.slice(at + 1);
}

// ---------------------------------------------------------------- headers

describe('verifyHeaders', () => {
  const chain = regtestHeaders(24, 'cache-verify');
  const hashes = chain.map((h) => displayHash(Buffer.from(h, 'hex')));
  const knownAll = (h: number): string | undefined => hashes[h];
  const knownBelow = (start: number) => (h: number) => (h < start ? hashes[h] : undefined);
  const unknown = (): undefined => undefined;

  it('accepts a real regtest chain, alone, linked to the known block below, and matching every known block', () => {
    assert.equal(verifyHeaders(REGTEST, 1, chain.slice(1), unknown), null);
    assert.equal(verifyHeaders(REGTEST, 0, chain, unknown), null);
    assert.equal(verifyHeaders(REGTEST, 10, chain.slice(10, 20), knownBelow(10)), null);
    assert.equal(verifyHeaders(REGTEST, 10, chain.slice(10, 20), knownAll), null);
    assert.equal(verifyHeaders(REGTEST, 24, chain.slice(24), knownAll), null);
  });

  it('the regtest genesis it starts from is the real one', () => {
    const genesis = vectors.headers.find((v) => v.network === 'regtest' && v.height === 0)!;
    assert.equal(chain[0], genesis.header);
    assert.equal(hashes[0], genesis.hash);
    assert.equal(verifyHeaders(REGTEST, 0, [genesis.header], (h) => (h === 0 ? genesis.hash : undefined)), null);
  });

  it('one changed byte in any header but the last breaks the link to the next', () => {
    const start = 5;
    const range = chain.slice(start, 15);
    for (let i = 0; i < range.length - 1; i++) {
      for (const at of [0, 3, 4, 20, 35, 36, 50, 67, 68, 71, 72, 75, 76, 79]) {
        const bad = [...range];
        bad[i] = corrupt(bad[i]!, at);
        assert.notEqual(verifyHeaders(REGTEST, start, bad, unknown), null, `header ${start + i}, byte ${at}`);
      }
    }
  });

  it('one changed byte in the last header fails where the tracker knows that block', () => {
    const start = 5;
    const range = chain.slice(start, 15);
    const last = range.length - 1;
    for (let at = 0; at < 80; at++) {
      const bad = [...range];
      bad[last] = corrupt(bad[last]!, at);
      assert.notEqual(verifyHeaders(REGTEST, start, bad, knownAll), null, `byte ${at}`);
    }
  });

  it('one changed byte in the first header fails when the block below it is known (it no longer links)', () => {
    for (const at of [4, 10, 35]) {
      const bad = corrupt(chain[12]!, at);
      assert.notEqual(verifyHeaders(REGTEST, 12, [bad], knownBelow(12)), null, `byte ${at}`);
    }
  });

  it('headers out of order, a gap, the wrong start height, or another chain fail', () => {
    const range = chain.slice(5, 10);
    assert.notEqual(verifyHeaders(REGTEST, 5, [range[0]!, range[2]!, range[1]!, range[3]!], unknown), null, 'swapped');
    assert.notEqual(verifyHeaders(REGTEST, 5, [range[0]!, range[2]!], unknown), null, 'gap');
    assert.notEqual(verifyHeaders(REGTEST, 6, range, knownBelow(6)), null, 'asked from 6, given from 5');
    const fork = regtestHeaders(12, 'another chain', chain.slice(0, 8));
    assert.equal(verifyHeaders(REGTEST, 8, fork.slice(8), knownBelow(8)), null, 'a fork links to the shared block below');
    assert.notEqual(verifyHeaders(REGTEST, 8, fork.slice(8), knownAll), null, 'but is not the best chain where it is known');
  });

  it('malformed headers fail without throwing', () => {
    assert.notEqual(verifyHeaders(REGTEST, 1, [chain[1]!.slice(0, 158)], unknown), null, '79 bytes');
    assert.notEqual(verifyHeaders(REGTEST, 1, [chain[1]! + '00'], unknown), null, '81 bytes');
    assert.notEqual(verifyHeaders(REGTEST, 1, ['zz' + chain[1]!.slice(2)], unknown), null, 'not hex');
    assert.notEqual(verifyHeaders(REGTEST, 1, [''], unknown), null, 'empty');
  });

  it('a header without proof of work fails on its own', () => {
    // Regtest's target accepts about half of all hashes; find a nonce that misses it.
    const h = Buffer.from(chain[7]!, 'hex');
    for (let nonce = 0; ; nonce++) {
      h.writeUInt32LE(nonce, 76);
      if (sha256d(h)[31]! >= 0x80) break;
    }
    assert.match(String(verifyHeaders(REGTEST, 7, [h.toString('hex')], unknown)), /proof of work/);
  });

  it("regtest headers fail bitcoin's proof of work; bitcoin's genesis passes it and fails with any byte changed", () => {
    assert.match(String(verifyHeaders(BITCOIN, 1, chain.slice(1, 3), unknown)), /proof of work/);
    const genesis = vectors.headers.find((v) => v.network === 'bitcoin' && v.height === 0)!;
    assert.equal(displayHash(Buffer.from(genesis.header, 'hex')), genesis.hash);
    assert.equal(verifyHeaders(BITCOIN, 0, [genesis.header], unknown), null);
    for (let at = 0; at < 80; at++) {
      for (const mask of [0x01, 0x80]) {
        assert.notEqual(verifyHeaders(BITCOIN, 0, [corrupt(genesis.header, at, mask)], unknown), null, `byte ${at} ^ ${mask}`);
      }
    }
  });

  it("Litecoin Core's regtest headers pass with scrypt proof of work and link; a changed byte fails", () => {
    const ltc = vectors.headers.filter((v) => v.network === 'litecoin-regtest').sort((a, b) => a.height - b.height);
    const [h0, h1] = [ltc.find((v) => v.height === 0)!, ltc.find((v) => v.height === 1)!];
    const known = (h: number): string | undefined => ltc.find((v) => v.height === h)?.hash;
    assert.equal(verifyHeaders(LTC_REGTEST, 0, [h0.header, h1.header], () => undefined), null);
    assert.equal(verifyHeaders(LTC_REGTEST, 0, [h0.header, h1.header], known), null);
    for (const v of ltc) assert.equal(verifyHeaders(LTC_REGTEST, v.height, [v.header], known), null, `height ${v.height}`);
    for (const at of [0, 4, 36, 68, 72, 76, 79]) {
      assert.notEqual(verifyHeaders(LTC_REGTEST, 0, [corrupt(h0.header, at), h1.header], () => undefined), null, `genesis byte ${at}`);
      assert.notEqual(verifyHeaders(LTC_REGTEST, 1, [corrupt(h1.header, at)], known), null, `block 1 byte ${at}`);
    }
    // The block hash (sha256d) links the chain, not the scrypt hash.
    assert.notEqual(verifyHeaders(LTC_REGTEST, 1, [h1.header], (h) => (h === 1 ? h1.pow_hash : undefined)), null);
  });
});

// ---------------------------------------------------------------- merkle proofs

describe('verifyMerkle and verifyIdFromPos', () => {
  const m = vectors.merkle;
  const header = headerWithRoot(m.merkle_root);

  it("the independent merkle maths here agrees with Litecoin Core's root and ElectrumX's branch", () => {
    const mine = merkle(m.txids, m.proof_for_pos);
    assert.equal(mine.root, m.merkle_root);
    assert.deepEqual(mine.branch, m.branch);
    assert.equal(m.txids[m.proof_for_pos], m.tx_hash);
  });

  it("accepts ElectrumX's get_merkle answer for block 151", () => {
    assert.equal(verifyMerkle(m.tx_hash, { block_height: m.height, merkle: m.branch, pos: m.proof_for_pos }, header), null);
  });

  it('accepts every position of the block (get_merkle and id_from_pos), including the odd last one', () => {
    m.txids.forEach((txid, pos) => {
      const { branch } = merkle(m.txids, pos);
      assert.equal(verifyMerkle(txid, { block_height: m.height, merkle: branch, pos }, header), null, `get_merkle pos ${pos}`);
      assert.equal(verifyIdFromPos({ tx_hash: txid, merkle: branch }, pos, header), null, `id_from_pos pos ${pos}`);
    });
  });

  it('one changed byte in any branch hash, the txid, or the merkle root fails', () => {
    const answer = { block_height: m.height, merkle: m.branch, pos: m.proof_for_pos };
    m.branch.forEach((_, n) => {
      for (const at of [0, 31, 63]) {
        const branch = m.branch.map((h, k) => (k === n ? corruptHash(h, at) : h));
        assert.notEqual(verifyMerkle(m.tx_hash, { ...answer, merkle: branch }, header), null, `branch[${n}] char ${at}`);
        assert.notEqual(verifyIdFromPos({ tx_hash: m.tx_hash, merkle: branch }, m.proof_for_pos, header), null, `id_from_pos branch[${n}] char ${at}`);
      }
    });
    for (const at of [0, 40, 63]) {
      assert.notEqual(verifyMerkle(corruptHash(m.tx_hash, at), answer, header), null, `txid char ${at}`);
      assert.notEqual(verifyIdFromPos({ tx_hash: corruptHash(m.tx_hash, at), merkle: m.branch }, m.proof_for_pos, header), null, `tx_hash char ${at}`);
      const otherHeader = headerWithRoot(corruptHash(m.merkle_root, at));
      assert.notEqual(verifyMerkle(m.tx_hash, answer, otherHeader), null, `root char ${at}`);
    }
  });

  it('a right branch at the wrong position, or the branch of another transaction, fails', () => {
    for (const pos of [0, 1, 2, 4, 7, 11]) {
      assert.notEqual(verifyMerkle(m.tx_hash, { block_height: m.height, merkle: m.branch, pos }, header), null, `pos ${pos}`);
      assert.notEqual(verifyIdFromPos({ tx_hash: m.tx_hash, merkle: m.branch }, pos, header), null, `id_from_pos at ${pos}`);
    }
    assert.notEqual(verifyMerkle(m.txids[5]!, { block_height: m.height, merkle: m.branch, pos: m.proof_for_pos }, header), null);
    assert.notEqual(verifyIdFromPos({ tx_hash: m.txids[5]!, merkle: m.branch }, m.proof_for_pos, header), null);
  });

  it('a single-transaction block: the empty branch proves the coinbase, which is the merkle root (regtest genesis)', () => {
    const genesis = vectors.headers.find((v) => v.network === 'regtest' && v.height === 0)!.header;
    const coinbase = '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b';
    assert.equal(verifyMerkle(coinbase, { block_height: 0, merkle: [], pos: 0 }, genesis), null);
    assert.equal(verifyIdFromPos({ tx_hash: coinbase, merkle: [] }, 0, genesis), null);
    assert.notEqual(verifyMerkle(corruptHash(coinbase, 10), { block_height: 0, merkle: [], pos: 0 }, genesis), null);
    assert.notEqual(verifyMerkle(coinbase, { block_height: 0, merkle: ['11'.repeat(32)], pos: 0 }, genesis), null, 'a bogus sibling');
    assert.notEqual(verifyIdFromPos({ tx_hash: coinbase, merkle: [] }, 1, genesis), null, 'position 1 of a one-tx block');
  });

  it('malformed answers fail without throwing', () => {
    const good = { block_height: m.height, merkle: m.branch, pos: m.proof_for_pos };
    const bad: unknown[] = [
      null,
      'string',
      42,
      [],
      {},
      { ...good, merkle: undefined },
      { ...good, pos: undefined },
      { ...good, pos: '3' },
      { ...good, merkle: 'abcd' },
      { ...good, merkle: [...m.branch.slice(0, 3), 'zz'] },
      { ...good, merkle: [...m.branch.slice(0, 3), m.branch[3]!.slice(2)] },
      { ...good, merkle: [...m.branch.slice(0, 3), 42] },
      { ...good, pos: -1 },
      { ...good, pos: 1.5 },
      { ...good, pos: 16 },
    ];
    for (const a of bad) assert.notEqual(verifyMerkle(m.tx_hash, a, header), null, JSON.stringify(a));
    const badIds: unknown[] = [null, 'txid', {}, { tx_hash: m.tx_hash }, { merkle: m.branch }, { tx_hash: 42, merkle: m.branch }, { tx_hash: 'zz', merkle: m.branch }];
    for (const a of badIds) assert.notEqual(verifyIdFromPos(a, m.proof_for_pos, header), null, JSON.stringify(a));
    assert.notEqual(verifyMerkle(m.tx_hash, good, header.slice(0, 100)), null, 'a malformed header');
  });
});

// ---------------------------------------------------------------- transactions

describe('verifyTransaction', () => {
  /** Bitcoin's genesis coinbase. */
  const GENESIS_TX =
    '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000';
  const GENESIS_TXID = '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b';
  /**
   * A P2WPKH spend with two outputs (BIP144 serialization). Its txid and wtxid as the
   * Electrum 4.3.4 library computes them (Transaction(raw).txid(), .wtxid()).
   */
  const SEGWIT_TX =
    '02000000000101502590d7b62335920c2c5a271c82fed741d19a0af38db23531962a719d10ba8c0000000000fdffffff02706ff7050000000016001463486a04bc8d576341792d6ccc3f63f6e2e311bc0e7d0e240100000016001461d2cecebfb4756d9d9213fc953c3a11ba44c2da0247304402201e4962a566f13ac095fd21e29f5b0a2d21e2a02b7aeba94bab8b37170a17b63a022048cff9c1e4f541690d76d5d19962c1054dc52dff30fbb93e86784cef655fe61f012102e94cef61744168122f1ffe2df334429c18df66537bd109e2a80b1554a6ee18d265000000';
  const SEGWIT_TXID = '4e2fd9955d2ceb2841f0e0f33c2621df2027883a40fbc80deb6c2b017ee69aa8';
  const SEGWIT_WTXID = '811e53f69ee3b7a2b18b713e9c34e71ef82c2a0596b98b0cd395bbbfec18df4c';
  /** Byte ranges of SEGWIT_TX outside the witness (version, marker, flag, inputs, outputs | locktime). */
  const SEGWIT_WITNESS = { from: 111, to: 218 };

  it('the vectors are what they claim (independent hash of the bytes)', () => {
    assert.equal(displayHash(Buffer.from(GENESIS_TX, 'hex')), GENESIS_TXID);
    // The genesis block's merkle root is its only transaction.
    const genesisHeader = vectors.headers.find((v) => v.network === 'bitcoin' && v.height === 0)!.header;
    assert.equal(Buffer.from(genesisHeader, 'hex').subarray(36, 68).reverse().toString('hex'), GENESIS_TXID);
    assert.equal(displayHash(Buffer.from(SEGWIT_TX, 'hex')), SEGWIT_WTXID);
    const raw = Buffer.from(SEGWIT_TX, 'hex');
    const stripped = Buffer.concat([raw.subarray(0, 4), raw.subarray(6, SEGWIT_WITNESS.from), raw.subarray(SEGWIT_WITNESS.to)]);
    assert.equal(displayHash(stripped), SEGWIT_TXID);
  });

  it('accepts transaction bytes that hash to the txid asked for (legacy and segwit)', () => {
    assert.equal(verifyTransaction(GENESIS_TXID, GENESIS_TX), null);
    assert.equal(verifyTransaction(SEGWIT_TXID, SEGWIT_TX), null);
  });

  it('rejects the right bytes for another txid, and the wtxid as txid', () => {
    assert.notEqual(verifyTransaction(SEGWIT_TXID, GENESIS_TX), null);
    assert.notEqual(verifyTransaction(GENESIS_TXID, SEGWIT_TX), null);
    assert.notEqual(verifyTransaction(SEGWIT_WTXID, SEGWIT_TX), null);
    assert.notEqual(verifyTransaction(corruptHash(GENESIS_TXID, 5), GENESIS_TX), null);
  });

  it('one changed byte anywhere in a legacy transaction fails', () => {
    const n = GENESIS_TX.length / 2;
    for (let at = 0; at < n; at++) {
      assert.notEqual(verifyTransaction(GENESIS_TXID, corrupt(GENESIS_TX, at)), null, `byte ${at}`);
    }
  });

  it('one changed byte anywhere the txid covers in a segwit transaction fails', () => {
    const n = SEGWIT_TX.length / 2;
    for (let at = 0; at < n; at++) {
      // Witness bytes are not covered by the txid (that is the wtxid's job).
      if (at > SEGWIT_WITNESS.from && at < SEGWIT_WITNESS.to) continue;
      assert.notEqual(verifyTransaction(SEGWIT_TXID, corrupt(SEGWIT_TX, at)), null, `byte ${at}`);
    }
  });

  it('truncated, padded, non-hex or non-string answers fail without throwing', () => {
    const bad: unknown[] = [
      GENESIS_TX.slice(0, -2),
      GENESIS_TX + '00',
      GENESIS_TX.slice(0, 40),
      '',
      'zz' + GENESIS_TX.slice(2),
      GENESIS_TX.slice(1),
      null,
      42,
      { hex: GENESIS_TX },
      [GENESIS_TX],
    ];
    for (const raw of bad) assert.notEqual(verifyTransaction(GENESIS_TXID, raw), null, String(raw).slice(0, 20));
  });
});

describe('linkedHeaders: which headers are proven on the verified chain', () => {
  const chain = regtestHeaders(60);
  const hashes = chain.map(displayHash0);
  const fork = regtestHeaders(60, 'another history');
  /** The verified chain knows heights 40..60 (a tracker window), nothing below. */
  const window = (h: number): string | undefined => (h >= 40 && h <= 60 ? hashes[h] : undefined);

  function displayHash0(hex: string): string {
    return displayHash(Buffer.from(hex, 'hex'));
  }

  it('a run inside the window is proven header by header', () => {
    assert.deepEqual(linkedHeaders(45, chain.slice(45, 50), window), [true, true, true, true, true]);
  });

  it('a run below the window is proven by linking down from the lowest known block', () => {
    // The block above the run (40) is known, so its prev-hash proves 39, which proves 38...
    const below = (h: number): string | undefined => window(h) ?? (h === 39 ? Buffer.from(chain[40]!, 'hex').subarray(4, 36).reverse().toString('hex') : undefined);
    assert.deepEqual(linkedHeaders(30, chain.slice(30, 40), below), new Array(10).fill(true));
    assert.equal(linkedHeaders(30, chain.slice(30, 40), below).length, 10);
  });

  it('a run that nothing links to is not proven, however good its proof of work', () => {
    assert.equal(verifyHeaders(REGTEST, 10, fork.slice(10, 20), () => undefined), null, 'the forged run verifies on its own');
    assert.deepEqual(linkedHeaders(10, chain.slice(10, 20), window), new Array(10).fill(false), 'even the genuine run, unlinked');
    assert.deepEqual(linkedHeaders(10, fork.slice(10, 20), window), new Array(10).fill(false));
  });

  it('a forged run ending where the window starts is refused, and so is everything it names below', () => {
    const r = linkedHeaders(30, fork.slice(30, 41), window);
    assert.deepEqual(r, new Array(11).fill(false));
  });

  it('a run straddling the window: proven down to a forged header, nothing below it', () => {
    const mixed = chain.slice(30, 42);
    mixed[5] = fork[35]!; // height 35 forged
    const r = linkedHeaders(30, mixed, window);
    // 40, 41 are the window's; 39..36 link down from them; 35 is not what 36 names, so 34..30 lose their link.
    assert.deepEqual(r, [false, false, false, false, false, false, true, true, true, true, true, true]);
  });

  it('a hole breaks the chain of proof below it; malformed entries prove nothing', () => {
    const holed: (string | undefined)[] = chain.slice(36, 42);
    holed[2] = undefined; // height 38
    const atAbove = (h: number): string | undefined => window(h) ?? (h === 39 ? hashes[39] : undefined);
    assert.deepEqual(linkedHeaders(36, holed, atAbove), [false, false, false, true, true, true]);
    assert.deepEqual(linkedHeaders(40, ['zz', 'ab'], window), [false, false]);
  });
});
