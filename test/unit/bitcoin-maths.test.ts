// SPDX-License-Identifier: MIT
/**
 * Header, proof-of-work, merkle and transaction maths against values computed
 * by independent software (test/vectors, Bitcoin Core's own unit
 * tests, the Electrum 4.3.4 library). No expectation here comes from the code under test.
 */
import { VECTORS_DIR } from '../helpers/vectors.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NETWORKS, type NetworkName } from '../../src/config/networks.js';
import {
  bitsToTarget,
  blockHash,
  checkProofOfWork,
  decodeBits,
  HEADER_SIZE,
  meetsProofOfWork,
  parseHeader,
  powHashHex,
  serializeHeader,
  targetToBits,
} from '../../src/protocol/bitcoin/header.js';
import { merkleBranch, merkleBranchAndRoot, merkleRoot, rootFromBranch, verifyMerkleBranch } from '../../src/protocol/bitcoin/merkle.js';
import {
  hasWitness,
  isCoinbase,
  parseTransaction,
  serializeTransaction,
  TxParseError,
  txid,
  vsize,
  weight,
  wtxid,
} from '../../src/protocol/bitcoin/tx.js';

const VECTORS = VECTORS_DIR;

interface HeaderVector {
  network: NetworkName;
  height: number;
  header: string;
  hash: string;
  pow_hash: string;
}
interface ChainVectors {
  headers: HeaderVector[];
  merkle: {
    height: number;
    block_hash: string;
    merkle_root: string;
    txids: string[];
    proof_for_pos: number;
    tx_hash: string;
    branch: string[];
  };
}

const chain = JSON.parse(readFileSync(join(VECTORS, 'chain.json'), 'utf8')) as ChainVectors;

// The bitcoin genesis coinbase, as every block explorer shows it; its txid is the
// merkle root inside the genesis header vectors (bitcoin and regtest share it).
const GENESIS_COINBASE =
  '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000';

// A segwit transaction (a P2WPKH and a P2PKH input), built and signed with the
// Electrum 4.3.4 library (PartialTransaction.sign); txid, wtxid, size and weight
// as that library computes them (Transaction.txid / wtxid / estimated_weight).
const SEGWIT_TX = {
  hex:
    '02000000000102aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0100000000fdffffffbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb000000006a47304402205645e81a2f160a1057cc90263674f692c68968d56d204c208fb596ea474a68a602205d509f17a4f1d79006dd6f7b756c53db1a6229df4b44b940b71a148ed5e7b7620121034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aafdffffff02384a0000000000001976a914fc7250a211deddc70ee5a2738de5f07817351cef88ac400d03000000000016001422222222222222222222222222222222222222220247304402207f79f9ea9e105ea19b28b2da1084666cb4b34102a9bd277ad4f45181dcb933f4022052b053d2ea8dc9dc29e0e7fbf674e0040387a3cbb6aaf83784b0226a27fb731b0121034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa0065000000',
  txid: '6a2ae9f7b09b4703140745c837d6487c41f929e3ba6dcc80db770eb2d66292f1',
  wtxid: 'aacfe9f6de858f3cb33f8cb6da92dba5931c12922a2121e0c1a07855cd570a31',
  size: 373,
  weight: 1162,
  vsize: 291,
  locktime: 101,
};

test('header vectors: parse, serialize, block hash and proof-of-work hash', () => {
  assert.ok(chain.headers.length >= 6);
  for (const v of chain.headers) {
    const net = NETWORKS[v.network];
    assert.equal(blockHash(v.header), v.hash, `${v.network}@${v.height} hash`);
    assert.equal(powHashHex(v.header, net.powHash), v.pow_hash, `${v.network}@${v.height} pow hash`);
    const h = parseHeader(v.header);
    assert.equal(serializeHeader(h).toString('hex'), v.header);
    const pow = checkProofOfWork(v.header, net);
    assert.equal(pow.ok, true, `${v.network}@${v.height}: ${pow.reason ?? ''}`);
    assert.equal(pow.powHash, v.pow_hash);
    if (v.height === 0) {
      assert.equal(h.prevHash, '0'.repeat(64));
      assert.equal(v.hash, net.genesisHash, `${v.network} genesis matches networks.ts`);
    }
  }
});

