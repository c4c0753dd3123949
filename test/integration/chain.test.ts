// SPDX-License-Identifier: MIT
/**
 * The chain tracker against real simulators: it follows reorgs (one headers
 * notification for the new tip, a `reorg` event naming the orphaned blocks),
 * never steps back otherwise, serves the best tip when an upstream lags and
 * keeps scripthash traffic off the laggard, and quarantines upstreams that
 * send headers without proof of work, headers that do not link, or that are
 * left on a lighter fork, without a wallet ever seeing their headers.
 *
 * Simulators with the same seed hold the same chain; blocks and payments are
 * made on each so they keep agreeing. Heights avoid the simulator's
 * construction-time background payments (101..130 and multiples of 25),
 * which a lagging copy would not reproduce by mining.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { Reorg } from '../../src/chain/tracker.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { onLines } from '../helpers/lines.js';
import { RpcClient, type Notification } from '../helpers/rpc-client.js';
import { statusOf, testP2wpkh } from '../helpers/wallet-session.js';

const HEADERS = 'blockchain.headers.subscribe';
const SCRIPTHASH = 'blockchain.scripthash.subscribe';
const REGTEST_TARGET = 0x7fffffn << 232n;

interface Wallet {
  readonly address: string;
  readonly scripthash: string;
}

function wallet(label: string): Wallet {
  return testP2wpkh('chain-test', label);
}

function sha256d(b: Buffer): Buffer {
  return createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
}

function hashOf(hex: string): string {
  return Buffer.from(sha256d(Buffer.from(hex, 'hex'))).reverse().toString('hex');
}

/** A regtest header for `prevHex`'s successor that does not link to it (random prev hash), with proof of work valid or not. */
function forgedHeader(prevHex: string, pow: 'valid' | 'invalid'): string {
  const prev = Buffer.from(prevHex, 'hex');
  const h = Buffer.alloc(80);
  h.writeUInt32LE(0x20000000, 0);
  randomBytes(32).copy(h, 4);
  randomBytes(32).copy(h, 36);
  h.writeUInt32LE(prev.readUInt32LE(68) + 600, 68);
  h.writeUInt32LE(0x207fffff, 72);
  for (let nonce = 0; ; nonce++) {
    h.writeUInt32LE(nonce, 76);
    const meets = BigInt(`0x${Buffer.from(sha256d(h)).reverse().toString('hex')}`) <= REGTEST_TARGET;
    if (meets === (pow === 'valid')) return h.toString('hex');
  }
}

async function session(port: number, version = '1.6'): Promise<RpcClient> {
  const c = await RpcClient.connect(port, '127.0.0.1', 10_000);
  const [, got] = (await c.request('server.version', ['chain-test', version])) as [string, string];
  assert.equal(got, version);
  return c;
}

function headerNotes(c: RpcClient): { height: number; hex: string }[] {
  return c.notifications.filter((n: Notification) => n.method === HEADERS).map((n) => n.params[0] as { height: number; hex: string });
}

async function until(pred: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 15_000): Promise<void> {
  try {
    await RpcClient.until(pred, typeof what === 'string' ? what : 'a condition', timeoutMs, 20);
  } catch (err) {
    throw new Error(`${(err as Error).message}${typeof what === 'function' ? `: ${what()}` : ''}`);
  }
}

function poolView(tg: TestGateway): string {
  return JSON.stringify(tg.gateway.pool.status().map((u) => [u.name, u.state, u.tipHeight, u.quarantine]));
}

/** Every upstream open and in the given state at the given height, and the tracker at `tip`. */
async function settled(tg: TestGateway, tip: number, states: Record<string, string>): Promise<void> {
  await until(
    () =>
      tg.gateway.tracker.tip?.height === tip &&
      tg.gateway.pool.status().every((u) => u.connections > 0 && u.state === (states[u.name] ?? 'healthy')),
    () => `tracker at ${String(tg.gateway.tracker.tip?.height)}, pool ${poolView(tg)}`,
  );
}

const SCRIPTHASH_METHODS = ['subscribe', 'get_history', 'get_balance', 'listunspent', 'get_mempool'].map((m) => `blockchain.scripthash.${m}`);

