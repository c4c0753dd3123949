// SPDX-License-Identifier: MIT
/**
 * The upstream pool against several simulators, through the in-process
 * gateway and its admin listener:
 *
 *  - one upstream killed under a steady load of mixed requests from 50
 *    sessions: no request fails, no session drops; restarted, it rejoins and
 *    gets traffic again;
 *  - a lagging upstream gets no tip-sensitive requests (scripthash, broadcast,
 *    headers near the tip) and /status and /metrics show it lagging, until it
 *    catches up;
 *  - an upstream on another network is refused and reported wrong-network;
 *  - server-side failures are retried elsewhere, definitive answers are not,
 *    and a broadcast that reached a server is never sent again;
 *  - the circuit breaker opens on a failing upstream and closes when it
 *    recovers (electrum_gateway_upstream_circuit_state);
 *  - /metrics exposes state, tip, lag, latency, requests by method, reconnects;
 *  - a Fulcrum-like per-IP connection cap is respected (max_connections).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { networkByName } from '../../src/config/networks.js';
import { GatewayMetrics } from '../../src/observability/metrics.js';
import { ErrorCode } from '../../src/protocol/jsonrpc.js';
import { scriptToScripthash } from '../../src/protocol/address.js';
import { parseTransaction } from '../../src/protocol/bitcoin/tx.js';
import { Router } from '../../src/routing/router.js';
import { UpstreamError, type UpstreamConnection } from '../../src/upstream/connection.js';
import { UpstreamPool } from '../../src/upstream/pool.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { RpcCallError, RpcClient, rpcErrorOf } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const SEED = 'pool-test';
const REGTEST = networkByName('regtest');
const MAINNET_GENESIS = '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f';
/** What a pool connection sends by itself: handshake, its headers subscription, pings. */
const HOUSEKEEPING = new Set(['server.version', 'server.features', 'blockchain.headers.subscribe', 'server.ping']);

/** Requests a simulator received from the gateway on behalf of wallets (housekeeping excluded). */
function forwarded(sim: Simulator, only?: (method: string) => boolean): number {
  let n = 0;
  for (const [m, c] of Object.entries(sim.stats.requests)) if (!HOUSEKEEPING.has(m) && (!only || only(m))) n += c;
  return n;
}

function count(sim: Simulator, method: string): number {
  return sim.stats.requests[method] ?? 0;
}

/**
 * Scripthashes for wallet traffic: those with real history (the outputs of the
 * transactions in blocks 101..110), then made-up ones (empty history) up to `n`.
 */
function scripthashes(sim: Simulator, n = 40): string[] {
  const out = new Set<string>();
  for (let h = 101; h <= 110; h++) {
    for (const txid of sim.blockTxids(h)) {
      for (const o of parseTransaction(sim.rawTransaction(txid)!).outputs) {
        if (o.script[0] !== 0x6a) out.add(scriptToScripthash(o.script));
      }
    }
  }
  assert.ok(out.size >= 2, 'the chain has addresses with history');
  for (let i = 0; out.size < n; i++) out.add(createHash('sha256').update(`pool-test-${i}`).digest('hex'));
  return [...out].slice(0, n);
}

/** A value from the Prometheus text format, or undefined when the series is absent. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[k!] = v!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function statusOf(gw: TestGateway, name: string): Promise<{ state: string; lag: number | null; tipHeight: number | null; connections: number; breaker: string; endpoint: string }> {
  const doc = await gw.status();
  const u = doc.upstreams.find((x) => x.name === name);
  assert.ok(u, `upstream ${name} is on /status`);
  return u;
}

async function untilStates(gw: TestGateway, want: Record<string, string>, timeoutMs = 10_000): Promise<void> {
  let last = '';
  try {
    await RpcClient.until(
      async () => {
        const doc = await gw.status();
        last = JSON.stringify(doc.upstreams.map((u) => [u.name, u.state, u.tipHeight, u.lag, u.connections]));
        return Object.entries(want).every(([name, state]) => doc.upstreams.find((u) => u.name === name)?.state === state);
      },
      `upstream states ${JSON.stringify(want)}`,
      timeoutMs,
      20,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last /status: ${last}`);
  }
}

async function session(gw: TestGateway, protocol = '1.4'): Promise<RpcClient> {
  const c = await RpcClient.connect(gw.port, gw.host, 10_000);
  await c.request('server.version', ['pool-test', protocol]);
  return c;
}

/**
 * Two simulators on the same chain (x, y) behind one gateway with its admin
 * listener, both healthy, and a session at `protocol`; all closed after the test.
 */
async function twoHealthy(
  t: TestContext,
  options: Partial<TestGatewayOptions> = {},
  protocol = '1.4',
): Promise<{ x: Simulator; y: Simulator; gw: TestGateway; cl: RpcClient }> {
  const x = await Simulator.start({ initialBlocks: 110, seed: SEED });
  const y = await Simulator.start({ initialBlocks: 110, seed: SEED });
  const gw = await startTestGateway({ upstreams: [{ host: x.host, port: x.port, name: 'x' }, { host: y.host, port: y.port, name: 'y' }], admin: true, ...options });
  t.after(async () => {
    await gw.close();
    await Promise.all([x.stop(), y.stop()]);
  });
  await untilStates(gw, { x: 'healthy', y: 'healthy' });
  const cl = await session(gw, protocol);
  t.after(() => cl.close());
  return { x, y, gw, cl };
}


