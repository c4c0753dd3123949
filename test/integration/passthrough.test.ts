// SPDX-License-Identifier: MIT
/**
 * The acceptance test of the gateway core: with the simulator as upstream, a
 * wallet gets through the gateway exactly what it gets from the simulator
 * directly, at protocol 1.4 and 1.6, and with a 1.4-only simulator behind a
 * 1.6 wallet. Subscriptions are shared, survive an upstream restart, and a
 * graceful close lets a slow request finish.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { networkByName } from '../../src/config/networks.js';
import { addressToScripthash } from '../../src/protocol/address.js';
import { GATEWAY_VERSIONS, methodsAt } from '../../src/protocol/methods.js';
import { parseHeader } from '../../src/protocol/bitcoin/header.js';
import { verifyMerkleBranch } from '../../src/protocol/bitcoin/merkle.js';
import { txid as txidOf } from '../../src/protocol/bitcoin/tx.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient, connectNegotiated } from '../helpers/rpc-client.js';
import { outcome, testP2wpkh, untilForwarding } from '../helpers/wallet-session.js';

const REGTEST = networkByName('regtest');

/** A fresh regtest P2WPKH address for `label`, and its scripthash computed two independent ways. */
function address(label: string): { address: string; scripthash: string } {
  const { address: addr, scripthash: independent } = testP2wpkh('passthrough-test', label);
  const scripthash = addressToScripthash(addr, REGTEST);
  assert.equal(scripthash, independent, 'address.ts and the test agree on the scripthash');
  return { address: addr, scripthash };
}

const negotiated = (port: number, protocol: unknown): Promise<{ client: RpcClient; version: string }> => connectNegotiated(port, protocol, 'passthrough-test');

/** Waits until sessions of earlier tests have left and the gateway has dropped their upstream subscriptions. */
async function noUpstreamSubscriptions(sim: Simulator): Promise<void> {
  await RpcClient.until(() => sim.stats.scripthashSubscriptions === 0, 'earlier upstream subscriptions to be dropped');
}

/** The wallet's view of a synced chain, as (label, method, params) triples. */
function walletCalls(sim: Simulator, paid: { scripthash: string }, txid: string, txHeight: number, version: string): [string, string, unknown[]][] {
  const tip = sim.tipHeight();
  const calls: [string, string, unknown[]][] = [
    ['tip', 'blockchain.headers.subscribe', []],
    ['genesis header', 'blockchain.block.header', [0]],
    ['tip header', 'blockchain.block.header', [tip]],
    ['header with checkpoint', 'blockchain.block.header', [3, tip]],
    ['header beyond the tip', 'blockchain.block.header', [tip + 5]],
    ['first headers', 'blockchain.block.headers', [0, 10]],
    ['headers truncated at the tip', 'blockchain.block.headers', [tip - 2, 10]],
    ['headers with checkpoint', 'blockchain.block.headers', [1, 4, tip]],
    ['history', 'blockchain.scripthash.get_history', [paid.scripthash]],
    ['balance', 'blockchain.scripthash.get_balance', [paid.scripthash]],
    ['unspent', 'blockchain.scripthash.listunspent', [paid.scripthash]],
    ['mempool', 'blockchain.scripthash.get_mempool', [paid.scripthash]],
    ['empty history', 'blockchain.scripthash.get_history', ['00'.repeat(32)]],
    ['transaction', 'blockchain.transaction.get', [txid]],
    ['merkle', 'blockchain.transaction.get_merkle', [txid, txHeight]],
    ['id_from_pos', 'blockchain.transaction.id_from_pos', [txHeight, 0]],
    ['unknown transaction', 'blockchain.transaction.get', ['ee'.repeat(32)]],
    ['fee estimate', 'blockchain.estimatefee', [2]],
    ['fee histogram', 'mempool.get_fee_histogram', []],
  ];
  if (version === '1.6') calls.push(['mempool info', 'mempool.get_info', []]);
  else calls.push(['relay fee', 'blockchain.relayfee', []]);
  return calls;
}

