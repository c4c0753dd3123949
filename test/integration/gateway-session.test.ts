// SPDX-License-Identifier: MIT
/**
 * A wallet's session over a real socket: version negotiation, ElectrumX error
 * codes and messages, batches, bad input, and ids. The upstream is a tiny
 * scripted Electrum server defined here, so the tests can make answers arrive
 * in any order they like.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { networkByName } from '../../src/config/networks.js';
import { SERVER_SOFTWARE } from '../../src/version.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { onLines } from '../helpers/lines.js';
import { regtestHeaders } from '../helpers/regtest-headers.js';
import { RpcCallError, RpcClient, connectNegotiated } from '../helpers/rpc-client.js';

const REGTEST_GENESIS = networkByName('regtest').genesisHash;
const MAX_LINE = 4096;
const TIP = 200;

/** Real regtest headers: the gateway's chain tracker verifies what upstreams send. */
const HEADERS = regtestHeaders(TIP);
function fakeHeader(h: number): string {
  return HEADERS[h]!;
}

/**
 * The smallest Electrum server the gateway will accept as an upstream, with
 * a per-height delay on blockchain.block.header so answers can be reordered.
 */
class ScriptedUpstream {
  readonly requests: { id: unknown; method: string; params: unknown[] }[] = [];
  delayFor: (height: number) => number = () => 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<ScriptedUpstream> {
    let self: ScriptedUpstream | null = null;
    const server = net.createServer((s) => self!.accept(s));
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    self = new ScriptedUpstream(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  get host(): string {
    return '127.0.0.1';
  }

  count(method: string): number {
    return this.requests.filter((r) => r.method === method).length;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    onLines(socket, (line) => {
      const msg = JSON.parse(line) as { id: number; method: string; params: unknown[] };
      this.requests.push({ id: msg.id, method: msg.method, params: msg.params });
      const reply = (result: unknown): void => {
        if (!socket.destroyed) socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result })}\n`);
      };
      const fail = (code: number, message: string): void => {
        if (!socket.destroyed) socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code, message } })}\n`);
      };
      switch (msg.method) {
        case 'server.version':
          reply(['ScriptedUpstream 1.0', '1.6']);
          break;
        case 'server.features':
          reply({ genesis_hash: REGTEST_GENESIS, protocol_min: '1.4', protocol_max: '1.6', hash_function: 'sha256' });
          break;
        case 'blockchain.headers.subscribe':
          reply({ height: TIP, hex: fakeHeader(TIP) });
          break;
        case 'blockchain.block.headers': {
          const [start, count] = msg.params as [number, number];
          const hs = HEADERS.slice(start, Math.min(start + count, TIP + 1));
          reply({ count: hs.length, headers: hs, max: 2016 });
          break;
        }
        case 'blockchain.block.header': {
          const h = msg.params[0] as number;
          if (h > TIP) {
            fail(1, `height ${h} out of range`);
            break;
          }
          setTimeout(() => reply(fakeHeader(h)), this.delayFor(h));
          break;
        }
        default:
          fail(-32601, `unknown method "${msg.method}"`);
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let upstream: ScriptedUpstream;
let gw: TestGateway;

before(async () => {
  upstream = await ScriptedUpstream.start();
  // Nothing is cached here: these tests watch individual requests reach the upstream.
  gw = await startTestGateway({ upstreams: [upstream], maxLineBytes: MAX_LINE, tweak: (c) => ({ ...c, cache: { ...c.cache, minDepth: 10_000 } }) });
  // The gateway's own handshake with the upstream is done once it follows the upstream's headers.
  await RpcClient.until(() => upstream.count('blockchain.headers.subscribe') > 0, 'the gateway to connect to the upstream');
});

after(async () => {
  await gw?.close();
  await upstream?.stop();
});

async function connect(): Promise<RpcClient> {
  return RpcClient.connect(gw.port);
}

/** Asserts that `p` rejects with exactly this JSON-RPC code and message. */
async function rejectsWith(p: Promise<unknown>, code: number, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RpcCallError, `expected a JSON-RPC error, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** Waits for the server to hang up; fails if it does not within the client's timeout. */
async function expectDisconnect(client: RpcClient): Promise<void> {
  await RpcClient.until(() => client.isClosed, 'the gateway to close the connection', 3000);
}

describe('server.version negotiation', () => {
  it('["1.4","1.6"] negotiates 1.6 and answers with the gateway software', async () => {
    const c = await connect();
    assert.deepEqual(await c.request('server.version', ['wallet', ['1.4', '1.6']]), [SERVER_SOFTWARE, '1.6']);
    assert.match(SERVER_SOFTWARE, /^electrum-gateway \d+\.\d+\.\d+/);
    await c.close();
  });

  it('single strings, missing argument, 1.5 and over-wide ranges', async () => {
    const cases: [unknown[], string][] = [
      [['w', '1.4'], '1.4'],
      [['w', '1.4.1'], '1.4.1'],
      [['w', '1.4.2'], '1.4.2'],
      [['w', '1.6'], '1.6'],
      [['w'], '1.4'],
      [[], '1.4'],
      [['w', null], '1.4'],
      [['w', ['1.4', '1.5']], '1.4.2'],
      [['w', ['1.0', '2.0']], '1.6'],
      [['w', ['1.1', '1.4']], '1.4'],
    ];
    for (const [params, expected] of cases) {
      const c = await connect();
      assert.deepEqual(await c.request('server.version', params), [SERVER_SOFTWARE, expected], JSON.stringify(params));
      await c.close();
    }
  });

  it('named params work', async () => {
    const c = await connect();
    assert.deepEqual(await c.request('server.version', { client_name: 'w', protocol_version: ['1.4', '1.4.2'] }), [SERVER_SOFTWARE, '1.4.2']);
    await c.close();
  });

  it('extra positional arguments are ignored', async () => {
    const c = await connect();
    assert.deepEqual(await c.request('server.version', ['w', ['1.4', '1.6'], 'extra', { x: 1 }, 7]), [SERVER_SOFTWARE, '1.6']);
    await c.close();
  });

  it('extra named arguments are ignored', async () => {
    const c = await connect();
    assert.deepEqual(await c.request('server.version', { client_name: 'w', protocol_version: ['1.4', '1.6'], client_features: {} }), [SERVER_SOFTWARE, '1.6']);
    await c.close();
  });

  it('only the first server.version counts: a second one is code 1 and changes nothing', async () => {
    const c = await connect();
    assert.deepEqual(await c.request('server.version', ['w', '1.6']), [SERVER_SOFTWARE, '1.6']);
    await rejectsWith(c.request('server.version', ['w', '1.4']), 1, 'server.version already sent');
    await rejectsWith(c.request('server.version', ['w', '1.6']), 1, 'server.version already sent');
    // Still 1.6: relayfee does not exist there, mempool.get_info does (its existence is checked before routing).
    await rejectsWith(c.request('blockchain.relayfee'), -32601, 'unknown method "blockchain.relayfee"');
    assert.equal(c.isClosed, false);
    assert.equal(await c.request('server.ping'), null);
    await c.close();
  });

  it('no common version is code 1 "unsupported protocol version" then disconnect', async () => {
    for (const asked of ['1.7', ['1.7', '2.0'], '0.9', ['0.1', '0.9'], '1.5', '1.4.3']) {
      const c = await connect();
      await rejectsWith(c.request('server.version', ['w', asked]), 1, `unsupported protocol version: ${JSON.stringify(asked)}`);
      await expectDisconnect(c);
    }
  });

  it('a malformed protocol_version is code 1 then disconnect', async () => {
    for (const asked of ['abc', '1', ['1.6', '1.4'], ['1.4'], ['1.4', '1.5', '1.6'], 14, { min: '1.4' }]) {
      const c = await connect();
      await rejectsWith(c.request('server.version', ['w', asked]), 1, /^unsupported protocol version: /);
      await expectDisconnect(c);
    }
  });

  it('the refusal reply arrives before the disconnect and later requests get nothing', async () => {
    const c = await connect();
    c.sendRaw('{"id":1,"method":"server.version","params":["w","9.9"]}\n{"id":2,"method":"server.ping"}\n');
    await expectDisconnect(c);
    assert.equal(c.received.length, 1);
    assert.deepEqual(c.received[0], { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'unsupported protocol version: "9.9"' } });
  });

  it('a session that starts without server.version speaks 1.4', async () => {
    const c = await connect();
    assert.equal(await c.request('server.ping'), null);
    await rejectsWith(c.request('mempool.get_info'), -32601, 'unknown method "mempool.get_info"');
    await rejectsWith(c.request('blockchain.scripthash.unsubscribe', ['ab'.repeat(32)]), -32601, 'unknown method "blockchain.scripthash.unsubscribe"');
    // ...and may still negotiate, but only up to 1.4.2: 1.6 requires server.version first.
    assert.deepEqual(await c.request('server.version', ['w', ['1.4', '1.6']]), [SERVER_SOFTWARE, '1.4.2']);
    assert.equal(await c.request('blockchain.scripthash.unsubscribe', ['ab'.repeat(32)]), false);
    await rejectsWith(c.request('server.version', ['w', '1.4']), 1, 'server.version already sent');
    await c.close();
  });

  it('a late server.version asking only for 1.6 is refused and disconnected', async () => {
    const c = await connect();
    assert.deepEqual(await c.request('server.features').then((f) => (f as { genesis_hash: string }).genesis_hash), REGTEST_GENESIS);
    await rejectsWith(c.request('server.version', ['w', '1.6']), 1, 'unsupported protocol version: "1.6"');
    await expectDisconnect(c);
  });

  it('an unknown method as the first message also fixes the session at 1.4', async () => {
    const c = await connect();
    await rejectsWith(c.request('no.such.method'), -32601, 'unknown method "no.such.method"');
    assert.deepEqual(await c.request('server.version', ['w', ['1.4', '1.6']]), [SERVER_SOFTWARE, '1.4.2']);
    await c.close();
  });

  it('at 1.4 relayfee exists and mempool.get_info does not; at 1.6 the reverse', async () => {
    const old = (await connectNegotiated(gw.port, '1.4')).client;
    await rejectsWith(old.request('mempool.get_info'), -32601, 'unknown method "mempool.get_info"');
    await rejectsWith(old.request('blockchain.transaction.broadcast_package', [['00']]), -32601, /^unknown method/);
    await rejectsWith(old.request('blockchain.estimatefee', [2, 'ECONOMICAL']), -32602, '2 arguments passed to method "blockchain.estimatefee" taking at most 1');
    await old.close();
    const neu = (await connectNegotiated(gw.port, '1.6')).client;
    await rejectsWith(neu.request('blockchain.relayfee'), -32601, 'unknown method "blockchain.relayfee"');
    await neu.close();
  });
});

describe('locally answered server.* methods', () => {
  it('server.features describes the gateway, not the upstream', async () => {
    const { client } = await connectNegotiated(gw.port);
    const asked = upstream.count('server.features');
    const f = (await client.request('server.features')) as Record<string, unknown>;
    assert.equal(f.genesis_hash, REGTEST_GENESIS);
    assert.equal(f.server_version, SERVER_SOFTWARE);
    assert.equal(f.protocol_min, '1.0');
    assert.equal(f.protocol_max, '1.6');
    assert.equal(f.hash_function, 'sha256');
    assert.equal(f.pruning, null);
    assert.equal(upstream.count('server.features'), asked, 'answered by the gateway, not forwarded');
    await client.close();
  });

  it('banner, donation address, ping, peers and add_peer', async () => {
    const { client } = await connectNegotiated(gw.port);
    assert.match((await client.request('server.banner')) as string, /^test gateway \d+\.\d+\.\d+ on regtest$/);
    assert.equal(await client.request('server.donation_address'), '');
    assert.equal(await client.request('server.ping'), null);
    assert.deepEqual(await client.request('server.peers.subscribe'), []);
    assert.equal(await client.request('server.add_peer', [{ hosts: {} }]), false);
    await client.close();
  });
});

describe('ElectrumX error codes and messages', () => {
  it('unknown methods are -32601, long names shortened', async () => {
    const { client } = await connectNegotiated(gw.port);
    await rejectsWith(client.request('blockchain.address.get_history', ['x']), -32601, 'unknown method "blockchain.address.get_history"');
    await rejectsWith(client.request('blockchain.block.get_chunk', [0]), -32601, 'unknown method "blockchain.block.get_chunk"');
    const long = `m${'x'.repeat(300)}`;
    await rejectsWith(client.request(long), -32601, `unknown method "${long.slice(0, 100)}…"`);
    await client.close();
  });

  it('arity errors are -32602', async () => {
    const { client } = await connectNegotiated(gw.port);
    await rejectsWith(client.request('blockchain.block.header', []), -32602, '0 arguments passed to method "blockchain.block.header" but it requires 1');
    await rejectsWith(client.request('blockchain.block.headers', [1]), -32602, '1 argument passed to method "blockchain.block.headers" but it requires 2');
    await rejectsWith(client.request('server.ping', [1, 2]), -32602, '2 arguments passed to method "server.ping" taking at most 0');
    await rejectsWith(client.request('blockchain.block.header', { height: 1, bogus: 2 }), -32602, /has no parameter named "bogus"/);
    await client.close();
  });

  it('named params of a forwarded method are sent upstream by position', async () => {
    const seen = upstream.requests.length;
    const { client } = await connectNegotiated(gw.port);
    assert.equal(await client.request('blockchain.block.header', { height: 12 }), fakeHeader(12));
    assert.deepEqual(upstream.requests.slice(seen).find((r) => r.method === 'blockchain.block.header')?.params, [12]);
    await client.close();
  });

  it('bad arguments are invalid params naming the parameter and never reach the upstream', async () => {
    const before = upstream.requests.length;
    const { client } = await connectNegotiated(gw.port);
    await rejectsWith(client.request('blockchain.scripthash.get_history', ['nothex']), 1, /^invalid scripthash: "nothex" is not a valid script hash/);
    await rejectsWith(client.request('blockchain.scripthash.subscribe', [12]), 1, /^invalid scripthash: 12 is not a valid script hash/);
    await rejectsWith(client.request('blockchain.transaction.get', ['00']), 1, /^invalid tx_hash: "00" should be a transaction hash/);
    await rejectsWith(client.request('blockchain.block.header', [-1]), 1, 'invalid height: -1 should be a non-negative integer');
    await rejectsWith(client.request('blockchain.block.header', ['5']), 1, 'invalid height: "5" should be a non-negative integer');
    await rejectsWith(client.request('blockchain.transaction.broadcast', ['xyz']), 1, /^invalid raw_tx: /);
    assert.equal(upstream.requests.length, before);
    await client.close();
  });

  it('an upstream error is passed to the wallet with its code and message', async () => {
    const { client } = await connectNegotiated(gw.port);
    await rejectsWith(client.request('blockchain.block.header', [TIP + 1]), 1, `height ${TIP + 1} out of range`);
    await client.close();
  });
});

describe('malformed input', () => {
  it('garbage bytes get a parse error and the connection stays usable', async () => {
    const c = await connect();
    c.sendRaw(Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a]));
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'messages must be encoded in UTF-8' } });
    c.sendRaw('this is not json\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'invalid JSON' } });
    c.sendRaw('{"id":1,"method":\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'invalid JSON' } });
    assert.deepEqual(await c.request('server.version', ['w', '1.6']), [SERVER_SOFTWARE, '1.6'], 'garbage before server.version does not count as a first message');
    assert.equal(await c.request('server.ping'), null);
    await c.close();
  });

  it('non-object requests and bad ids are -32600', async () => {
    const c = await connect();
    c.sendRaw('5\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'request object must be a dictionary' } });
    c.sendRaw('{"id":true,"method":"server.ping"}\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid "id": true' } });
    c.sendRaw('{"id":"q","method":7}\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: 'q', error: { code: -32600, message: 'method must be a string' } });
    c.sendRaw('{"id":"p","method":"server.ping","params":"x"}\n');
    assert.deepEqual(await c.nextUnmatched(), {
      jsonrpc: '2.0',
      id: 'p',
      error: { code: -32602, message: 'invalid request arguments: params must be an array or an object' },
    });
    assert.equal(await c.request('server.ping'), null);
    await c.close();
  });

  it('loose 1.0 requests (no jsonrpc member, null params) are answered in 2.0 form', async () => {
    const c = await connect();
    c.sendRaw('{"id":"a","method":"server.version","params":["w","1.4"]}\r\n{"id":2,"method":"server.ping","params":null}\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: 'a', result: [SERVER_SOFTWARE, '1.4'] });
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: 2, result: null });
    await c.close();
  });

  it('a request split over many packets is assembled', async () => {
    const c = await connect();
    const text = '{"jsonrpc":"2.0","id":"split","method":"server.version","params":["w",["1.4","1.6"]]}\n';
    for (const ch of text) {
      c.sendRaw(ch);
    }
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: 'split', result: [SERVER_SOFTWARE, '1.6'] });
    await c.close();
  });

  it('a request with "id": null is answered with id null (JSON-RPC 2.0: only a missing id makes a notification)', async () => {
    const c = await connect();
    c.sendRaw('{"jsonrpc":"2.0","id":null,"method":"server.ping"}\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, result: null });
    c.sendRaw('{"jsonrpc":"2.0","id":null,"method":"no.such.method"}\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'unknown method "no.such.method"' } });
    c.sendRaw('[{"jsonrpc":"2.0","id":null,"method":"server.ping"},{"jsonrpc":"2.0","method":"server.ping"}]\n');
    assert.deepEqual(await c.nextUnmatched(), [{ jsonrpc: '2.0', id: null, result: null }], 'in a batch too; the notification beside it is not answered');
    await c.close();
  });

  it('client notifications and response objects get no reply', async () => {
    const c = await connect();
    c.notify('server.ping');
    c.sendRaw('{"id":9,"result":1}\n');
    c.notify('no.such.method');
    assert.equal(await c.request('server.ping', [], { id: 'last' }), null);
    assert.deepEqual(c.received, [{ jsonrpc: '2.0', id: 'last', result: null }]);
    await c.close();
  });

  it('an oversize line gets -32600 and the connection is closed', async () => {
    const c = await connect();
    assert.equal(await c.request('server.ping'), null);
    c.sendRaw(`{"id":1,"method":"server.ping","params":["${'x'.repeat(MAX_LINE)}"]}\n`);
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: `request too large (over ${MAX_LINE} bytes)` } });
    await expectDisconnect(c);
  });

  it('an oversize line is refused before its newline arrives', async () => {
    const c = await connect();
    c.sendRaw(`{"id":1,"method":"server.ping","params":["${'x'.repeat(MAX_LINE)}`);
    assert.equal(((await c.nextUnmatched()) as { error: { code: number } }).error.code, -32600);
    await expectDisconnect(c);
  });

  it('a line of exactly the limit is accepted', async () => {
    const c = await connect();
    const head = '{"id":1,"method":"server.ping","params":{},"pad":"';
    const line = `${head}${'x'.repeat(MAX_LINE - head.length - 2)}"}`;
    assert.equal(Buffer.byteLength(line), MAX_LINE);
    c.sendRaw(`${line}\n`);
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: 1, result: null });
    await c.close();
  });

  it('the gateway keeps serving other clients after one sent rubbish and vanished', async () => {
    const bad = await connect();
    bad.sendRaw(Buffer.alloc(MAX_LINE * 3, 0x7b));
    bad.destroy();
    const good = await connect();
    assert.deepEqual(await good.request('server.version', ['w', '1.6']), [SERVER_SOFTWARE, '1.6']);
    await good.close();
  });
});

