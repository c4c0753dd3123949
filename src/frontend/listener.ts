// SPDX-License-Identifier: MIT
/**
 * One listener for every door wallets use: tcp://, tls://, ws:// and wss://.
 *
 *   accept -> [PROXY header from a trusted balancer] -> [TLS] -> raw newline JSON-RPC
 *                                                            -> or HTTP upgrade to WebSocket
 *
 * The PROXY header is read before TLS, as balancers send it. Whatever the
 * door, a Session sees whole messages and writes through a SessionTransport,
 * and a client that stops reading makes us stop reading from it.
 */
import http from 'node:http';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { inList } from '../config/cidr.js';
import { parseListenerOptions, type ListenerOptions } from './listener-options.js';
import { V2_MAX, parseProxyHeader, type ProxySource } from './proxy-protocol.js';
import { Session, type SessionDeps } from './session.js';
import { RawDoor } from './raw-connection.js';
import { WsConnections } from './ws-connection.js';
import type { Admission } from '../limits/admission.js';
import type { CostOptions } from '../limits/cost.js';
import { groupKey } from '../limits/groups.js';
import type { CostLedger } from '../limits/ledger.js';
import { SessionCost, costTerms } from '../limits/session-cost.js';
import type { UnsentBudget } from '../limits/unsent-budget.js';
import { TlsCredentials } from './tls-credentials.js';

/** How long a trusted balancer gets to send its PROXY header. */
const PROXY_HEADER_TIMEOUT_MS = 5000;

export interface Listener {
  readonly config: ListenerConfig;
  readonly host: string;
  readonly port: number;
  /** Stops accepting; existing sessions continue. */
  stopAccepting(): Promise<void>;
  /** Sessions currently open. */
  sessions(): Iterable<Session>;
  /** Re-reads the TLS certificate and key (no-op for plain listeners). */
  reloadTls(): void;
  /** Closes every open connection. */
  destroyAll(): void;
}

interface Peer {
  readonly address: string;
  readonly port: number;
}

/** What every listener shares: the session caps and the cost ledger. */
export interface ListenerDeps extends SessionDeps {
  readonly admission: Admission;
  readonly ledger: CostLedger;
  readonly cost: CostOptions;
  /** Addresses never charged nor held to the per-group cap. */
  readonly exempt: net.BlockList;
  /** limits.max_unsent_bytes_total: the unsent output of every session together. */
  readonly unsent: UnsentBudget;
}

/** An open connection of either door, by its stream or WebSocket. */
interface Open {
  readonly session: Session;
}