describe('passthrough with the simulator as the only upstream (protocol 1.4 to 1.6)', () => {
  let sim: Simulator;
  let gw: TestGateway;
  const paid = address('paid');
  let txid = '';
  let txHeight = 0;

  before(async () => {
    sim = await Simulator.start({ seed: 'passthrough' });
    txid = sim.pay(paid.address, 150_000, { confirm: true });
    sim.pay(paid.address, 20_000); // and one still in the mempool
    txHeight = sim.history(paid.scripthash).find((e) => e.tx_hash === txid)!.height;
    assert.ok(txHeight > 0);
    gw = await startTestGateway({ upstreams: [sim] });
    await untilForwarding(gw.port, { intervalMs: 25 });
  });

  after(async () => {
    await gw?.close();
    await sim?.stop();
  });

  for (const version of ['1.4', '1.6']) {
    it(`a ${version} wallet gets the same answers through the gateway as from the simulator`, async () => {
      const direct = await negotiated(sim.port, version);
      const via = await negotiated(gw.port, version);
      assert.equal(direct.version, version);
      assert.equal(via.version, version);
      for (const [label, method, params] of walletCalls(sim, paid, txid, txHeight, version)) {
        const expected = await outcome(direct.client, method, params);
        const got = await outcome(via.client, method, params);
        assert.deepEqual(got, expected, `${label}: ${method}(${JSON.stringify(params)})`);
      }
      await direct.client.close();
      await via.client.close();
    });
  }

  it('the answers really are the chain (not two wrong answers that agree)', async () => {
    const { client } = await negotiated(gw.port, '1.6');
    const tip = sim.tipHeight();
    assert.deepEqual(await client.request('blockchain.headers.subscribe'), { height: tip, hex: sim.headerHex(tip) });
    assert.equal(await client.request('blockchain.block.header', [1]), sim.headerHex(1));
    const headers = (await client.request('blockchain.block.headers', [0, 3])) as { count: number; headers: string[] };
    assert.deepEqual(headers.headers, [0, 1, 2].map((h) => sim.headerHex(h)));
    assert.equal(headers.count, 3);
    const history = (await client.request('blockchain.scripthash.get_history', [paid.scripthash])) as { tx_hash: string; height: number }[];
    assert.deepEqual(
      history.map((e) => [e.tx_hash, e.height]),
      sim.history(paid.scripthash).map((e) => [e.tx_hash, e.height]),
    );
    const raw = (await client.request('blockchain.transaction.get', [txid])) as string;
    assert.equal(txidOf(raw), txid, 'the transaction served hashes to the txid asked for');
    const merkle = (await client.request('blockchain.transaction.get_merkle', [txid, txHeight])) as { block_height: number; merkle: string[]; pos: number };
    assert.equal(merkle.block_height, txHeight);
    const header = (await client.request('blockchain.block.header', [txHeight])) as string;
    assert.ok(verifyMerkleBranch(txid, merkle.merkle, merkle.pos, parseHeader(header).merkleRoot), 'the merkle proof proves the tx against the header');
    await client.close();
  });

  it('a 1.4 wallet on this 1.6 upstream gets 1.4 shapes: headers as one hex string, relayfee', async () => {
    const { client } = await negotiated(gw.port, '1.4');
    const r = (await client.request('blockchain.block.headers', [0, 3])) as Record<string, unknown>;
    assert.deepEqual(Object.keys(r).sort(), ['count', 'hex', 'max']);
    assert.equal(r.hex, [0, 1, 2].map((h) => sim.headerHex(h)).join(''));
    assert.equal(typeof (await client.request('blockchain.relayfee')), 'number');
    await client.close();
  });
});

