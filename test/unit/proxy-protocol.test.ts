// SPDX-License-Identifier: MIT
/**
 * The PROXY protocol parser (HAProxy's proxy-protocol.txt, versions 1 and 2)
 * over buffers that hold part of a header, all of it, or a header and the
 * client's first bytes. v2 headers are built here byte by byte from the
 * spec, independently of the parser.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { V2_MAX, parseProxyHeader, proxyV1Header, type ProxyParse } from '../../src/frontend/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: 12-byte signature, version/command, family/protocol, length, address block, TLVs. */
function v2(opts: { command?: number; version?: number; family?: number; block: Buffer; tlv?: Buffer; length?: number }): Buffer {
  const tlv = opts.tlv ?? Buffer.alloc(0);
  const head = Buffer.alloc(4);
  head[0] = ((opts.version ?? 2) << 4) | (opts.command ?? 1);
  head[1] = opts.family ?? 0x11;
  head.writeUInt16BE(opts.length ?? opts.block.length + tlv.length, 2);
  return Buffer.concat([SIG, head, opts.block, tlv]);
}

function ipv4Block(src: string, dst: string, srcPort: number, dstPort: number): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((p, i) => (b[i] = Number(p)));
  dst.split('.').forEach((p, i) => (b[4 + i] = Number(p)));
  b.writeUInt16BE(srcPort, 8);
  b.writeUInt16BE(dstPort, 10);
  return b;
}

