// SPDX-License-Identifier: MIT
/**
 * Address <-> output script <-> Electrum scripthash, per network.
 *
 *  - Base58Check P2PKH / P2SH with the network's version bytes;
 *  - segwit: bech32 for witness v0 (20- or 32-byte program), bech32m for
 *    v1..v16 (2..40-byte program), BIP173/BIP350, with the network's HRP.
 *
 * Anything else throws an AddressError whose `reason` says what was wrong and
 * whose message is safe to show a user. Scripthash = sha256(script), byte-reversed, hex.
 */
import { bech32, bech32m } from 'bech32';
import bs58check from 'bs58check';
import type { Network } from '../config/networks.js';
import { sha256 } from './bitcoin/hash.js';

export type AddressErrorReason =
  | 'format' // not an address at all (type, length, characters)
  | 'checksum' // Base58Check or bech32/bech32m checksum mismatch
  | 'network' // well-formed, but for another network (version byte or HRP)
  | 'case' // bech32 with mixed upper and lower case
  | 'witness-version' // segwit version > 16, or bech32 used for v1+ / bech32m for v0
  | 'witness-program'; // segwit program length not allowed for its version

export class AddressError extends Error {
  override readonly name = 'AddressError';
  constructor(
    readonly reason: AddressErrorReason,
    message: string,
    readonly address: unknown,
  ) {
    super(message);
  }
}

export type AddressKind = 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr' | 'witness-unknown';

export interface DecodedAddress {
  readonly kind: AddressKind;
  readonly script: Buffer;
  /** Witness version for segwit addresses, null for Base58 ones. */
  readonly witnessVersion: number | null;
  /** The hash (P2PKH/P2SH) or witness program. */
  readonly program: Buffer;
}

const BECH32_CHARS = /^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$/;
const BECH32_MAX_LENGTH = 90;

function show(address: string): string {
  return address.length > 100 ? `${address.slice(0, 100)}…` : address;
}

function p2pkhScript(hash: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), hash, Buffer.from([0x88, 0xac])]);
}

function p2shScript(hash: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0xa9, 0x14]), hash, Buffer.from([0x87])]);
}

export function witnessScript(version: number, program: Uint8Array): Buffer {
  if (!Number.isInteger(version) || version < 0 || version > 16) throw new RangeError(`bad witness version ${version}`);
  if (program.length < 2 || program.length > 40) throw new RangeError(`bad witness program length ${program.length}`);
  return Buffer.concat([Buffer.from([version === 0 ? 0x00 : 0x50 + version, program.length]), program]);
}

function segwitKind(version: number, len: number): AddressKind {
  if (version === 0) return len === 20 ? 'p2wpkh' : 'p2wsh';
  if (version === 1 && len === 32) return 'p2tr';
  return 'witness-unknown';
}

function looksBech32(lower: string): { hrp: string; data: string } | null {
  const sep = lower.lastIndexOf('1');
  if (sep < 1) return null;
  const data = lower.slice(sep + 1);
  if (data.length < 6 || !BECH32_CHARS.test(data)) return null;
  return { hrp: lower.slice(0, sep), data };
}

function decodeSegwit(address: string, lower: string, network: Network): DecodedAddress {
  if (address !== lower && address !== address.toUpperCase()) {
    throw new AddressError('case', `invalid address ${show(address)}: bech32 addresses must not mix upper and lower case`, address);
  }
  if (lower.length > BECH32_MAX_LENGTH) {
    throw new AddressError('format', `invalid address ${show(address)}: longer than ${BECH32_MAX_LENGTH} characters`, address);
  }
  const d0 = bech32.decodeUnsafe(lower, BECH32_MAX_LENGTH);
  const d1 = d0 ? undefined : bech32m.decodeUnsafe(lower, BECH32_MAX_LENGTH);
  const decoded = d0 ?? d1;
  if (!decoded) throw new AddressError('checksum', `invalid address ${show(address)}: bad bech32 checksum`, address);
  const hrp = network.address.bech32Hrp;
  if (decoded.prefix !== hrp) {
    throw new AddressError(
      'network',
      `address ${show(address)} is for another network: prefix "${decoded.prefix}", ${network.name} uses "${hrp}"`,
      address,
    );
  }
  const [version, ...rest] = decoded.words;
  if (version === undefined || version > 16) {
    throw new AddressError('witness-version', `invalid address ${show(address)}: bad witness version`, address);
  }
  if (version === 0 && !d0) {
    throw new AddressError('witness-version', `invalid address ${show(address)}: witness v0 must use bech32, not bech32m`, address);
  }
  if (version !== 0 && d0) {
    throw new AddressError('witness-version', `invalid address ${show(address)}: witness v${version} must use bech32m, not bech32`, address);
  }
  const program = bech32.fromWordsUnsafe(rest);
  if (!program) throw new AddressError('format', `invalid address ${show(address)}: bad padding in witness program`, address);
  const len = program.length;
  if (len < 2 || len > 40 || (version === 0 && len !== 20 && len !== 32)) {
    throw new AddressError(
      'witness-program',
      `invalid address ${show(address)}: a witness v${version} program cannot be ${len} bytes`,
      address,
    );
  }
  const prog = Buffer.from(program);
  return { kind: segwitKind(version, len), script: witnessScript(version, prog), witnessVersion: version, program: prog };
}

