// SPDX-License-Identifier: MIT
/**
 * Newline-delimited JSON-RPC on a raw (maybe TLS) stream: one RawConnection
 * per client, the session's transport, context and unsent-bytes holder in one
 * object.
 *
 * Idle sessions are most of a busy gateway's sessions, so what one holds is
 * kept small: no closures of its own (the stream's listeners are shared by
 * the listener's connections and find theirs by the stream), no framer
 * between lines, and the peer's address:port written out only when a log
 * line or the admin API needs it (docs/limits.md, "Memory per session").
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/types.js';
import type { CounterCell } from '../observability/batched-metrics.js';
import { LineFramer } from '../protocol/framing.js';
import type { OutputBuffer } from '../protocol/reply-encoder.js';
import type { SessionCost } from '../limits/session-cost.js';
import type { UnsentHolder } from '../limits/unsent-budget.js';
import type { ListenerDeps } from './listener.js';
import { ClientConnection } from './client-connection.js';
import { Session, type SessionContext, type SessionTransport } from './session.js';

/** How long a closed connection whose client does not read gets before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/** What every connection of one listener shares: its settings, its metric cells, and the stream listeners. */
export class RawDoor {
  /** Open connections by their stream: how the shared listeners below find theirs. */
  readonly open = new Map<Duplex, RawConnection>();
  /** The listener's byte counters, bound once. */
  readonly received: CounterCell;
  readonly sentBytes: CounterCell;
  /** Stream listeners shared by every connection: `this` is the stream. */
  readonly onData: (this: Duplex, chunk: Buffer) => void;
  readonly onDrain: (this: Duplex) => void;
  readonly onError: (this: Duplex, err: Error) => void;
  readonly onClose: (this: Duplex) => void;

  constructor(
    readonly config: ListenerConfig,
    readonly deps: ListenerDeps,
  ) {
    this.received = deps.metrics.bytesReceived.cell({ listener: config.url });
    this.sentBytes = deps.metrics.bytesSent.cell({ listener: config.url });
    const open = this.open;
    this.onData = function (chunk) {
      open.get(this)?.receive(chunk);
    };
    this.onDrain = function () {
      open.get(this)?.drained();
    };
    this.onError = function (err) {
      const c = open.get(this);
      if (c?.session.logs('debug')) c.session.log.debug({ err: err.message }, 'socket error');
    };
    this.onClose = function () {
      open.get(this)?.gone();
    };
  }

  /**
   * Serves a client on `stream` (the socket itself, or TLS or a PROXY-header wrapper over it).
   * A plain socket's connection (`stream` is `raw`) gives its admission slot back when it
   * closes; for a wrapper the caller gives it back when the socket underneath closes.
   */
  serve(stream: Duplex, raw: net.Socket, address: string, port: number, cost: SessionCost): RawConnection {
    const c = new RawConnection(this, stream, raw, address, port, cost);
    this.open.set(stream, c);
    this.deps.metrics.sessions.inc({ listener: this.config.url, transport: this.config.scheme });
    if (c.session.logs('debug')) c.session.log.debug('connection opened');
    stream.on('drain', this.onDrain);
    stream.on('data', this.onData);
    // A plain socket has the listener's error listener already (listener.ts); one is enough.
    if (stream !== raw) stream.on('error', this.onError);
    // A plain socket's close is seen by the listener's close listener, which hands it to onClose.
    if (stream !== raw) stream.on('close', this.onClose);
    // The socket was paused while a PROXY header was read; a 'data' listener alone does not restart it.
    stream.resume();
    return c;
  }

  /** Destroys every open connection's stream (a wrapper's socket underneath is the listener's to destroy). */
  destroyAll(): void {
    for (const stream of this.open.keys()) stream.destroy();
  }
}

export class RawConnection extends ClientConnection implements SessionTransport, SessionContext, UnsentHolder {
  readonly session: Session;
  /** The partial line being read; null between lines. */
  private framer: LineFramer | null = null;
  /** limits.max_line_bytes when the connection opened (a reload changes it for new connections). */
  private readonly maxLineBytes: number;
  /** Reading stops while answers wait to be written or lines wait in the session; it resumes when neither does. */
  private writeBlocked = false;

  constructor(
    protected override readonly door: RawDoor,
    private readonly stream: Duplex,
    private readonly raw: net.Socket,
    remoteAddress: string,
    port: number,
    cost: SessionCost,
  ) {
    super(door, remoteAddress, port, cost);
    this.maxLineBytes = door.deps.config.limits.maxLineBytes;
    this.session = new Session(door.deps, this);
  }

  /** Bytes read from the socket: counted (also those of a line refused as oversize or not valid JSON), framed, handed on. */
  receive(chunk: Buffer): void {
    this.door.received.inc(chunk.length);
    const framer = this.framer ?? new LineFramer(this.maxLineBytes);
    const events = framer.push(chunk);
    this.framer = framer.idle ? null : framer;
    for (const ev of events) {
      if (ev.kind === 'oversize') {
        this.session.rejectOversize(ev.bytes);
        return;
      }
      this.session.receiveLine(ev.line);
    }
  }

  write(out: OutputBuffer): void {
    const { stream, door } = this;
    if (!stream.writable) {
      out.clear();
      return;
    }
    const { deps } = door;
    // What the client has not taken, and what this turn puts before its last answer (see bytesBeforeLast).
    if (this.cutIfSlowReader(this.unsent() + out.bytesBeforeLast)) {
      out.clear();
      return;
    }
    // One write for the whole turn, however many answers it holds: corked, its chunks go out in one writev.
    const chunks = out.takeChunks();
    let room = true;
    if (chunks.length > 1) stream.cork();
    for (const c of chunks) room = stream.write(c);
    if (chunks.length > 1) stream.uncork();
    if (!room) {
      this.writeBlocked = true;
      stream.pause();
    }
    deps.unsent.note(this, this.unsent());
  }

  close(reason: string): void {
    if (this.session.logs('info')) this.session.log.info({ reason }, 'closing connection');
    this.stream.end();
    // A client that never reads would keep the socket half-open forever.
    setTimeout(destroy, CLOSE_GRACE_MS, this.stream).unref();
  }

  pauseReading(): void {
    this.stream.pause();
  }

  resumeReading(): void {
    if (!this.writeBlocked && !this.session.backlogged) this.stream.resume();
  }

  /** The client took what was queued for it. */
  drained(): void {
    this.writeBlocked = false;
    this.door.deps.unsent.note(this, this.unsent());
    this.resumeReading();
  }

  unsent(): number {
    const { stream, raw } = this;
    // A wrapper's own writableLength says nothing of what the socket underneath still holds.
    return stream === raw ? raw.writableLength : stream.writableLength + raw.writableLength;
  }

  protected drop(): void {
    this.stream.destroy();
  }

  /** The stream closed. */
  gone(): void {
    const { door } = this;
    // Once: the door forgets the connection here, and the shared close listeners find it there.
    if (!door.open.delete(this.stream)) return;
    // Whether the seat is the connection's to give back follows from the streams (see serve), not a field of its own.
    if (this.stream === this.raw) door.deps.admission.release(this.cost.group);
    this.ended('connection closed');
  }
}

function destroy(stream: Duplex): void {
  stream.destroy();
}
