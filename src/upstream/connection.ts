// SPDX-License-Identifier: MIT
/**
 * One multiplexed JSON-RPC connection to an upstream Electrum server.
 *
 * It opens with server.version (ElectrumX refuses anything else first), checks
 * server.features' genesis hash against the configured network, then carries
 * requests from many wallets with ids of its own. Parsing is tolerant of what
 * real servers send: "\r\n" endings, several replies in one packet, and the
 * spaces ElectrumX pads its JSON with.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { LineFramer } from '../protocol/framing.js';
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import type { Logger } from '../observability/logger.js';

export interface UpstreamEndpoint {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export interface UpstreamConnectionOptions {
  /** Our name in server.version's client_name; never the wallet's. */
  readonly clientName: string;
  /** The [min, max] protocol range we ask for. */
  readonly protocolRange: readonly [string, string];
  /** Genesis hash (display hex) the upstream must report; anything else is the wrong network. */
  readonly genesisHash: string;
  readonly connectTimeoutMs: number;
  /** Largest reply line accepted from the upstream. */
  readonly maxLineBytes: number;
  readonly logger: Logger;
}

/** Why a connection failed; lets the pool tell a dead server from a misconfigured one. */
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
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

export interface UpstreamConnectionEvents {
  notification: [method: string, params: unknown[]];
  close: [reason: Error | null];
}

export class UpstreamConnection extends EventEmitter<UpstreamConnectionEvents> {
  private socket: net.Socket | null = null;
  private readonly framer: LineFramer;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** The version the upstream agreed to speak; set once connected. */
  version: string | null = null;
  serverSoftware: string | null = null;
  features: Record<string, unknown> | null = null;

  constructor(
    readonly endpoint: UpstreamEndpoint,
    private readonly opts: UpstreamConnectionOptions,
  ) {
    super();
    this.framer = new LineFramer(opts.maxLineBytes);
  }

  get name(): string {
    return this.endpoint.name;
  }

  get isOpen(): boolean {
    return !this.closed && this.socket !== null && this.version !== null;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Connects, negotiates the version and checks the network. Rejects with UpstreamError. */
  async open(): Promise<void> {
    await this.connectSocket();
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

  private connectSocket(): Promise<void> {
    return new Promise((resolve, reject) => {
      const { host, port } = this.endpoint;
      const socket = net.connect({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new UpstreamError('connect', `connect to ${host}:${port} timed out`, true));
      }, this.opts.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setKeepAlive(true, 30_000);
        this.socket = socket;
        socket.on('data', (chunk: Buffer) => this.onData(chunk));
        socket.on('close', () => this.shutdown(new UpstreamError('closed', 'upstream closed the connection')));
        socket.on('error', (err) => this.shutdown(new UpstreamError('closed', `upstream socket error: ${err.message}`)));
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new UpstreamError('connect', `cannot connect to ${host}:${port}: ${err.message}`, true));
      });
    });
  }

  /** Sends one request; the promise settles with the result or rejects with RpcError (the server's answer) or UpstreamError. */
  request(method: string, params: readonly unknown[], timeoutMs: number): Promise<unknown> {
    if (this.closed || this.socket === null) {
      return Promise.reject(new UpstreamError('closed', 'upstream connection is closed', true));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const entry: Pending = { method, resolve, reject, timer: null };
      entry.timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new UpstreamError('timeout', `${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, entry);
      this.socket!.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  private onData(chunk: Buffer): void {
    for (const ev of this.framer.push(chunk)) {
      if (ev.kind === 'oversize') {
        this.fail(new UpstreamError('protocol', `upstream sent a line over ${this.opts.maxLineBytes} bytes`));
        return;
      }
      // ElectrumX pads with spaces; a blank line is padding, not a message.
      const text = ev.line.toString('utf8').trim();
      if (text.length === 0) continue;
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        this.fail(new UpstreamError('protocol', 'upstream sent invalid JSON'));
        return;
      }
      for (const m of Array.isArray(msg) ? msg : [msg]) this.onMessage(m);
    }
  }

  private onMessage(msg: unknown): void {
    if (msg === null || typeof msg !== 'object') return;
    const m = msg as Record<string, unknown>;
    if (typeof m.method === 'string' && (m.id === undefined || m.id === null)) {
      this.emit('notification', m.method, Array.isArray(m.params) ? m.params : []);
      return;
    }
    if (typeof m.id !== 'number') return;
    const entry = this.pending.get(m.id);
    if (!entry) return; // a reply after its timeout
    this.pending.delete(m.id);
    if (entry.timer) clearTimeout(entry.timer);
    if ('error' in m && m.error !== null && m.error !== undefined) entry.reject(RpcError.from(m.error));
    else entry.resolve(m.result);
  }

  private fail(err: UpstreamError): UpstreamError {
    this.opts.logger.warn({ upstream: this.name, err: err.message, kind: err.kind }, 'upstream connection failed');
    this.shutdown(err);
    return err;
  }

  private shutdown(reason: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(reason ?? new UpstreamError('closed', 'upstream connection closed'));
    }
    this.pending.clear();
    this.emit('close', reason);
  }

  close(): void {
    this.shutdown(null);
  }
}

/** True for errors that mean "this upstream failed", as opposed to a definitive answer from it. */
export function isUpstreamFailure(err: unknown): boolean {
  if (err instanceof UpstreamError) return true;
  return err instanceof RpcError && (err.code === ErrorCode.INTERNAL_ERROR || err.code === ErrorCode.SERVER_BUSY);
}
