// SPDX-License-Identifier: MIT
/**
 * Reads a transaction listing (get_history, get_mempool, listunspent: a JSON
 * array of flat objects, each with "tx_hash" and "height" among any other
 * keys, in any order) straight from the upstream's bytes, so a long history
 * can go to the wallet as those bytes while the gateway still learns which
 * transactions it lists (tx-origin.ts) and puts it in the spec's order
 * (status.ts). JSON.parse of an 80 KB history, its ordering and its
 * re-serialization were most of what the event loop did under a flood of
 * them; this is one pass of native searches over the bytes.
 *
 * The bytes are a RawJson's: one valid JSON value, UTF-8, without
 * insignificant whitespace (protocol/scanner.ts validated the upstream's
 * line, upstream/replies.ts compacted it). This does not check the grammar
 * again; it only reads the structure, and anything that is not the listing
 * shape it knows (whitespace, an entry that is not an object, a tx_hash that
 * is not a string, a height that is not a number, a missing one) makes it
 * return null: the caller then parses, and JSON.parse decides as before.
 * Strings with escapes, in keys or values, are decoded by JSON.parse itself,
 * so they read exactly as they would parsed; duplicate keys: the last wins,
 * as in JSON.parse.
 *
 * Pure: bytes in, entries out.
 */
import { RawJson } from '../protocol/raw-json.js';
import { compareMempool, isMempoolHeight, type StatusEntry } from '../protocol/status.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The keys read here, with their closing quote. */
const TX_HASH_KEY = Buffer.from('tx_hash"', 'latin1');
const HEIGHT_KEY = Buffer.from('height"', 'latin1');

/** Integers of at most this many digits are summed exactly in a double; longer numbers go to Number(). */
const EXACT_DIGITS = 15;

/** Which of the keys read here a key is; 0: another. */
const OTHER = 0;
const IS_TX_HASH = 1;
const IS_HEIGHT = 2;

/**
 * The entries of a listing, in the order of its bytes: each one's height, and
 * where the entry and its tx_hash (between the quotes) lie in `bytes`.
 * tx_hash strings are decoded only when asked for: most of a long history is
 * deep and never needs its hash read.
 */
export class ScannedListing {
  readonly heights: number[] = [];
  /** Per entry: start and end of the entry's object, start and end of its tx_hash's text. */
  private readonly offsets: number[] = [];

  constructor(
    readonly bytes: Buffer,
    /** Whether any backslash occurs in the bytes: then strings are read with escapes in mind. */
    private readonly escapes: boolean,
  ) {}

  get length(): number {
    return this.heights.length;
  }

  /** @internal the scanner's and the reordering's: one entry, in order. */
  push(start: number, end: number, hashStart: number, hashEnd: number, height: number): void {
    this.offsets.push(start, end, hashStart, hashEnd);
    this.heights.push(height);
  }

  /** The i-th entry's tx_hash as JSON.parse would give it. */
  txHash(i: number): string {
    const s = this.offsets[4 * i + 2]!;
    const e = this.offsets[4 * i + 3]!;
    // With no backslash in the listing the text is the string; otherwise JSON.parse decodes it, exactly.
    return this.escapes ? (JSON.parse(this.bytes.toString('utf8', s - 1, e + 1)) as string) : this.bytes.toString('utf8', s, e);
  }

  /**
   * The listing in the spec's history order (status.ts orderHistory: confirmed
   * entries stably by height, then the mempool in canonical order): itself
   * when already so, which is how ElectrumX and Fulcrum send it, else the same
   * entries' bytes spliced in that order (no entry is parsed or rewritten).
   */
  inHistoryOrder(): ScannedListing {
    if (this.isHistoryOrder()) return this;
    const confirmed: number[] = [];
    const mempool: (StatusEntry & { i: number })[] = [];
    for (let i = 0; i < this.heights.length; i++) {
      const height = this.heights[i]!;
      if (isMempoolHeight(height)) mempool.push({ tx_hash: this.txHash(i), height, i });
      else confirmed.push(i);
    }
    const h = this.heights;
    sortStablyByHeight(confirmed, h);
    mempool.sort(compareMempool);
    const order = [...confirmed, ...mempool.map((e) => e.i)];
    let size = 1 + Math.max(0, order.length - 1) + 1;
    for (const i of order) size += this.offsets[4 * i + 1]! - this.offsets[4 * i]!;
    const out = Buffer.allocUnsafe(size);
    const listing = new ScannedListing(out, this.escapes);
    let o = 0;
    out[o++] = OPEN_ARRAY;
    order.forEach((i, n) => {
      if (n > 0) out[o++] = COMMA;
      const start = this.offsets[4 * i]!;
      const shift = o - start;
      o += this.bytes.copy(out, o, start, this.offsets[4 * i + 1]!);
      listing.push(start + shift, o, this.offsets[4 * i + 2]! + shift, this.offsets[4 * i + 3]! + shift, h[i]!);
    });
    out[o++] = CLOSE_ARRAY;
    return listing;
  }

