// SPDX-License-Identifier: MIT
/**
 * Baseline (a): the smallest Node server that speaks newline-delimited
 * JSON-RPC. It frames lines, parses each request (any JSON-RPC proxy must, to
 * know the id and the method), and answers with a result of the size the real
 * server's answer to that method had (measured on the simulator in the same
 * run and passed in with --sizes), else echoes the params back. No upstream,
 * no logic: the floor for any Node proxy on this machine.
 *
 *   node dist/bench/baselines/echo.js [--host H] [--port P] [--sizes '{"method": bytes, ...}']
 *
 * Prints {"host":...,"port":...} once listening; SIGTERM/SIGINT stop it.
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listenBaseline, runBaseline, type BaselineServer } from './listen.js';

/** Bytes of `{"jsonrpc":"2.0","id":N,"result":""}\n` around the padding, for a short id. */
const ENVELOPE_BYTES = 40;

export function startEchoServer(opts: { host?: string; port?: number; sizes?: Record<string, number> } = {}): Promise<BaselineServer> {
  const sizes = new Map(Object.entries(opts.sizes ?? {}));
  const padding = new Map<string, string>();
  const padFor = (method: string): string | undefined => {
    let p = padding.get(method);
    if (p === undefined) {
      const size = sizes.get(method);
      if (size === undefined) return undefined;
      p = JSON.stringify('0'.repeat(Math.max(0, size - ENVELOPE_BYTES)));
      padding.set(method, p);
    }
    return p;
  };
  const answer = (line: string): string => {
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}\n';
    }
    const id = JSON.stringify(msg.id ?? null);
    const pad = typeof msg.method === 'string' ? padFor(msg.method) : undefined;
    const result = pad ?? JSON.stringify(msg.params ?? null);
    return `{"jsonrpc":"2.0","id":${id},"result":${result}}\n`;
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      const text = buffer + chunk;
      let start = 0;
      let out = '';
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl === -1) break;
        const line = text.slice(start, nl);
        start = nl + 1;
        if (line.length > 0) out += answer(line);
      }
      buffer = text.slice(start);
      if (out.length > 0) socket.write(out);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  return listenBaseline(server, sockets, opts.host ?? '127.0.0.1', opts.port ?? 0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runBaseline('echo server', () => {
    const { values } = parseArgs({
      options: { host: { type: 'string' }, port: { type: 'string' }, sizes: { type: 'string' } },
      strict: true,
    });
    const sizes = values.sizes ? (JSON.parse(values.sizes) as Record<string, number>) : {};
    return startEchoServer({ host: values.host ?? '127.0.0.1', port: Number(values.port ?? 0), sizes });
  });
}
