// SPDX-License-Identifier: MIT
/**
 * limits.max_unsent_bytes_total through a real gateway: clients that stop
 * reading pile up output, each below its own max_unsent_bytes, until their
 * sum passes the budget of all sessions; then the largest holders are cut
 * (reason unsent_total, a warning naming the peer), a client that reads is
 * untouched, and the total goes back down.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

const LONG = 'dd'.repeat(32);
/** About 160 KB on the wire. */
const longHistory = Array.from({ length: 2000 }, (_, i) => ({ tx_hash: (i % 16).toString(16).repeat(64), height: 1 + (i % 100) }));
const TOTAL = 6_000_000;

describe('max_unsent_bytes_total', () => {
  let sim: Simulator;
  let gw: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'unsent-budget', initialBlocks: 110 });
    sim.setHistory(LONG, longHistory);
    gw = await startTestGateway({
      upstreams: [sim],
      captureLogs: 'warn',
      // Each session alone may hold 40 MB unsent: only the budget of all of them can cut them here.
      tweak: (c) => ({ ...c, limits: { ...c.limits, maxUnsentBytes: 40_000_000, maxUnsentBytesTotal: TOTAL } }),
    });
    await RpcClient.until(() => gw.gateway.tracker.tip?.height === 110, 'the gateway to follow the upstream', 10_000);
  });
  after(async () => {
    await gw.close();
    await sim.stop();
  });

  const disconnects = async (reason: string): Promise<number> =>
    (await gw.gateway.metrics.disconnects.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  it('the sessions holding the most are cut once the sum passes the budget; a reading client is untouched', async () => {
    const good = await connectNegotiated(gw.port, '1.6');
    // Four clients that ask for 100 long histories each (16 MB) and never read.
    const hogs = await Promise.all(
      [0, 1, 2, 3].map(
        () =>
          new Promise<{ socket: net.Socket; closed: Promise<void> }>((resolve, reject) => {
            const socket = net.connect({ host: '127.0.0.1', port: gw.port }, () => resolve({ socket, closed }));
            const closed = new Promise<void>((r) => socket.once('close', () => r()));
            socket.once('error', reject);
          }),
      ),
    );
    for (const { socket } of hogs) {
      socket.on('error', () => undefined);
      socket.pause();
      const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'blockchain.scripthash.get_history', params: [LONG] }));
      socket.write(`${lines.join('\n')}\n`);
    }
    await RpcClient.until(async () => (await disconnects('unsent_total')) >= 1, 'a hog to be cut for the budget of all sessions', 20_000, 50);
    // The reading client is served meanwhile, and is not among those cut.
    const answer = (await good.client.request('blockchain.scripthash.get_history', [LONG])) as unknown[];
    assert.equal(answer.length, longHistory.length);
    assert.equal(await disconnects('slow_reader'), 0, 'no session reached its own bound');
    const warned = gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('max_unsent_bytes_total'));
    assert.ok(warned.length >= 1);
    assert.match(String(warned[0]!.peer), /^127\.0\.0\.1:\d+$/, 'the log line names the peer');
    assert.ok(Number(warned[0]!.totalUnsentBytes) > TOTAL);
    for (const { socket } of hogs) socket.destroy();
    await Promise.all(hogs.map((h) => h.closed));
    const unsent = async (): Promise<number> => (await gw.gateway.metrics.registry.getSingleMetric('electrum_gateway_client_unsent_bytes')!.get()).values[0]!.value;
    await RpcClient.until(async () => (await unsent()) === 0, 'nothing left unsent once they are gone (the gauge)', 10_000, 50);
    assert.equal(((await good.client.request('server.ping', [])) as null), null);
    await good.client.close();
  });
});
