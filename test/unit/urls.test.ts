// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatHostPort,
  parseHostPort,
  parseListenUrl,
  parseRedisUrl,
  parseUpstreamUrl,
  UrlError,
} from '../../src/config/urls.js';

function throwsUrl(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UrlError, `expected UrlError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('parseListenUrl', () => {
  it('parses tcp://HOST:PORT', () => {
    assert.deepEqual(parseListenUrl('tcp://0.0.0.0:50001'), {
      url: 'tcp://0.0.0.0:50001',
      scheme: 'tcp',
      host: '0.0.0.0',
      port: 50001,
      path: '/',
      options: {},
    });
  });

  it('accepts tls, ws and wss with their paths and query options', () => {
    const tls = parseListenUrl('tls://0.0.0.0:50002?cert=/etc/c.pem&key=/etc/k.pem');
    assert.equal(tls.scheme, 'tls');
    assert.equal(tls.path, '/');
    assert.deepEqual(tls.options, { cert: '/etc/c.pem', key: '/etc/k.pem' });

    const ws = parseListenUrl('ws://127.0.0.1:50003/electrum');
    assert.equal(ws.scheme, 'ws');
    assert.equal(ws.path, '/electrum');
    assert.deepEqual(ws.options, {});

    const wss = parseListenUrl('wss://example.com:443/a/b?cert=x%20y.pem&flag');
    assert.equal(wss.scheme, 'wss');
    assert.equal(wss.port, 443, 'the scheme default port is kept, not dropped as WHATWG URL would');
    assert.equal(wss.path, '/a/b');
    assert.deepEqual(wss.options, { cert: 'x y.pem', flag: '' });

    assert.equal(parseListenUrl('ws://127.0.0.1:80').path, '/', 'no path means /');
  });

  it('lower-cases the scheme and trims whitespace', () => {
    const l = parseListenUrl('  TCP://localhost:1  ');
    assert.equal(l.scheme, 'tcp');
    assert.equal(l.url, 'TCP://localhost:1');
  });

  it('takes IPv6 literals in brackets and returns them bare', () => {
    const l = parseListenUrl('tcp://[::]:50001');
    assert.equal(l.host, '::');
    assert.equal(l.port, 50001);
    assert.equal(parseListenUrl('ws://[2001:db8::1]:8080/x').host, '2001:db8::1');
  });

  it('allows port 0 for listeners (the OS picks one)', () => {
    assert.equal(parseListenUrl('tcp://127.0.0.1:0').port, 0);
  });

  it('reports a missing port', () => {
    throwsUrl(() => parseListenUrl('tcp://0.0.0.0'), /missing port/);
    throwsUrl(() => parseListenUrl('tcp://0.0.0.0:'), /missing port/);
    throwsUrl(() => parseListenUrl('tcp://[::1]'), /missing port/);
    throwsUrl(() => parseListenUrl('ws://host/path'), /missing port/);
  });

  it('reports a port out of range or not a number', () => {
    throwsUrl(() => parseListenUrl('tcp://0.0.0.0:65536'), /out of range 0-65535/);
    throwsUrl(() => parseListenUrl('tcp://0.0.0.0:99999999999'), /out of range/);
    throwsUrl(() => parseListenUrl('tcp://0.0.0.0:-1'), /not a number/);
    throwsUrl(() => parseListenUrl('tcp://0.0.0.0:5e4'), /not a number/);
  });

  it('reports an unknown scheme and names the accepted ones', () => {
    throwsUrl(() => parseListenUrl('http://0.0.0.0:80'), /unknown scheme "http:\/\/".*tcp:\/\/, tls:\/\/, ws:\/\/, wss:\/\//);
    throwsUrl(() => parseListenUrl('ssl://0.0.0.0:50002'), /for a TLS listener write tls:\/\//);
  });

  it('reports a missing scheme with the fix', () => {
    throwsUrl(() => parseListenUrl('0.0.0.0:50001'), /has no scheme.*write tcp:\/\/0\.0\.0\.0:50001/);
  });

  it('rejects unbracketed IPv6, bad hosts, credentials, fragments, and paths on raw sockets', () => {
    throwsUrl(() => parseListenUrl('tcp://::1:50001'), /IPv6 address must be written in brackets/);
    throwsUrl(() => parseListenUrl('tcp://[::1:50001'), /missing "\]"/);
    throwsUrl(() => parseListenUrl('tcp://[zz]:50001'), /not a valid IPv6/);
    throwsUrl(() => parseListenUrl('tcp://:50001'), /missing host/);
    throwsUrl(() => parseListenUrl('tcp://bad host:50001'), /not a valid host name/);
    throwsUrl(() => parseListenUrl('tcp://u:p@h:1'), /user:password@/);
    throwsUrl(() => parseListenUrl('ws://h:1/x#frag'), /fragment/);
    throwsUrl(() => parseListenUrl('tcp://h:1/electrum'), /path is only meaningful for ws/);
    throwsUrl(() => parseListenUrl(''), /empty URL/);
  });

  it('rejects repeated, nameless and badly encoded query options', () => {
    throwsUrl(() => parseListenUrl('tls://h:1?cert=a&cert=b'), /option "cert" given twice/);
    throwsUrl(() => parseListenUrl('tls://h:1?=x'), /has no name/);
    throwsUrl(() => parseListenUrl('tls://h:1?cert=%zz'), /percent-encoding/);
  });
});

describe('parseUpstreamUrl', () => {
  it('parses tcp upstreams with host names', () => {
    const u = parseUpstreamUrl('tcp://electrum.blockstream.info:50001');
    assert.equal(u.scheme, 'tcp');
    assert.equal(u.host, 'electrum.blockstream.info');
    assert.equal(u.port, 50001);
  });

  it('treats ssl:// as an alias of tls:// but keeps the URL as written', () => {
    const u = parseUpstreamUrl('ssl://electrum.example.com:50002?servername=x');
    assert.equal(u.scheme, 'tls');
    assert.equal(u.url, 'ssl://electrum.example.com:50002?servername=x');
    assert.deepEqual(u.options, { servername: 'x' });
  });

  it('accepts .onion hosts and ws paths', () => {
    assert.equal(parseUpstreamUrl('tcp://abcdefghij234567.onion:50001').host, 'abcdefghij234567.onion');
    assert.equal(parseUpstreamUrl('wss://e.example:443/electrum').path, '/electrum');
  });

  it('refuses port 0 for an upstream', () => {
    throwsUrl(() => parseUpstreamUrl('tcp://h:0'), /out of range 1-65535/);
  });

  it('names the upstream schemes, ssl included, when the scheme is unknown', () => {
    throwsUrl(() => parseUpstreamUrl('socks5://h:1'), /for an upstream; expected tcp:\/\/, tls:\/\/, ws:\/\/, wss:\/\/, ssl:\/\//);
  });
});

describe('parseHostPort', () => {
  it('parses HOST:PORT and [IPv6]:PORT', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseHostPort('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseHostPort('localhost:0'), { host: 'localhost', port: 0 });
  });

  it('reports what is wrong', () => {
    throwsUrl(() => parseHostPort('127.0.0.1'), /missing port.*127\.0\.0\.1:8080/);
    throwsUrl(() => parseHostPort('http://127.0.0.1:8080'), /has a scheme/);
    throwsUrl(() => parseHostPort('127.0.0.1:8080/metrics'), /no path/);
    throwsUrl(() => parseHostPort('127.0.0.1:70000'), /out of range/);
    throwsUrl(() => parseHostPort(''), /empty address/);
  });
});

describe('parseRedisUrl', () => {
  it('accepts redis:// and rediss:// with credentials and a database number', () => {
    assert.equal(parseRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
    assert.equal(parseRedisUrl('rediss://:secret@cache.example:6380/2'), 'rediss://:secret@cache.example:6380/2');
  });

  it('rejects other schemes, missing hosts and non-numeric databases', () => {
    throwsUrl(() => parseRedisUrl('http://h:6379'), /redis:\/\/ or rediss:\/\//);
    throwsUrl(() => parseRedisUrl('localhost:6379'), /not a URL/);
    throwsUrl(() => parseRedisUrl('redis://h:6379/cache'), /database number/);
  });
});

describe('formatHostPort', () => {
  it('brackets IPv6 only', () => {
    assert.equal(formatHostPort('::1', 1), '[::1]:1');
    assert.equal(formatHostPort('example.com', 2), 'example.com:2');
  });
});
