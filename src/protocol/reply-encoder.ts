// SPDX-License-Identifier: MIT
/**
 * Replies and notifications as wire bytes, and the buffer that gathers one
 * session's (or one upstream connection's) output for one event-loop turn.
 *
 * A reply is a list of pieces: strings the encoder wrote and, for a result
 * that is already serialized (RawJson: a cached answer, an upstream result
 * passed through), the result's own bytes, spliced between the id and the
 * closing brace without ever being parsed or stringified here. The field
 * order is the one JSON.stringify of jsonrpc.ts's Response objects gives
 * ({"jsonrpc","id","result"|"error"}), so a RawJson answer and a plain one
 * look the same on the wire.
 *
 * Pure: no sockets. The transport takes the gathered output as
 * newline-framed chunks (raw TCP/TLS: small pieces gathered into one Buffer,
 * large ones handed on as they are) or as one Buffer per message (WebSocket).
 */
import type { JsonRpcId, ReplyShape, RpcErrorObject, WireId } from './jsonrpc.js';
import { RawJson } from './raw-json.js';

export type Piece = string | Buffer;

/** One JSON message, ready to be framed: its pieces in order, and their length in UTF-8 bytes. */
export interface EncodedMessage {
  readonly pieces: readonly Piece[];
  readonly bytes: number;
}

/**
 * The id a reply carries, already in its wire form. Built from the id the
 * client's request held, byte for byte where the request was scanned
 * (a number too big for a double, `1.0`, a string with escapes come back as
 * sent, as Python servers echo them), or from the parsed value.
 */
export type { WireId };

export function wireId(id: JsonRpcId | null | WireId): string {
  if (id !== null && typeof id === 'object') return id.wire;
  return JSON.stringify(id);
}

const CLOSE = '}';
const NEWLINE = '\n';

function message(pieces: Piece[]): EncodedMessage {
  let bytes = 0;
  for (const p of pieces) bytes += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
  return { pieces, bytes };
}

/**
 * {"jsonrpc":"2.0","id":ID,"result":RESULT}, or in 1.0's shape
 * {"result":RESULT,"error":null,"id":ID} (aiorpcx's JSONRPCv1 member order);
 * a RawJson result is spliced as its bytes.
 */
export function encodeResult(id: JsonRpcId | null | WireId, result: unknown, shape: ReplyShape = '2.0'): EncodedMessage {
  if (shape === '1.0') {
    const tail = `,"error":null,"id":${wireId(id)}${CLOSE}`;
    if (result instanceof RawJson) return message(['{"result":', result.bytes, tail]);
    return message([`{"result":${result === undefined ? 'null' : JSON.stringify(result)}${tail}`]);
  }
  const head = `{"jsonrpc":"2.0","id":${wireId(id)},"result":`;
  if (result instanceof RawJson) return message([head, result.bytes, CLOSE]);
  // JSON.stringify never returns undefined here: undefined results are answered as null (resultResponse does the same).
  return message([`${head}${result === undefined ? 'null' : JSON.stringify(result)}${CLOSE}`]);
}

/** {"jsonrpc":"2.0","id":ID,"error":ERROR}, or in 1.0's shape {"result":null,"error":ERROR,"id":ID}. */
export function encodeError(id: JsonRpcId | null | WireId, error: RpcErrorObject, shape: ReplyShape = '2.0'): EncodedMessage {
  if (shape === '1.0') return message([`{"result":null,"error":${JSON.stringify(error)},"id":${wireId(id)}${CLOSE}`]);
  return message([`{"jsonrpc":"2.0","id":${wireId(id)},"error":${JSON.stringify(error)}${CLOSE}`]);
}

/** A server notification; in 1.0's shape a request with id null, as aiorpcx's JSONRPCv1 writes it. */
export function encodeNotification(method: string, params: readonly unknown[], shape: ReplyShape = '2.0'): EncodedMessage {
  if (shape === '1.0') return message([JSON.stringify({ method, params, id: null })]);
  return message([JSON.stringify({ jsonrpc: '2.0', method, params })]);
}

/** Any JSON value (a Response object built elsewhere); RawJson inside it is serialized through its toJSON. */
export function encodeValue(value: unknown): EncodedMessage {
  return message([JSON.stringify(value)]);
}

