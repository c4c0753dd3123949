// SPDX-License-Identifier: MIT
/**
 * Limits with real sockets:
 *
 *  - the cost model: a wallet downloading 2016-header chunks in a loop is
 *    first throttled, then refused with -101 and disconnected, and its subnet
 *    stays refused after a reconnect; a light wallet from another /24 keeps
 *    being served (its latency is printed, not asserted);
 *  - connection limits: max_sessions, 1,000 pipelined requests all answered
 *    (20 in the works at a time), and the idle timeout that any request,
 *    server.ping included, resets;
 *  - hostile input against the gateway as a child process, so its memory is
 *    its own: 2 MB lines (tcp and ws), 10,000-element batches, deeply nested
 *    JSON, invalid UTF-8, a client that never reads, 1,000 idle connections
 *    from one address. Each gets its documented treatment (docs/limits.md);
 *    the gateway's heap is capped, so keeping any of that input or output
 *    would run it out of memory, and a second round of everything must not
 *    grow its resident memory (measured from /proc before and after).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { GatewayConfig } from '../../src/config/types.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePorts } from '../helpers/ports.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

/** Another /24 on loopback: any 127.x.y.z is ours. */
const OTHER_SUBNET = '127.0.1.1';

async function connectFrom(port: number, localAddress: string, onClose?: () => void): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  // Listen before 'connect': a connection refused at accept may be gone before the caller looks.
  if (onClose) socket.once('close', onClose);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** The test JSON-RPC client over a socket we opened ourselves (to pick its source address). */
function rpcOver(socket: net.Socket, timeoutMs = 5000): RpcClient {
  const Ctor = RpcClient as unknown as new (socket: net.Socket, timeoutMs: number) => RpcClient;
  return new Ctor(socket, timeoutMs);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `n=${s.length} p50=${percentile(s, 50).toFixed(2)} ms p99=${percentile(s, 99).toFixed(2)} ms max=${s[s.length - 1]!.toFixed(2)} ms`;
}

