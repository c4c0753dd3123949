// SPDX-License-Identifier: MIT
/**
 * Loopback port helpers for tests that start real servers (simulator, gateway, Redis, ...).
 *
 * freePort() asks the kernel for an ephemeral port by listening on port 0 and closing the
 * socket again. There is an unavoidable window between closing and the real server binding
 * it; ephemeral ports are handed out in a rotating fashion, so in practice that is fine for
 * tests. freePorts(n) keeps all n sockets open until every port is known, so the n ports are
 * pairwise distinct.
 */
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

function listenOnZero(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => resolve(srv));
  });
}

function portOf(srv: net.Server): number {
  const addr = srv.address();
  if (addr === null || typeof addr === 'string') throw new Error('server has no TCP address');
  return addr.port;
}

function close(srv: net.Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

/** One currently free TCP port on `host` (default 127.0.0.1). */
export async function freePort(host: string = LOOPBACK): Promise<number> {
  const srv = await listenOnZero(host);
  const port = portOf(srv);
  await close(srv);
  return port;
}

/** `n` pairwise distinct, currently free TCP ports on `host`. */
export async function freePorts(n: number, host: string = LOOPBACK): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenOnZero(host));
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** Resolves true if a TCP connection to host:port is accepted within `timeoutMs`. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export interface WaitForPortOptions {
  /** Give up after this many milliseconds (default 15000). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /**
   * Called before every attempt; return a string to abort waiting with that reason
   * (e.g. "process exited with code 1"), undefined to keep waiting.
   */
  abortIf?: () => string | undefined;
  /** Extra text appended to the timeout error (e.g. a log tail). */
  describe?: () => string;
}

/** Polls until host:port accepts TCP connections; throws a descriptive error otherwise. */
export async function waitForPort(host: string, port: number, opts: WaitForPortOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = opts.abortIf?.();
    if (reason !== undefined) {
      throw new Error(`gave up waiting for ${host}:${port}: ${reason}${suffix(opts.describe)}`);
    }
    if (await canConnect(host, port, Math.min(1000, Math.max(1, deadline - Date.now())))) return;
    if (Date.now() >= deadline) {
      throw new Error(`${host}:${port} did not accept TCP connections within ${timeoutMs} ms${suffix(opts.describe)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function suffix(describe: (() => string) | undefined): string {
  if (!describe) return '';
  const text = describe();
  return text ? `\n${text}` : '';
}
