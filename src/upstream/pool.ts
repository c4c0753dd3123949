// SPDX-License-Identifier: MIT
/**
 * Keeps one connection open to every configured upstream, reconnecting with
 * jittered exponential backoff, and hands out an open one on request.
 * (Health scoring, lag-aware selection and several connections per upstream
 * arrive with the pool issue; this is the walking skeleton's version.)
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger.js';
import { UpstreamConnection, UpstreamError, type UpstreamConnectionOptions, type UpstreamEndpoint } from './connection.js';

export type UpstreamState = 'connecting' | 'ready' | 'down' | 'wrong-network' | 'closed';

export interface PoolOptions extends Omit<UpstreamConnectionOptions, 'logger'> {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface PoolEvents {
  /** A connection finished its handshake and can carry requests. */
  ready: [conn: UpstreamConnection];
  /** A connection that was ready went away. */
  lost: [conn: UpstreamConnection];
  notification: [conn: UpstreamConnection, method: string, params: unknown[]];
}

class Slot {
  state: UpstreamState = 'connecting';
  conn: UpstreamConnection | null = null;
  failures = 0;
  timer: NodeJS.Timeout | null = null;
  constructor(readonly endpoint: UpstreamEndpoint) {}
}

export class UpstreamPool extends EventEmitter<PoolEvents> {
  private readonly slots: Slot[];
  private closed = false;
  private next = 0;

  constructor(
    endpoints: readonly UpstreamEndpoint[],
    private readonly opts: PoolOptions,
    private readonly logger: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    this.slots = endpoints.map((e) => new Slot(e));
  }

  start(): void {
    for (const slot of this.slots) void this.connect(slot);
  }

  /** Each upstream's name and state, for logs and /status. */
  states(): { name: string; state: UpstreamState; version: string | null }[] {
    return this.slots.map((s) => ({ name: s.endpoint.name, state: s.state, version: s.conn?.version ?? null }));
  }

  /** Open connections, in configured order. */
  ready(): UpstreamConnection[] {
    return this.slots.filter((s) => s.state === 'ready' && s.conn?.isOpen).map((s) => s.conn!);
  }

  /**
   * An open connection, waiting until `deadline` (epoch ms) for one to come up.
   * Picks round-robin among the open ones, skipping `exclude`.
   */
  async acquire(deadline: number, exclude: ReadonlySet<UpstreamConnection> = new Set()): Promise<UpstreamConnection> {
    for (;;) {
      const open = this.ready().filter((c) => !exclude.has(c));
      if (open.length > 0) {
        const conn = open[this.next++ % open.length]!;
        return conn;
      }
      const wait = deadline - Date.now();
      if (this.closed || wait <= 0) throw new UpstreamError('connect', 'no upstream server is available', true);
      await new Promise<void>((resolve) => {
        const onReady = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.off('ready', onReady);
          resolve();
        }, wait);
        this.once('ready', onReady);
      });
    }
  }

  private async connect(slot: Slot): Promise<void> {
    if (this.closed) return;
    slot.state = 'connecting';
    const log = this.logger.child({ upstream: slot.endpoint.name });
    const conn = new UpstreamConnection(slot.endpoint, { ...this.opts, logger: log });
    slot.conn = conn;
    try {
      await conn.open();
    } catch (err) {
      conn.close();
      const wrongNetwork = err instanceof UpstreamError && err.kind === 'wrong-network';
      slot.state = wrongNetwork ? 'wrong-network' : 'down';
      slot.failures++;
      const delay = this.backoff(slot.failures);
      log[slot.failures === 1 || wrongNetwork ? 'warn' : 'debug'](
        { err: (err as Error).message, retryInMs: delay, failures: slot.failures },
        wrongNetwork ? 'upstream is on the wrong network; not routing to it' : 'upstream unavailable',
      );
      this.schedule(slot, delay);
      return;
    }
    if (this.closed) {
      conn.close();
      return;
    }
    slot.failures = 0;
    slot.state = 'ready';
    log.info({ version: conn.version, software: conn.serverSoftware }, 'upstream ready');
    conn.on('notification', (method, params) => this.emit('notification', conn, method, params));
    conn.once('close', (reason) => {
      if (this.closed) return;
      slot.state = 'down';
      log.warn({ err: reason?.message ?? 'closed' }, 'upstream connection lost');
      this.emit('lost', conn);
      this.schedule(slot, this.backoff(1));
    });
    this.emit('ready', conn);
  }

  private schedule(slot: Slot, delay: number): void {
    if (this.closed) return;
    slot.timer = setTimeout(() => {
      slot.timer = null;
      void this.connect(slot);
    }, delay);
  }

  /** Exponential backoff with full jitter, so a restarted server is not hit by every gateway at once. */
  private backoff(failures: number): number {
    const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** Math.min(failures - 1, 16));
    return Math.round(cap / 2 + (Math.random() * cap) / 2);
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.state = 'closed';
      slot.conn?.close();
    }
  }
}
