// SPDX-License-Identifier: MIT
/**
 * Peer discovery end to end, real sockets, time from an injected clock:
 *
 * A network of simulators, each on its own loopback address, advertised by
 * the gateway's upstream: two good servers, one that is good and then dies,
 * one of another network, one lagging 20 blocks, one on a 10-block fork, one
 * whose features do not list the host it is reached at, and an onion server
 * reached through a SOCKS5 proxy. The gateway reports exactly the good ones,
 * forgets the dead one after its tenth failure and the never-good ones after
 * their third, restores the table from the peers file after a restart, sets a
 * truncated file aside, and handles server.add_peer as ElectrumX does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatewayConfig } from '../../src/config/types.js';
import { FORGET_ANY_AFTER, FORGET_NEVER_GOOD_AFTER, RECHECK_GOOD_MS } from '../../src/peers/schedule.js';
import { nextTryAt } from '../../src/peers/schedule.js';
import type { Clock } from '../../src/peers/manager.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { startRecordingSocks, type RecordingSocks } from '../helpers/socks.js';
import { freePort } from '../helpers/ports.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const runCli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

const MAINNET_GENESIS = '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f';
const ONION = 'peerxyzabcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqr.onion';

class ManualClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

/** Waits for something that happens on its own (the chain tracker's first tip); no timing is asserted. */
async function until(what: string, cond: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const entry = (sim: Simulator, host = sim.host) => [sim.host, host, ['v1.6', `t${sim.port}`]];

describe('peer discovery (a network of simulators)', () => {
  const sims: Simulator[] = [];
  let upstream: Simulator, good1: Simulator, good2: Simulator, stale: Simulator, wrong: Simulator;
  let lagging: Simulator, forked: Simulator, noHost: Simulator, onion: Simulator, late: Simulator;
  let socks: RecordingSocks;
  let dir: string;
  let peersFile: string;
  /** A proxy.yaml for the CLI: the peers file, and an admin address nobody listens on. */
  let configFile: string;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  let gw: TestGateway;

  const start = async (s: Promise<Simulator>) => {
    const sim = await s;
    sims.push(sim);
    return sim;
  };

  const gatewayWith = (
    file: string,
    extra: Partial<NonNullable<GatewayConfig['discovery']>> = {},
    cost?: Partial<GatewayConfig['cost']>,
    server?: Partial<GatewayConfig['server']>,
  ) =>
    startTestGateway({
      upstreams: [{ host: upstream.host, port: upstream.port, name: 'upstream' }],
      captureLogs: 'info',
      admin: true,
      startOptions: { peersClock: clock },
      tweak: (c) => ({
        ...c,
        ...(cost ? { cost: { ...c.cost, ...cost } } : {}),
        ...(server ? { server: { ...c.server, ...server } } : {}),
        discovery: {
          ...c.discovery!,
          enabled: true,
          allowPrivate: true,
          peersFile: file,
          torProxy: socks.url(5),
          verifyTimeoutMs: 5000,
          ...extra,
        },
      }),
    });

  const ready = async (g: TestGateway) => {
    await until('the chain tracker tip', () => g.gateway.tracker.tip?.height === 120);
    return g.gateway.peers!;
  };

  /** Verifies until no candidate is left untried (new ones come from the lists of those verified). */
  const converge = async (g: TestGateway) => {
    const peers = await ready(g);
    for (let i = 0; i < 4 && peers.table().some((p) => p.state === 'new'); i++) await peers.runDue();
  };

  const reported = async (g: TestGateway): Promise<unknown[][]> => {
    const c = await RpcClient.connect(g.port);
    try {
      return (await c.request('server.peers.subscribe')) as unknown[][];
    } finally {
      await c.close();
    }
  };
  const hosts = (list: unknown[][]) => list.map((e) => e[1] as string).sort();
  const row = (g: TestGateway, host: string) => g.gateway.peers!.table().find((p) => p.host === host);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eg-peers-'));
    peersFile = join(dir, 'peers.json');
    upstream = await start(Simulator.start({ host: '127.0.0.10', initialBlocks: 120 }));
    good1 = await start(Simulator.start({ host: '127.0.0.11', initialBlocks: 120 }));
    good2 = await start(Simulator.start({ host: '127.0.0.12', initialBlocks: 121, serverVersion: 'Fulcrum 2.1.0' }));
    stale = await start(Simulator.start({ host: '127.0.0.13', initialBlocks: 120 }));
    wrong = await start(Simulator.start({ host: '127.0.0.14', initialBlocks: 120, genesisHash: MAINNET_GENESIS }));
    lagging = await start(Simulator.start({ host: '127.0.0.15', initialBlocks: 100 }));
    forked = await start(Simulator.start({ host: '127.0.0.16', initialBlocks: 120 }));
    forked.reorg(10); // tip 121: close enough, but block 111 is not ours
    noHost = await start(Simulator.start({ host: '127.0.0.17', initialBlocks: 120, features: (b) => ({ ...b, hosts: { 'elsewhere.example.org': { tcp_port: 50001 } } }) }));
    onion = await start(Simulator.start({ host: '127.0.0.18', initialBlocks: 120, features: (b) => ({ ...b, hosts: { [ONION]: { tcp_port: 50071 } } }) }));
    late = await start(Simulator.start({ host: '127.0.0.1', initialBlocks: 120 }));
    socks = await startRecordingSocks((req) => (req.host === ONION && req.port === 50071 ? { host: onion.host, port: onion.port } : null));
    upstream.setPeers([good1, good2, stale, wrong, lagging, forked, noHost].map((s) => entry(s)).concat([[ONION, ONION, ['v1.4', 't50071']]]));
    gw = await gatewayWith(peersFile);
    configFile = join(dir, 'proxy.yaml');
    writeFileSync(
      configFile,
      `network: regtest\nupstreams: [tcp://${upstream.host}:${upstream.port}]\nadmin: 127.0.0.1:${await freePort()}\ndiscovery:\n  enabled: true\n  peers_file: ${peersFile}\n`,
    );
  });

  after(async () => {
    await gw?.close();
    await Promise.all(sims.map((s) => s.stop()));
    await socks?.stop();
  });

  it('reports exactly the good peers once verified, in the protocol format', async () => {
    assert.deepEqual(hosts(await reported(gw)), [], 'nothing is reported before it is verified');
    await converge(gw);
    const list = await reported(gw);
    assert.deepEqual(hosts(list), [ONION, '127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13'].sort());
    assert.deepEqual(
      list.find((e) => e[1] === '127.0.0.11'),
      ['127.0.0.11', '127.0.0.11', ['v1.6', `t${good1.port}`]],
    );
    assert.deepEqual(list.find((e) => e[1] === ONION), [ONION, ONION, ['v1.6', 't50071']], 'an onion peer has no address of its own');
    assert.ok(socks.requests.some((r) => r.host === ONION && r.addressType === 'domain'), 'the onion name went to the proxy unresolved');
    const metrics = await gw.metrics();
    assert.match(metrics, /electrum_gateway_peers\{state="good"\} 5/);
    assert.match(metrics, /electrum_gateway_peers\{state="failing"\} 3/);
    assert.equal(good1.addPeerCalls.length, 0, 'without public server.hosts the gateway does not announce itself');
    const table = JSON.parse((await gw.adminGet('/peers')).body) as { counts: Record<string, number>; peers: { host: string; state: string }[] };
    assert.deepEqual(table.counts, { new: 0, good: 5, stale: 0, failing: 3 });
    assert.equal(table.peers[0]?.state, 'good', 'good peers first');
    const cli = await runCli(['peers', '--admin', `127.0.0.1:${gw.gateway.admin!.port}`, '--config', configFile]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^HOST +STATE +PORTS +SERVER +LAST GOOD +FAILURES +SOURCE$/m);
    assert.match(cli.stdout, new RegExp(`^127\\.0\\.0\\.11 +good +tcp ${good1.port} +ElectrumX 1\\.18\\.0 +\\d+ (min|h) ago +0 +peer$`, 'm'));
    assert.match(cli.stdout, /8 peers, from the instance at 127\.0\.0\.1:\d+/);
  });

  it('refuses the others for the right reasons, and forgets the wrong network at once', async () => {
    assert.equal(row(gw, '127.0.0.14'), undefined, 'the wrong-network peer is forgotten');
    const logs = gw.logs.filter((l) => l.msg === 'peer forgotten' && l.peer === '127.0.0.14');
    assert.match(String(logs[0]?.reason), /^wrong network/);
    for (const [host, why] of [
      ['127.0.0.15', /^lagging/],
      ['127.0.0.16', /^fork/],
      ['127.0.0.17', /^hosts/],
    ] as const) {
      assert.equal(row(gw, host)?.state, 'failing', host);
      const refusal = gw.logs.find((l) => l.msg === 'peer refused' && l.peer === host);
      assert.match(String(refusal?.reason), why, host);
    }
    // Gossiped again, a forgotten host is not taken back (for a day).
    assert.equal(gw.gateway.peers!.notePeerList([entry(wrong)], 10), 0);
  });

  it('forgets the stale peer on schedule: stale after its failed re-check, gone after its tenth failure', async () => {
    const peers = gw.gateway.peers!;
    await stale.stop();
    clock.t += RECHECK_GOOD_MS;
    await peers.runDue();
    assert.equal(row(gw, '127.0.0.13')?.state, 'stale');
    assert.ok(!hosts(await reported(gw)).includes('127.0.0.13'), 'a stale peer is not reported');
    let failures = 1;
    while (row(gw, '127.0.0.13')) {
      const p = row(gw, '127.0.0.13')!;
      assert.equal(p.tryCount, failures);
      clock.t = nextTryAt(p);
      await peers.runDue();
      failures++;
      assert.ok(failures <= FORGET_ANY_AFTER, 'forgotten by the tenth failure');
    }
    assert.equal(failures, FORGET_ANY_AFTER);
    // The never-good ones went after their third failure, long before. The upstream still
    // gossips them, so a day after being forgotten they come back as candidates: never good, never reported.
    for (const host of ['127.0.0.15', '127.0.0.16', '127.0.0.17']) {
      const gone = gw.logs.find((l) => l.msg === 'peer forgotten' && l.peer === host);
      assert.match(String(gone?.reason), new RegExp(`^${FORGET_NEVER_GOOD_AFTER} failures`), host);
      assert.notEqual(row(gw, host)?.state, 'good', host);
    }
    assert.deepEqual(hosts(await reported(gw)), [ONION, '127.0.0.10', '127.0.0.11', '127.0.0.12'].sort());
    assert.deepEqual(
      peers.table().filter((p) => p.state === 'good').map((p) => p.host).sort(),
      [ONION, '127.0.0.10', '127.0.0.11', '127.0.0.12'].sort(),
    );
  });

  it('restores the table from the peers file after a restart, reporting before any new verification', async () => {
    const before = gw.gateway.peers!.table().map((p) => [p.host, p.state, p.tryCount, p.lastGood]);
    await gw.close();
    // With no instance running, the CLI reads the file (states there by the real clock, not the test's).
    const offline = await runCli(['peers', '--config', configFile]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stdout, new RegExp(`${before.length} peers, from the peers file .*peers\\.json \\(no instance answered\\)`));
    const saved = JSON.parse(readFileSync(peersFile, 'utf8')) as { peers: { host: string }[] };
    assert.deepEqual(saved.peers.map((p) => p.host).sort(), before.map((b) => b[0]).sort(), 'saved at shutdown');
    gw = await gatewayWith(peersFile);
    assert.deepEqual(gw.gateway.peers!.table().map((p) => [p.host, p.state, p.tryCount, p.lastGood]), before);
    assert.deepEqual(hosts(await reported(gw)), [ONION, '127.0.0.10', '127.0.0.11', '127.0.0.12'].sort());
    assert.ok(gw.logs.some((l) => l.msg === 'peers restored' && l.peers === before.length));
  });

  it('sets a truncated peers file aside with a log line and starts', async () => {
    const bad = join(dir, 'truncated.json');
    const text = readFileSync(peersFile, 'utf8');
    writeFileSync(bad, text.slice(0, Math.floor(text.length / 2)));
    const g = await gatewayWith(bad);
    try {
      const line = g.logs.find((l) => l.msg === 'peers file is corrupt or truncated; set aside, starting without it');
      assert.ok(line, 'a warning names the file');
      assert.equal(line.file, bad);
      assert.ok(existsSync(String(line.setAside)), 'the bad file is kept aside for a look');
      assert.ok(readdirSync(dir).some((f) => f.startsWith('truncated.json.corrupt-')));
      const c = await RpcClient.connect(g.port);
      assert.ok(Array.isArray(await c.request('server.version', ['t', '1.4'])), 'the gateway serves');
      await c.close();
    } finally {
      await g.close();
    }
  });

  it('add_peer: a host resolving to the caller is verified before it is reported; one that does not is refused', async () => {
    const peers = await ready(gw);
    const features = (host: string, port: number) => ({ hosts: { [host]: { tcp_port: port } }, genesis_hash: upstream.genesisHash, protocol_min: '1.4', protocol_max: '1.6', server_version: 'x', pruning: null, hash_function: 'sha256' });
    const c1 = await RpcClient.connect(gw.port);
    assert.equal(await c1.request('server.add_peer', [features('127.0.0.1', late.port)]), true);
    await c1.close();
    assert.ok(!hosts(await reported(gw)).includes('127.0.0.1'), 'not reported before it is verified');
    assert.equal(row(gw, '127.0.0.1')?.source, 'add_peer');
    await peers.runDue();
    assert.ok(hosts(await reported(gw)).includes('127.0.0.1'), 'reported once verified');

    clock.t += 11 * 60_000; // past the ten-minute pause per domain, so the refusal below is for the address
    const c2 = await RpcClient.connect(gw.port);
    assert.equal(await c2.request('server.add_peer', [features('10.1.2.3', 50001)]), false);
    await c2.close();
    assert.equal(row(gw, '10.1.2.3'), undefined);
    const refusal = gw.logs.find((l) => l.msg === 'add_peer refused: the host does not resolve to the caller');
    assert.equal(refusal?.peer, '10.1.2.3');
  });

  it('announces itself with server.add_peer to verified peers that do not list it, and reports itself', async () => {
    const g = await gatewayWith(join(dir, 'announce.json'), {}, undefined, { hosts: { 'gw.example.org': { tcp_port: 50001, ssl_port: 50002 } } });
    try {
      const before = good1.addPeerCalls.length;
      await converge(g);
      const sent = good1.addPeerCalls.slice(before) as { hosts?: Record<string, unknown>; genesis_hash?: string }[];
      assert.equal(sent.length, 1, 'once, to a peer whose list lacks us');
      assert.deepEqual(sent[0]!.hosts, { 'gw.example.org': { tcp_port: 50001, ssl_port: 50002 } });
      assert.equal(sent[0]!.genesis_hash, upstream.genesisHash);
      assert.equal(lagging.addPeerCalls.length, 0, 'never to a peer that was refused');
      const list = await reported(g);
      assert.deepEqual(list[0], ['gw.example.org', 'gw.example.org', ['v1.6', 's50002', 't50001']], 'the gateway itself first');
    } finally {
      await g.close();
    }
  });

  it('serves the Tor banner (file over text) to a connection from the Tor proxy\'s address, the normal banner to others', async () => {
    const bannerFile = join(dir, 'tor-banner.txt');
    writeFileSync(bannerFile, 'From the file, over Tor: $SERVER_VERSION');
    const banner = async (g: TestGateway, localAddress: string) => {
      const c = await RpcClient.connect(g.port, '127.0.0.1', 10_000, localAddress);
      try {
        return String(await c.request('server.banner'));
      } finally {
        await c.close();
      }
    };
    // The proxy is named, not detected: nothing need listen there for connections to be told by it.
    const tor = `socks5://127.0.0.3:${await freePort('127.0.0.3')}`;
    const text = await gatewayWith(join(dir, 'banner.json'), { torProxy: tor, torBanner: 'Welcome over Tor to $SERVER_VERSION', torBannerFile: null });
    try {
      assert.match(await banner(text, '127.0.0.3'), /^Welcome over Tor to \d+\.\d+/);
      assert.doesNotMatch(await banner(text, '127.0.0.1'), /Tor/);
    } finally {
      await text.close();
    }
    const file = await gatewayWith(join(dir, 'banner.json'), { torProxy: tor, torBanner: 'the text', torBannerFile: bannerFile });
    try {
      assert.match(await banner(file, '127.0.0.3'), /^From the file, over Tor: \d+\.\d+/);
      assert.doesNotMatch(await banner(file, '127.0.0.4'), /Tor|the text/);
    } finally {
      await file.close();
    }
  });

  it('100 add_peer calls from one session cost it like any other abuse: -101 and disconnected', async () => {
    const g = await gatewayWith(join(dir, 'abuse.json'), {}, { hardLimit: 10_000, softLimit: 1000, maxDelayMs: 5, decayPerSecond: 0 });
    try {
      const c = await RpcClient.connect(g.port);
      const f = { hosts: { '10.9.9.9': { tcp_port: 50001 } }, genesis_hash: upstream.genesisHash };
      const answers = await Promise.allSettled(Array.from({ length: 100 }, () => c.request('server.add_peer', [f], { timeoutMs: 20_000 })));
      const refused = answers.filter((a) => a.status === 'rejected' && a.reason instanceof RpcCallError && a.reason.code === -101);
      assert.ok(refused.length >= 1, 'excessive resource usage');
      assert.ok(answers.filter((a) => a.status === 'fulfilled').every((a) => (a as PromiseFulfilledResult<unknown>).value === false));
      await c.closed;
      assert.ok(g.logs.some((l) => l.msg === 'excessive resource usage; disconnecting'));
      // Only the first call got as far as the address check; the rest met the per-session pause.
      assert.equal(g.logs.filter((l) => l.msg === 'add_peer refused: the host does not resolve to the caller').length, 1);
    } finally {
      await g.close();
    }
  });
});
