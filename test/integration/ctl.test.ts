// SPDX-License-Identifier: MIT
/**
 * `electrum-gateway ctl`, run as the built CLI in its own process against a
 * real gateway process: it prints the sessions and upstreams as tables,
 * cordons and disconnects, finds the admin listener and token in the config,
 * and exits 1 with the server's message when something is wrong.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminCall } from '../helpers/admin-http.js';
import { GATEWAY_CLI, GatewayProcess, REPO_ROOT } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/ports.js';
import { connectNegotiated, RpcClient } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCtl(args: readonly string[], cwd = REPO_ROOT): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GATEWAY_CLI, 'ctl', ...args], { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'eg-ctl-'));
const token = 'ctl-test-token-0123456789abcdef';
let sim: Simulator;
let gw: GatewayProcess;
let adminPort: number;
let configFile: string;

before(async () => {
  sim = await Simulator.start({ seed: 'ctl', initialBlocks: 110 });
  adminPort = await freePort();
  configFile = join(dir, 'proxy.yaml');
  // The admin listener and token ctl reads when given only --config.
  writeFileSync(configFile, `network: regtest\nadmin: 127.0.0.1:${adminPort}\nadmin_token: ${token}\nupstreams:\n  - name: sim-one\n    url: ${sim.url}\n`);
  gw = await GatewayProcess.start({ upstream: [], admin: `127.0.0.1:${adminPort}`, extraArgs: ['--config', configFile] });
  await RpcClient.until(async () => (await adminCall(adminPort, 'GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 'the gateway to be ready');
});
after(async () => {
  await gw.stop();
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('electrum-gateway ctl', () => {
  it('upstreams: a table with a header row and one row per upstream', async () => {
    const run = await runCtl(['upstreams', '--config', configFile]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+STATE\s+BREAKER\s+TIP\s+LAG\s+LATENCY\s+INFLIGHT\s+SUBS\s+CORDONED\s+URL$/);
    assert.equal(lines.length, 2, run.stdout);
    const cols = lines[1]!.split(/\s{2,}/);
    assert.equal(cols[0], 'sim-one');
    assert.equal(cols[1], 'healthy');
    assert.equal(cols[3], String(sim.tipHeight()));
    assert.equal(cols[8], 'no');
    assert.equal(cols[9], sim.url);
  });

  it('sessions: lists a connected wallet; disconnect ID closes it', async () => {
    const { client } = await connectNegotiated(gw.port, ['1.4', '1.6'], 'ctl-wallet');
    await client.request('blockchain.scripthash.subscribe', [testP2wpkh('ctl', 'a').scripthash]);
    const run = await runCtl(['sessions', '--admin', `http://127.0.0.1:${adminPort}`, '--token', token]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+PEER\s+FRONTEND\s+VERSION\s+CLIENT\s+AGE\s+COST\s+SUBS\s+IN\s+OUT$/);
    const row = lines.find((l) => l.includes('ctl-wallet'));
    assert.ok(row, run.stdout);
    assert.match(row, new RegExp(`127\\.0\\.0\\.1:\\d+\\s+tcp://127\\.0\\.0\\.1:${gw.port}\\s+1\\.6\\s+ctl-wallet`));
    assert.match(lines.at(-1)!, /^\d+ sessions?$/);
    const id = row.trim().split(/\s+/)[0]!;
    const gone = await runCtl(['disconnect', id, '--config', configFile]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(gone.stdout.trim(), `disconnected session ${id}`);
    await client.closed;
  });

  it('cordon NAME and uncordon NAME; the table shows it', async () => {
    const on = await runCtl(['cordon', 'sim-one', '--config', configFile]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /^cordoned sim-one/);
    const table = await runCtl(['upstreams', '--config', configFile]);
    assert.equal(table.stdout.trimEnd().split('\n')[1]!.split(/\s{2,}/)[8], 'yes');
    const off = await runCtl(['uncordon', 'sim-one', '--config', configFile]);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((await adminCall(adminPort, 'GET', '/upstreams', { token })).json.upstreams[0].cordoned, false);
  });

  it('status, log-level and reload print what the server answered', async () => {
    const status = await runCtl(['status', '--config', configFile]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^server: +electrum-gateway/m);
    assert.match(status.stdout, /^network: +regtest$/m);
    assert.match(status.stdout, new RegExp(`^tip: +${sim.tipHeight()} [0-9a-f]{64}$`, 'm'));
    assert.match(status.stdout, /^sim-one\s+healthy/m);
    const level = await runCtl(['log-level', 'warn', '--config', configFile]);
    assert.equal(level.code, 0, level.stderr);
    assert.equal(level.stdout.trim(), 'log level: warn');
    const reload = await runCtl(['reload', '--config', configFile]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stdout, /^reloaded$/m);
    // The level set above lasts until the reload: the configured one (info) is back, and said so.
    assert.match(reload.stdout, /^applied: +logging\.level$/m);
    assert.match(reload.stdout, /^requires restart: +\(none\)$/m);
    const json = await runCtl(['upstreams', '--json', '--config', configFile]);
    assert.equal(JSON.parse(json.stdout).upstreams[0].name, 'sim-one');
  });

  it('exits 1 with the server\'s message: unknown upstream, bad level, no token, unreachable listener', async () => {
    const unknown = await runCtl(['cordon', 'nope', '--config', configFile]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown upstream: "nope".*\(HTTP 404\)/);
    const badLevel = await runCtl(['log-level', 'loud', '--config', configFile]);
    assert.equal(badLevel.code, 1);
    assert.match(badLevel.stderr, /LEVEL one of fatal, error.*\(HTTP 400\)/);
    const elsewhere = mkdtempSync(join(dir, 'cwd-'));
    const noToken = await runCtl(['sessions', '--admin', `127.0.0.1:${adminPort}`], elsewhere);
    assert.equal(noToken.code, 1, 'no ./proxy.yaml in its directory: no token');
    assert.match(noToken.stderr, /unauthorized.*\(HTTP 401\)/);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${token}\n`);
    const withFile = await runCtl(['sessions', '--admin', `127.0.0.1:${adminPort}`, '--token-file', tokenFile], elsewhere);
    assert.equal(withFile.code, 0, withFile.stderr);
    const closed = await freePort();
    const unreachable = await runCtl(['status', '--admin', `127.0.0.1:${closed}`, '--token', 'x']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the admin listener at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    const missing = await runCtl(['disconnect', '--config', configFile]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ctl disconnect needs ID/);
  });
});
