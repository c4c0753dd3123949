// SPDX-License-Identifier: MIT
/**
 * A wallet is told at once when no upstream can answer it (issue 15, points 3
 * and 8): it must not wait out request_timeout_ms for an upstream that is down
 * with its next retry far away, or for one that already failed this request.
 * Every gateway here has a request timeout of 60 s and the client waits 20 s at
 * most, so an answer at all proves the gateway did not sit on the request.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { networkByName } from '../../src/config/networks.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { RpcCallError, RpcClient, rpcErrorOf, connectNegotiated } from '../helpers/rpc-client.js';

const SEED = 'no-upstream';
const LONG_TIMEOUT_MS = 60_000;
const CLIENT_WAIT_MS = 20_000;


describe('no upstream can answer: the wallet hears it at once', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function gateway(upstreams: Parameters<typeof startTestGateway>[0]['upstreams'], waitMs: number): Promise<TestGateway> {
    const gw = await startTestGateway({
      upstreams,
      requestTimeoutMs: LONG_TIMEOUT_MS,
      tweak: (c) => ({ ...c, limits: { ...c.limits, noUpstreamWaitMs: waitMs } }),
    });
    cleanups.push(() => gw.close());
    return gw;
  }

  async function client(gw: TestGateway): Promise<RpcClient> {
    const c = await RpcClient.connect(gw.port, gw.host, CLIENT_WAIT_MS);
    cleanups.push(() => c.close());
    return c;
  }

  it('headers.subscribe with every upstream refusing connections gets -100 well before request_timeout_ms', async () => {
    const dead = await freePort();
    const gw = await gateway([`tcp://127.0.0.1:${dead}`], 500);
    const c = await client(gw);
    await c.request('server.version', ['t', '1.4']);
    const started = Date.now();
    const err = await rpcErrorOf(c.request('blockchain.headers.subscribe', []));
    assert.equal(err.code, -100);
    assert.match(err.message, /no upstream server is available/);
    // Not the 60 s request timeout: the wait is bounded by no_upstream_wait_ms plus a retry under way.
    assert.ok(Date.now() - started < LONG_TIMEOUT_MS / 2, 'answered long before the request timeout');
    // A forwarded method is refused the same way.
    const fee = await rpcErrorOf(c.request('blockchain.estimatefee', [2]));
    assert.equal(fee.code, -100);
  });

  it('an upstream that answers mempool.get_info with -32603 makes the 1.6 wallet hear -32603, not wait', async () => {
    const sim = await Simulator.start({ initialBlocks: 110, seed: SEED });
    cleanups.push(() => sim.stop());
    sim.failMethod('mempool.get_info', { code: -32603, message: 'internal error' });
    const gw = await gateway([sim], 3000);
    const { client: c } = await connectNegotiated(gw.port, ['1.6', '1.6']);
    cleanups.push(() => c.close());
    await c.request('blockchain.headers.subscribe', []);
    const err = await rpcErrorOf(c.request('mempool.get_info', [], { timeoutMs: CLIENT_WAIT_MS }));
    assert.equal(err.code, -32603, 'the upstream\'s own error is passed through');
    // The same session keeps working.
    assert.equal(typeof (await c.request('blockchain.estimatefee', [2])), 'number');
  });

  it('with a second upstream that can answer, mempool.get_info is served from it', async () => {
    const failing = await Simulator.start({ initialBlocks: 110, seed: SEED });
    const healthy = await Simulator.start({ initialBlocks: 110, seed: SEED });
    cleanups.push(() => failing.stop(), () => healthy.stop());
    failing.failMethod('mempool.get_info', { code: -32603, message: 'internal error' });
    const gw = await gateway([failing, healthy], 3000);
    const { client: c } = await connectNegotiated(gw.port, ['1.6', '1.6']);
    cleanups.push(() => c.close());
    await c.request('blockchain.headers.subscribe', []);
    for (let i = 0; i < 4; i++) {
      const info = (await c.request('mempool.get_info', [], { timeoutMs: CLIENT_WAIT_MS })) as Record<string, unknown>;
      assert.equal(typeof info.mempoolminfee, 'number');
    }
  });

  it('an upstream coming up within the wait still answers the wallet that asked before it was ready', async () => {
    const port = await freePort();
    const gw = await gateway([`tcp://127.0.0.1:${port}`], 10_000);
    const c = await client(gw);
    await c.request('server.version', ['t', '1.4']);
    const answer = c.request('blockchain.headers.subscribe', []);
    // The upstream starts after the wallet asked; its retries are due within the 10 s wait.
    await new Promise((r) => setTimeout(r, 300));
    const sim = await Simulator.start({ initialBlocks: 110, seed: SEED, port });
    cleanups.push(() => sim.stop());
    const tip = (await answer) as { height: number };
    assert.equal(tip.height, 110);
  });

  it('while an upstream stays unreachable an info line keeps saying so, naming it, its error and its next retry', async () => {
    const dead = await freePort();
    const records: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const pool = new UpstreamPool(
      [{ name: 'gone', endpoints: [{ name: 'gone', scheme: 'tcp', host: '127.0.0.1', port: dead }], weight: 1, maxConnections: 1, labels: {} }],
      {
        clientName: 'retry-summary-test',
        protocolRange: ['1.4', '1.6'],
        genesisHash: networkByName('regtest').genesisHash,
        connectTimeoutMs: 1000,
        maxMessageBytes: 1_000_000,
        backoffBaseMs: 50,
        backoffMaxMs: 400,
        maxLagBlocks: 1,
        pingIntervalMs: 60_000,
        breaker: { failureThreshold: 5, cooldownMs: 1000 },
        noUpstreamWaitMs: 100,
        retrySummaryIntervalMs: 150,
      },
      pino({ level: 'info' }, sink),
    );
    pool.start();
    cleanups.push(async () => pool.close());
    const summaries = () => records.filter((r) => r.msg === 'still retrying unavailable upstreams');
    await RpcClient.until(() => summaries().length >= 3, 'three retry summaries');
    // The per-upstream warning came once; the summaries keep coming at info.
    assert.equal(records.filter((r) => r.msg === 'upstream unavailable' && r.level === 40).length, 1);
    const last = summaries().at(-1)! as { level: number; unavailable: { name: string; failures: number; lastError: string; nextRetryInMs: number | null }[]; available: number };
    assert.equal(last.level, 30);
    assert.equal(last.available, 0);
    assert.equal(last.unavailable.length, 1);
    assert.equal(last.unavailable[0]!.name, 'gone');
    assert.ok(last.unavailable[0]!.failures >= 2);
    assert.match(last.unavailable[0]!.lastError, /ECONNREFUSED|refused/i);
    assert.equal(typeof last.unavailable[0]!.nextRetryInMs, 'number');
  });
});
