// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isMap, isPair, isScalar, LineCounter, parseDocument } from 'yaml';
import { overridesFromFlags, UsageError } from '../../src/cli/overrides.js';
import {
  ConfigError,
  defaultConfig,
  formatProblem,
  loadConfig,
  loadConfigOrThrow,
  parseConfigText,
  type CliOverrides,
  type ConfigProblem,
  type LoadResult,
} from '../../src/config/load.js';
import { NETWORKS } from '../../src/config/networks.js';
import { allowedKeysAt, configFileSchema } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/types.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'eg-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function parse(text: string, overrides?: CliOverrides): LoadResult {
  return parseConfigText(text, { source: 'proxy.yaml', baseDir: scratch, ...(overrides ? { overrides } : {}) });
}

function ok(text: string, overrides?: CliOverrides): GatewayConfig {
  const r = parse(text, overrides);
  if (!r.ok) assert.fail(`expected a valid config, got:\n${r.problems.map(formatProblem).join('\n')}`);
  return r.config;
}

function problems(text: string, overrides?: CliOverrides): readonly ConfigProblem[] {
  const r = parse(text, overrides);
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.problems;
}

/** Asserts exactly one problem, at path and line:column, whose message matches. */
function oneProblem(text: string, path: string, line: number, column: number, message: RegExp): ConfigProblem {
  const list = problems(text);
  assert.equal(list.length, 1, `expected one problem, got:\n${list.map(formatProblem).join('\n')}`);
  const p = list[0]!;
  assert.equal(p.source, 'proxy.yaml');
  assert.equal(p.path, path, formatProblem(p));
  assert.equal(p.line, line, formatProblem(p));
  assert.equal(p.column, column, formatProblem(p));
  assert.match(p.message, message);
  return p;
}

