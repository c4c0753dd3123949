// SPDX-License-Identifier: MIT
/**
 * Request timeouts of one upstream connection, now kept on one timer per
 * connection (src/upstream/deadlines.ts): a request never answered fails as a
 * timeout, one waiting for a slot fails as never sent, an answered one is not
 * failed later, and the connection carries on after its timeouts.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { UpstreamConnection, UpstreamError } from '../../src/upstream/connection.js';

const GENESIS = '00'.repeat(32);

/** A server that answers the handshake and `server.ping`, and never answers `hang`. */
function startServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line) as { id: number; method: string };
        const result = msg.method === 'server.version' ? ['fake 1.0', '1.4'] : msg.method === 'server.features' ? { genesis_hash: GENESIS } : msg.method === 'server.ping' ? null : undefined;
        if (result !== undefined) socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result })}\n`);
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('upstream request timeouts (one timer per connection)', () => {
  let server: net.Server;
  let conn: UpstreamConnection;
  const outcomes: string[] = [];

  before(async () => {
    server = await startServer();
    const { port } = server.address() as net.AddressInfo;
    conn = new UpstreamConnection(
      { name: 'fake', scheme: 'tcp', host: '127.0.0.1', port },
      { clientName: 'test', protocolRange: ['1.4', '1.4'], genesisHash: GENESIS, connectTimeoutMs: 5000, maxMessageBytes: 1_000_000, maxInFlight: 1, logger: pino({ level: 'silent' }) },
    );
    conn.on('outcome', (o) => outcomes.push(`${o.method}:${o.result}`));
    await conn.open();
  });
  after(() => {
    conn.close();
    server.close();
  });

  it('fails an unanswered request as a timeout, and one waiting for a slot as never sent', async () => {
    const hung = conn.request('hang', [], 150);
    // maxInFlight 1: this one waits behind the hung request and times out first.
    const queued = conn.request('server.ping', [], 50);
    await assert.rejects(queued, (err: unknown) => err instanceof UpstreamError && err.kind === 'timeout' && err.notSent && /waiting for one of 1 request slots/.test(err.message));
    await assert.rejects(hung, (err: unknown) => err instanceof UpstreamError && err.kind === 'timeout' && !err.notSent && /hang timed out after 150 ms/.test(err.message));
    assert.deepEqual(outcomes.slice(-2), ['server.ping:timeout', 'hang:timeout']);
  });

  it('answers requests after a timeout, and an answered request is not failed at its deadline', async () => {
    assert.equal(await conn.request('server.ping', [], 100), null);
    const hung = conn.request('hang', [], 200);
    await assert.rejects(hung, (err: unknown) => err instanceof UpstreamError && err.kind === 'timeout');
    // The answered ping's deadline passed too; it reported ok once and nothing more.
    assert.equal(outcomes.filter((o) => o === 'server.ping:ok').length, 1);
    assert.equal(conn.inFlight, 0);
    assert.equal(conn.isOpen, true);
  });

  it('a short timeout behind a long one still fires first', async () => {
    const long = conn.request('hang', [], 5000);
    const short = conn.request('hang', [], 30);
    await assert.rejects(short, (err: unknown) => err instanceof UpstreamError && err.kind === 'timeout');
    assert.equal(conn.inFlight, 1);
    conn.close();
    await assert.rejects(long, (err: unknown) => err instanceof UpstreamError && err.kind === 'closed');
  });
});
