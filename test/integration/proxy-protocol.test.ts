// SPDX-License-Identifier: MIT
/**
 * Listeners behind an L4 balancer: with proxy_protocol=1 a connection from a
 * trusted address must start with a PROXY v1 or v2 header, and the address in
 * it is the client's — in the logs, in the per-group session cap and in the
 * cost ledger. Connections from anywhere else, and trusted ones without a
 * valid header, are refused. Covered on tcp://, tls:// (header before TLS)
 * and ws://. Every test client is really on loopback: 127.0.0.1 is the
 * trusted "balancer", 127.0.1.1 an untrusted host.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { parseListenUrl } from '../../src/config/urls.js';
import type { GatewayConfig, ListenerConfig } from '../../src/config/types.js';
import { proxyV1Header, type ProxySource } from '../../src/frontend/proxy-protocol.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { selfSignedCertificate, type Certificate } from '../helpers/tls.js';
import { Simulator } from '../sim/index.js';

const BALANCER = '127.0.0.1';
const UNTRUSTED = '127.0.1.1';
const DST: ProxySource = { address: '192.0.2.1', port: 50001 };

function listener(url: string): ListenerConfig {
  const p = parseListenUrl(url);
  return { url: p.url, scheme: p.scheme, host: p.host, port: p.port, path: p.path, options: p.options };
}

/** A PROXY v2 header (PROXY command, TCP) for an IPv4 or IPv6 source, built from the spec. */
function v2Header(src: ProxySource): Buffer {
  const sig = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
  const v6 = src.address.includes(':');
  const block = Buffer.alloc(v6 ? 36 : 12);
  if (v6) {
    const [head, tail = ''] = src.address.split('::') as [string, string?];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = src.address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    groups.forEach((g, i) => block.writeUInt16BE(parseInt(g, 16), i * 2));
    block.writeUInt16BE(src.port, 32);
    block.writeUInt16BE(DST.port, 34);
  } else {
    src.address.split('.').forEach((p, i) => (block[i] = Number(p)));
    DST.address.split('.').forEach((p, i) => (block[4 + i] = Number(p)));
    block.writeUInt16BE(src.port, 8);
    block.writeUInt16BE(DST.port, 10);
  }
  return Buffer.concat([sig, Buffer.from([0x21, v6 ? 0x21 : 0x11]), Buffer.from([0, block.length]), block]);
}

/** PROXY v2 LOCAL: a balancer's own health check, no client address. */
const V2_LOCAL = Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x20, 0x00, 0, 0])]);

async function connectFrom(port: number, localAddress: string): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** The test JSON-RPC client over a socket we opened (its constructor is private to keep `connect` the usual way in). */
function rpcOver(socket: net.Socket): RpcClient {
  const Ctor = RpcClient as unknown as new (socket: net.Socket, timeoutMs: number) => RpcClient;
  return new Ctor(socket, 5000);
}

/** Resolves when the server closes the socket: true if it never sent a byte. */
function closedSilently(socket: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0;
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.once('close', () => resolve(got === 0));
  });
}

function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
      })
      .on('error', reject);
  });
}

