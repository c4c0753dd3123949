// SPDX-License-Identifier: MIT
/**
 * ElectrumX 1.18+ output padding (the simulator's padding knob) and what it
 * costs a wallet behind the gateway.
 *
 *  - the knob behaves as ElectrumX's PaddedRSTransport: power-of-two packets
 *    of at least 1024 bytes padded with spaces inside the JSON, several
 *    replies in one packet, a small reply held about a second unless 1 KiB has
 *    accumulated or nothing was sent for a second, the session's first reply
 *    sent at once;
 *  - the gateway still answers correctly through a padding upstream;
 *  - MEASURED (printed, not asserted): sequential request latency directly and
 *    through the gateway, with and without padding, and with a prototype of
 *    the mitigation (each request sent in a batch with a filler request whose
 *    answer is over 1 KiB, so the server's buffer is flushed at once).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startTestGateway } from '../helpers/gateway.js';
import { onLines } from '../helpers/lines.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { Simulator } from '../sim/index.js';

const SEED = 'padding-test';

/** A raw socket that counts bytes and splits lines, to see the packets a padding server sends. */
class RawClient {
  bytes = 0;
  private buf = '';
  private readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  private nextId = 1;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      this.buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) !== -1) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(...requests: { method: string; params?: unknown[] }[]): number[] {
    const ids = requests.map(() => this.nextId++);
    this.socket.write(requests.map((r, i) => `${JSON.stringify({ jsonrpc: '2.0', id: ids[i], method: r.method, params: r.params ?? [] })}\n`).join(''));
    return ids;
  }

  sendBatch(requests: { method: string; params?: unknown[] }[]): number[] {
    const ids = requests.map(() => this.nextId++);
    this.socket.write(`${JSON.stringify(requests.map((r, i) => ({ jsonrpc: '2.0', id: ids[i], method: r.method, params: r.params ?? [] })))}\n`);
    return ids;
  }

  /** Waits for `n` lines and returns them (raw text, padding included). */
  async take(n: number, timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} lines (have ${this.lines.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.lines.splice(0, n);
  }

  close(): void {
    this.socket.destroy();
  }
}

const isPowerOfTwo = (n: number): boolean => n >= 1024 && (n & (n - 1)) === 0;

/**
 * The mitigation, prototyped as a line proxy between the gateway and a padding
 * server: every request except server.version goes out as a batch together
 * with a filler (blockchain.block.headers [0, 7], an immutable ~1.2 KB answer),
 * so the server's send buffer passes 1 KiB and is written at once; the
 * filler's answer is dropped on the way back.
 */
