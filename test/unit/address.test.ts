// SPDX-License-Identifier: MIT
/**
 * Address -> script -> scripthash against test/vectors/addresses.json
 * (Electrum 4.3.4 and Litecoin Core), plus invalid addresses built with the
 * Electrum 4.3.4 library's own bech32/base58 encoders (each must be refused for
 * the reason BIP173/BIP350 give).
 */
import { VECTORS_DIR } from '../helpers/vectors.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NETWORKS, type NetworkName } from '../../src/config/networks.js';
import {
  AddressError,
  addressToScript,
  addressToScripthash,
  decodeAddress,
  isValidAddress,
  scriptToAddress,
  scriptToScripthash,
  type AddressErrorReason,
} from '../../src/protocol/address.js';

const VECTORS = VECTORS_DIR;
interface Vec {
  network: NetworkName;
  kind: string;
  address: string;
  script: string;
  scripthash: string;
}
const file = JSON.parse(readFileSync(join(VECTORS, 'addresses.json'), 'utf8')) as {
  vectors: Vec[];
  invalid: Array<{ network: NetworkName; address: string; why: string }>;
};

test('every vector: address -> script -> scripthash', () => {
  assert.ok(file.vectors.length >= 20);
  for (const v of file.vectors) {
    const net = NETWORKS[v.network];
    const d = decodeAddress(v.address, net);
    assert.equal(d.script.toString('hex'), v.script, `${v.network} ${v.address}`);
    assert.equal(d.kind, v.kind, `${v.network} ${v.address}`);
    assert.equal(addressToScript(v.address, net).toString('hex'), v.script);
    assert.equal(addressToScripthash(v.address, net), v.scripthash, `${v.network} ${v.address}`);
    assert.equal(scriptToScripthash(Buffer.from(v.script, 'hex')), v.scripthash);
  }
});

test('every vector: script -> address gives the vector address back (current version bytes)', () => {
  for (const v of file.vectors) {
    const net = NETWORKS[v.network];
    assert.equal(scriptToAddress(Buffer.from(v.script, 'hex'), net), v.address, `${v.network} ${v.kind}`);
  }
});

test('every invalid vector is refused with an AddressError, for the stated reason', () => {
  const reasonFor = (why: string): AddressErrorReason => (/checksum/.test(why) ? 'checksum' : 'network');
  assert.ok(file.invalid.length >= 4);
  for (const inv of file.invalid) {
    const net = NETWORKS[inv.network];
    assert.throws(
      () => addressToScripthash(inv.address, net),
      (e: unknown) => e instanceof AddressError && e.reason === reasonFor(inv.why) && e.message.includes(inv.address),
      `${inv.network} ${inv.address} (${inv.why})`,
    );
    assert.equal(isValidAddress(inv.address, net), false);
  }
});

// Built with electrum.segwit_addr.bech32_encode / electrum.bitcoin.hash160_to_b58_address.
const CRAFTED: Array<{ network: NetworkName; address: string; reason: AddressErrorReason; why: string }> = [
  { network: 'bitcoin', address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kqy3ng7pl', reason: 'witness-program', why: 'v0 with a 21-byte program' },
  { network: 'bitcoin', address: 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd', reason: 'witness-version', why: 'v1 with a bech32 (not bech32m) checksum' },
  { network: 'bitcoin', address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh', reason: 'witness-version', why: 'v0 with a bech32m checksum' },
  { network: 'bitcoin', address: 'bc130xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq7zws8r', reason: 'witness-version', why: 'witness version 17' },
  { network: 'bitcoin', address: 'bc1pqystr2wj', reason: 'witness-program', why: 'v1 with a 1-byte program' },
  {
    network: 'bitcoin',
    address: 'bc1zqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhkrh50',
    reason: 'witness-program',
    why: 'v2 with a 41-byte program',
  },
  { network: 'bitcoin', address: '111111111111111111117K4nzc', reason: 'format', why: 'base58 payload of 20 bytes' },
  { network: 'bitcoin', address: '24kPZCmVgzfkpGdXExy56234MRHrsqQxNWE', reason: 'network', why: 'unknown version byte 0x99' },
  { network: 'bitcoin', address: 'bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', reason: 'case', why: 'mixed case' },
  { network: 'bitcoin', address: '', reason: 'format', why: 'empty' },
  { network: 'bitcoin', address: '0OIl', reason: 'format', why: 'not base58' },
  { network: 'regtest', address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', reason: 'network', why: 'mainnet bech32 on regtest' },
  { network: 'bitcoin', address: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', reason: 'network', why: 'regtest bech32 on mainnet' },
  { network: 'regtest', address: '1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH', reason: 'network', why: 'mainnet base58 on regtest' },
];

test('crafted invalid addresses are refused for the BIP173/BIP350 reason', () => {
  for (const c of CRAFTED) {
    assert.throws(
      () => decodeAddress(c.address, NETWORKS[c.network]),
      (e: unknown) => e instanceof AddressError && e.reason === c.reason,
      `${c.address}: ${c.why}`,
    );
  }
});

test('non-string input is an AddressError, not a crash', () => {
  for (const x of [undefined, null, 42, {}, ['bc1q'], 'x'.repeat(10_000)]) {
    assert.throws(() => addressToScripthash(x, NETWORKS.bitcoin), AddressError);
  }
});

test('upper-case bech32 is valid (BIP173 vector) and gives the same script', () => {
  assert.equal(
    addressToScript('BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4', NETWORKS.bitcoin).toString('hex'),
    '0014751e76e8199196d454941c45d1b3a323f1433bd6',
  );
});

test('future witness versions decode to OP_n <program> (Electrum 4.3.4 address_to_script)', () => {
  const d = decodeAddress('bcrt1zqqqsyqcyq5rqwzqfpg9scrgwpuwq0jdm', NETWORKS.regtest);
  assert.equal(d.kind, 'witness-unknown');
  assert.equal(d.witnessVersion, 2);
  assert.equal(d.script.toString('hex'), '5210000102030405060708090a0b0c0d0e0f');
});

test('litecoin accepts its legacy 3-prefixed P2SH version (0x05) as well as M-addresses', () => {
  const btcP2sh = file.vectors.find((v) => v.network === 'bitcoin' && v.kind === 'p2sh')!;
  assert.equal(addressToScript(btcP2sh.address, NETWORKS.litecoin).toString('hex'), btcP2sh.script);
});

test('scriptToAddress: scripts without an address give null', () => {
  assert.equal(scriptToAddress(Buffer.from('6a0461626364', 'hex'), NETWORKS.bitcoin), null);
  assert.equal(scriptToAddress(Buffer.alloc(0), NETWORKS.bitcoin), null);
  assert.equal(scriptToAddress(Buffer.from('0015' + '00'.repeat(21), 'hex'), NETWORKS.bitcoin), null);
});
