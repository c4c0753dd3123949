// SPDX-License-Identifier: MIT
/**
 * What one line from an upstream holds: its messages (replies and
 * notifications), as JSON.parse would give them, except that a large result
 * the caller will pass through untouched is left as the upstream's bytes
 * (RawJson), found by the validating scanner without building its object
 * graph and compacted when the server padded it (ElectrumX puts spaces inside
 * its JSON). Everything the gateway reads (errors, notifications, results of
 * requests that did not ask for raw) is parsed once, as before.
 *
 * Pure: bytes in, messages out.
 */
import { RawJson } from '../protocol/raw-json.js';
import { compactSpan, isNullSpan, scanMessage, spanText, type ScannedObject } from '../protocol/scanner.js';

/**
 * Lines shorter than this are parsed whole, never scanned. Below about 1 kB
 * V8's native JSON.parse and JSON.stringify of a handful of small values cost
 * no more than the scan written in JavaScript plus the span bookkeeping, so
 * there is nothing to win; above it the object graph of a large answer (a
 * verbose transaction, a fee histogram, a long list) and its re-serialization
 * dominate, and grow with the answer while the scan stays a single pass.
 */
export const RAW_MIN_BYTES = 1024;

/**
 * The messages of one line, in order, or null when it is not JSON.
 * `wantsRaw(id)` says whether the request with that id takes its result as
 * RawJson; null when no request waiting does (the line is then parsed whole).
 */
export function readUpstreamLine(line: Buffer, wantsRaw: ((id: number) => boolean) | null): unknown[] | null {
  if (wantsRaw !== null && line.length >= RAW_MIN_BYTES) {
    const scanned = scanMessage(line);
    if (scanned !== null && scanned.kind !== 'other' && !(scanned.kind === 'batch' && scanned.others > 0)) {
      const objects = scanned.kind === 'object' ? [scanned.object] : scanned.objects;
      return objects.map((o) => fromScanned(line, o, wantsRaw));
    }
    // Not something the scanner vouches for: JSON.parse decides, as for any line.
  }
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return null;
  }
  return Array.isArray(value) ? value : [value];
}

/** One scanned object: a reply whose result passes through, or the object parsed (only its own bytes). */
function fromScanned(line: Buffer, o: ScannedObject, wantsRaw: (id: number) => boolean): unknown {
  if (o.result !== undefined && o.id !== undefined && o.method === undefined && (o.error === undefined || isNullSpan(line, o.error))) {
    const id: unknown = JSON.parse(spanText(line, o.id));
    if (typeof id === 'number' && wantsRaw(id)) return { id, result: new RawJson(compactSpan(line, o.result)) };
  }
  return JSON.parse(line.toString('utf8', o.start, o.end));
}

/**
 * ElectrumX pads with runs of spaces just before the closing brace or
 * bracket of a reply: at least 16 spaces, then `}` or `]`, then only
 * whitespace to the end of the line.
 */
export function isPaddedReply(line: Buffer): boolean {
  let i = line.length - 1;
  while (i >= 0 && isSpace(line[i]!)) i--;
  if (i < 0 || (line[i] !== 0x7d && line[i] !== 0x5d)) return false;
  let spaces = 0;
  for (i--; i >= 0 && line[i] === 0x20 && spaces < 16; i--) spaces++;
  return spaces >= 16;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0b || c === 0x0c;
}
