// SPDX-License-Identifier: MIT
/**
 * How bytes reach an upstream: TCP, TLS, WebSocket or secure WebSocket,
 * directly or through a SOCKS4/4a/5 proxy (Tor for .onion hosts). Whatever the
 * transport, the connection above it sees a channel of whole JSON messages.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { SocksClient } from 'socks';
import WebSocket from 'ws';
import { LineFramer } from '../protocol/framing.js';
import { flushAtEndOfTurn, type Flushable } from '../protocol/turn.js';

export type TransportScheme = 'tcp' | 'tls' | 'ws' | 'wss';

export interface SocksProxyConfig {
  /** 4 covers SOCKS4 and SOCKS4a: host names are passed to the proxy unresolved. */
  readonly version: 4 | 5;
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

export interface TlsClientConfig {
  /** PEM of the certificate authority (or self-signed certificate) to trust instead of the system store. */
  readonly ca?: string;
  /** Skip certificate verification entirely (self-signed servers you cannot get a CA for). */
  readonly insecure?: boolean;
}

export interface TransportTarget {
  readonly scheme: TransportScheme;
  readonly host: string;
  readonly port: number;
  /** WebSocket path. */
  readonly path?: string;
  readonly tls?: TlsClientConfig;
  readonly socks?: SocksProxyConfig;
}

export interface ChannelOptions {
  readonly connectTimeoutMs: number;
  /** Largest message accepted; a larger one closes the channel. */
  readonly maxMessageBytes: number;
}

export interface MessageChannelEvents {
  /** One whole message as it came (UTF-8 bytes, not decoded: the connection scans large answers without decoding them). */
  message: [line: Buffer];
  close: [error: Error | null];
}

/** A bidirectional stream of whole JSON-RPC messages. */
export interface MessageChannel extends EventEmitter<MessageChannelEvents> {
  send(text: string): void;
  close(): void;
  /** Local description for logs, e.g. "tls via socks5 127.0.0.1:9050". */
  readonly description: string;
}

export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

export async function openChannel(target: TransportTarget, opts: ChannelOptions): Promise<MessageChannel> {
  const deadline = Date.now() + opts.connectTimeoutMs;
  // A connect that completes after its deadline would otherwise leave an open socket nobody holds.
  const raw = await withDeadline(connectRaw(target, deadline), deadline, `connect to ${target.host}:${target.port}`, (late) => late.destroy());
  const via = target.socks ? ` via socks${target.socks.version} ${target.socks.host}:${target.socks.port}` : '';
  if (target.scheme === 'ws' || target.scheme === 'wss') {
    return withDeadline(openWebSocket(target, raw, opts), deadline, `websocket handshake with ${target.host}:${target.port}`).catch((err) => {
      raw.destroy();
      throw err;
    });
  }
  let socket: net.Socket = raw;
  if (target.scheme === 'tls') {
    socket = await withDeadline(startTls(raw, target), deadline, `TLS handshake with ${target.host}:${target.port}`).catch((err) => {
      raw.destroy();
      throw err;
    });
  }
  return new SocketChannel(socket, opts.maxMessageBytes, `${target.scheme}${via}`);
}

async function connectRaw(target: TransportTarget, deadline: number): Promise<net.Socket> {
  if (target.socks) {
    const { socks } = target;
    try {
      const { socket } = await SocksClient.createConnection({
        command: 'connect',
        // The destination host is handed to the proxy as a name, never resolved here (.onion must not be).
        destination: { host: target.host, port: target.port },
        proxy: {
          host: socks.host,
          port: socks.port,
          type: socks.version,
          ...(socks.username !== undefined ? { userId: socks.username } : {}),
          ...(socks.password !== undefined ? { password: socks.password } : {}),
        },
        timeout: Math.max(1, deadline - Date.now()),
        set_tcp_nodelay: true,
      });
      socket.on('error', ignoreUntilChannelListens);
      return socket;
    } catch (err) {
      throw new TransportError(`socks${socks.version} proxy ${socks.host}:${socks.port} could not reach ${target.host}:${target.port}: ${(err as Error).message}`);
    }
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', ignoreUntilChannelListens);
      resolve(socket);
    });
    socket.once('error', (err) => reject(new TransportError(`cannot connect to ${target.host}:${target.port}: ${err.message}`)));
  });
}