async function counter(c: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

let sim: Simulator;

before(async () => {
  // Long enough for real 2016-header chunks.
  sim = await Simulator.start({ seed: 'limits', initialBlocks: 2100 });
});

after(async () => {
  await sim?.stop();
});

describe('cost limits: a chunk downloader and a light wallet from another subnet', () => {
  let gw: TestGateway;
  const SOFT = 200;
  const HARD = 1000;

  before(async () => {
    gw = await startTestGateway({
      upstreams: [sim],
      captureLogs: 'info',
      tweak: (c): GatewayConfig => ({
        ...c,
        admin: { host: '127.0.0.1', port: 0 },
        cost: { ...c.cost, softLimit: SOFT, hardLimit: HARD, maxDelayMs: 200, decayPerSecond: 1, bandwidthUnitBytes: 5000 },
      }),
    });
    const probe = await RpcClient.connect(gw.port);
    await RpcClient.until(async () => (await probe.request('blockchain.block.header', [0]).catch(() => null)) !== null, 'the gateway to reach the simulator', 10_000, 25);
    await probe.close();
  });

  after(async () => {
    await gw?.close();
  });

  it('the downloader is throttled, then refused with -101 and closed; the light wallet is served throughout', async () => {
    const light = rpcOver(await connectFrom(gw.port, OTHER_SUBNET));
    assert.deepEqual(await light.request('server.version', ['light-wallet', '1.4']), [(await light.request('server.features') as { server_version: string }).server_version, '1.4']);
    const tip = sim.tipHeight();
    const lightCall = (i: number): Promise<unknown> =>
      i % 3 === 0 ? light.request('server.ping') : i % 3 === 1 ? light.request('blockchain.block.header', [i % tip]) : light.request('blockchain.estimatefee', [2]);

    // The light wallet on its own.
    // A wallet's pace: a request every 10 ms or so, not a flood.
    const pace = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
    const idle: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      await lightCall(i);
      idle.push(performance.now() - t0);
      await pace();
    }

    // The downloader: one chunk after another, as fast as answers come.
    const heavy = await RpcClient.connect(gw.port, '127.0.0.1', 15_000);
    let done = false;
    const heavyRun = (async () => {
      const log: { throttled: boolean; ms: number }[] = [];
      let refusal: RpcCallError | null = null;
      try {
        for (let i = 0; i < 200; i++) {
          const before = await counter(gw.gateway.metrics.throttled);
          const t0 = performance.now();
          try {
            const r = (await heavy.request('blockchain.block.headers', [(i * 7) % 50, 2016])) as { count: number; hex: string };
            assert.equal(r.count, 2016);
            assert.equal(r.hex.length, 2016 * 160);
          } catch (err) {
            if (err instanceof RpcCallError) {
              refusal = err;
              break;
            }
            throw err;
          }
          log.push({ throttled: (await counter(gw.gateway.metrics.throttled)) > before, ms: performance.now() - t0 });
        }
      } finally {
        done = true;
      }
      return { log, refusal };
    })();

    const loaded: number[] = [];
    let lightErrors = 0;
    for (let i = 0; !done; i++) {
      const t0 = performance.now();
      try {
        await lightCall(i);
      } catch {
        lightErrors++;
      }
      loaded.push(performance.now() - t0);
      await pace();
    }
    const { log, refusal } = await heavyRun;

    const firstThrottled = log.findIndex((e) => e.throttled);
    console.log(`# downloader: ${log.length} chunks served (${log.filter((e) => e.throttled).length} throttled, first at #${firstThrottled + 1}), then ${refusal ? `${refusal.code} ${refusal.message}` : 'no refusal'}`);
    console.log(`# downloader chunk latency: unthrottled ${summary(log.filter((e) => !e.throttled).map((e) => e.ms))}; throttled ${summary(log.filter((e) => e.throttled).map((e) => e.ms))}`);
    console.log(`# light wallet alone:            ${summary(idle)}`);
    console.log(`# light wallet during the abuse: ${summary(loaded)}`);

    assert.ok(firstThrottled > 0, 'the first chunks ran at full speed');
    assert.ok(log.slice(0, firstThrottled).every((e) => !e.throttled));
    assert.ok(log.slice(firstThrottled).every((e) => e.throttled), 'once throttled, every later chunk was throttled');
    assert.ok(refusal, 'the downloader was refused in the end');
    assert.equal(refusal.code, -101);
    assert.equal(refusal.message, 'excessive resource usage');
    // ~66 units a chunk (1 + 2016*162/5000 up front): the bill reaches HARD after about HARD/66 chunks.
    assert.ok(log.length >= Math.floor(HARD / 70) - 1 && log.length <= Math.ceil(HARD / 60) + 1, `${log.length} chunks before the refusal`);
    await heavy.closed;
    assert.equal(await counter(gw.gateway.metrics.disconnects, { reason: 'hard_limit' }), 1);
    assert.ok(gw.logs.some((r) => r.msg === 'excessive resource usage; disconnecting' && r.group === '127.0.0.0/24'));

    assert.equal(lightErrors, 0, 'the light wallet got every answer');
    assert.ok(loaded.length >= 10, `the light wallet kept going during the abuse (${loaded.length} requests)`);
    const status = JSON.parse(await httpGet(gw.gateway.admin!.port, '/status')) as { costs: { topGroups: { group: string; cost: number }[] } };
    const lightCost = status.costs.topGroups.find((g) => g.group === '127.0.1.0/24')?.cost ?? 0;
    const heavyCost = status.costs.topGroups.find((g) => g.group === '127.0.0.0/24')?.cost ?? 0;
    assert.ok(lightCost < SOFT, `the light wallet's subnet stayed under the soft limit (${lightCost})`);
    assert.ok(heavyCost >= HARD - 10, `the downloader's subnet is at the hard limit (${heavyCost})`);
    assert.equal(status.costs.topGroups[0]?.group, '127.0.0.0/24', '/status names the top talker first');

    // Reconnecting does not wipe the bill: the subnet is refused again at once.
    const again = await RpcClient.connect(gw.port);
    await assert.rejects(again.request('server.ping'), (e: RpcCallError) => e.code === -101);
    await again.closed;
    // ... while the light wallet still is served.
    assert.equal(await light.request('server.ping'), null);
    await light.close();
  });
});

