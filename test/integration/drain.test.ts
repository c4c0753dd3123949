// SPDX-License-Identifier: MIT
/**
 * Drain and admin access, on a real gateway process against a real simulator:
 * SIGTERM fails /readyz while sessions are still served (a request in flight is
 * answered, a block is still announced), new connections are refused, the
 * sessions are closed once drain_ms is over and the process exits 0. The admin
 * listener refuses to start beyond loopback without admin_token, and with one
 * wants it on every path but the probes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GATEWAY_CLI, GatewayProcess } from '../helpers/gateway-process.js';
import { canConnect, freePort } from '../helpers/ports.js';
import { connectNegotiated, RpcClient } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';

function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

let sim: Simulator;
const dir = mkdtempSync(join(tmpdir(), 'eg-drain-'));
before(async () => {
  sim = await Simulator.start({ seed: 'drain', initialBlocks: 110 });
});
after(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('drain on SIGTERM', () => {
  it('fails readiness at once, keeps serving sessions for drain_ms, answers what is in flight, exits 0', async () => {
    const adminPort = await freePort();
    const drainMs = 3_000;
    const gw = await GatewayProcess.start({ upstream: sim.url, admin: `127.0.0.1:${adminPort}`, drainMs, logLevel: 'info' });
    try {
      await RpcClient.until(async () => (await get(adminPort, '/readyz')).status === 200, 'the gateway to be ready');
      const { client } = await connectNegotiated(gw.port);
      await client.request('blockchain.headers.subscribe', []);
      const { scripthash } = testP2wpkh('drain', 'in-flight');
      sim.setLatency(800);
      const inFlight = client.request('blockchain.scripthash.get_history', [scripthash]);
      await new Promise((r) => setTimeout(r, 100));
      gw.signal('SIGTERM');
      const exited = gw.waitForExit();
      let exitedYet = false;
      void exited.then(() => (exitedYet = true));

      await RpcClient.until(async () => (await get(adminPort, '/readyz')).status === 503, 'readyz to turn 503');
      // The flip came while the drain still runs: the session is open and new ones are turned away.
      assert.equal(exitedYet, false, 'readyz flipped only when the process was already gone');
      assert.equal(client.isClosed, false);
      assert.deepEqual(await inFlight, [], 'the request in flight at SIGTERM is answered');
      sim.setLatency(0);
      assert.equal(await canConnect(gw.host, gw.port), false, 'a draining gateway accepts no new sessions');

      // Subscriptions stay alive during the drain.
      const since = client.notifications.length;
      sim.mine(1);
      const note = await client.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === sim.tipHeight(), { since });
      assert.ok(note);
      assert.ok(await client.request('server.ping', []) === null, 'requests are still served while draining');

      await client.closed; // the gateway closes it once drain_ms is over
      const status = await exited;
      assert.deepEqual(status, { code: 0, signal: null }, gw.logTail());
      assert.ok(gw.logs.some((r) => r['msg'] === 'drain time over; closing sessions in batches'), 'the session outlived drain_ms and was closed by the drain');
    } finally {
      sim.setLatency(0);
      gw.kill();
    }
  });

  it('ends early once every session has left', async () => {
    const gw = await GatewayProcess.start({ upstream: sim.url, drainMs: 600_000 });
    const { client } = await connectNegotiated(gw.port);
    gw.signal('SIGTERM');
    await gw.waitForLog((r) => r['msg'] === 'draining: not accepting, readiness failing, serving open sessions');
    await client.close();
    assert.deepEqual(await gw.waitForExit(), { code: 0, signal: null });
  });
});

describe('drain: the end of drain_ms, and --workers', () => {
  it('sessions still open when drain_ms ends are closed in batches of 200, a request in flight answered before its session closes', async () => {
    const file = join(dir, 'batches.yaml');
    // 450 sessions from 127.0.0.1: more than one group may hold by default.
    writeFileSync(file, 'limits:\n  exempt: ["127.0.0.0/8"]\nshutdown_grace_ms: 15000\n');
    const gw = await GatewayProcess.start({ upstream: sim.url, drainMs: 1_000, logLevel: 'info', extraArgs: ['--config', file] });
    const idle: RpcClient[] = [];
    try {
      for (let i = 0; i < 449; i += 50) idle.push(...(await Promise.all(Array.from({ length: Math.min(50, 449 - i) }, () => RpcClient.connect(gw.port)))));
      const { client } = await connectNegotiated(gw.port);
      await client.request('server.ping', []);
      gw.signal('SIGTERM');
      await gw.waitForLog((r) => r['msg'] === 'draining: not accepting, readiness failing, serving open sessions');
      // Slower than the whole drain_ms: this request is still in flight when the sessions are closed.
      sim.setLatency(4_000);
      const inFlight = client.request('blockchain.scripthash.get_history', [testP2wpkh('drain', 'at-the-end').scripthash]);
      const over = await gw.waitForLog((r) => r['msg'] === 'drain time over; closing sessions in batches');
      assert.equal(over['sessions'], 450);
      assert.equal(client.isClosed, false, 'its session waits for the answer');
      assert.deepEqual(await inFlight, [], 'the request in flight when drain_ms ended is answered');
      await client.closed;
      await Promise.all(idle.map((c) => c.closed));
      assert.deepEqual(await gw.waitForExit(), { code: 0, signal: null }, gw.logTail());
      const batches = gw.logs.filter((r) => r['msg'] === 'drain: closing a batch of sessions once their requests are answered');
      assert.deepEqual(batches.map((r) => [r['batch'], r['sessions']]), [[1, 200], [2, 200], [3, 50]]);
    } finally {
      sim.setLatency(0);
      for (const c of idle) c.destroy();
      gw.kill();
    }
  });

  it('with --workers 2, SIGTERM to the primary drains every worker: readiness fails, sessions on both keep being served, then the instance exits 0', async () => {
    const adminPort = await freePort();
    const gw = await GatewayProcess.start({ upstream: sim.url, admin: `127.0.0.1:${adminPort}`, drainMs: 2_000, logLevel: 'info', extraArgs: ['--workers', '2'] });
    const clients: RpcClient[] = [];
    try {
      await gw.waitForLog((r) => typeof r['msg'] === 'string' && (r['msg'] as string).startsWith('all 2 workers serving'), 20_000);
      await RpcClient.until(async () => (await get(adminPort, '/readyz').catch(() => ({ status: 0, body: '' }))).status === 200, 'the gateway to be ready');
      for (let i = 0; i < 6; i++) {
        const { client } = await connectNegotiated(gw.port, ['1.4', '1.6'], `drain-${i}`);
        await client.request('blockchain.headers.subscribe', []);
        clients.push(client);
      }
      const listed = JSON.parse((await get(adminPort, '/sessions')).body) as { sessions: { client: string; worker: number }[] };
      assert.deepEqual(new Set(listed.sessions.filter((s) => s.client.startsWith('drain-')).map((s) => s.worker)), new Set([1, 2]), 'sessions on both workers');

      gw.signal('SIGTERM');
      for (const worker of [1, 2]) await gw.waitForLog((r) => r['worker'] === worker && r['msg'] === 'draining: not accepting, readiness failing, serving open sessions');
      assert.equal((await get(adminPort, '/readyz')).status, 503);
      const since = clients.map((c) => c.notifications.length);
      sim.mine(1);
      for (const [i, c] of clients.entries()) {
        await c.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === sim.tipHeight(), { since: since[i]! });
        assert.equal(await c.request('server.ping', []), null, 'still served while draining');
      }
      await Promise.all(clients.map((c) => c.closed));
      assert.deepEqual(await gw.waitForExit(), { code: 0, signal: null }, gw.logTail());
      for (const worker of [1, 2]) assert.ok(gw.logs.some((r) => r['worker'] === worker && r['msg'] === 'drain time over; closing sessions in batches'), `worker ${worker} closed its sessions at the end of the drain`);
    } finally {
      for (const c of clients) c.destroy();
      gw.kill();
    }
  });
});

describe('admin token beyond loopback', () => {
  it('refuses to start on 0.0.0.0 without admin_token, naming the key', () => {
    const run = spawnSync(
      process.execPath,
      [GATEWAY_CLI, 'serve', '--listen', 'tcp://127.0.0.1:0', '--upstream', sim.url, '--network', 'regtest', '--admin', '0.0.0.0:0'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /admin.*beyond loopback.*admin_token/);
  });

  it('loopback addresses such as 127.0.0.2 need no token', () => {
    const file = join(dir, 'loopback.yaml');
    writeFileSync(file, 'network: regtest\nadmin: 127.0.0.2:9\nupstreams: [tcp://127.0.0.1:1]\n');
    const run = spawnSync(process.execPath, [GATEWAY_CLI, 'check-config', file], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stdout);
  });

  it('with a token on 0.0.0.0, wants it everywhere but the probes', async () => {
    const token = 'test-admin-token-0123456789';
    const adminPort = await freePort('0.0.0.0');
    const file = join(dir, 'token.yaml');
    writeFileSync(file, `admin_token: ${token}\n`);
    const gw = await GatewayProcess.start({ upstream: sim.url, admin: `0.0.0.0:${adminPort}`, extraArgs: ['--config', file] });
    try {
      await RpcClient.until(async () => (await get(adminPort, '/healthz').catch(() => ({ status: 0 }))).status === 200, 'the admin listener');
      assert.equal((await get(adminPort, '/status')).status, 401);
      assert.equal((await get(adminPort, '/metrics', 'wrong-token-wrong-token')).status, 401);
      const ok = await get(adminPort, '/status', token);
      assert.equal(ok.status, 200);
      assert.equal((JSON.parse(ok.body) as { network: string }).network, 'regtest');
      assert.notEqual((await get(adminPort, '/readyz')).status, 401);
    } finally {
      await gw.stop();
    }
  });
});