export async function startListener(config: ListenerConfig, deps: ListenerDeps): Promise<Listener> {
  const options = parseListenerOptions(config);
  const costOptions: CostOptions = {
    ...deps.cost,
    ...(options.softLimit !== undefined ? { softLimit: options.softLimit } : {}),
    ...(options.hardLimit !== undefined ? { hardLimit: options.hardLimit } : {}),
  };
  /** What every session of this listener is charged by: one object, shared. */
  const terms = costTerms(deps.ledger, costOptions);
  /** Gives a session's admission slot back, once, when its connection is gone. */
  const release = (group: string): void => deps.admission.release(group);
  /** Takes a slot for a client and opens its cost account, or refuses it (logged and counted). */
  const seat = (peer: Peer): SessionCost | null => {
    // Read per connection: a reload may change the limits.
    const { limits } = deps.config;
    const group = groupKey(peer.address, { ipv4Prefix: limits.groupPrefixIpv4, ipv6Prefix: limits.groupPrefixIpv6 });
    const exempt = inList(deps.exempt, peer.address);
    // Exempt clients still count toward the total, but not toward their group's cap.
    const admitted = deps.admission.admit(group, !exempt);
    if (!admitted.ok) {
      deps.metrics.disconnects.inc({ reason: admitted.reason });
      log.warn({ peer: `${peer.address}:${peer.port}`, group, reason: admitted.reason }, 'refused: too many sessions');
      return null;
    }
    return new SessionCost(deps.admission.shared(group), exempt, terms);
  };
  const log = deps.logger.child({ listener: config.url });
  const credentials = options.cert && options.key ? new TlsCredentials(options.cert, options.key, log) : null;
  credentials?.watch();
  /** Sockets to destroy at shutdown that no door's open connections hold (a plain socket served is only there). */
  const sockets = new Set<net.Socket>();
  const ws = config.scheme === 'ws' || config.scheme === 'wss' ? webSocketDoor(config, options, deps, log) : null;
  const rawDoor = ws ? null : new RawDoor(config, deps);
  /** One close and one error listener per socket, shared by all: `this` is the socket. */
  const onSocketClose = function (this: net.Socket): void {
    sockets.delete(this);
    rawDoor?.onClose.call(this);
  };
  // Reported through the session (raw door) or the door below; a socket without a session says nothing.
  const onSocketError = rawDoor ? rawDoor.onError : ignore;

  const onSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.setNoDelay(true);
    const direct: Peer = { address: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    // Node keeps the kernel's answer on the socket for its remoteAddress getter (an object of
    // 56 bytes a connection, idle or not); the gateway keeps the two values it needs itself, so
    // that cache is let go. Asked again while the socket is open, Node asks the kernel again.
    (socket as { _peername?: unknown })._peername = undefined;
    if (!options.proxyProtocol) {
      openDoor(socket, EMPTY, direct);
      return;
    }
    if (!inList(options.trusted, direct.address)) {
      deps.metrics.disconnects.inc({ reason: 'proxy_refused' });
      log.warn({ peer: `${direct.address}:${direct.port}`, trusted: options.trustedText }, 'refused: PROXY protocol connection from an untrusted address');
      socket.destroy();
      return;
    }
    readProxyHeader(socket).then(
      ({ source, rest }) => openDoor(socket, rest, source ?? direct),
      (err: Error) => {
        deps.metrics.disconnects.inc({ reason: 'proxy_refused' });
        log.warn({ peer: `${direct.address}:${direct.port}`, err: err.message }, 'refused: bad PROXY protocol header');
        socket.destroy();
      },
    );
  };

  /** TLS handshakes under way; they hold no seat, so they are bounded on their own (by max_sessions). */
  let handshaking = 0;

  const openDoor = (raw: net.Socket, head: Buffer, peer: Peer): void => {
    const stream: Duplex = head.length > 0 ? prepend(raw, head) : raw;
    if (!credentials) {
      seatAndServe(raw, stream, peer);
      return;
    }
    // The seat waits for the handshake: a client that opens TLS connections and never finishes
    // them must not fill its group's sessions for the idle timeout. The handshake has its own bound.
    const where = `${peer.address}:${peer.port}`;
    if (handshaking >= deps.config.limits.maxSessions) {
      deps.metrics.disconnects.inc({ reason: 'handshakes' });
      log.warn({ peer: where, handshaking }, 'refused: too many TLS handshakes under way');
      raw.destroy();
      return;
    }
    handshaking++;
    let pending = true;
    const settle = (): void => {
      if (!pending) return;
      pending = false;
      handshaking--;
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      deps.metrics.disconnects.inc({ reason: 'handshake_timeout' });
      log.debug({ peer: where }, 'TLS handshake not finished in time; closed');
      raw.destroy();
    }, deps.config.limits.handshakeTimeoutMs);
    raw.once('close', settle);
    const secure = new tls.TLSSocket(stream, { isServer: true, secureContext: credentials.current });
    secure.on('error', (err) => deps.logger.debug({ peer: where, err: err.message }, 'TLS error'));
    secure.once('secure', () => {
      settle();
      seatAndServe(raw, secure, peer);
    });
  };

  const seatAndServe = (socket: net.Socket, stream: Duplex, peer: Peer): void => {
    const cost = seat(peer);
    if (!cost) {
      socket.destroy();
      return;
    }
    // A plain socket's connection gives its slot back itself, from the socket's one close listener (RawDoor.serve).
    const ownsSeat = rawDoor !== null && stream === socket;
    if (!ownsSeat) socket.once('close', () => release(cost.group));
    if (!rawDoor) {
      ws!.accept(stream, { ...peer, cost });
      return;
    }
    rawDoor.serve(stream, socket, peer.address, peer.port, cost);
    // A plain socket now has its entry in the door's open connections; a second one here would
    // cost each idle session another hash-table entry (destroyAll reaches it through the door).
    if (stream === socket) sockets.delete(socket);
  };

  const server = net.createServer(onSocket);
  server.on('error', (err) => log.error({ err: err.message }, 'listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    config,
    host: address.address,
    port: address.port,
    // close() stops accepting at once; its callback only fires after the last connection ends.
    stopAccepting: () => {
      server.close();
      credentials?.close();
      return Promise.resolve();
    },
    sessions: () => sessionsOf(rawDoor ? rawDoor.open : ws!.open),
    reloadTls: () => void credentials?.reload(),
    destroyAll: () => {
      // Answers gathered this turn (the last in-flight request of a shutdown) are written before the sockets go.
      for (const session of sessionsOf(rawDoor ? rawDoor.open : ws!.open)) session.flushTurn();
      for (const s of sockets) s.destroy();
      rawDoor?.destroyAll();
    },
  };
}

