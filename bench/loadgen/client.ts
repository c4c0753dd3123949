// SPDX-License-Identifier: MIT
/**
 * The load generator's Electrum client: one TCP connection, newline-delimited
 * JSON-RPC 2.0, many requests in flight, every reply's latency recorded.
 *
 * It is deliberately small (no retries, no version translation) so that the
 * generator spends its CPU on the wire and not on bookkeeping.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';

/** Counters one worker keeps for one phase of a run; merged across workers by the coordinator. */
export class PhaseStats {
  readonly latency = new Histogram();
  requests = 0;
  /** JSON-RPC error answers. */
  errors = 0;
  /** Requests that got no answer: connection lost, timeout, refused connection. */
  failures = 0;
  ops = 0;
  notifications = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Reply line bytes and counts per method (used to size the echo baseline's answers). */
  readonly replyBytes = new Map<string, { n: number; bytes: number }>();
  /** A few distinct error messages, for the report. */
  readonly errorSamples = new Set<string>();

  noteError(message: string): void {
    if (this.errorSamples.size < 5) this.errorSamples.add(message.slice(0, 200));
  }

  toJSON(): PhaseStatsData {
    return {
      latency: this.latency.toJSON(),
      requests: this.requests,
      errors: this.errors,
      failures: this.failures,
      ops: this.ops,
      notifications: this.notifications,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      replyBytes: Object.fromEntries(this.replyBytes),
      errorSamples: [...this.errorSamples],
    };
  }
}

export interface PhaseStatsData {
  latency: ReturnType<Histogram['toJSON']>;
  requests: number;
  errors: number;
  failures: number;
  ops: number;
  notifications: number;
  bytesIn: number;
  bytesOut: number;
  replyBytes: Record<string, { n: number; bytes: number }>;
  errorSamples: string[];
}

export class RpcFailure extends Error {
  constructor(
    message: string,
    /** True for a JSON-RPC error answer, false for a lost connection or timeout. */
    readonly answered: boolean,
  ) {
    super(message);
  }
}

interface Pending {
  readonly method: string;
  readonly sentAt: number;
  readonly stats: PhaseStats;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: RpcFailure) => void;
}

export type NotificationHandler = (method: string, params: unknown, atMs: number) => void;

export class BenchConnection {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer = '';
  private closedError: RpcFailure | null = null;
  /** Stats that bytes and notifications are charged to; callers switch it between phases. */
  stats: PhaseStats;
  onNotification: NotificationHandler | null = null;
  /** Called once when the connection is gone. */
  onClose: (() => void) | null = null;

  private constructor(
    private readonly socket: net.Socket,
    stats: PhaseStats,
  ) {
    this.stats = stats;
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.failAll(new RpcFailure('connection closed', false)));
  }

  static connect(host: string, port: number, stats: PhaseStats, timeoutMs = 30_000): Promise<BenchConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RpcFailure(`connect timeout after ${timeoutMs} ms`, false));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new BenchConnection(socket, stats));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new RpcFailure(`connect: ${err.message}`, false));
      });
    });
  }

  get open(): boolean {
    return this.closedError === null;
  }

  /** Sends one request; resolves with its result, rejects with RpcFailure. Latency goes to `stats`. */
  call(method: string, params: readonly unknown[] = [], stats: PhaseStats = this.stats): Promise<unknown> {
    if (this.closedError) {
      stats.failures++;
      return Promise.reject(this.closedError);
    }
    const id = this.nextId++;
    const line = `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${JSON.stringify(params)}}\n`;
    stats.requests++;
    stats.bytesOut += line.length; // ASCII JSON: characters are bytes
    return new Promise((resolve, reject) => {
      this.pending.set(id, { method, sentAt: performance.now(), stats, resolve, reject });
      this.socket.write(line);
    });
  }

  /** Closes the connection; requests still in flight fail. */
  close(): void {
    this.socket.end();
    this.socket.destroySoon();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    let text = this.buffer.length === 0 ? chunk : this.buffer + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.length > 0) this.onLine(line);
    }
    this.buffer = start === 0 ? text : text.slice(start);
    text = '';
  }

  private onLine(line: string): void {
    const now = performance.now();
    // Bytes are counted as characters: every Electrum answer is ASCII JSON.
    const bytes = line.length + 1;
    let msg: { id?: unknown; result?: unknown; error?: { message?: unknown } | null; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      this.stats.bytesIn += bytes;
      this.stats.noteError(`unparseable line: ${line.slice(0, 80)}`);
      return;
    }
    if (Array.isArray(msg)) {
      this.stats.bytesIn += bytes;
      return;
    }
    if (typeof msg.method === 'string' && msg.id === undefined) {
      this.stats.bytesIn += bytes;
      this.stats.notifications++;
      this.onNotification?.(msg.method, msg.params, now);
      return;
    }
    const id = typeof msg.id === 'number' ? msg.id : Number(msg.id);
    const p = this.pending.get(id);
    if (!p) {
      this.stats.bytesIn += bytes;
      return;
    }
    this.pending.delete(id);
    const s = p.stats;
    s.bytesIn += bytes;
    s.latency.record((now - p.sentAt) * 1000);
    const rb = s.replyBytes.get(p.method);
    if (rb) {
      rb.n++;
      rb.bytes += bytes;
    } else {
      s.replyBytes.set(p.method, { n: 1, bytes });
    }
    if (msg.error !== undefined && msg.error !== null) {
      s.errors++;
      const text = `${p.method}: ${String(msg.error.message ?? JSON.stringify(msg.error))}`;
      s.noteError(text);
      p.reject(new RpcFailure(text, true));
    } else {
      p.resolve(msg.result);
    }
  }

  private failAll(err: RpcFailure): void {
    this.closedError ??= err;
    const onClose = this.onClose;
    this.onClose = null;
    onClose?.();
    for (const p of this.pending.values()) {
      p.stats.failures++;
      p.stats.noteError(`${p.method}: ${err.message}`);
      p.reject(err);
    }
    this.pending.clear();
  }
}