async function disconnects(gw: TestGateway, reason: string): Promise<number> {
  const m = await gw.gateway.metrics.disconnects.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('PROXY protocol', () => {
  let sim: Simulator;
  let gw: TestGateway;
  let cert: Certificate;
  const port = { tcp: 0, tls: 0, ws: 0, tcpDefault: 0 };
  const PER_GROUP = 2;

  before(async () => {
    cert = selfSignedCertificate();
    sim = await Simulator.start({ seed: 'proxy-protocol', initialBlocks: 20 });
    const trusted = `proxy_protocol=1&trusted=${BALANCER}/32`;
    gw = await startTestGateway({
      upstreams: [sim],
      captureLogs: 'debug',
      tweak: (c): GatewayConfig => ({
        ...c,
        admin: { host: '127.0.0.1', port: 0 },
        listen: [
          listener(`tcp://127.0.0.1:0?${trusted}`),
          listener(`tls://127.0.0.1:0?${trusted}&cert=${encodeURIComponent(cert.certFile)}&key=${encodeURIComponent(cert.keyFile)}`),
          listener(`ws://127.0.0.1:0/?${trusted}`),
          listener('tcp://127.0.0.1:0?proxy_protocol=1'),
        ],
        limits: { ...c.limits, maxSessionsPerGroup: PER_GROUP },
        // Cost accounting on (high limits) so the ledger shows which group paid.
        cost: { ...c.cost, softLimit: 1e8, hardLimit: 1e9 },
      }),
    });
    [port.tcp, port.tls, port.ws, port.tcpDefault] = gw.gateway.listeners.map((l) => l.port) as [number, number, number, number];
  });

  after(async () => {
    await gw?.close();
    await sim?.stop();
    cert?.remove();
  });

  /** Connects from the balancer, sends `header` (and `first` in the same write), returns a client. */
  const viaBalancer = async (header: Buffer, first = ''): Promise<RpcClient> => {
    const socket = await connectFrom(port.tcp, BALANCER);
    socket.write(Buffer.concat([header, Buffer.from(first)]));
    return rpcOver(socket);
  };

  const peersLogged = (): string[] => gw.logs.filter((r) => r.msg === 'connection opened' || r.msg === 'websocket opened').map((r) => String(r.peer));

  const groups = async (): Promise<string[]> => {
    const status = await getJson(gw.gateway.admin!.port, '/status');
    return ((status.costs as { topGroups: { group: string }[] }).topGroups ?? []).map((g) => g.group);
  };

  it('v1 (TCP4 and TCP6) and v2 (IPv4, IPv6, IPv4-mapped) headers set the client address in logs and in the cost ledger', async () => {
    const cases: { header: Buffer; peer: string; group: string }[] = [
      { header: proxyV1Header({ address: '203.0.113.7', port: 40001 }, DST), peer: '203.0.113.7:40001', group: '203.0.113.0/24' },
      { header: proxyV1Header({ address: '2001:db8:aa:bb::7', port: 40002 }, { address: '2001:db8::1', port: 50001 }), peer: '2001:db8:aa:bb::7:40002', group: '2001:db8:aa:0:0:0:0:0/48' },
      { header: v2Header({ address: '198.51.100.23', port: 40003 }), peer: '198.51.100.23:40003', group: '198.51.100.0/24' },
      { header: v2Header({ address: '2001:db8:cc::9', port: 40004 }), peer: '2001:db8:cc::9:40004', group: '2001:db8:cc:0:0:0:0:0/48' },
      { header: v2Header({ address: '::ffff:cb00:7109', port: 40005 }), peer: '::ffff:203.0.113.9:40005', group: '203.0.113.0/24' },
    ];
    for (const [i, c] of cases.entries()) {
      // Half the time the first request rides in the same packet as the header.
      const ping = '{"jsonrpc":"2.0","id":"p","method":"server.ping","params":[]}\n';
      const client = await viaBalancer(c.header, i % 2 === 0 ? ping : '');
      if (i % 2 === 0) assert.deepEqual(await client.nextUnmatched(), { jsonrpc: '2.0', id: 'p', result: null });
      assert.equal(await client.request('blockchain.block.header', [1]), sim.headerHex(1));
      assert.ok(peersLogged().includes(c.peer), `logs name ${c.peer}; saw ${JSON.stringify(peersLogged())}`);
      await client.close();
    }
    await RpcClient.until(async () => (await groups()).includes('198.51.100.0/24'), 'costs charged to the PROXY groups');
    const charged = await groups();
    for (const c of cases) assert.ok(charged.includes(c.group), `${c.group} was charged; ledger has ${JSON.stringify(charged)}`);
    assert.ok(!charged.some((g) => g.startsWith('127.')), 'the balancer itself was never charged');
    assert.ok(!peersLogged().some((p) => p.startsWith('127.0.0.1:')), 'the balancer address is not logged as a client');
  });

  it("the per-group session cap counts the PROXY address's group, not the balancer's", async () => {
    const a = await viaBalancer(proxyV1Header({ address: '203.0.113.50', port: 1 }, DST));
    const b = await viaBalancer(v2Header({ address: '203.0.113.51', port: 2 }));
    assert.equal(await a.request('server.ping'), null);
    assert.equal(await b.request('server.ping'), null);
    const refusedBefore = await disconnects(gw, 'max_sessions_per_group');
    const third = await connectFrom(port.tcp, BALANCER);
    const silent = closedSilently(third);
    third.write(proxyV1Header({ address: '203.0.113.52', port: 3 }, DST));
    assert.equal(await silent, true, 'a third session from 203.0.113.0/24 is closed at accept');
    assert.equal(await disconnects(gw, 'max_sessions_per_group'), refusedBefore + 1);
    assert.ok(gw.logs.some((r) => r.msg === 'refused: too many sessions' && r.group === '203.0.113.0/24' && String(r.peer).startsWith('203.0.113.52:')));
    // Another "client" through the same balancer is not affected.
    const other = await viaBalancer(proxyV1Header({ address: '198.51.100.60', port: 4 }, DST));
    assert.equal(await other.request('server.ping'), null);
    for (const c of [a, b, other]) await c.close();
  });

  it('tls://: the header is read before the TLS handshake, alone or in the same packet as the ClientHello', async () => {
    // Header first, then TLS on the same socket.
    const s1 = await connectFrom(port.tls, BALANCER);
    s1.write(proxyV1Header({ address: '203.0.113.71', port: 7101 }, DST));
    const t1 = tls.connect({ socket: s1, ca: cert.cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => t1.once('secureConnect', resolve).once('error', reject));
    const c1 = rpcOver(t1);
    assert.equal(await c1.request('blockchain.block.header', [2]), sim.headerHex(2));

    // Header and ClientHello in one write: the bytes after the header must reach TLS.
    const s2 = await connectFrom(port.tls, BALANCER);
    let first = true;
    const glued = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _enc, cb) => {
        s2.write(first ? Buffer.concat([v2Header({ address: '198.51.100.72', port: 7202 }), chunk]) : chunk, cb);
        first = false;
      },
    });
    s2.on('data', (d: Buffer) => glued.push(d));
    s2.on('close', () => glued.destroy());
    const t2 = tls.connect({ socket: glued, ca: cert.cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => t2.once('secureConnect', resolve).once('error', reject));
    const c2 = rpcOver(t2 as unknown as net.Socket);
    assert.equal(await c2.request('blockchain.block.header', [3]), sim.headerHex(3));

    assert.ok(peersLogged().includes('203.0.113.71:7101'));
    assert.ok(peersLogged().includes('198.51.100.72:7202'));
    await c1.close();
    c2.destroy();
    s2.destroy();
  });

  it('ws://: the header comes before the HTTP upgrade', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port.ws}/`, {
      createConnection: () => {
        const s = net.connect({ host: '127.0.0.1', port: port.ws, localAddress: BALANCER });
        s.write(proxyV1Header({ address: '203.0.113.81', port: 8181 }, DST));
        return s;
      },
    });
    await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'blockchain.block.header', params: [4] }));
    assert.deepEqual(JSON.parse(await reply), { jsonrpc: '2.0', id: 1, result: sim.headerHex(4) });
    assert.ok(peersLogged().includes('203.0.113.81:8181'));
    ws.close();
  });

  it('a LOCAL header (health check) keeps the connection address', async () => {
    const client = await viaBalancer(V2_LOCAL);
    assert.equal(await client.request('server.ping'), null);
    await client.close();
    assert.ok(peersLogged().some((p) => p.startsWith(`${BALANCER}:`)));
  });

  it('refuses connections from untrusted addresses, even with a valid header', async () => {
    const before = await disconnects(gw, 'proxy_refused');
    for (const p of [port.tcp, port.tls, port.ws]) {
      const s = await connectFrom(p, UNTRUSTED);
      const silent = closedSilently(s);
      s.write(Buffer.concat([proxyV1Header({ address: '203.0.113.90', port: 9 }, DST), Buffer.from('{"jsonrpc":"2.0","id":1,"method":"server.ping"}\n')]));
      assert.equal(await silent, true, `port ${p}: closed without an answer`);
    }
    assert.equal(await disconnects(gw, 'proxy_refused'), before + 3);
    const refusals = gw.logs.filter((r) => r.msg === 'refused: PROXY protocol connection from an untrusted address');
    assert.equal(refusals.length, 3);
    assert.ok(refusals.every((r) => String(r.peer).startsWith(`${UNTRUSTED}:`)));
    assert.ok(!peersLogged().some((p) => p.startsWith('203.0.113.90')), 'the claimed address never became a session');
  });

  it('refuses trusted connections without a valid header', async () => {
    const before = await disconnects(gw, 'proxy_refused');
    const bad = [
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"server.ping"}\n'), // no header at all
      Buffer.from('PROXY TCP4 203.0.113.300 192.0.2.1 1 2\r\n'), // malformed
      Buffer.concat([V2_LOCAL.subarray(0, 12), Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)]), // version 3
    ];
    for (const bytes of bad) {
      const s = await connectFrom(port.tcp, BALANCER);
      const silent = closedSilently(s);
      s.write(bytes);
      assert.equal(await silent, true);
    }
    assert.equal(await disconnects(gw, 'proxy_refused'), before + bad.length);
    assert.ok(gw.logs.some((r) => r.msg === 'refused: bad PROXY protocol header' && /no PROXY protocol header/.test(String(r.err))));
  });

  it('without trusted=, loopback is trusted and other addresses are not', async () => {
    const s = await connectFrom(port.tcpDefault, UNTRUSTED);
    s.write(proxyV1Header({ address: '203.0.113.91', port: 91 }, DST));
    const c = rpcOver(s);
    assert.equal(await c.request('server.ping'), null, '127.0.1.1 is in the default 127.0.0.0/8');
    await c.close();
    assert.ok(peersLogged().includes('203.0.113.91:91'));
  });
});