describe('defaults', () => {
  it('an empty or comment-only file gives the built-in defaults', () => {
    const expected = defaultConfig();
    assert.deepEqual(ok(''), expected);
    assert.deepEqual(ok('# nothing here\n'), expected);
    assert.deepEqual(ok('server:\nlimits:\nlogging:\n'), expected, 'empty sections mean all defaults');
  });

  it('has the documented values', () => {
    const c = defaultConfig();
    assert.equal(c.network, NETWORKS.bitcoin);
    assert.deepEqual(
      c.listen.map((l) => [l.url, l.scheme, l.host, l.port, l.path]),
      [['tcp://0.0.0.0:50001', 'tcp', '0.0.0.0', 50001, '/']],
    );
    assert.ok(c.upstreams.length >= 2, 'a few public servers');
    for (const u of c.upstreams) {
      assert.equal(u.scheme, 'tcp');
      assert.equal(u.port, 50001);
      assert.equal(u.name, `${u.host}:${u.port}`, 'default name is host:port');
    }
    assert.equal(c.redis, null);
    assert.deepEqual(c.admin, { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(c.server, {
      banner: 'You are connected to an electrum-gateway $SERVER_VERSION server.',
      bannerFile: null,
      donationAddress: '',
      hosts: {},
    });
    assert.deepEqual(c.limits, {
      maxLineBytes: 1_000_000,
      requestTimeoutMs: 30_000,
      noUpstreamWaitMs: 3_000,
      maxSessions: 10_000,
      maxSessionsPerGroup: 200,
      maxBatch: 345,
      idleTimeoutMs: 600_000,
      handshakeTimeoutMs: 10_000,
      maxUnsentBytes: 8_000_000,
      maxUnsentBytesTotal: 268_435_456,
      groupPrefixIpv4: 24,
      groupPrefixIpv6: 48,
      maxResponseBytes: 8_100_000,
      maxSubscriptionsPerSession: 75_000,
      maxSubscriptions: 10_000_000,
      exempt: [],
    });
    assert.deepEqual(c.cache, { minDepth: 6, memoryBytes: 64 * 1024 * 1024, redisTimeoutMs: 50, perTipTtlMs: 30_000 });
    assert.deepEqual(c.pool, {
      maxLagBlocks: 1,
      maxSubscriptionsPerConnection: 25_000,
      attemptTimeoutMs: 10_000,
      pingIntervalMs: 60_000,
      quarantineMs: 600_000,
      maxReorgDepth: 100,
      resubscribeConcurrency: 100,
      resubscribePerSecond: 2000,
      socks: null,
    });
    assert.deepEqual(c.cost, {
      softLimit: 1000,
      hardLimit: 10_000,
      bandwidthUnitBytes: 5000,
      decayPerSecond: 1,
      errorCost: 100,
      maxDelayMs: 2500,
      sharedFailOpen: true,
    });
    assert.deepEqual(c.logging, { level: 'info' });
    assert.equal(c.shutdownGraceMs, 5000);
  });

  it('the shipped proxy.yaml spells out exactly the built-in defaults', () => {
    const r = loadConfig({ file: join(repoRoot, 'proxy.yaml') });
    if (!r.ok) assert.fail(r.problems.map(formatProblem).join('\n'));
    assert.deepEqual(r.config, defaultConfig());
  });

  it('proxy.yaml writes out every key of the schema, each with a "Default:" comment above it', () => {
    const text = readFileSync(join(repoRoot, 'proxy.yaml'), 'utf8');
    const lines = text.split('\n');
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter });
    const missing: string[] = [];
    const undocumented: string[] = [];
    const walk = (path: string[]) => {
      const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
      for (const key of allowedKeysAt(path) ?? []) {
        const full = [...path, key];
        const pair = isMap(parent) ? parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key) : undefined;
        if (pair === undefined || !isScalar(pair.key) || pair.key.range === undefined || pair.key.range === null) {
          missing.push(full.join('.'));
          continue;
        }
        // The contiguous block of comment lines right above the key must give its default.
        let line = lineCounter.linePos(pair.key.range[0]).line - 2;
        const comment: string[] = [];
        while (line >= 0 && (lines[line] ?? '').trim().startsWith('#')) comment.push(lines[line--] ?? '');
        const isSection = isMap(pair.value) && allowedKeysAt(full) !== null;
        if (!isSection && !comment.some((c) => /Default/.test(c))) undocumented.push(full.join('.'));
        if (isSection) walk(full);
      }
    };
    walk([]);
    assert.deepEqual(missing, [], 'keys of the schema absent from proxy.yaml');
    assert.deepEqual(undocumented, [], 'keys without a "Default:" comment right above them');
  });

  it('docs/configuration.md mentions every key and every serve flag', () => {
    const docs = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    const keys: string[] = [];
    const walk = (path: string[]) => {
      for (const key of allowedKeysAt(path) ?? []) {
        keys.push(key);
        walk([...path, key]);
      }
    };
    walk([]);
    keys.push('tcp_port', 'ssl_port', 'ws_port', 'wss_port');
    for (const key of keys) assert.ok(docs.includes(`\`${key}\``), `docs/configuration.md lacks \`${key}\``);
    for (const flag of ['--config', '--listen', '--upstream', '--network', '--redis', '--admin', '--log-level']) {
      assert.ok(docs.includes(flag), `docs/configuration.md lacks ${flag}`);
    }
  });
});

