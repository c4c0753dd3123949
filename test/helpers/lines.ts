// SPDX-License-Identifier: MIT
/** Newline-delimited JSON-RPC framing for the tests' scripted upstreams. */
import type net from 'node:net';

/** Calls `onLine` with each complete line (without its "\n") the socket receives, in order. */
export function onLines(socket: net.Socket, onLine: (line: string) => void): void {
  let buf = '';
  socket.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}