/**
 * A pool of its own over simulators (one connection each), started, with the
 * metrics it reports to; `ms` sets what the test times. Closed after the test.
 */
function ownPool(t: TestContext, sims: Record<string, Simulator>, metrics: GatewayMetrics, ms: { connectTimeoutMs: number; pingIntervalMs: number }): UpstreamPool {
  const defs = Object.entries(sims).map(([name, s]) => ({ name, endpoints: [{ name, scheme: 'tcp' as const, host: s.host, port: s.port }], weight: 1, maxConnections: 1, labels: {} }));
  const pool = new UpstreamPool(
    defs,
    {
      clientName: 'pool-test',
      protocolRange: ['1.4', '1.6'],
      genesisHash: REGTEST.genesisHash,
      maxMessageBytes: 1_000_000,
      backoffBaseMs: 50,
      backoffMaxMs: 500,
      maxLagBlocks: 1,
      breaker: { failureThreshold: 3, cooldownMs: 300 },
      noUpstreamWaitMs: 3000,
      ...ms,
    },
    pino({ level: 'silent' }),
    metrics,
  );
  pool.start();
  t.after(() => pool.close());
  return pool;
}

describe('upstream pool', { concurrency: true }, () => {
  it('one upstream killed under load from 50 sessions: no failed request, no dropped session; restarted, it rejoins', async (t) => {
    const sims = await Promise.all(['a', 'b', 'c'].map(() => Simulator.start({ initialBlocks: 110, seed: SEED })));
    const [a, b, c] = sims as [Simulator, Simulator, Simulator];
    const gw = await startTestGateway({ upstreams: sims.map((s, i) => ({ host: s.host, port: s.port, name: 'abc'[i]! })), admin: true, requestTimeoutMs: 10_000 });
    t.after(async () => {
      await gw.close();
      await Promise.all(sims.map((s) => s.stop()));
    });
    await untilStates(gw, { a: 'healthy', b: 'healthy', c: 'healthy' });

    const tip = a.tipHeight();
    const hashes = scripthashes(a);
    assert.ok(hashes.some((sh) => a.history(sh).length > 0));
    const txs = [105, 106, 107, 108].flatMap((h) => a.blockTxids(h).map((txid) => ({ txid, height: h })));
    const expectedStatus = new Map(hashes.map((sh) => [sh, a.status(sh)]));

    const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => session(gw, i % 2 ? '1.4' : '1.6')));
    t.after(() => Promise.all(clients.map((cl) => cl.close())));
    // Every session follows headers and one or two scripthashes, like a wallet.
    await Promise.all(
      clients.map(async (cl, i) => {
        const head = (await cl.request('blockchain.headers.subscribe')) as { height: number };
        assert.equal(head.height, tip);
        for (const sh of [hashes[i % hashes.length]!, hashes[(i * 7 + 3) % hashes.length]!]) {
          assert.equal(await cl.request('blockchain.scripthash.subscribe', [sh]), expectedStatus.get(sh));
        }
      }),
    );

    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const call = async (cl: RpcClient, i: number, n: number): Promise<void> => {
      const sh = hashes[(i + n) % hashes.length]!;
      const tx = txs[(i * 3 + n) % txs.length]!;
      const h = (i * 13 + n) % (tip + 1);
      switch (n % 9) {
        case 0:
          assert.equal(await cl.request('blockchain.block.header', [h]), a.headerHex(h));
          break;
        case 1: {
          const r = (await cl.request('blockchain.scripthash.get_history', [sh])) as unknown[];
          assert.equal(r.length, a.history(sh).length);
          break;
        }
        case 2:
          await cl.request('blockchain.scripthash.get_balance', [sh]);
          break;
        case 3:
          assert.equal(await cl.request('blockchain.transaction.get', [tx.txid]), a.rawTransaction(tx.txid));
          break;
        case 4: {
          const m = (await cl.request('blockchain.transaction.get_merkle', [tx.txid, tx.height])) as { block_height: number };
          assert.equal(m.block_height, tx.height);
          break;
        }
        case 5:
          await cl.request('blockchain.scripthash.listunspent', [sh]);
          break;
        case 6:
          assert.ok(((await cl.request('blockchain.estimatefee', [2])) as number) > 0);
          break;
        case 7:
          await cl.request('mempool.get_fee_histogram');
          break;
        default:
          assert.equal(await cl.request('blockchain.block.header', [tip]), a.headerHex(tip));
      }
    };
    const loops = clients.map(async (cl, i) => {
      for (let n = 0; running; n++) {
        try {
          await call(cl, i, n);
          ok++;
        } catch (err) {
          failures.push(`session ${i} request ${n}: ${(err as Error).message}`);
        }
      }
    });

    const okAt = async (min: number, what: string): Promise<void> => RpcClient.until(() => ok >= min || failures.length > 0, what, 10_000);
    await okAt(500, 'load to get going');
    assert.ok(forwarded(a) > 0 && forwarded(b) > 0 && forwarded(c) > 0, 'every upstream carries load');

    await a.stop();
    const okWhenKilled = ok;
    await untilStates(gw, { a: 'down' });
    await okAt(okWhenKilled + 1000, 'load to go on without upstream a');
    await a.restart();
    const aBefore = forwarded(a);
    await untilStates(gw, { a: 'healthy' });
    await RpcClient.until(() => forwarded(a) > aBefore + 50 || failures.length > 0, 'the restarted upstream to get traffic again', 10_000);
    const okEnd = ok;
    await okAt(okEnd + 200, 'more load after the rejoin');
    running = false;
    await Promise.all(loops);

    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${ok + failures.length} requests failed`);
    assert.equal(clients.filter((cl) => cl.isClosed).length, 0, 'no session was dropped');
    // Subscriptions held on the killed upstream moved: every status still matches, and the sessions still answer.
    const notified = clients.reduce((n, cl) => n + cl.notifications.filter((x) => x.method === 'blockchain.scripthash.subscribe').length, 0);
    assert.equal(notified, 0, 'moving subscriptions to another upstream sent no spurious status notifications');
    assert.ok(b.stats.scripthashSubscriptions + c.stats.scripthashSubscriptions + a.stats.scripthashSubscriptions >= 1);
    const doc = await gw.status();
    assert.equal(doc.sessions, 50);
    const metrics = await gw.metrics();
    assert.ok((metric(metrics, 'electrum_gateway_upstream_reconnects_total', { upstream: 'a' }) ?? 0) >= 1, 'the reconnect is counted');
    assert.equal(metric(metrics, 'electrum_gateway_upstream_state', { upstream: 'a', state: 'healthy' }), 1);
    assert.equal(metric(metrics, 'electrum_gateway_upstream_state', { upstream: 'a', state: 'down' }), 0);
    t.diagnostic(`${ok} requests answered, ${failures.length} failed; upstream a served ${forwarded(a)} (${forwarded(a) - aBefore} after its restart)`);
  });

  it('a lagging upstream gets no scripthash, broadcast or near-tip header requests while it lags', async (t) => {
    // The leader is the same chain as the laggard plus blocks; a replacement started the same way later catches up on it.
    const leaderChain = async (port?: number): Promise<Simulator> => {
      const s = await Simulator.start({ initialBlocks: 118, seed: SEED, ...(port ? { port } : {}) });
      s.mine(2); // deterministic: the same seed and the same calls give the same blocks
      return s;
    };
    const lead = await leaderChain();
    let lag = await Simulator.start({ initialBlocks: 110, seed: SEED });
    // The same seed gives the same chain: the laggard holds a prefix of the leader's chain.
    for (const h of [0, 50, 101, 110]) assert.equal(lag.blockHash(h), lead.blockHash(h), `block ${h} is the same on both`);
    const gw = await startTestGateway({ upstreams: [{ host: lead.host, port: lead.port, name: 'lead' }, { host: lag.host, port: lag.port, name: 'lag' }], admin: true });
    t.after(async () => {
      await gw.close();
      await Promise.all([lead.stop(), lag.stop()]);
    });
    await untilStates(gw, { lead: 'healthy', lag: 'lagging' });
    const st = await statusOf(gw, 'lag');
    assert.equal(st.tipHeight, 110);
    assert.equal(st.lag, 10);
    assert.equal((await statusOf(gw, 'lead')).tipHeight, 120);
    assert.equal((await statusOf(gw, 'lead')).lag, 0);
    const m = await gw.metrics();
    assert.equal(metric(m, 'electrum_gateway_upstream_state', { upstream: 'lag', state: 'lagging' }), 1);
    assert.equal(metric(m, 'electrum_gateway_upstream_tip_height', { upstream: 'lag' }), 110);
    assert.equal(metric(m, 'electrum_gateway_upstream_tip_height', { upstream: 'lead' }), 120);
    assert.equal(metric(m, 'electrum_gateway_upstream_lag_blocks', { upstream: 'lag' }), 10);
    assert.equal(metric(m, 'electrum_gateway_upstream_lag_blocks', { upstream: 'lead' }), 0);

    const cl = await session(gw, '1.6');
    t.after(() => cl.close());
    const hashes = scripthashes(lead);
    const lagBefore = { ...lag.stats.requests };
    for (const sh of hashes) {
      await cl.request('blockchain.scripthash.get_history', [sh]);
      await cl.request('blockchain.scripthash.get_balance', [sh]);
      await cl.request('blockchain.scripthash.subscribe', [sh]);
    }
    for (let h = 115; h <= 120; h++) assert.equal(await cl.request('blockchain.block.header', [h]), lead.headerHex(h));
    const raw = lead.rawTransaction(lead.blockTxids(105)[1]!)!;
    for (let i = 0; i < 5; i++) await rpcErrorOf(cl.request('blockchain.transaction.broadcast', [raw]));
    const delta = (method: string): number => count(lag, method) - (lagBefore[method] ?? 0);
    const headerRequests = (): number => delta('blockchain.block.header') + delta('blockchain.block.headers');
    const tipSensitive = ['blockchain.scripthash.get_history', 'blockchain.scripthash.get_balance', 'blockchain.scripthash.subscribe', 'blockchain.transaction.broadcast'];
    for (const method of tipSensitive) assert.equal(delta(method), 0, `the lagging upstream got ${method}`);
    assert.equal(headerRequests(), 0, 'the lagging upstream got no header near the tip');
    assert.equal(count(lead, 'blockchain.transaction.broadcast'), 5, 'every broadcast went to the leader, once');
    assert.equal(lag.stats.scripthashSubscriptions, 0);
    // Buried headers come from the tracker's verified index, from no upstream; other requests about
    // buried blocks (the same on both chains) may still go to it.
    for (let i = 0; i < 40; i++) assert.equal(await cl.request('blockchain.block.header', [10 + i]), lead.headerHex(10 + i));
    assert.equal(headerRequests(), 0, 'buried headers asked of no upstream');
    for (let i = 0; i < 40; i++) assert.equal(await cl.request('blockchain.transaction.id_from_pos', [10 + i, 0]), lead.blockTxids(10 + i)[0]);
    assert.ok(delta('blockchain.transaction.id_from_pos') > 0, 'the lagging upstream still answers about buried blocks');

    // The leader moves on: the laggard's lag grows on /status and in /metrics though its own tip did not change.
    lead.mine(2);
    await RpcClient.until(async () => (await statusOf(gw, 'lag')).lag === 12, 'the lag to grow on /status');
    await RpcClient.until(async () => metric(await gw.metrics(), 'electrum_gateway_upstream_tip_height', { upstream: 'lead' }) === 122, 'the new tip in /metrics');
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_upstream_lag_blocks', { upstream: 'lag' }), 12, 'the lag gauge follows the best tip');

    // It catches up (a server restarted on a synced node, same port, same chain as the leader): routable again.
    await lag.stop();
    lag = await leaderChain(lag.port);
    lag.mine(2);
    assert.equal(lag.blockHash(122), lead.blockHash(122), 'the replacement is on the leader\'s chain');
    await untilStates(gw, { lag: 'healthy' });
    assert.equal((await statusOf(gw, 'lag')).lag, 0);
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_upstream_lag_blocks', { upstream: 'lag' }), 0);
    for (const sh of hashes) await cl.request('blockchain.scripthash.get_history', [sh]);
    assert.ok(count(lag, 'blockchain.scripthash.get_history') >= 5, `after catching up it gets its share of scripthashes (${count(lag, 'blockchain.scripthash.get_history')} of ${hashes.length})`);
  });

  it('an upstream on another network is refused, reported wrong-network and never routed to', async (t) => {
    const good = await Simulator.start({ initialBlocks: 110, seed: SEED });
    const other = await Simulator.start({ initialBlocks: 110, seed: SEED, genesisHash: MAINNET_GENESIS });
    const gw = await startTestGateway({
      upstreams: [{ host: good.host, port: good.port, name: 'good' }, { host: other.host, port: other.port, name: 'mainnet' }],
      admin: true,
      captureLogs: 'warn',
    });
    t.after(async () => {
      await gw.close();
      await Promise.all([good.stop(), other.stop()]);
    });
    await untilStates(gw, { good: 'healthy', mainnet: 'wrong-network' });
    assert.equal((await statusOf(gw, 'mainnet')).connections, 0);
    const cl = await session(gw);
    t.after(() => cl.close());
    for (let i = 0; i < 30; i++) await cl.request('blockchain.estimatefee', [2]);
    for (const sh of scripthashes(good, 10)) await cl.request('blockchain.scripthash.get_history', [sh]);
    assert.equal(forwarded(other), 0, 'nothing was routed to the wrong network');
    assert.deepEqual(Object.keys(other.stats.requests).sort(), ['server.features', 'server.version']);
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_upstream_state', { upstream: 'mainnet', state: 'wrong-network' }), 1);
    const log = gw.logs.find((r) => /wrong network/.test(String(r.msg)));
    assert.ok(log, 'the refusal is logged');
    assert.match(String(log.err), new RegExp(`genesis_hash ${MAINNET_GENESIS} is not the configured network's ${REGTEST.genesisHash}`));
    const ready = await gw.adminGet('/readyz');
    assert.equal(ready.status, 200);
  });

  it('server-side failures are retried on another upstream; definitive answers and broadcasts are not repeated', async (t) => {
    const { x, y, cl } = await twoHealthy(t, { requestTimeoutMs: 3000 }, '1.6');

    // mempool.get_info fails on x (a backend whose daemon lacks a field): the wallet never sees it.
    x.failMethod('mempool.get_info', { code: -32603, message: 'internal error: KeyError(incrementalrelayfee)' });
    const info = (await cl.request('mempool.get_info')) as Record<string, number>;
    assert.equal(info.minrelaytxfee, 0.00001);
    assert.equal(count(y, 'mempool.get_info'), 1, 'y answered it (directly, or after x failed)');
    x.failMethod('mempool.get_info', null);
    // The same with requests that stick to one upstream by scripthash: about half of these keys belong to x.
    x.failMethod('blockchain.scripthash.get_history', { code: -32603, message: 'internal server error' });
    const keys = scripthashes(x, 30);
    for (const sh of keys) assert.deepEqual(await cl.request('blockchain.scripthash.get_history', [sh]), y.history(sh));
    assert.ok(count(x, 'blockchain.scripthash.get_history') >= 1, 'x was asked (and failed)');
    assert.equal(count(y, 'blockchain.scripthash.get_history'), keys.length, 'every request was answered by y');
    x.failMethod('blockchain.scripthash.get_history', null);

    // A daemon error that is an answer (unknown transaction) comes back as it is, asked once.
    const unknown = 'ab'.repeat(32);
    const before = count(x, 'blockchain.transaction.get') + count(y, 'blockchain.transaction.get');
    for (let i = 0; i < 4; i++) {
      const err = await rpcErrorOf(cl.request('blockchain.transaction.get', [unknown]));
      assert.equal(err.code, 2);
      assert.match(err.message, /No such mempool or blockchain transaction/);
    }
    assert.equal(count(x, 'blockchain.transaction.get') + count(y, 'blockchain.transaction.get') - before, 4, 'each asked exactly once');

    // Invalid params from the upstream are definitive too.
    for (const s of [x, y]) s.failMethod('blockchain.estimatefee', { code: -32602, message: 'invalid request arguments: mode' });
    const fee = await rpcErrorOf(cl.request('blockchain.estimatefee', [2]));
    assert.deepEqual([fee.code, fee.message], [-32602, 'invalid request arguments: mode']);
    assert.equal(count(x, 'blockchain.estimatefee') + count(y, 'blockchain.estimatefee'), 1);

    // A broadcast that reached a server and failed there is not sent again...
    const raw = x.rawTransaction(x.blockTxids(104)[1]!)!;
    for (const s of [x, y]) s.failMethod('blockchain.transaction.broadcast', { code: -32603, message: 'internal error' });
    const b1 = await rpcErrorOf(cl.request('blockchain.transaction.broadcast', [raw]));
    assert.equal(b1.code, -32603);
    assert.equal(count(x, 'blockchain.transaction.broadcast') + count(y, 'blockchain.transaction.broadcast'), 1, 'sent once');
    // ...nor when its answer never comes (written, then timed out).
    for (const s of [x, y]) {
      s.failMethod('blockchain.transaction.broadcast', null);
      s.dropMethod('blockchain.transaction.broadcast', true);
    }
    const b2 = await rpcErrorOf(cl.request('blockchain.transaction.broadcast', [raw], { timeoutMs: 10_000 }));
    assert.equal(b2.code, -102);
    assert.equal(count(x, 'blockchain.transaction.broadcast') + count(y, 'blockchain.transaction.broadcast'), 2, 'the timed-out broadcast was sent once');
    // A rejection by network rules is an answer.
    for (const s of [x, y]) s.dropMethod('blockchain.transaction.broadcast', false);
    const b3 = await rpcErrorOf(cl.request('blockchain.transaction.broadcast', [raw]));
    assert.equal(b3.code, 1);
    assert.match(b3.message, /rejected by network rules/);
    assert.equal(count(x, 'blockchain.transaction.broadcast') + count(y, 'blockchain.transaction.broadcast'), 3);
  });

  it('a subscription that fails server-side on one upstream is made on another', async (t) => {
    const { x, y, cl } = await twoHealthy(t);
    x.failMethod('blockchain.scripthash.subscribe', { code: -32603, message: 'internal server error' });
    const keys = scripthashes(x, 20);
    for (const sh of keys) assert.equal(await cl.request('blockchain.scripthash.subscribe', [sh]), y.status(sh), `subscribe ${sh.slice(0, 8)}`);
    assert.ok(count(x, 'blockchain.scripthash.subscribe') >= 1, 'x was asked (and failed)');
    assert.equal(y.stats.scripthashSubscriptions, keys.length, 'every subscription is held on y');
  });

  it('the circuit breaker opens on an upstream that keeps failing (/metrics, /status) and its traffic moves away', async (t) => {
    const { x, y, gw, cl } = await twoHealthy(t);
    assert.equal(metric(await gw.metrics(), 'electrum_gateway_upstream_circuit_state', { upstream: 'x' }) ?? 0, 0);
    x.failMethod('blockchain.scripthash.get_balance', { code: -32603, message: 'internal error: bitcoind request timed out' });
    const keys = scripthashes(x, 200);
    let k = 0;
    await RpcClient.until(
      async () => {
        await cl.request('blockchain.scripthash.get_balance', [keys[k++ % keys.length]]);
        return metric(await gw.metrics(), 'electrum_gateway_upstream_circuit_state', { upstream: 'x' }) === 2;
      },
      'the circuit of x to open',
      10_000,
      0,
    );
    const st = await statusOf(gw, 'x');
    assert.equal(st.state, 'open-circuit');
    assert.equal(st.breaker, 'open');
    assert.equal(count(x, 'blockchain.scripthash.get_balance'), 5, 'it opened after 5 consecutive failures');
    // Open: nothing at all goes to x, not even what it could answer, and not its own scripthashes.
    const before = forwarded(x);
    for (const sh of keys.slice(0, 30)) await cl.request('blockchain.scripthash.get_history', [sh]);
    assert.equal(forwarded(x), before);
  });

  it('a half-open circuit lets one probe through and closes when the upstream recovers (pool with a short cooldown)', async (t) => {
    const x = await Simulator.start({ initialBlocks: 110, seed: SEED });
    const y = await Simulator.start({ initialBlocks: 110, seed: SEED });
    const metrics = new GatewayMetrics();
    const pool = ownPool(t, { x, y }, metrics, { connectTimeoutMs: 2000, pingIntervalMs: 60_000 });
    t.after(() => Promise.all([x.stop(), y.stop()]));
    const routerOptions = { attemptTimeoutMs: 1000, quarantineMs: 60_000 };
    const router = new Router(pool, routerOptions);
    const circuit = async (): Promise<number | undefined> => metric(await metrics.registry.metrics(), 'electrum_gateway_upstream_circuit_state', { upstream: 'x' });
    await RpcClient.until(() => pool.ready().length === 2, 'both upstreams to connect');
    const ask = (): Promise<unknown> => router.forward('blockchain.estimatefee', [2], '1.4', Date.now() + 3000);

    const breakerOf = (name: string): string => pool.status().find((u) => u.name === name)!.breaker;

    x.failMethod('blockchain.estimatefee', { code: -32603, message: 'internal error' });
    await RpcClient.until(async () => (await ask(), (await circuit()) === 2), 'the circuit to open', 5000, 0);
    assert.equal(pool.state('x'), 'open-circuit');
    // Open: x is not asked at all until the cooldown ends.
    const asked = count(x, 'blockchain.estimatefee');
    let whileOpen = 0;
    while (breakerOf('x') === 'open') {
      await ask();
      whileOpen++;
      assert.equal(count(x, 'blockchain.estimatefee'), asked, 'no traffic while open');
    }
    assert.ok(whileOpen > 0, 'requests were made while the circuit was open');
    assert.equal(breakerOf('x'), 'half-open');
    await RpcClient.until(async () => (await circuit()) === 1, 'half-open (1) in /metrics', 2000, 5);
    // Half-open: of many requests at once, exactly one probes x; it fails and re-opens the circuit.
    await Promise.all(Array.from({ length: 20 }, () => ask()));
    assert.equal(count(x, 'blockchain.estimatefee'), asked + 1, 'exactly one probe');
    assert.equal(breakerOf('x'), 'open');
    assert.equal(await circuit(), 2);
    // Recovered: after the next cooldown the probe succeeds and closes the circuit.
    x.failMethod('blockchain.estimatefee', null);
    await RpcClient.until(() => breakerOf('x') === 'half-open', 'the second cooldown to end', 5000, 5);
    await RpcClient.until(async () => (await ask(), (await circuit()) === 0), 'the circuit to close', 5000, 0);
    assert.equal(pool.state('x'), 'healthy');
    assert.equal(breakerOf('x'), 'closed');
    const after = count(x, 'blockchain.estimatefee');
    for (let i = 0; i < 40; i++) await ask();
    assert.ok(count(x, 'blockchain.estimatefee') - after >= 5, 'x gets its share again');
  });

  it('pings: a connection that answers other requests is kept though its pings go unanswered; a silent one is closed', async (t) => {
    // The simulator answers everything but server.ping, as a server delaying one message behind a busy
    // session's others would look. Rounds every 300 ms, a request every 500 ms answered at once: most rounds
    // see a reply in the last 300 ms (skipped), and those that do not see one 100 ms after their ping (late).
    const x = await Simulator.start({ initialBlocks: 110, seed: SEED });
    const metrics = new GatewayMetrics();
    const pool = ownPool(t, { x }, metrics, { connectTimeoutMs: 1000, pingIntervalMs: 300 });
    t.after(() => x.stop());
    await RpcClient.until(() => pool.ready().length === 1, 'the upstream to connect');
    const first = pool.ready()[0]!;
    x.dropMethod('server.ping', true);
    const pings = async (result: string): Promise<number> => metric(await metrics.registry.metrics(), 'electrum_gateway_upstream_pings_total', { upstream: 'x', result }) ?? 0;
    let failedRequests = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      await first.request('blockchain.estimatefee', [2], 1000).catch(() => failedRequests++);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(failedRequests, 0);
    assert.equal(first.isOpen, true, 'the connection that kept answering is still open');
    assert.equal(pool.ready()[0], first);
    assert.equal(await pings('failed'), 0);
    assert.ok((await pings('skipped')) >= 1, `skipped ${await pings('skipped')}`);
    assert.ok((await pings('late')) >= 1, `late ${await pings('late')}`);
    // Silent now: the next ping gets nothing back in its 1000 ms, and the connection is closed.
    await RpcClient.until(() => !first.isOpen, 'the silent connection to be closed', 5000, 20);
    assert.equal(await pings('failed'), 1);
  });

  it('/metrics exposes upstream state, tip, lag, latency histogram, requests by method and reconnects', async (t) => {
    const x = await Simulator.start({ initialBlocks: 110, seed: SEED });
    const gw = await startTestGateway({ upstreams: [{ host: x.host, port: x.port, name: 'x' }], admin: true, captureLogs: 'info' });
    t.after(async () => {
      await gw.close();
      await x.stop();
    });
    await untilStates(gw, { x: 'healthy' });
    const readyLogs = (): number => gw.logs.filter((r) => r.msg === 'upstream ready' && r.upstream === 'x').length;
    await RpcClient.until(async () => (await statusOf(gw, 'x')).connections === 2, 'both connections');
    assert.equal(readyLogs(), 1, 'one "upstream ready" when its connections come up together');
    const cl = await session(gw);
    t.after(() => cl.close());
    for (const sh of scripthashes(x, 3)) await cl.request('blockchain.scripthash.get_history', [sh]);
    assert.equal((await rpcErrorOf(cl.request('blockchain.transaction.get', ['cd'.repeat(32)]))).code, 2);
    x.mine(1);
    await RpcClient.until(async () => metric(await gw.metrics(), 'electrum_gateway_upstream_tip_height', { upstream: 'x' }) === 111, 'the new tip in /metrics');
    await x.restart();
    await RpcClient.until(async () => (metric(await gw.metrics(), 'electrum_gateway_upstream_reconnects_total', { upstream: 'x' }) ?? 0) >= 1, 'the reconnect in /metrics');
    await RpcClient.until(async () => (await statusOf(gw, 'x')).connections === 2, 'both connections back');
    const m = await gw.metrics();
    assert.equal(metric(m, 'electrum_gateway_upstream_reconnects_total', { upstream: 'x' }), 1, 'one comeback, one reconnect');
    assert.equal(readyLogs(), 2);
    assert.equal(gw.logs.filter((r) => r.msg === 'upstream connection lost' && r.upstream === 'x').length, 1);
    assert.equal(metric(m, 'electrum_gateway_upstream_state', { upstream: 'x', state: 'healthy' }), 1);
    assert.equal(metric(m, 'electrum_gateway_upstream_lag_blocks', { upstream: 'x' }), 0);
    assert.equal(metric(m, 'electrum_gateway_upstream_requests_total', { upstream: 'x', method: 'blockchain.scripthash.get_history', result: 'ok' }), 3);
    assert.equal(metric(m, 'electrum_gateway_upstream_requests_total', { upstream: 'x', method: 'blockchain.transaction.get', result: 'error' }), 1);
    assert.equal(metric(m, 'electrum_gateway_upstream_request_duration_seconds_count', { upstream: 'x', method: 'blockchain.scripthash.get_history' }), 3);
    assert.equal(metric(m, 'electrum_gateway_upstream_request_duration_seconds_bucket', { upstream: 'x', method: 'blockchain.scripthash.get_history', le: '+Inf' }), 3);
    assert.ok((metric(m, 'electrum_gateway_upstream_request_duration_seconds_sum', { upstream: 'x', method: 'blockchain.scripthash.get_history' }) ?? -1) >= 0);
    assert.match(m, /# TYPE electrum_gateway_upstream_request_duration_seconds histogram/);
    assert.match(m, /# TYPE electrum_gateway_upstream_circuit_state gauge/);
  });

  it('a Fulcrum-like per-IP connection cap: the gateway keeps max_connections per upstream whatever the number of wallets', async (t) => {
    const f = await Simulator.start({ initialBlocks: 110, seed: SEED, serverVersion: 'Fulcrum 1.11.1' });
    f.setMaxClientsPerIp(2);
    const gw = await startTestGateway({ upstreams: [{ host: f.host, port: f.port, name: 'fulcrum', options: { max_connections: '2' } }], admin: true });
    t.after(async () => {
      await gw.close();
      await f.stop();
    });
    await RpcClient.until(async () => (await statusOf(gw, 'fulcrum')).connections === 2, 'two upstream connections');
    const clients = await Promise.all(Array.from({ length: 50 }, () => session(gw)));
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const hashes = scripthashes(f);
    await Promise.all(
      clients.map(async (c, i) => {
        await c.request('blockchain.scripthash.subscribe', [hashes[i % hashes.length]]);
        for (let n = 0; n < 10; n++) await c.request('blockchain.block.header', [(i + n) % 100]);
      }),
    );
    assert.equal(f.stats.connections, 2, '50 wallets share the two upstream connections');
    assert.equal(f.stats.refusedConnections, 0);
    assert.equal(f.stats.totalConnections, 2);
    // A third connection from this IP is refused at accept, as Fulcrum does.
    const extra = await RpcClient.connect(f.port, f.host);
    await extra.closed;
    assert.equal(f.stats.refusedConnections, 1);

    // With the cap below max_connections the pool runs on what it gets and keeps answering.
    f.setMaxClientsPerIp(1);
    await f.restart();
    await RpcClient.until(() => f.stats.refusedConnections >= 2, 'the second pool connection to be refused', 10_000);
    await RpcClient.until(async () => (await statusOf(gw, 'fulcrum')).state === 'healthy', 'the pool to run on one connection', 10_000);
    for (const c of clients.slice(0, 10)) assert.equal(await c.request('blockchain.block.header', [5]), f.headerHex(5));
    assert.equal(f.stats.connections, 1);
    assert.equal((await statusOf(gw, 'fulcrum')).connections, 1);
  });
});

