// SPDX-License-Identifier: MIT
/**
 * SOCKS proxies for tests of upstreams reached through a proxy (Tor's SOCKS
 * port in production):
 *
 *  - startDanted(): the real Dante server (Debian package dante-server),
 *    SOCKS4 and SOCKS5 without authentication, on a free loopback port with a
 *    generated config in a temp dir; its log is readable (log()).
 *  - startMicrosocks(): microsocks (Debian package microsocks), SOCKS5, with
 *    optional username/password.
 *  - startRecordingSocks(): a tiny in-process SOCKS4/4a/5 server that records
 *    exactly what each client asked for (address type, host, port) and
 *    connects to wherever `route` says; for names a real proxy cannot resolve
 *    here (.onion), to check they reach the proxy unresolved.
 *
 * Each stop() ends only the process it started (its own process group).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, LOOPBACK, waitForPort } from './ports.js';

export interface SocksServer {
  readonly host: string;
  readonly port: number;
  /** socks5://[user:pass@]host:port or socks4://host:port, for ?socks= */
  url(version: 4 | 5): string;
  /** What the proxy logged so far. */
  log(): string;
  stop(): Promise<void>;
}

interface Spawned {
  readonly child: ChildProcess;
  output: string;
  exited: string | undefined;
}

function spawnGroup(cmd: string, args: string[]): Spawned {
  // detached: its own process group, so stop() reaches danted's children too (and nothing else).
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const s: Spawned = { child, output: '', exited: undefined };
  child.stdout?.on('data', (d: Buffer) => (s.output += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (s.output += d.toString('utf8')));
  child.on('exit', (code, signal) => (s.exited = `${cmd} exited with ${signal ?? `code ${code}`}`));
  child.on('error', (err) => (s.exited = `${cmd} failed to start: ${err.message}`));
  return s;
}

async function stopGroup(s: Spawned): Promise<void> {
  if (s.exited !== undefined || s.child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  try {
    process.kill(-s.child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-s.child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 2000);
  await gone;
  clearTimeout(timer);
}

/**
 * Dante on 127.0.0.1: SOCKS4 and SOCKS5, no authentication, loopback clients
 * only, every connect logged. With `debug` the log also shows each request as
 * received, e.g. "Packet: VER: 4 CMD: 1 address: 127.0.0.1.50001" (a name
 * given to the proxy appears as the name).
 */
export async function startDanted(opts: { debug?: boolean } = {}): Promise<SocksServer> {
  const dir = mkdtempSync(join(tmpdir(), 'eg-danted-'));
  const port = await freePort();
  const logFile = join(dir, 'danted.log');
  const conf = join(dir, 'danted.conf');
  writeFileSync(
    conf,
    [
      `logoutput: ${logFile}`,
      ...(opts.debug ? ['debug: 1'] : []),
      `internal: ${LOOPBACK} port = ${port}`,
      `external: ${LOOPBACK}`,
      'clientmethod: none',
      'socksmethod: none',
      'client pass {',
      '  from: 127.0.0.0/8 to: 0.0.0.0/0',
      '  log: error connect',
      '}',
      'socks pass {',
      '  from: 127.0.0.0/8 to: 0.0.0.0/0',
      '  command: connect',
      '  protocol: tcp',
      '  log: error connect disconnect',
      '}',
      '',
    ].join('\n'),
  );
  const s = spawnGroup('danted', ['-f', conf, '-p', join(dir, 'danted.pid'), '-N', '1']);
  const log = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return s.output;
    }
  };
  try {
    await waitForPort(LOOPBACK, port, { timeoutMs: 10_000, abortIf: () => s.exited, describe: log });
  } catch (err) {
    await stopGroup(s);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: LOOPBACK,
    port,
    url: (version) => `socks${version}://${LOOPBACK}:${port}`,
    log,
    stop: async () => {
      await stopGroup(s);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * microsocks on 127.0.0.1 (SOCKS5 only), with username/password when given; on `port` when
 * given (a proxy brought back where it was, as after a crash), else on a free one.
 */
export async function startMicrosocks(auth?: { username: string; password: string }, port?: number): Promise<SocksServer> {
  port ??= await freePort();
  const s = spawnGroup('microsocks', ['-i', LOOPBACK, '-p', String(port), ...(auth ? ['-u', auth.username, '-P', auth.password] : [])]);
  try {
    await waitForPort(LOOPBACK, port, { timeoutMs: 10_000, abortIf: () => s.exited, describe: () => s.output });
  } catch (err) {
    await stopGroup(s);
    throw err;
  }
  const creds = auth ? `${encodeURIComponent(auth.username)}:${encodeURIComponent(auth.password)}@` : '';
  return {
    host: LOOPBACK,
    port,
    url: (version) => {
      if (version !== 5) throw new Error('microsocks speaks SOCKS5 only');
      return `socks5://${creds}${LOOPBACK}:${port}`;
    },
    log: () => s.output,
    stop: () => stopGroup(s),
  };
}

export interface SocksRequest {
  /** 4 for SOCKS4 and 4a, 5 for SOCKS5. */
  readonly version: 4 | 5;
  /** How the destination was given: a name (SOCKS5 ATYP 3, or SOCKS4a) or an address. */
  readonly addressType: 'domain' | 'ipv4' | 'ipv6';
  readonly host: string;
  readonly port: number;
}

export interface RecordingSocks extends SocksServer {
  /** Every CONNECT request received, in order. */
  readonly requests: SocksRequest[];
}

/**
 * An in-process SOCKS4/4a/5 server (no authentication) that records each
 * CONNECT and opens the TCP connection `route` returns (or refuses when it
 * returns null), so names that do not resolve here (.onion) can be tested.
 */
export async function startRecordingSocks(route: (req: SocksRequest) => { host: string; port: number } | null): Promise<RecordingSocks> {
  const requests: SocksRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    void handshake(client, route, requests, sockets);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0 }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: LOOPBACK,
    port,
    requests,
    url: (version) => `socks${version}://${LOOPBACK}:${port}`,
    log: () => requests.map((r) => `socks${r.version} ${r.addressType} ${r.host}:${r.port}`).join('\n'),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads exactly n bytes from the socket (or rejects when it closes first). */
class Reader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = Buffer.concat([this.buf, chunk]);
    this.waiter?.();
  };

  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error('client closed during the SOCKS handshake');
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async readUntilNul(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf(0);
      if (i >= 0) {
        const s = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + 1);
        return s;
      }
      if (this.ended) throw new Error('client closed during the SOCKS handshake');
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
  }

  /** Stops reading and hands back what was read past the handshake. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    return this.buf;
  }
}

async function handshake(
  client: net.Socket,
  route: (req: SocksRequest) => { host: string; port: number } | null,
  requests: SocksRequest[],
  sockets: Set<net.Socket>,
): Promise<void> {
  const r = new Reader(client);
  try {
    const [version] = await r.read(1);
    let req: SocksRequest;
    let reply: (ok: boolean) => Buffer;
    if (version === 5) {
      const [nmethods] = await r.read(1);
      const methods = await r.read(nmethods!);
      if (!methods.includes(0)) {
        client.end(Buffer.from([5, 0xff]));
        return;
      }
      client.write(Buffer.from([5, 0]));
      const head = await r.read(4); // VER CMD RSV ATYP
      if (head[1] !== 1) throw new Error('only CONNECT is supported');
      let host: string;
      let addressType: SocksRequest['addressType'];
      if (head[3] === 1) {
        host = [...(await r.read(4))].join('.');
        addressType = 'ipv4';
      } else if (head[3] === 3) {
        const [len] = await r.read(1);
        host = (await r.read(len!)).toString('latin1');
        addressType = 'domain';
      } else if (head[3] === 4) {
        const b = await r.read(16);
        host = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
        addressType = 'ipv6';
      } else {
        throw new Error(`bad ATYP ${head[3]}`);
      }
      const port = (await r.read(2)).readUInt16BE(0);
      req = { version: 5, addressType, host, port };
      reply = (ok) => Buffer.from([5, ok ? 0 : 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    } else if (version === 4) {
      const head = await r.read(7); // CMD PORT(2) IP(4)
      if (head[0] !== 1) throw new Error('only CONNECT is supported');
      const port = head.readUInt16BE(1);
      const ip = [...head.subarray(3, 7)];
      await r.readUntilNul(); // user id
      // SOCKS4a: 0.0.0.x (x != 0) means "the name follows".
      const isName = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
      const host = isName ? await r.readUntilNul() : ip.join('.');
      req = { version: 4, addressType: isName ? 'domain' : 'ipv4', host, port };
      reply = (ok) => Buffer.from([0, ok ? 0x5a : 0x5b, 0, 0, 0, 0, 0, 0]);
    } else {
      throw new Error(`not SOCKS (first byte ${version})`);
    }
    requests.push(req);
    const target = route(req);
    if (!target) {
      client.end(reply(false));
      return;
    }
    const upstream = net.connect({ host: target.host, port: target.port });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      client.write(reply(true));
      const rest = r.detach();
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  } catch {
    client.destroy();
  }
}