  /** status.ts isCanonicalHistory, reading only the hashes of mempool entries. */
  private isHistoryOrder(): boolean {
    const h = this.heights;
    let prev: StatusEntry | null = null;
    let prevHeight = 0;
    for (let i = 0; i < h.length; i++) {
      const height = h[i]!;
      if (isMempoolHeight(height)) {
        const entry = { tx_hash: this.txHash(i), height };
        if (prev !== null && compareMempool(prev, entry) > 0) return false;
        prev = entry;
      } else {
        if (prev !== null || height < prevHeight) return false;
        prevHeight = height;
      }
    }
    return true;
  }
}

/** Entries at most this many, heights below 2^31, make a sort key exact in a double: height * 2^21 + index. */
const KEY_INDEX_SPAN = 2 ** 21;
const KEY_MAX_HEIGHT = 2 ** 31;

/**
 * Sorts entry indices by height, equal heights in index order: as
 * orderHistory's comparator does, but as one native sort of numeric keys
 * when the heights allow (whole, below 2^31), about ten times faster.
 */
function sortStablyByHeight(indices: number[], heights: readonly number[]): void {
  if (indices.length < KEY_INDEX_SPAN && indices.every((i) => Number.isInteger(heights[i]) && heights[i]! < KEY_MAX_HEIGHT)) {
    const keys = new Float64Array(indices.length);
    for (let n = 0; n < indices.length; n++) keys[n] = heights[indices[n]!]! * KEY_INDEX_SPAN + indices[n]!;
    keys.sort();
    for (let n = 0; n < keys.length; n++) indices[n] = keys[n]! % KEY_INDEX_SPAN;
    return;
  }
  indices.sort((a, b) => heights[a]! - heights[b]! || a - b);
}

/**
 * A listing passed through as bytes, with its entries as scanned: the reply
 * encoder writes the bytes, TxOrigins reads the entries, nothing parses it.
 */
export class ListingJson extends RawJson {
  constructor(readonly listing: ScannedListing) {
    super(listing.bytes);
  }
}

/** The entries of a listing's bytes, or null when they are not that shape (then parse them). */
export function scanListing(buf: Buffer): ScannedListing | null {
  const n = buf.length;
  if (n < 2 || buf[0] !== OPEN_ARRAY) return null;
  const escapes = buf.indexOf(BACKSLASH) !== -1;
  const out = new ScannedListing(buf, escapes);
  const number = { value: 0 };
  let i = 1;
  if (buf[i] === CLOSE_ARRAY) return n === 2 ? out : null;
  for (;;) {
    if (buf[i] !== OPEN_OBJECT) return null;
    const start = i++;
    let hashStart = -1;
    let hashEnd = -1;
    let height = 0;
    let hasHeight = false;
    for (;;) {
      if (buf[i] !== QUOTE) return null;
      // The two keys read here are matched in place, no search: their bytes hold no quote or backslash.
      let key = OTHER;
      let keyEnd: number;
      if (isAt(buf, i + 1, TX_HASH_KEY)) {
        key = IS_TX_HASH;
        keyEnd = i + TX_HASH_KEY.length;
      } else if (isAt(buf, i + 1, HEIGHT_KEY)) {
        key = IS_HEIGHT;
        keyEnd = i + HEIGHT_KEY.length;
      } else {
        keyEnd = stringEnd(buf, i + 1, escapes);
        if (keyEnd < 0) return null;
        if (escapes && hasBackslash(buf, i + 1, keyEnd)) key = escapedKeyKind(buf, i + 1, keyEnd);
      }
      if (buf[keyEnd + 1] !== COLON) return null;
      i = keyEnd + 2;
      const c = buf[i];
      if (key === IS_TX_HASH) {
        // A later tx_hash that is not a string replaces an earlier one, as in JSON.parse: the entry is then not the shape.
        if (c === QUOTE) {
          hashStart = i + 1;
          hashEnd = stringEnd(buf, hashStart, escapes);
          if (hashEnd < 0) return null;
          i = hashEnd + 1;
        } else {
          hashStart = -1;
          i = skipValue(buf, i, escapes);
        }
      } else if (key === IS_HEIGHT) {
        if (c === MINUS || (c !== undefined && c >= 0x30 && c <= 0x39)) {
          i = readNumber(buf, i, number);
          height = number.value;
          if (Number.isNaN(height)) return null;
          hasHeight = true;
        } else {
          hasHeight = false;
          i = skipValue(buf, i, escapes);
        }
      } else {
        i = skipValue(buf, i, escapes);
      }
      if (i < 0) return null;
      const next = buf[i++];
      if (next === CLOSE_OBJECT) break;
      if (next !== COMMA) return null;
    }
    if (hashStart < 0 || !hasHeight) return null;
    out.push(start, i, hashStart, hashEnd, height);
    const next = buf[i++];
    if (next === CLOSE_ARRAY) break;
    if (next !== COMMA) return null;
  }
  return i === n ? out : null;
}