describe('a 1.6 wallet in front of a 1.4-only simulator', () => {
  let sim: Simulator;
  let gw: TestGateway;
  const paid = address('paid-14');
  let txid = '';
  let txHeight = 0;

  before(async () => {
    sim = await Simulator.start({ seed: 'passthrough-14', protocolMin: '1.4', protocolMax: '1.4' });
    txid = sim.pay(paid.address, 90_000, { confirm: true });
    txHeight = sim.history(paid.scripthash).find((e) => e.tx_hash === txid)!.height;
    gw = await startTestGateway({ upstreams: [sim] });
    await untilForwarding(gw.port, { intervalMs: 25 });
  });

  after(async () => {
    await gw?.close();
    await sim?.stop();
  });

  it('the simulator really refuses 1.6', async () => {
    const c = await RpcClient.connect(sim.port);
    await assert.rejects(c.request('server.version', ['t', '1.6']));
    await c.close();
  });

  it('gets 1.6 answers built from the 1.4 upstream\'s', async () => {
    const direct = await negotiated(sim.port, '1.4');
    const via = await negotiated(gw.port, ['1.4', '1.6']);
    assert.equal(direct.version, '1.4');
    assert.equal(via.version, '1.6');
    for (const [label, method, params] of walletCalls(sim, paid, txid, txHeight, '1.4')) {
      if (method === 'blockchain.block.headers' || method === 'blockchain.relayfee') continue;
      assert.deepEqual(await outcome(via.client, method, params), await outcome(direct.client, method, params), `${label}: ${method}(${JSON.stringify(params)})`);
    }

    // block.headers: the 1.4 hex string split into the 1.6 headers list.
    for (const params of [
      [0, 10],
      [sim.tipHeight() - 2, 10],
      [1, 4, sim.tipHeight()],
    ]) {
      const old = (await direct.client.request('blockchain.block.headers', params)) as { count: number; hex: string; max: number; root?: string; branch?: string[] };
      const neu = (await via.client.request('blockchain.block.headers', params)) as { count: number; headers: string[]; max: number; root?: string; branch?: string[] };
      assert.equal(neu.count, old.count);
      assert.equal(neu.max, old.max);
      assert.equal(neu.headers.join(''), old.hex);
      assert.ok(neu.headers.every((h) => h.length === 160));
      assert.ok(!('hex' in neu));
      assert.equal(neu.root, old.root);
      assert.deepEqual(neu.branch, old.branch);
    }

    // mempool.get_info: built from the upstream's relayfee.
    const relayfee = await direct.client.request('blockchain.relayfee');
    assert.deepEqual(await via.client.request('mempool.get_info'), { mempoolminfee: relayfee, minrelaytxfee: relayfee, incrementalrelayfee: relayfee });
    await assert.rejects(via.client.request('blockchain.relayfee'), (e: unknown) => e instanceof RpcCallError && e.code === -32601);

    // estimatefee: the 1.6 mode is dropped for the 1.4 upstream.
    assert.deepEqual(await via.client.request('blockchain.estimatefee', [2, 'CONSERVATIVE']), await direct.client.request('blockchain.estimatefee', [2]));

    // broadcast_package cannot be served by a 1.4 upstream.
    await assert.rejects(via.client.request('blockchain.transaction.broadcast_package', [['00']]), (e: unknown) => e instanceof RpcCallError && e.code === -100);

    await direct.client.close();
    await via.client.close();
  });
});