describe('cost limits per listener, and exempt addresses', () => {
  let gw: TestGateway;
  let strictPort = 0;

  before(async () => {
    gw = await startTestGateway({
      upstreams: [sim],
      tweak: (c): GatewayConfig => ({
        ...c,
        listen: [
          { url: 'tcp://127.0.0.1:0', scheme: 'tcp', host: '127.0.0.1', port: 0, path: '/', options: {} },
          { url: 'tcp://127.0.0.1:0?soft_limit=10&hard_limit=100', scheme: 'tcp', host: '127.0.0.1', port: 0, path: '/', options: { soft_limit: '10', hard_limit: '100' } },
        ],
        limits: { ...c.limits, maxSessionsPerGroup: 1, exempt: ['127.0.9.0/24'] },
        cost: { ...c.cost, softLimit: 1e6, hardLimit: 1e7, maxDelayMs: 10 },
      }),
    });
    strictPort = gw.gateway.listeners[1]!.port;
  });

  after(async () => {
    await gw?.close();
  });

  it("a listener's own hard_limit refuses where the global one would not", async () => {
    const lenient = rpcOver(await connectFrom(gw.port, '127.0.10.1'));
    for (let i = 0; i < 4; i++) assert.equal(((await lenient.request('blockchain.block.headers', [0, 2016])) as { count: number }).count, 2016);
    const strict = rpcOver(await connectFrom(strictPort, '127.0.11.1'));
    assert.equal(((await strict.request('blockchain.block.headers', [0, 2016])) as { count: number }).count, 2016, '66 units: under 100');
    await assert.rejects(strict.request('blockchain.block.headers', [0, 2016]), (e: RpcCallError) => e.code === -101);
    await strict.closed;
    await lenient.close();
  });

  it('exempt addresses are never charged, throttled, refused, nor held to the per-group cap', async () => {
    const throttledBefore = await counter(gw.gateway.metrics.throttled);
    const exempt = [rpcOver(await connectFrom(strictPort, '127.0.9.1')), rpcOver(await connectFrom(strictPort, '127.0.9.2'))];
    for (let i = 0; i < 6; i++) {
      for (const c of exempt) assert.equal(((await c.request('blockchain.block.headers', [0, 2016])) as { count: number }).count, 2016);
    }
    assert.equal(await counter(gw.gateway.metrics.throttled), throttledBefore, 'never throttled');
    // Two sessions from one /24 with max_sessions_per_group 1; a third address of a capped group is refused.
    const capped = [rpcOver(await connectFrom(gw.port, '127.0.12.1')), rpcOver(await connectFrom(gw.port, '127.0.12.2'))];
    assert.equal(await capped[0]!.request('server.ping'), null);
    await capped[1]!.closed;
    for (const c of [...exempt, capped[0]!]) await c.close();
  });
});

