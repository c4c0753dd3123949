// SPDX-License-Identifier: MIT
/**
 * One multiplexed JSON-RPC connection to an upstream Electrum server.
 *
 * It opens with server.version (ElectrumX refuses anything else first), checks
 * server.features' genesis hash against the configured network, then carries
 * requests from many wallets with ids of its own. Parsing is tolerant of what
 * real servers send: "\r\n" endings, batches, and the spaces ElectrumX pads
 * its JSON with.
 */
import { EventEmitter } from 'node:events';
import { RpcError } from '../protocol/jsonrpc.js';
import type { Logger } from '../observability/logger.js';
import { DeadlineQueue } from './deadlines.js';
import { isPaddedReply, readUpstreamLine } from './replies.js';
import { openChannel, type MessageChannel, type TransportTarget } from './transport.js';

export interface UpstreamEndpoint extends TransportTarget {
  readonly name: string;
}

export interface UpstreamConnectionOptions {
  /** Our name in server.version's client_name; never the wallet's. */
  readonly clientName: string;
  /** The [min, max] protocol range we ask for. */
  readonly protocolRange: readonly [string, string];
  /** Genesis hash (display hex) the upstream must report; anything else is the wrong network. */
  readonly genesisHash: string;
  readonly connectTimeoutMs: number;
  /** Largest reply accepted from the upstream. */
  readonly maxMessageBytes: number;
  /**
   * Requests written and not yet answered, at most; later ones wait here, in order, within
   * their own timeout. A server processes a session's requests a few at a time (ElectrumX
   * 10 at first, fewer as its cost climbs) and may hang up on one that floods it.
   */
  readonly maxInFlight?: number;
  readonly logger: Logger;
}

/** Requests one connection has written and not yet had answered, unless configured (upstream option max_in_flight). */
export const DEFAULT_MAX_IN_FLIGHT = 100;

/** Why a request or connection failed; lets the pool tell a dead server from a misconfigured one. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'connect' | 'closed' | 'timeout' | 'protocol' | 'wrong-network',
    message: string,
    /** True when the request was certainly not written to the upstream (safe to send elsewhere even if not idempotent). */
    readonly notSent = false,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

interface Pending {
  readonly method: string;
  /** Kept until it is written: a request waiting for a free slot is sent later. */
  params: readonly unknown[] | null;
  readonly started: number;
  readonly timeoutMs: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  /** The caller takes a large result as the upstream's bytes (RawJson): see replies.ts. */
  readonly raw: boolean;
}

export interface RequestOutcome {
  readonly method: string;
  readonly ms: number;
  /** 'ok', 'error' (the server answered with an error), or the failure kind. */
  readonly result: 'ok' | 'error' | UpstreamError['kind'];
}

export interface UpstreamConnectionEvents {
  notification: [method: string, params: unknown[]];
  /** Every finished request, for health accounting and metrics. */
  outcome: [outcome: RequestOutcome];
  close: [reason: Error | null];
}

export class UpstreamConnection extends EventEmitter<UpstreamConnectionEvents> {
  private channel: MessageChannel | null = null;
  private readonly pending = new Map<number, Pending>();
  /** Requests waiting for a slot under maxInFlight, oldest first (a Map keeps insertion order). */
  private readonly waiting = new Map<number, Pending>();
  private nextId = 1;
  /** Requests sent or waiting that take a raw result; while none do, lines are parsed whole, never scanned. */
  private rawWaiting = 0;
  private readonly wantsRaw = (id: number): boolean => this.pending.get(id)?.raw === true;
  private closed = false;
  /** Every request's timeout on one timer (deadlines.ts), not a setTimeout per request. */
  private readonly deadlines = new DeadlineQueue({
    isLive: (id) => this.pending.has(id) || this.waiting.has(id),
    expire: (id) => this.timeOut(id),
  });
  /** The version the upstream agreed to speak; set once the handshake is done. */
  version: string | null = null;
  /**
   * True once the upstream is seen padding its replies (ElectrumX 1.18+ on
   * TCP/TLS). Such a server holds a small reply up to a second unless 1 KiB is
   * waiting, so each request then goes out in a batch with a filler request
   * whose ~1.2 KB answer makes it send at once.
   */
  padded = false;
  private fillers = 0;
  /** When (performance.now) the last reply came: proof of life that a late ping cannot outweigh. */
  private lastReplyAt = -Infinity;
  serverSoftware: string | null = null;
  features: Record<string, unknown> | null = null;