describe('subscriptions through the gateway', () => {
  let sim: Simulator;
  let gw: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'passthrough-subs' });
    gw = await startTestGateway({ upstreams: [sim] });
    await untilForwarding(gw.port, { intervalMs: 25 });
  });

  after(async () => {
    await gw?.close();
    await sim?.stop();
  });

  // First in this group: before any block is mined here, the gateway's tip is the simulator's.
  it('a headers subscriber hears of a new block with the simulator\'s header', async () => {
    const { client } = await negotiated(gw.port, '1.6');
    const tip = sim.tipHeight();
    assert.deepEqual(await client.request('blockchain.headers.subscribe'), { height: tip, hex: sim.headerHex(tip) });
    sim.mine(1);
    const n = await client.waitForNotification('blockchain.headers.subscribe');
    assert.deepEqual(n.params, [{ height: tip + 1, hex: sim.headerHex(tip + 1) }]);
    await client.close();
  });

  it('a scripthash subscriber is notified when the simulator pays the address, and again when it confirms', async () => {
    const watched = address('notify');
    const { client } = await negotiated(gw.port, ['1.4', '1.6']);
    assert.equal(await client.request('blockchain.scripthash.subscribe', [watched.scripthash]), null);
    assert.equal(sim.status(watched.scripthash), null);

    sim.pay(watched.address, 12_345);
    const first = await client.waitForNotification('blockchain.scripthash.subscribe', ([sh, status]) => sh === watched.scripthash && status !== null);
    assert.deepEqual(first.params, [watched.scripthash, sim.status(watched.scripthash)]);

    sim.mine(1);
    const second = await client.waitForNotification('blockchain.scripthash.subscribe', ([, status]) => status !== first.params[1]);
    assert.deepEqual(second.params, [watched.scripthash, sim.status(watched.scripthash)]);
    await client.close();
  });

  it('two sessions subscribing to the same scripthash make one upstream subscription, and both are notified', async () => {
    const shared = address('shared');
    const a = (await negotiated(gw.port, '1.6')).client;
    const b = (await negotiated(gw.port, '1.4')).client;
    await noUpstreamSubscriptions(sim);
    const requestsBefore = sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0;
    assert.equal(await a.request('blockchain.scripthash.subscribe', [shared.scripthash]), null);
    assert.equal(await b.request('blockchain.scripthash.subscribe', [shared.scripthash]), null);
    assert.equal((sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0) - requestsBefore, 1);
    assert.equal(sim.stats.scripthashSubscriptions, 1);

    sim.pay(shared.address, 5_000);
    const status = (n: { params: unknown[] }): boolean => n.params[0] === shared.scripthash;
    const [na, nb] = await Promise.all([
      a.waitForNotification('blockchain.scripthash.subscribe', (p) => status({ params: p })),
      b.waitForNotification('blockchain.scripthash.subscribe', (p) => status({ params: p })),
    ]);
    assert.deepEqual(na.params, [shared.scripthash, sim.status(shared.scripthash)]);
    assert.deepEqual(nb.params, na.params);
    // Concurrent subscriptions from more sessions still share the one upstream subscription.
    const more = await Promise.all([0, 1, 2].map(() => negotiated(gw.port, '1.6')));
    const answers = await Promise.all(more.map(({ client }) => client.request('blockchain.scripthash.subscribe', [shared.scripthash])));
    assert.deepEqual(answers, [0, 1, 2].map(() => sim.status(shared.scripthash)));
    assert.equal((sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0) - requestsBefore, 1);
    await Promise.all([a, b, ...more.map((m) => m.client)].map((c) => c.close()));
  });

  it('sessions subscribing to a new scripthash at the same moment share one upstream subscribe call', async () => {
    const fresh = address('simultaneous');
    sim.pay(fresh.address, 3_000);
    const clients = await Promise.all([0, 1, 2, 3].map(() => negotiated(gw.port, '1.6')));
    const requestsBefore = sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0;
    sim.setLatency(100); // all four are in flight while the first upstream call is pending
    try {
      const answers = await Promise.all(clients.map(({ client }) => client.request('blockchain.scripthash.subscribe', [fresh.scripthash])));
      assert.deepEqual(answers, [0, 1, 2, 3].map(() => sim.status(fresh.scripthash)));
      assert.notEqual(answers[0], null);
    } finally {
      sim.setLatency(0);
    }
    assert.equal((sim.stats.requests['blockchain.scripthash.subscribe'] ?? 0) - requestsBefore, 1);
    await Promise.all(clients.map(({ client }) => client.close()));
  });

  it('the upstream subscription is dropped when the last session leaves', async () => {
    const leaving = address('leaving');
    const a = (await negotiated(gw.port, '1.6')).client;
    const b = (await negotiated(gw.port, '1.6')).client;
    await noUpstreamSubscriptions(sim);
    await a.request('blockchain.scripthash.subscribe', [leaving.scripthash]);
    await b.request('blockchain.scripthash.subscribe', [leaving.scripthash]);
    assert.equal(sim.stats.scripthashSubscriptions, 1);
    assert.equal(await a.request('blockchain.scripthash.unsubscribe', [leaving.scripthash]), true);
    assert.equal(await a.request('blockchain.scripthash.unsubscribe', [leaving.scripthash]), false);
    // b still watches it, so the upstream subscription stays.
    assert.equal(await b.request('server.ping'), null);
    assert.equal(sim.stats.scripthashSubscriptions, 1);
    await b.close();
    await RpcClient.until(() => sim.stats.scripthashSubscriptions === 0, 'the gateway to unsubscribe upstream');
    await a.close();
  });
});