describe('connection limits', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({
      upstreams: [sim],
      tweak: (c): GatewayConfig => ({ ...c, limits: { ...c.limits, maxSessions: 3, idleTimeoutMs: 1000 } }),
    });
  });

  after(async () => {
    await gw?.close();
  });

  it('max_sessions: one session too many is closed at accept; a freed slot is reused', async () => {
    const clients = [];
    for (const addr of ['127.0.2.1', '127.0.3.1', '127.0.4.1']) {
      const c = rpcOver(await connectFrom(gw.port, addr));
      assert.equal(await c.request('server.ping'), null);
      clients.push(c);
    }
    const refused = rpcOver(await connectFrom(gw.port, '127.0.5.1'));
    await refused.closed;
    assert.equal(refused.received.length, 0, 'closed without a word');
    assert.equal(await counter(gw.gateway.metrics.disconnects, { reason: 'max_sessions' }), 1);
    await clients.pop()!.close();
    await RpcClient.until(async () => {
      const c = rpcOver(await connectFrom(gw.port, '127.0.5.1'));
      const ok = await c.request('server.ping').then(
        () => true,
        () => false,
      );
      if (ok) clients.push(c);
      else c.destroy();
      return ok;
    }, 'the freed slot to be given to a new session');
    for (const c of clients) await c.close();
  });

  it('a wallet that pipelines 1,000 requests gets every answer (20 are worked on at a time, the rest wait)', async () => {
    const c = rpcOver(await connectFrom(gw.port, '127.0.8.1'), 15_000);
    const replies = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? c.request('server.ping') : c.request('blockchain.block.header', [i % 2000])));
    const got = await Promise.all(replies);
    got.forEach((r, i) => assert.equal(r, i % 2 === 0 ? null : sim.headerHex(i % 2000), `answer ${i}`));
    // Batches pipelined behind them, too.
    const batches = await Promise.all(Array.from({ length: 50 }, () => c.batch([{ method: 'server.ping' }, { method: 'blockchain.block.header', params: [1] }])));
    for (const b of batches) assert.equal((b[1] as { result: string }).result, sim.headerHex(1));
    await c.close();
  });

  it('idle timeout: a silent session is closed, one that only pings stays', async () => {
    const silent = rpcOver(await connectFrom(gw.port, '127.0.6.1'));
    const pinger = rpcOver(await connectFrom(gw.port, '127.0.7.1'));
    const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const idleBefore = await counter(gw.gateway.metrics.disconnects, { reason: 'idle' });
    const t0 = Date.now();
    // A wallet that pings every 250 ms, well inside the 1 s timeout.
    while (!silent.isClosed) {
      assert.equal(await pinger.request('server.ping'), null);
      await Promise.race([silent.closed, pause(250)]);
      assert.ok(Date.now() - t0 < 10_000, 'the silent session is closed within 10 s');
    }
    const lived = Date.now() - t0;
    assert.ok(lived >= 1000, `closed after its idle timeout, not before (${lived} ms)`);
    assert.equal(silent.received.length, 0);
    assert.equal(await counter(gw.gateway.metrics.disconnects, { reason: 'idle' }), idleBefore + 1);
    // The pinger lives on for two more timeouts.
    for (let i = 0; i < 8; i++) {
      assert.equal(await pinger.request('server.ping'), null);
      await pause(250);
    }
    assert.equal(pinger.isClosed, false);
    assert.equal(await counter(gw.gateway.metrics.disconnects, { reason: 'idle' }), idleBefore + 1);
    await pinger.close();
  });
});

// ------------------------------------------------------------------ hostile input against a child process

/** Resident set size and its peak since the last resetPeak, in bytes, from /proc. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** CPU time (user + system) the process has used, in clock ticks (1/100 s). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15 of stat(5)
}

/** Resolves once the process has used at most 20 ms of CPU in a quarter of a second: its work is done. */
async function quiet(pid: number, timeoutMs = 30_000): Promise<void> {
  let last = cpuTicks(pid);
  let at = Date.now();
  await RpcClient.until(
    () => {
      if (Date.now() - at < 250) return false;
      const now = cpuTicks(pid);
      const idle = now - last <= 2;
      last = now;
      at = Date.now();
      return idle;
    },
    'the gateway to finish its work',
    timeoutMs,
    50,
  );
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux: "5" to clear_refs). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

const MB = 1024 * 1024;
const mb = (n: number): string => `${n >= 0 ? '+' : ''}${(n / MB).toFixed(1)} MB`;