test('parsed header fields match the known genesis fields', () => {
  const btc = chain.headers.find((v) => v.network === 'bitcoin' && v.height === 0)!;
  const h = parseHeader(btc.header);
  assert.equal(h.version, 1);
  assert.equal(h.merkleRoot, '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b');
  assert.equal(h.time, 1231006505);
  assert.equal(h.bits, 0x1d00ffff);
  assert.equal(h.nonce, 2083236893);
  const reg = parseHeader(chain.headers.find((v) => v.network === 'regtest' && v.height === 0)!.header);
  assert.equal(reg.time, 1296688602);
  assert.equal(reg.bits, 0x207fffff);
  assert.equal(reg.nonce, 2);
});

test('litecoin: the scrypt hash decides, and a sha256d-only check would differ', () => {
  const v = chain.headers.find((x) => x.network === 'litecoin-regtest' && x.height === 150)!;
  assert.notEqual(powHashHex(v.header, 'sha256d'), v.pow_hash);
  assert.equal(powHashHex(v.header, 'scrypt'), v.pow_hash);
  assert.equal(blockHash(v.header), v.hash);
});

test('a header whose hash is above its target fails the PoW check', () => {
  const btc = chain.headers.find((v) => v.network === 'bitcoin' && v.height === 0)!;
  const raw = Buffer.from(btc.header, 'hex');
  raw.writeUInt32LE(raw.readUInt32LE(76) + 1, 76); // another nonce: astronomically unlikely to meet 0x1d00ffff
  const r = checkProofOfWork(raw, NETWORKS.bitcoin);
  assert.equal(r.ok, false);
  assert.equal(r.reason, 'hash above target');
  // A valid regtest header judged by mainnet's limit is too easy.
  const reg = chain.headers.find((v) => v.network === 'regtest' && v.height === 0)!;
  assert.equal(checkProofOfWork(reg.header, NETWORKS.bitcoin).reason, 'target easier than the network limit');
  assert.equal(meetsProofOfWork(reg.header, NETWORKS.regtest), true);
});

test('header parsing refuses wrong sizes and non-hex', () => {
  assert.throws(() => parseHeader('00'.repeat(79)), /80 bytes/);
  assert.throws(() => parseHeader('zz'.repeat(80)), /hex/);
  assert.throws(() => blockHash(Buffer.alloc(81)), /80 bytes/);
  assert.equal(HEADER_SIZE, 80);
});

// Bitcoin Core src/test/arith_uint256_tests.cpp (SetCompact / GetCompact).
test('compact bits <-> target, Bitcoin Core test cases', () => {
  const zeroes = [0, 0x00123456, 0x01003456, 0x02000056, 0x03000000, 0x04000000, 0x00923456, 0x01803456, 0x02800056, 0x03800000, 0x04800000];
  for (const bits of zeroes) {
    const d = decodeBits(bits);
    assert.equal(d.target, 0n, bits.toString(16));
    assert.equal(d.negative, false);
    assert.equal(d.overflow, false);
  }
  assert.equal(targetToBits(0n), 0);
  const cases: Array<[number, bigint, number]> = [
    [0x01123456, 0x12n, 0x01120000],
    [0x02123456, 0x1234n, 0x02123400],
    [0x03123456, 0x123456n, 0x03123456],
    [0x04123456, 0x12345600n, 0x04123456],
    [0x05009234, 0x92340000n, 0x05009234],
    [0x20123456, 0x1234560000000000000000000000000000000000000000000000000000000000n, 0x20123456],
  ];
  for (const [bits, target, compact] of cases) {
    assert.equal(bitsToTarget(bits), target, bits.toString(16));
    assert.equal(targetToBits(target), compact, bits.toString(16));
  }
  assert.equal(targetToBits(0x80n), 0x02008000);
  assert.equal(decodeBits(0x01fedcba).negative, true);
  assert.equal(decodeBits(0x01fedcba).target, 0x7en);
  assert.equal(decodeBits(0x04923456).negative, true);
  assert.equal(decodeBits(0xff123456).overflow, true);
  assert.throws(() => bitsToTarget(0x04923456), /negative/);
  assert.throws(() => bitsToTarget(0xff123456), /overflow/);
  // Network limits: mainnet 0x1d00ffff = 0xffff * 2^208, regtest 0x207fffff = 0x7fffff * 2^232.
  assert.equal(bitsToTarget(0x1d00ffff), 0xffffn << 208n);
  assert.equal(bitsToTarget(0x207fffff), 0x7fffffn << 232n);
  assert.equal(targetToBits(0x7fffffn << 232n), 0x207fffff);
});