function scripthashRequests(sim: Simulator): number {
  const r = sim.stats.requests;
  return SCRIPTHASH_METHODS.reduce((n, m) => n + (r[m] ?? 0), 0);
}

/**
 * A scripted upstream for lies the simulator cannot tell: it serves the
 * honest simulator's headers, announces whatever tip it is told to, and
 * answers scripthash subscriptions with a made-up status.
 */
class ScriptedUpstream {
  private readonly sockets = new Set<net.Socket>();
  private readonly subscribed = new Set<net.Socket>();
  private override: { height: number; hex: string } | null = null;
  readonly bogusStatus = 'ba'.repeat(32);
  requests: Record<string, number> = {};

  private constructor(
    private readonly source: Simulator,
    private readonly server: net.Server,
  ) {}

  static async start(source: Simulator): Promise<ScriptedUpstream> {
    const server = net.createServer();
    const up = new ScriptedUpstream(source, server);
    server.on('connection', (s) => up.accept(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return up;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  tip(): { height: number; hex: string } {
    return this.override ?? { height: this.source.tipHeight(), hex: this.source.headerHex(this.source.tipHeight()) };
  }

  announce(tip: { height: number; hex: string }): void {
    this.override = tip;
    for (const s of this.subscribed) s.write(`${JSON.stringify({ jsonrpc: '2.0', method: HEADERS, params: [tip] })}\n`);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.subscribed.delete(socket);
    });
    socket.on('error', () => undefined);
    onLines(socket, (line) => {
      if (line.trim()) this.handle(socket, JSON.parse(line) as { id: number; method: string; params: unknown[] });
    });
  }

  private handle(socket: net.Socket, m: { id: number; method: string; params: unknown[] }): void {
    this.requests[m.method] = (this.requests[m.method] ?? 0) + 1;
    const reply = (result: unknown): void => void socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id, result })}\n`);
    const p = m.params ?? [];
    switch (m.method) {
      case 'server.version':
        return reply(['Scripted 1.0', '1.4']);
      case 'server.features':
        return reply({ genesis_hash: this.source.genesisHash, hash_function: 'sha256', protocol_min: '1.4', protocol_max: '1.4', server_version: 'Scripted 1.0', hosts: {}, pruning: null });
      case 'server.ping':
        return reply(null);
      case HEADERS:
        this.subscribed.add(socket);
        return reply(this.tip());
      case 'blockchain.block.header':
        return reply(this.source.headerHex(p[0] as number));
      case 'blockchain.block.headers': {
        const start = p[0] as number;
        const end = Math.min(start + (p[1] as number), this.source.tipHeight() + 1);
        const hexes: string[] = [];
        for (let h = start; h < end; h++) hexes.push(this.source.headerHex(h));
        return reply({ hex: hexes.join(''), count: hexes.length, max: 2016 });
      }
      case SCRIPTHASH:
        return reply(this.bogusStatus);
      default:
        socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `unknown method "${m.method}"` } })}\n`);
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('chain tracker', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function pair(seed: string, blocks = 140, second = blocks) {
    const a = await Simulator.start({ seed, initialBlocks: blocks });
    const b = await Simulator.start({ seed, initialBlocks: second });
    cleanups.push(() => a.stop(), () => b.stop());
    return { a, b };
  }

  async function gateway(upstreams: { sim: { host: string; port: number }; name: string }[]): Promise<TestGateway> {
    const tg = await startTestGateway({ upstreams: upstreams.map((u) => ({ host: u.sim.host, port: u.sim.port, name: u.name })), admin: true });
    cleanups.push(() => tg.close());
    return tg;
  }

  /**
   * An honest simulator (140 blocks) and a scripted upstream in front of it,
   * behind one gateway as H and F, settled at 140, and a wallet session that
   * has subscribed to headers.
   */
  async function honestAndLiar(seed: string) {
    const honest = await Simulator.start({ seed, initialBlocks: 140 });
    cleanups.push(() => honest.stop());
    const scripted = await ScriptedUpstream.start(honest);
    cleanups.push(() => scripted.stop());
    const tg = await gateway([
      { sim: honest, name: 'H' },
      { sim: { host: '127.0.0.1', port: scripted.port }, name: 'F' },
    ]);
    await settled(tg, 140, {});
    const c = await session(tg.port);
    cleanups.push(() => c.close());
    await c.request(HEADERS);
    return { honest, scripted, tg, c };
  }

  it('a reorg of the last 3 blocks: one headers notification for the new tip, never a step back, the orphaned hashes named', { timeout: 60_000 }, async () => {
    const { a, b } = await pair('chain-reorg');
    const tg = await gateway([
      { sim: a, name: 'A' },
      { sim: b, name: 'B' },
    ]);
    await settled(tg, 140, {});
    const tips: { height: number; hex: string }[] = [];
    const reorgs: Reorg[] = [];
    tg.gateway.tracker.on('tip', (t) => tips.push(t));
    tg.gateway.tracker.on('reorg', (r) => reorgs.push(r));
    const clients = [await session(tg.port, '1.4'), await session(tg.port, '1.6')];
    cleanups.push(async () => Promise.all(clients.map((c) => c.close())));
    for (const c of clients) assert.deepEqual(await c.request(HEADERS), { height: 140, hex: a.headerHex(140) });
    // A payment confirmed in block 141, which the reorg will orphan.
    const w = wallet('reorg');
    const txid = a.pay(w.address, 80_000);
    assert.equal(b.pay(w.address, 80_000), txid);
    for (const c of clients) assert.equal(await c.request(SCRIPTHASH, [w.scripthash]), statusOf(a.history(w.scripthash)));

    a.mine(2);
    b.mine(2);
    assert.equal(a.blockHash(142), b.blockHash(142));
    assert.deepEqual(
      a.history(w.scripthash).map((h) => h.height),
      [141],
    );
    await until(() => clients.every((c) => headerNotes(c).some((n) => n.height === 142)), 'the tip at 142');
    const old = [140, 141, 142].map((h) => a.blockHash(h));
    const old142 = { height: 142, hex: a.headerHex(142) };

    const orphaned = a.reorg(3);
    assert.deepEqual(b.reorg(3), orphaned, 'both simulators orphan the same blocks');
    assert.deepEqual(orphaned, old, 'the blocks at 140, 141 and 142, lowest first');
    assert.equal(a.blockHash(143), b.blockHash(143), 'and build the same fork');
    assert.equal(a.tipHeight(), 143);
    await until(() => clients.every((c) => headerNotes(c).some((n) => n.hex === a.headerHex(143))), 'the new tip at 143');
    // The payment went back to the mempool with the orphaned block; the next block confirms it again.
    const mempoolStatus = statusOf(a.history(w.scripthash));
    assert.deepEqual(
      a.history(w.scripthash).map((h) => h.height),
      [0],
    );
    await until(() => clients.every((c) => c.notifications.some((n) => n.method === SCRIPTHASH && n.params[1] === mempoolStatus)), 'the orphaned payment back in the mempool');
    a.mine(1);
    b.mine(1);
    assert.equal(a.blockHash(144), b.blockHash(144));
    await until(() => clients.every((c) => headerNotes(c).some((n) => n.height === 144)), 'the tip at 144');

    for (const c of clients) {
      assert.deepEqual(
        headerNotes(c),
        [old142, ...[143, 144].map((h) => ({ height: h, hex: a.headerHex(h) }))],
        'one notification per new tip; the reorg is announced once, at the new tip',
      );
    }
    assert.deepEqual(
      tips.map((t) => [t.height, t.hex]),
      [old142, ...[143, 144].map((h) => ({ height: h, hex: a.headerHex(h) }))].map((t) => [t.height, t.hex]),
    );
    assert.equal(reorgs.length, 1);
    assert.equal(reorgs[0]!.forkHeight, 139);
    assert.deepEqual(reorgs[0]!.orphaned, orphaned);
    assert.deepEqual(reorgs[0]!.tip, { height: 143, hex: a.headerHex(143) });
    assert.equal(tg.gateway.tracker.hashAt(141), a.blockHash(141));
    assert.notEqual(a.blockHash(141), old[1]);
    // What the gateway serves is the new chain, and the payment's new confirmation.
    const via = clients[1]!;
    assert.equal(await via.request('blockchain.block.header', [141]), a.headerHex(141));
    const history = (await via.request('blockchain.scripthash.get_history', [w.scripthash])) as { tx_hash: string; height: number }[];
    assert.deepEqual(history, [{ tx_hash: txid, height: 144 }]);
    assert.deepEqual((await tg.status())['tip'], { height: 144, hash: a.blockHash(144) });
  });

  it('an upstream left on the lighter side of a reorg is not routed to until it follows', { timeout: 60_000 }, async () => {
    const { a, b } = await pair('chain-fork');
    const tg = await gateway([
      { sim: a, name: 'A' },
      { sim: b, name: 'B' },
    ]);
    await settled(tg, 140, {});
    const c = await session(tg.port);
    cleanups.push(() => c.close());
    await c.request(HEADERS);
    const orphaned = a.reorg(3);
    await until(() => tg.gateway.tracker.tip?.hex === a.headerHex(141), 'the tracker to follow A');
    // B still says 140 on the old chain: one block behind by height, but on a chain that lost.
    await until(() => tg.gateway.pool.state('B') === 'quarantined', () => `B to be taken out of rotation: ${poolView(tg)}`, 5_000);
    const doc = await tg.status();
    assert.match(String(doc.upstreams.find((u) => u.name === 'B')!['quarantine']), /lighter fork/);
    assert.equal(doc.upstreams.find((u) => u.name === 'A')!.state, 'healthy');
    const before = scripthashRequests(b);
    const ws = Array.from({ length: 24 }, (_, i) => wallet(`fork-${i}`));
    for (const w of ws) await c.request('blockchain.scripthash.get_history', [w.scripthash]);
    assert.equal(scripthashRequests(b), before, 'no scripthash request went to the upstream on the lighter fork');
    // B reorganises onto the same fork and is used again; wallets saw the new tip once.
    assert.deepEqual(b.reorg(3), orphaned);
    await until(() => tg.gateway.pool.state('B') === 'healthy', () => `B back in rotation: ${poolView(tg)}`);
    assert.deepEqual(headerNotes(c), [{ height: 141, hex: a.headerHex(141) }]);
  });

  it('an upstream 2 blocks behind: wallets see the best tip and no scripthash request goes to it', { timeout: 60_000 }, async () => {
    const a = await Simulator.start({ seed: 'chain-lag', initialBlocks: 140 });
    cleanups.push(() => a.stop());
    const ws = Array.from({ length: 40 }, (_, i) => wallet(`lag-${i}`));
    const paidTx = ws.slice(0, 4).map((w) => a.pay(w.address, 30_000 + 1000));
    a.mine(1);
    const lag = await Simulator.start({ seed: 'chain-lag', initialBlocks: 139 });
    cleanups.push(() => lag.stop());
    const tg = await gateway([
      { sim: lag, name: 'L' },
      { sim: a, name: 'A' },
    ]);
    await settled(tg, 141, { L: 'lagging' });
    const l = tg.gateway.pool.status().find((u) => u.name === 'L')!;
    assert.equal(l.tipHeight, 139);
    assert.equal(l.lag, 2);
    const clients = [await session(tg.port, '1.4'), await session(tg.port, '1.6')];
    cleanups.push(async () => Promise.all(clients.map((c) => c.close())));
    for (const c of clients) assert.deepEqual(await c.request(HEADERS), { height: 141, hex: a.headerHex(141) });
    const before = scripthashRequests(lag);
    const honestBefore = scripthashRequests(a);
    for (const w of ws) {
      const c = clients[ws.indexOf(w) % 2]!;
      const expected = a.history(w.scripthash);
      assert.equal(await c.request(SCRIPTHASH, [w.scripthash]), statusOf(expected));
      const history = (await c.request('blockchain.scripthash.get_history', [w.scripthash])) as { tx_hash: string; height: number }[];
      assert.deepEqual(
        history.map((h) => [h.tx_hash, h.height]),
        expected.map((h) => [h.tx_hash, h.height]),
      );
      await c.request('blockchain.scripthash.get_balance', [w.scripthash]);
      await c.request('blockchain.scripthash.listunspent', [w.scripthash]);
      await c.request('blockchain.scripthash.get_mempool', [w.scripthash]);
    }
    assert.equal(scripthashRequests(lag), before, `scripthash requests reached the lagging upstream: ${JSON.stringify(lag.stats.requests)}`);
    assert.equal(scripthashRequests(a) - honestBefore, ws.length * 5, 'every one of them went to the upstream at the tip');
    assert.equal(a.stats.scripthashSubscriptions, ws.length);

    // The laggard catches up with the same blocks: no new tip for wallets, and it is used again.
    lag.mine(1);
    assert.deepEqual(
      ws.slice(0, 4).map((w) => lag.pay(w.address, 31_000)),
      paidTx,
    );
    lag.mine(1);
    assert.equal(lag.blockHash(141), a.blockHash(141));
    await until(() => tg.gateway.pool.state('L') === 'healthy', () => `L healthy: ${poolView(tg)}`);
    a.mine(1);
    lag.mine(1);
    await until(() => clients.every((c) => headerNotes(c).length > 0), 'the tip at 142');
    for (const c of clients) assert.deepEqual(headerNotes(c), [{ height: 142, hex: a.headerHex(142) }], 'the catch-up announced nothing; 142 once');
  });

  it('a simulator lying with headers whose proof of work fails: rejected, quarantined, never shown to a wallet', { timeout: 60_000 }, async () => {
    const { a: honest, b: liar } = await pair('chain-lie');
    const tg = await gateway([
      { sim: honest, name: 'H' },
      { sim: liar, name: 'X' },
    ]);
    await settled(tg, 140, {});
    const c = await session(tg.port);
    cleanups.push(() => c.close());
    await c.request(HEADERS);
    const ws = Array.from({ length: 20 }, (_, i) => wallet(`lie-${i}`));
    for (const w of ws) await c.request(SCRIPTHASH, [w.scripthash]);
    assert.ok(liar.stats.scripthashSubscriptions > 0, 'some subscriptions are on the liar to begin with');

    liar.lie('header');
    const lyingTip = (await (async () => {
      const probe = await RpcClient.connect(liar.port);
      await probe.request('server.version', ['probe', '1.6']);
      const t = (await probe.request(HEADERS)) as { hex: string };
      await probe.close();
      return t;
    })()).hex;
    assert.notEqual(lyingTip, liar.headerHex(140), 'the liar really lies');
    honest.mine(1);
    liar.mine(1);
    await until(() => tg.gateway.pool.state('X') === 'quarantined', () => `X quarantined: ${poolView(tg)}`);
    await until(() => tg.gateway.tracker.tip?.height === 141, 'the tracker to take the honest 141');
    assert.equal(tg.gateway.tracker.tip?.hex, honest.headerHex(141));
    const doc = await tg.status();
    const x = doc.upstreams.find((u) => u.name === 'X')!;
    assert.equal(x.state, 'quarantined');
    assert.match(String(x['quarantine']), /proof of work/);
    assert.equal(doc.upstreams.find((u) => u.name === 'H')!.state, 'healthy');
    assert.deepEqual(doc['tip'], { height: 141, hash: honest.blockHash(141) });
    // Its subscriptions moved to the honest upstream.
    await until(() => honest.stats.scripthashSubscriptions === ws.length && liar.stats.scripthashSubscriptions === 0, 'the subscriptions to leave the liar');
    // Wallets get the honest headers only, also when they ask for them.
    const before = liar.stats.requests['blockchain.block.header'] ?? 0;
    for (let h = 135; h <= 141; h++) assert.equal(await c.request('blockchain.block.header', [h]), honest.headerHex(h));
    assert.equal(liar.stats.requests['blockchain.block.header'] ?? 0, before, 'no header request went to the liar');
    honest.mine(1);
    liar.mine(1);
    await until(() => headerNotes(c).length >= 2, 'the tip at 142');
    assert.deepEqual(headerNotes(c), [141, 142].map((h) => ({ height: h, hex: honest.headerHex(h) })));
    assert.equal(tg.gateway.pool.state('X'), 'quarantined');
  });

  it('a simulator that lies from the start is never anchored on', { timeout: 60_000 }, async () => {
    const { a: honest, b: liar } = await pair('chain-lie-early');
    liar.lie('header');
    const tg = await gateway([
      { sim: liar, name: 'X' },
      { sim: honest, name: 'H' },
    ]);
    await settled(tg, 140, { X: 'quarantined' });
    const c = await session(tg.port);
    cleanups.push(() => c.close());
    assert.deepEqual(await c.request(HEADERS), { height: 140, hex: honest.headerHex(140) });
    assert.equal(tg.gateway.tracker.hashAt(100), honest.blockHash(100));
  });

  it('a header with valid proof of work that does not link: rejected, quarantined, never shown to a wallet', { timeout: 60_000 }, async () => {
    const { honest, scripted, tg, c } = await honestAndLiar('chain-nolink');
    const forged = forgedHeader(honest.headerHex(140), 'valid');
    scripted.announce({ height: 141, hex: forged });
    await until(() => tg.gateway.pool.state('F') === 'quarantined', () => `F quarantined: ${poolView(tg)}`);
    const doc = await tg.status();
    assert.match(String(doc.upstreams.find((u) => u.name === 'F')!['quarantine']), /does not link/);
    assert.equal(tg.gateway.tracker.tip?.height, 140);
    assert.equal(tg.gateway.tracker.hashAt(141), undefined);
    assert.equal(await c.request('blockchain.block.header', [140]), honest.headerHex(140));
    honest.mine(1);
    await until(() => headerNotes(c).length > 0, 'the honest 141');
    assert.deepEqual(headerNotes(c), [{ height: 141, hex: honest.headerHex(141) }]);
    assert.notEqual(hashOf(forged), honest.blockHash(141));
  });

  const AHEAD: { what: string; tip: (honest: Simulator) => { height: number; hex: string }; reason: RegExp }[] = [
    { what: 'a header without proof of work', tip: (h) => ({ height: 150, hex: forgedHeader(h.headerHex(140), 'invalid') }), reason: /proof of work/ },
    { what: 'a header with proof of work that links to nothing it serves', tip: (h) => ({ height: 150, hex: forgedHeader(h.headerHex(140), 'valid') }), reason: /does not serve/ },
    { what: 'a real header at a made-up height', tip: (h) => ({ height: 150, hex: h.headerHex(140) }), reason: /does not serve/ },
  ];
  for (const variant of AHEAD) {
    it(`a liar announcing a far-ahead tip (${variant.what}) is quarantined and moves nothing to itself`, { timeout: 60_000 }, async () => {
      const { honest, scripted, tg, c } = await honestAndLiar('chain-ahead');
      // Only scripthashes that stick to the honest upstream, so nothing legitimately goes to the liar.
      const ws: Wallet[] = [];
      for (let i = 0; ws.length < 10; i++) {
        const w = wallet(`ahead-${i}`);
        if ((await tg.gateway.pool.acquire(Date.now() + 1000, { key: w.scripthash, tipSensitive: true })).name === 'H') ws.push(w);
      }
      for (const w of ws) assert.equal(await c.request(SCRIPTHASH, [w.scripthash]), null);
      assert.equal(honest.stats.scripthashSubscriptions, ws.length);
      const subsBefore = scripted.requests[SCRIPTHASH] ?? 0;
      const states: string[] = [];
      tg.gateway.pool.on('change', () => states.push(tg.gateway.pool.state('H')!));
      scripted.announce(variant.tip(honest));
      await until(() => tg.gateway.pool.state('F') === 'quarantined', () => `F quarantined: ${poolView(tg)}`);
      assert.match(String((await tg.status()).upstreams.find((u) => u.name === 'F')!['quarantine']), variant.reason);
      assert.deepEqual([...new Set(states)], ['healthy'], 'the honest upstream never looked behind');
      assert.equal(tg.gateway.tracker.tip?.height, 140);
      honest.mine(1);
      await until(() => headerNotes(c).length > 0, 'the honest 141');
      const w = ws[0]!;
      honest.pay(w.address, 9_000);
      const expected = statusOf(honest.history(w.scripthash));
      await c.waitForNotification(SCRIPTHASH, (p) => p[0] === w.scripthash && p[1] === expected, { timeoutMs: 10_000 });
      assert.equal(scripted.requests[SCRIPTHASH] ?? 0, subsBefore, 'no subscription was moved to the liar');
      assert.ok(!c.notifications.some((n) => n.params[1] === scripted.bogusStatus), 'the liar never reached a wallet');
      assert.deepEqual(headerNotes(c), [{ height: 141, hex: honest.headerHex(141) }]);
    });
  }
});
