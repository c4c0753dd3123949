// SPDX-License-Identifier: MIT
/**
 * JSON-RPC messages as Electrum peers really send them: 2.0, and the loose 1.0
 * forms (no "jsonrpc" member, string or number ids, null or missing params).
 * Replies are 2.0-shaped, as ElectrumX's (aiorpcx's JSONRPCLoose answers a
 * request without "jsonrpc" in 2.0 form), except to a request that says
 * "jsonrpc":"1.0", which gets 1.0's {"result","error","id"} as aiorpcx's
 * JSONRPCv1 gives it. Error codes and messages follow ElectrumX so
 * wallets that match on them behave as they would against a real server.
 */
import { scanMessage, spanText, type ScannedObject } from './scanner.js';

export const ErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** An upstream or backend could not be reached or did not answer. */
  UNAVAILABLE: -100,
  EXCESSIVE_RESOURCE_USAGE: -101,
  SERVER_BUSY: -102,
  /** ElectrumX's BAD_REQUEST: validation failures and version problems. */
  BAD_REQUEST: 1,
  /** ElectrumX's DAEMON_ERROR: the node behind the server refused. */
  DAEMON_ERROR: 2,
} as const;

export type JsonRpcId = string | number;

/**
 * An id in its wire form, as the client wrote it: for an integer JSON.parse
 * would round (one beyond 2^53), which the reply must echo exactly, as
 * Python servers do.
 */
export interface WireId {
  readonly wire: string;
}

/** The id a reply carries. */
export type ReplyId = JsonRpcId | null | WireId;

/**
 * The JSON-RPC form of a reply: '2.0' {"jsonrpc":"2.0","id","result"|"error"},
 * or '1.0' {"result","error","id"} (both members, the other null), given to a
 * request that said "jsonrpc":"1.0".
 */
export type ReplyShape = '2.0' | '1.0';

export interface RpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

/** An error meant for the client, carried through the gateway as an exception. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  toObject(): RpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  static from(obj: unknown): RpcError {
    if (obj !== null && typeof obj === 'object') {
      const o = obj as Record<string, unknown>;
      const code = typeof o.code === 'number' ? o.code : ErrorCode.INTERNAL_ERROR;
      const message = typeof o.message === 'string' ? o.message : JSON.stringify(obj);
      return new RpcError(code, message, o.data);
    }
    return new RpcError(ErrorCode.INTERNAL_ERROR, typeof obj === 'string' ? obj : JSON.stringify(obj));
  }
}

export type Params = readonly unknown[] | Readonly<Record<string, unknown>>;

/** One element of what a client sent: a call, a notification, or something we must reject inline. */
export type IncomingItem =
  /**
   * A call to answer. Its id may be null: JSON-RPC 2.0 makes a notification of a missing id
   * only, so {"id": null} is a request whose answer carries id null (aiorpcx, and so ElectrumX,
   * reads it as a notification and never answers; a client that sent it waits in vain).
   */
  | { readonly kind: 'request'; readonly id: ReplyId; readonly method: string; readonly params: Params; readonly shape?: '1.0' }
  | { readonly kind: 'notification'; readonly method: string; readonly params: Params }
  | { readonly kind: 'invalid'; readonly id: ReplyId; readonly error: RpcError; readonly shape?: '1.0' }
  /** A response object (clients do not call us back); ignored. */
  | { readonly kind: 'response' };

export type IncomingMessage =
  | { readonly kind: 'single'; readonly item: IncomingItem }
  | { readonly kind: 'batch'; readonly items: readonly IncomingItem[] }
  /** The line was not JSON at all; answered with id null. */
  | { readonly kind: 'unparsable'; readonly error: RpcError };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeLine(line: Buffer): IncomingMessage {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return { kind: 'unparsable', error: new RpcError(ErrorCode.PARSE_ERROR, 'messages must be encoded in UTF-8') };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'unparsable', error: new RpcError(ErrorCode.PARSE_ERROR, 'invalid JSON') };
  }
  const msg = classify(value);
  return needsWireIds(msg) ? withWireIds(msg, line, value) : msg;
}

/**
 * A number id JSON.parse changed: an integer beyond 2^53, which a Python
 * client (arbitrary-precision ints) would not recognise once rounded. A
 * fraction is rounded to the same double the client's parser makes of it,
 * so it is left as parsed.
 */
function inexactId(item: IncomingItem): boolean {
  return (item.kind === 'request' || item.kind === 'invalid') && typeof item.id === 'number' && Number.isInteger(item.id) && !Number.isSafeInteger(item.id);
}

function needsWireIds(msg: IncomingMessage): boolean {
  if (msg.kind === 'single') return inexactId(msg.item);
  return msg.kind === 'batch' && msg.items.some(inexactId);
}

/**
 * The ids JSON.parse changed, replaced by their wire text (rare: only lines
 * with such ids are scanned). Batch elements that are objects are the
 * scanner's objects, in order.
 */
function withWireIds(msg: IncomingMessage, line: Buffer, value: unknown): IncomingMessage {
  const scanned = scanMessage(line);
  if (scanned === null) return msg;
  const fix = (item: IncomingItem, o: ScannedObject | undefined): IncomingItem =>
    inexactId(item) && o?.id !== undefined ? ({ ...item, id: { wire: spanText(line, o.id) } } as IncomingItem) : item;
  if (msg.kind === 'single') return scanned.kind === 'object' ? { kind: 'single', item: fix(msg.item, scanned.object) } : msg;
  if (msg.kind !== 'batch' || scanned.kind !== 'batch') return msg;
  const elements = value as unknown[];
  let next = 0;
  const items = msg.items.map((item, i) => {
    const e = elements[i];
    const isObject = e !== null && typeof e === 'object' && !Array.isArray(e);
    return isObject ? fix(item, scanned.objects[next++]) : item;
  });
  return { kind: 'batch', items };
}

