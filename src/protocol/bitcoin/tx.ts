// SPDX-License-Identifier: MIT
/**
 * Bitcoin transactions: parse (legacy and BIP144 segwit serialization),
 * serialize, txid (hash of the serialization without witness) and wtxid.
 * Parsing is strict like Bitcoin Core's decoder: truncated data, trailing
 * bytes, an unknown segwit flag or a superfluous (all-empty) witness throw a
 * TxParseError, never anything else.
 */
import { fromDisplayHex, sha256d, toDisplayHex } from './hash.js';

export interface TxInput {
  /** Display hex of the spent transaction's id. */
  readonly prevTxid: string;
  readonly vout: number;
  readonly scriptSig: Buffer;
  readonly sequence: number;
  /** Witness stack items; empty when the input has no witness. */
  readonly witness: readonly Buffer[];
}

export interface TxOutput {
  /** Satoshis. */
  readonly value: bigint;
  readonly script: Buffer;
}

export interface Transaction {
  readonly version: number;
  readonly inputs: readonly TxInput[];
  readonly outputs: readonly TxOutput[];
  readonly locktime: number;
}

export class TxParseError extends Error {
  override readonly name = 'TxParseError';
}

/** Transactions larger than this cannot be valid (the block weight limit / witness scale factor). */
const MAX_TX_BYTES = 4_000_000;

