// SPDX-License-Identifier: MIT
/**
 * The verdict on one candidate peer from what it answered, without I/O: the
 * network (genesis hash), the host it was reached at listed in its `hosts`,
 * a protocol range overlapping ours, a tip within 5 blocks of the chain
 * tracker's, and the header 10 blocks below its tip equal to ours (a peer on
 * a fork is refused).
 */
import { blockHash } from '../protocol/bitcoin/header.js';
import { compareVersions, parseVersion } from '../protocol/version.js';
import { portsFromFeatures, type PeerFeatures, type PeerPorts } from './peer.js';

export const MAX_TIP_DISTANCE = 5;
export const FORK_CHECK_DEPTH = 10;

export type Refusal = 'wrong-network' | 'hosts' | 'protocol' | 'lagging' | 'fork' | 'malformed';

export interface PeerAnswers {
  /** The host we connected to. */
  readonly host: string;
  readonly features: unknown;
  readonly tipHeight: number;
  /** Hex of its header at tipHeight - FORK_CHECK_DEPTH. */
  readonly checkHeader: string;
}

export interface OurView {
  readonly genesisHash: string;
  readonly protocolMin: string;
  readonly protocolMax: string;
  readonly tipHeight: number;
  /** Our block hash at a height, when the tracker holds it. */
  hashAt(height: number): string | undefined;
}

export type Verdict =
  | { readonly ok: true; readonly features: PeerFeatures; readonly ports: PeerPorts }
  | { readonly ok: false; readonly refusal: Refusal; readonly reason: string };

const refuse = (refusal: Refusal, reason: string): Verdict => ({ ok: false, refusal, reason });

export function judgePeer(a: PeerAnswers, ours: OurView): Verdict {
  if (a.features === null || typeof a.features !== 'object') return refuse('malformed', 'server.features is not an object');
  const f = a.features as Record<string, unknown>;
  if (f.genesis_hash !== ours.genesisHash) return refuse('wrong-network', `genesis_hash ${String(f.genesis_hash).slice(0, 64)} is another network's`);
  const ports = portsFromFeatures(f, a.host);
  if (ports === null || Object.keys(ports).length === 0) return refuse('hosts', `features.hosts does not list ${a.host}`);
  const min = parseVersion(f.protocol_min);
  const max = parseVersion(f.protocol_max);
  if (!min || !max || compareVersions(min, max) > 0) return refuse('malformed', 'protocol_min/protocol_max are not versions');
  if (compareVersions(max, parseVersion(ours.protocolMin)!) < 0 || compareVersions(min, parseVersion(ours.protocolMax)!) > 0) {
    return refuse('protocol', `protocol ${String(f.protocol_min)}-${String(f.protocol_max)} does not overlap ${ours.protocolMin}-${ours.protocolMax}`);
  }
  if (!Number.isInteger(a.tipHeight) || Math.abs(a.tipHeight - ours.tipHeight) > MAX_TIP_DISTANCE) {
    return refuse('lagging', `tip ${a.tipHeight} is more than ${MAX_TIP_DISTANCE} blocks from ours (${ours.tipHeight})`);
  }
  const checkHeight = a.tipHeight - FORK_CHECK_DEPTH;
  const expected = ours.hashAt(checkHeight);
  let theirs: string;
  try {
    theirs = blockHash(a.checkHeader);
  } catch {
    return refuse('malformed', `header at ${checkHeight} is not a header`);
  }
  if (expected === undefined || theirs !== expected) return refuse('fork', `header at ${checkHeight} is ${theirs}, ours is ${expected ?? 'unknown'}`);
  const pruning = typeof f.pruning === 'number' && Number.isInteger(f.pruning) ? f.pruning : null;
  const serverVersion = typeof f.server_version === 'string' ? f.server_version.slice(0, 80) : '';
  return { ok: true, ports, features: { serverVersion, protocolMin: String(f.protocol_min), protocolMax: String(f.protocol_max), pruning } };
}
