// SPDX-License-Identifier: MIT
/**
 * The I/O of verifying one candidate peer: connect on one of its ports (the
 * other when that fails), server.version and server.features (through the
 * upstream connection code, so TLS, WebSocket and SOCKS5 for .onion work as
 * for upstreams), its tip and its header 10 blocks below it, then the pure
 * verdict of verify.ts. On the way it collects the peer's own peer list and,
 * when asked to, announces the gateway to a peer that lacks it.
 */
import { UpstreamConnection, UpstreamError } from '../upstream/connection.js';
import type { SocksProxyConfig, TransportScheme } from '../upstream/transport.js';
import type { Logger } from '../observability/logger.js';
import { isOnion, type PeerFeatures, type PeerPorts } from './peer.js';
import { FORK_CHECK_DEPTH, judgePeer, type OurView, type Refusal } from './verify.js';

export interface ProbeTarget {
  readonly host: string;
  readonly ports: PeerPorts;
}

export interface ProbeOptions {
  readonly clientName: string;
  readonly protocolRange: readonly [string, string];
  /** Connecting, and each answer. */
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  readonly logger: Logger;
}

export interface ProbeContext {
  /** The gateway's view of the chain; null while the chain tracker has no tip (nothing can be judged). */
  readonly ours: OurView | null;
  /** The SOCKS5 proxy for .onion hosts, or null (an onion peer is then unreachable). */
  readonly torProxy: SocksProxyConfig | null;
  /** Our features to send with server.add_peer when the peer's list lacks us; null: never announce. */
  readonly announce: AnnounceSelf | null;
}

export interface AnnounceSelf {
  readonly features: Record<string, unknown>;
  /** True when a peer's server.peers.subscribe answer already lists us with the right ports. */
  listsUs(peerList: readonly unknown[]): boolean;
}

export type ProbeResult =
  | { readonly kind: 'good'; readonly features: PeerFeatures; readonly ports: PeerPorts; readonly peerList: readonly unknown[]; readonly announced: boolean; readonly via: string }
  | { readonly kind: 'refused'; readonly refusal: Refusal; readonly reason: string; readonly peerList: readonly unknown[]; readonly via: string }
  | { readonly kind: 'unreachable'; readonly reason: string };

/** At most this many entries of a peer's server.peers.subscribe answer are looked at. */
const MAX_PEER_LIST = 1000;

/** The order ports are tried: TLS first (the usual public port), then TCP, then the WebSocket ones. */
function endpointsOf(ports: PeerPorts): { scheme: TransportScheme; port: number }[] {
  const out: { scheme: TransportScheme; port: number }[] = [];
  if (ports.ssl !== undefined) out.push({ scheme: 'tls', port: ports.ssl });
  if (ports.tcp !== undefined) out.push({ scheme: 'tcp', port: ports.tcp });
  if (ports.wss !== undefined) out.push({ scheme: 'wss', port: ports.wss });
  if (ports.ws !== undefined) out.push({ scheme: 'ws', port: ports.ws });
  return out;
}

export async function probePeer(target: ProbeTarget, ctx: ProbeContext, opts: ProbeOptions): Promise<ProbeResult> {
  if (ctx.ours === null) return { kind: 'unreachable', reason: 'the chain tracker has no tip yet; nothing to compare with' };
  if (isOnion(target.host) && ctx.torProxy === null) return { kind: 'unreachable', reason: 'an onion peer and no Tor proxy' };
  const endpoints = endpointsOf(target.ports);
  if (endpoints.length === 0) return { kind: 'unreachable', reason: 'no port to try' };
  let last = 'no port answered';
  // One port failing to connect sends us to the other; an answer we judge ends it either way.
  for (const ep of endpoints) {
    const via = `${ep.scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${ep.port}`;
    const result = await probeEndpoint(target, ep, via, ctx, ctx.ours, opts);
    if (result.kind !== 'unreachable') return result;
    last = `${via}: ${result.reason}`;
  }
  return { kind: 'unreachable', reason: last };
}

async function probeEndpoint(
  target: ProbeTarget,
  ep: { scheme: TransportScheme; port: number },
  via: string,
  ctx: ProbeContext,
  ours: OurView,
  opts: ProbeOptions,
): Promise<ProbeResult> {
  const conn = new UpstreamConnection(
    {
      name: `peer ${via}`,
      scheme: ep.scheme,
      host: target.host,
      port: ep.port,
      path: '/',
      // Electrum servers mostly present self-signed certificates; what we check is the chain they serve.
      ...(ep.scheme === 'tls' || ep.scheme === 'wss' ? { tls: { insecure: true } } : {}),
      ...(isOnion(target.host) && ctx.torProxy ? { socks: ctx.torProxy } : {}),
    },
    {
      clientName: opts.clientName,
      protocolRange: opts.protocolRange,
      genesisHash: ours.genesisHash,
      connectTimeoutMs: opts.timeoutMs,
      maxMessageBytes: opts.maxMessageBytes,
      logger: opts.logger.child({ peer: via }),
    },
  );
  conn.on('close', () => undefined);
  try {
    try {
      await conn.open();
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'wrong-network') {
        return { kind: 'refused', refusal: 'wrong-network', reason: err.message, peerList: [], via };
      }
      return { kind: 'unreachable', reason: (err as Error).message };
    }
    const t = opts.timeoutMs;
    let tipHeight: number;
    let checkHeader: string;
    let peerList: unknown[] = [];
    try {
      const tip = (await conn.request('blockchain.headers.subscribe', [], t)) as { height?: unknown } | null;
      tipHeight = typeof tip?.height === 'number' ? tip.height : NaN;
      const checkHeight = Number.isInteger(tipHeight) ? Math.max(0, tipHeight - FORK_CHECK_DEPTH) : 0;
      const header = await conn.request('blockchain.block.header', [checkHeight], t);
      checkHeader = typeof header === 'string' ? header : '';
      const list = await conn.request('server.peers.subscribe', [], t).catch(() => []);
      peerList = Array.isArray(list) ? list.slice(0, MAX_PEER_LIST) : [];
    } catch (err) {
      return { kind: 'unreachable', reason: (err as Error).message };
    }
    const verdict = judgePeer({ host: target.host, features: conn.features, tipHeight, checkHeader }, ours);
    if (!verdict.ok) return { kind: 'refused', refusal: verdict.refusal, reason: verdict.reason, peerList, via };
    let announced = false;
    if (ctx.announce && !ctx.announce.listsUs(peerList)) {
      // What the peer answers does not change our verdict; ElectrumX only waits for it.
      announced = await conn.request('server.add_peer', [ctx.announce.features], t).then(
        (r) => r === true,
        () => false,
      );
    }
    return { kind: 'good', features: verdict.features, ports: verdict.ports, peerList, announced, via };
  } finally {
    conn.close();
  }
}