describe('values', () => {
  it('maps snake_case keys onto the camelCase GatewayConfig', () => {
    const c = ok(`
network: regtest
listen:
  - tcp://127.0.0.1:0
  - ws://[::1]:50003/electrum
upstreams:
  - tcp://127.0.0.1:18001
  - url: ssl://fulcrum.example:50002?weight=2
    name: fulcrum
redis: redis://127.0.0.1:6379/1
admin: "[::1]:9000"
server:
  banner: hello
  donation_address: bcrt1qexample
  hosts:
    gw.example.com: { tcp_port: 50001, ssl_port: 50002 }
limits:
  max_line_bytes: 2000000
  request_timeout_ms: 1500
logging:
  level: debug
shutdown_grace_ms: 0
`);
    assert.equal(c.network.name, 'regtest');
    assert.deepEqual(c.listen[1], {
      url: 'ws://[::1]:50003/electrum',
      scheme: 'ws',
      host: '::1',
      port: 50003,
      path: '/electrum',
      options: {},
    });
    assert.deepEqual(c.upstreams[0], {
      name: '127.0.0.1:18001',
      url: 'tcp://127.0.0.1:18001',
      scheme: 'tcp',
      host: '127.0.0.1',
      port: 18001,
      path: '/',
      options: {},
    });
    assert.deepEqual(c.upstreams[1], {
      name: 'fulcrum',
      url: 'ssl://fulcrum.example:50002?weight=2',
      scheme: 'tls',
      host: 'fulcrum.example',
      port: 50002,
      path: '/',
      options: { weight: '2' },
    });
    assert.equal(c.redis, 'redis://127.0.0.1:6379/1');
    assert.deepEqual(c.admin, { host: '::1', port: 9000 });
    assert.deepEqual(c.server, {
      banner: 'hello',
      bannerFile: null,
      donationAddress: 'bcrt1qexample',
      hosts: { 'gw.example.com': { tcp_port: 50001, ssl_port: 50002 } },
    });
    assert.equal(c.limits.maxLineBytes, 2_000_000);
    assert.equal(c.limits.requestTimeoutMs, 1500);
    assert.equal(c.logging.level, 'debug');
    assert.equal(c.shutdownGraceMs, 0);
  });

  it('chain.checkpoints: null keeps the network\'s own, a list replaces them (sorted, chainwork as hex)', () => {
    assert.deepEqual(ok('network: regtest\nupstreams: [tcp://127.0.0.1:1]\n').network.checkpoints, NETWORKS.regtest.checkpoints);
    assert.equal(defaultConfig().network.checkpoints.at(-1)?.height, 953_567);
    const hash = 'AB'.repeat(32);
    const c = ok(`network: regtest\nupstreams: [tcp://127.0.0.1:1]\nchain:\n  checkpoints:\n    - {height: 500, hash: ${hash}, chainwork: "0x1f4"}\n    - {height: 0, hash: ${'cd'.repeat(32)}}\n`);
    assert.deepEqual(c.network.checkpoints, [
      { height: 0, hash: 'cd'.repeat(32), chainwork: null },
      { height: 500, hash: 'ab'.repeat(32), chainwork: 500n },
    ]);
    assert.equal(c.network.genesisHash, NETWORKS.regtest.genesisHash, 'the rest of the network stays');
    oneProblem('chain:\n  checkpoints:\n    - {height: 1, hash: abc}\n', 'chain.checkpoints[0].hash', 3, 25, /64 hex digits/);
    problems('chain:\n  checkpoints: []\n');
    assert.match(problems(`chain:\n  checkpoints:\n    - {height: 1, hash: ${hash}, chainwork: 0x1f4}\n`)[0]!.message, /quoted hex string/);
    problems('chain:\n  checkpoints:\n    - {height: -1, hash: ' + hash + '}\n');
  });

  it('null turns redis and admin off', () => {
    const c = ok('redis: null\nadmin: null\n');
    assert.equal(c.redis, null);
    assert.equal(c.admin, null);
    assert.equal(ok('redis:\nadmin: ~\n').admin, null, 'empty value and ~ are null too');
  });

  it('resolves banner_file against the config file directory', () => {
    mkdirSync(join(scratch, 'etc'), { recursive: true });
    writeFileSync(join(scratch, 'etc', 'banner.txt'), 'Welcome\n');
    writeFileSync(join(scratch, 'etc', 'gw.yaml'), 'server:\n  banner_file: banner.txt\n');
    const c = loadConfigOrThrow({ file: join(scratch, 'etc', 'gw.yaml') });
    assert.equal(c.server.bannerFile, join(scratch, 'etc', 'banner.txt'));
    // Relative config path: resolved against cwd first.
    const c2 = loadConfigOrThrow({ file: join('etc', 'gw.yaml'), cwd: scratch });
    assert.equal(c2.server.bannerFile, join(scratch, 'etc', 'banner.txt'));
  });

  it('YAML anchors and aliases work', () => {
    const c = ok('listen: &l\n  - tcp://127.0.0.1:0\nupstreams:\n  - tcp://127.0.0.1:1\n');
    assert.equal(c.listen[0]?.port, 0);
  });
});

