// SPDX-License-Identifier: MIT
/**
 * The peers file's format: JSON, versioned, one object per peer. Decoding is
 * strict about shape and lenient about count: a record that does not fit is
 * dropped (and counted), a document that does not fit is an error the store
 * reports before setting the file aside.
 */
import { PEER_SOURCES, validHost, type PeerFeatures, type PeerPorts, type PeerRecord, type PeerSource } from './peer.js';

export const PEERS_FILE_VERSION = 1;
/** More records than this in a file are ignored: the table is bounded whatever the file says. */
export const MAX_FILE_PEERS = 5000;

export class PeersFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeersFileError';
  }
}

export function encodePeersFile(network: string, peers: Iterable<PeerRecord>): string {
  return `${JSON.stringify({ version: PEERS_FILE_VERSION, network, peers: [...peers] }, null, 1)}\n`;
}

export interface DecodedPeersFile {
  readonly peers: PeerRecord[];
  /** Records dropped because they did not fit the format. */
  readonly dropped: number;
}

export function decodePeersFile(text: string, network: string): DecodedPeersFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PeersFileError(`not valid JSON (${(err as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new PeersFileError('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.version !== PEERS_FILE_VERSION) throw new PeersFileError(`version ${JSON.stringify(d.version)} is not ${PEERS_FILE_VERSION}`);
  if (d.network !== network) throw new PeersFileError(`written for network ${JSON.stringify(d.network)}, not ${network}`);
  if (!Array.isArray(d.peers)) throw new PeersFileError('"peers" is not a list');
  const peers: PeerRecord[] = [];
  const seen = new Set<string>();
  let dropped = 0;
  for (const raw of d.peers.slice(0, MAX_FILE_PEERS)) {
    const p = decodeRecord(raw);
    if (p === null || seen.has(p.host)) dropped++;
    else {
      seen.add(p.host);
      peers.push(p);
    }
  }
  return { peers, dropped: dropped + Math.max(0, d.peers.length - MAX_FILE_PEERS) };
}

const isTime = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;

function decodeRecord(raw: unknown): PeerRecord | null {
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.host !== 'string' || !validHost(r.host)) return null;
  if (typeof r.source !== 'string' || !PEER_SOURCES.includes(r.source as PeerSource)) return null;
  if (!isTime(r.lastGood) || !isTime(r.lastTry)) return null;
  if (typeof r.tryCount !== 'number' || !Number.isInteger(r.tryCount) || r.tryCount < 0) return null;
  if (!Array.isArray(r.ipAddresses) || !r.ipAddresses.every((a) => typeof a === 'string')) return null;
  if (r.ports === null || typeof r.ports !== 'object') return null;
  const ports: { -readonly [K in keyof PeerPorts]: number } = {};
  for (const k of ['tcp', 'ssl', 'ws', 'wss'] as const) {
    const v = (r.ports as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (!isPort(v)) return null;
    ports[k] = v;
  }
  if (Object.keys(ports).length === 0) return null;
  let features: PeerFeatures | null = null;
  if (r.features !== null) {
    const f = r.features as Record<string, unknown> | undefined;
    if (!f || typeof f.serverVersion !== 'string' || typeof f.protocolMin !== 'string' || typeof f.protocolMax !== 'string') return null;
    if (f.pruning !== null && !(typeof f.pruning === 'number' && Number.isInteger(f.pruning))) return null;
    features = { serverVersion: f.serverVersion, protocolMin: f.protocolMin, protocolMax: f.protocolMax, pruning: f.pruning as number | null };
  }
  return {
    host: r.host.toLowerCase(),
    ports,
    features,
    source: r.source as PeerSource,
    lastGood: r.lastGood,
    lastTry: r.lastTry,
    tryCount: r.tryCount,
    ipAddresses: (r.ipAddresses as string[]).slice(0, 16),
  };
}
