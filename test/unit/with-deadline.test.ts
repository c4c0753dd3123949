// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { TransportError, withDeadline } from '../../src/upstream/transport.js';

const later = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));

describe('withDeadline', () => {
  it('what arrives in time is returned, and nothing is discarded', async () => {
    const discarded: string[] = [];
    assert.equal(await withDeadline(later(5, 'ok'), Date.now() + 1000, 'x', (v) => discarded.push(v)), 'ok');
    await later(20, null);
    assert.deepEqual(discarded, []);
  });

  it('a result that arrives after the deadline is handed to discard, never leaked', async () => {
    const discarded: string[] = [];
    await assert.rejects(withDeadline(later(60, 'late socket'), Date.now() + 10, 'connect to h:1', (v) => discarded.push(v)), (e: Error) => e instanceof TransportError && /connect to h:1 timed out/.test(e.message));
    assert.deepEqual(discarded, [], 'not yet arrived');
    await later(100, null);
    assert.deepEqual(discarded, ['late socket']);
  });

  it('a real socket that connects after its deadline is destroyed', async () => {
    const server = net.createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    let socket: net.Socket | undefined;
    const connecting = later(50, null).then(
      () =>
        new Promise<net.Socket>((resolve) => {
          socket = net.connect(port, '127.0.0.1', () => resolve(socket!));
        }),
    );
    await assert.rejects(withDeadline(connecting, Date.now() + 10, 'connect', (late) => late.destroy()));
    await later(150, null);
    assert.ok(socket, 'the connect went on after the deadline');
    assert.equal(socket.destroyed, true);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('a rejection after the deadline is swallowed (no unhandled rejection)', async () => {
    const failing = later(30, null).then(() => {
      throw new Error('refused');
    });
    await assert.rejects(withDeadline(failing, Date.now() + 5, 'x', () => assert.fail('nothing to discard')));
    await later(60, null);
  });
});