function decodeBase58(address: string, network: Network): DecodedAddress {
  let payload: Uint8Array;
  try {
    payload = bs58check.decode(address);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const reason = /checksum/i.test(msg) ? 'checksum' : 'format';
    throw new AddressError(
      reason,
      reason === 'checksum' ? `invalid address ${show(address)}: bad base58 checksum` : `invalid address ${show(address)}: not a valid base58 or bech32 address`,
      address,
    );
  }
  if (payload.length !== 21) {
    throw new AddressError('format', `invalid address ${show(address)}: base58 payload is ${payload.length} bytes, expected 21`, address);
  }
  const version = payload[0]!;
  const hash = Buffer.from(payload.subarray(1));
  if (version === network.address.p2pkh) return { kind: 'p2pkh', script: p2pkhScript(hash), witnessVersion: null, program: hash };
  if (network.address.p2sh.includes(version)) return { kind: 'p2sh', script: p2shScript(hash), witnessVersion: null, program: hash };
  throw new AddressError(
    'network',
    `address ${show(address)} is for another network: version byte 0x${version.toString(16).padStart(2, '0')} is not a ${network.name} address`,
    address,
  );
}

/** Decodes an address for `network`; throws AddressError for anything that is not a valid address of that network. */
export function decodeAddress(address: unknown, network: Network): DecodedAddress {
  if (typeof address !== 'string') throw new AddressError('format', 'an address must be a string', address);
  if (address.length === 0 || address.length > 200) {
    throw new AddressError('format', `invalid address ${show(address)}: bad length`, address);
  }
  const lower = address.toLowerCase();
  const hrp = network.address.bech32Hrp;
  if (lower.startsWith(hrp + '1')) return decodeSegwit(address, lower, network);
  const parts = looksBech32(lower);
  if (parts) {
    // Another network's segwit address (or a typo): report the network when its checksum is valid.
    const d = bech32.decodeUnsafe(lower, BECH32_MAX_LENGTH) ?? bech32m.decodeUnsafe(lower, BECH32_MAX_LENGTH);
    if (d) {
      throw new AddressError(
        'network',
        `address ${show(address)} is for another network: prefix "${d.prefix}", ${network.name} uses "${hrp}"`,
        address,
      );
    }
  }
  return decodeBase58(address, network);
}

export function addressToScript(address: unknown, network: Network): Buffer {
  return decodeAddress(address, network).script;
}

/** Electrum scripthash of an output script: sha256(script), reversed, hex. */
export function scriptToScripthash(script: Uint8Array): string {
  return Buffer.from(sha256(script)).reverse().toString('hex');
}

export function addressToScripthash(address: unknown, network: Network): string {
  return scriptToScripthash(addressToScript(address, network));
}

/** True when `address` is a valid address of `network`. */
export function isValidAddress(address: unknown, network: Network): boolean {
  try {
    decodeAddress(address, network);
    return true;
  } catch (e) {
    if (e instanceof AddressError) return false;
    throw e;
  }
}

/** The address an output script pays to on `network`, or null for scripts without one (OP_RETURN, bare multisig, ...). */
export function scriptToAddress(script: Uint8Array, network: Network): string | null {
  const s = Buffer.from(script);
  if (s.length === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac) {
    return bs58check.encode(Buffer.concat([Buffer.from([network.address.p2pkh]), s.subarray(3, 23)]));
  }
  if (s.length === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87) {
    return bs58check.encode(Buffer.concat([Buffer.from([network.address.p2sh[0]!]), s.subarray(2, 22)]));
  }
  const op = s[0];
  if (s.length >= 4 && s.length <= 42 && op !== undefined && (op === 0x00 || (op >= 0x51 && op <= 0x60)) && s[1] === s.length - 2) {
    const version = op === 0 ? 0 : op - 0x50;
    const program = s.subarray(2);
    if (version === 0 && program.length !== 20 && program.length !== 32) return null;
    const words = [version, ...bech32.toWords(program)];
    return version === 0 ? bech32.encode(network.address.bech32Hrp, words) : bech32m.encode(network.address.bech32Hrp, words);
  }
  return null;
}