  constructor(
    readonly endpoint: UpstreamEndpoint,
    private readonly opts: UpstreamConnectionOptions,
  ) {
    super();
  }

  get name(): string {
    return this.endpoint.name;
  }

  get isOpen(): boolean {
    return !this.closed && this.channel !== null && this.version !== null;
  }

  /** Whether a reply (to anything) came after `since` (performance.now): the server is reading and answering. */
  repliedSince(since: number): boolean {
    return this.lastReplyAt > since;
  }

  /** Requests sent or waiting to be: the load the pool balances on. */
  get inFlight(): number {
    return this.pending.size + this.waiting.size;
  }

  /** Connects, negotiates the version and checks the network. Rejects with UpstreamError or the server's RpcError. */
  async open(): Promise<void> {
    try {
      this.channel = await openChannel(this.endpoint, {
        connectTimeoutMs: this.opts.connectTimeoutMs,
        maxMessageBytes: this.opts.maxMessageBytes,
      });
    } catch (err) {
      this.closed = true;
      throw new UpstreamError('connect', (err as Error).message, true);
    }
    this.channel.on('message', (line) => {
      if (!this.padded && isPaddedReply(line)) {
        this.padded = this.endpoint.scheme === 'tcp' || this.endpoint.scheme === 'tls';
        if (this.padded) this.opts.logger.info('upstream pads its replies (ElectrumX 1.18+); sending a filler with each request so small replies are not held');
      }
      this.onLine(line);
    });
    this.channel.on('close', (err) => this.shutdown(err ? new UpstreamError('closed', err.message) : null));
    const timeout = this.opts.connectTimeoutMs;
    const reply = await this.request('server.version', [this.opts.clientName, [...this.opts.protocolRange]], timeout);
    if (!Array.isArray(reply) || typeof reply[1] !== 'string') {
      throw this.fail(new UpstreamError('protocol', `server.version answered ${JSON.stringify(reply)}`));
    }
    this.serverSoftware = typeof reply[0] === 'string' ? reply[0] : null;
    const features = await this.request('server.features', [], timeout);
    if (features === null || typeof features !== 'object') {
      throw this.fail(new UpstreamError('protocol', 'server.features did not return an object'));
    }
    this.features = features as Record<string, unknown>;
    const genesis = this.features.genesis_hash;
    if (genesis !== this.opts.genesisHash) {
      throw this.fail(
        new UpstreamError('wrong-network', `upstream genesis_hash ${String(genesis)} is not the configured network's ${this.opts.genesisHash}`),
      );
    }
    this.version = reply[1];
  }

