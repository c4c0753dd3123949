// SPDX-License-Identifier: MIT
/**
 * What a client connection is whatever its transport (raw TCP/TLS in
 * raw-connection.ts, WebSocket in ws-connection.ts): the session's context
 * (listener, byte counter, peer), and the two ways the gateway cuts a client
 * for output it does not take (max_unsent_bytes for the one session,
 * max_unsent_bytes_total for all of them). The transport says how many bytes
 * it still holds and how it is dropped.
 */
import type { ListenerConfig } from '../config/types.js';
import type { SessionCost } from '../limits/session-cost.js';
import type { CounterCell } from '../observability/batched-metrics.js';
import type { ListenerDeps } from './listener.js';
import type { Session } from './session.js';

/** What one listener's transport shares with each of its connections. */
export interface Door {
  readonly config: ListenerConfig;
  readonly deps: ListenerDeps;
  readonly sentBytes: CounterCell;
}

export abstract class ClientConnection {
  abstract readonly session: Session;

  constructor(
    protected readonly door: Door,
    readonly remoteAddress: string,
    private readonly port: number,
    readonly cost: SessionCost,
  ) {}

  get listener(): string {
    return this.door.config.url;
  }

  get sentBytes(): CounterCell {
    return this.door.sentBytes;
  }

  get peer(): string {
    return `${this.remoteAddress}:${this.port}`;
  }

  /** Bytes written but not yet taken by the client. */
  abstract unsent(): number;

  /** Ends the connection at once; what it had not sent is dropped. */
  protected abstract drop(): void;

  /**
   * The client has not taken `unsent` bytes (what it holds plus what this turn
   * puts before its last answer): over max_unsent_bytes it is cut, and this
   * returns true.
   */
  protected cutIfSlowReader(unsent: number): boolean {
    const { deps } = this.door;
    if (unsent <= deps.config.limits.maxUnsentBytes) return false;
    deps.metrics.disconnects.inc({ reason: 'slow_reader' });
    this.session.log.warn({ unsentBytes: unsent }, 'client is not reading its answers; disconnecting');
    this.drop();
    return true;
  }

  /** The unsent-bytes budget of all sessions picked this one among the largest holders. */
  cut(totalBytes: number): void {
    const { deps } = this.door;
    deps.metrics.disconnects.inc({ reason: 'unsent_total' });
    this.session.log.warn(
      { unsentBytes: this.unsent(), totalUnsentBytes: totalBytes, maxUnsentBytesTotal: deps.config.limits.maxUnsentBytesTotal },
      'unsent output of all sessions over max_unsent_bytes_total; disconnecting one of the largest holders',
    );
    this.drop();
  }

  /** The connection is gone: out of the unsent-bytes budget and the sessions gauge, its session detached. */
  protected ended(logLine: string): void {
    const { deps, config } = this.door;
    deps.unsent.remove(this);
    deps.metrics.sessions.dec({ listener: config.url, transport: config.scheme });
    this.session.detach();
    if (this.session.logs('debug')) this.session.log.debug(logLine);
  }
}
