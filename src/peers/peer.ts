// SPDX-License-Identifier: MIT
/**
 * What the gateway knows about one Electrum peer server, and the pure rules
 * that turn a record into a state and into a server.peers.subscribe entry.
 * No I/O here: verification and the peers file live in their own modules.
 */
import type { Network } from '../config/networks.js';

export type PeerSource = 'config' | 'seed' | 'peer' | 'add_peer';
export const PEER_SOURCES: readonly PeerSource[] = ['config', 'seed', 'peer', 'add_peer'];

export interface PeerPorts {
  readonly tcp?: number;
  readonly ssl?: number;
  readonly ws?: number;
  readonly wss?: number;
}

/** The parts of a peer's server.features we keep once it is verified. */
export interface PeerFeatures {
  readonly serverVersion: string;
  readonly protocolMin: string;
  readonly protocolMax: string;
  readonly pruning: number | null;
}

export interface PeerRecord {
  /** Lower-case host name (or IP literal, or .onion name) the peer is reached at. */
  readonly host: string;
  readonly ports: PeerPorts;
  /** As last verified; null until the first successful verification. */
  readonly features: PeerFeatures | null;
  readonly source: PeerSource;
  /** Epoch ms of the last successful verification, or null if never. */
  readonly lastGood: number | null;
  /** Epoch ms of the last verification attempt, or null if never tried. */
  readonly lastTry: number | null;
  /** Failed attempts since the last success. */
  readonly tryCount: number;
  /** Addresses the host resolved to when last verified. */
  readonly ipAddresses: readonly string[];
}

export type PeerState = 'new' | 'good' | 'stale' | 'failing';
export const PEER_STATES: readonly PeerState[] = ['new', 'good', 'stale', 'failing'];

/** A peer verified within this long is reported to clients (ElectrumX: 24 hours). */
export const GOOD_WINDOW_MS = 24 * 3600_000;

export function isOnion(host: string): boolean {
  return host.toLowerCase().endsWith('.onion');
}

export function peerState(p: PeerRecord, now: number): PeerState {
  if (p.lastTry === null) return 'new';
  if (p.lastGood !== null && p.tryCount === 0 && now - p.lastGood < GOOD_WINDOW_MS) return 'good';
  if (p.lastGood !== null) return 'stale';
  return 'failing';
}

const PORT_KEYS = { tcp: 'tcp_port', ssl: 'ssl_port', ws: 'ws_port', wss: 'wss_port' } as const;

function validPort(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : undefined;
}

/**
 * The ports server.features' `hosts` gives for `host` (matched without regard
 * to case), or null when the peer does not list that host: the spec says a
 * server ignores what a peer says about any host other than the one reached.
 */
export function portsFromFeatures(features: unknown, host: string): PeerPorts | null {
  if (features === null || typeof features !== 'object') return null;
  const hosts = (features as Record<string, unknown>).hosts;
  if (hosts === null || typeof hosts !== 'object') return null;
  const wanted = host.toLowerCase();
  const entry = Object.entries(hosts as Record<string, unknown>).find(([h]) => h.toLowerCase() === wanted)?.[1];
  if (entry === null || typeof entry !== 'object') return null;
  const e = entry as Record<string, unknown>;
  const ports: { -readonly [K in keyof PeerPorts]: number } = {};
  for (const [k, key] of Object.entries(PORT_KEYS) as [keyof PeerPorts, string][]) {
    const port = validPort(e[key]);
    if (port !== undefined) ports[k] = port;
  }
  return ports;
}

/**
 * One entry of a server.peers.subscribe answer from another server:
 * [ip, host, ["v1.4", "s50002", "t", "p10000"]]. A bare "t" or "s" means the
 * network's default port. Returns null for anything malformed.
 */
export function parsePeerEntry(entry: unknown, network: Network): { host: string; ports: PeerPorts } | null {
  if (!Array.isArray(entry) || entry.length < 3 || typeof entry[1] !== 'string' || !Array.isArray(entry[2])) return null;
  const host = entry[1].trim().toLowerCase();
  if (!validHost(host)) return null;
  const ports: { tcp?: number; ssl?: number } = {};
  for (const f of entry[2] as unknown[]) {
    if (typeof f !== 'string') continue;
    const m = /^([ts])(\d*)$/.exec(f);
    if (!m) continue;
    const port = m[2] === '' ? (m[1] === 't' ? network.defaultPorts.tcp : network.defaultPorts.ssl) : validPort(Number(m[2]));
    if (port === undefined) continue;
    if (m[1] === 't') ports.tcp = port;
    else ports.ssl = port;
  }
  if (ports.tcp === undefined && ports.ssl === undefined) return null;
  return { host, ports };
}

/** A plausible host: a DNS name, an IPv4 literal or an IPv6 literal, of bounded length. */
export function validHost(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  if (/^[0-9a-f:]+$/i.test(host) && host.includes(':')) return true;
  return /^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$/i.test(host);
}

/**
 * The server.peers.subscribe form of a verified peer: its first address (or
 * the host itself), the host, and the features list — "v" the maximum
 * protocol version (the current spec), "p" the pruning limit when it prunes,
 * "s"/"t" the ports, the network's default port written as a bare letter.
 */
export function subscribeEntry(p: PeerRecord, network: Network): [string, string, string[]] {
  const features: string[] = [];
  if (p.features) features.push(`v${p.features.protocolMax}`);
  if (p.features?.pruning !== null && p.features?.pruning !== undefined) features.push(`p${p.features.pruning}`);
  if (p.ports.ssl !== undefined) features.push(p.ports.ssl === network.defaultPorts.ssl ? 's' : `s${p.ports.ssl}`);
  if (p.ports.tcp !== undefined) features.push(p.ports.tcp === network.defaultPorts.tcp ? 't' : `t${p.ports.tcp}`);
  return [p.ipAddresses[0] ?? p.host, p.host, features];
}

/** A record for a candidate not yet tried. */
export function newPeer(host: string, ports: PeerPorts, source: PeerSource): PeerRecord {
  return { host: host.toLowerCase(), ports, features: null, source, lastGood: null, lastTry: null, tryCount: 0, ipAddresses: [] };
}