/** A batch answer: the members' pieces between brackets, without copying them. */
export function encodeBatch(members: readonly EncodedMessage[]): EncodedMessage {
  const pieces: Piece[] = ['['];
  let bytes = 2 + Math.max(0, members.length - 1);
  members.forEach((m, i) => {
    if (i > 0) pieces.push(',');
    for (const p of m.pieces) pieces.push(p);
    bytes += m.bytes;
  });
  pieces.push(']');
  return { pieces, bytes };
}

/**
 * A Buffer piece at least this long is handed to the socket as it is, not
 * copied into the turn's Buffer: a batch of twenty 80 KB histories from the
 * cache is 1.6 MB that would otherwise be allocated and copied per session,
 * 320 MB for the first wave of the memory-flood test's 200 sessions, in one
 * event-loop turn (measured: 0.55 s of copying and page faults, during which
 * no other wallet was answered). Below it, copying is cheaper than one more
 * chunk for the socket to gather.
 */
export const SHARED_PIECE_BYTES = 16 * 1024;

/**
 * Messages waiting to be written, in the order they were produced. Taken
 * whole once per turn: one socket write (a writev when large results are
 * passed on uncopied), however many answers the turn produced.
 */
export class OutputBuffer {
  private queue: EncodedMessage[] = [];
  private total = 0;

  push(m: EncodedMessage): void {
    this.queue.push(m);
    this.total += m.bytes + 1;
  }

  /** Messages waiting. */
  get length(): number {
    return this.queue.length;
  }

  /** Bytes waiting, newlines included. */
  get bytes(): number {
    return this.total;
  }

  /**
   * Bytes waiting ahead of the last message. A slow reader is cut when what
   * it has not taken, plus what goes before an answer, passes
   * max_unsent_bytes: the rule per message, applied to a whole turn (one
   * answer larger than the limit is still sent to a client that reads).
   */
  get bytesBeforeLast(): number {
    const last = this.queue[this.queue.length - 1];
    return last === undefined ? 0 : this.total - last.bytes - 1;
  }

  clear(): void {
    this.queue = [];
    this.total = 0;
  }

  /** Everything waiting as one Buffer, each message followed by "\n"; the buffer is left empty. */
  takeFramed(): Buffer {
    const out = Buffer.allocUnsafe(this.total);
    let at = 0;
    for (const m of this.queue) {
      at = writePieces(out, at, m.pieces);
      out[at++] = 0x0a;
    }
    this.clear();
    return at === out.length ? out : out.subarray(0, at);
  }

  /**
   * Everything waiting, each message followed by "\n", as chunks to write in
   * order: the small pieces between two large ones copied into one Buffer,
   * every Buffer piece of SHARED_PIECE_BYTES or more as itself (the cache's
   * or the upstream's own bytes, not a copy). One chunk when nothing is
   * large. The buffer is left empty.
   */
  takeChunks(): Buffer[] {
    // The common turn (a few small answers) holds no piece that large: one Buffer, as takeFramed.
    if (this.total < SHARED_PIECE_BYTES) return this.total === 0 ? [] : [this.takeFramed()];
    const chunks: Buffer[] = [];
    let run: Piece[] = [];
    let runBytes = 0;
    const endRun = (): void => {
      if (run.length === 0) return;
      const b = Buffer.allocUnsafe(runBytes);
      const end = writePieces(b, 0, run);
      chunks.push(end === b.length ? b : b.subarray(0, end));
      run = [];
      runBytes = 0;
    };
    for (const m of this.queue) {
      for (const p of m.pieces) {
        if (typeof p !== 'string' && p.length >= SHARED_PIECE_BYTES) {
          endRun();
          chunks.push(p);
        } else {
          run.push(p);
          runBytes += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
        }
      }
      run.push(NEWLINE);
      runBytes++;
    }
    endRun();
    this.clear();
    return chunks;
  }

  /** Everything waiting, one Buffer per message (no framing: WebSocket frames each); the buffer is left empty. */
  takeMessages(): Buffer[] {
    const out = this.queue.map((m) => {
      if (m.pieces.length === 1 && typeof m.pieces[0] !== 'string') return m.pieces[0]!;
      const b = Buffer.allocUnsafe(m.bytes);
      const end = writePieces(b, 0, m.pieces);
      return end === b.length ? b : b.subarray(0, end);
    });
    this.clear();
    return out;
  }
}

function writePieces(out: Buffer, at: number, pieces: readonly Piece[]): number {
  for (const p of pieces) at += typeof p === 'string' ? out.write(p, at, 'utf8') : p.copy(out, at);
  return at;
}
