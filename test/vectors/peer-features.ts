// SPDX-License-Identifier: MIT
/**
 * server.features as real servers answer it on bitcoin mainnet, written from
 * reading their source (no server of either kind runs in CI):
 *
 *  - ElectrumX 1.18.0 (spesmilo/electrumx, ElectrumX.server_features): hosts
 *    from REPORT_SERVICES ({host: {tcp_port, ssl_port}}), pruning null,
 *    server_version "ElectrumX 1.18.0", protocol_min "1.4", protocol_max
 *    "1.4.3" (its PROTOCOL_MAX), genesis_hash, hash_function "sha256", and
 *    services as "tcp://host:port" strings.
 *  - Fulcrum 2.1.0 (cculianu/Fulcrum, makeFeaturesDictForConnection): a
 *    QVariantMap, so keys come out sorted; pruning null, server_version
 *    "Fulcrum 2.1.0", protocol "1.4" to "1.6", hash_function, dsproof (false on
 *    BTC: bitcoind has no dsproof RPC), broadcast_package when bitcoind has
 *    submitpackage, hosts with tcp/ssl/ws/wss ports. cashtokens and rpa are
 *    BCH-only and absent on BTC.
 *
 * The test puts the simulator's host, port and genesis in where a fixture
 * names electrum.example.org and mainnet.
 */
export const MAINNET_GENESIS = '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f';

export const ELECTRUMX_1_18_FEATURES = {
  hosts: { 'electrum.example.org': { tcp_port: 50001, ssl_port: 50002 } },
  pruning: null,
  server_version: 'ElectrumX 1.18.0',
  protocol_min: '1.4',
  protocol_max: '1.4.3',
  genesis_hash: MAINNET_GENESIS,
  hash_function: 'sha256',
  services: ['tcp://electrum.example.org:50001', 'ssl://electrum.example.org:50002'],
} as const;

export const FULCRUM_2_1_FEATURES = {
  broadcast_package: true,
  dsproof: false,
  genesis_hash: MAINNET_GENESIS,
  hash_function: 'sha256',
  hosts: { 'electrum.example.org': { ssl_port: 50002, tcp_port: 50001, ws_port: 50003, wss_port: 50004 } },
  protocol_max: '1.6',
  protocol_min: '1.4',
  pruning: null,
  server_version: 'Fulcrum 2.1.0',
} as const;

/** A fixture as served by a simulator at host:port on its own network. */
export function servedBy(fixture: Record<string, unknown>, host: string, port: number, genesis: string): Record<string, unknown> {
  // The simulator serves plain TCP only: its hosts entry names that port alone (another would be tried first and might answer).
  const ports: Record<string, number> = { tcp_port: port };
  const services = Array.isArray(fixture.services) ? { services: [`tcp://${host}:${port}`] } : {};
  return { ...fixture, ...services, hosts: { [host]: ports }, genesis_hash: genesis };
}
