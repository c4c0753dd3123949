// SPDX-License-Identifier: MIT
/**
 * Idle sessions are cheap (docs/limits.md, "Memory per session"): a session
 * that negotiated and went quiet makes no logger of its own, yet the lines it
 * does log (here its idle timeout) still name its peer, and the one shared
 * idle sweep still closes it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { GatewayConfig } from '../../src/config/types.js';
import { startGateway, type RunningGateway } from '../../src/gateway.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { testConfig } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const SESSIONS = 5;
const IDLE_MS = 500;

/** A client that sends server.version and reads its answer, then says nothing. */
function negotiate(port: number): Promise<{ socket: net.Socket; peer: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let text = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (!text.includes('\n')) return;
      const reply = JSON.parse(text.slice(0, text.indexOf('\n'))) as { result?: unknown };
      assert.ok(Array.isArray(reply.result), `server.version answered: ${text}`);
      resolve({ socket, peer: `127.0.0.1:${socket.localPort}`, closed });
    });
    socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server.version', params: ['idle-test', '1.4'] })}\n`);
  });
}

describe('idle sessions', () => {
  let sim: Simulator;
  let gateway: RunningGateway;
  const records: Record<string, unknown>[] = [];
  /** Child loggers made with a peer in their bindings: one per session that logged something. */
  const peerLoggers: string[] = [];

  before(async () => {
    sim = await Simulator.start({ initialBlocks: 110 });
    const base = testConfig({ upstreams: [sim] });
    const config: GatewayConfig = { ...base, logging: { level: 'info' }, limits: { ...base.limits, idleTimeoutMs: IDLE_MS } };
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger: Logger = createLogger({ level: 'info' }, sink);
    const child = logger.child.bind(logger);
    logger.child = ((bindings: Record<string, unknown>, options?: object) => {
      if (typeof bindings.peer === 'string') peerLoggers.push(bindings.peer);
      return child(bindings, options);
    }) as Logger['child'];
    gateway = await startGateway(config, logger);
  });

  after(async () => {
    await gateway.close();
    await sim.stop();
  });

  it('hold no logger until they log; the idle timeout closes them and its line names the peer', async () => {
    const port = gateway.listeners[0]!.port;
    const clients = await Promise.all(Array.from({ length: SESSIONS }, () => negotiate(port)));
    assert.deepEqual(peerLoggers, [], 'negotiating logged nothing at info, so no session made a logger');
    await RpcClient.until(() => clients.every((c) => c.socket.destroyed || c.socket.readableEnded), 'every idle session to be closed', 10_000, 20);
    await Promise.all(clients.map((c) => (c.socket.destroy(), c.closed)));
    const timeouts = records.filter((r) => r.msg === 'idle timeout');
    assert.deepEqual(timeouts.map((r) => r.peer).sort(), clients.map((c) => c.peer).sort(), 'one idle-timeout line per session, naming its peer');
    for (const r of timeouts) assert.equal(r.listener, gateway.listeners[0]!.url);
    assert.deepEqual([...peerLoggers].sort(), clients.map((c) => c.peer).sort(), 'a logger was made for each session as it logged');
  });
});