class Reader {
  private pos = 0;
  constructor(private readonly b: Buffer) {}
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.b.length - this.pos;
  }
  private need(n: number, what: string): void {
    if (n > this.remaining) throw new TxParseError(`truncated transaction reading ${what}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.pos++]!;
  }
  peek(at = 0): number | undefined {
    return this.b[this.pos + at];
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.b.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.b.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = Buffer.from(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return v;
  }
  varint(what: string): number {
    const first = this.u8(what);
    let v: number;
    if (first < 0xfd) return first;
    if (first === 0xfd) {
      this.need(2, what);
      v = this.b.readUInt16LE(this.pos);
      this.pos += 2;
      if (v < 0xfd) throw new TxParseError(`non-canonical compact size in ${what}`);
    } else if (first === 0xfe) {
      v = this.u32(what);
      if (v < 0x10000) throw new TxParseError(`non-canonical compact size in ${what}`);
    } else {
      const big = this.u64(what);
      if (big < 0x100000000n) throw new TxParseError(`non-canonical compact size in ${what}`);
      throw new TxParseError(`compact size too large in ${what}`);
    }
    if (v > MAX_TX_BYTES) throw new TxParseError(`compact size too large in ${what}`);
    return v;
  }
  /** A count of items each at least `minItemBytes` long: refuse counts the remaining data cannot hold. */
  count(what: string, minItemBytes: number): number {
    const n = this.varint(what);
    if (n * minItemBytes > this.remaining) throw new TxParseError(`truncated transaction: ${n} ${what} cannot fit`);
    return n;
  }
}

function toBytes(raw: Uint8Array | string): Buffer {
  if (typeof raw === 'string') {
    if (raw.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(raw)) throw new TxParseError('transaction is not hex');
    return Buffer.from(raw, 'hex');
  }
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

export function parseTransaction(raw: Uint8Array | string): Transaction {
  const b = toBytes(raw);
  if (b.length > MAX_TX_BYTES) throw new TxParseError('transaction too large');
  const r = new Reader(b);
  const version = r.u32('version');
  let segwit = false;
  if (r.peek() === 0x00) {
    // BIP144 marker; the flag byte must follow and be non-zero.
    r.u8('marker');
    const flag = r.u8('flag');
    if (flag === 0) throw new TxParseError('segwit marker with a zero flag');
    if (flag !== 1) throw new TxParseError(`unknown segwit flag ${flag}`);
    segwit = true;
  }
  const nIn = r.count('inputs', 41);
  const ins: { prevTxid: string; vout: number; scriptSig: Buffer; sequence: number }[] = [];
  for (let i = 0; i < nIn; i++) {
    const prev = r.bytes(32, `input ${i} prevout`);
    const vout = r.u32(`input ${i} prevout index`);
    const len = r.varint(`input ${i} script length`);
    const scriptSig = r.bytes(len, `input ${i} script`);
    const sequence = r.u32(`input ${i} sequence`);
    ins.push({ prevTxid: toDisplayHex(prev), vout, scriptSig, sequence });
  }
  const nOut = r.count('outputs', 9);
  const outputs: TxOutput[] = [];
  for (let i = 0; i < nOut; i++) {
    const value = r.u64(`output ${i} value`);
    const len = r.varint(`output ${i} script length`);
    outputs.push({ value, script: r.bytes(len, `output ${i} script`) });
  }
  const witnesses: Buffer[][] = ins.map(() => []);
  if (segwit) {
    if (nIn === 0) throw new TxParseError('segwit transaction without inputs');
    let any = false;
    for (let i = 0; i < nIn; i++) {
      const items = r.count(`input ${i} witness items`, 1);
      for (let k = 0; k < items; k++) {
        const len = r.varint(`input ${i} witness item ${k} length`);
        witnesses[i]!.push(r.bytes(len, `input ${i} witness item ${k}`));
      }
      if (items > 0) any = true;
    }
    if (!any) throw new TxParseError('superfluous witness record');
  }
  const locktime = r.u32('locktime');
  if (r.remaining !== 0) throw new TxParseError(`${r.remaining} trailing bytes after the transaction`);
  return {
    version,
    inputs: ins.map((x, i) => ({ ...x, witness: witnesses[i]! })),
    outputs,
    locktime,
  };
}

export function hasWitness(tx: Transaction): boolean {
  return tx.inputs.some((i) => i.witness.length > 0);
}

export function isCoinbase(tx: Transaction): boolean {
  return tx.inputs.length === 1 && tx.inputs[0]!.vout === 0xffffffff && /^0{64}$/.test(tx.inputs[0]!.prevTxid);
}

export function encodeVarint(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`bad compact size ${n}`);
  if (n < 0xfd) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfd;
    b.writeUInt16LE(n, 1);
    return b;
  }
  if (n <= 0xffffffff) {
    const b = Buffer.alloc(5);
    b[0] = 0xfe;
    b.writeUInt32LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0xff;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function u64le(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n), 0);
  return b;
}

export function withLength(data: Uint8Array): Buffer {
  return Buffer.concat([encodeVarint(data.length), data]);
}

/** Serializes the outpoint (internal-order txid + index). */
export function serializeOutpoint(prevTxid: string, vout: number): Buffer {
  return Buffer.concat([fromDisplayHex(prevTxid), u32le(vout)]);
}

export function serializeOutput(o: TxOutput): Buffer {
  return Buffer.concat([u64le(o.value), withLength(o.script)]);
}

/**
 * The wire form. With `witness` (default true) a transaction that has any
 * witness data uses the BIP144 form; otherwise the legacy form (what txid hashes).
 */
export function serializeTransaction(tx: Transaction, opts: { witness?: boolean } = {}): Buffer {
  const segwit = (opts.witness ?? true) && hasWitness(tx);
  const parts: Buffer[] = [u32le(tx.version)];
  if (segwit) parts.push(Buffer.from([0x00, 0x01]));
  parts.push(encodeVarint(tx.inputs.length));
  for (const i of tx.inputs) {
    parts.push(serializeOutpoint(i.prevTxid, i.vout), withLength(i.scriptSig), u32le(i.sequence));
  }
  parts.push(encodeVarint(tx.outputs.length));
  for (const o of tx.outputs) parts.push(serializeOutput(o));
  if (segwit) {
    for (const i of tx.inputs) {
      parts.push(encodeVarint(i.witness.length));
      for (const w of i.witness) parts.push(withLength(w));
    }
  }
  parts.push(u32le(tx.locktime));
  return Buffer.concat(parts);
}

/** Display hex of sha256d over the serialization without witness. */
export function txid(tx: Transaction | Uint8Array | string): string {
  const t = typeof tx === 'string' || tx instanceof Uint8Array ? parseTransaction(tx) : tx;
  return toDisplayHex(sha256d(serializeTransaction(t, { witness: false })));
}

/** Display hex of sha256d over the full serialization (equals the txid when there is no witness). */
export function wtxid(tx: Transaction | Uint8Array | string): string {
  const t = typeof tx === 'string' || tx instanceof Uint8Array ? parseTransaction(tx) : tx;
  return toDisplayHex(sha256d(serializeTransaction(t, { witness: true })));
}

/** BIP141 weight: base size * 3 + total size. */
export function weight(tx: Transaction): number {
  return serializeTransaction(tx, { witness: false }).length * 3 + serializeTransaction(tx).length;
}

/** BIP141 virtual size: weight / 4 rounded up. */
export function vsize(tx: Transaction): number {
  return Math.ceil(weight(tx) / 4);
}
