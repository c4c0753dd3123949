// SPDX-License-Identifier: MIT
/**
 * JSON-RPC over WebSocket, one message (or batch) per text frame: one
 * WsConnection per client after the upgrade, the session's transport, context
 * and unsent-bytes holder in one object. As for raw connections
 * (raw-connection.ts), the WebSocket's listeners are shared by the listener's
 * connections, which are found by their WebSocket.
 */
import type { WebSocket } from 'ws';
import type { ListenerConfig } from '../config/types.js';
import type { CounterCell } from '../observability/batched-metrics.js';
import type { OutputBuffer } from '../protocol/reply-encoder.js';
import type { SessionCost } from '../limits/session-cost.js';
import type { UnsentHolder } from '../limits/unsent-budget.js';
import type { ListenerDeps } from './listener.js';
import { ClientConnection } from './client-connection.js';
import { Session, type SessionContext, type SessionTransport } from './session.js';

/** WebSocket close code for data we do not accept (RFC 6455 1003). */
const WS_UNSUPPORTED_DATA = 1003;
/** WebSocket close code of a frame over max_line_bytes, refused by ws itself (RFC 6455 1009). */
const WS_TOO_BIG = 1009;
/** How long a closed connection whose client does not read gets before it is terminated. */
const CLOSE_GRACE_MS = 2000;

type WsData = Buffer | ArrayBuffer | Buffer[];

/** What every WebSocket connection of one listener shares. */
export class WsConnections {
  readonly open = new Map<WebSocket, WsConnection>();
  readonly received: CounterCell;
  readonly sentBytes: CounterCell;
  private readonly onMessage: (this: WebSocket, data: WsData, isBinary: boolean) => void;
  private readonly onError: (this: WebSocket, err: Error) => void;
  private readonly onClose: (this: WebSocket, code: number) => void;

  constructor(
    readonly config: ListenerConfig,
    readonly deps: ListenerDeps,
  ) {
    this.received = deps.metrics.bytesReceived.cell({ listener: config.url });
    this.sentBytes = deps.metrics.bytesSent.cell({ listener: config.url });
    const open = this.open;
    this.onMessage = function (data, isBinary) {
      open.get(this)?.receive(data, isBinary);
    };
    this.onError = function (err) {
      const c = open.get(this);
      if (c?.session.logs('debug')) c.session.log.debug({ err: err.message }, 'websocket error');
    };
    this.onClose = function (code) {
      open.get(this)?.gone(code);
    };
  }

  /** Serves a client on an upgraded WebSocket. */
  serve(ws: WebSocket, address: string, port: number, cost: SessionCost): WsConnection {
    const c = new WsConnection(this, ws, address, port, cost);
    this.open.set(ws, c);
    this.deps.metrics.sessions.inc({ listener: this.config.url, transport: this.config.scheme });
    if (c.session.logs('debug')) c.session.log.debug('websocket opened');
    ws.on('message', this.onMessage);
    ws.on('error', this.onError);
    ws.on('close', this.onClose);
    return c;
  }
}

export class WsConnection extends ClientConnection implements SessionTransport, SessionContext, UnsentHolder {
  readonly session: Session;

  constructor(
    protected override readonly door: WsConnections,
    private readonly ws: WebSocket,
    remoteAddress: string,
    port: number,
    cost: SessionCost,
  ) {
    super(door, remoteAddress, port, cost);
    this.session = new Session(door.deps, this);
  }

  receive(data: WsData, isBinary: boolean): void {
    const { session } = this;
    this.door.received.inc(Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);
    if (isBinary) {
      if (session.logs('info')) session.log.info('binary WebSocket frame; closing');
      this.ws.close(WS_UNSUPPORTED_DATA, 'send JSON-RPC as text frames');
      return;
    }
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    // One JSON value per frame is the rule; some clients add "\n" or send several lines. Accept both.
    let start = 0;
    while (start < buf.length) {
      let end = buf.indexOf(0x0a, start);
      if (end === -1) end = buf.length;
      const piece = buf.subarray(start, end);
      if (piece.toString('utf8').trim().length > 0) session.receiveLine(piece);
      start = end + 1;
    }
  }

  write(out: OutputBuffer): void {
    const { ws } = this;
    if (ws.readyState !== ws.OPEN) {
      out.clear();
      return;
    }
    const { deps } = this.door;
    const maxUnsent = deps.config.limits.maxUnsentBytes;
    if (this.cutIfSlowReader(ws.bufferedAmount + out.bytesBeforeLast)) {
      out.clear();
      return;
    }
    const resume = (): void => {
      deps.unsent.note(this, this.unsent());
      if (ws.isPaused && ws.bufferedAmount < maxUnsent / 8 && !this.session.backlogged) ws.resume();
    };
    // One text frame per message (the WebSocket rule), sent together at the end of the turn.
    const messages = out.takeMessages();
    messages.forEach((m, i) => ws.send(m, { binary: false }, i === messages.length - 1 ? resume : undefined));
    if (ws.bufferedAmount > maxUnsent / 4) ws.pause();
    deps.unsent.note(this, this.unsent());
  }

  close(reason: string): void {
    if (this.session.logs('info')) this.session.log.info({ reason }, 'closing connection');
    this.ws.close(1000, reason.slice(0, 100));
    setTimeout(terminate, CLOSE_GRACE_MS, this.ws).unref();
  }

  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    const { ws } = this;
    if (ws.isPaused && ws.bufferedAmount <= this.door.deps.config.limits.maxUnsentBytes / 4) ws.resume();
  }

  unsent(): number {
    return this.ws.bufferedAmount;
  }

  protected drop(): void {
    this.ws.terminate();
  }

  /** The WebSocket closed. */
  gone(code: number): void {
    const { door } = this;
    if (code === WS_TOO_BIG) {
      door.deps.metrics.disconnects.inc({ reason: 'oversize' });
      door.deps.metrics.frames.oversize.inc();
    }
    door.open.delete(this.ws);
    this.ended('websocket closed');
  }
}

function terminate(ws: WebSocket): void {
  ws.terminate();
}