describe('when a broadcast may be sent again (router over a stand-in pool)', () => {
  /** A pool of named stand-in connections whose request() does what the test says. */
  function standIn(behaviour: Record<string, () => Promise<unknown>>): { pool: UpstreamPool; attempts: string[] } {
    const attempts: string[] = [];
    const conns = Object.entries(behaviour).map(
      ([name, answer]) =>
        ({
          name,
          version: '1.6',
          isOpen: true,
          inFlight: 0,
          request: () => {
            attempts.push(name);
            return answer();
          },
        }) as unknown as UpstreamConnection,
    );
    const pool = {
      referenceTipHeight: () => 110,
      ready: () => conns,
      acquire: async (_deadline: number, o: { excludeUpstreams?: ReadonlySet<string>; excludeConnections?: ReadonlySet<UpstreamConnection> } = {}) => {
        const c = conns.find((x) => !o.excludeConnections?.has(x) && !o.excludeUpstreams?.has(x.name));
        if (!c) throw new UpstreamError('connect', 'no upstream server is available', true);
        return c;
      },
      recordSuccess: () => undefined,
      recordFailure: () => undefined,
      quarantine: () => undefined,
    } as unknown as UpstreamPool;
    return { pool, attempts };
  }
  const txid = 'ef'.repeat(32);
  const forward = (pool: UpstreamPool, method: string, args: unknown[]): Promise<unknown> =>
    new Router(pool, { attemptTimeoutMs: 1000, quarantineMs: 1000 } as ConstructorParameters<typeof Router>[1]).forward(method, args, '1.6', Date.now() + 2000);
  const broadcast = (pool: UpstreamPool): Promise<unknown> => forward(pool, 'blockchain.transaction.broadcast', ['00']);

  it('the connection failed before the write (certainly not sent): tried on the next upstream', async () => {
    const { pool, attempts } = standIn({ a: () => Promise.reject(new UpstreamError('closed', 'upstream connection is closed', true)), b: async () => txid });
    assert.equal(await broadcast(pool), txid);
    assert.deepEqual(attempts, ['a', 'b']);
  });

  it('the connection died after the write: not sent again, the wallet gets an error', async () => {
    const { pool, attempts } = standIn({ a: () => Promise.reject(new UpstreamError('closed', 'upstream closed the connection')), b: async () => txid });
    await assert.rejects(broadcast(pool), (err: Error & { code?: number }) => err.code === ErrorCode.UNAVAILABLE);
    assert.deepEqual(attempts, ['a']);
  });

  it('a timed-out broadcast is not sent again either; an idempotent request would be', async () => {
    const t1 = standIn({ a: () => Promise.reject(new UpstreamError('timeout', 'timed out')), b: async () => txid });
    await assert.rejects(broadcast(t1.pool), (err: Error & { code?: number }) => err.code === ErrorCode.SERVER_BUSY);
    assert.deepEqual(t1.attempts, ['a']);
    const t2 = standIn({ a: () => Promise.reject(new UpstreamError('timeout', 'timed out')), b: async () => 0.0002 });
    assert.equal(await forward(t2.pool, 'blockchain.estimatefee', [2]), 0.0002);
    assert.deepEqual(t2.attempts, ['a', 'b']);
  });

  it('broadcast_package follows the same rule', async () => {
    const { pool, attempts } = standIn({ a: () => Promise.reject(new UpstreamError('closed', 'upstream closed the connection')), b: async () => ({ success: true }) });
    await assert.rejects(forward(pool, 'blockchain.transaction.broadcast_package', [['00']]));
    assert.deepEqual(attempts, ['a']);
  });
});

