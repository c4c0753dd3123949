// SPDX-License-Identifier: MIT
/**
 * max_response_bytes (ElectrumX's MAX_SEND): an answer, or a batch of
 * answers, larger than the limit is replaced by -32600 "response too large",
 * so one client cannot make the gateway hold unbounded output. And
 * server.features fills its hosts' ports from the public listeners.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { featureHosts } from '../../src/frontend/local-methods.js';
import { defaultConfig } from '../../src/config/load.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, connectNegotiated } from '../helpers/rpc-client.js';

const LIMIT = 20_000;

describe('max_response_bytes', () => {
  let sim: Simulator;
  let gw: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'response-limit', initialBlocks: 140 });
    gw = await startTestGateway({
      upstreams: [sim],
      // Nothing cached, so every answer is built from the upstream's.
      tweak: (c) => ({ ...c, limits: { ...c.limits, maxResponseBytes: LIMIT }, cache: { ...c.cache, minDepth: 10_000 } }),
    });
  });
  after(async () => {
    await gw.close();
    await sim.stop();
  });

  it('an answer under the limit is sent whole; one over it becomes -32600', async () => {
    const { client } = await connectNegotiated(gw.port, '1.6');
    // 100 headers are 16,000 hex characters plus JSON: under 20,000 bytes.
    const fits = (await client.request('blockchain.block.headers', [0, 100])) as { headers: string[] };
    assert.equal(fits.headers.length, 100);
    assert.equal(fits.headers[99], sim.headerHex(99));
    // Two such ranges in one batch are over the limit together: the second is replaced.
    const answers = (await client.batch([
      { method: 'blockchain.block.headers', params: [0, 100] },
      { method: 'blockchain.block.headers', params: [0, 100] },
    ])) as Record<string, unknown>[];
    assert.equal(answers.length, 2);
    assert.ok('result' in answers[0]!, 'the first answer fits and is sent');
    assert.deepEqual(answers[1]!.error, { code: -32600, message: `response too large (over ${LIMIT} bytes)` });
    await client.close();
  });

  it('a single answer over the limit is an error, and the session goes on', async () => {
    const { client } = await connectNegotiated(gw.port, '1.4');
    // 130 headers are 20,800 hex characters: over 20,000 bytes on their own.
    await assert.rejects(client.request('blockchain.block.headers', [0, 130]), (err: unknown) => {
      assert.ok(err instanceof RpcCallError);
      assert.equal(err.code, -32600);
      assert.equal(err.message, `response too large (over ${LIMIT} bytes)`);
      return true;
    });
    assert.equal(await client.request('server.ping'), null, 'the session is still usable');
    await client.close();
  });
});

describe('server.features hosts', () => {
  it('fills the ports an entry leaves out from the public listeners, never from loopback ones', () => {
    const base = defaultConfig();
    const listen = [
      { url: 'tcp://0.0.0.0:50001', scheme: 'tcp' as const, host: '0.0.0.0', port: 50001, path: '/' },
      { url: 'tls://0.0.0.0:50002', scheme: 'tls' as const, host: '0.0.0.0', port: 50002, path: '/' },
      { url: 'wss://0.0.0.0:50004/', scheme: 'wss' as const, host: '0.0.0.0', port: 50004, path: '/' },
      { url: 'ws://127.0.0.1:50003/', scheme: 'ws' as const, host: '127.0.0.1', port: 50003, path: '/' },
    ];
    const config = { ...base, listen, server: { ...base.server, hosts: { 'gw.example.com': {}, 'tor.onion': { tcp_port: 60001 } } } };
    assert.deepEqual(featureHosts(config), {
      'gw.example.com': { tcp_port: 50001, ssl_port: 50002, wss_port: 50004 },
      'tor.onion': { tcp_port: 60001, ssl_port: 50002, wss_port: 50004 },
    });
  });
});