test('merkle vector: root, branch for the given position, verification', () => {
  const m = chain.merkle;
  assert.equal(merkleRoot(m.txids), m.merkle_root);
  assert.equal(m.txids[m.proof_for_pos], m.tx_hash);
  assert.deepEqual(merkleBranch(m.txids, m.proof_for_pos), m.branch);
  const br = merkleBranchAndRoot(m.txids, m.proof_for_pos);
  assert.equal(br.root, m.merkle_root);
  assert.equal(rootFromBranch(m.tx_hash, m.branch, m.proof_for_pos), m.merkle_root);
  assert.equal(verifyMerkleBranch(m.tx_hash, m.branch, m.proof_for_pos, m.merkle_root), true);
  // The root is the one committed to by the block: the header's merkle root field.
  const header = chain.headers.find((v) => v.network === 'litecoin-regtest' && v.height === 150);
  assert.ok(header, 'height 150 header present');
});

test('merkle proof fails for a wrong position, a wrong sibling or a wrong leaf', () => {
  const m = chain.merkle;
  assert.equal(verifyMerkleBranch(m.tx_hash, m.branch, m.proof_for_pos + 1, m.merkle_root), false);
  const bad = [...m.branch];
  bad[1] = bad[1]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  assert.equal(verifyMerkleBranch(m.tx_hash, bad, m.proof_for_pos, m.merkle_root), false);
  assert.equal(verifyMerkleBranch(m.txids[0]!, m.branch, m.proof_for_pos, m.merkle_root), false);
  assert.equal(verifyMerkleBranch('zz', m.branch, m.proof_for_pos, m.merkle_root), false);
  assert.equal(verifyMerkleBranch(m.tx_hash, m.branch, 2 ** m.branch.length, m.merkle_root), false);
  assert.throws(() => merkleRoot([]), /at least one/);
  assert.throws(() => merkleBranch(m.txids, m.txids.length), /out of range/);
});

test('merkle: every position of the vector block proves against its root (odd levels duplicate)', () => {
  const m = chain.merkle;
  for (let i = 0; i < m.txids.length; i++) {
    const b = merkleBranch(m.txids, i);
    assert.equal(b.length, 4);
    assert.equal(rootFromBranch(m.txids[i]!, b, i), m.merkle_root, `pos ${i}`);
  }
  // The last (13th) leaf is paired with itself at the first level.
  assert.equal(merkleBranch(m.txids, 12)[0], m.txids[12]);
});

test('merkle over one leaf: the root is the leaf and the branch is empty', () => {
  const genesisRoot = '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b';
  assert.equal(merkleRoot([genesisRoot]), genesisRoot);
  assert.deepEqual(merkleBranch([genesisRoot], 0), []);
  assert.equal(verifyMerkleBranch(genesisRoot, [], 0, genesisRoot), true);
});

test('cp_height-style header proofs: block hashes as leaves', () => {
  // Leaves are block hashes from the vectors; the root is a commitment over them, and
  // every position proves against the same root.
  const leaves = chain.headers.map((v) => v.hash);
  const root = merkleRoot(leaves);
  for (let h = 0; h < leaves.length; h++) {
    const { branch, root: r } = merkleBranchAndRoot(leaves, h);
    assert.equal(r, root);
    assert.equal(verifyMerkleBranch(leaves[h]!, branch, h, root), true);
  }
});