/** 16 bytes of an IPv6 address given as 8 hex groups. */
function ipv6Bytes(groups: number[]): Buffer {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

function ipv6Block(src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(srcPort, 0);
  ports.writeUInt16BE(dstPort, 2);
  return Buffer.concat([ipv6Bytes(src), ipv6Bytes(dst), ports]);
}

function ok(parse: ProxyParse): { consumed: number; source: { address: string; port: number } | null } {
  assert.equal(parse.kind, 'ok', `expected a parsed header, got ${JSON.stringify(parse)}`);
  return parse as { kind: 'ok'; consumed: number; source: { address: string; port: number } | null };
}

function invalid(parse: ProxyParse): string {
  assert.equal(parse.kind, 'invalid', `expected a refused header, got ${JSON.stringify(parse)}`);
  return (parse as { reason: string }).reason;
}

describe('PROXY protocol v1', () => {
  it('reads the source address and port of TCP4 and says how many bytes the header took', () => {
    const header = 'PROXY TCP4 203.0.113.7 192.0.2.1 51234 50001\r\n';
    const after = '{"id":1,"method":"server.ping"}\n';
    const r = ok(parseProxyHeader(Buffer.from(header + after)));
    assert.deepEqual(r.source, { address: '203.0.113.7', port: 51234 });
    assert.equal(r.consumed, header.length);
  });

  it('reads TCP6 sources', () => {
    const r = ok(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 40000 50002\r\n')));
    assert.deepEqual(r.source, { address: '2001:db8::7', port: 40000 });
  });

  it('UNKNOWN keeps the connection address (source null), whatever follows the keyword', () => {
    assert.equal(ok(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).source, null);
    const r = ok(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest')));
    assert.equal(r.source, null);
    assert.equal(r.consumed, 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'.length);
  });

  it('waits for more bytes on every strict prefix of a header', () => {
    const header = 'PROXY TCP4 203.0.113.7 192.0.2.1 51234 50001\r\n';
    for (let n = 0; n < header.length; n++) {
      assert.deepEqual(parseProxyHeader(Buffer.from(header.slice(0, n))), { kind: 'incomplete' }, `prefix of ${n} bytes`);
    }
  });

  it('refuses a header with no CRLF within 107 bytes, instead of buffering more', () => {
    const long = Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`);
    assert.match(invalid(parseProxyHeader(long)), /too long/);
    const crlfTooLate = Buffer.from(`PROXY TCP4 203.0.113.7 192.0.2.1 51234 50001${' '.repeat(70)}\r\n`);
    assert.match(invalid(parseProxyHeader(crlfTooLate)), /too long/);
  });

  it('refuses malformed headers', () => {
    const bad = [
      'PROXY TCP4 203.0.113.7 192.0.2.1 51234\r\n', // a field missing
      'PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n', // unknown protocol
      'PROXY TCP4 203.0.113.256 192.0.2.1 1 2\r\n', // octet over 255
      'PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n', // v6 address under TCP4
      'PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n', // v4 address under TCP6
      'PROXY TCP4 203.0.113.7 192.0.2.1 65536 2\r\n', // port out of range
      'PROXY TCP4 203.0.113.7 192.0.2.1 x 2\r\n', // port not a number
      'PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n', // double space
    ];
    for (const h of bad) assert.equal(parseProxyHeader(Buffer.from(h)).kind, 'invalid', JSON.stringify(h));
  });

  it('refuses a connection that starts with anything but a PROXY header', () => {
    for (const start of ['{"id":1,"method":"server.version"}\n', 'GET / HTTP/1.1\r\n', '\x16\x03\x01\x02\x00', 'proxy TCP4']) {
      assert.match(invalid(parseProxyHeader(Buffer.from(start, 'latin1'))), /no PROXY protocol header/, JSON.stringify(start));
    }
  });

  it('proxyV1Header builds what the parser reads back', () => {
    for (const src of [
      { address: '198.51.100.20', port: 1 },
      { address: '2001:db8:abcd::42', port: 65535 },
    ]) {
      const dst = src.address.includes(':') ? { address: '2001:db8::1', port: 50001 } : { address: '192.0.2.1', port: 50001 };
      const header = proxyV1Header(src, dst);
      assert.ok(header.toString('latin1').startsWith(src.address.includes(':') ? 'PROXY TCP6 ' : 'PROXY TCP4 '));
      const r = ok(parseProxyHeader(header));
      assert.deepEqual(r.source, src);
      assert.equal(r.consumed, header.length);
    }
  });
});

describe('PROXY protocol v2', () => {
  it('reads an IPv4 source (PROXY command, TCP over IPv4)', () => {
    const header = v2({ block: ipv4Block('198.51.100.9', '192.0.2.1', 40001, 50001) });
    const r = ok(parseProxyHeader(Buffer.concat([header, Buffer.from('\x16\x03\x01')])));
    assert.deepEqual(r.source, { address: '198.51.100.9', port: 40001 });
    assert.equal(r.consumed, 16 + 12);
  });

  it('reads an IPv6 source in its shortest text form', () => {
    const cases: [number[], string][] = [
      [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], '2001:db8::7'],
      [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 0], '2001:db8:0:1::'],
      [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
      [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'], // a single zero group is not shortened
      [[0x2001, 0, 0, 1, 0, 0, 0, 1], '2001:0:0:1::1'], // the longest run of zeros is the one shortened
      [[0xfe80, 0, 0, 0xabcd, 0xef01, 0, 0, 0], 'fe80:0:0:abcd:ef01::'],
    ];
    for (const [groups, text] of cases) {
      const r = ok(parseProxyHeader(v2({ family: 0x21, block: ipv6Block(groups, [0, 0, 0, 0, 0, 0, 0, 1], 1234, 50002) })));
      assert.equal(r.source?.address, text);
      assert.equal(net.isIPv6(r.source!.address), true);
      assert.equal(r.source?.port, 1234);
    }
  });

  it('reads an IPv4-mapped IPv6 source (a dual-stack balancer) in the dotted form sockets use', () => {
    const mapped = [0, 0, 0, 0, 0, 0xffff, (203 << 8) | 0, (113 << 8) | 7];
    const r = ok(parseProxyHeader(v2({ family: 0x21, block: ipv6Block(mapped, mapped, 5555, 50001) })));
    assert.deepEqual(r.source, { address: '::ffff:203.0.113.7', port: 5555 });
  });

  it('skips TLVs: the whole declared length is consumed', () => {
    const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x01, 0x00]); // ALPN "h2", NOOP
    const header = v2({ block: ipv4Block('198.51.100.9', '192.0.2.1', 40001, 50001), tlv });
    const r = ok(parseProxyHeader(Buffer.concat([header, Buffer.from('{}\n')])));
    assert.equal(r.consumed, header.length);
    assert.equal(r.source?.address, '198.51.100.9');
  });

  it('LOCAL (a balancer health check) and UNSPEC keep the connection address', () => {
    assert.equal(ok(parseProxyHeader(v2({ command: 0, family: 0x00, block: Buffer.alloc(0) }))).source, null);
    const local = ok(parseProxyHeader(v2({ command: 0, block: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2) })));
    assert.equal(local.source, null, 'LOCAL ignores the address block');
    assert.equal(local.consumed, 28);
    assert.equal(ok(parseProxyHeader(v2({ family: 0x00, block: Buffer.alloc(0) }))).source, null);
    assert.equal(ok(parseProxyHeader(v2({ family: 0x31, block: Buffer.alloc(216) }))).source, null, 'AF_UNIX');
  });

  it('waits for more bytes on every strict prefix of a header', () => {
    const header = v2({ family: 0x21, block: ipv6Block([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0, 0, 0, 0, 0, 0, 0, 1], 1, 2) });
    for (let n = 0; n < header.length; n++) {
      assert.deepEqual(parseProxyHeader(header.subarray(0, n)), { kind: 'incomplete' }, `prefix of ${n} bytes`);
    }
    assert.equal(parseProxyHeader(header).kind, 'ok');
  });

  it('refuses bad versions, commands, short address blocks and oversized headers', () => {
    const block = ipv4Block('198.51.100.9', '192.0.2.1', 1, 2);
    assert.match(invalid(parseProxyHeader(v2({ version: 1, block }))), /version/);
    assert.match(invalid(parseProxyHeader(v2({ command: 2, block }))), /command/);
    assert.match(invalid(parseProxyHeader(v2({ block: block.subarray(0, 8) }))), /short/);
    assert.match(invalid(parseProxyHeader(v2({ family: 0x21, block: Buffer.alloc(20) }))), /short/);
    // Declared longer than we accept: refused from the fixed part alone, nothing more is buffered.
    const huge = v2({ block, length: V2_MAX });
    assert.match(invalid(parseProxyHeader(huge.subarray(0, 16))), /too long/);
  });
});
