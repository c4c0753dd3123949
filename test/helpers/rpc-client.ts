// SPDX-License-Identifier: MIT
/**
 * A small newline-delimited JSON-RPC client over a real TCP socket, for tests.
 *
 *  - request(method, params) resolves with the result or rejects with an
 *    RpcCallError carrying the server's code, message and data;
 *  - batch(items) sends one JSON array and resolves with the array that comes back;
 *  - sendRaw(bytes) writes anything at all; replies nobody waits for (id null,
 *    ids of raw requests) are queued for nextUnmatched();
 *  - server notifications are collected and can be awaited;
 *  - `closed` settles when the server hangs up.
 *
 * Ids are matched by value and type ("1" is not 1), so a server that changes
 * an id's type makes request() time out rather than pass silently.
 */
import net from 'node:net';

export type RpcId = string | number;

export class RpcCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcCallError';
  }
}

/** The JSON-RPC error a call ends with; fails the test if it succeeds or fails otherwise. */
export async function rpcErrorOf(p: Promise<unknown>): Promise<RpcCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcCallError) return err;
    throw err;
  }
  throw new Error('expected a JSON-RPC error, got an answer');
}

export interface Notification {
  readonly method: string;
  readonly params: unknown[];
}

export interface BatchItem {
  readonly method: string;
  readonly params?: unknown;
  /** Omitted: the client picks one. null: sent as a notification (no id). */
  readonly id?: RpcId | null;
}

interface Waiter<T> {
  readonly accept: (value: T) => boolean;
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 5_000;

const key = (id: unknown): string => JSON.stringify(id);

export class RpcClient {
  /** Every message received, in order. */
  readonly received: unknown[] = [];
  /** Every server notification received, in order. */
  readonly notifications: Notification[] = [];
  /** Settles when the connection is closed by either side. */
  readonly closed: Promise<void>;
  isClosed = false;

