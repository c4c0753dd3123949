// SPDX-License-Identifier: MIT
/**
 * Client addresses grouped by subnet, as ElectrumX does: sessions from the
 * same /24 (IPv4) or /48 (IPv6) share one cost budget and one session cap,
 * so opening more connections from one network buys nothing.
 */
import net from 'node:net';

export interface GroupingOptions {
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
}

/** The group key of an address, e.g. "1.2.3.0/24" or "2001:db8:1::/48"; non-IP peers share "unknown". */
export function groupKey(address: string, opts: GroupingOptions): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const addr = mapped ? mapped[1]! : address;
  const family = net.isIP(addr);
  if (family === 4) {
    const n = addr.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
    const bits = opts.ipv4Prefix;
    const masked = bits === 0 ? 0 : Math.floor(n / 2 ** (32 - bits)) * 2 ** (32 - bits);
    const parts = [24, 16, 8, 0].map((s) => Math.floor(masked / 2 ** s) % 256);
    return `${parts.join('.')}/${bits}`;
  }
  if (family === 6) {
    const groups = expandIPv6(addr);
    let remaining = opts.ipv6Prefix;
    const out = groups.map((g) => {
      const keep = Math.max(0, Math.min(16, remaining));
      remaining -= 16;
      return keep === 0 ? 0 : keep === 16 ? g : g & (0xffff << (16 - keep)) & 0xffff;
    });
    return `${out.map((g) => g.toString(16)).join(':')}/${opts.ipv6Prefix}`;
  }
  return 'unknown';
}

function expandIPv6(addr: string): number[] {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').flatMap(part));
  const part = (p: string): number[] => {
    // An embedded IPv4 tail (::ffff:1.2.3.4 style) is two groups.
    if (p.includes('.')) {
      const b = p.split('.').map(Number);
      return [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    }
    return [parseInt(p, 16)];
  };
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}
