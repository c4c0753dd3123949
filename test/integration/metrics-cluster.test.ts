// SPDX-License-Identifier: MIT
/**
 * With --workers 2 one scrape of /metrics sees the whole instance: a real
 * 2-worker gateway process in front of a simulator, sessions spread over the
 * workers, and the scraped counters equal what the simulator saw from both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metric } from '../helpers/cache-checks.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { httpGet } from '../helpers/gateway.js';
import { freePort, LOOPBACK } from '../helpers/ports.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const SESSIONS = 6;

describe('metrics aggregated over cluster workers', () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  let adminPort: number;
  const clients: RpcClient[] = [];
  const scrape = async (): Promise<string> => {
    const reply = await httpGet(LOOPBACK, adminPort, '/metrics');
    assert.equal(reply.status, 200, reply.body);
    return reply.body;
  };

  before(async () => {
    sim = await Simulator.start();
    adminPort = await freePort();
    gw = await GatewayProcess.start({ upstream: sim.url, admin: `${LOOPBACK}:${adminPort}`, extraArgs: ['--workers', '2'] });
    await gw.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('all 2 workers serving'), 20_000);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.stop();
    await sim?.stop();
  });

  it('one scrape counts both workers\' sessions, requests and upstream traffic', async () => {
    for (let i = 0; i < SESSIONS; i++) {
      const c = await RpcClient.connect(gw.port, gw.host);
      clients.push(c);
      await c.request('server.version', ['metrics-cluster-test', '1.4']);
      await c.request('server.ping');
    }
    // Both workers have synced their chain from the simulator and carry sessions.
    await RpcClient.until(
      async () => metric(await scrape(), 'electrum_gateway_sessions') === SESSIONS,
      `the scrape to count all ${SESSIONS} sessions`,
      15_000,
      100,
    );
    const text = await scrape();
    assert.equal(metric(text, 'electrum_gateway_client_requests_total', { method: 'server.ping', result: 'ok' }), SESSIONS);
    // Every worker's tracker fetched headers from the simulator; the scrape sums them all.
    const headerRequests = sim.stats.requests['blockchain.block.headers'] ?? 0;
    assert.ok(headerRequests >= 2, `each of 2 workers syncs headers, the simulator saw ${headerRequests}`);
    assert.equal(metric(text, 'electrum_gateway_upstream_requests_total', { method: 'blockchain.block.headers' }), headerRequests);
    // A gauge the workers share is averaged, not summed: the one upstream is healthy, once.
    assert.equal(metric(text, 'electrum_gateway_upstream_state', { state: 'healthy' }), 1);
    assert.equal(metric(text, 'electrum_gateway_upstream_tip_height'), sim.tipHeight());
  });
});
