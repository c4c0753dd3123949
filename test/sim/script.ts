// SPDX-License-Identifier: MIT
/**
 * Script helpers for the simulator: building the scripts it pays to, pushing
 * data, classifying output scripts the way bitcoind's verbose
 * getrawtransaction names them, and a small disassembler for its `asm` fields.
 */
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '../../src/protocol/bitcoin/hash.js';

export function hash160(data: Uint8Array): Buffer {
  return Buffer.from(ripemd160(sha256(data)));
}

/** A minimal data push (BIP62 style) for data up to 520 bytes. */
export function pushData(data: Uint8Array): Buffer {
  const n = data.length;
  if (n < 0x4c) return Buffer.concat([Buffer.from([n]), data]);
  if (n <= 0xff) return Buffer.concat([Buffer.from([0x4c, n]), data]);
  const len = Buffer.alloc(2);
  len.writeUInt16LE(n, 0);
  return Buffer.concat([Buffer.from([0x4d]), len, data]);
}

/** CScriptNum serialization of a non-negative integer (little-endian, sign bit padding). */
export function scriptNum(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.push(v & 0xff);
    v = Math.floor(v / 256);
  }
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return Buffer.from(bytes);
}

/** `CScript() << n` as Bitcoin Core writes it: OP_0, OP_1..OP_16, or a minimal number push. */
export function pushInt(n: number): Buffer {
  if (n === 0) return Buffer.from([0x00]);
  if (n >= 1 && n <= 16) return Buffer.from([0x50 + n]);
  return pushData(scriptNum(n));
}

export function p2pkhScript(pubkeyHash: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), pubkeyHash, Buffer.from([0x88, 0xac])]);
}

export function p2wpkhScript(pubkeyHash: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x14]), pubkeyHash]);
}

export type ScriptType =
  | 'pubkeyhash'
  | 'scripthash'
  | 'witness_v0_keyhash'
  | 'witness_v0_scripthash'
  | 'witness_v1_taproot'
  | 'witness_unknown'
  | 'nulldata'
  | 'pubkey'
  | 'nonstandard';

export function classify(script: Buffer): ScriptType {
  const s = script;
  if (s.length === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac) return 'pubkeyhash';
  if (s.length === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87) return 'scripthash';
  if (s.length === 22 && s[0] === 0x00 && s[1] === 0x14) return 'witness_v0_keyhash';
  if (s.length === 34 && s[0] === 0x00 && s[1] === 0x20) return 'witness_v0_scripthash';
  if (s.length === 34 && s[0] === 0x51 && s[1] === 0x20) return 'witness_v1_taproot';
  const op = s[0];
  if (s.length >= 4 && s.length <= 42 && op !== undefined && op >= 0x51 && op <= 0x60 && s[1] === s.length - 2) return 'witness_unknown';
  if (s.length >= 1 && s[0] === 0x6a) return 'nulldata';
  if ((s.length === 35 && s[0] === 33 && s[34] === 0xac) || (s.length === 67 && s[0] === 65 && s[66] === 0xac)) return 'pubkey';
  return 'nonstandard';
}

const OPCODES: Record<number, string> = {
  0x00: '0',
  0x4f: '-1',
  0x61: 'OP_NOP',
  0x63: 'OP_IF',
  0x64: 'OP_NOTIF',
  0x67: 'OP_ELSE',
  0x68: 'OP_ENDIF',
  0x69: 'OP_VERIFY',
  0x6a: 'OP_RETURN',
  0x75: 'OP_DROP',
  0x76: 'OP_DUP',
  0x7c: 'OP_SWAP',
  0x82: 'OP_SIZE',
  0x87: 'OP_EQUAL',
  0x88: 'OP_EQUALVERIFY',
  0xa6: 'OP_RIPEMD160',
  0xa8: 'OP_SHA256',
  0xa9: 'OP_HASH160',
  0xaa: 'OP_HASH256',
  0xac: 'OP_CHECKSIG',
  0xad: 'OP_CHECKSIGVERIFY',
  0xae: 'OP_CHECKMULTISIG',
  0xaf: 'OP_CHECKMULTISIGVERIFY',
  0xb1: 'OP_CHECKLOCKTIMEVERIFY',
  0xb2: 'OP_CHECKSEQUENCEVERIFY',
};

/** bitcoind-style asm (pushes as hex, small numbers as digits); "[error]" when a push runs past the end. */
export function disassemble(script: Buffer): string {
  const out: string[] = [];
  let i = 0;
  while (i < script.length) {
    const op = script[i++]!;
    if (op >= 0x01 && op <= 0x4e) {
      let len = op;
      if (op === 0x4c) len = script[i++] ?? -1;
      else if (op === 0x4d) {
        len = i + 2 <= script.length ? script.readUInt16LE(i) : -1;
        i += 2;
      } else if (op === 0x4e) {
        len = i + 4 <= script.length ? script.readUInt32LE(i) : -1;
        i += 4;
      }
      if (len < 0 || i + len > script.length) {
        out.push('[error]');
        break;
      }
      out.push(script.subarray(i, i + len).toString('hex'));
      i += len;
    } else if (op >= 0x51 && op <= 0x60) {
      out.push(String(op - 0x50));
    } else {
      out.push(OPCODES[op] ?? `OP_UNKNOWN_0x${op.toString(16)}`);
    }
  }
  return out.join(' ');
}

/** Splits a script made only of data pushes into its items; null if it holds anything else. */
export function parsePushes(script: Buffer): Buffer[] | null {
  const items: Buffer[] = [];
  let i = 0;
  while (i < script.length) {
    const op = script[i++]!;
    let len: number;
    if (op === 0x00) {
      items.push(Buffer.alloc(0));
      continue;
    } else if (op < 0x4c) len = op;
    else if (op === 0x4c) len = script[i++] ?? -1;
    else if (op === 0x4d) {
      len = i + 2 <= script.length ? script.readUInt16LE(i) : -1;
      i += 2;
    } else return null;
    if (len < 0 || i + len > script.length) return null;
    items.push(Buffer.from(script.subarray(i, i + len)));
    i += len;
  }
  return items;
}
