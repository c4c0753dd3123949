// SPDX-License-Identifier: MIT
/**
 * Signature hashes (legacy and BIP143) and ECDSA over secp256k1 for the
 * simulator's own key, plus verification of the standard single-key spends
 * (P2PKH, P2WPKH, P2SH-P2WPKH) so a broadcast with a bad signature is refused.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256, sha256d } from '../../src/protocol/bitcoin/hash.js';
import { serializeOutpoint, serializeOutput, serializeTransaction, withLength, type Transaction } from '../../src/protocol/bitcoin/tx.js';
import { classify, hash160, p2pkhScript, parsePushes, pushData } from './script.js';

export const SIGHASH_ALL = 0x01;
export const SIGHASH_NONE = 0x02;
export const SIGHASH_SINGLE = 0x03;
export const SIGHASH_ANYONECANPAY = 0x80;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n, 0);
  return b;
}

/** The pre-segwit signature hash (SignatureHash with SigVersion::BASE). */
export function legacySighash(tx: Transaction, index: number, scriptCode: Buffer, hashType: number): Buffer {
  const base = hashType & 0x1f;
  const anyone = (hashType & SIGHASH_ANYONECANPAY) !== 0;
  if (base === SIGHASH_SINGLE && index >= tx.outputs.length) {
    // The historical quirk: the "hash" is the number one.
    const one = Buffer.alloc(32);
    one[0] = 1;
    return one;
  }
  let inputs = tx.inputs.map((inp, i) => ({
    ...inp,
    scriptSig: i === index ? scriptCode : Buffer.alloc(0),
    sequence: i !== index && (base === SIGHASH_NONE || base === SIGHASH_SINGLE) ? 0 : inp.sequence,
    witness: [] as Buffer[],
  }));
  if (anyone) inputs = [inputs[index]!];
  let outputs = [...tx.outputs];
  if (base === SIGHASH_NONE) outputs = [];
  else if (base === SIGHASH_SINGLE) {
    outputs = outputs.slice(0, index + 1).map((o, i) => (i < index ? { value: 0xffffffffffffffffn, script: Buffer.alloc(0) } : o));
  }
  const ser = serializeTransaction({ version: tx.version, inputs, outputs, locktime: tx.locktime }, { witness: false });
  return sha256d(Buffer.concat([ser, u32(hashType)]));
}

/** BIP143 signature hash for witness v0 inputs. `scriptCode` without its length prefix. */
export function bip143Sighash(tx: Transaction, index: number, scriptCode: Buffer, amount: bigint, hashType: number): Buffer {
  const base = hashType & 0x1f;
  const anyone = (hashType & SIGHASH_ANYONECANPAY) !== 0;
  const zero: Buffer = Buffer.alloc(32);
  const hashPrevouts = anyone ? zero : sha256d(Buffer.concat(tx.inputs.map((i) => serializeOutpoint(i.prevTxid, i.vout))));
  const hashSequence =
    anyone || base === SIGHASH_SINGLE || base === SIGHASH_NONE ? zero : sha256d(Buffer.concat(tx.inputs.map((i) => u32(i.sequence))));
  let hashOutputs: Buffer = zero;
  if (base !== SIGHASH_SINGLE && base !== SIGHASH_NONE) hashOutputs = sha256d(Buffer.concat(tx.outputs.map(serializeOutput)));
  else if (base === SIGHASH_SINGLE && index < tx.outputs.length) hashOutputs = sha256d(serializeOutput(tx.outputs[index]!));
  const inp = tx.inputs[index]!;
  return sha256d(
    Buffer.concat([
      u32(tx.version),
      hashPrevouts,
      hashSequence,
      serializeOutpoint(inp.prevTxid, inp.vout),
      withLength(scriptCode),
      u64(amount),
      u32(inp.sequence),
      hashOutputs,
      u32(tx.locktime),
      u32(hashType),
    ]),
  );
}

export interface SimKey {
  readonly secret: Uint8Array;
  /** Compressed public key. */
  readonly pubkey: Buffer;
  readonly pubkeyHash: Buffer;
}

const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');