describe('an upstream that goes away and comes back', () => {
  it('the session survives and its subscription keeps working', async () => {
    const sim = await Simulator.start({ seed: 'passthrough-restart' });
    const gw = await startTestGateway({ upstreams: [sim] });
    try {
      await untilForwarding(gw.port, { intervalMs: 25 });
      const watched = address('restart');
      const { client } = await negotiated(gw.port, '1.6');
      assert.equal(await client.request('blockchain.scripthash.subscribe', [watched.scripthash]), null);
      const tip = sim.tipHeight();

      await sim.stop();
      // While the upstream is down, locally answered methods still work and the session stays open.
      assert.equal(await client.request('server.ping'), null);
      await sim.restart();

      // Forwarded requests work again once the gateway has reconnected.
      await RpcClient.until(
        async () => {
          try {
            return (await client.request('blockchain.block.header', [tip], { timeoutMs: 1000 })) === sim.headerHex(tip);
          } catch {
            return false;
          }
        },
        'forwarded requests to work after the restart',
        10_000,
        25,
      );

      // The gateway subscribes again on its own; the status did not change, so the wallet hears nothing.
      await RpcClient.until(() => sim.stats.scripthashSubscriptions === 1, 'the gateway to subscribe again after the restart', 10_000);
      assert.equal(await client.request('server.ping'), null);
      assert.deepEqual(client.notifications, []);

      sim.pay(watched.address, 7_777);
      const n = await client.waitForNotification('blockchain.scripthash.subscribe', ([sh, status]) => sh === watched.scripthash && status !== null, {
        timeoutMs: 10_000,
      });
      assert.deepEqual(n.params, [watched.scripthash, sim.status(watched.scripthash)]);
      assert.equal(client.isClosed, false);
      await client.close();
    } finally {
      await gw.close();
      await sim.stop();
    }
  });
});

describe('graceful close', () => {
  it('lets an in-flight slow request finish, then closes connections and stops accepting', async () => {
    const sim = await Simulator.start({ seed: 'passthrough-close' });
    // Uncached, so the slow request really waits on the simulator.
    const gw = await startTestGateway({ upstreams: [sim], shutdownGraceMs: 5_000, tweak: (c) => ({ ...c, cache: { ...c.cache, minDepth: 10_000 } }) });
    try {
      await untilForwarding(gw.port, { intervalMs: 25 });
      const { client } = await negotiated(gw.port, '1.6');
      const before = sim.stats.requests['blockchain.block.header'] ?? 0;
      sim.setLatency(400);
      const slow = client.request('blockchain.block.header', [1]);
      await RpcClient.until(() => (sim.stats.requests['blockchain.block.header'] ?? 0) > before, 'the request to reach the simulator');
      const started = Date.now();
      const closing = gw.close();
      assert.equal(await slow, sim.headerHex(1));
      await closing;
      assert.ok(Date.now() - started < 4_000, 'close() returns once the request is done, not after the whole grace period');
      await RpcClient.until(() => client.isClosed, 'the gateway to close the wallet connection');
      await assert.rejects(RpcClient.connect(gw.port), 'no longer accepting connections');
    } finally {
      sim.setLatency(0);
      await gw.close();
      await sim.stop();
    }
  });
});

