// SPDX-License-Identifier: MIT
/**
 * A validating JSON scanner that finds where the members of a JSON-RPC
 * message are, without building the value: for an upstream's answer it
 * yields the byte span of `result` (forwarded as it came, only the id
 * around it rewritten), and the small members (`id`, `error`, `method`,
 * `params`) that the caller parses itself.
 *
 * It checks the whole message against RFC 8259's grammar (strings, escapes,
 * numbers, literals, nesting) so that bytes passed through are JSON a client
 * can parse; anything it does not accept (bad JSON, a key with escapes, a
 * nesting deeper than MAX_DEPTH) makes it return null, and the caller falls
 * back to JSON.parse, which decides. It records whether whitespace or
 * non-ASCII bytes occurred inside each member's value, so padded answers
 * (ElectrumX writes spaces inside its JSON) are compacted byte by byte, and
 * only answers with non-ASCII bytes pay a UTF-8 validity check.
 *
 * Pure: bytes in, spans out.
 */
import { isUtf8 } from 'node:buffer';

/** Bytes [start, end) of one value; `space`: insignificant whitespace inside it; `high`: bytes >= 0x80 inside it. */
export interface Span {
  readonly start: number;
  readonly end: number;
  readonly space: boolean;
  readonly high: boolean;
}

/** The members of one JSON-RPC object the gateway routes on; absent members are undefined. */
export interface ScannedObject {
  readonly start: number;
  readonly end: number;
  readonly id?: Span;
  readonly result?: Span;
  readonly error?: Span;
  readonly method?: Span;
  readonly params?: Span;
}

export type ScannedMessage =
  | { readonly kind: 'object'; readonly object: ScannedObject }
  /** A batch: its elements that are objects, in order; `others` counts elements that are not. */
  | { readonly kind: 'batch'; readonly objects: readonly ScannedObject[]; readonly others: number }
  /** Valid JSON, but neither an object nor an array (a bare number, string...). */
  | { readonly kind: 'other' };

/** Deeper nesting is left to JSON.parse (the scanner recurses; real answers are a few levels deep). */
export const MAX_DEPTH = 256;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

class Fail extends Error {}
const FAIL = new Fail();

/** Where the scan is, and what it saw since the flags were last reset. */
class Cursor {
  pos = 0;
  space = false;
  high = false;
  constructor(readonly buf: Buffer) {}
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(c: Cursor): void {
  const b = c.buf;
  let i = c.pos;
  while (i < b.length && isSpace(b[i]!)) i++;
  c.pos = i;
}

/** Skips whitespace between tokens inside a value, noting that there was some. */
function innerSpace(c: Cursor): void {
  const before = c.pos;
  skipSpace(c);
  if (c.pos !== before) c.space = true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** At an opening quote; leaves pos just past the closing one. Returns whether the string held escapes. */
function skipString(c: Cursor): boolean {
  const b = c.buf;
  let i = c.pos + 1;
  let escaped = false;
  for (;;) {
    if (i >= b.length) throw FAIL;
    const ch = b[i]!;
    if (ch === QUOTE) break;
    if (ch === BACKSLASH) {
      escaped = true;
      const e = b[i + 1];
      if (e === 0x75) {
        // \uXXXX
        if (i + 5 >= b.length || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!) || !isHex(b[i + 5]!)) throw FAIL;
        i += 6;
        continue;
      }
      if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
        continue;
      }
      throw FAIL;
    }
    if (ch < 0x20) throw FAIL;
    if (ch >= 0x80) c.high = true;
    i++;
  }
  c.pos = i + 1;
  return escaped;
}

function digits(b: Buffer, i: number): number {
  const from = i;
  while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  if (i === from) throw FAIL;
  return i;
}

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(c: Cursor): void {
  const b = c.buf;
  let i = c.pos;
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else i = digits(b, i);
  if (b[i] === 0x2e) i = digits(b, i + 1);
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    i = digits(b, i);
  }
  c.pos = i;
}

function skipLiteral(c: Cursor, word: string): void {
  const b = c.buf;
  for (let k = 0; k < word.length; k++) if (b[c.pos + k] !== word.charCodeAt(k)) throw FAIL;
  c.pos += word.length;
}

function skipValue(c: Cursor, depth: number): void {
  const b = c.buf;
  const ch = b[c.pos];
  switch (ch) {
    case QUOTE:
      skipString(c);
      return;
    case 0x7b: {
      // {
      if (depth >= MAX_DEPTH) throw FAIL;
      c.pos++;
      innerSpace(c);
      if (b[c.pos] === 0x7d) {
        c.pos++;
        return;
      }
      for (;;) {
        if (b[c.pos] !== QUOTE) throw FAIL;
        skipString(c);
        innerSpace(c);
        if (b[c.pos] !== 0x3a) throw FAIL;
        c.pos++;
        innerSpace(c);
        skipValue(c, depth + 1);
        innerSpace(c);
        const next = b[c.pos];
        c.pos++;
        if (next === 0x7d) return;
        if (next !== 0x2c) throw FAIL;
        innerSpace(c);
      }
    }
    case 0x5b: {
      // [
      if (depth >= MAX_DEPTH) throw FAIL;
      c.pos++;
      innerSpace(c);
      if (b[c.pos] === 0x5d) {
        c.pos++;
        return;
      }
      for (;;) {
        skipValue(c, depth + 1);
        innerSpace(c);
        const next = b[c.pos];
        c.pos++;
        if (next === 0x5d) return;
        if (next !== 0x2c) throw FAIL;
        innerSpace(c);
      }
    }
    case 0x74:
      skipLiteral(c, 'true');
      return;
    case 0x66:
      skipLiteral(c, 'false');
      return;
    case 0x6e:
      skipLiteral(c, 'null');
      return;
    default:
      if (ch === 0x2d || (ch !== undefined && ch >= 0x30 && ch <= 0x39)) {
        skipNumber(c);
        return;
      }
      throw FAIL;
  }
}