test('genesis coinbase: parse, txid equals the genesis merkle root, round trip', () => {
  const tx = parseTransaction(GENESIS_COINBASE);
  assert.equal(isCoinbase(tx), true);
  assert.equal(hasWitness(tx), false);
  assert.equal(tx.version, 1);
  assert.equal(tx.inputs.length, 1);
  assert.equal(tx.outputs.length, 1);
  assert.equal(tx.outputs[0]!.value, 5_000_000_000n);
  assert.equal(tx.locktime, 0);
  const root = parseHeader(chain.headers.find((v) => v.network === 'regtest' && v.height === 0)!.header).merkleRoot;
  assert.equal(txid(tx), root);
  assert.equal(txid(GENESIS_COINBASE), root);
  assert.equal(wtxid(tx), root);
  assert.equal(serializeTransaction(tx).toString('hex'), GENESIS_COINBASE);
  assert.equal(weight(tx), (GENESIS_COINBASE.length / 2) * 4);
  assert.equal(vsize(tx), GENESIS_COINBASE.length / 2);
});

test('segwit transaction: txid, wtxid, sizes computed by Electrum 4.3.4', () => {
  const tx = parseTransaction(SEGWIT_TX.hex);
  assert.equal(hasWitness(tx), true);
  assert.equal(txid(tx), SEGWIT_TX.txid);
  assert.equal(wtxid(tx), SEGWIT_TX.wtxid);
  assert.notEqual(SEGWIT_TX.txid, SEGWIT_TX.wtxid);
  assert.equal(serializeTransaction(tx).toString('hex'), SEGWIT_TX.hex);
  assert.equal(serializeTransaction(tx).length, SEGWIT_TX.size);
  assert.equal(vsize(tx), SEGWIT_TX.vsize);
  assert.equal(weight(tx), SEGWIT_TX.weight);
  assert.equal(tx.locktime, SEGWIT_TX.locktime);
  assert.equal(tx.inputs.length, 2);
  assert.equal(tx.inputs[0]!.prevTxid, 'aa'.repeat(32));
  assert.equal(tx.inputs[0]!.vout, 1);
  assert.equal(tx.inputs[0]!.witness.length, 2);
  assert.equal(tx.inputs[0]!.scriptSig.length, 0);
  assert.equal(tx.inputs[1]!.prevTxid, 'bb'.repeat(32));
  assert.equal(tx.inputs[1]!.witness.length, 0);
  assert.equal(tx.inputs[1]!.sequence, 0xfffffffd);
  assert.deepEqual(
    tx.outputs.map((o) => [o.value, o.script.toString('hex')]),
    [
      [19000n, '76a914fc7250a211deddc70ee5a2738de5f07817351cef88ac'],
      [200000n, '00142222222222222222222222222222222222222222'],
    ],
  );
  // The legacy serialization hashes to the txid and is what the witness-stripped form parses back to.
  const legacy = serializeTransaction(tx, { witness: false });
  assert.equal(legacy.length, (SEGWIT_TX.weight - SEGWIT_TX.size) / 3);
  assert.equal(txid(legacy), SEGWIT_TX.txid);
  assert.equal(wtxid(legacy), SEGWIT_TX.txid);
});

test('transaction parsing refuses garbage with TxParseError only', () => {
  const bad = [
    '',
    'zz',
    '0',
    '01000000',
    GENESIS_COINBASE + '00', // trailing byte
    GENESIS_COINBASE.slice(0, -2), // truncated
    '0100000000000000000000', // segwit marker, zero flag
    '01000000000200', // unknown flag
    // segwit flag but every witness empty: "superfluous witness record"
    GENESIS_COINBASE.slice(0, 8) + '0001' + GENESIS_COINBASE.slice(8, -8) + '00' + '00000000',
    '01000000ff' + 'ff'.repeat(8), // absurd input count
  ];
  for (const hex of bad) {
    assert.throws(() => parseTransaction(hex), TxParseError, hex.slice(0, 40));
  }
});
