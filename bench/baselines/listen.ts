// SPDX-License-Identifier: MIT
/**
 * What the Node baselines (echo, relay) share: listening on a loopback port,
 * closing with every socket they opened, and the command-line entry that
 * prints where they listen for the harness to read.
 */
import type net from 'node:net';

export interface BaselineServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on host:port (0: any free port); close() destroys `sockets` first so it never waits on a client. */
export function listenBaseline(server: net.Server, sockets: Set<net.Socket>, host: string, port: number): Promise<BaselineServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      const addr = server.address() as net.AddressInfo;
      resolve({
        host: addr.address,
        port: addr.port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Starts a baseline, prints {"host","port"} once listening, and stops it on SIGTERM/SIGINT. */
export function runBaseline(name: string, start: () => Promise<BaselineServer>): void {
  // Through a promise, so that an argument error thrown by `start` is reported like a failed listen.
  Promise.resolve()
    .then(start)
    .then((srv) => {
      process.stdout.write(`${JSON.stringify({ host: srv.host, port: srv.port })}\n`);
      const stop = (): void => {
        void srv.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
