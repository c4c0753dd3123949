// SPDX-License-Identifier: MIT
/**
 * TLS and WebSocket fronts for tests of tls://, ws:// and wss:// upstreams
 * (the simulator itself speaks plain TCP only):
 *
 *  - selfSignedCertificate(): a fresh self-signed certificate and key made by
 *    the openssl CLI (Debian package openssl) in a temp dir, valid for
 *    localhost and 127.0.0.1 unless told otherwise;
 *  - startTlsTerminator(): a TLS listener that pipes every connection to a
 *    TCP target (the simulator), like stunnel or a TLS port of a real server;
 *  - startWsBridge(): a WebSocket (or, with a certificate, secure WebSocket)
 *    listener that turns each message into a line to the TCP target and each
 *    line back into a message, as ElectrumX's and Fulcrum's ws ports do.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { onLines } from './lines.js';
import { LOOPBACK } from './ports.js';

export interface Certificate {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** Removes the temp dir. */
  remove(): void;
}

/**
 * A self-signed EC certificate for CN `commonName`, valid for `altNames`
 * (default localhost and 127.0.0.1).
 */
export function selfSignedCertificate(commonName = 'electrum-gateway-test', altNames: readonly string[] = ['DNS:localhost', 'IP:127.0.0.1']): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'eg-cert-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${commonName}`,
      '-addext', `subjectAltName=${altNames.join(',')}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return {
    dir,
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Front {
  readonly host: string;
  readonly port: number;
  /** Connections accepted (TLS: handshakes completed; WS: upgrades). */
  readonly accepted: () => number;
  stop(): Promise<void>;
}

export interface Target {
  readonly host: string;
  readonly port: number;
}

/** TLS on a free loopback port (or `port`), each connection piped to `target`. */
export async function startTlsTerminator(target: Target, cert: Certificate, port = 0): Promise<Front> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (client) => {
    accepted++;
    const upstream = net.connect({ host: target.host, port: target.port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  // Failed handshakes (a client that refuses our certificate) are expected in tests.
  server.on('tlsClientError', () => undefined);
  return listen(server, port, () => accepted, sockets);
}

/**
 * A WebSocket listener (wss when `cert` is given) at any path; each text
 * message goes to a TCP connection to `target` as one line, each line back as
 * one message.
 */
export async function startWsBridge(target: Target, cert?: Certificate, port = 0): Promise<Front> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const http1 = cert ? https.createServer({ cert: cert.cert, key: cert.key }) : http.createServer();
  http1.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ server: http1 });
  wss.on('connection', (ws: WebSocket) => {
    accepted++;
    const upstream = net.connect({ host: target.host, port: target.port });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      ws.terminate();
    });
    upstream.on('error', () => undefined);
    ws.on('close', () => upstream.destroy());
    ws.on('error', () => undefined);
    onLines(upstream, (line) => {
      ws.send(line);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) upstream.write(`${data.toString('utf8')}\n`);
    });
  });
  const front = await listen(http1, port, () => accepted, sockets);
  return {
    ...front,
    stop: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await front.stop();
    },
  };
}

async function listen(server: net.Server, port: number, accepted: () => number, sockets: Set<net.Socket>): Promise<Front> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    host: LOOPBACK,
    port: bound,
    accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
