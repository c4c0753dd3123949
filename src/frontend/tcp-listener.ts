// SPDX-License-Identifier: MIT
/**
 * Raw-socket listener: newline-delimited JSON-RPC over TCP. Each accepted
 * socket gets a LineFramer and a Session; a client that stops reading makes
 * us stop reading from it, so its unsent replies cannot pile up.
 */
import net from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { LineFramer } from '../protocol/framing.js';
import { Session, type SessionDeps } from './session.js';

export interface Listener {
  readonly config: ListenerConfig;
  readonly host: string;
  readonly port: number;
  /** Stops accepting; existing sessions continue. */
  stopAccepting(): Promise<void>;
  /** Sessions currently open. */
  sessions(): Iterable<Session>;
  /** Closes every open connection. */
  destroyAll(): void;
}

export async function startTcpListener(config: ListenerConfig, deps: SessionDeps): Promise<Listener> {
  const open = new Map<net.Socket, Session>();
  const server = net.createServer((socket) => acceptSocket(socket, config, deps, open));
  server.on('error', (err) => deps.logger.error({ listener: config.url, err: err.message }, 'listener error'));
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
      return Promise.resolve();
    },
    sessions: () => open.values(),
    destroyAll: () => {
      for (const socket of open.keys()) socket.destroy();
    },
  };
}

function acceptSocket(socket: net.Socket, config: ListenerConfig, deps: SessionDeps, open: Map<net.Socket, Session>): void {
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const log = deps.logger.child({ peer, listener: config.url });
  socket.setNoDelay(true);
  const framer = new LineFramer(deps.config.limits.maxLineBytes);
  const session = new Session(
    deps,
    {
      send: (message) => {
        if (socket.writable && !socket.write(`${message}\n`)) socket.pause();
      },
      close: (reason) => {
        log.info({ reason }, 'closing connection');
        socket.end();
        // A client that never reads would keep the socket half-open forever.
        setTimeout(() => socket.destroy(), 2000).unref();
      },
    },
    log,
  );
  open.set(socket, session);
  deps.metrics.sessions.inc({ listener: config.url });
  log.debug('connection opened');
  socket.on('drain', () => socket.resume());
  socket.on('data', (chunk: Buffer) => {
    for (const ev of framer.push(chunk)) {
      if (ev.kind === 'oversize') {
        session.rejectOversize(ev.bytes);
        return;
      }
      session.receiveLine(ev.line);
    }
  });
  socket.on('error', (err) => log.debug({ err: err.message }, 'socket error'));
  socket.on('close', () => {
    open.delete(socket);
    deps.metrics.sessions.dec({ listener: config.url });
    session.detach();
    log.debug('connection closed');
  });
}