  private readonly pending = new Map<string, { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private readonly pendingBatches: { ids: Set<string>; resolve: (m: unknown[]) => void; reject: (e: Error) => void }[] = [];
  private readonly unmatched: unknown[] = [];
  private readonly unmatchedWaiters: Waiter<unknown>[] = [];
  private readonly notificationWaiters: Waiter<Notification>[] = [];
  private nextId = 1;
  private buffer = '';

  private constructor(
    private readonly socket: net.Socket,
    readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.isClosed = true;
        const err = new Error('connection closed');
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        for (const b of this.pendingBatches.splice(0)) b.reject(err);
        for (const w of this.unmatchedWaiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(err);
        }
        for (const w of this.notificationWaiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(err);
        }
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  /** localAddress: the source address to connect from (e.g. 127.0.0.3, to look like another host). */
  static connect(port: number, host = '127.0.0.1', timeoutMs = DEFAULT_TIMEOUT_MS, localAddress?: string): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, ...(localAddress !== undefined ? { localAddress } : {}) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RpcClient(socket, timeoutMs));
      });
      socket.once('error', reject);
    });
  }

  /** Sends a request and waits for its answer. */
  async request(method: string, params: unknown = [], opts: { id?: RpcId; timeoutMs?: number } = {}): Promise<unknown> {
    const reply = await this.call(method, params, opts);
    if ('error' in reply && reply.error !== null && reply.error !== undefined) {
      const e = reply.error as { code?: unknown; message?: unknown; data?: unknown };
      throw new RpcCallError(typeof e.code === 'number' ? e.code : NaN, String(e.message), e.data);
    }
    return reply.result;
  }

  /** Sends a request and resolves with the whole reply object (result or error). */
  call(method: string, params: unknown = [], opts: { id?: RpcId; timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    const id = opts.id ?? this.nextId++;
    const k = key(id);
    if (this.pending.has(k)) return Promise.reject(new Error(`id ${k} is already in flight`));
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(k);
        reject(new Error(`no reply to ${method} (id ${k}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(k, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.write({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** Sends a notification (a request without id): the server must not answer. */
  notify(method: string, params: unknown = []): void {
    this.write({ jsonrpc: '2.0', method, params });
  }

  /**
   * Sends one batch and resolves with the array the server sends back (in the
   * server's order). Items with id null are notifications. A batch with no ids
   * at all gets no reply, so this rejects with a timeout for it.
   */
  batch(items: readonly BatchItem[], timeoutMs = this.timeoutMs): Promise<unknown[]> {
    const wire = items.map((it) => {
      const id = it.id === undefined ? this.nextId++ : it.id;
      return id === null ? { jsonrpc: '2.0', method: it.method, params: it.params ?? [] } : { jsonrpc: '2.0', id, method: it.method, params: it.params ?? [] };
    });
    const ids = new Set(wire.filter((w): w is (typeof wire)[number] & { id: RpcId } => 'id' in w).map((w) => key(w.id)));
    return new Promise((resolve, reject) => {
      const entry = {
        ids,
        resolve: (m: unknown[]) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const i = this.pendingBatches.indexOf(entry);
        if (i !== -1) this.pendingBatches.splice(i, 1);
        reject(new Error(`no reply to batch within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingBatches.push(entry);
      this.write(wire);
    });
  }

  /** Writes bytes exactly as given (add the newline yourself). */
  sendRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next message that answered nothing this client waits for (replies to raw sends, id-null errors). */
  nextUnmatched(timeoutMs = this.timeoutMs): Promise<unknown> {
    const queued = this.unmatched.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return this.addWaiter(this.unmatchedWaiters, () => true, timeoutMs, 'an unsolicited message');
  }

  /** Messages that arrived unmatched and were not yet taken by nextUnmatched(). */
  get unmatchedCount(): number {
    return this.unmatched.length;
  }

  /**
   * Resolves with the first notification of `method` whose params satisfy
   * `accept`, looking first at those already received from index `since`
   * (default 0, i.e. all of them), then waiting for new ones.
   */
  waitForNotification(method: string, accept: (params: unknown[]) => boolean = () => true, opts: { since?: number; timeoutMs?: number } = {}): Promise<Notification> {
    const since = opts.since ?? 0;
    const match = (n: Notification): boolean => n.method === method && accept(n.params);
    const found = this.notifications.slice(since).find(match);
    if (found) return Promise.resolve(found);
    return this.addWaiter(this.notificationWaiters, match, opts.timeoutMs ?? this.timeoutMs, `a ${method} notification`);
  }

  /** Polls `predicate` until true or the timeout; for state that changes without a message. */
  static async until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = 10): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Closes our side and waits for the socket to be gone. */
  async close(): Promise<void> {
    if (!this.isClosed) this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 500);
    await this.closed;
    clearTimeout(timer);
  }

  /** Drops the connection at once (RST-like). */
  destroy(): void {
    this.socket.destroy();
  }

  private addWaiter<T>(list: Waiter<T>[], accept: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter<T> = {
        accept,
        resolve: (v) => {
          clearTimeout(waiter.timer);
          resolve(v);
        },
        reject,
        timer: setTimeout(() => {
          const i = list.indexOf(waiter);
          if (i !== -1) list.splice(i, 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs),
      };
      list.push(waiter);
    });
  }

  private write(message: unknown): void {
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      const text = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (text.trim() === '') continue;
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        msg = { unparsable: text };
      }
      this.received.push(msg);
      this.dispatch(msg);
    }
  }

  private dispatch(msg: unknown): void {
    if (Array.isArray(msg)) {
      const ids = msg.map((m) => key((m as { id?: unknown })?.id));
      const i = this.pendingBatches.findIndex((b) => ids.some((id) => b.ids.has(id)));
      if (i !== -1) {
        const [b] = this.pendingBatches.splice(i, 1);
        b!.resolve(msg);
        return;
      }
      this.pushUnmatched(msg);
      return;
    }
    const m = msg as Record<string, unknown>;
    if (m !== null && typeof m === 'object' && typeof m.method === 'string' && !('id' in m && m.id !== null)) {
      const n: Notification = { method: m.method, params: Array.isArray(m.params) ? m.params : [] };
      this.notifications.push(n);
      const i = this.notificationWaiters.findIndex((w) => w.accept(n));
      if (i !== -1) {
        const [w] = this.notificationWaiters.splice(i, 1);
        w!.resolve(n);
      }
      return;
    }
    if (m !== null && typeof m === 'object' && 'id' in m) {
      const p = this.pending.get(key(m.id));
      if (p) {
        this.pending.delete(key(m.id));
        p.resolve(m);
        return;
      }
    }
    this.pushUnmatched(msg);
  }

  private pushUnmatched(msg: unknown): void {
    const w = this.unmatchedWaiters.shift();
    if (w) w.resolve(msg);
    else this.unmatched.push(msg);
  }
}

/** Opens a client and negotiates a version in one step; returns the client and the negotiated version. */
export async function connectNegotiated(port: number, protocol: unknown = ['1.4', '1.6'], clientName = 'test-client'): Promise<{ client: RpcClient; version: string }> {
  const client = await RpcClient.connect(port);
  const reply = (await client.request('server.version', [clientName, protocol])) as [string, string];
  return { client, version: reply[1] };
}
