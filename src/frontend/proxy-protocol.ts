// SPDX-License-Identifier: MIT
/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that an L4
 * load balancer puts before the client's bytes, carrying the real client
 * address. Pure parsing over a buffer that may not hold the whole header yet.
 */

export interface ProxySource {
  readonly address: string;
  readonly port: number;
}

export type ProxyParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /** source is null for LOCAL (health checks) and UNKNOWN: keep the socket's own address. */
  | { readonly kind: 'ok'; readonly consumed: number; readonly source: ProxySource | null };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** v1 headers are at most 107 bytes including CRLF. */
const V1_MAX = 107;
/** We accept v2 headers with TLVs up to this size; longer ones are refused rather than buffered. */
export const V2_MAX = 16 + 2048;

export function parseProxyHeader(buf: Buffer): ProxyParse {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) {
    return buf.length < 16 ? { kind: 'incomplete' } : parseV2(buf);
  }
  const m = Math.min(buf.length, V1_PREFIX.length);
  if (buf.subarray(0, m).equals(V1_PREFIX.subarray(0, m))) {
    return buf.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf);
  }
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n');
  if (end === -1) return buf.length >= V1_MAX ? { kind: 'invalid', reason: 'PROXY v1 header too long' } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX) return { kind: 'invalid', reason: 'PROXY v1 header too long' };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const consumed = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', consumed, source: null };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) {
    return { kind: 'invalid', reason: 'malformed PROXY v1 header' };
  }
  const port = Number(parts[4]);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !isAddress(parts[2]!, parts[1] === 'TCP4' ? 4 : 6)) {
    return { kind: 'invalid', reason: 'malformed PROXY v1 address' };
  }
  return { kind: 'ok', consumed, source: { address: parts[2]!, port } };
}

function parseV2(buf: Buffer): ProxyParse {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: 'unsupported PROXY v2 version' };
  const command = verCmd & 0x0f;
  const family = buf[13]! >> 4;
  const length = buf.readUInt16BE(14);
  if (16 + length > V2_MAX) return { kind: 'invalid', reason: 'PROXY v2 header too long' };
  if (buf.length < 16 + length) return { kind: 'incomplete' };
  const consumed = 16 + length;
  if (command === 0x0) return { kind: 'ok', consumed, source: null }; // LOCAL
  if (command !== 0x1) return { kind: 'invalid', reason: 'unknown PROXY v2 command' };
  const body = buf.subarray(16, consumed);
  if (family === 0x1) {
    if (length < 12) return { kind: 'invalid', reason: 'short PROXY v2 IPv4 block' };
    return { kind: 'ok', consumed, source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) } };
  }
  if (family === 0x2) {
    if (length < 36) return { kind: 'invalid', reason: 'short PROXY v2 IPv6 block' };
    // A dual-stack balancer reports IPv4 clients as ::ffff:a.b.c.d; keep the dotted form sockets use,
    // so the client's /24 group, exempt lists and logs see it as the IPv4 address it is.
    if (body.subarray(0, 10).every((b) => b === 0) && body.readUInt16BE(10) === 0xffff) {
      return { kind: 'ok', consumed, source: { address: `::ffff:${[...body.subarray(12, 16)].join('.')}`, port: body.readUInt16BE(32) } };
    }
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { kind: 'ok', consumed, source: { address: compressIPv6(groups), port: body.readUInt16BE(32) } };
  }
  return { kind: 'ok', consumed, source: null }; // UNSPEC or unix sockets: nothing usable
}

function isAddress(s: string, family: 4 | 6): boolean {
  if (family === 4) return /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) && s.split('.').every((p) => Number(p) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':');
}

/** The shortest text form, so the same client always gets the same key. */
function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

/** Builds headers, for tests and for anything that must speak the protocol to us. */
export function proxyV1Header(src: ProxySource, dst: ProxySource): Buffer {
  const family = src.address.includes(':') ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${family} ${src.address} ${dst.address} ${src.port} ${dst.port}\r\n`, 'latin1');
}
