// SPDX-License-Identifier: MIT
/**
 * How the pool reaches upstreams, against real pieces on loopback:
 *
 *  - through a real SOCKS5 server (Dante, microsocks with a password) and
 *    through SOCKS4 (Dante);
 *  - a .onion host name goes to the SOCKS server unresolved (SOCKS5 ATYP
 *    domain, SOCKS4a), recorded by an in-process SOCKS server;
 *  - TLS with a self-signed certificate: refused by default, accepted with
 *    ?ca=FILE or ?insecure=1, refused when the name does not match;
 *  - try-the-other-port: TCP closed -> the SSL port, and the reverse;
 *  - ws:// and wss:// upstreams.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { startTestGateway, type TestGateway, type UpstreamSpec } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { startDanted, startMicrosocks, startRecordingSocks, type SocksServer } from '../helpers/socks.js';
import { selfSignedCertificate, startTlsTerminator, startWsBridge, type Certificate, type Front } from '../helpers/tls.js';
import { Simulator } from '../sim/index.js';

const ONION = 'electrumgatewaytestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion';

async function gatewayFor(upstream: UpstreamSpec, captureLogs = false): Promise<TestGateway> {
  return startTestGateway({ upstreams: [upstream], admin: true, ...(captureLogs ? { captureLogs: 'warn' as const } : {}) });
}

/** The single upstream's /status entry once it reaches `state`. */
async function until(gw: TestGateway, state: string, timeoutMs = 10_000): Promise<{ state: string; endpoint: string; connections: number }> {
  let last: unknown;
  try {
    await RpcClient.until(
      async () => {
        last = (await gw.status()).upstreams[0];
        return (last as { state: string }).state === state;
      },
      `the upstream to be ${state}`,
      timeoutMs,
      20,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last: ${JSON.stringify(last)}`);
  }
  return last as { state: string; endpoint: string; connections: number };
}

/** A wallet's request through the gateway, answered by the simulator behind whatever transport. */
async function answersThrough(gw: TestGateway, sim: Simulator): Promise<void> {
  const c = await RpcClient.connect(gw.port);
  try {
    await c.request('server.version', ['transport-test', '1.4']);
    assert.equal(await c.request('blockchain.block.header', [7]), sim.headerHex(7));
    const tip = (await c.request('blockchain.headers.subscribe')) as { height: number };
    assert.equal(tip.height, sim.tipHeight());
  } finally {
    await c.close();
  }
}

/** Polls the proxy's log for `re` (Dante's children write it a little later). */
async function untilLogged(proxy: SocksServer, re: RegExp, what: string): Promise<void> {
  try {
    await RpcClient.until(() => re.test(proxy.log()), what, 5000, 20);
  } catch {
    const requests = proxy.log().split('\n').filter((l) => /Packet: VER/.test(l));
    assert.fail(`${what}: ${re} not in the proxy's log; requests it logged:\n${requests.slice(-10).join('\n')}`);
  }
}

/** Connection-failure log records of the upstream. */
function failureLogs(gw: TestGateway): string {
  return gw.logs
    .filter((r) => r.msg === 'upstream unavailable' || r.msg === 'upstream connection failed')
    .map((r) => String(r.err))
    .join('\n');
}

describe('upstream transports', { concurrency: true }, () => {
  let sim: Simulator;
  let cert: Certificate;
  let tlsFront: Front;

  before(async () => {
    sim = await Simulator.start({ initialBlocks: 110, seed: 'transports' });
    cert = selfSignedCertificate();
    tlsFront = await startTlsTerminator(sim, cert);
  });
  after(async () => {
    await tlsFront.stop();
    await sim.stop();
    cert.remove();
  });

  describe('SOCKS', { concurrency: true }, () => {
    let danted: SocksServer;
    before(async () => {
      danted = await startDanted({ debug: true });
    });
    after(() => danted.stop());

    it('SOCKS5 through Dante', async (t) => {
      const gw = await gatewayFor({ url: `tcp://127.0.0.1:${sim.port}?socks=${danted.url(5)}`, name: 'via-dante5' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      await untilLogged(danted, new RegExp(`VER: 5 CMD: 1 FLAG: 0 ATYP: 1 address: 127\\.0\\.0\\.1\\.${sim.port}\\b`), 'Dante got the SOCKS5 CONNECT');
    });

    it('SOCKS5 through Dante with a host name: the proxy gets the name, not an address', async (t) => {
      const gw = await gatewayFor({ url: `tcp://localhost:${sim.port}?socks=${danted.url(5)}&max_connections=1`, name: 'via-dante5-name' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      await untilLogged(danted, new RegExp(`VER: 5 CMD: 1 FLAG: 0 ATYP: 3 address: localhost\\.${sim.port}\\b`), 'Dante was asked for "localhost" by name (ATYP 3)');
    });

    it('SOCKS4 through Dante', async (t) => {
      const gw = await gatewayFor({ url: `tcp://127.0.0.1:${sim.port}?socks=${danted.url(4)}&max_connections=1`, name: 'via-dante4' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      await untilLogged(danted, new RegExp(`VER: 4 CMD: 1 address: 127\\.0\\.0\\.1\\.${sim.port}\\b`), 'Dante got a SOCKS4 CONNECT');
    });

    it('SOCKS5 with a username and password (microsocks); a wrong password is refused', async (t) => {
      const ms = await startMicrosocks({ username: 'gateway', password: 's3cret:pw' });
      t.after(() => ms.stop());
      const gw = await gatewayFor({ url: `tcp://127.0.0.1:${sim.port}?socks=${encodeURIComponent(ms.url(5))}`, name: 'via-microsocks' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      const bad = await gatewayFor({ url: `tcp://127.0.0.1:${sim.port}?socks=${encodeURIComponent(`socks5://gateway:wrong@127.0.0.1:${ms.port}`)}`, name: 'bad-password' }, true);
      t.after(() => bad.close());
      await until(bad, 'down');
      assert.match(failureLogs(bad), /socks5 proxy 127\.0\.0\.1:\d+ could not reach 127\.0\.0\.1:\d+/);
    });

    it('a .onion name reaches the SOCKS5 server unresolved (ATYP domain), over TCP and TLS', async (t) => {
      const rec = await startRecordingSocks((req) => (req.host === ONION ? (req.port === 50002 ? tlsFront : sim) : null));
      t.after(() => rec.stop());
      const gw = await startTestGateway({
        upstreams: [
          { url: `tcp://${ONION}:50001?socks=${rec.url(5)}&max_connections=1`, name: 'onion-tcp' },
          { url: `tls://${ONION}:50002?socks=${rec.url(5)}&max_connections=1&insecure=1`, name: 'onion-tls' },
        ],
        admin: true,
      });
      t.after(() => gw.close());
      await RpcClient.until(async () => (await gw.status()).upstreams.every((u) => u.state === 'healthy'), 'both onion upstreams to be healthy', 10_000, 20);
      await answersThrough(gw, sim);
      assert.ok(rec.requests.length >= 2);
      for (const r of rec.requests) {
        assert.equal(r.version, 5);
        assert.equal(r.addressType, 'domain', 'the name was not resolved locally');
        assert.equal(r.host, ONION);
      }
      assert.deepEqual([...new Set(rec.requests.map((r) => r.port))].sort(), [50001, 50002]);
    });

    it('a .onion name reaches a SOCKS4 server as SOCKS4a (name, not address)', async (t) => {
      const rec = await startRecordingSocks((req) => (req.host === ONION ? sim : null));
      t.after(() => rec.stop());
      const gw = await gatewayFor({ url: `tcp://${ONION}:50001?socks=${rec.url(4).replace('socks4:', 'socks4a:')}&max_connections=1`, name: 'onion-4a' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      assert.deepEqual(rec.requests[0], { version: 4, addressType: 'domain', host: ONION, port: 50001 });
    });
  });

  describe('TLS', { concurrency: true }, () => {
    it('a self-signed certificate is refused by default', async (t) => {
      const gw = await gatewayFor({ url: `tls://127.0.0.1:${tlsFront.port}`, name: 'tls-default' }, true);
      t.after(() => gw.close());
      await until(gw, 'down');
      assert.match(failureLogs(gw), /TLS with 127\.0\.0\.1:\d+ failed: self.signed certificate/);
    });

    it('accepted with ?ca=FILE (and as ssl://)', async (t) => {
      const gw = await gatewayFor({ url: `ssl://127.0.0.1:${tlsFront.port}?ca=${cert.certFile}`, name: 'tls-ca' });
      t.after(() => gw.close());
      const st = await until(gw, 'healthy');
      assert.equal(st.endpoint, `tls://127.0.0.1:${tlsFront.port}`);
      await answersThrough(gw, sim);
    });

    it('accepted with ?insecure=1', async (t) => {
      const gw = await gatewayFor({ url: `tls://127.0.0.1:${tlsFront.port}?insecure=1`, name: 'tls-insecure' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
    });

    it('with ?ca=FILE a trusted certificate for another name is still refused', async (t) => {
      const other = selfSignedCertificate('other.example', ['DNS:other.example']);
      t.after(() => other.remove());
      const front = await startTlsTerminator(sim, other);
      t.after(() => front.stop());
      const gw = await gatewayFor({ url: `tls://127.0.0.1:${front.port}?ca=${other.certFile}`, name: 'tls-other-name' }, true);
      t.after(() => gw.close());
      await until(gw, 'down');
      assert.match(failureLogs(gw), /TLS with 127\.0\.0\.1:\d+ failed: .*(IP|altnames|does not match)/i);
    });
  });

  describe('try the other port', { concurrency: true }, () => {
    it('TCP port closed: the SSL port is used', async (t) => {
      const closed = await freePort();
      const gw = await gatewayFor({ url: `tcp://127.0.0.1:${closed}?ssl_port=${tlsFront.port}&ca=${cert.certFile}`, name: 'tcp-then-ssl' });
      t.after(() => gw.close());
      const st = await until(gw, 'healthy');
      assert.equal(st.endpoint, `tls://127.0.0.1:${tlsFront.port}`);
      await answersThrough(gw, sim);
      await RpcClient.until(async () => (await gw.status()).upstreams[0]!.connections === 2, 'both connections on the SSL port', 10_000, 20);
    });

    it('SSL port closed: the TCP port is used', async (t) => {
      const closed = await freePort();
      const gw = await gatewayFor({ url: `ssl://127.0.0.1:${closed}?tcp_port=${sim.port}&ca=${cert.certFile}`, name: 'ssl-then-tcp' });
      t.after(() => gw.close());
      const st = await until(gw, 'healthy');
      assert.equal(st.endpoint, `tcp://127.0.0.1:${sim.port}`);
      await answersThrough(gw, sim);
      await RpcClient.until(async () => (await gw.status()).upstreams[0]!.connections === 2, 'both connections on the TCP port', 10_000, 20);
    });

    it('a port that fails is left after one try per connection, not retried because two connections failed at once', async (t) => {
      // Accepts and hangs up at once, counting the attempts.
      let attempts = 0;
      const refuser = net.createServer((s) => {
        attempts++;
        s.destroy();
      });
      await new Promise<void>((resolve) => refuser.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
      t.after(() => new Promise<void>((resolve) => refuser.close(() => resolve())));
      const badPort = (refuser.address() as net.AddressInfo).port;
      const gw = await gatewayFor({ url: `tcp://127.0.0.1:${badPort}?ssl_port=${tlsFront.port}&insecure=1`, name: 'flaky-tcp' });
      t.after(() => gw.close());
      await RpcClient.until(async () => (await gw.status()).upstreams[0]!.connections === 2, 'both connections on the SSL port', 10_000, 20);
      assert.equal(attempts, 2, 'each of the two connections tried the failing port once');
    });
  });

  describe('WebSocket', { concurrency: true }, () => {
    it('ws:// upstream', async (t) => {
      const ws = await startWsBridge(sim);
      t.after(() => ws.stop());
      const gw = await gatewayFor({ url: `ws://127.0.0.1:${ws.port}/`, name: 'ws' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      assert.ok(ws.accepted() >= 1);
    });

    it('wss:// upstream with ?ca=FILE, refused without', async (t) => {
      const wss = await startWsBridge(sim, cert);
      t.after(() => wss.stop());
      const gw = await gatewayFor({ url: `wss://127.0.0.1:${wss.port}/electrum?ca=${cert.certFile}`, name: 'wss' });
      t.after(() => gw.close());
      await until(gw, 'healthy');
      await answersThrough(gw, sim);
      const refused = await gatewayFor({ url: `wss://127.0.0.1:${wss.port}/electrum`, name: 'wss-default' }, true);
      t.after(() => refused.close());
      await until(refused, 'down');
      assert.match(failureLogs(refused), /self.signed certificate/);
    });
  });
});