export function classify(value: unknown): IncomingMessage {
  if (Array.isArray(value)) {
    if (value.length === 0) {
      return { kind: 'single', item: { kind: 'invalid', id: null, error: new RpcError(ErrorCode.INVALID_REQUEST, 'batch is empty') } };
    }
    return { kind: 'batch', items: value.map(classifyItem) };
  }
  return { kind: 'single', item: classifyItem(value) };
}

function classifyItem(value: unknown): IncomingItem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'invalid', id: null, error: new RpcError(ErrorCode.INVALID_REQUEST, 'request object must be a dictionary') };
  }
  const o = value as Record<string, unknown>;
  const hasId = 'id' in o && o.id !== undefined;
  const id = o.id;
  if (hasId && id !== null && typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
    return { kind: 'invalid', id: null, error: new RpcError(ErrorCode.INVALID_REQUEST, `invalid "id": ${safeJson(id)}`) };
  }
  const replyId = hasId ? (id as JsonRpcId | null) : null;
  // Only an explicit 1.0 gets 1.0's reply form; without "jsonrpc" ElectrumX answers in 2.0 form.
  const v1 = o.jsonrpc === '1.0';
  if (!('method' in o) && ('result' in o || 'error' in o)) return { kind: 'response' };
  if (typeof o.method !== 'string') {
    return invalid(replyId, new RpcError(ErrorCode.INVALID_REQUEST, 'method must be a string'), v1);
  }
  const rawParams = o.params;
  let params: Params;
  if (rawParams === undefined || rawParams === null) params = [];
  else if (typeof rawParams === 'object') params = rawParams as Params;
  else {
    return invalid(replyId, new RpcError(ErrorCode.INVALID_PARAMS, 'invalid request arguments: params must be an array or an object'), v1);
  }
  if (!hasId) return { kind: 'notification', method: o.method, params };
  return v1 ? { kind: 'request', id: replyId, method: o.method, params, shape: '1.0' } : { kind: 'request', id: replyId, method: o.method, params };
}

function invalid(id: JsonRpcId | null, error: RpcError, v1: boolean): IncomingItem {
  return v1 ? { kind: 'invalid', id, error, shape: '1.0' } : { kind: 'invalid', id, error };
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 100 ? `${s.slice(0, 100)}…` : s;
  } catch {
    // Too deeply nested to stringify (a hostile id); String() would recurse just as deep and throw.
    return Array.isArray(v) ? '[…]' : typeof v === 'object' ? '{…}' : String(v);
  }
}

/**
 * A reply as the session builds it. `shape` is not a JSON member: it tells
 * the encoder (reply-encoder.ts) to write 1.0's form; absent means 2.0's.
 */
export interface ResultResponse {
  readonly jsonrpc: '2.0';
  readonly id: ReplyId;
  readonly result: unknown;
  readonly shape?: '1.0';
}
export interface ErrorResponse {
  readonly jsonrpc: '2.0';
  readonly id: ReplyId;
  readonly error: RpcErrorObject;
  readonly shape?: '1.0';
}
export type Response = ResultResponse | ErrorResponse;

export function resultResponse(id: ReplyId, result: unknown, shape?: ReplyShape): ResultResponse {
  const r = result === undefined ? null : result;
  return shape === '1.0' ? { jsonrpc: '2.0', id, result: r, shape } : { jsonrpc: '2.0', id, result: r };
}

export function errorResponse(id: ReplyId, error: RpcError, shape?: ReplyShape): ErrorResponse {
  return shape === '1.0' ? { jsonrpc: '2.0', id, error: error.toObject(), shape } : { jsonrpc: '2.0', id, error: error.toObject() };
}

export function notification(method: string, params: readonly unknown[]): { jsonrpc: '2.0'; method: string; params: readonly unknown[] } {
  return { jsonrpc: '2.0', method, params };
}

/** Positional view of params given by position or by name, in the method's declared order. */
export function positional(params: Params, names: readonly string[], method: string): unknown[] {
  if (Array.isArray(params)) return [...params];
  const named = params as Readonly<Record<string, unknown>>;
  const unknownNames = Object.keys(named).filter((k) => !names.includes(k));
  if (unknownNames.length > 0) {
    throw new RpcError(ErrorCode.INVALID_PARAMS, `invalid request arguments: method "${method}" has no parameter named ${unknownNames.map((n) => `"${n}"`).join(', ')}`);
  }
  const out: unknown[] = [];
  let last = -1;
  names.forEach((name, i) => {
    if (name in named) last = i;
  });
  for (let i = 0; i <= last; i++) {
    const name = names[i]!;
    out.push(name in named ? named[name] : undefined);
  }
  return out;
}

/**
 * A key naming a request's arguments, for maps of answers and sizes: the
 * common case (one string: a scripthash, a txid) without JSON.stringify,
 * which on the pass-through path ran twice per request. Keys of different
 * argument lists never collide: only the one-string form starts with ':'.
 */
export function argsKey(args: readonly unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return `:${args[0]}`;
  return JSON.stringify(args);
}