/**
 * Between connecting and the channel taking over (TLS or WebSocket handshakes
 * in progress) an error must not crash the process; the handshake's own
 * failure or the channel's 'close' reports it.
 */
function ignoreUntilChannelListens(): void {}

function tlsOptions(target: TransportTarget): tls.ConnectionOptions {
  return {
    // SNI only for names; an IP address as servername is not allowed.
    ...(net.isIP(target.host) ? {} : { servername: target.host }),
    ...(target.tls?.ca ? { ca: target.tls.ca } : {}),
    rejectUnauthorized: !target.tls?.insecure,
    minVersion: 'TLSv1.2',
  };
}

function startTls(raw: net.Socket, target: TransportTarget): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ socket: raw, ...tlsOptions(target) });
    socket.once('secureConnect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => reject(new TransportError(`TLS with ${target.host}:${target.port} failed: ${err.message}`)));
  });
}

function openWebSocket(target: TransportTarget, raw: net.Socket, opts: ChannelOptions): Promise<MessageChannel> {
  const secure = target.scheme === 'wss';
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const url = `${secure ? 'wss' : 'ws'}://${host}:${target.port}${target.path ?? '/'}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      maxPayload: opts.maxMessageBytes,
      perMessageDeflate: false,
      // The socket is already connected (maybe through SOCKS); ws only speaks HTTP over it.
      createConnection: () => (secure ? tls.connect({ socket: raw, ...tlsOptions(target) }) : raw),
      ...tlsOptions(target),
    });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      resolve(new WebSocketChannel(ws, target.socks ? `${target.scheme} via socks${target.socks.version}` : target.scheme));
    });
    ws.once('error', (err) => reject(new TransportError(`websocket ${url} failed: ${err.message}`)));
  });
}

class SocketChannel extends EventEmitter<MessageChannelEvents> implements MessageChannel, Flushable {
  private readonly framer: LineFramer;
  private closed = false;
  /** Requests of this turn, written together at its end: many wallets' requests, one write. */
  private outgoing: string[] = [];

  constructor(
    private readonly socket: net.Socket,
    maxMessageBytes: number,
    readonly description: string,
  ) {
    super();
    this.framer = new LineFramer(maxMessageBytes);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.framer.push(chunk)) {
        if (ev.kind === 'oversize') {
          this.finish(new TransportError(`upstream sent a message over ${maxMessageBytes} bytes`));
          return;
        }
        // ElectrumX pads replies with spaces; a line of nothing but padding is not a message.
        if (!blank(ev.line)) this.emit('message', ev.line);
      }
    });
    socket.on('error', (err) => this.finish(new TransportError(`socket error: ${err.message}`)));
    socket.on('close', () => this.finish(new TransportError('upstream closed the connection')));
  }

  send(text: string): void {
    if (this.closed) return;
    if (this.outgoing.length === 0) flushAtEndOfTurn(this);
    this.outgoing.push(text);
  }

  flushTurn(): void {
    const lines = this.outgoing;
    this.outgoing = [];
    if (!this.closed && lines.length > 0) this.socket.write(`${lines.join('\n')}\n`);
  }

  close(): void {
    this.finish(null);
  }

  private finish(error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.emit('close', error);
  }
}

class WebSocketChannel extends EventEmitter<MessageChannelEvents> implements MessageChannel {
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly description: string,
  ) {
    super();
    ws.on('message', (data: WebSocket.RawData) => {
      const line = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!blank(line)) this.emit('message', line);
    });
    ws.on('error', (err) => this.finish(new TransportError(`websocket error: ${err.message}`)));
    ws.on('close', (code) => this.finish(new TransportError(`websocket closed (${code})`)));
  }

  send(text: string): void {
    if (!this.closed && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  close(): void {
    this.finish(null);
  }

  private finish(error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.terminate();
    this.emit('close', error);
  }
}

/**
 * `p`, or a TransportError once `deadline` passes. What `p` yields after losing the race is
 * handed to `discard` (a socket to destroy): nobody else will ever hold it.
 */
export async function withDeadline<T>(p: Promise<T>, deadline: number, what: string, discard?: (late: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new TransportError(`${what} timed out`));
    }, Math.max(1, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
    if (timedOut) p.then((late) => discard?.(late), () => undefined);
  }
}

/** Whether a line holds nothing but whitespace. */
function blank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09 && c !== 0x0b && c !== 0x0c) return false;
  }
  return true;
}