describe('batches', () => {
  it('are answered as one array in request order, whatever order the upstream answers in', async () => {
    // Higher heights answer sooner: completion order is the reverse of request order.
    upstream.delayFor = (h) => (h < 10 ? (10 - h) * 15 : 0);
    try {
      const { client } = await connectNegotiated(gw.port);
      const items = [1, 2, 3, 4, 5].map((h) => ({ method: 'blockchain.block.header', params: [h], id: `h${h}` }));
      const reply = await client.batch([...items, { method: 'server.ping', id: 'ping' }]);
      assert.deepEqual(reply, [
        ...[1, 2, 3, 4, 5].map((h) => ({ jsonrpc: '2.0', id: `h${h}`, result: fakeHeader(h) })),
        { jsonrpc: '2.0', id: 'ping', result: null },
      ]);
      await client.close();
    } finally {
      upstream.delayFor = () => 0;
    }
  });

  it('mix valid items, invalid items and notifications: errors inline, notifications omitted', async () => {
    const { client } = await connectNegotiated(gw.port);
    client.sendRaw(
      `${JSON.stringify([
        { id: 1, method: 'blockchain.block.header', params: [7] },
        5,
        { id: 2, method: 'nope' },
        { method: 'server.ping' },
        { id: 3, method: 'blockchain.block.header', params: [] },
        { id: 4 },
        { id: 5, method: 'blockchain.scripthash.get_history', params: ['zz'] },
        { id: 6, method: 'server.ping' },
      ])}\n`,
    );
    assert.deepEqual(await client.nextUnmatched(), [
      { jsonrpc: '2.0', id: 1, result: fakeHeader(7) },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'request object must be a dictionary' } },
      { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'unknown method "nope"' } },
      { jsonrpc: '2.0', id: 3, error: { code: -32602, message: '0 arguments passed to method "blockchain.block.header" but it requires 1' } },
      { jsonrpc: '2.0', id: 4, error: { code: -32600, message: 'method must be a string' } },
      { jsonrpc: '2.0', id: 5, error: { code: 1, message: 'invalid scripthash: "zz" is not a valid script hash (64 hex characters)' } },
      { jsonrpc: '2.0', id: 6, result: null },
    ]);
    await client.close();
  });

  it('an empty batch is a single -32600 error, not an array', async () => {
    const c = await connect();
    c.sendRaw('[]\n');
    assert.deepEqual(await c.nextUnmatched(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batch is empty' } });
    await c.close();
  });

  it('a batch of notifications only gets no reply at all', async () => {
    const c = await connect();
    c.sendRaw('[{"method":"server.ping"},{"method":"no.such"}]\n');
    assert.equal(await c.request('server.ping', [], { id: 'after' }), null);
    assert.deepEqual(c.received, [{ jsonrpc: '2.0', id: 'after', result: null }]);
    await c.close();
  });

  it('server.version first in a batch sets the version for the items after it', async () => {
    const c = await connect();
    const reply = await c.batch([
      { method: 'server.version', params: ['w', ['1.4', '1.6']] },
      { method: 'blockchain.relayfee' },
      { method: 'server.version', params: ['w', '1.4'] },
    ]);
    assert.equal(reply.length, 3);
    assert.deepEqual((reply[0] as { result: unknown }).result, [SERVER_SOFTWARE, '1.6']);
    assert.deepEqual((reply[1] as { error: unknown }).error, { code: -32601, message: 'unknown method "blockchain.relayfee"' });
    assert.deepEqual((reply[2] as { error: unknown }).error, { code: 1, message: 'server.version already sent' });
    await c.close();
  });

  it('server.version after another item of the same batch is a late negotiation (max 1.4.2)', async () => {
    const c = await connect();
    const reply = await c.batch([{ method: 'server.ping' }, { method: 'server.version', params: ['w', ['1.4', '1.6']] }]);
    assert.deepEqual((reply[1] as { result: unknown }).result, [SERVER_SOFTWARE, '1.4.2']);
    await c.close();
  });
});

