// SPDX-License-Identifier: MIT
/**
 * Output is gathered per session and written once per event-loop turn
 * (issue 12 pt 1). What must not change: a client that stops reading is
 * still cut at max_unsent_bytes, and a client that reads slowly gets every
 * answer and notification, each once, in the order they were produced.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

const RANGE = 200; // 200 headers: a 32 kB answer
const MB = 1024 * 1024;

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads newline-delimited JSON from a socket into `into`; resolves on close. */
function collect(socket: net.Socket, into: Record<string, unknown>[]): { closed: Promise<void>; bytes: () => number } {
  let buf = '';
  let bytes = 0;
  socket.on('data', (d: Buffer) => {
    bytes += d.length;
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      into.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
  });
  return { closed: new Promise((resolve) => socket.once('close', () => resolve())), bytes: () => bytes };
}

describe('output batched per turn', () => {
  let sim: Simulator;
  let gw: TestGateway;
  let tight: TestGateway;

  before(async () => {
    sim = await Simulator.start({ seed: 'output-batching', initialBlocks: RANGE + 120 });
    // Room for everything the slow reader below asks for: it must be slowed, never cut.
    gw = await startTestGateway({ upstreams: [sim], admin: true, tweak: (c) => ({ ...c, limits: { ...c.limits, maxUnsentBytes: 256 * MB } }) });
    tight = await startTestGateway({ upstreams: [sim], admin: true, tweak: (c) => ({ ...c, limits: { ...c.limits, maxUnsentBytes: 65_536 } }) });
  });
  after(async () => {
    await gw.close();
    await tight.close();
    await sim.stop();
  });

  it('N pipelined answers leave in one socket write, and N forwarded requests in about one write per upstream connection', async () => {
    const { client: warm } = await connectNegotiated(gw.port, '1.4');
    const heights = Array.from({ length: 40 }, (_, i) => 3 + i);
    // In the cache, so all 40 are answered in the turn that reads them. Twice: right after start-up the
    // gateway may not know the tip yet, and then it forwards without storing.
    await RpcClient.until(async () => (await gw.status()).tip != null, 'the gateway to know the tip', 10_000, 20);
    for (const h of heights) await warm.request('blockchain.block.header', [h]);
    await warm.close();

    const socket = await connect(gw.port);
    const got: Record<string, unknown>[] = [];
    const reader = collect(socket, got);
    socket.write('{"jsonrpc":"2.0","id":"v","method":"server.version","params":["t","1.4"]}\n');
    await RpcClient.until(async () => got.length === 1, 'the version answer', 5_000, 10);

    // Every write the gateway makes to this client's socket and to its upstream sockets, counted.
    const proto = net.Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
    const original = proto.write;
    let toClient = 0;
    const toUpstream = new Map<net.Socket, number>();
    const clientPort = socket.localPort;
    proto.write = function (this: net.Socket, ...args: unknown[]): boolean {
      if (this.localPort === gw.port && this.remotePort === clientPort) toClient++;
      else if (this.remotePort === sim.port) toUpstream.set(this, (toUpstream.get(this) ?? 0) + 1);
      return original.apply(this, args);
    };
    try {
      // One TCP write of 40 requests (mixed 1.0 and 2.0 styles, ids of several JSON types).
      const ids: unknown[] = heights.map((h, i) => (i % 3 === 0 ? h : i % 3 === 1 ? `s${h}` : h + 0.5));
      socket.write(`${heights.map((h, i) => JSON.stringify(i % 2 === 0 ? { id: ids[i], method: 'blockchain.block.header', params: [h] } : { jsonrpc: '2.0', id: ids[i], method: 'blockchain.block.header', params: [h] })).join('\n')}\n`);
      await RpcClient.until(async () => got.length === 1 + heights.length, 'every cached answer', 10_000, 5);
      assert.equal(toClient, 1, '40 answers produced in one turn leave in one write');
      assert.deepEqual(got.slice(1).map((m) => m.id), ids, 'in the order asked');
      heights.forEach((h, i) => assert.equal(got[1 + i]!.result, sim.headerHex(h)));

      // 40 uncacheable requests read in one turn go upstream in one write per connection they use.
      toClient = 0;
      const scripthashes = heights.map((h) => h.toString(16).padStart(64, '0'));
      socket.write(`${scripthashes.map((sh, i) => JSON.stringify({ jsonrpc: '2.0', id: 1000 + i, method: 'blockchain.scripthash.get_balance', params: [sh] })).join('\n')}\n`);
      await RpcClient.until(async () => got.length === 1 + 2 * heights.length, 'every forwarded answer', 10_000, 5);
      // Per connection used, one write for the burst; the pool may also open a connection meanwhile (its
      // handshake is two writes) or ping one, so the bound has room for that, and is still far below one per request.
      const upstreamWrites = [...toUpstream.values()].reduce((a, b) => a + b, 0);
      assert.ok(upstreamWrites >= 1, 'the requests went upstream');
      assert.ok(upstreamWrites <= 2 * toUpstream.size + 2, `${upstreamWrites} upstream writes on ${toUpstream.size} connections for ${heights.length} requests`);
      assert.ok(toClient < heights.length / 4, `answers read together are written together (${toClient} writes for ${heights.length} answers)`);
      assert.deepEqual(
        got.slice(1 + heights.length).map((m) => m.id),
        heights.map((_, i) => 1000 + i),
        'forwarded answers keep the order of the requests',
      );
    } finally {
      proto.write = original;
    }
    socket.destroy();
    await reader.closed;
  });

  it('a slow reader gets every answer and notification once, in order, with many pipelined requests and batches', async () => {
    // Warm the cache so every range below is answered the same way (from memory), in the order asked.
    const { client } = await connectNegotiated(gw.port, '1.4');
    await client.request('blockchain.block.headers', [0, RANGE]);
    await client.close();

    const socket = await connect(gw.port);
    const got: Record<string, unknown>[] = [];
    const reader = collect(socket, got);
    socket.write('{"jsonrpc":"2.0","id":"v","method":"server.version","params":["t","1.4"]}\n{"jsonrpc":"2.0","id":"s","method":"blockchain.headers.subscribe","params":[]}\n');
    await RpcClient.until(async () => got.length === 2, 'version and subscribe answers', 5_000, 10);
    socket.pause();

    // 400 lines (single requests and batches of 3) of 32 kB answers: ~25 MB, far more than the kernel holds,
    // so the gateway meets back-pressure, stops reading, and resumes as the client drains.
    const lines: string[] = [];
    const expected: string[] = [];
    let id = 0;
    for (let i = 0; i < 400; i++) {
      if (i % 4 === 3) {
        const ids = [++id, ++id, ++id];
        lines.push(JSON.stringify(ids.map((x) => ({ jsonrpc: '2.0', id: x, method: 'blockchain.block.headers', params: [0, RANGE] }))));
        expected.push(`batch ${ids.join(',')}`);
      } else {
        // JSON-RPC 1.0 style (no "jsonrpc") every other line; replies are 2.0-shaped either way.
        const x = ++id;
        lines.push(JSON.stringify(i % 2 === 0 ? { id: x, method: 'blockchain.block.headers', params: [0, RANGE] } : { jsonrpc: '2.0', id: x, method: 'blockchain.block.headers', params: [0, RANGE] }));
        expected.push(`single ${x}`);
      }
    }
    socket.write(`${lines.slice(0, 200).join('\n')}\n`);
    // A new block while the answers queue: its notification goes in the stream between answers.
    const newTip = sim.tipHeight() + 1;
    sim.mine(1);
    socket.write(`${lines.slice(200).join('\n')}\n`);
    await new Promise((r) => setTimeout(r, 300));
    socket.resume();
    await RpcClient.until(async () => got.filter((m) => !('method' in m)).length === 2 + expected.length, 'every answer', 30_000, 20);

    const answers = got.slice(2).filter((m) => !('method' in m) || Array.isArray(m));
    const seen = got.slice(2).map((m) => (Array.isArray(m) ? `batch ${(m as { id: number }[]).map((r) => r.id).join(',')}` : 'method' in m ? 'notification' : `single ${String(m.id)}`));
    // A batch answers when its last member does, so singles sent after it may go first (as before
    // batching); among singles, and among batches, answers keep the order of the requests.
    assert.deepEqual(
      seen.filter((s) => s.startsWith('single')),
      expected.filter((s) => s.startsWith('single')),
      'every single answer, once, in the order the requests were sent',
    );
    assert.deepEqual(
      seen.filter((s) => s.startsWith('batch')),
      expected.filter((s) => s.startsWith('batch')),
      'every batch answer, once, in order',
    );
    const notes = got.filter((m) => m.method === 'blockchain.headers.subscribe');
    assert.equal(notes.length, 1, 'the new tip is announced exactly once');
    assert.equal((notes[0]!.params as { height: number }[])[0]!.height, newTip);
    const header = sim.headerHex(0);
    for (const m of answers.flatMap((a) => (Array.isArray(a) ? a : [a])) as { jsonrpc: string; result: { count: number; hex: string } }[]) {
      assert.equal(m.jsonrpc, '2.0');
      assert.equal(m.result.count, RANGE);
      assert.equal(m.result.hex.slice(0, 160), header, 'answers are whole and uncorrupted');
      assert.equal(m.result.hex.length, RANGE * 160);
    }
    assert.equal(await gw.metrics().then((t) => /client_disconnects_total\{reason="slow_reader"\} 0$/m.test(t)), true, 'nobody was cut');
    socket.destroy();
    await reader.closed;
  });

  it('a client that never reads is still cut at max_unsent_bytes, and others are served meanwhile', async () => {
    const { client: warm } = await connectNegotiated(tight.port, '1.4');
    await warm.request('blockchain.block.headers', [0, RANGE]);
    const socket = await connect(tight.port);
    const got: Record<string, unknown>[] = [];
    // Listening from the start (paused, so nothing is read yet): the close may come before we read.
    const reader = collect(socket, got);
    socket.pause();
    const n = 300;
    socket.write(`${Array.from({ length: n }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'blockchain.block.headers', params: [0, RANGE] })).join('\n')}\n`);
    const slowReader = async (): Promise<number> => Number(/client_disconnects_total\{reason="slow_reader"\} (\S+)$/m.exec(await tight.metrics())?.[1] ?? 0);
    await RpcClient.until(async () => (await slowReader()) === 1, 'the reader to be cut', 20_000, 25);
    socket.resume();
    await reader.closed;
    assert.ok(reader.bytes() < (n * RANGE * 160) / 4, `most answers were never sent (${reader.bytes()} bytes arrived)`);
    assert.equal(await warm.request('server.ping'), null, 'another session is still served');
    await warm.close();
  });
});
