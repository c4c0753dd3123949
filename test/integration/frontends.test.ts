// SPDX-License-Identifier: MIT
/**
 * Every door a wallet uses, with real clients: a Node TCP client, a TLS
 * client trusting only a test CA made by openssl, and the `ws` client over
 * ws:// and wss://. The same conversation gives the same answers on all four
 * (notifications included). Then what only WebSocket has (text frames only,
 * newline tolerance, Origin allow-list, path) and TLS certificate reloads
 * that leave open sessions alone.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { bech32 } from 'bech32';
import { WebSocket } from 'ws';
import { networkByName } from '../../src/config/networks.js';
import { parseListenUrl } from '../../src/config/urls.js';
import type { ListenerConfig } from '../../src/config/types.js';
import { addressToScripthash } from '../../src/protocol/address.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';

// ------------------------------------------------------------------ a test CA

interface Leaf {
  readonly certFile: string;
  readonly keyFile: string;
  /** SHA-256 of the DER certificate, as Node reports `fingerprint256`. */
  readonly fingerprint: string;
}

interface TestCa {
  readonly dir: string;
  readonly caFile: string;
  readonly caPem: string;
  /** A server certificate for localhost and 127.0.0.1, signed by the CA. */
  leaf(name: string): Leaf;
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway certificate authority (openssl CLI, Debian package openssl). */
function makeCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'eg-ca-'));
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=electrum-gateway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const ext = join(dir, 'leaf.ext');
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  const caPem = execFileSync('openssl', ['x509', '-in', caFile]).toString();
  return {
    dir,
    caFile,
    caPem,
    leaf: (name) => {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.pem`);
      openssl(['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
      openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
      const der = execFileSync('openssl', ['x509', '-in', certFile, '-outform', 'DER']);
      const fingerprint = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
      return { certFile, keyFile, fingerprint };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ------------------------------------------------------------------ one client for all four doors

type Outcome = { result: unknown } | { error: { code: number; message: string } };

/** A JSON-RPC client over any transport: lines on TCP/TLS, one message per frame on WS. */
class WireClient {
  /** Every message (line or frame) as received, unparsed. */
  readonly raw: string[] = [];
  readonly notifications: { method: string; params: unknown[] }[] = [];
  readonly closed: Promise<{ code: number | null; reason: string }>;
  private readonly waiting = new Map<string, (m: Record<string, unknown> | unknown[]) => void>();
  private nextId = 1;

  private constructor(
    private readonly sendText: (text: string) => void,
    private readonly end: () => void,
    subscribe: (onMessage: (text: string) => void) => void,
    closed: Promise<{ code: number | null; reason: string }>,
    /** The peer certificate, for TLS doors. */
    readonly peerFingerprint: string | null,
  ) {
    subscribe((text) => this.onMessage(text));
    this.closed = closed;
  }

  static async tcp(port: number): Promise<WireClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return WireClient.lines(socket, null);
  }

  static async tls(port: number, ca: string): Promise<WireClient> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    assert.equal(socket.authorized, true, 'the gateway certificate chains to the test CA');
    return WireClient.lines(socket, socket.getPeerCertificate().fingerprint256);
  }

  private static lines(socket: net.Socket, fingerprint: string | null): WireClient {
    socket.on('error', () => undefined);
    const closed = new Promise<{ code: number | null; reason: string }>((resolve) => socket.once('close', () => resolve({ code: null, reason: '' })));
    let buf = '';
    return new WireClient(
      (text) => socket.write(`${text}\n`),
      () => socket.end(),
      (onMessage) =>
        socket.on('data', (chunk: Buffer) => {
          buf += chunk.toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) !== -1) {
            onMessage(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        }),
      closed,
      fingerprint,
    );
  }

  static async ws(url: string, opts: { ca?: string; origin?: string } = {}): Promise<{ client: WireClient; ws: WebSocket }> {
    const ws = new WebSocket(url, { ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.origin ? { origin: opts.origin } : {}) });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    const closed = new Promise<{ code: number | null; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    const sock = (ws as unknown as { _socket: tls.TLSSocket | net.Socket })._socket;
    const fingerprint = sock instanceof tls.TLSSocket ? sock.getPeerCertificate().fingerprint256 : null;
    const client = new WireClient(
      (text) => ws.send(text),
      () => ws.close(1000),
      (onMessage) => ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(isBinary ? `<binary ${data.length}>` : data.toString('utf8'))),
      closed,
      fingerprint,
    );
    return { client, ws };
  }

  send(message: unknown): void {
    this.sendText(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends text as is (one line or one frame) and waits for the replies to the given ids. */
  async sendAndWait(text: string, ids: number[]): Promise<Record<string, unknown>[]> {
    const replies = ids.map((id) => this.reply(id));
    this.sendText(text);
    return (await Promise.all(replies)) as Record<string, unknown>[];
  }

  async call(method: string, params: unknown = []): Promise<Outcome> {
    const id = this.nextId++;
    const reply = this.reply(id);
    this.send({ jsonrpc: '2.0', id, method, params });
    return outcomeOf((await reply) as Record<string, unknown>);
  }

  async batch(items: [string, unknown[]][]): Promise<Outcome[]> {
    const ids = items.map(() => this.nextId++);
    const reply = this.reply(ids[0]!);
    this.send(items.map(([method, params], i) => ({ jsonrpc: '2.0', id: ids[i], method, params })));
    const arr = (await reply) as Record<string, unknown>[];
    assert.ok(Array.isArray(arr), 'a batch is answered with an array');
    assert.deepEqual(
      arr.map((r) => r.id),
      ids,
      'batch replies in request order',
    );
    return arr.map(outcomeOf);
  }

  async notification(method: string, timeoutMs = 5000): Promise<unknown[]> {
    await RpcClient.until(() => this.notifications.some((n) => n.method === method), `a ${method} notification`, timeoutMs);
    return this.notifications.find((n) => n.method === method)!.params;
  }

  close(): void {
    this.end();
  }

  private reply(id: number, timeoutMs = 5000): Promise<Record<string, unknown> | unknown[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(String(id));
        reject(new Error(`no reply to id ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(String(id), (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  private onMessage(text: string): void {
    this.raw.push(text);
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const first = Array.isArray(msg) ? (msg[0] as Record<string, unknown> | undefined) : (msg as Record<string, unknown>);
    if (!first || typeof first !== 'object') return;
    if (!Array.isArray(msg) && typeof first.method === 'string' && first.id === undefined) {
      this.notifications.push({ method: first.method, params: first.params as unknown[] });
      return;
    }
    const w = this.waiting.get(String(first.id));
    if (w) {
      this.waiting.delete(String(first.id));
      w(msg as Record<string, unknown>);
    }
  }
}

function outcomeOf(reply: Record<string, unknown>): Outcome {
  if (reply.error) {
    const e = reply.error as { code: number; message: string };
    return { error: { code: e.code, message: e.message } };
  }
  return { result: reply.result };
}

// ------------------------------------------------------------------ fixtures

const REGTEST = networkByName('regtest');

function address(label: string): { address: string; scripthash: string } {
  const program = createHash('sha256').update(`frontends-test:${label}`).digest().subarray(0, 20);
  const addr = bech32.encode('bcrt', [0, ...bech32.toWords(program)]);
  return { address: addr, scripthash: addressToScripthash(addr, REGTEST) };
}

function listener(url: string): ListenerConfig {
  const p = parseListenUrl(url);
  return { url: p.url, scheme: p.scheme, host: p.host, port: p.port, path: p.path, options: p.options };
}

const enc = encodeURIComponent;

describe('frontends: tcp, tls, ws and wss', () => {
  let sim: Simulator;
  let gw: TestGateway;
  let ca: TestCa;
  let leaf1: Leaf;
  /** The files the tls:// and wss:// listeners read (copied from a leaf, replaced on reload). */
  let certFile: string;
  let keyFile: string;
  const ports: Record<'tcp' | 'tls' | 'ws' | 'wss' | 'wsOrigins', number> = { tcp: 0, tls: 0, ws: 0, wss: 0, wsOrigins: 0 };
  const paid = address('paid');
  const watched = address('watched');
  let txid = '';
  let txHeight = 0;

  before(async () => {
    ca = makeCa();
    leaf1 = ca.leaf('leaf1');
    certFile = join(ca.dir, 'served-cert.pem');
    keyFile = join(ca.dir, 'served-key.pem');
    copyFileSync(leaf1.certFile, certFile);
    copyFileSync(leaf1.keyFile, keyFile);
    sim = await Simulator.start({ seed: 'frontends' });
    txid = sim.pay(paid.address, 120_000, { confirm: true });
    txHeight = sim.history(paid.scripthash).find((e) => e.tx_hash === txid)!.height;
    const tlsQuery = `cert=${enc(certFile)}&key=${enc(keyFile)}`;
    gw = await startTestGateway({
      upstreams: [sim],
      tweak: (c) => ({
        ...c,
        listen: [
          listener('tcp://127.0.0.1:0'),
          listener(`tls://127.0.0.1:0?${tlsQuery}`),
          listener('ws://127.0.0.1:0/electrum'),
          listener(`wss://127.0.0.1:0/?${tlsQuery}`),
          listener(`ws://127.0.0.1:0/?origins=${enc('https://wallet.example,https://other.example')}`),
        ],
      }),
    });
    const bound = gw.gateway.listeners;
    assert.deepEqual(
      bound.map((l) => l.url.split(':')[0]),
      ['tcp', 'tls', 'ws', 'wss', 'ws'],
    );
    [ports.tcp, ports.tls, ports.ws, ports.wss, ports.wsOrigins] = bound.map((l) => l.port) as [number, number, number, number, number];
    // Ready once a forwarded request is answered.
    const probe = await WireClient.tcp(ports.tcp);
    await RpcClient.until(async () => 'result' in (await probe.call('blockchain.block.header', [0])), 'the gateway to reach the simulator', 10_000, 25);
    probe.close();
  });

  after(async () => {
    await gw?.close();
    await sim?.stop();
    ca?.remove();
  });

  const open = async (door: 'tcp' | 'tls' | 'ws' | 'wss'): Promise<WireClient> => {
    switch (door) {
      case 'tcp':
        return WireClient.tcp(ports.tcp);
      case 'tls':
        return WireClient.tls(ports.tls, ca.caPem);
      case 'ws':
        return (await WireClient.ws(`ws://127.0.0.1:${ports.ws}/electrum`)).client;
      case 'wss':
        return (await WireClient.ws(`wss://localhost:${ports.wss}/`, { ca: ca.caPem })).client;
    }
  };

  it('the same conversation gives the same answers on all four', async () => {
    const doors = ['tcp', 'tls', 'ws', 'wss'] as const;
    const clients = await Promise.all(doors.map(open));
    const tip = sim.tipHeight();
    const conversation: [string, unknown[]][] = [
      ['server.version', ['frontends-test', ['1.4', '1.6']]],
      ['server.banner', []],
      ['server.features', []],
      ['server.ping', []],
      ['blockchain.headers.subscribe', []],
      ['blockchain.block.header', [5]],
      ['blockchain.block.header', [3, tip]],
      ['blockchain.block.headers', [0, 30]],
      ['blockchain.estimatefee', [2]],
      ['blockchain.scripthash.get_balance', [paid.scripthash]],
      ['blockchain.scripthash.get_history', [paid.scripthash]],
      ['blockchain.scripthash.listunspent', [paid.scripthash]],
      ['blockchain.scripthash.subscribe', [watched.scripthash]],
      ['blockchain.transaction.get', [txid]],
      ['blockchain.transaction.get_merkle', [txid, txHeight]],
      ['blockchain.transaction.get', ['ee'.repeat(32)]],
      ['blockchain.block.header', ['five']],
      ['no.such.method', []],
    ];
    const answers: Outcome[][] = [];
    for (const c of clients) {
      const mine: Outcome[] = [];
      for (const [method, params] of conversation) mine.push(await c.call(method, params));
      mine.push(...(await c.batch([['server.ping', []], ['blockchain.block.header', [1]], ['no.such.method', []]])));
      answers.push(mine);
    }
    for (let i = 1; i < doors.length; i++) assert.deepEqual(answers[i], answers[0], `${doors[i]} answers as tcp does`);

    // ... and they are the chain's answers, not four copies of the same mistake.
    const tcp = answers[0]!;
    assert.deepEqual(tcp[0], { result: [(tcp[0] as { result: string[] }).result[0], '1.6'] });
    assert.deepEqual(tcp[4], { result: { height: tip, hex: sim.headerHex(tip) } });
    assert.deepEqual(tcp[5], { result: sim.headerHex(5) });
    assert.deepEqual((tcp[7] as { result: { headers: string[] } }).result.headers, Array.from({ length: 30 }, (_, h) => sim.headerHex(h)));
    assert.deepEqual(tcp[12], { result: null }, 'an address with no history has status null');
    assert.equal((tcp[13] as { result: string }).result, sim.rawTransaction(txid));
    assert.equal((tcp[16] as { error: { code: number } }).error.code, 1, 'a bad argument value is error 1, as ElectrumX answers');
    assert.equal((tcp[17] as { error: { code: number } }).error.code, -32601);
    assert.equal((tcp[19] as { result: string }).result, sim.headerHex(1));

    // A notification reaches every door, with the same status.
    sim.pay(watched.address, 50_000);
    const statuses = await Promise.all(clients.map((c) => c.notification('blockchain.scripthash.subscribe')));
    for (const s of statuses) assert.deepEqual(s, [watched.scripthash, sim.status(watched.scripthash)]);
    assert.notEqual(sim.status(watched.scripthash), null);

    // Raw sockets get one JSON value per line; WebSocket one per text frame, without a newline.
    for (const [i, c] of clients.entries()) {
      for (const text of c.raw) {
        assert.doesNotThrow(() => JSON.parse(text), `${doors[i]}: every message is one JSON value`);
        assert.ok(!text.endsWith('\n'), `${doors[i]}: no trailing newline inside a message`);
      }
    }
    assert.equal(clients[1]!.peerFingerprint, leaf1.fingerprint, 'tls serves the configured certificate');
    assert.equal(clients[3]!.peerFingerprint, leaf1.fingerprint, 'wss serves the configured certificate');
    for (const c of clients) c.close();
  });

  it('a TLS client that does not trust the certificate fails the handshake; plain bytes on the TLS port get nothing', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: ports.tls, servername: 'localhost' });
    const err = await new Promise<Error>((resolve) => socket.once('error', resolve));
    assert.match(err.message, /self.signed|unable to (get|verify)|certificate/i);
    const plain = await RpcClient.connect(ports.tls);
    plain.sendRaw('{"jsonrpc":"2.0","id":1,"method":"server.ping","params":[]}\n');
    await plain.closed;
    assert.equal(plain.received.length, 0, 'no JSON-RPC answer to a client that skipped TLS');
  });

  describe('WebSocket', () => {
    it('a binary frame closes the connection with 1003', async () => {
      const { client, ws } = await WireClient.ws(`ws://127.0.0.1:${ports.ws}/electrum`);
      assert.deepEqual(await client.call('server.ping'), { result: null });
      ws.send(Buffer.from('{"jsonrpc":"2.0","id":9,"method":"server.ping","params":[]}'), { binary: true });
      const { code } = await client.closed;
      assert.equal(code, 1003);
      assert.ok(!client.raw.some((t) => t.includes('"id":9')), 'the binary frame was not answered');
    });

    it('tolerates a trailing newline, and several newline-separated messages in one frame', async () => {
      const { client } = await WireClient.ws(`ws://127.0.0.1:${ports.ws}/electrum`);
      const ping = (id: number): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'server.ping', params: [] });
      const [one] = await client.sendAndWait(`${ping(1)}\n`, [1]);
      assert.deepEqual(one, { jsonrpc: '2.0', id: 1, result: null });
      const crlf = await client.sendAndWait(`${ping(2)}\r\n`, [2]);
      assert.equal(crlf[0]!.id, 2);
      const several = await client.sendAndWait(`${ping(3)}\n${JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'blockchain.block.header', params: [2] })}\n\n${ping(5)}`, [3, 4, 5]);
      assert.deepEqual(
        several.map((r) => r.id),
        [3, 4, 5],
      );
      assert.equal(several[1]!.result, sim.headerHex(2));
      // Each answer came in its own frame.
      const frames = client.raw.filter((t) => /"id":[345],/.test(t));
      assert.equal(frames.length, 3);
      // A batch is one frame in, one frame out.
      const frameCount = client.raw.length;
      const batch = await client.sendAndWait(JSON.stringify([JSON.parse(ping(6)), JSON.parse(ping(7))]), [6]);
      assert.ok(Array.isArray(batch[0]));
      assert.equal(client.raw.length, frameCount + 1);
      client.close();
    });

    it('invalid UTF-8 in a text frame closes with 1007 (RFC 6455)', async () => {
      const { client, ws } = await WireClient.ws(`ws://127.0.0.1:${ports.ws}/electrum`);
      // ws checks UTF-8 on send too; write the frame ourselves: FIN+text, masked, 4 bytes.
      const payload = Buffer.from([0x22, 0xff, 0xfe, 0x22]);
      const mask = Buffer.from([1, 2, 3, 4]);
      const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      const sock = (ws as unknown as { _socket: net.Socket })._socket;
      sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
      const { code } = await client.closed;
      assert.equal(code, 1007);
    });

    it('answers only on its path; a plain HTTP request gets 426', async () => {
      await assert.rejects(WireClient.ws(`ws://127.0.0.1:${ports.ws}/other`), /404/);
      const res = await fetch(`http://127.0.0.1:${ports.ws}/electrum`);
      assert.equal(res.status, 426);
      await res.text();
    });

    it('the Origin allow-list admits listed origins and refuses others and none with 403', async () => {
      const good = await WireClient.ws(`ws://127.0.0.1:${ports.wsOrigins}/`, { origin: 'https://other.example' });
      assert.deepEqual(await good.client.call('server.ping'), { result: null });
      good.client.close();
      await assert.rejects(WireClient.ws(`ws://127.0.0.1:${ports.wsOrigins}/`, { origin: 'https://evil.example' }), /403/);
      await assert.rejects(WireClient.ws(`ws://127.0.0.1:${ports.wsOrigins}/`), /403/);
      // Without the option any origin is fine.
      const any = await WireClient.ws(`ws://127.0.0.1:${ports.ws}/electrum`, { origin: 'https://evil.example' });
      assert.deepEqual(await any.client.call('server.ping'), { result: null });
      any.client.close();
    });
  });

  describe('TLS certificate reload', () => {
    const replaceServed = (leaf: Leaf): void => {
      copyFileSync(leaf.keyFile, keyFile);
      copyFileSync(leaf.certFile, certFile);
    };
    const stillServing = async (c: WireClient, what: string): Promise<void> => {
      assert.deepEqual(await c.call('blockchain.block.header', [1]), { result: sim.headerHex(1) }, `${what} still answers`);
    };

    it('new handshakes get the new certificate; open sessions keep going on theirs', async () => {
      const oldTls = await open('tls');
      const oldWss = await open('wss');
      let dropped = 0;
      void oldTls.closed.then(() => dropped++);
      void oldWss.closed.then(() => dropped++);
      await stillServing(oldTls, 'the tls session');
      const current = oldTls.peerFingerprint;

      // 1. gateway.reloadTls() (what SIGHUP calls) picks up renewed files at once.
      const leaf2 = ca.leaf('leaf2');
      assert.notEqual(leaf2.fingerprint, current);
      replaceServed(leaf2);
      gw.gateway.reloadTls();
      const afterReload = await open('tls');
      assert.equal(afterReload.peerFingerprint, leaf2.fingerprint, 'a new tls handshake uses the reloaded certificate');
      const afterReloadWss = await open('wss');
      assert.equal(afterReloadWss.peerFingerprint, leaf2.fingerprint, 'a new wss handshake uses the reloaded certificate');
      await stillServing(afterReload, 'the new tls session');
      await stillServing(oldTls, 'the tls session opened before the reload');
      await stillServing(oldWss, 'the wss session opened before the reload');

      // 2. Without being told: the listener notices the files changed.
      const leaf3 = ca.leaf('leaf3');
      replaceServed(leaf3);
      await RpcClient.until(
        async () => {
          const probe = await open('tls');
          probe.close();
          return probe.peerFingerprint === leaf3.fingerprint;
        },
        'the listener to reload the changed files by itself',
        15_000,
        100,
      );

      // 3. A broken renewal is refused and the last good certificate stays in use.
      writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
      gw.gateway.reloadTls();
      const afterBad = await open('tls');
      assert.equal(afterBad.peerFingerprint, leaf3.fingerprint, 'a bad certificate file leaves the previous one in use');
      await stillServing(afterBad, 'a session after the failed reload');
      replaceServed(leaf3);

      await stillServing(oldTls, 'the tls session opened before every reload');
      await stillServing(oldWss, 'the wss session opened before every reload');
      assert.equal(dropped, 0, 'no open session was dropped by the reloads');
      for (const c of [oldTls, oldWss, afterReload, afterReloadWss, afterBad]) c.close();
    });
  });
});