describe('hostile input (gateway in a child process)', () => {
  let gw: GatewayProcess;
  let dir: string;
  let adminPort = 0;
  let wsPort = 0;
  const MAX_LINE = 1_000_000;
  const MAX_UNSENT = 256 * 1024;
  const PER_GROUP = 50;
  const IDLE_MS = 1500;
  const CHUNK_BYTES = 2016 * 160;
  const HEAP_MB = 128;
  const SLOW_CHUNKS = 400;

  const metricsText = (): Promise<string> => httpGet(adminPort, '/metrics');
  const disconnects = async (reason: string): Promise<number> => {
    const m = new RegExp(`^electrum_gateway_client_disconnects_total\\{reason="${reason}"\\} (\\S+)$`, 'm').exec(await metricsText());
    return m ? Number(m[1]) : 0;
  };
  const sessions = async (): Promise<number> => [...(await metricsText()).matchAll(/^electrum_gateway_sessions\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const allClosed = (): Promise<void> => RpcClient.until(async () => (await sessions()) === 0, 'every session to be closed', 10_000, 25);

  // ---- the floods; each asserts the treatment the client gets (docs/limits.md)

  /** `n` 2 MB lines, four connections at a time: each gets -32600 and is closed. */
  const oversizeLines = async (n: number): Promise<void> => {
    const before = await disconnects('oversize');
    const line = `{"jsonrpc":"2.0","id":1,"method":"blockchain.transaction.broadcast","params":["${'ab'.repeat(MB)}"]}\n`;
    for (let round = 0; round < n / 4; round++) {
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const c = await RpcClient.connect(gw.port);
          c.sendRaw(line);
          assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: `request too large (over ${MAX_LINE} bytes)` } });
          await c.closed;
        }),
      );
    }
    assert.equal(await disconnects('oversize'), before + n);
  };

  /** `n` batches of 10,000 requests on one connection: one -32600 each, nothing runs, the session goes on. */
  const hugeBatches = async (n: number): Promise<void> => {
    const c = await RpcClient.connect(gw.port, '127.0.0.1', 10_000);
    const batch = JSON.stringify(Array.from({ length: 10_000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'blockchain.block.header', params: [i % 100] })));
    assert.ok(batch.length < MAX_LINE, 'under the line limit: it is the batch size that is refused');
    const upstreamBefore = sim.stats.requests['blockchain.block.header'] ?? 0;
    for (let i = 0; i < n; i++) {
      c.sendRaw(`${batch}\n`);
      assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batch too large (over 345 requests)' } });
    }
    assert.equal(sim.stats.requests['blockchain.block.header'] ?? 0, upstreamBefore, 'not one item reached the upstream');
    assert.equal(await c.request('server.ping'), null);
    await c.close();
  };

  /** Nesting 100,000+ deep in every place a value can be: an error answer each time, the session goes on. */
  const deepJson = async (): Promise<void> => {
    const c = await RpcClient.connect(gw.port, '127.0.0.1', 10_000);
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    const N = 200_000;
    c.sendRaw(`${deep(N)}\n`);
    assert.deepEqual(await c.nextUnmatched(), [{ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'request object must be a dictionary' } }]);
    c.sendRaw(`${'{"a":'.repeat(N / 2)}1${'}'.repeat(N / 2)}\n`);
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'method must be a string' } });
    // Where the gateway has to describe the value in its error message.
    c.sendRaw(`{"jsonrpc":"2.0","id":${deep(N)},"method":"server.ping"}\n`);
    const badId = (await c.nextUnmatched()) as { id: unknown; error: { code: number; message: string } };
    assert.equal(badId.id, null);
    assert.equal(badId.error.code, -32600);
    assert.match(badId.error.message, /^invalid "id"/);
    assert.ok(badId.error.message.length < 200);
    // As arguments, to methods answered locally and to methods forwarded upstream.
    const methods = ['server.version', 'blockchain.estimatefee', 'blockchain.scripthash.get_balance', 'blockchain.block.headers', 'blockchain.transaction.broadcast'];
    for (const [i, method] of methods.entries()) {
      c.sendRaw(`{"jsonrpc":"2.0","id":"deep-${i}","method":"${method}","params":[${deep(100_000)},${deep(100_000)}]}\n`);
      const reply = (await c.nextUnmatched()) as { id: unknown; error?: { code: unknown } };
      assert.equal(reply.id, `deep-${i}`);
      assert.equal(typeof reply.error?.code, 'number', `${method}: an error answer, not a result`);
    }
    assert.equal(await c.request('server.ping'), null, 'the session is still served');
    await c.close();
    assert.equal(gw.exited, undefined, 'the gateway is still running');
  };

  /** `n` requests for 2016-header chunks from a client that never reads: disconnected once max_unsent_bytes is passed. */
  const neverReads = async (n: number): Promise<void> => {
    const before = await disconnects('slow_reader');
    const socket = await connectFrom(gw.port, '127.0.0.1');
    socket.pause(); // never read
    // Listened for from the start: a reset can close the socket before the gateway's metric is read.
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(`${Array.from({ length: n }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'blockchain.block.headers', params: [i % 50, 2016] })).join('\n')}\n`);
    await RpcClient.until(async () => (await disconnects('slow_reader')) > before, 'the slow reader to be disconnected', 20_000, 50);
    assert.equal(await disconnects('slow_reader'), before + 1);
    // What the kernel already held still arrives; then the connection is gone.
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.resume();
    await closed;
    console.log(`# slow reader: ${(received / MB).toFixed(1)} MB delivered of ${((n * CHUNK_BYTES) / MB).toFixed(0)} MB asked for, then disconnected`);
    assert.ok(received < n * CHUNK_BYTES * 0.25, 'most answers were never sent');
    await allClosed();
    // The requests it sent before it was cut off are still being answered (and dropped): let that finish.
    await quiet(gw.pid!);
  };

  /** 1,000 connections from 127.0.0.1 that say nothing. */
  const idleFlood = async (): Promise<void> => {
    await allClosed();
    const capBefore = await disconnects('max_sessions_per_group');
    const idleBefore = await disconnects('idle');
    const closedAt: number[] = [];
    const t0 = Date.now();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => connectFrom(gw.port, '127.0.0.1', () => closedAt.push(Date.now() - t0))));
    }
    await RpcClient.until(async () => (await disconnects('max_sessions_per_group')) - capBefore === 1000 - PER_GROUP, `${1000 - PER_GROUP} refusals`, 10_000, 50);
    assert.equal(await sessions(), PER_GROUP, 'the group holds exactly its cap');
    // Another subnet is not locked out by them.
    const other = rpcOver(await connectFrom(gw.port, OTHER_SUBNET));
    assert.equal(await other.request('blockchain.block.header', [7]), sim.headerHex(7));
    await other.close();
    await RpcClient.until(() => closedAt.length === 1000, 'every idle connection to be closed', 15_000, 50);
    assert.equal(await disconnects('idle'), idleBefore + PER_GROUP);
    const late = closedAt.filter((ms) => ms >= IDLE_MS).length;
    assert.ok(late >= PER_GROUP, `the admitted ones were closed by the idle timeout, not before (${late} after ${IDLE_MS} ms)`);
    await allClosed();
  };

  // ---- memory per test: RSS at its start, the peak during it (VmHWM reset), RSS at its end

  const phases: { name: string; start: number; peak: number; end: number }[] = [];
  let phaseStart = 0;
  beforeEach(() => {
    resetPeak(gw.pid!);
    phaseStart = memoryOf(gw.pid!).rss;
  });
  afterEach((t) => {
    const m = memoryOf(gw.pid!);
    phases.push({ name: t.name, start: phaseStart, peak: m.peak, end: m.rss });
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eg-limits-'));
    const file = join(dir, 'proxy.yaml');
    writeFileSync(
      file,
      [
        'limits:',
        `  max_line_bytes: ${MAX_LINE}`,
        '  max_batch: 345',
        `  idle_timeout_ms: ${IDLE_MS}`,
        `  max_unsent_bytes: ${MAX_UNSENT}`,
        `  max_sessions_per_group: ${PER_GROUP}`,
        'cost:',
        '  hard_limit: 0 # every client here is loopback; cost limits have their own test',
        'cache:',
        `  memory_bytes: ${8 * MB}`,
        '',
      ].join('\n'),
    );
    [adminPort, wsPort] = (await freePorts(2)) as [number, number];
    gw = await GatewayProcess.start({
      upstream: sim.url,
      admin: `127.0.0.1:${adminPort}`,
      logLevel: 'info',
      extraArgs: ['--config', file, '--listen', `ws://127.0.0.1:${wsPort}/`],
      // A capped heap: input or output kept around would run the gateway out of memory, and the garbage
      // of a flood is collected at once rather than whenever a loaded machine lets the GC catch up.
      env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` },
    });
    // Warm up the paths the hostile input takes, with normal input.
    const c = await RpcClient.connect(gw.port, '127.0.0.1', 10_000);
    await RpcClient.until(async () => (await c.request('blockchain.block.header', [0]).catch(() => null)) !== null, 'the gateway to reach the simulator', 10_000, 25);
    for (let i = 0; i < 5; i++) await c.request('blockchain.block.headers', [0, 2016]);
    await c.batch(Array.from({ length: 300 }, () => ({ method: 'server.ping' })));
    await c.close();
    await allClosed();
  });

  after(async () => {
    if (gw && !/VmRSS/.test(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))) {
      // Gone (a zombie has no memory): say how, for whoever reads the failure.
      await RpcClient.until(() => gw.exited !== undefined, 'the exit status', 5000).catch(() => undefined);
      process.stderr.write(`# the gateway died: ${JSON.stringify(gw.exited)}\n${gw.logTail(30).replace(/^/gm, '# ')}\n`);
    }
    await gw?.stop({ expectCleanExit: false });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('2 MB lines: -32600 "request too large", then the connection is closed (tcp); a 2 MB frame closes with 1009 (ws)', async () => {
    await oversizeLines(20);
    assert.ok(gw.logs.some((r) => r.msg === 'request line too large; disconnecting'));
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/`);
    await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(`{"jsonrpc":"2.0","id":1,"method":"server.ping","params":["${'x'.repeat(2 * MB)}"]}`);
    assert.equal(await closed, 1009, 'ws: message too big');
  });

  it('10,000-element batches: one -32600 "batch too large" each, nothing in them runs, the session goes on', async () => {
    await hugeBatches(20);
  });

  it('deeply nested JSON: an error answer each time, never a crash', async () => {
    await deepJson();
  });

  it('invalid UTF-8: -32700 "messages must be encoded in UTF-8", the session goes on', async () => {
    const c = await RpcClient.connect(gw.port);
    const bad = [
      [0xff, 0xfe], // never valid
      [0x80], // a lone continuation byte
      [0xc0, 0x80], // an overlong NUL
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate
      [0xe2, 0x82], // a truncated sequence
    ];
    for (const bytes of bad) {
      c.sendRaw(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":7,"method":"server.banner","params":["'), Buffer.from(bytes), Buffer.from('"]}\n')]));
      assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'messages must be encoded in UTF-8' } }, JSON.stringify(bytes));
    }
    assert.equal(await c.request('server.ping'), null);
    await c.close();
  });

  it('a client that never reads is disconnected once its unsent answers pass max_unsent_bytes', async () => {
    await neverReads(SLOW_CHUNKS);
    assert.ok(gw.logs.some((r) => r.msg === 'client is not reading its answers; disconnecting' && Number(r.unsentBytes) > MAX_UNSENT));
  });

  it('1,000 idle connections from one address: the per-group cap refuses most at accept, the idle timeout closes the rest', async () => {
    await idleFlood();
    assert.ok(gw.logs.some((r) => r.msg === 'refused: too many sessions' && r.group === '127.0.0.0/24' && r.reason === 'max_sessions_per_group'));
    assert.ok(gw.logs.some((r) => r.msg === 'idle timeout'));
  });

  it("the gateway's memory stays bounded: each flood's peak is bounded, and doing it all again costs nothing more", async () => {
    // A second round of everything: memory kept from the input or the output would grow again by as much
    // (40 MB of lines, ~120 MB of answers for the slow reader, 1,000 sessions); heap growth does not.
    const first = memoryOf(gw.pid!).rss;
    await oversizeLines(20);
    await hugeBatches(20);
    await deepJson();
    await neverReads(SLOW_CHUNKS);
    await idleFlood();
    const second = memoryOf(gw.pid!);
    for (const p of phases) console.log(`# memory  ${p.name.slice(0, 58).padEnd(58)} peak ${mb(p.peak - p.start)}, after ${mb(p.end - p.start)}`);
    console.log(`# memory  second round of every flood: rss ${mb(second.rss - first)} (peak ${mb(second.peak - first)}); heap capped at ${HEAP_MB} MB`);
    for (const p of phases) assert.ok(p.peak - p.start < (HEAP_MB + 64) * MB, `${p.name}: peak ${mb(p.peak - p.start)}`);
    assert.ok(second.rss - first < 48 * MB, `the second round grew resident memory by ${mb(second.rss - first)}`);
    assert.equal(gw.exited, undefined, 'still running');
    const c = await RpcClient.connect(gw.port);
    assert.equal(await c.request('blockchain.block.header', [3]), sim.headerHex(3));
    await c.close();
  });
});