/** The listing's bytes as a ListingJson in history order, or null when they are not a listing. */
export function historyListing(raw: RawJson): ListingJson | null {
  const listing = raw instanceof ListingJson ? raw.listing : scanListing(raw.bytes);
  if (listing === null) return null;
  const ordered = listing.inHistoryOrder();
  return ordered === listing && raw instanceof ListingJson ? raw : new ListingJson(ordered);
}

/** The listing's bytes as a ListingJson in the upstream's order, or null when they are not a listing. */
export function asListing(raw: RawJson): ListingJson | null {
  if (raw instanceof ListingJson) return raw;
  const listing = scanListing(raw.bytes);
  return listing === null ? null : new ListingJson(listing);
}

/** Index of the quote closing the string whose text starts at `from`, or -1. */
function stringEnd(buf: Buffer, from: number, escapes: boolean): number {
  let q = buf.indexOf(QUOTE, from);
  if (!escapes) return q;
  // A quote preceded by an odd run of backslashes is escaped.
  while (q !== -1) {
    let k = q - 1;
    while (k >= from && buf[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q;
    q = buf.indexOf(QUOTE, q + 1);
  }
  return -1;
}

/** Compared in JavaScript: a native call costs more than these few bytes. */
function isAt(buf: Buffer, at: number, word: Buffer): boolean {
  if (at + word.length > buf.length) return false;
  for (let k = 0; k < word.length; k++) if (buf[at + k] !== word[k]) return false;
  return true;
}

/** A key spelled with escapes: "tx\u005fhash" is tx_hash to JSON.parse. */
function escapedKeyKind(buf: Buffer, start: number, end: number): number {
  const key = JSON.parse(buf.toString('utf8', start - 1, end + 1)) as string;
  return key === 'tx_hash' ? IS_TX_HASH : key === 'height' ? IS_HEIGHT : OTHER;
}

/** Searched byte by byte: a key is short, and a search to the listing's next backslash could be long. */
function hasBackslash(buf: Buffer, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (buf[k] === BACKSLASH) return true;
  return false;
}

/** Past the value starting at `i` (valid compact JSON), or -1 when it runs off the end. */
function skipValue(buf: Buffer, i: number, escapes: boolean): number {
  const c = buf[i];
  if (c === QUOTE) {
    const e = stringEnd(buf, i + 1, escapes);
    return e < 0 ? -1 : e + 1;
  }
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (let k = i; k < buf.length; k++) {
      const b = buf[k]!;
      if (b === QUOTE) {
        k = stringEnd(buf, k + 1, escapes);
        if (k < 0) return -1;
      } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++;
      else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        if (--depth === 0) return k + 1;
      }
    }
    return -1;
  }
  // A number or a literal: up to the next separator.
  let k = i;
  while (k < buf.length) {
    const b = buf[k]!;
    if (b === COMMA || b === CLOSE_OBJECT || b === CLOSE_ARRAY) break;
    k++;
  }
  return k === i ? -1 : k;
}

/** Reads the number at `i` into `out.value`, as JSON.parse reads it; returns where it ends. */
function readNumber(buf: Buffer, i: number, out: { value: number }): number {
  const negative = buf[i] === MINUS;
  const from = negative ? i + 1 : i;
  let v = 0;
  let k = from;
  for (; k < buf.length; k++) {
    const d = buf[k]! - 0x30;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  const b = buf[k];
  if (k > from && k - from <= EXACT_DIGITS && b !== 0x2e && b !== 0x65 && b !== 0x45) {
    out.value = negative ? -v : v;
    return k;
  }
  // Fractions, exponents, long integers: Number() reads JSON's number grammar as JSON.parse does
  // (NaN only for text that is not a JSON number, which the caller refuses).
  while (k < buf.length) {
    const c = buf[k]!;
    if ((c >= 0x30 && c <= 0x39) || c === MINUS || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45) k++;
    else break;
  }
  out.value = Number(buf.toString('latin1', i, k));
  return k;
}
