// SPDX-License-Identifier: MIT
/**
 * The simulator's signature hashes and signer against a transaction signed by
 * the Electrum 4.3.4 library (libsecp256k1, RFC 6979, low-R grinding): with the
 * same key the simulator must produce byte-identical signatures, for a BIP143
 * (P2WPKH) input and a legacy (P2PKH) input, and must accept Electrum's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { parseTransaction, serializeTransaction, type Transaction } from '../../src/protocol/bitcoin/tx.js';
import { hash160, p2pkhScript, p2wpkhScript } from './script.js';
import { bip143Sighash, checkSpend, legacySighash, p2pkhScriptSig, signHash, type SimKey } from './sign.js';

// PartialTransaction.from_io(inputs, outputs, locktime=101, version=2).sign({pub: (0x11*32, True)})
// inputs: aa..aa:1 P2WPKH 150000 sat, bb..bb:0 P2PKH 70000 sat, both of key 0x11*32.
const ELECTRUM_SIGNED =
  '02000000000102aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0100000000fdffffffbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb000000006a47304402205645e81a2f160a1057cc90263674f692c68968d56d204c208fb596ea474a68a602205d509f17a4f1d79006dd6f7b756c53db1a6229df4b44b940b71a148ed5e7b7620121034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aafdffffff02384a0000000000001976a914fc7250a211deddc70ee5a2738de5f07817351cef88ac400d03000000000016001422222222222222222222222222222222222222220247304402207f79f9ea9e105ea19b28b2da1084666cb4b34102a9bd277ad4f45181dcb933f4022052b053d2ea8dc9dc29e0e7fbf674e0040387a3cbb6aaf83784b0226a27fb731b0121034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa0065000000';
const ELECTRUM_PUBKEY = '034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa';

function key(): SimKey {
  const secret = new Uint8Array(32).fill(0x11);
  const pubkey = Buffer.from(secp256k1.getPublicKey(secret, true));
  return { secret, pubkey, pubkeyHash: hash160(pubkey) };
}

test('public key of 0x11..11 matches Electrum', () => {
  assert.equal(key().pubkey.toString('hex'), ELECTRUM_PUBKEY);
});

test('the simulator re-signs Electrum\'s transaction byte for byte', () => {
  const k = key();
  const signed = parseTransaction(ELECTRUM_SIGNED);
  const unsigned: Transaction = {
    ...signed,
    inputs: signed.inputs.map((i) => ({ ...i, scriptSig: Buffer.alloc(0), witness: [] })),
  };
  const sig0 = signHash(k, bip143Sighash(unsigned, 0, p2pkhScript(k.pubkeyHash), 150000n, 0x01));
  const sig1 = signHash(k, legacySighash(unsigned, 1, p2pkhScript(k.pubkeyHash), 0x01));
  const resigned: Transaction = {
    ...unsigned,
    inputs: [
      { ...unsigned.inputs[0]!, witness: [sig0, k.pubkey] },
      { ...unsigned.inputs[1]!, scriptSig: p2pkhScriptSig(sig1, k.pubkey) },
    ],
  };
  assert.equal(serializeTransaction(resigned).toString('hex'), ELECTRUM_SIGNED);
});

test('checkSpend accepts Electrum\'s signatures and refuses tampering', () => {
  const k = key();
  const tx = parseTransaction(ELECTRUM_SIGNED);
  assert.equal(checkSpend(tx, 0, p2wpkhScript(k.pubkeyHash), 150000n), 'ok');
  assert.equal(checkSpend(tx, 1, p2pkhScript(k.pubkeyHash), 70000n), 'ok');
  // BIP143 commits to the amount; legacy does not.
  assert.equal(checkSpend(tx, 0, p2wpkhScript(k.pubkeyHash), 150001n), 'bad-signature');
  assert.equal(checkSpend(tx, 1, p2pkhScript(k.pubkeyHash), 70001n), 'ok');
  // Another key's script.
  const other = Buffer.alloc(20, 0x33);
  assert.equal(checkSpend(tx, 0, p2wpkhScript(other), 150000n), 'bad-signature');
  assert.equal(checkSpend(tx, 1, p2pkhScript(other), 70000n), 'bad-signature');
  // A changed output breaks both SIGHASH_ALL signatures.
  const changed: Transaction = { ...tx, outputs: tx.outputs.map((o, i) => (i === 1 ? { ...o, value: o.value - 1n } : o)) };
  assert.equal(checkSpend(changed, 0, p2wpkhScript(k.pubkeyHash), 150000n), 'bad-signature');
  assert.equal(checkSpend(changed, 1, p2pkhScript(k.pubkeyHash), 70000n), 'bad-signature');
  // Scripts the simulator cannot interpret are let through.
  assert.equal(checkSpend(tx, 0, Buffer.from('5120' + '44'.repeat(32), 'hex'), 150000n), 'unchecked');
});
