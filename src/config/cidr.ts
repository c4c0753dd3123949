// SPDX-License-Identifier: MIT
/** Address lists (trusted balancers, exempt clients) as CIDRs, on Node's own BlockList. */
import net from 'node:net';

export function blockList(cidrs: readonly string[], where: string): net.BlockList {
  const list = new net.BlockList();
  for (const entry of cidrs) {
    const [address, prefixText] = entry.split('/');
    const family = net.isIP(address ?? '');
    if (family === 0) throw new Error(`${where}: "${entry}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefixText === undefined) {
      list.addAddress(address!, type);
      continue;
    }
    const prefix = Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`${where}: bad prefix length in "${entry}"`);
    list.addSubnet(address!, prefix, type);
  }
  return list;
}

/** Whether an address (v4, v6 or v4-mapped v6 as sockets report it) is in the list. */
export function inList(list: net.BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return list.check(mapped[1]!, 'ipv4');
  const family = net.isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const LOOPBACK = blockList(['127.0.0.0/8', '::1/128'], 'loopback');

/** Whether a listen host reaches only this machine (127.0.0.0/8, ::1, localhost); 0.0.0.0 and :: do not. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = net.isIPv4(h) ? 'ipv4' : net.isIPv6(h) ? 'ipv6' : null;
  if (family === null) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped ? LOOPBACK.check(mapped[1]!, 'ipv4') : LOOPBACK.check(h, family);
}
