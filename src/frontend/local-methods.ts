// SPDX-License-Identifier: MIT
/**
 * The server.* methods the gateway answers itself: they describe this
 * endpoint, not whichever upstream happens to serve a request.
 */
import { readFile } from 'node:fs/promises';
import type { GatewayConfig } from '../config/types.js';
import { GATEWAY_VERSIONS } from '../protocol/methods.js';
import { GATEWAY_VERSION, SERVER_SOFTWARE } from '../version.js';

export const PROTOCOL_MIN = GATEWAY_VERSIONS[0];
export const PROTOCOL_MAX = GATEWAY_VERSIONS[GATEWAY_VERSIONS.length - 1]!;

const PORT_KEY = { tcp: 'tcp_port', tls: 'ssl_port', ws: 'ws_port', wss: 'wss_port' } as const;

/**
 * server.features' hosts: each public host name from server.hosts, with the
 * ports of the gateway's own public (non-loopback) listeners filled in where
 * the entry does not name them.
 */
export function featureHosts(config: GatewayConfig): Record<string, Record<string, number>> {
  const listened: Record<string, number> = {};
  for (const l of config.listen) {
    if (l.port === 0 || l.host === 'localhost' || l.host.startsWith('127.') || l.host === '::1') continue;
    listened[PORT_KEY[l.scheme]] ??= l.port;
  }
  return Object.fromEntries(Object.entries(config.server.hosts).map(([host, ports]) => [host, { ...listened, ...ports }]));
}

export function serverFeatures(config: GatewayConfig): Record<string, unknown> {
  return {
    hosts: featureHosts(config),
    genesis_hash: config.network.genesisHash,
    hash_function: 'sha256',
    server_version: SERVER_SOFTWARE,
    protocol_min: PROTOCOL_MIN,
    protocol_max: PROTOCOL_MAX,
    pruning: null,
  };
}

/** ElectrumX-style $VARIABLES; unknown ones are left as written. */
export function renderBanner(template: string, config: GatewayConfig): string {
  const vars: Record<string, string> = {
    SERVER_VERSION: GATEWAY_VERSION,
    SERVER_SUBVERSION: SERVER_SOFTWARE,
    DONATION_ADDRESS: config.server.donationAddress,
    PROTOCOL_MIN,
    PROTOCOL_MAX,
    NETWORK: config.network.name,
  };
  return template.replace(/\$([A-Z_]+)/g, (whole, name: string) => vars[name] ?? whole);
}

/**
 * Reads the banner file on every call so an operator's edit applies without a
 * restart. A connection from the Tor proxy gets the Tor banner when one is set
 * (discovery.tor_banner_file, else discovery.tor_banner), as ElectrumX does.
 */
export async function serverBanner(config: GatewayConfig, fromTor = false): Promise<string> {
  const tor = fromTor ? config.discovery : undefined;
  let template = tor?.torBanner ?? config.server.banner;
  const file = tor?.torBannerFile ?? (tor?.torBanner != null ? null : config.server.bannerFile);
  if (file) {
    try {
      template = await readFile(file, 'utf8');
    } catch {
      // An unreadable file falls back to the configured text rather than failing the wallet.
    }
  }
  return renderBanner(template, config);
}

/**
 * server.peers.subscribe until peer discovery exists: the gateway's own public
 * identities from server.hosts, in the [ip, host, features] form, so wallets
 * that gossip servers learn this one. Loopback names are never announced.
 */
export function selfPeers(config: GatewayConfig): [string, string, string[]][] {
  return Object.entries(featureHosts(config))
    .filter(([host]) => host !== 'localhost' && !host.startsWith('127.') && host !== '::1')
    .map(([host, ports]) => {
      const features = [`v${PROTOCOL_MAX}`];
      if (ports.ssl_port !== undefined) features.push(`s${ports.ssl_port}`);
      if (ports.tcp_port !== undefined) features.push(`t${ports.tcp_port}`);
      return [host, host, features];
    });
}

/** What a session needs of peer discovery (src/peers/manager.ts implements it). */
export interface LocalPeers {
  /** Verified peers in server.peers.subscribe form; more onion peers for a connection from Tor. */
  subscribeAnswer(fromTor: boolean): [string, string, string[]][];
  /** server.add_peer from a connection at `caller`; `session` keys the per-session rate limit. */
  addPeer(features: unknown, caller: string | undefined, session: object): Promise<boolean>;
  isFromTor(address: string | undefined): boolean;
}

/**
 * server.peers.subscribe: the gateway itself (its public server.hosts) and,
 * with discovery on, the peers it verified in the last 24 hours.
 */
export function peersSubscribeAnswer(config: GatewayConfig, peers: LocalPeers | null, fromTor: boolean): [string, string, string[]][] {
  const self = selfPeers(config);
  if (!peers) return self;
  const ours = new Set(self.map(([, host]) => host.toLowerCase()));
  return [...self, ...peers.subscribeAnswer(fromTor).filter(([, host]) => !ours.has(host.toLowerCase()))];
}