/** Scans one value and returns its span with the flags of what was inside it. */
function spanOf(c: Cursor, depth: number): Span {
  const start = c.pos;
  const space = c.space;
  const high = c.high;
  c.space = false;
  c.high = false;
  skipValue(c, depth);
  const span = { start, end: c.pos, space: c.space, high: c.high };
  c.space ||= space;
  c.high ||= high;
  return span;
}

/** Which member a key names, comparing raw bytes (keys with escapes were refused by the caller). */
function memberName(b: Buffer, start: number, end: number): 'id' | 'result' | 'error' | 'method' | 'params' | null {
  const len = end - start;
  switch (len) {
    case 2:
      return b[start] === 0x69 && b[start + 1] === 0x64 ? 'id' : null;
    case 5:
      return b.toString('latin1', start, end) === 'error' ? 'error' : null;
    case 6: {
      const k = b.toString('latin1', start, end);
      return k === 'result' ? 'result' : k === 'method' ? 'method' : k === 'params' ? 'params' : null;
    }
    default:
      return null;
  }
}

function scanObject(c: Cursor): ScannedObject {
  const b = c.buf;
  const start = c.pos;
  const found: { -readonly [K in keyof ScannedObject]?: ScannedObject[K] } = {};
  c.pos++;
  skipSpace(c);
  if (b[c.pos] === 0x7d) {
    c.pos++;
    return { start, end: c.pos };
  }
  for (;;) {
    if (b[c.pos] !== QUOTE) throw FAIL;
    const keyStart = c.pos + 1;
    // A key spelled with escapes ("\u0069d") would need decoding to be recognised: JSON.parse decides instead.
    if (skipString(c)) throw FAIL;
    const name = memberName(b, keyStart, c.pos - 1);
    skipSpace(c);
    if (b[c.pos] !== 0x3a) throw FAIL;
    c.pos++;
    skipSpace(c);
    const span = spanOf(c, 1);
    // The last of duplicate keys wins, as in JSON.parse.
    if (name !== null) found[name] = span;
    skipSpace(c);
    const next = b[c.pos];
    c.pos++;
    if (next === 0x7d) break;
    if (next !== 0x2c) throw FAIL;
    skipSpace(c);
  }
  return { ...found, start, end: c.pos };
}

/**
 * Scans one whole message (an object, or a batch of them), checking it is
 * valid JSON with nothing after it but whitespace. Returns null when it
 * cannot vouch for the bytes: the caller then uses JSON.parse.
 */
export function scanMessage(buf: Buffer): ScannedMessage | null {
  const c = new Cursor(buf);
  try {
    skipSpace(c);
    let out: ScannedMessage;
    if (buf[c.pos] === 0x7b) {
      out = { kind: 'object', object: scanObject(c) };
    } else if (buf[c.pos] === 0x5b) {
      const objects: ScannedObject[] = [];
      let others = 0;
      c.pos++;
      skipSpace(c);
      if (buf[c.pos] === 0x5d) c.pos++;
      else {
        for (;;) {
          if (buf[c.pos] === 0x7b) objects.push(scanObject(c));
          else {
            skipValue(c, 1);
            others++;
          }
          skipSpace(c);
          const next = buf[c.pos];
          c.pos++;
          if (next === 0x5d) break;
          if (next !== 0x2c) throw FAIL;
          skipSpace(c);
        }
      }
      out = { kind: 'batch', objects, others };
    } else {
      skipValue(c, 0);
      out = { kind: 'other' };
    }
    skipSpace(c);
    if (c.pos !== buf.length) return null;
    // Bytes passed through must be text a client's strict UTF-8 decoder accepts.
    if (c.high && !isUtf8(buf)) return null;
    return out;
  } catch (err) {
    if (err instanceof Fail || err instanceof RangeError) return null; // RangeError: a stack too deep despite MAX_DEPTH
    throw err;
  }
}

/**
 * The bytes of a span as a JSON value with no insignificant whitespace:
 * the same memory when there was none (the usual case, no copy), otherwise
 * a compacted copy (a padded ElectrumX answer) made without parsing it.
 */
export function compactSpan(buf: Buffer, span: Span): Buffer {
  const view = buf.subarray(span.start, span.end);
  if (!span.space) return view;
  const out = Buffer.allocUnsafe(view.length);
  let o = 0;
  let inString = false;
  for (let i = 0; i < view.length; i++) {
    const ch = view[i]!;
    if (inString) {
      out[o++] = ch;
      if (ch === BACKSLASH) out[o++] = view[++i]!;
      else if (ch === QUOTE) inString = false;
    } else if (!isSpace(ch)) {
      out[o++] = ch;
      if (ch === QUOTE) inString = true;
    }
  }
  return out.subarray(0, o);
}

/** A span's text (for the small members the caller parses: id, error, method, params). */
export function spanText(buf: Buffer, span: Span): string {
  return buf.toString('utf8', span.start, span.end);
}

/** Whether a span holds the literal null. */
export function isNullSpan(buf: Buffer, span: Span): boolean {
  return span.end - span.start === 4 && buf[span.start] === 0x6e;
}