/** A socket that hands back each reply line as the bytes it came in (the RpcClient parses them). */
class LineClient {
  private buffer = Buffer.alloc(0);
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let nl = this.buffer.indexOf(0x0a); nl !== -1; nl = this.buffer.indexOf(0x0a)) {
        this.lines.push(this.buffer.toString('utf8', 0, nl));
        this.buffer = this.buffer.subarray(nl + 1);
      }
      this.waiter?.();
    });
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends one line and returns the next reply line, as bytes (UTF-8 text). */
  async ask(line: string): Promise<string> {
    this.socket.write(`${line}\n`);
    const deadline = Date.now() + 10_000;
    while (this.lines.length === 0) {
      if (Date.now() > deadline) throw new Error(`no reply to ${line.slice(0, 100)}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.lines.shift()!;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The bytes the old path wrote for a reply: JSON.stringify of its Response object, members in its order. */
function oldPath(line: string): string {
  const m = JSON.parse(line) as Record<string, unknown>;
  if ('jsonrpc' in m) return JSON.stringify('result' in m ? { jsonrpc: '2.0', id: m.id, result: m.result } : { jsonrpc: '2.0', id: m.id, error: m.error });
  return JSON.stringify({ result: m.result, error: m.error, id: m.id });
}

const resultBytes = (line: string): string => {
  const at = line.indexOf('"result":');
  assert.ok(at >= 0, `a result in ${line.slice(0, 200)}`);
  return line.startsWith('{"result":') ? line.slice(10, line.lastIndexOf(',"error":null,"id":')) : line.slice(at + 9, -1);
};

for (const padded of [false, true]) {
  describe(`cached hits and passed-through answers are the old path's bytes, every version 1.0-1.6${padded ? ', padded (ElectrumX 1.18) upstream' : ''} (issue 12 pts 2-3)`, () => {
    let sim: Simulator;
    let gw: TestGateway;
    const paid = address(`wire-${padded}`);
    let txid = '';
    let txHeight = 0;

    before(async () => {
      sim = await Simulator.start({ seed: `wire-bytes-${padded}` });
      txid = sim.pay(paid.address, 150_000, { confirm: true });
      txHeight = sim.history(paid.scripthash).find((e) => e.tx_hash === txid)!.height;
      sim.mine(10); // the transaction's block, and the headers asked for, buried below min_depth
      sim.setPadding(padded);
      gw = await startTestGateway({ upstreams: [sim] });
      await untilForwarding(gw.port, { intervalMs: 25 });
    });

    after(async () => {
      await gw?.close();
      await sim?.stop();
    });

    /** [method, params]: each asked twice (the second a cache hit where cacheable), in this order. */
    const calls = (): [string, unknown[]][] => [
      ['blockchain.block.header', [5]],
      ['blockchain.block.get_header', [5]],
      ['blockchain.block.headers', [0, 20]], // 1.6 kB and more: kept in the wire memo
      ['blockchain.block.headers', [2, 3]], // built per hit
      ['blockchain.block.get_chunk', [0]],
      ['blockchain.transaction.get_merkle', [txid, txHeight]],
      ['blockchain.transaction.get', [txid]], // cacheable now that a proof confirmed it
      ['blockchain.transaction.get', [txid, true]], // verbose, over 1 kB: passed through as the upstream's bytes
      ['blockchain.transaction.id_from_pos', [txHeight, 0, true]],
      ['blockchain.transaction.id_from_pos', [txHeight, 0]],
      ['blockchain.scripthash.get_balance', [paid.scripthash]],
      ['blockchain.estimatefee', [2]],
    ];

    for (const version of GATEWAY_VERSIONS) {
      it(`at ${version}`, async () => {
        const methods = new Set(methodsAt(version));
        const c = await LineClient.connect(gw.port);
        const hello = await c.ask(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'server.version', params: ['wire-test', [version, version]] }));
        assert.equal(hello, oldPath(hello));
        let asked = 0;
        for (const [method, params] of calls()) {
          if (!methods.has(method)) continue;
          // verbose exists from 1.2 (1.0's second argument is a height, dropped).
          if (method === 'blockchain.transaction.get' && params.length > 1 && ['1.0', '1.1'].includes(version)) continue;
          const ids: unknown[] = [1, 'two "\\ é', 3];
          const lines: string[] = [];
          for (const id of ids) lines.push(await c.ask(JSON.stringify({ jsonrpc: '2.0', id, method, params })));
          // A JSON-RPC 1.0 request: the same result bytes in 1.0's form.
          const v1 = await c.ask(JSON.stringify({ jsonrpc: '1.0', id: 4, method, params }));
          for (const [i, line] of lines.entries()) {
            const m = JSON.parse(line) as Record<string, unknown>;
            assert.equal(m.id, ids[i], `${method} at ${version}: id`);
            assert.ok('result' in m, `${method} at ${version} answered: ${line.slice(0, 300)}`);
            assert.equal(line, oldPath(line), `${method}(${JSON.stringify(params)}) at ${version}: the bytes JSON.stringify writes`);
            assert.equal(resultBytes(line), resultBytes(lines[0]!), `${method} at ${version}: a hit is the miss's bytes`);
          }
          assert.ok(v1.startsWith('{"result":') && v1.endsWith(',"error":null,"id":4}'), `1.0 form: ${v1.slice(0, 100)}`);
          assert.equal(v1, oldPath(v1));
          assert.equal(resultBytes(v1), resultBytes(lines[0]!), `${method} at ${version}: 1.0 form, same result`);
          asked++;
        }
        assert.ok(asked >= 5, `${asked} methods asked at ${version}`);
        c.close();
      });
    }

    it('the passed-through verbose transaction is the simulator\'s, and a cached range asks no upstream', async () => {
      const { client } = await negotiated(gw.port, '1.6');
      const direct = await negotiated(sim.port, '1.6');
      assert.deepEqual(await client.request('blockchain.transaction.get', [txid, true]), await direct.client.request('blockchain.transaction.get', [txid, true]));
      const before = sim.stats.requests['blockchain.block.headers'] ?? 0;
      assert.deepEqual(await client.request('blockchain.block.headers', [0, 20]), await direct.client.request('blockchain.block.headers', [0, 20]));
      assert.equal(sim.stats.requests['blockchain.block.headers'] ?? 0, before + 1, 'only the direct request reached the simulator');
      await client.close();
      await direct.client.close();
    });
  });
}

