// SPDX-License-Identifier: MIT
/**
 * Upstream URL options (src/upstream/definitions.ts): what ?ca=, ?insecure=,
 * ?ssl_port=, ?tcp_port=, ?socks=, ?weight=, ?max_connections= and ?labels=
 * turn into, and the operator-facing errors for bad values.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { UpstreamConfig } from '../../src/config/types.js';
import { parseUpstreamUrl } from '../../src/config/urls.js';
import { DEFAULT_MAX_CONNECTIONS, parseSocksUrl, parseUpstreamOptions, upstreamDefinition } from '../../src/upstream/definitions.js';

function configOf(url: string, name?: string): UpstreamConfig {
  const u = parseUpstreamUrl(url);
  return { name: name ?? `${u.host}:${u.port}`, url: u.url, scheme: u.scheme, host: u.host, port: u.port, path: u.path, options: u.options };
}

describe('parseUpstreamOptions', () => {
  it('has defaults: verified TLS, weight 1, two connections, no labels, no proxy', () => {
    assert.deepEqual(parseUpstreamOptions({}), { insecure: false, weight: 1, maxConnections: DEFAULT_MAX_CONNECTIONS, maxInFlight: 100, labels: {} });
    assert.equal(DEFAULT_MAX_CONNECTIONS, 2);
  });

  it('reads every option', () => {
    const o = parseUpstreamOptions({
      ca: '/etc/ca.pem',
      insecure: '1',
      ssl_port: '50002',
      tcp_port: '50001',
      socks: 'socks5://127.0.0.1:9050',
      weight: '2.5',
      max_connections: '4',
      max_in_flight: '16',
      labels: 'region:eu, software:fulcrum,url:http://x:1',
    });
    assert.deepEqual(o, {
      ca: '/etc/ca.pem',
      insecure: true,
      sslPort: 50002,
      tcpPort: 50001,
      socks: { version: 5, host: '127.0.0.1', port: 9050 },
      weight: 2.5,
      maxConnections: 4,
      maxInFlight: 16,
      labels: { region: 'eu', software: 'fulcrum', url: 'http://x:1' },
    });
  });

  it('takes 1/true/yes/empty and 0/false/no for insecure, and nothing else', () => {
    for (const v of ['1', 'true', 'TRUE', 'yes', '']) assert.equal(parseUpstreamOptions({ insecure: v }).insecure, true, v);
    for (const v of ['0', 'false', 'No']) assert.equal(parseUpstreamOptions({ insecure: v }).insecure, false, v);
    assert.throws(() => parseUpstreamOptions({ insecure: 'maybe' }), /insecure=maybe: expected 1\/true or 0\/false/);
  });

  it('names unknown options and lists the known ones', () => {
    assert.throws(() => parseUpstreamOptions({ wieght: '2' }), /unknown upstream option wieght; known: ca, insecure, ssl_port, tcp_port, socks, weight, max_connections, max_in_flight, labels/);
    assert.throws(() => parseUpstreamOptions({ a: '1', b: '2' }), /unknown upstream options a, b/);
  });

  it('checks ports, weights and connection counts', () => {
    for (const v of ['0', '65536', 'x', '1.5', '-1']) assert.throws(() => parseUpstreamOptions({ ssl_port: v }), /ssl_port=.*expected a port from 1 to 65535/, v);
    assert.throws(() => parseUpstreamOptions({ tcp_port: '70000' }), /tcp_port=70000/);
    for (const v of ['0', '-1', 'abc', '1001', 'Infinity']) assert.throws(() => parseUpstreamOptions({ weight: v }), /weight=.*above 0 and at most 1000/, v);
    assert.equal(parseUpstreamOptions({ weight: '0.25' }).weight, 0.25);
    for (const v of ['0', '1.5', '1001']) assert.throws(() => parseUpstreamOptions({ max_connections: v }), /max_connections=.*whole number/, v);
    assert.equal(parseUpstreamOptions({ max_connections: '12' }).maxConnections, 12);
    for (const v of ['0', '2.5', '1001']) assert.throws(() => parseUpstreamOptions({ max_in_flight: v }), /max_in_flight=.*whole number/, v);
  });

  it('rejects labels that are not key:value pairs', () => {
    assert.throws(() => parseUpstreamOptions({ labels: 'eu' }), /labels=eu: expected key:value pairs/);
    assert.throws(() => parseUpstreamOptions({ labels: 'a:1,:2' }), /expected key:value/);
  });

  it('a global proxy applies unless the upstream names its own', () => {
    assert.deepEqual(parseUpstreamOptions({}, 'socks5://10.0.0.1:9050').socks, { version: 5, host: '10.0.0.1', port: 9050 });
    assert.deepEqual(parseUpstreamOptions({ socks: 'socks4://127.0.0.1:1080' }, 'socks5://10.0.0.1:9050').socks, { version: 4, host: '127.0.0.1', port: 1080 });
    assert.equal(parseUpstreamOptions({}, null).socks, undefined);
  });
});

describe('parseSocksUrl', () => {
  it('socks5, socks5h, socks4 and socks4a', () => {
    assert.deepEqual(parseSocksUrl('socks5://127.0.0.1:9050'), { version: 5, host: '127.0.0.1', port: 9050 });
    assert.deepEqual(parseSocksUrl('SOCKS5H://tor:9050/'), { version: 5, host: 'tor', port: 9050 });
    assert.deepEqual(parseSocksUrl('socks4://127.0.0.1:1080'), { version: 4, host: '127.0.0.1', port: 1080 });
    assert.deepEqual(parseSocksUrl('socks4a://127.0.0.1:1080'), { version: 4, host: '127.0.0.1', port: 1080 });
    assert.deepEqual(parseSocksUrl('socks5://[::1]:9050'), { version: 5, host: '::1', port: 9050 });
  });

  it('user and password, percent-decoded; SOCKS4 takes a user id but no password', () => {
    assert.deepEqual(parseSocksUrl('socks5://al%40ice:p%3Ass@127.0.0.1:9050'), { version: 5, host: '127.0.0.1', port: 9050, username: 'al@ice', password: 'p:ss' });
    assert.deepEqual(parseSocksUrl('socks4://ident@127.0.0.1:1080'), { version: 4, host: '127.0.0.1', port: 1080, username: 'ident' });
    assert.throws(() => parseSocksUrl('socks4://u:p@127.0.0.1:1080'), /SOCKS4 has no passwords/);
  });

  it('rejects what is not a SOCKS proxy URL', () => {
    for (const bad of ['http://127.0.0.1:8080', 'socks5://127.0.0.1', '127.0.0.1:9050', 'socks5://h:99999', 'socks6://h:1']) {
      assert.throws(() => parseSocksUrl(bad), /socks|port/i, bad);
    }
  });
});

describe('upstreamDefinition', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eg-defs-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a plain tcp upstream: one endpoint, no TLS settings, default weight and connections', () => {
    const d = upstreamDefinition(configOf('tcp://electrum.example.com:50001'));
    assert.deepEqual(d, {
      name: 'electrum.example.com:50001',
      endpoints: [{ name: 'electrum.example.com:50001', host: 'electrum.example.com', path: '/', scheme: 'tcp', port: 50001 }],
      weight: 1,
      maxConnections: 2,
      maxInFlight: 100,
      labels: {},
    });
  });

  it('tcp with ssl_port: the TLS port is the second endpoint and carries the TLS settings', () => {
    const d = upstreamDefinition(configOf(`tcp://127.0.0.1:50001?ssl_port=50002&ca=${caFile}`, 'both'));
    assert.deepEqual(
      d.endpoints.map((e) => [e.scheme, e.port]),
      [
        ['tcp', 50001],
        ['tls', 50002],
      ],
    );
    assert.match(d.endpoints[1]!.tls!.ca!, /BEGIN CERTIFICATE/);
    assert.equal(d.endpoints[1]!.tls!.insecure, false);
  });

  it('ssl:// with tcp_port: TLS first, then the TCP port', () => {
    const d = upstreamDefinition(configOf('ssl://127.0.0.1:50002?tcp_port=50001&insecure=1'));
    assert.deepEqual(
      d.endpoints.map((e) => [e.scheme, e.port, e.tls?.insecure]),
      [
        ['tls', 50002, true],
        ['tcp', 50001, true],
      ],
    );
  });

  it('ssl_port on a TLS upstream and tcp_port on a TCP one add nothing', () => {
    assert.equal(upstreamDefinition(configOf('tls://h:50002?ssl_port=50003')).endpoints.length, 1);
    assert.equal(upstreamDefinition(configOf('tcp://h:50001?tcp_port=50003')).endpoints.length, 1);
  });

  it('a CA file that cannot be read is an error naming the upstream and the file', () => {
    assert.throws(() => upstreamDefinition(configOf(`tls://h:50002?ca=${join(dir, 'missing.pem')}`, 'fulcrum-1')), /upstream fulcrum-1: cannot read CA file .*missing\.pem/);
  });

  it('a .onion upstream through SOCKS keeps its name for the proxy, on every endpoint', () => {
    const onion = 'explorerzydxu5ecjrkwceayqybizmpjjznk5izmitf2modhcusuqlid.onion';
    const d = upstreamDefinition(configOf(`tcp://${onion}:50001?ssl_port=50002&socks=socks5://127.0.0.1:9050&insecure=1&weight=3&labels=net:tor`));
    assert.equal(d.weight, 3);
    assert.deepEqual(d.labels, { net: 'tor' });
    for (const e of d.endpoints) {
      assert.equal(e.host, onion);
      assert.deepEqual(e.socks, { version: 5, host: '127.0.0.1', port: 9050 });
    }
    const viaGlobal = upstreamDefinition(configOf(`tcp://${onion}:50001`), 'socks4a://127.0.0.1:9050');
    assert.deepEqual(viaGlobal.endpoints[0]!.socks, { version: 4, host: '127.0.0.1', port: 9050 });
  });

  it('ws and wss keep their path', () => {
    const d = upstreamDefinition(configOf('wss://h:50004/electrum?max_connections=1'));
    assert.equal(d.endpoints[0]!.scheme, 'wss');
    assert.equal(d.endpoints[0]!.path, '/electrum');
    assert.equal(d.maxConnections, 1);
  });
});
