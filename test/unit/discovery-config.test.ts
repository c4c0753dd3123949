// SPDX-License-Identifier: MIT
/** The discovery.* keys: defaults, paths resolved against the config file, a bad tor_proxy reported with its place. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, formatProblem, parseConfigText } from '../../src/config/load.js';

const parse = (text: string) => parseConfigText(text, { source: 'proxy.yaml', baseDir: '/etc/eg' });

describe('discovery config', () => {
  it('defaults to off, Tor auto-detected, nothing on disk', () => {
    assert.deepEqual(defaultConfig().discovery, {
      enabled: false,
      peersFile: null,
      torProxy: 'auto',
      torBanner: null,
      torBannerFile: null,
      joinPool: false,
      announce: true,
      allowPrivate: false,
      verifyConcurrency: 4,
      verifyTimeoutMs: 30_000,
      maxPeers: 1000,
    });
  });

  it('resolves peers_file against the config file and takes a socks5 tor_proxy', () => {
    const r = parse('discovery:\n  enabled: true\n  peers_file: peers.json\n  tor_proxy: socks5://127.0.0.1:9150\n');
    if (!r.ok) assert.fail(r.problems.map(formatProblem).join('\n'));
    assert.equal(r.config.discovery?.peersFile, '/etc/eg/peers.json');
    assert.equal(r.config.discovery?.torProxy, 'socks5://127.0.0.1:9150');
    assert.equal(r.config.discovery?.enabled, true);
  });

  it('refuses a SOCKS4 or malformed tor_proxy and an unknown key, saying where', () => {
    const bad = parse('discovery:\n  tor_proxy: socks4://127.0.0.1:9050\n');
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.problems.map(formatProblem).join('\n'), /proxy\.yaml:2:\d+: discovery\.tor_proxy: .*SOCKS5/);
    const typo = parse('discovery:\n  max_peer: 3\n');
    assert.equal(typo.ok, false);
    assert.match(typo.ok ? '' : typo.problems.map(formatProblem).join('\n'), /discovery\.max_peer: unknown key "max_peer" \(did you mean "max_peers"\?\)/);
  });
});
