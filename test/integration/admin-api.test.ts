// SPDX-License-Identifier: MIT
/**
 * The admin API on a real gateway process against real simulators: the
 * session and upstream lists say what a wallet and the pool are doing,
 * mistakes get clear 4xx answers, a token is wanted when configured, a
 * disconnect closes the wallet's connection, the log level changes at run
 * time, and a cordon moves an upstream's subscriptions away and sends it no
 * new requests while it stays watched.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminCall } from '../helpers/admin-http.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/ports.js';
import { connectNegotiated, RpcClient } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';

const dir = mkdtempSync(join(tmpdir(), 'eg-admin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function adminGateway(upstreams: string[], extra: { config?: string } = {}): Promise<{ gw: GatewayProcess; admin: number }> {
  const admin = await freePort();
  const extraArgs: string[] = [];
  if (extra.config !== undefined) {
    const file = join(dir, `cfg-${admin}.yaml`);
    writeFileSync(file, extra.config);
    extraArgs.push('--config', file);
  }
  const gw = await GatewayProcess.start({ upstream: upstreams, admin: `127.0.0.1:${admin}`, logLevel: 'info', extraArgs });
  await RpcClient.until(async () => (await adminCall(admin, 'GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 'the gateway to be ready');
  return { gw, admin };
}

describe('admin API', () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  let admin: number;
  before(async () => {
    sim = await Simulator.start({ seed: 'admin-api', initialBlocks: 110 });
    ({ gw, admin } = await adminGateway([sim.url]));
  });
  after(async () => {
    await gw.stop();
    await sim.stop();
  });

  it('GET /sessions lists a wallet session: peer, frontend, version, subscriptions, bytes', async () => {
    const { client } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'admin-test-wallet');
    try {
      await client.request('blockchain.headers.subscribe', []);
      await client.request('blockchain.scripthash.subscribe', [testP2wpkh('admin', 'a').scripthash]);
      const { status, json } = await adminCall(admin, 'GET', '/sessions');
      assert.equal(status, 200);
      const mine = (json.sessions as { client: string }[]).filter((s) => s.client === 'admin-test-wallet');
      assert.equal(mine.length, 1, JSON.stringify(json));
      const s = mine[0] as Record<string, unknown>;
      assert.match(String(s['peer']), /^127\.0\.0\.1:\d+$/);
      assert.equal(s['frontend'], `tcp://127.0.0.1:${gw.port}`);
      assert.equal(s['version'], '1.6');
      assert.equal(s['subscriptions'], 2, 'headers and one scripthash');
      assert.ok((s['bytesIn'] as number) > 100 && (s['bytesOut'] as number) > 100, JSON.stringify(s));
      assert.equal(typeof s['id'], 'string');
      assert.equal(typeof s['ageMs'], 'number');
      assert.equal(typeof s['cost'], 'number');
    } finally {
      await client.close();
    }
  });

  it('GET /upstreams lists the upstream: url, state, breaker, tip, lag, latency, in-flight, subscriptions, cordoned', async () => {
    const { client } = await connectNegotiated(gw.port);
    try {
      await client.request('blockchain.scripthash.subscribe', [testP2wpkh('admin', 'b').scripthash]);
      const { status, json } = await adminCall(admin, 'GET', '/upstreams');
      assert.equal(status, 200);
      assert.equal(json.upstreams.length, 1);
      const u = json.upstreams[0];
      assert.equal(u.name, `127.0.0.1:${sim.port}`);
      assert.equal(u.url, sim.url);
      assert.equal(u.state, 'healthy');
      assert.equal(u.breaker, 'closed');
      assert.equal(u.tipHeight, sim.tipHeight());
      assert.equal(u.lag, 0);
      assert.equal(u.cordoned, false);
      assert.equal(u.subscriptions, 1);
      assert.equal(typeof u.inFlight, 'number');
      assert.ok(u.latencyMs === null || typeof u.latencyMs === 'number');
    } finally {
      await client.close();
    }
  });

  it('answers mistakes with a clear 4xx: unknown upstream or session, wrong method, bad body', async () => {
    const unknownUpstream = await adminCall(admin, 'POST', '/upstreams/no-such-upstream/cordon');
    assert.equal(unknownUpstream.status, 404);
    assert.match(unknownUpstream.json.error, /unknown upstream: "no-such-upstream"/);
    const unknownSession = await adminCall(admin, 'POST', '/sessions/999999/disconnect');
    assert.equal(unknownSession.status, 404);
    assert.match(unknownSession.json.error, /unknown session: "999999"/);
    const wrongMethod = await adminCall(admin, 'GET', '/upstreams/x/cordon');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers['allow'], 'POST');
    assert.equal((await adminCall(admin, 'POST', '/sessions')).status, 405);
    assert.equal((await adminCall(admin, 'DELETE', '/reload')).status, 405);
    const badLevel = await adminCall(admin, 'POST', '/log-level', { body: { level: 'loud' } });
    assert.equal(badLevel.status, 400);
    assert.match(badLevel.json.error, /LEVEL one of fatal, error, warn, info, debug, trace, silent/);
    assert.equal((await adminCall(admin, 'POST', '/log-level')).status, 400, 'no body');
    const notJson = await adminCall(admin, 'POST', '/log-level', { rawBody: '{level: debug' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error, /not valid JSON/);
    assert.equal((await adminCall(admin, 'GET', '/no-such-route')).status, 404);
  });

  it('POST /log-level changes the level of a running gateway, for loggers made before the change too', async () => {
    const { client } = await connectNegotiated(gw.port);
    const since = gw.logs.length;
    await client.request('server.ping', []);
    assert.equal(gw.logs.slice(since).filter((r) => r['level'] === 20).length, 0, 'no debug lines at info');
    const set = await adminCall(admin, 'POST', '/log-level', { body: { level: 'debug' } });
    assert.equal(set.status, 200);
    assert.deepEqual(set.json, { level: 'debug' });
    // The session's logger was made before the change; its "connection closed" is a debug line.
    await client.close();
    await gw.waitForLog((r) => r['level'] === 20 && r['msg'] === 'connection closed');
    assert.equal((await adminCall(admin, 'POST', '/log-level', { body: { level: 'info' } })).status, 200);
    const quiet = gw.logs.length;
    const { client: again } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'at-info-again');
    await again.close();
    await RpcClient.until(async () => !((await adminCall(admin, 'GET', '/sessions')).json.sessions as { client: string }[]).some((s) => s.client === 'at-info-again'), 'the session to be gone');
    // A marker line after the close was handled: stdout keeps the process's order.
    assert.equal((await adminCall(admin, 'POST', '/log-level', { body: { level: 'info' } })).status, 200);
    await RpcClient.until(() => gw.logs.slice(quiet).some((r) => r['msg'] === 'admin: log level set'), 'the marker line');
    assert.equal(gw.logs.slice(quiet).filter((r) => r['level'] === 20).length, 0, 'back at info: no debug lines');
  });

  it('POST /sessions/ID/disconnect closes that session and only it', async () => {
    const { client: a } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'to-disconnect');
    const { client: b } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'to-keep');
    try {
      const list = (await adminCall(admin, 'GET', '/sessions')).json.sessions as { id: string; client: string }[];
      const target = list.find((s) => s.client === 'to-disconnect')!;
      const answer = await adminCall(admin, 'POST', `/sessions/${target.id}/disconnect`);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, { session: target.id, disconnected: true });
      await a.closed;
      assert.equal(await b.request('server.ping', []), null, 'the other session is still served');
      const after = (await adminCall(admin, 'GET', '/sessions')).json.sessions as { id: string }[];
      assert.equal(after.some((s) => s.id === target.id), false);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('admin API token', () => {
  it('with admin_token set, every operator route wants it; the probes do not', async () => {
    const sim = await Simulator.start({ seed: 'admin-token', initialBlocks: 105 });
    const token = 'admin-api-test-token-0123456789';
    const { gw, admin } = await adminGateway([sim.url], { config: `admin_token: ${token}\n` });
    try {
      for (const [method, path] of [
        ['GET', '/sessions'],
        ['GET', '/upstreams'],
        ['POST', `/upstreams/127.0.0.1:${sim.port}/cordon`],
        ['POST', '/sessions/1/disconnect'],
        ['POST', '/log-level'],
        ['POST', '/reload'],
      ] as const) {
        const refused = await adminCall(admin, method, path);
        assert.equal(refused.status, 401, `${method} ${path} without the token`);
        assert.equal((await adminCall(admin, method, path, { token: 'wrong-token-wrong-token-wrong' })).status, 401, `${method} ${path} with a wrong token`);
      }
      const ok = await adminCall(admin, 'GET', '/upstreams', { token });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.upstreams[0].cordoned, false, 'the refused cordon did nothing');
      assert.equal((await adminCall(admin, 'GET', '/sessions', { token })).status, 200);
      assert.equal((await adminCall(admin, 'GET', '/readyz')).status, 200);
    } finally {
      await gw.stop();
      await sim.stop();
    }
  });
});

describe('cordon', () => {
  it('moves the upstream\'s subscriptions to the other, sends it no new requests, keeps watching it; uncordon brings it back', async () => {
    const seed = 'admin-cordon';
    const sims = await Promise.all([Simulator.start({ seed, initialBlocks: 110 }), Simulator.start({ seed, initialBlocks: 110 })]);
    const { gw, admin } = await adminGateway(sims.map((s) => s.url));
    const name = (s: Simulator) => `127.0.0.1:${s.port}`;
    const { client } = await connectNegotiated(gw.port);
    try {
      await client.request('blockchain.headers.subscribe', []);
      // Enough scripthashes that the sticky choice puts some on each upstream.
      const wallets = Array.from({ length: 8 }, (_, i) => testP2wpkh(seed, `w${i}`));
      for (const w of wallets) await client.request('blockchain.scripthash.subscribe', [w.scripthash]);
      const before = (await adminCall(admin, 'GET', '/upstreams')).json.upstreams as { name: string; subscriptions: number }[];
      assert.equal(before.reduce((n, u) => n + u.subscriptions, 0), 8);
      const held = before.find((u) => u.subscriptions > 0)!;
      const cordoned = sims.find((s) => name(s) === held.name)!;
      const other = sims.find((s) => s !== cordoned)!;

      // Before the cordon some requests reach it: the test below could fail.
      const balance = 'blockchain.scripthash.get_balance';
      const count = (s: Simulator) => s.stats.requests[balance] ?? 0;
      let was = count(cordoned);
      for (let i = 0; i < 16; i++) await client.request(balance, [testP2wpkh(seed, `before-${i}`).scripthash]);
      assert.ok(count(cordoned) > was, 'rendezvous sends some scripthashes to each upstream');

      const answer = await adminCall(admin, 'POST', `/upstreams/${held.name}/cordon`);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, { upstream: held.name, cordoned: true });
      await RpcClient.until(async () => {
        const us = (await adminCall(admin, 'GET', '/upstreams')).json.upstreams as { name: string; subscriptions: number }[];
        return us.find((u) => u.name === held.name)!.subscriptions === 0 && us.find((u) => u.name === name(other))!.subscriptions === 8;
      }, 'the cordoned upstream\'s subscriptions to move');
      await RpcClient.until(() => cordoned.stats.scripthashSubscriptions === 0, 'the cordoned upstream to be unsubscribed');
      const view = ((await adminCall(admin, 'GET', '/upstreams')).json.upstreams as { name: string; cordoned: boolean; state: string }[]).find((u) => u.name === held.name)!;
      assert.equal(view.cordoned, true);
      assert.equal(view.state, 'healthy', 'still connected and watched');

      was = count(cordoned);
      for (let i = 0; i < 16; i++) await client.request(balance, [testP2wpkh(seed, `after-${i}`).scripthash]);
      assert.equal(count(cordoned), was, 'no new request went to the cordoned upstream');

      // The moved subscriptions still notify: a payment to each wallet, on both servers alike.
      const since = client.notifications.length;
      for (const w of wallets) for (const s of sims) s.pay(w.address, 10_000);
      for (const w of wallets) {
        await client.waitForNotification('blockchain.scripthash.subscribe', (p) => p[0] === w.scripthash && p[1] === other.status(w.scripthash), { since });
      }
      for (const s of sims) s.mine(1);
      await client.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === other.tipHeight(), { since });
      // Its health is still followed: its tip moved in the upstream list too.
      await RpcClient.until(async () => {
        const us = (await adminCall(admin, 'GET', '/upstreams')).json.upstreams as { name: string; tipHeight: number }[];
        return us.find((u) => u.name === held.name)!.tipHeight === cordoned.tipHeight();
      }, 'the cordoned upstream\'s tip to be followed');

      const back = await adminCall(admin, 'POST', `/upstreams/${held.name}/uncordon`);
      assert.equal(back.status, 200);
      was = count(cordoned);
      for (let i = 0; i < 16; i++) await client.request(balance, [testP2wpkh(seed, `back-${i}`).scripthash]);
      assert.ok(count(cordoned) > was, 'requests reach it again after uncordon');
    } finally {
      await client.close();
      await gw.stop();
      await Promise.all(sims.map((s) => s.stop()));
    }
  });
});
