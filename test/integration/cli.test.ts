// SPDX-License-Identifier: MIT
/**
 * The built `electrum-gateway` command run as a child process: help and
 * version, check-config on good and bad files, and serve's exits (bad flags,
 * bad config, busy port, clean stop on SIGTERM). Real traffic is tested
 * elsewhere.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describeStartError, serve, type ServeDeps } from '../../src/cli/serve.js';
import { freePorts, waitForPort } from '../helpers/ports.js';
import type { GatewayConfig } from '../../src/config/types.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'eg-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [mainJs, ...args], { cwd: scratch, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `unexpected stack trace:\n${text}`);
}

function writeScratch(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

describe('electrum-gateway --help and --version', () => {
  it('--help lists both commands and exits 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /electrum-gateway serve/);
    assert.match(r.stdout, /electrum-gateway check-config <file>/);
    assert.match(r.stdout, /--version/);
  });

  it('serve --help lists every flag', async () => {
    const r = await run(['serve', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--config', '--listen', '--upstream', '--network', '--redis', '--admin', '--log-level', '--help', '--version']) {
      assert.ok(r.stdout.includes(flag), `serve --help lacks ${flag}:\n${r.stdout}`);
    }
  });

  it('check-config --help works too', async () => {
    const r = await run(['check-config', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /check-config FILE/);
  });

  it('--version prints the package version on every command', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['-V'], ['serve', '--version'], ['check-config', '--version']]) {
      const r = await run(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.equal(r.stdout.trim(), version);
    }
  });

  it('no command, an unknown command or an unknown flag exits 1 with one clear line', async () => {
    const none = await run([]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^electrum-gateway: name a command: serve, check-config, ctl or peers$/m);

    const typo = await run(['serv']);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /Did you mean serve\?/);

    const topFlag = await run(['--frobnicate']);
    assert.equal(topFlag.code, 1);

    const flag = await run(['check-config', 'proxy.yaml', '--frobnicate']);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /^electrum-gateway: Unknown argument: frobnicate$/m);
    for (const r of [none, typo, topFlag, flag]) assertNoStack(r.stderr);
  });
});

describe('electrum-gateway check-config', () => {
  it('accepts the shipped proxy.yaml with a one-line summary and exit 0', async () => {
    const r = await run(['check-config', join(repoRoot, 'proxy.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^OK .*proxy\.yaml: network bitcoin; listen tcp:\/\/0\.0\.0\.0:50001; 3 upstreams; redis off/);
  });

  it('summarises a custom file', async () => {
    const file = writeScratch(
      'good.yaml',
      'network: regtest\nlisten: [tcp://127.0.0.1:0]\nupstreams:\n  - tcp://127.0.0.1:18001\nredis: redis://127.0.0.1:6379\nadmin: null\n',
    );
    const r = await run(['check-config', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), `OK ${file}: network regtest; listen tcp://127.0.0.1:0; 1 upstream; redis on; admin off`);
  });

  it('prints every problem with FILE:LINE:COL and its key path, then exits 1', async () => {
    const file = writeScratch(
      'bad.yaml',
      [
        'network: bitcon',
        'listen:',
        '  - tcp://0.0.0.0',
        'upstreams:',
        '  - url: tcp://a.example:50001',
        '    nmae: a',
        'limits:',
        '  max_line_bytes: 10',
        'colour: blue',
        '',
      ].join('\n'),
    );
    const r = await run(['check-config', file]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      `${file}:1:10: network: expected one of bitcoin, testnet, testnet4, signet, regtest, litecoin, litecoin-testnet, litecoin-regtest; got "bitcon" (did you mean "bitcoin"?)`,
      `${file}:3:5: listen[0]: "tcp://0.0.0.0": missing port (write HOST:PORT, e.g. 0.0.0.0:50001)`,
      `${file}:6:5: upstreams[0].nmae: unknown key "nmae" (did you mean "name"?)`,
      `${file}:8:19: limits.max_line_bytes: must be at least 1024`,
      `${file}:9:1: colour: unknown key "colour" (allowed here: network, listen, upstreams, redis, admin, server, limits, cost, pool, chain, cache, logging, discovery, shutdown_grace_ms, drain_ms, admin_token, admin_token_file, workers)`,
      `${file}: 5 problems`,
    ]);
    assertNoStack(r.stdout + r.stderr);
  });

  it('reports YAML syntax errors with their position', async () => {
    const file = writeScratch('syntax.yaml', 'listen: [tcp://0.0.0.0:1\nnetwork: bitcoin\n');
    const r = await run(['check-config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:1: YAML syntax: `, 'm'));
  });

  it('a missing file or a missing argument exits 1', async () => {
    const missing = await run(['check-config', join(scratch, 'absent.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /absent\.yaml: cannot read the config file: no such file/);

    const noArg = await run(['check-config']);
    assert.equal(noArg.code, 1);
    assert.match(noArg.stderr, /^electrum-gateway: /m);
    assertNoStack(missing.stdout + missing.stderr + noArg.stderr);
  });
});

describe('electrum-gateway serve', () => {
  it('an unknown flag exits 1 with a clear message', async () => {
    const r = await run(['serve', '--listne', 'tcp://127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^electrum-gateway: Unknown argument: listne$/m);
    assert.match(r.stderr, /Run "electrum-gateway --help" for usage\./);
    assertNoStack(r.stderr);
  });

  it('a flag without its value, or a single flag given twice, exits 1', async () => {
    const noValue = await run(['serve', '--listen']);
    assert.equal(noValue.code, 1);
    assert.match(noValue.stderr, /Not enough arguments following: listen/);

    const twice = await run(['serve', '--network', 'regtest', '--network', 'bitcoin']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /--network given 2 times; give it once/);
    assertNoStack(noValue.stderr + twice.stderr);
  });

  it('a bad flag value exits 1 naming the flag', async () => {
    const r = await run(['serve', '--listen', 'tcp://127.0.0.1', '--network', 'mainnet', '--admin', 'none']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^electrum-gateway: config error: --network: expected one of bitcoin, .*got "mainnet"/m);
    assert.match(r.stderr, /^electrum-gateway: config error: --listen: "tcp:\/\/127\.0\.0\.1": missing port/m);
    assertNoStack(r.stderr);
  });

  it('a bad config file exits 1 with its problems and where they are', async () => {
    const file = writeScratch('serve-bad.yaml', 'limits:\n  request_timeout: 5\n');
    const r = await run(['serve', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config error: .*serve-bad\.yaml:2:3: limits\.request_timeout: unknown key "request_timeout" \(did you mean "request_timeout_ms"\?\)/);
    assert.match(r.stderr, /check-config/);
    assert.equal(r.stdout, '', 'nothing is logged before the config is valid');
    assertNoStack(r.stderr);
  });

  it('a port already in use exits 1 with one line and no stack trace', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const r = await run([
        'serve',
        '--listen',
        `tcp://127.0.0.1:${port}`,
        '--upstream',
        'tcp://127.0.0.1:1',
        '--admin',
        'none',
        '--log-level',
        'silent',
      ]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `electrum-gateway: cannot listen on 127.0.0.1:${port}: address already in use by another process (EADDRINUSE)`,
      );
    } finally {
      blocker.close();
    }
  });

  it('a second gateway on the same admin port says it is the admin listener and how to move or disable it', async () => {
    const [listenA, listenB, adminPort] = await freePorts(3);
    const first = spawn(
      process.execPath,
      [mainJs, 'serve', '--listen', `tcp://127.0.0.1:${listenA}`, '--upstream', 'tcp://127.0.0.1:1', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'silent'],
      { cwd: scratch, stdio: 'ignore' },
    );
    try {
      await waitForPort('127.0.0.1', adminPort!);
      const r = await run(['serve', '--listen', `tcp://127.0.0.1:${listenB}`, '--upstream', 'tcp://127.0.0.1:1', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'silent']);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `electrum-gateway: cannot open the admin listener (metrics, status) on 127.0.0.1:${adminPort}: address already in use by another process (EADDRINUSE); move it with --admin HOST:PORT or turn it off with --admin none`,
      );
    } finally {
      first.kill('SIGTERM');
    }
  });

  it('logs where it listens and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [mainJs, 'serve', '--listen', 'tcp://127.0.0.1:0', '--upstream', 'tcp://127.0.0.1:1', '--admin', 'none'],
      { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "serving on" log line:\n${stdout}\n${stderr}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /"msg":"serving on 127\.0\.0\.1:(\d+)"/.exec(stdout);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.on('exit', () => reject(new Error(`exited early:\n${stdout}\n${stderr}`)));
    });
    assert.ok(port > 0);
    // The port really accepts connections.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    });
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /"signal":"SIGTERM"/);
    assert.equal(stderr, '');
  });
});

/** serve() in-process with a stand-in gateway: the exit paths without real sockets. */
describe('serve() lifecycle', () => {
  function harness(start: ServeDeps['startGateway']) {
    const exits: number[] = [];
    const handlers = new Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>();
    let stderr = '';
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => (stderr += d.toString()));
    const deps: ServeDeps = {
      startGateway: start,
      stderr: sink,
      exit: (code) => exits.push(code),
      onSignals: (signals, handler) => {
        for (const s of signals) handlers.set(s, handler);
        return () => {
          for (const s of signals) handlers.delete(s);
        };
      },
      onCrash: () => undefined,
    };
    return { deps, exits, signal: (s: NodeJS.Signals) => handlers.get(s)?.(s), stderr: () => stderr };
  }
  const quiet = { logLevel: 'silent', upstreams: ['tcp://127.0.0.1:1'], listen: ['tcp://127.0.0.1:0'], admin: null };

  it('hands the loaded config to the gateway, closes it on SIGTERM and exits 0', async () => {
    let seen: GatewayConfig | undefined;
    let closed = 0;
    const h = harness(async (config) => {
      seen = config;
      return { listeners: [{ url: 'tcp://127.0.0.1:0', host: '127.0.0.1', port: 40001 }], close: async () => void closed++ };
    });
    await serve({ configFile: null, overrides: quiet }, h.deps);
    assert.equal(seen?.upstreams[0]?.url, 'tcp://127.0.0.1:1');
    assert.equal(seen?.logging.level, 'silent');
    assert.deepEqual(h.exits, []);
    h.signal('SIGTERM');
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, 1);
    assert.deepEqual(h.exits, [0]);
  });

  it('SIGHUP reloads TLS certificates and keeps serving', async () => {
    let reloads = 0;
    const h = harness(async () => ({ listeners: [], reloadTls: () => void reloads++, close: async () => undefined }));
    await serve({ configFile: null, overrides: quiet }, h.deps);
    h.signal('SIGHUP');
    h.signal('SIGHUP');
    assert.equal(reloads, 2);
    assert.deepEqual(h.exits, []);
  });

  it('a second signal exits 1 without waiting for close()', async () => {
    const h = harness(async () => ({ listeners: [], close: () => new Promise<void>(() => undefined) }));
    await serve({ configFile: null, overrides: quiet }, h.deps);
    h.signal('SIGINT');
    h.signal('SIGINT');
    assert.deepEqual(h.exits, [1]);
  });

  it('a bad config never starts the gateway', async () => {
    let started = false;
    const h = harness(async () => {
      started = true;
      throw new Error('unreachable');
    });
    await serve({ configFile: null, overrides: { ...quiet, listen: ['tcp://nope'] } }, h.deps);
    assert.equal(started, false);
    assert.deepEqual(h.exits, [1]);
    assert.match(h.stderr(), /^electrum-gateway: config error: --listen: "tcp:\/\/nope": missing port/);
  });

  it('a startup failure exits 1 with one line', async () => {
    const h = harness(async () => {
      throw new Error('tls:// listeners are not supported yet\nsecond line');
    });
    await serve({ configFile: null, overrides: quiet }, h.deps);
    assert.deepEqual(h.exits, [1]);
    assert.equal(h.stderr(), 'electrum-gateway: failed to start: tls:// listeners are not supported yet\n');
  });

  it('describes bind errors plainly', () => {
    const err = (code: string) => Object.assign(new Error(code), { code, address: '::1', port: 50001 });
    assert.equal(describeStartError(err('EADDRINUSE')), 'cannot listen on [::1]:50001: address already in use by another process (EADDRINUSE)');
    assert.match(describeStartError(err('EACCES')), /permission denied.*\(EACCES\)/);
    assert.match(describeStartError(err('EADDRNOTAVAIL')), /no local interface has this address/);
    assert.equal(describeStartError('weird'), 'failed to start: weird');
  });
});
