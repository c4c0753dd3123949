// SPDX-License-Identifier: MIT
/**
 * Which addresses a public peer may have, and the bucket an address falls in
 * when peers are reported (a handful of servers in one /16 must not fill a
 * wallet's list: a cheap sybil defence, as ElectrumX buckets its answer).
 * Pure apart from node:net's address parsing.
 */
import net from 'node:net';

const PRIVATE = new net.BlockList();
for (const [addr, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE.addSubnet(addr, prefix, 'ipv4');
}
for (const [addr, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(addr, prefix, 'ipv6');
}

/** "::ffff:1.2.3.4" (an IPv4 client on a dual-stack socket) as "1.2.3.4"; anything else as given, lower case. */
export function normalizeAddress(address: string): string {
  const a = address.toLowerCase();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return m ? m[1]! : a;
}

/** True for an address a public server could have: not private, loopback, link-local, multicast or reserved. */
export function isPublicAddress(address: string): boolean {
  const a = normalizeAddress(address);
  const family = net.isIP(a);
  if (family === 0) return false;
  return !PRIVATE.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

/** The /16 of an IPv4 address or the /32 of an IPv6 one; null for what is not public (never bucketed). */
export function addressBucket(address: string): string | null {
  const a = normalizeAddress(address);
  if (!isPublicAddress(a)) return null;
  if (net.isIPv4(a)) return a.split('.').slice(0, 2).join('.');
  const groups = expandIpv6(a);
  return groups.slice(0, 2).join(':');
}

function expandIpv6(a: string): string[] {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0'));
}