describe('routing measures against the verified tip, not the highest claimed one (router over a stand-in pool)', () => {
  const VERIFIED = 110;
  const CLAIMED = 160;
  /** A pool whose one upstream claims a tip 50 blocks past the verified one; `acquire` records what it was asked for. */
  function claimingPool(answer: unknown): { pool: UpstreamPool; asked: Array<{ minTipHeight?: number; tipSensitive?: boolean; prefer?: string }> } {
    const asked: Array<{ minTipHeight?: number; tipSensitive?: boolean; prefer?: string }> = [];
    const conn = { name: 'a', version: '1.6', isOpen: true, inFlight: 0, request: async () => answer } as unknown as UpstreamConnection;
    const pool = {
      bestTipHeight: () => CLAIMED,
      referenceTipHeight: () => VERIFIED,
      ready: () => [conn],
      acquire: async (_deadline: number, o: { minTipHeight?: number; tipSensitive?: boolean; prefer?: string }) => {
        asked.push({ minTipHeight: o.minTipHeight, tipSensitive: o.tipSensitive, prefer: o.prefer });
        return conn;
      },
      recordSuccess: () => undefined,
      recordFailure: () => undefined,
      quarantine: () => undefined,
    } as unknown as UpstreamPool;
    return { pool, asked };
  }
  const options = { attemptTimeoutMs: 1000, quarantineMs: 1000 } as ConstructorParameters<typeof Router>[1];

  it('a header past the verified tip may go to any upstream at the verified tip, not only to the one claiming more', async () => {
    const { pool, asked } = claimingPool('00'.repeat(80));
    await new Router(pool, options).forward('blockchain.block.header', [VERIFIED + 5], '1.6', Date.now() + 2000);
    assert.equal(asked[0]!.minTipHeight, VERIFIED);
    // A header 3 below the verified tip is near the tip: it avoids lagging upstreams.
    await new Router(pool, options).forward('blockchain.block.header', [VERIFIED - 3], '1.6', Date.now() + 2000);
    assert.equal(asked[1]!.tipSensitive, true);
    assert.equal(asked[1]!.minTipHeight, VERIFIED - 3);
  });

  it('a transaction confirmed 2 blocks below the verified tip is recent: its lookup prefers the upstream that listed it', async () => {
    const txid = 'ab'.repeat(32);
    const { pool, asked } = claimingPool([{ tx_hash: txid, height: VERIFIED - 2 }]);
    const router = new Router(pool, options);
    await router.forward('blockchain.scripthash.get_history', ['cd'.repeat(32)], '1.6', Date.now() + 2000);
    await router.forward('blockchain.transaction.get', [txid], '1.6', Date.now() + 2000);
    assert.equal(asked[1]!.prefer, 'a');
  });
});
