// SPDX-License-Identifier: MIT
/**
 * Bitcoin-style 80-byte block headers: (de)serialization, block hash, compact
 * "bits" <-> target, and the proof-of-work check. Hashes are exchanged as
 * display hex (byte-reversed), as Electrum servers and block explorers show them.
 *
 * Layout (all integers little-endian):
 *   0  version      u32 (int32 in Bitcoin Core; kept unsigned here)
 *   4  prevHash     32 bytes, internal order
 *  36  merkleRoot   32 bytes, internal order
 *  68  time         u32
 *  72  bits         u32 compact target
 *  76  nonce        u32
 */
import type { Network, PowHash } from '../../config/networks.js';
import { fromDisplayHex, scryptPow, sha256d, toDisplayHex } from './hash.js';

export const HEADER_SIZE = 80;

export interface BlockHeader {
  readonly version: number;
  /** Display hex of the previous block's hash. */
  readonly prevHash: string;
  /** Display hex of the merkle root. */
  readonly merkleRoot: string;
  readonly time: number;
  readonly bits: number;
  readonly nonce: number;
}

export class HeaderError extends Error {
  override readonly name = 'HeaderError';
}

function toBytes(raw: Uint8Array | string): Buffer {
  if (typeof raw === 'string') {
    if (raw.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(raw)) throw new HeaderError('header is not hex');
    return Buffer.from(raw, 'hex');
  }
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

function headerBytes(raw: Uint8Array | string): Buffer {
  const b = toBytes(raw);
  if (b.length !== HEADER_SIZE) throw new HeaderError(`a header is ${HEADER_SIZE} bytes, got ${b.length}`);
  return b;
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) throw new HeaderError(`${name} is not a 32-bit integer: ${v}`);
  return v >>> 0;
}

function hash32(name: string, hex: string): Buffer {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) throw new HeaderError(`${name} is not 32 bytes of hex`);
  return fromDisplayHex(hex);
}

export function serializeHeader(h: BlockHeader): Buffer {
  const out = Buffer.alloc(HEADER_SIZE);
  out.writeUInt32LE(u32('version', h.version), 0);
  hash32('prevHash', h.prevHash).copy(out, 4);
  hash32('merkleRoot', h.merkleRoot).copy(out, 36);
  out.writeUInt32LE(u32('time', h.time), 68);
  out.writeUInt32LE(u32('bits', h.bits), 72);
  out.writeUInt32LE(u32('nonce', h.nonce), 76);
  return out;
}

export function parseHeader(raw: Uint8Array | string): BlockHeader {
  const b = headerBytes(raw);
  return {
    version: b.readUInt32LE(0),
    prevHash: toDisplayHex(b.subarray(4, 36)),
    merkleRoot: toDisplayHex(b.subarray(36, 68)),
    time: b.readUInt32LE(68),
    bits: b.readUInt32LE(72),
    nonce: b.readUInt32LE(76),
  };
}

/** The block hash (sha256d of the 80 bytes) as display hex. This is the chain link, on every network. */
export function blockHash(raw: Uint8Array | string): string {
  return toDisplayHex(sha256d(headerBytes(raw)));
}

/** The hash compared with the target: sha256d on bitcoin networks, scrypt on litecoin ones. Display hex. */
export function powHashHex(raw: Uint8Array | string, kind: PowHash): string {
  const b = headerBytes(raw);
  return toDisplayHex(kind === 'scrypt' ? scryptPow(b) : sha256d(b));
}

export interface DecodedBits {
  readonly target: bigint;
  /** The sign bit (0x00800000) was set with a non-zero mantissa. */
  readonly negative: boolean;
  /** The target does not fit in 256 bits. */
  readonly overflow: boolean;
}

/** Bitcoin Core's arith_uint256::SetCompact, reporting the negative and overflow cases instead of hiding them. */
export function decodeBits(bits: number): DecodedBits {
  const b = u32('bits', bits);
  const size = b >>> 24;
  let word = b & 0x007fffff;
  let target: bigint;
  if (size <= 3) {
    word >>>= 8 * (3 - size);
    target = BigInt(word);
  } else {
    target = BigInt(word) << BigInt(8 * (size - 3));
  }
  const negative = word !== 0 && (b & 0x00800000) !== 0;
  const overflow = word !== 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
  return { target, negative, overflow };
}

/** The target encoded by compact `bits`; throws on a negative or overflowing encoding. */
export function bitsToTarget(bits: number): bigint {
  const d = decodeBits(bits);
  if (d.negative) throw new HeaderError(`bits 0x${(bits >>> 0).toString(16)} encode a negative target`);
  if (d.overflow) throw new HeaderError(`bits 0x${(bits >>> 0).toString(16)} overflow 256 bits`);
  return d.target;
}

/** Bitcoin Core's arith_uint256::GetCompact for a non-negative target. */
export function targetToBits(target: bigint): number {
  if (target < 0n) throw new HeaderError('target must be non-negative');
  if (target >= 1n << 256n) throw new HeaderError('target must fit in 256 bits');
  let size = 0;
  for (let t = target; t > 0n; t >>= 8n) size++;
  let compact: number;
  if (size <= 3) {
    compact = Number(target << BigInt(8 * (3 - size)));
  } else {
    compact = Number(target >> BigInt(8 * (size - 3)));
  }
  // The mantissa's top bit is the sign bit: move one byte into the exponent instead.
  if (compact & 0x00800000) {
    compact >>>= 8;
    size++;
  }
  return ((size << 24) | compact) >>> 0;
}

/** The hash of a header as an integer, for comparison with a target. */
function hashToBigInt(displayHex: string): bigint {
  return BigInt('0x' + displayHex);
}

export interface PowCheck {
  readonly ok: boolean;
  /** Why it failed, for logs; absent when ok. */
  readonly reason?: string;
  readonly powHash: string;
  readonly target: bigint;
}

/**
 * Bitcoin Core's CheckProofOfWork for one header: the compact target must be
 * valid, positive and no easier than the network's limit, and the proof-of-work
 * hash (per `network.powHash`) must not exceed it. It does not check that `bits`
 * is the value the retarget rules expect at this height.
 */
export function checkProofOfWork(raw: Uint8Array | string, network: Pick<Network, 'powHash' | 'retarget'>): PowCheck {
  const b = headerBytes(raw);
  const bits = b.readUInt32LE(72);
  const pow = powHashHex(b, network.powHash);
  const d = decodeBits(bits);
  const limit = bitsToTarget(network.retarget.powLimitBits);
  const fail = (reason: string): PowCheck => ({ ok: false, reason, powHash: pow, target: d.target });
  if (d.negative) return fail('negative target');
  if (d.overflow) return fail('target overflow');
  if (d.target === 0n) return fail('zero target');
  if (d.target > limit) return fail('target easier than the network limit');
  if (hashToBigInt(pow) > d.target) return fail('hash above target');
  return { ok: true, powHash: pow, target: d.target };
}

/** Convenience: true when the header's proof of work is valid for the network. */
export function meetsProofOfWork(raw: Uint8Array | string, network: Pick<Network, 'powHash' | 'retarget'>): boolean {
  return checkProofOfWork(raw, network).ok;
}

/** Work represented by a target, as Bitcoin Core's GetBlockProof: 2^256 / (target + 1). */
export function workForBits(bits: number): bigint {
  const target = bitsToTarget(bits);
  return (1n << 256n) / (target + 1n);
}