async function startFillerShim(target: { host: string; port: number }): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.host, port: target.port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
      s.on('error', () => undefined);
    }
    let filler = 0;
    onLines(client, (line) => {
      const msg = JSON.parse(line) as { method?: string };
      if (Array.isArray(msg) || msg.method === 'server.version') {
        upstream.write(`${line}\n`);
      } else {
        upstream.write(`${JSON.stringify([msg, { jsonrpc: '2.0', id: `filler-${filler++}`, method: 'blockchain.block.headers', params: [0, 7] }])}\n`);
      }
    });
    onLines(upstream, (line) => {
      const msg = JSON.parse(line) as unknown;
      const items = Array.isArray(msg) ? msg : [msg];
      for (const m of items as { id?: unknown }[]) {
        if (typeof m.id === 'string' && m.id.startsWith('filler-')) continue;
        client.write(`${JSON.stringify(m)}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Milliseconds for each of `n` sequential requests made by `ask`. */
async function sequential(n: number, ask: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await ask(i);
    out.push(Math.round(performance.now() - t0));
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('ElectrumX-style padding', { concurrency: true }, () => {
  it('the simulator pads, batches and holds replies like ElectrumX 1.18+', async (t) => {
    const sim = await Simulator.start({ initialBlocks: 110, seed: SEED });
    sim.setPadding(true);
    const c = await RawClient.connect(sim.port);
    t.after(async () => {
      c.close();
      await sim.stop();
    });

    // The session's first reply goes at once, padded to 1024 bytes with spaces inside the JSON.
    let t0 = performance.now();
    c.send({ method: 'server.version', params: ['padding-test', '1.4'] });
    const [version] = await c.take(1);
    assert.ok(performance.now() - t0 < 500, 'the first reply is not held');
    assert.equal(c.bytes, 1024);
    assert.match(version!, / {100,}\}$/, 'padding sits before the closing brace');
    assert.deepEqual((JSON.parse(version!) as { result: unknown }).result, ['ElectrumX 1.18.0', '1.4']);

    // A small reply right after is held about a second.
    t0 = performance.now();
    c.send({ method: 'server.ping' });
    await c.take(1);
    const held = performance.now() - t0;
    assert.ok(held >= 900 && held < 1600, `a small reply was held ${Math.round(held)} ms`);
    assert.equal(c.bytes, 2048);

    // Ten small replies go together in one 1024-byte packet.
    const before = c.bytes;
    c.send(...Array.from({ length: 10 }, () => ({ method: 'server.ping' })));
    const pings = await c.take(10);
    assert.equal(c.bytes - before, 1024, 'ten replies in one packet');
    for (const p of pings) assert.equal((JSON.parse(p) as { result: unknown }).result, null);

    // A reply over 1 KiB is written at once, padded to the next power of two.
    t0 = performance.now();
    const b2 = c.bytes;
    c.send({ method: 'blockchain.block.headers', params: [0, 20] });
    const [headers] = await c.take(1);
    assert.ok(performance.now() - t0 < 500, 'a large reply is not held');
    assert.ok(isPowerOfTwo(c.bytes - b2), `packet of ${c.bytes - b2} bytes`);
    assert.equal((JSON.parse(headers!) as { result: { count: number } }).result.count, 20);

    // A batch whose answer passes 1 KiB is not held either: the mitigation's trick.
    t0 = performance.now();
    c.sendBatch([{ method: 'server.ping' }, { method: 'blockchain.block.headers', params: [0, 7] }]);
    const [batch] = await c.take(1);
    assert.ok(performance.now() - t0 < 500, 'a small reply batched with a 1 KiB filler is not held');
    assert.equal((JSON.parse(batch!) as unknown[]).length, 2);

    // Padding off: plain lines again.
    sim.setPadding(false);
    const b3 = c.bytes;
    c.send({ method: 'server.ping' });
    const [plain] = await c.take(1);
    assert.equal(c.bytes - b3, plain!.length + 1);
    assert.doesNotMatch(plain!, / \}$/);
  });

  it('sequential latency through the gateway to a padding upstream (measured, printed) and the filler-batch mitigation', async (t) => {
    const [plainSim, padSim] = await Promise.all([Simulator.start({ initialBlocks: 110, seed: SEED }), Simulator.start({ initialBlocks: 110, seed: SEED })]);
    padSim.setPadding(true);
    const shim = await startFillerShim(padSim);
    const [gwPlain, gwPad, gwShim] = await Promise.all([
      startTestGateway({ upstreams: [{ host: plainSim.host, port: plainSim.port, name: 'plain', options: { max_connections: '1' } }] }),
      startTestGateway({ upstreams: [{ host: padSim.host, port: padSim.port, name: 'padded', options: { max_connections: '1' } }] }),
      startTestGateway({ upstreams: [{ host: '127.0.0.1', port: shim.port, name: 'padded-via-filler', options: { max_connections: '1' } }] }),
    ]);
    t.after(async () => {
      await Promise.all([gwPlain.close(), gwPad.close(), gwShim.close()]);
      await shim.stop();
      await Promise.all([plainSim.stop(), padSim.stop()]);
    });

    const N = 4;
    // Scripthash requests: never cached by the gateway, a small reply (~100 bytes) from the upstream.
    const keys = Array.from({ length: N }, (_, i) => createHash('sha256').update(`padding-${i}`).digest('hex'));
    const ask = (c: RpcClient) => async (i: number) => {
      assert.deepEqual(await c.request('blockchain.scripthash.get_balance', [keys[i]]), { confirmed: 0, unconfirmed: 0 });
    };
    const warmup = new Map<number, number>();
    const viaGateway = async (port: number, sim: Simulator): Promise<number[]> => {
      const c = await RpcClient.connect(port, '127.0.0.1', 10_000);
      try {
        await c.request('server.version', ['padding-test', '1.4']);
        // The first forwarded request waits for the upstream handshake (itself slowed by padding).
        const t0 = performance.now();
        assert.equal(await c.request('blockchain.block.header', [1], { timeoutMs: 10_000 }), sim.headerHex(1));
        warmup.set(port, Math.round(performance.now() - t0));
        return await sequential(N, ask(c));
      } finally {
        await c.close();
      }
    };
    const direct = async (sim: Simulator): Promise<number[]> => {
      const c = await RpcClient.connect(sim.port, '127.0.0.1', 10_000);
      try {
        await c.request('server.version', ['padding-test', '1.4']);
        return await sequential(N, ask(c));
      } finally {
        await c.close();
      }
    };
    const directBatched = async (sim: Simulator): Promise<number[]> => {
      const c = await RawClient.connect(sim.port);
      try {
        c.send({ method: 'server.version', params: ['padding-test', '1.4'] });
        await c.take(1);
        return await sequential(N, async (i) => {
          c.sendBatch([{ method: 'blockchain.scripthash.get_balance', params: [keys[i]] }, { method: 'blockchain.block.headers', params: [0, 7] }]);
          const [line] = await c.take(1);
          const [first] = JSON.parse(line!) as { result: unknown }[];
          assert.deepEqual(first!.result, { confirmed: 0, unconfirmed: 0 });
        });
      } finally {
        c.close();
      }
    };

    const [dPlain, dPad, dBatch, gPlain, gPad, gShim] = await Promise.all([
      direct(plainSim),
      direct(padSim),
      directBatched(padSim),
      viaGateway(gwPlain.port, plainSim),
      viaGateway(gwPad.port, padSim),
      viaGateway(gwShim.port, padSim),
    ]);
    const rows: [string, number[]][] = [
      ['direct, no padding', dPlain],
      ['direct, padding upstream', dPad],
      ['direct, padding upstream, request batched with a 1 KiB filler', dBatch],
      ['gateway, upstream without padding', gPlain],
      ['gateway, padding upstream', gPad],
      ['gateway, padding upstream behind the filler-batch shim', gShim],
    ];
    for (const [label, ms] of rows) t.diagnostic(`sequential blockchain.scripthash.get_balance, ${label}: median ${median(ms)} ms (${ms.join(', ')})`);
    t.diagnostic(
      `first request through a just-started gateway (waits for the upstream handshake): no padding ${warmup.get(gwPlain.port)} ms, ` +
        `padding ${warmup.get(gwPad.port)} ms, padding behind the shim ${warmup.get(gwShim.port)} ms`,
    );
    // Not a benchmark assertion: only that every row was measured and every answer checked.
    assert.equal(rows.every(([, ms]) => ms.length === N), true);
  });
});
