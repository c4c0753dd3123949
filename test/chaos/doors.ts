// SPDX-License-Identifier: MIT
/**
 * A gateway with all four doors (tcp, tls, ws, wss) for the chaos scenarios
 * that go through each, and one client shape for all of them: frames out
 * (a line on tcp/tls, a text message on ws/wss), messages in, closed state.
 */
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import type { GatewayConfig, ListenerConfig } from '../../src/config/types.js';
import { parseListenUrl } from '../../src/config/urls.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { selfSignedCertificate, type Certificate } from '../helpers/tls.js';
import type { Simulator } from '../sim/index.js';

export const DOORS = ['tcp', 'tls', 'ws', 'wss'] as const;
export type Door = (typeof DOORS)[number];

export interface FourDoors {
  readonly gw: TestGateway;
  readonly ports: Readonly<Record<Door, number>>;
  readonly cert: Certificate;
  close(): Promise<void>;
}

function listener(url: string): ListenerConfig {
  const p = parseListenUrl(url);
  return { url: p.url, scheme: p.scheme, host: p.host, port: p.port, path: p.path, options: p.options };
}

export async function startFourDoors(sim: Simulator, tweak: (c: GatewayConfig) => GatewayConfig = (c) => c): Promise<FourDoors> {
  const cert = selfSignedCertificate();
  const q = `cert=${encodeURIComponent(cert.certFile)}&key=${encodeURIComponent(cert.keyFile)}`;
  const gw = await startTestGateway({
    upstreams: [sim],
    tweak: (c) =>
      tweak({
        ...c,
        listen: [listener('tcp://127.0.0.1:0'), listener(`tls://127.0.0.1:0?${q}`), listener('ws://127.0.0.1:0/'), listener(`wss://127.0.0.1:0/?${q}`)],
      }),
  });
  const [tcp, tlsPort, ws, wss] = gw.gateway.listeners.map((l) => l.port) as [number, number, number, number];
  return {
    gw,
    cert,
    ports: { tcp, tls: tlsPort, ws, wss },
    close: async () => {
      await gw.close();
      cert.remove();
    },
  };
}

/** One connection through one door, speaking frames. */
export class DoorClient {
  /** Messages received (one per line or WebSocket message). */
  readonly messages: string[] = [];
  closed = false;
  readonly whenClosed: Promise<void>;
  private markClosed!: () => void;
  private waiters: { n: number; resolve: () => void }[] = [];

  private constructor(
    readonly door: Door,
    private readonly raw: net.Socket | null,
    private readonly ws: WebSocket | null,
  ) {
    this.whenClosed = new Promise((r) => (this.markClosed = r));
  }

  static open(door: Door, port: number, cert: Certificate): Promise<DoorClient> {
    return new Promise((resolve, reject) => {
      if (door === 'ws' || door === 'wss') {
        const ws = new WebSocket(`${door}://127.0.0.1:${port}/`, door === 'wss' ? { ca: cert.cert } : {});
        const c = new DoorClient(door, null, ws);
        ws.once('open', () => resolve(c));
        ws.once('error', reject);
        ws.on('message', (d: Buffer) => c.received(d.toString('utf8')));
        ws.on('close', () => c.gone());
        return;
      }
      const socket = door === 'tls' ? tls.connect({ host: '127.0.0.1', port, ca: cert.cert, servername: 'localhost' }) : net.connect({ host: '127.0.0.1', port });
      const c = new DoorClient(door, socket, null);
      socket.once(door === 'tls' ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve(c);
      });
      socket.once('error', reject);
      let partial = '';
      socket.setEncoding('utf8').on('data', (d: string) => {
        partial += d;
        let nl: number;
        while ((nl = partial.indexOf('\n')) !== -1) {
          c.received(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
        }
      });
      socket.on('close', () => c.gone());
    });
  }

  /** One frame: a line (the newline is added) or one text message. */
  send(frame: string | Buffer): void {
    if (this.closed) return;
    if (this.ws) {
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(typeof frame === 'string' ? frame : frame.toString('utf8'));
      return;
    }
    this.raw!.write(frame);
    this.raw!.write('\n');
  }

  /** Bytes exactly as given (tcp/tls only): part of a line, for slow clients. */
  sendBytes(bytes: string | Buffer): void {
    if (!this.closed && this.raw) this.raw.write(bytes);
  }

  /** Resolves once `n` messages have arrived (or the connection closed). */
  waitForMessages(n: number): Promise<void> {
    if (this.messages.length >= n || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Sends one request and resolves with its parsed reply (matched by id). */
  async request(method: string, params: unknown[], id: number): Promise<Record<string, unknown>> {
    this.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    for (;;) {
      const hit = this.messages.map((m) => safeParse(m)).find((m) => m !== null && !Array.isArray(m) && (m as { id?: unknown }).id === id);
      if (hit) return hit as Record<string, unknown>;
      if (this.closed) throw new Error(`${this.door}: closed before answering ${method}`);
      await this.waitForMessages(this.messages.length + 1);
    }
  }

  close(): void {
    if (this.ws) this.ws.terminate();
    else this.raw!.destroy();
  }

  private received(text: string): void {
    this.messages.push(text);
    const ready = this.waiters.filter((w) => this.messages.length >= w.n);
    this.waiters = this.waiters.filter((w) => this.messages.length < w.n);
    for (const w of ready) w.resolve();
  }

  private gone(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.resolve();
    this.markClosed();
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
