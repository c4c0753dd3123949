// SPDX-License-Identifier: MIT
/**
 * Baseline (c): the smallest Node TCP proxy. Each client connection gets its
 * own connection to the upstream and the bytes are piped both ways untouched:
 * no framing, no parsing, no routing, no pooling. What HAProxy does in TCP
 * mode, written in Node: the floor for any Node proxy that passes requests
 * through, so the gap between it and HAProxy is the runtime's and the gap
 * between it and the gateway is the gateway's.
 *
 *   node dist/bench/baselines/relay.js --upstream HOST:PORT [--host H] [--port P]
 *
 * Prints {"host":...,"port":...} once listening; SIGTERM/SIGINT stop it.
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listenBaseline, runBaseline, type BaselineServer } from './listen.js';

export function startRelay(opts: { upstreamHost: string; upstreamPort: number; host?: string; port?: number }): Promise<BaselineServer> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: opts.upstreamHost, port: opts.upstreamPort });
    track(client);
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // Either side failing or closing takes the other with it, as a TCP proxy does.
    const both = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', both);
    upstream.on('error', both);
    client.on('close', both);
    upstream.on('close', both);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return listenBaseline(server, sockets, opts.host ?? '127.0.0.1', opts.port ?? 0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runBaseline('relay', async () => {
    const { values } = parseArgs({
      options: { host: { type: 'string' }, port: { type: 'string' }, upstream: { type: 'string' } },
      strict: true,
    });
    const up = /^(.+):(\d+)$/.exec(values.upstream ?? '');
    if (!up) throw new Error('--upstream HOST:PORT is required');
    return startRelay({ upstreamHost: up[1]!, upstreamPort: Number(up[2]), host: values.host ?? '127.0.0.1', port: Number(values.port ?? 0) });
  });
}