describe('problems carry the path and line:column', () => {
  it('an unknown top-level key, with a suggestion for a typo', () => {
    oneProblem('network: bitcoin\nupstream:\n  - tcp://a:1\n', 'upstream', 2, 1, /unknown key "upstream" \(did you mean "upstreams"\?\)/);
  });

  it('an unknown key far from any real one lists the allowed keys', () => {
    oneProblem('frobnicate: 1\n', 'frobnicate', 1, 1, /unknown key "frobnicate" \(allowed here: network, listen, upstreams/);
  });

  it('unknown keys inside sections, camelCase spelled keys and upstream mappings', () => {
    oneProblem('limits:\n  maxLineBytes: 5\n', 'limits.maxLineBytes', 2, 3, /did you mean "max_line_bytes"/);
    oneProblem('server:\n  donation: x\n', 'server.donation', 2, 3, /unknown key "donation"/);
    oneProblem('logging:\n  lvl: info\n', 'logging.lvl', 2, 3, /did you mean "level"/);
    oneProblem('upstreams:\n  - url: tcp://a:1\n    nmae: a\n', 'upstreams[0].nmae', 3, 5, /did you mean "name"/);
    oneProblem(
      'server:\n  hosts:\n    a.example:\n      tcp: 50001\n',
      'server.hosts["a.example"].tcp',
      4,
      7,
      /unknown key "tcp"/,
    );
  });

  it('an unknown network, with a suggestion', () => {
    oneProblem('network: testnet3\n', 'network', 1, 10, /expected one of bitcoin, testnet,.*got "testnet3" \(did you mean "testnet"\?\)/);
  });

  it('listener URL errors point at the list entry', () => {
    oneProblem('listen:\n  - tcp://0.0.0.0:50001\n  - tcp://0.0.0.0\n', 'listen[1]', 3, 5, /missing port/);
    oneProblem('listen:\n  - udp://0.0.0.0:1\n', 'listen[0]', 2, 5, /unknown scheme "udp:\/\/"/);
    oneProblem('listen: [tcp://0.0.0.0:70000]\n', 'listen[0]', 1, 10, /out of range/);
    oneProblem('listen: []\n', 'listen', 1, 9, /at least 1 entry/);
    oneProblem('listen: tcp://0.0.0.0:1\n', 'listen', 1, 9, /expected a list/);
    oneProblem('listen:\n  - 50001\n', 'listen[0]', 2, 5, /expected a listener URL/);
  });

  it('upstream errors: plain strings, mappings, missing url, wrong types', () => {
    oneProblem('upstreams:\n  - tcp://a.example\n', 'upstreams[0]', 2, 5, /missing port/);
    oneProblem('upstreams:\n  - url: tcp://a.example:0\n', 'upstreams[0].url', 2, 10, /out of range 1-65535/);
    oneProblem('upstreams:\n  - name: lonely\n', 'upstreams[0].url', 2, 5, /is required/);
    oneProblem('upstreams:\n  - 42\n', 'upstreams[0]', 2, 5, /expected an upstream URL string or a mapping/);
    oneProblem('upstreams:\n  - url: tcp://a:1\n    name: ""\n', 'upstreams[0].name', 3, 11, /must not be empty/);
    oneProblem('upstreams: []\n', 'upstreams', 1, 12, /at least 1 entry/);
  });

  it('redis and admin', () => {
    oneProblem('redis: localhost:6379\n', 'redis', 1, 8, /not a URL/);
    oneProblem('redis: 6379\n', 'redis', 1, 8, /expected a redis:\/\/ URL, or null/);
    oneProblem('admin: 8080\n', 'admin', 1, 8, /expected HOST:PORT/);
    oneProblem('admin: localhost\n', 'admin', 1, 8, /missing port/);
  });

  it('server section', () => {
    oneProblem('server:\n  banner: 5\n', 'server.banner', 2, 11, /expected a string, got 5/);
    oneProblem('server:\n  hosts:\n    a.example: { tcp_port: 0 }\n', 'server.hosts["a.example"].tcp_port', 3, 28, /at least 1/);
    oneProblem('server:\n  hosts:\n    a.example: 50001\n', 'server.hosts["a.example"]', 3, 16, /mapping of tcp_port/);
    oneProblem('server: yes\n', 'server', 1, 9, /expected a mapping/);
    oneProblem(
      'server:\n  banner_file: missing-banner.txt\n',
      'server.banner_file',
      2,
      16,
      /cannot read banner file .*missing-banner\.txt: no such file/,
    );
  });

  it('cost limits and exempt CIDRs', () => {
    oneProblem('cost:\n  soft_limit: 500\n  hard_limit: 400\n', 'cost.hard_limit', 3, 15, /hard_limit must be above soft_limit/);
    oneProblem('cost:\n  exempt: [10.0.0.0/33]\n', 'cost.exempt[0]', 2, 12, /bad prefix length/);
    oneProblem('limits:\n  exempt: [127.0.0.1/8, ::1/200]\n', 'limits.exempt[1]', 2, 25, /prefix length/);
  });

  it('limits.exempt and the older cost.exempt are merged, each CIDR once', () => {
    const c = ok('limits:\n  exempt: [127.0.0.0/8, ::1/128]\ncost:\n  exempt: [10.0.0.0/8, 127.0.0.0/8]\n');
    assert.deepEqual(c.limits.exempt, ['127.0.0.0/8', '::1/128', '10.0.0.0/8']);
    assert.deepEqual(ok('cost:\n  exempt: [10.0.0.0/8]\n').limits.exempt, ['10.0.0.0/8']);
  });

  it('limits, logging and shutdown_grace_ms', () => {
    oneProblem('limits:\n  max_line_bytes: 100\n', 'limits.max_line_bytes', 2, 19, /at least 1024/);
    oneProblem('limits:\n  max_line_bytes: 1_000_000\n', 'limits.max_line_bytes', 2, 19, /expected a number, got "1_000_000" \(write the number without quotes or underscores\)/);
    oneProblem('limits:\n  request_timeout_ms: 1.5\n', 'limits.request_timeout_ms', 2, 23, /expected an integer, got 1\.5/);
    oneProblem('limits:\n  request_timeout_ms: 0\n', 'limits.request_timeout_ms', 2, 23, /at least 1/);
    oneProblem('logging:\n  level: verbose\n', 'logging.level', 2, 10, /expected one of fatal, error, warn, info, debug, trace, silent/);
    oneProblem('shutdown_grace_ms: 600001\n', 'shutdown_grace_ms', 1, 20, /at most 600000/);
  });

  it('reports every problem at once, in file order', () => {
    const list = problems('shutdown_grace_ms: -1\nnetwork: nope\nlisten: [tcp://x]\nbogus: 1\n');
    assert.deepEqual(
      list.map((p) => [p.path, p.line]),
      [
        ['shutdown_grace_ms', 1],
        ['network', 2],
        ['listen[0]', 3],
        ['bogus', 4],
      ],
    );
  });

  it('YAML syntax errors, duplicate keys and a non-mapping document', () => {
    const syntax = problems('listen: [tcp://0.0.0.0:1\nnetwork: bitcoin\n');
    assert.ok(syntax.length >= 1);
    assert.equal(syntax[0]!.line, 2);
    assert.match(syntax[0]!.message, /^YAML syntax: /);
    assert.doesNotMatch(syntax[0]!.message, /\n/, 'one line per problem');

    const dup = problems('network: bitcoin\nnetwork: regtest\n');
    assert.equal(dup.length, 1);
    assert.equal(dup[0]!.line, 2);
    assert.match(dup[0]!.message, /Map keys must be unique/);

    oneProblem('- tcp://0.0.0.0:1\n', '', 1, 1, /top level must be a mapping/);
    oneProblem('just a string\n', '', 1, 1, /top level must be a mapping/);
  });

  it('cross-key checks: duplicate names and addresses, upstreams off mainnet', () => {
    oneProblem(
      'upstreams:\n  - tcp://a.example:50001\n  - ssl://a.example:50001\n',
      'upstreams[1]',
      3,
      5,
      /upstream name "a.example:50001" is already used by upstreams\[0\]/,
    );
    oneProblem(
      'upstreams:\n  - { url: "tcp://a:1", name: x }\n  - { url: "tcp://b:1", name: x }\n',
      'upstreams[1].name',
      3,
      31,
      /name "x" is already used/,
    );
    oneProblem('listen:\n  - tcp://127.0.0.1:5000\n  - ws://127.0.0.1:5000/x\n', 'listen[1]', 3, 5, /127\.0\.0\.1:5000 is already used by listen\[0\]/);
    assert.equal(ok('listen: [tcp://127.0.0.1:0, tcp://127.0.0.1:0]\n').listen.length, 2, 'port 0 may repeat');
    oneProblem('listen: [tcp://127.0.0.1:8080]\nadmin: 127.0.0.1:8080\n', 'admin', 2, 8, /already used by listen\[0\]/);
    oneProblem('network: regtest\n', 'network', 1, 10, /network regtest needs upstreams/);
  });

  it('formats problems compiler-style', () => {
    assert.equal(
      formatProblem({ source: 'p.yaml', path: 'limits.max_line_bytes', line: 3, column: 5, message: 'must be at least 1024' }),
      'p.yaml:3:5: limits.max_line_bytes: must be at least 1024',
    );
    assert.equal(formatProblem({ source: '--listen', path: '', message: 'bad' }), '--listen: bad');
  });
});

describe('command-line overrides', () => {
  const file = `
network: bitcoin
listen:
  - tcp://0.0.0.0:50001
  - tcp://0.0.0.0:50011
upstreams:
  - tcp://file.example:50001
redis: redis://file.example:6379
admin: 127.0.0.1:8080
logging:
  level: warn
`;

  it('win over the file, and repeatable flags replace whole lists', () => {
    const c = ok(file, {
      network: 'regtest',
      listen: ['tcp://127.0.0.1:0'],
      upstreams: ['tcp://127.0.0.1:18001', 'tcp://127.0.0.1:18002'],
      redis: 'redis://127.0.0.1:6380',
      admin: '127.0.0.1:0',
      logLevel: 'debug',
    });
    assert.equal(c.network.name, 'regtest');
    assert.deepEqual(c.listen.map((l) => l.url), ['tcp://127.0.0.1:0']);
    assert.deepEqual(c.upstreams.map((u) => u.url), ['tcp://127.0.0.1:18001', 'tcp://127.0.0.1:18002']);
    assert.equal(c.redis, 'redis://127.0.0.1:6380');
    assert.deepEqual(c.admin, { host: '127.0.0.1', port: 0 });
    assert.equal(c.logging.level, 'debug');
  });

  it('keys without a flag keep the file value', () => {
    const c = ok(file, { logLevel: 'error' });
    assert.equal(c.listen.length, 2);
    assert.equal(c.redis, 'redis://file.example:6379');
    assert.equal(c.logging.level, 'error');
  });

  it('null from --redis none / --admin none turns the feature off', () => {
    const c = ok(file, { redis: null, admin: null });
    assert.equal(c.redis, null);
    assert.equal(c.admin, null);
  });

  it('work without a file', () => {
    const r = loadConfig({ overrides: { network: 'regtest', upstreams: ['tcp://127.0.0.1:1'], listen: ['tcp://127.0.0.1:0'] } });
    assert.ok(r.ok);
    assert.equal(r.config.network.name, 'regtest');
  });

  it('a bad flag value is reported against the flag, not a file line', () => {
    const list = problems(file, { listen: ['tcp://127.0.0.1:0', 'tcp://nope'] });
    assert.equal(list.length, 1);
    assert.equal(list[0]!.source, '--listen');
    assert.equal(list[0]!.line, undefined);
    assert.match(formatProblem(list[0]!), /^--listen: "tcp:\/\/nope": missing port/);
    assert.equal(problems('', { network: 'mainnet' })[0]!.source, '--network');
    assert.equal(problems('', { logLevel: 'loud' })[0]!.source, '--log-level');
    assert.equal(problems('', { admin: 'x' })[0]!.source, '--admin');
  });

  it('a bad file value hidden by a flag is not reported, other file problems still are', () => {
    const list = problems('listen: [tcp://broken]\nbogus: 1\n', { listen: ['tcp://127.0.0.1:0'] });
    assert.deepEqual(list.map((p) => p.path), ['bogus']);
  });

  it('--network other than bitcoin without any upstream is reported against the flag', () => {
    const list = problems('', { network: 'testnet4' });
    assert.equal(list.length, 1);
    assert.equal(list[0]!.source, '--network');
    assert.match(list[0]!.message, /needs upstreams/);
  });
});

describe('overridesFromFlags', () => {
  it('collects repeatable flags and the off word', () => {
    assert.deepEqual(
      overridesFromFlags({ listen: ['tcp://a:1', 'tcp://b:2'], upstream: 'tcp://c:3', redis: 'none', admin: 'NONE', logLevel: 'warn' }),
      { listen: ['tcp://a:1', 'tcp://b:2'], upstreams: ['tcp://c:3'], redis: null, admin: null, logLevel: 'warn' },
    );
    assert.deepEqual(overridesFromFlags({}), {});
  });

  it('refuses a single-valued flag given twice and an empty URL', () => {
    assert.throws(() => overridesFromFlags({ network: ['bitcoin', 'regtest'] }), UsageError);
    assert.throws(() => overridesFromFlags({ listen: [''] }), /--listen needs a URL/);
  });
});

describe('loading files', () => {
  it('reports a missing file and a directory', () => {
    const missing = loadConfig({ file: join(scratch, 'nope.yaml') });
    assert.equal(missing.ok, false);
    assert.match(formatProblem(missing.problems[0]!), /nope\.yaml: cannot read the config file: no such file/);
    const dir = loadConfig({ file: scratch });
    assert.equal(dir.ok, false);
    assert.match(dir.problems[0]!.message, /is a directory/);
  });

  it('loadConfigOrThrow throws a ConfigError listing every problem', () => {
    const path = join(scratch, 'bad.yaml');
    writeFileSync(path, 'network: x\nbogus: 1\n');
    assert.throws(
      () => loadConfigOrThrow({ file: path }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 2);
        assert.equal(err.message.split('\n').length, 2);
        assert.match(err.message, /bad\.yaml:1:10: network:/);
        return true;
      },
    );
  });
});

