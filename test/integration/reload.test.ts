// SPDX-License-Identifier: MIT
/**
 * Reload (SIGHUP, POST /reload and `electrum-gateway ctl reload`) on a real
 * gateway process in front of real simulators, with wallet sessions open
 * throughout:
 *
 *  - the session subscribed before the reload is the same session after it
 *    (same id, never closed) and receives every notification after it;
 *  - upstreams added and removed: a removed upstream's in-flight requests are
 *    answered, its subscriptions move before its connections close, and they
 *    keep notifying from the upstream that took them, also when the removed
 *    one was the only one and when an upstream keeps its name but changes URL;
 *  - new limits, banner and server.hosts apply to new sessions;
 *  - renewed TLS certificates are served to new handshakes;
 *  - a bad file is refused with its problems and the old configuration keeps
 *    serving; keys that need a restart are reported;
 *  - under --workers 2 every worker reloads and the answer reports each.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { adminCall } from '../helpers/admin-http.js';
import { GATEWAY_CLI, GatewayProcess, REPO_ROOT } from '../helpers/gateway-process.js';
import { onLines } from '../helpers/lines.js';
import { freePort } from '../helpers/ports.js';
import { connectNegotiated, RpcClient } from '../helpers/rpc-client.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { testP2wpkh } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';

const dir = mkdtempSync(join(tmpdir(), 'eg-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Setup {
  readonly upstreams: readonly { name: string; url: string }[];
  readonly banner: string;
  /** server.hosts as YAML lines under it. */
  readonly hosts?: string;
  /** More top-level YAML. */
  readonly extra?: string;
}

function yaml(s: Setup): string {
  return [
    'network: regtest',
    `server:\n  banner: ${JSON.stringify(s.banner)}`,
    ...(s.hosts !== undefined ? [`  hosts:\n${s.hosts}`] : []),
    'upstreams:',
    ...s.upstreams.map((u) => `  - name: ${u.name}\n    url: ${u.url}`),
    s.extra ?? '',
  ].join('\n');
}

