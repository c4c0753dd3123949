// SPDX-License-Identifier: MIT
import { createHash, scryptSync } from 'node:crypto';

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256d(data: Uint8Array): Buffer {
  return sha256(sha256(data));
}

/** Litecoin's proof-of-work hash: scrypt(N=1024, r=1, p=1) with the header as both password and salt. */
export function scryptPow(header: Uint8Array): Buffer {
  return scryptSync(header, header, 32, { N: 1024, r: 1, p: 1 });
}

/** Bitcoin shows hashes byte-reversed; this converts between internal bytes and display hex. */
export function toDisplayHex(internal: Uint8Array): string {
  return Buffer.from(internal).reverse().toString('hex');
}

export function fromDisplayHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex').reverse();
}

/** True when `s` is exactly `bytes` bytes of lowercase-or-uppercase hex. */
export function isHexOfLength(s: unknown, bytes: number): s is string {
  return typeof s === 'string' && s.length === bytes * 2 && /^[0-9a-fA-F]*$/.test(s);
}