const EMPTY = Buffer.alloc(0);

function ignore(): void {}

function* sessionsOf(open: Map<object, Open>): Iterable<Session> {
  for (const c of open.values()) yield c.session;
}

interface SeatedPeer extends Peer {
  readonly cost: SessionCost;
}

interface WebSocketDoor {
  /** Open connections after their upgrade. */
  readonly open: Map<object, Open>;
  accept(stream: Duplex, peer: SeatedPeer): void;
}

/** A connection whose HTTP upgrade has not happened yet: who it is, and the timer that ends it if it never does. */
interface AwaitingUpgrade {
  readonly peer: SeatedPeer;
  readonly timer: NodeJS.Timeout;
  readonly onClose: () => void;
}

/** HTTP upgrade to WebSocket on the stream; one JSON-RPC message (or batch) per text frame (ws-connection.ts). */
function webSocketDoor(config: ListenerConfig, options: ListenerOptions, deps: ListenerDeps, log: Logger): WebSocketDoor {
  const connections = new WsConnections(config, deps);
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.limits.maxLineBytes, perMessageDeflate: false });
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('This is an Electrum WebSocket endpoint.\n');
  });
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  const awaiting = new WeakMap<object, AwaitingUpgrade>();
  httpServer.on('upgrade', (req, socket, head) => {
    const waiting = awaiting.get(socket);
    if (!waiting) {
      socket.destroy();
      return;
    }
    // Upgraded or refused, the connection is done waiting: nothing of its wait is kept.
    awaiting.delete(socket);
    clearTimeout(waiting.timer);
    socket.off('close', waiting.onClose);
    const { peer } = waiting;
    const path = (req.url ?? '/').split('?')[0];
    if (path !== config.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const origin = req.headers.origin;
    if (options.origins.length > 0 && (origin === undefined || !options.origins.includes(origin))) {
      log.info({ peer: `${peer.address}:${peer.port}`, origin }, 'refused: WebSocket Origin not allowed');
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    // Read per upgrade: a reload may change limits.max_line_bytes.
    wss.options.maxPayload = deps.config.limits.maxLineBytes;
    wss.handleUpgrade(req, socket, head, (ws) => connections.serve(ws, peer.address, peer.port, peer.cost));
  });
  return {
    open: connections.open,
    accept: (stream, peer) => {
      // Until the upgrade there is no session for the idle sweep to see, yet the seat is held:
      // a client trickling its HTTP request (slowloris) gets as long as an idle session, no more.
      const timer = setTimeout(() => {
        deps.metrics.disconnects.inc({ reason: 'idle' });
        log.info({ peer: `${peer.address}:${peer.port}` }, 'no WebSocket upgrade within the idle timeout; closing');
        stream.destroy();
      }, deps.config.limits.idleTimeoutMs);
      timer.unref();
      const onClose = (): void => clearTimeout(timer);
      awaiting.set(stream, { peer, timer, onClose });
      stream.once('close', onClose);
      httpServer.emit('connection', stream);
    },
  };
}

/** Reads a PROXY v1/v2 header; resolves with the real source and any bytes read past it. */
function readProxyHeader(socket: net.Socket): Promise<{ source: ProxySource | null; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('no PROXY header in time')), PROXY_HEADER_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseProxyHeader(buf);
      if (parsed.kind === 'incomplete') {
        if (buf.length > V2_MAX) finish(new Error('PROXY header too long'));
        return;
      }
      if (parsed.kind === 'invalid') {
        finish(new Error(parsed.reason));
        return;
      }
      finish(null, { source: parsed.source, rest: buf.subarray(parsed.consumed) });
    };
    const onClose = (): void => finish(new Error('closed before the PROXY header'));
    const finish = (err: Error | null, value?: { source: ProxySource | null; rest: Buffer }): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/**
 * A stream that yields `head` and then the socket's bytes. TLS and HTTP read
 * a plain socket straight from its handle, past anything already read in JS,
 * so bytes that arrived with the PROXY header must be replayed this way.
 */
function prepend(socket: net.Socket, head: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (err, callback) => {
      socket.destroy();
      callback(err);
    },
  });
  duplex.push(head);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  // writableLength of the wrapper says nothing; the socket's is what the slow-reader bound checks.
  return duplex;
}