async function start(file: string, setup: Setup, extraArgs: string[] = []): Promise<{ gw: GatewayProcess; admin: number }> {
  writeFileSync(file, `${yaml(setup)}\n`);
  const admin = await freePort();
  // No --upstream flag: the file's upstreams are what a reload re-reads.
  const gw = await GatewayProcess.start({ upstream: [], admin: `127.0.0.1:${admin}`, extraArgs: ['--config', file, ...extraArgs] });
  await RpcClient.until(async () => (await adminCall(admin, 'GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 'the gateway to be ready');
  return { gw, admin };
}

type UpstreamRow = { name: string; url: string; subscriptions: number; state: string; cordoned: boolean; workers?: Record<string, string> };
const upstreams = async (admin: number): Promise<UpstreamRow[]> => (await adminCall(admin, 'GET', '/upstreams')).json.upstreams as UpstreamRow[];
type SessionRow = { id: string; client: string; worker?: number };
const sessions = async (admin: number): Promise<SessionRow[]> => (await adminCall(admin, 'GET', '/sessions')).json.sessions as SessionRow[];
/** The admin id of the session whose client name is `client`. */
const sessionId = async (admin: number, client: string): Promise<string | undefined> => (await sessions(admin)).find((s) => s.client === client)?.id;

async function twoSims(seed: string): Promise<[Simulator, Simulator]> {
  // The same seed: both follow the same chain, so either can serve the wallet.
  const [a, b] = await Promise.all([Simulator.start({ seed, initialBlocks: 110 }), Simulator.start({ seed, initialBlocks: 110 })]);
  return [a, b];
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The built CLI's `ctl`, in its own process. */
function runCtl(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GATEWAY_CLI, 'ctl', ...args], { cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** A log record at or after index `since` matching `pred`. */
const logFrom = (gw: GatewayProcess, since: number, pred: (r: Record<string, unknown>) => boolean) => gw.waitForLog((r) => gw.logs.indexOf(r) >= since && pred(r));
const isReloaded = (r: Record<string, unknown>): boolean => typeof r['msg'] === 'string' && (r['msg'] as string).startsWith('configuration reloaded');

describe('reload', () => {
  it('SIGHUP under a live session: applies upstreams, limits, banner and server.hosts, reports what needs a restart, and drops no notification', async () => {
    const seed = 'reload-sighup';
    const sims = await twoSims(seed);
    const file = join(dir, 'sighup.yaml');
    const a = { name: 'sim-a', url: sims[0].url };
    const b = { name: 'sim-b', url: sims[1].url };
    const { gw, admin } = await start(file, { upstreams: [a], banner: 'before the reload' });
    const { client } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'wallet-before');
    const opened: RpcClient[] = [];
    try {
      const wallet = testP2wpkh(seed, 'w');
      await client.request('blockchain.headers.subscribe', []);
      await client.request('blockchain.scripthash.subscribe', [wallet.scripthash]);
      assert.equal(await client.request('server.banner', []), 'before the reload');
      assert.deepEqual(Object.keys(((await client.request('server.features', [])) as { hosts: object }).hosts).includes('electrum.example.com'), false);
      const id = await sessionId(admin, 'wallet-before');
      assert.ok(id !== undefined);

      writeFileSync(
        file,
        `${yaml({
          upstreams: [a, b],
          banner: 'after the reload',
          hosts: '    electrum.example.com:\n      tcp_port: 50001\n',
          extra: 'limits:\n  max_sessions: 3\ncache:\n  memory_bytes: 1048576\n',
        })}\n`,
      );
      const since = gw.logs.length;
      gw.signal('SIGHUP');
      const line = await logFrom(gw, since, isReloaded);
      assert.equal(line['msg'], 'configuration reloaded; some changes require a restart');
      assert.deepEqual([...(line['applied'] as string[])].sort(), ['limits.max_sessions', 'server.banner', 'server.hosts', 'upstreams']);
      assert.deepEqual(line['requiresRestart'], ['cache.memory_bytes']);
      assert.deepEqual(line['upstreams'], { added: ['sim-b'], removed: [] });

      assert.equal(await client.request('server.banner', []), 'after the reload', 'the same session sees the new banner');
      await RpcClient.until(async () => (await upstreams(admin)).filter((u) => u.state === 'healthy').length === 2, 'the added upstream to be healthy');

      // New sessions: the new banner and hosts, and the new session cap (3, the first session included).
      for (let i = 2; i <= 3; i++) {
        const { client: c } = await connectNegotiated(gw.port, ['1.4', '1.6'], `wallet-new-${i}`);
        opened.push(c);
        assert.equal(await c.request('server.banner', []), 'after the reload');
        const features = (await c.request('server.features', [])) as { hosts: Record<string, { tcp_port?: number }> };
        assert.equal(features.hosts['electrum.example.com']?.tcp_port, 50001);
      }
      const refusedSince = gw.logs.length;
      await assert.rejects(connectNegotiated(gw.port, ['1.4', '1.6'], 'wallet-over-the-cap'), /connection closed/);
      await logFrom(gw, refusedSince, (r) => r['msg'] === 'refused: too many sessions');

      // Every block after the reload is announced, and the status change too.
      const after = client.notifications.length;
      for (let i = 0; i < 3; i++) {
        for (const s of sims) s.mine(1);
        const height = sims[0].tipHeight();
        await client.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === height, { since: after });
      }
      for (const s of sims) s.pay(wallet.address, 25_000);
      await client.waitForNotification('blockchain.scripthash.subscribe', (p) => p[0] === wallet.scripthash && p[1] === sims[0].status(wallet.scripthash), { since: after });
      assert.equal(client.isClosed, false);
      assert.equal(await sessionId(admin, 'wallet-before'), id, 'the same session, never reconnected');
    } finally {
      for (const c of opened) await c.close();
      await client.close();
      await gw.stop();
      await Promise.all(sims.map((s) => s.stop()));
    }
  });

  it('POST /reload removing an upstream: its in-flight requests are answered, its subscriptions move before it closes and keep notifying', async () => {
    const seed = 'reload-remove';
    const sims = await twoSims(seed);
    const file = join(dir, 'remove.yaml');
    const defs = [
      { name: 'sim-a', url: sims[0].url },
      { name: 'sim-b', url: sims[1].url },
    ];
    const { gw, admin } = await start(file, { upstreams: defs, banner: 'b' });
    const { client } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'wallet');
    try {
      await client.request('blockchain.headers.subscribe', []);
      const wallets = Array.from({ length: 8 }, (_, i) => testP2wpkh(seed, `w${i}`));
      for (const w of wallets) await client.request('blockchain.scripthash.subscribe', [w.scripthash]);
      const id = await sessionId(admin, 'wallet');
      const held = (await upstreams(admin)).find((u) => u.subscriptions > 0)!;
      const gone = held.name === 'sim-a' ? sims[0] : sims[1];
      const kept = gone === sims[0] ? sims[1] : sims[0];
      const keptDef = defs.find((d) => d.name !== held.name)!;
      const heldThere = held.subscriptions;

      // Requests in flight on the upstream being removed: slow there, so the reload catches them.
      gone.setLatency(700);
      const balance = 'blockchain.scripthash.get_balance';
      const before = gone.stats.requests[balance] ?? 0;
      const inFlight = Array.from({ length: 12 }, (_, i) => client.request(balance, [testP2wpkh(seed, `in-flight-${i}`).scripthash]));
      await RpcClient.until(() => (gone.stats.requests[balance] ?? 0) > before, 'a request to reach the upstream being removed');

      writeFileSync(file, `${yaml({ upstreams: [keptDef], banner: 'b' })}\n`);
      const since = gw.logs.length;
      const answer = await adminCall(admin, 'POST', '/reload');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json.ok, true);
      assert.deepEqual(answer.json.upstreams, { added: [], removed: [held.name] });
      assert.deepEqual(answer.json.applied, ['upstreams']);

      for (const r of await Promise.all(inFlight)) assert.deepEqual(r, { confirmed: 0, unconfirmed: 0 }, 'answered, not failed');
      const removed = await logFrom(gw, since, (r) => r['msg'] === 'upstream removed' && r['upstream'] === held.name);
      assert.equal(removed['unanswered'], 0, 'every request in flight there was answered before it closed');
      const moved = await logFrom(gw, since, (r) => r['msg'] === 'moving subscriptions to other upstreams' && r['upstream'] === held.name);
      assert.equal(moved['scripthashes'], heldThere);
      assert.ok(gw.logs.indexOf(moved) < gw.logs.indexOf(removed), 'the subscriptions moved before the upstream was closed');
      await RpcClient.until(async () => {
        const us = await upstreams(admin);
        return us.length === 1 && us[0]!.name === keptDef.name && us[0]!.subscriptions === 8;
      }, 'the removed upstream to be gone and its subscriptions moved', 20_000);
      await RpcClient.until(() => gone.stats.connections === 0, "the removed upstream's connections to close");
      gone.setLatency(0);

      // Only the remaining upstream is connected now: what reaches the wallet comes from it.
      const notified = client.notifications.length;
      for (const w of wallets) for (const s of sims) s.pay(w.address, 10_000);
      for (const w of wallets) {
        await client.waitForNotification('blockchain.scripthash.subscribe', (p) => p[0] === w.scripthash && p[1] === kept.status(w.scripthash), { since: notified });
      }
      for (const s of sims) s.mine(1);
      await client.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === kept.tipHeight(), { since: notified });
      assert.equal(await sessionId(admin, 'wallet'), id, 'the same session, never reconnected');
    } finally {
      await client.close();
      await gw.stop();
      await Promise.all(sims.map((s) => s.stop()));
    }
  });

  it('replacing the only upstream, then changing its URL under the same name: the subscribed session follows each new upstream', async () => {
    const seed = 'reload-replace';
    const sims = await twoSims(seed);
    const file = join(dir, 'replace.yaml');
    const { gw, admin } = await start(file, { upstreams: [{ name: 'first', url: sims[0].url }], banner: 'b' });
    const { client } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'wallet');
    const wallets = Array.from({ length: 3 }, (_, i) => testP2wpkh(seed, `w${i}`));
    /** Both simulators get the same blocks and payments, so they stay one chain; only the connected one can be the source. */
    const everywhere = (act: (s: Simulator) => void): void => sims.forEach(act);
    const notifiedFrom = async (source: Simulator, what: string): Promise<void> => {
      const since = client.notifications.length;
      everywhere((s) => wallets.forEach((w) => s.pay(w.address, 5_000)));
      for (const w of wallets) {
        await client.waitForNotification('blockchain.scripthash.subscribe', (p) => p[0] === w.scripthash && p[1] === source.status(w.scripthash), { since });
      }
      everywhere((s) => s.mine(1));
      await client.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === source.tipHeight(), { since });
      assert.equal(client.isClosed, false, what);
    };
    try {
      await client.request('blockchain.headers.subscribe', []);
      for (const w of wallets) await client.request('blockchain.scripthash.subscribe', [w.scripthash]);
      const id = await sessionId(admin, 'wallet');

      // 1. A different upstream under a new name: "first" is drained once "second" can take its subscriptions.
      writeFileSync(file, `${yaml({ upstreams: [{ name: 'second', url: sims[1].url }], banner: 'b' })}\n`);
      const one = await adminCall(admin, 'POST', '/reload');
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(one.json.upstreams, { added: ['second'], removed: ['first'] });
      await RpcClient.until(async () => {
        const us = await upstreams(admin);
        return us.length === 1 && us[0]!.name === 'second' && us[0]!.state === 'healthy' && us[0]!.subscriptions === wallets.length;
      }, 'the subscriptions to be on "second" alone', 20_000);
      await RpcClient.until(() => sims[0].stats.connections === 0, 'the first upstream to be closed');
      await notifiedFrom(sims[1], 'still the same session after the first replacement');

      // 2. The same name, another URL: drained, then added back with the new URL.
      writeFileSync(file, `${yaml({ upstreams: [{ name: 'second', url: sims[0].url }], banner: 'b' })}\n`);
      const two = await runCtl(['reload', '--admin', `127.0.0.1:${admin}`]);
      assert.equal(two.code, 0, two.stderr);
      assert.match(two.stdout, /^upstreams added: +second$/m);
      assert.match(two.stdout, /^upstreams removed \(draining\): second$/m);
      await RpcClient.until(async () => {
        const us = await upstreams(admin);
        return us.length === 1 && us[0]!.url === sims[0].url && us[0]!.state === 'healthy' && us[0]!.subscriptions === wallets.length;
      }, '"second" to be back on the new URL with the subscriptions', 20_000);
      await RpcClient.until(() => sims[1].stats.connections === 0, 'the old URL to be closed');
      await notifiedFrom(sims[0], 'still the same session after the URL change');
      assert.equal(await sessionId(admin, 'wallet'), id, 'the same session, never reconnected');
    } finally {
      await client.close();
      await gw.stop();
      await Promise.all(sims.map((s) => s.stop()));
    }
  });

  it('a bad file is refused with its problems (POST /reload 400, ctl reload exits 1, SIGHUP logged) and the running configuration keeps serving; restart-only keys are reported', async () => {
    const sim = await Simulator.start({ seed: 'reload-bad', initialBlocks: 105 });
    const file = join(dir, 'bad.yaml');
    const good = { upstreams: [{ name: 'sim', url: sim.url }], banner: 'still the old one' };
    const { gw, admin } = await start(file, good);
    const { client } = await connectNegotiated(gw.port);
    try {
      await client.request('blockchain.headers.subscribe', []);
      writeFileSync(file, 'network: regtest\nserver:\n  banner: new\nupstreams:\n  - tcp://no-port-here\nlimits:\n  max_sesions: 5\n');
      const answer = await adminCall(admin, 'POST', '/reload');
      assert.equal(answer.status, 400);
      assert.equal(answer.json.ok, false);
      assert.match(answer.json.error, /configuration refused; the running one is kept/);
      const errors = answer.json.errors as string[];
      assert.ok(errors.some((e) => e.startsWith(`${file}:5:`) && /missing port/.test(e)), errors.join('\n'));
      assert.ok(errors.some((e) => /limits\.max_sesions: unknown key "max_sesions" \(did you mean "max_sessions"\?\)/.test(e)), errors.join('\n'));

      const ctl = await runCtl(['reload', '--admin', `127.0.0.1:${admin}`]);
      assert.equal(ctl.code, 1);
      assert.match(ctl.stderr, /configuration refused; the running one is kept \(HTTP 400\)/);
      for (const e of errors) assert.ok(ctl.stderr.includes(e), `ctl prints ${e}\n${ctl.stderr}`);

      const since = gw.logs.length;
      gw.signal('SIGHUP');
      const refused = await logFrom(gw, since, (r) => r['msg'] === 'reload refused: the configuration has errors; the running one is kept');
      assert.deepEqual(refused['errors'], errors);

      assert.equal(await client.request('server.banner', []), 'still the old one');
      const us = await upstreams(admin);
      assert.deepEqual(us.map((u) => [u.name, u.state]), [['sim', 'healthy']]);
      const s0 = client.notifications.length;
      sim.mine(1);
      await client.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === sim.tipHeight(), { since: s0 });

      // A good file whose other change needs a restart: the live part applies, the rest is named and keeps its value.
      writeFileSync(file, `${yaml({ ...good, banner: 'fixed', extra: 'pool:\n  max_lag_blocks: 9\n' })}\n`);
      const fixed = await runCtl(['reload', '--admin', `127.0.0.1:${admin}`]);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.match(fixed.stdout, /^reloaded$/m);
      assert.match(fixed.stdout, /^applied: +server\.banner$/m);
      assert.match(fixed.stdout, /^requires restart: pool\.max_lag_blocks$/m);
      assert.equal(await client.request('server.banner', []), 'fixed');
      // Still pending on the next reload: the running value did not change.
      const again = await adminCall(admin, 'POST', '/reload');
      assert.deepEqual([again.json.applied, again.json.requiresRestart], [[], ['pool.max_lag_blocks']]);
    } finally {
      await client.close();
      await gw.stop();
      await sim.stop();
    }
  });

  it('SIGHUP re-reads the TLS certificate: new handshakes get the renewed one, an open TLS session keeps going', async () => {
    const sim = await Simulator.start({ seed: 'reload-tls', initialBlocks: 105 });
    const first = selfSignedCertificate('first');
    const second = selfSignedCertificate('second');
    const served = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
    const serve = (c: typeof first): void => {
      copyFileSync(c.keyFile, served.key);
      copyFileSync(c.certFile, served.cert);
    };
    serve(first);
    const tlsPort = await freePort();
    const file = join(dir, 'tls.yaml');
    const { gw } = await start(file, { upstreams: [{ name: 'sim', url: sim.url }], banner: 'b' }, [
      '--listen',
      `tls://127.0.0.1:${tlsPort}?cert=${encodeURIComponent(served.cert)}&key=${encodeURIComponent(served.key)}`,
    ]);
    const open: tls.TLSSocket[] = [];
    /** A TLS wallet connection: its certificate's fingerprint and a line-by-line ping. */
    const connect = async (): Promise<{ fingerprint: string; ping(): Promise<unknown> }> => {
      const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
      open.push(socket);
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      const waiting: ((m: unknown) => void)[] = [];
      onLines(socket, (line) => waiting.shift()?.(JSON.parse(line)));
      let id = 0;
      return {
        fingerprint: socket.getPeerCertificate().fingerprint256,
        ping: () =>
          new Promise((resolve) => {
            waiting.push(resolve);
            socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'server.ping', params: [] })}\n`);
          }),
      };
    };
    try {
      const fingerprint = (c: typeof first): string => new X509Certificate(c.cert).fingerprint256;
      const before = await connect();
      assert.equal(before.fingerprint, fingerprint(first));
      assert.deepEqual(await before.ping(), { jsonrpc: '2.0', id: 1, result: null });

      serve(second);
      const since = gw.logs.length;
      gw.signal('SIGHUP');
      const line = await logFrom(gw, since, isReloaded);
      assert.deepEqual(line['errors'], [], 'the renewed files loaded');
      const renewed = await connect();
      assert.equal(renewed.fingerprint, fingerprint(second), 'a new handshake gets the renewed certificate');
      assert.deepEqual(await renewed.ping(), { jsonrpc: '2.0', id: 1, result: null });
      assert.deepEqual(await before.ping(), { jsonrpc: '2.0', id: 2, result: null }, 'the session opened before keeps going on its certificate');
    } finally {
      for (const s of open) s.destroy();
      await gw.stop();
      await sim.stop();
      first.remove();
      second.remove();
    }
  });

  it('with --workers 2, POST /reload and SIGHUP reach every worker; the answer reports each; sessions and upstreams cover both', async () => {
    const [sim, sim2] = await Promise.all([
      Simulator.start({ seed: 'reload-cluster', initialBlocks: 105 }),
      Simulator.start({ seed: 'reload-cluster', initialBlocks: 105 }),
    ]);
    const file = join(dir, 'cluster.yaml');
    const one = { name: 'sim', url: sim.url };
    const { gw, admin } = await start(file, { upstreams: [one], banner: 'one' }, ['--workers', '2']);
    await gw.waitForLog((r) => typeof r['msg'] === 'string' && (r['msg'] as string).startsWith('all 2 workers serving'), 20_000);
    const clients: RpcClient[] = [];
    try {
      for (let i = 0; i < 6; i++) clients.push((await connectNegotiated(gw.port, ['1.4', '1.6'], `cluster-${i}`)).client);
      const ours = (await sessions(admin)).filter((s) => s.client.startsWith('cluster-'));
      assert.equal(ours.length, 6);
      assert.deepEqual(new Set(ours.map((s) => s.worker)), new Set([1, 2]), 'the primary spreads connections over both workers');
      for (const s of ours) assert.match(s.id, new RegExp(`^${s.worker}-\\d+$`));
      const row = (await upstreams(admin))[0]!;
      assert.deepEqual(Object.keys(row.workers ?? {}).sort(), ['1', '2']);

      // A disconnect reaches the worker its id names.
      const onTwo = ours.find((s) => s.worker === 2)!;
      assert.equal((await adminCall(admin, 'POST', `/sessions/${onTwo.id}/disconnect`)).status, 200);
      await clients[Number(onTwo.client.split('-')[1])]!.closed;
      const live = clients.filter((c) => !c.isClosed);
      assert.ok(live.length === 5);

      // POST /reload: a new banner and a new upstream, in every worker, each reporting.
      writeFileSync(file, `${yaml({ upstreams: [one, { name: 'sim-2', url: sim2.url }], banner: 'two' })}\n`);
      const answer = await adminCall(admin, 'POST', '/reload');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json.ok, true);
      assert.equal(answer.json.workers, 2);
      assert.deepEqual([...answer.json.applied].sort(), ['server.banner', 'upstreams']);
      const perWorker = answer.json.perWorker as { worker: number; ok: boolean; applied: string[]; upstreams: { added: string[] } }[];
      assert.deepEqual(perWorker.map((w) => [w.worker, w.ok, [...w.applied].sort(), w.upstreams.added]), [
        [1, true, ['server.banner', 'upstreams'], ['sim-2']],
        [2, true, ['server.banner', 'upstreams'], ['sim-2']],
      ]);
      for (const c of live) assert.equal(await c.request('server.banner', []), 'two', 'every worker serves the new banner');
      await RpcClient.until(async () => {
        const added = (await upstreams(admin)).find((u) => u.name === 'sim-2');
        return added !== undefined && added.workers?.['1'] === 'healthy' && added.workers['2'] === 'healthy';
      }, 'the added upstream to be healthy in both workers', 20_000);

      // ctl reload prints a row per worker.
      writeFileSync(file, `${yaml({ upstreams: [one], banner: 'three' })}\n`);
      const ctl = await runCtl(['reload', '--admin', `127.0.0.1:${admin}`]);
      assert.equal(ctl.code, 0, ctl.stderr);
      assert.match(ctl.stdout, /^reloaded \(2 workers\)$/m);
      assert.match(ctl.stdout, /^WORKER +RELOADED +APPLIED +REQUIRES RESTART +ERRORS$/m);
      assert.match(ctl.stdout, /^ +1 +yes +server\.banner, upstreams +\(none\) +\(none\)$/m);
      assert.match(ctl.stdout, /^ +2 +yes +server\.banner, upstreams +\(none\) +\(none\)$/m);
      await RpcClient.until(async () => (await upstreams(admin)).map((u) => u.name).join() === 'sim', 'the removed upstream to be gone from both workers', 20_000);
      for (const c of live) assert.equal(await c.request('server.banner', []), 'three');

      // SIGHUP to the primary: passed to every worker, each reloads.
      writeFileSync(file, `${yaml({ upstreams: [one], banner: 'four' })}\n`);
      const since = gw.logs.length;
      gw.signal('SIGHUP');
      for (const worker of [1, 2]) await logFrom(gw, since, (r) => r['worker'] === worker && r['msg'] === 'configuration reloaded');
      for (const c of live) assert.equal(await c.request('server.banner', []), 'four');
    } finally {
      for (const c of clients) await c.close();
      await gw.stop();
      await Promise.all([sim.stop(), sim2.stop()]);
    }
  });
});