describe('ids', () => {
  it('two clients using the same ids concurrently each get their own answers', async () => {
    // Scramble completion order across both clients.
    upstream.delayFor = (h) => ((h * 37) % 11) * 3;
    try {
      const a = (await connectNegotiated(gw.port)).client;
      const b = (await connectNegotiated(gw.port)).client;
      const ids = Array.from({ length: 20 }, (_, i) => i + 1);
      const [ra, rb] = await Promise.all([
        Promise.all(ids.map((id) => a.request('blockchain.block.header', [id], { id }))),
        Promise.all(ids.map((id) => b.request('blockchain.block.header', [100 + id], { id }))),
      ]);
      assert.deepEqual(ra, ids.map((id) => fakeHeader(id)));
      assert.deepEqual(rb, ids.map((id) => fakeHeader(100 + id)));
      // Nothing extra arrived on either connection.
      assert.equal(a.received.length, 21);
      assert.equal(b.received.length, 21);
      await a.close();
      await b.close();
    } finally {
      upstream.delayFor = () => 0;
    }
  });

  it('string and number ids come back exactly as sent, for local and forwarded methods', async () => {
    const { client } = await connectNegotiated(gw.port);
    const ids: unknown[] = [7, '7', '007', 0, '', -3, 1.5, 9007199254740991, 'ключ 🔑', 'a"b\\c', '1e3'];
    for (const method of ['server.ping', 'blockchain.block.header']) {
      for (const id of ids) {
        client.sendRaw(`${JSON.stringify({ id, method, params: method === 'server.ping' ? [] : [3] })}\n`);
        const reply = (await client.nextUnmatched()) as { id: unknown; result: unknown };
        assert.ok(Object.is(reply.id, id), `${method}: sent id ${JSON.stringify(id)}, got ${JSON.stringify(reply.id)}`);
        assert.deepEqual(reply.result, method === 'server.ping' ? null : fakeHeader(3));
      }
    }
    await client.close();
  });

  it('the same id used twice at once by one client is answered twice', async () => {
    upstream.delayFor = (h) => (h === 1 ? 60 : 0);
    try {
      const { client } = await connectNegotiated(gw.port);
      client.sendRaw('{"id":5,"method":"blockchain.block.header","params":[1]}\n{"id":5,"method":"blockchain.block.header","params":[2]}\n');
      const first = (await client.nextUnmatched()) as { id: unknown; result: unknown };
      const second = (await client.nextUnmatched()) as { id: unknown; result: unknown };
      assert.deepEqual([first.id, second.id], [5, 5]);
      assert.deepEqual([first.result, second.result], [fakeHeader(2), fakeHeader(1)]);
      await client.close();
    } finally {
      upstream.delayFor = () => 0;
    }
  });

  it('upstream ids are the gateway\'s own, never the wallet\'s', async () => {
    const seen = upstream.requests.length;
    const { client } = await connectNegotiated(gw.port);
    await client.request('blockchain.block.header', [9], { id: 'wallet-id' });
    const forwarded = upstream.requests.slice(seen).filter((r) => r.method === 'blockchain.block.header');
    assert.equal(forwarded.length, 1);
    assert.deepEqual(forwarded[0]!.params, [9]);
    assert.equal(typeof forwarded[0]!.id, 'number');
    await client.close();
  });
});

describe('a wallet that disconnects mid-request', () => {
  it('does not disturb the gateway', async () => {
    upstream.delayFor = (h) => (h === 50 ? 100 : 0);
    try {
      const gone = (await connectNegotiated(gw.port)).client;
      gone.sendRaw('{"id":1,"method":"blockchain.block.header","params":[50]}\n');
      await RpcClient.until(() => upstream.requests.some((r) => r.method === 'blockchain.block.header' && r.params[0] === 50), 'the request to reach the upstream');
      gone.destroy();
      const { client } = await connectNegotiated(gw.port);
      assert.equal(await client.request('blockchain.block.header', [51]), fakeHeader(51));
      await client.close();
    } finally {
      upstream.delayFor = () => 0;
    }
  });
});