describe('schema introspection', () => {
  it('allowedKeysAt follows sections, lists and records', () => {
    assert.deepEqual(allowedKeysAt([], configFileSchema)?.slice(0, 3), ['network', 'listen', 'upstreams']);
    assert.deepEqual(allowedKeysAt(['limits']), [
      'max_line_bytes',
      'request_timeout_ms',
      'no_upstream_wait_ms',
      'max_sessions',
      'max_sessions_per_group',
      'max_batch',
      'idle_timeout_ms',
      'handshake_timeout_ms',
      'max_unsent_bytes',
      'max_unsent_bytes_total',
      'group_prefix_ipv4',
      'group_prefix_ipv6',
      'max_response_bytes',
      'max_subscriptions_per_session',
      'max_subscriptions',
      'exempt',
    ]);
    assert.deepEqual(allowedKeysAt(['upstreams', 0]), ['url', 'name']);
    assert.deepEqual(allowedKeysAt(['server', 'hosts', 'x.example']), ['tcp_port', 'ssl_port', 'ws_port', 'wss_port']);
    assert.equal(allowedKeysAt(['network']), null);
  });
});

describe('admin_token_file', () => {
  const token = 'file-token-0123456789abcdef';
  it('reads the token from the file, relative to the config folder, and allows the admin listener beyond loopback', () => {
    writeFileSync(join(scratch, 'admin-token'), `${token}\n`);
    assert.equal(ok('admin: 0.0.0.0:8080\nadmin_token_file: admin-token\n').adminToken, token);
  });
  it('an unreadable or short token file, or both keys set, is a config error at the key', () => {
    oneProblem('admin: 0.0.0.0:8080\nadmin_token_file: no-such-token\n', 'admin_token_file', 2, 19, /cannot read admin token file .*no such file/);
    writeFileSync(join(scratch, 'short-token'), 'short\n');
    oneProblem('admin_token_file: short-token\n', 'admin_token_file', 1, 19, /at least 16 characters/);
    oneProblem(`admin_token: ${token}\nadmin_token_file: admin-token\n`, 'admin_token_file', 2, 19, /not both/);
  });
});