  /**
   * Sends one request; settles with the result, or rejects with RpcError (the server's answer) or UpstreamError.
   * `raw`: the caller passes the result on untouched, so a large one may settle as RawJson (replies.ts).
   */
  request(method: string, params: readonly unknown[], timeoutMs: number, raw = false): Promise<unknown> {
    if (this.closed || this.channel === null) {
      return Promise.reject(new UpstreamError('closed', 'upstream connection is closed', true));
    }
    const id = this.nextId++;
    // The promise's executor and its two functions are the one closure left per request.
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const entry: Pending = { method, params, started, timeoutMs, resolve, reject, raw };
      if (raw) this.rawWaiting++;
      this.deadlines.add(id, started + timeoutMs);
      if (this.pending.size >= this.maxInFlight) this.waiting.set(id, entry);
      else this.write(id, entry);
    });
  }

  /** A request's deadline passed before its answer came. */
  private timeOut(id: number): void {
    const waiting = this.waiting.get(id);
    if (waiting) {
      this.waiting.delete(id);
      this.deadlines.settled();
      if (waiting.raw) this.rawWaiting--;
      this.report(waiting, 'timeout');
      waiting.reject(new UpstreamError('timeout', `${waiting.method} timed out after ${waiting.timeoutMs} ms waiting for one of ${this.maxInFlight} request slots`, true));
      return;
    }
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    this.deadlines.settled();
    if (entry.raw) this.rawWaiting--;
    this.report(entry, 'timeout');
    entry.reject(new UpstreamError('timeout', `${entry.method} timed out after ${entry.timeoutMs} ms`));
    this.sendWaiting();
  }

  private get maxInFlight(): number {
    return this.opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  private write(id: number, entry: Pending): void {
    // Written as text around the params' JSON (the members in JSON.stringify's order of the object
    // it replaced): no object per request, and the method's quoted name is made once.
    const message = `{"jsonrpc":"2.0","id":${id},"method":${quotedMethod(entry.method)},"params":${JSON.stringify(entry.params)}}`;
    entry.params = null;
    this.pending.set(id, entry);
    // With several requests in flight the server's buffer fills by itself; the filler is for the lone request.
    if (this.padded && this.pending.size <= FILLER_MAX_IN_FLIGHT) {
      this.channel!.send(`[${message},${JSON.stringify({ jsonrpc: '2.0', id: `filler-${++this.fillers}`, method: 'blockchain.block.headers', params: [0, FILLER_HEADERS] })}]`);
    } else {
      this.channel!.send(message);
    }
  }

  /** Writes waiting requests while slots are free. */
  private sendWaiting(): void {
    if (this.closed) return;
    for (const [id, entry] of this.waiting) {
      if (this.pending.size >= this.maxInFlight) return;
      this.waiting.delete(id);
      this.write(id, entry);
    }
  }

  private onLine(line: Buffer): void {
    const messages = readUpstreamLine(line, this.rawWaiting > 0 ? this.wantsRaw : null);
    if (messages === null) {
      this.fail(new UpstreamError('protocol', 'upstream sent invalid JSON'));
      return;
    }
    for (const m of messages) this.onMessage(m);
  }

  private onMessage(msg: unknown): void {
    if (msg === null || typeof msg !== 'object') return;
    const m = msg as Record<string, unknown>;
    if (typeof m.method === 'string' && (m.id === undefined || m.id === null)) {
      this.emit('notification', m.method, Array.isArray(m.params) ? m.params : []);
      return;
    }
    if (typeof m.id !== 'number') return;
    const now = performance.now();
    this.lastReplyAt = now;
    const entry = this.pending.get(m.id);
    if (!entry) return; // a reply after its timeout
    this.pending.delete(m.id);
    this.deadlines.settled();
    if (entry.raw) this.rawWaiting--;
    if (this.waiting.size > 0) this.sendWaiting();
    if ('error' in m && m.error !== null && m.error !== undefined) {
      this.report(entry, 'error', now);
      entry.reject(RpcError.from(m.error));
    } else {
      this.report(entry, 'ok', now);
      entry.resolve(m.result);
    }
  }

  private report(entry: Pending, result: RequestOutcome['result'], now = performance.now()): void {
    this.emit('outcome', { method: entry.method, ms: now - entry.started, result });
  }

  private fail(err: UpstreamError): UpstreamError {
    this.opts.logger.warn({ err: err.message, kind: err.kind }, 'upstream connection failed');
    this.shutdown(err);
    return err;
  }

  private shutdown(reason: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.channel?.close();
    this.deadlines.clear();
    for (const [, p] of this.pending) {
      this.report(p, 'closed');
      p.reject(reason ?? new UpstreamError('closed', 'upstream connection closed'));
    }
    this.pending.clear();
    // Never written: safe to send elsewhere, broadcasts included.
    for (const [, p] of this.waiting) {
      this.report(p, 'closed');
      p.reject(new UpstreamError('closed', 'upstream connection closed before the request was sent', true));
    }
    this.waiting.clear();
    this.rawWaiting = 0;
    this.emit('close', reason);
  }

  close(): void {
    this.shutdown(null);
  }
}

/** Seven headers (1,120 hex characters) fill ElectrumX's 1 KiB send threshold; block 0-6 never change. */
const FILLER_HEADERS = 7;
const FILLER_MAX_IN_FLIGHT = 4;

/** Method names the gateway sends, quoted for JSON: a handful of protocol names, so the map stays small. */
const QUOTED_METHODS = new Map<string, string>();
const MAX_QUOTED_METHODS = 256;

function quotedMethod(method: string): string {
  let q = QUOTED_METHODS.get(method);
  if (q === undefined) {
    q = JSON.stringify(method);
    if (QUOTED_METHODS.size < MAX_QUOTED_METHODS) QUOTED_METHODS.set(method, q);
  }
  return q;
}
