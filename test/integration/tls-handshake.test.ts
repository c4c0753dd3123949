// SPDX-License-Identifier: MIT
/**
 * A client that opens TLS connections and never finishes the handshake holds
 * no session seat (its group's cap stays free for real wallets) and is cut at
 * limits.handshake_timeout_ms, not at the 10-minute idle timeout.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { parseListenUrl } from '../../src/config/urls.js';
import type { ListenerConfig } from '../../src/config/types.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { selfSignedCertificate, type Certificate } from '../helpers/tls.js';

function listener(url: string): ListenerConfig {
  const p = parseListenUrl(url);
  return { url: p.url, scheme: p.scheme, host: p.host, port: p.port, path: p.path, options: p.options };
}

/** A TCP connection to the TLS port that never sends a ClientHello; resolves `closed` when the gateway cuts it. */
async function stalled(port: number, localAddress: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  return { socket, closed };
}

function pingOverTls(port: number, cert: Certificate, localAddress: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ port, host: '127.0.0.1', localAddress });
    const s = tls.connect({ socket: tcp, ca: cert.cert, servername: 'localhost' }, () => {
      s.write('{"jsonrpc":"2.0","id":1,"method":"server.ping"}\n');
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        s.end();
        resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed before an answer: ${buf}`)));
  });
}

describe('TLS handshakes hold no seat', () => {
  let sim: Simulator;
  let cert: Certificate;
  let tg: TestGateway;
  let tlsPort = 0;

  before(async () => {
    sim = await Simulator.start({ initialBlocks: 5 });
    cert = selfSignedCertificate();
    tg = await startTestGateway({
      upstreams: [sim],
      admin: true,
      tweak: (c) => ({
        ...c,
        listen: [listener(`tls://127.0.0.1:0?cert=${encodeURIComponent(cert.certFile)}&key=${encodeURIComponent(cert.keyFile)}`)],
        limits: { ...c.limits, maxSessionsPerGroup: 2, handshakeTimeoutMs: 400 },
      }),
    });
    tlsPort = tg.gateway.listeners[0]!.port;
  });

  after(async () => {
    await tg?.close();
    await sim?.stop();
    cert?.remove();
  });

  it('ten stalled handshakes from one /24 leave its two seats to a real wallet, and are cut at handshake_timeout_ms', async () => {
    const stalls = await Promise.all(Array.from({ length: 10 }, (_, i) => stalled(tlsPort, `127.0.21.${i + 1}`)));
    // The group's cap is 2: with seats held during the handshake this wallet would be refused at accept.
    assert.deepEqual(await pingOverTls(tlsPort, cert, '127.0.21.200'), { jsonrpc: '2.0', id: 1, result: null });
    // Cut long before the idle timeout (600 s): the test's own timeout would fail first otherwise.
    await Promise.all(stalls.map((s) => s.closed));
    const metrics = await tg.metrics();
    const cut = Number(/electrum_gateway_client_disconnects_total\{reason="handshake_timeout"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(cut >= 10, `${cut} handshakes cut`);
    await RpcClient.until(async () => (await tg.status()).sessions === 0, 'no sessions left', 5000);
  });
});
