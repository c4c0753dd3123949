// SPDX-License-Identifier: MIT
/**
 * What an answer will weigh, known before it is fetched, so it can be paid
 * for (the cost model) and refused (max_response_bytes) before the gateway
 * holds it:
 *
 * - header ranges are fixed by their arguments (cost.ts's estimatedResponseBytes);
 * - a history, an unspent list, a mempool list or a transaction asked for
 *   before weighs about what it weighed last time. The last size of every
 *   such answer of at least MIN_REMEMBERED_BYTES is remembered in a bounded
 *   map (least recently used out), for every session: 200 sessions asking for
 *   the same long history pay for it from the second answer on, whoever
 *   fetched the first.
 *
 * The real size settles the account afterwards: ResponseBudget replaces the
 * reservation by it, and the remembered size is updated to it. Pure: no I/O.
 */
import { RpcError, ErrorCode, argsKey } from '../protocol/jsonrpc.js';
import { RawJson } from '../protocol/raw-json.js';
import { estimatedResponseBytes } from './cost.js';

/**
 * Answers smaller than this are not remembered: two bandwidth units at the
 * default cost.bandwidth_unit_bytes, so the map holds only answers that move
 * a bill or a memory figure.
 */
export const MIN_REMEMBERED_BYTES = 10_000;
/** Sizes remembered at most: about 150 bytes each (key and entry), so about 1.5 MB in all. */
export const MAX_REMEMBERED = 10_000;
/** Longer argument lists are not remembered (they are not one of the methods below anyway). */
const MAX_KEY_CHARS = 200;
/** Deeper values are not walked: no answer of the methods below is nested this deep. */
const MAX_DEPTH = 16;

/** Methods whose answer for the same arguments weighs about the same from one call to the next. */
const REMEMBERED: ReadonlySet<string> = new Set([
  'blockchain.scripthash.get_history',
  'blockchain.scripthash.listunspent',
  'blockchain.scripthash.get_mempool',
  'blockchain.address.get_history',
  'blockchain.address.listunspent',
  'blockchain.address.get_mempool',
  'blockchain.transaction.get',
]);

function keyOf(method: string, args: readonly unknown[]): string | null {
  if (!REMEMBERED.has(method)) return null;
  let key: string;
  try {
    key = `${method}${argsKey(args)}`;
  } catch {
    return null;
  }
  return key.length <= MAX_KEY_CHARS ? key : null;
}

/**
 * The JSON size of a value in bytes, without building the JSON: exact for
 * RawJson and for ASCII strings without escapes (hex, txids, addresses), which
 * is what these answers hold. Used to learn an answer's weight, not to frame it.
 */
export function jsonBytes(value: unknown, depth = 0): number {
  if (value instanceof RawJson) return value.bytes.length;
  if (value === null || value === undefined) return 4;
  switch (typeof value) {
    case 'string':
      return Buffer.byteLength(value) + 2;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value).length;
    case 'object': {
      if (depth >= MAX_DEPTH) return 0;
      if (Array.isArray(value)) {
        let n = 2 + Math.max(0, value.length - 1);
        for (const v of value) n += jsonBytes(v, depth + 1);
        return n;
      }
      const keys = Object.keys(value);
      let n = 2 + Math.max(0, keys.length - 1);
      for (const k of keys) n += Buffer.byteLength(k) + 3 + jsonBytes((value as Record<string, unknown>)[k], depth + 1);
      return n;
    }
    default:
      return 0;
  }
}

export class AnswerSizes {
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly maxEntries: number = MAX_REMEMBERED,
    private readonly minBytes: number = MIN_REMEMBERED_BYTES,
  ) {}

  get size(): number {
    return this.sizes.size;
  }

  /** The bytes the answer is expected to take: fixed by its arguments, or as last seen; 0 when unknown. */
  expect(method: string, args: readonly unknown[]): number {
    const fixed = estimatedResponseBytes(method, args);
    if (fixed > 0) return fixed;
    const key = keyOf(method, args);
    if (key === null) return 0;
    const bytes = this.sizes.get(key);
    if (bytes === undefined) return 0;
    // Used again: last out.
    this.sizes.delete(key);
    this.sizes.set(key, bytes);
    return bytes;
  }

  /** Learns an answer's real size; returns it, or null when the method's answers are not measured. */
  learn(method: string, args: readonly unknown[], result: unknown): number | null {
    const key = keyOf(method, args);
    if (key === null) return null;
    const bytes = jsonBytes(result);
    this.sizes.delete(key);
    if (bytes < this.minBytes) return bytes;
    this.sizes.set(key, bytes);
    if (this.sizes.size > this.maxEntries) this.sizes.delete(this.sizes.keys().next().value!);
    return bytes;
  }
}

/** The process's remembered sizes, shared by every session (an answer weighs the same whoever asks). */
export const ANSWER_SIZES = new AnswerSizes();

/**
 * One line's answers held to max_response_bytes before they are fetched: each
 * request reserves its expected size, and one that cannot fit beside what the
 * line's other answers take (real sizes of those done, reservations of those
 * in flight) is refused without being fetched. Unknown sizes reserve 0; their
 * real size still counts once known, when it is measured.
 */
export class ResponseBudget {
  private used = 0;

  constructor(private readonly max: number) {}

  /** Bytes taken now: answers done plus reservations. */
  get taken(): number {
    return this.used;
  }

  /** Reserves `expected` bytes and returns it, or throws the "response too large" error. */
  reserve(expected: number): number {
    if (expected > 0 && this.used + expected > this.max) throw responseTooLarge(this.max);
    this.used += expected;
    return expected;
  }

  /** The answer is in (or failed, actual 0): its real size replaces the reservation. */
  settle(expected: number, actual: number): void {
    this.used = Math.max(0, this.used + actual - expected);
  }
}

export function responseTooLarge(max: number): RpcError {
  return new RpcError(ErrorCode.INVALID_REQUEST, `response too large (over ${max} bytes)`);
}