/** A deterministic key from a seed string and a label. */
export function deriveKey(seed: string, label: string): SimKey {
  for (let counter = 0; ; counter++) {
    const d = sha256(Buffer.from(`electrum-gateway-sim|${seed}|${label}|${counter}`, 'utf8'));
    const k = BigInt('0x' + d.toString('hex'));
    if (k === 0n || k >= N) continue;
    const pubkey = Buffer.from(secp256k1.getPublicKey(d, true));
    return { secret: new Uint8Array(d), pubkey, pubkeyHash: hash160(pubkey) };
  }
}

/**
 * DER signature with the hash type byte appended: RFC 6979, low-S, and ground
 * for a low R like Bitcoin Core and Electrum (extra entropy = little-endian
 * counter), so the same key and hash give the same bytes as those wallets.
 */
export function signHash(key: SimKey, hash: Buffer, hashType = SIGHASH_ALL): Buffer {
  for (let counter = 0; ; counter++) {
    const entropy = counter === 0 ? undefined : Buffer.alloc(32);
    if (entropy) entropy.writeUInt32LE(counter, 0);
    const compact = secp256k1.sign(hash, key.secret, { prehash: false, lowS: true, ...(entropy ? { extraEntropy: entropy } : {}) });
    if (compact[0]! >= 0x80) continue;
    const der = secp256k1.Signature.fromBytes(compact, 'compact').toBytes('der');
    return Buffer.concat([Buffer.from(der), Buffer.from([hashType])]);
  }
}

function verifySig(sigWithType: Buffer, pubkey: Buffer, hash: Buffer): boolean {
  if (sigWithType.length < 9) return false;
  const der = sigWithType.subarray(0, -1);
  try {
    return secp256k1.verify(der, hash, pubkey, { prehash: false, format: 'der', lowS: false });
  } catch {
    return false;
  }
}

export type SpendCheck = 'ok' | 'bad-signature' | 'unchecked';

/**
 * Checks input `index` spending `prevScript` worth `amount`: P2PKH, P2WPKH and
 * P2SH-wrapped P2WPKH are verified fully; other script types are accepted
 * unchecked (the simulator has no script interpreter).
 */
export function checkSpend(tx: Transaction, index: number, prevScript: Buffer, amount: bigint): SpendCheck {
  const inp = tx.inputs[index]!;
  const type = classify(prevScript);
  const checkWitnessKeyhash = (program: Buffer): SpendCheck => {
    if (inp.witness.length !== 2) return 'bad-signature';
    const [sig, pub] = inp.witness as [Buffer, Buffer];
    if (!hash160(pub).equals(program)) return 'bad-signature';
    const hash = bip143Sighash(tx, index, p2pkhScript(program), amount, sig[sig.length - 1] ?? 0);
    return verifySig(sig, pub, hash) ? 'ok' : 'bad-signature';
  };
  if (type === 'witness_v0_keyhash') {
    if (inp.scriptSig.length !== 0) return 'bad-signature';
    return checkWitnessKeyhash(prevScript.subarray(2));
  }
  if (type === 'pubkeyhash') {
    const items = parsePushes(inp.scriptSig);
    if (!items || items.length !== 2 || inp.witness.length !== 0) return 'bad-signature';
    const [sig, pub] = items as [Buffer, Buffer];
    if (!hash160(pub).equals(prevScript.subarray(3, 23))) return 'bad-signature';
    const hash = legacySighash(tx, index, prevScript, sig[sig.length - 1] ?? 0);
    return verifySig(sig, pub, hash) ? 'ok' : 'bad-signature';
  }
  if (type === 'scripthash') {
    const items = parsePushes(inp.scriptSig);
    if (!items || items.length !== 1) return inp.witness.length > 0 ? 'bad-signature' : 'unchecked';
    const redeem = items[0]!;
    if (!hash160(redeem).equals(prevScript.subarray(2, 22))) return 'bad-signature';
    if (classify(redeem) === 'witness_v0_keyhash') return checkWitnessKeyhash(redeem.subarray(2));
    return 'unchecked';
  }
  return 'unchecked';
}

/** The scriptSig for a P2PKH spend. */
export function p2pkhScriptSig(sig: Buffer, pubkey: Buffer): Buffer {
  return Buffer.concat([pushData(sig), pushData(pubkey)]);
}
