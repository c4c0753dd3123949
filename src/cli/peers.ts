// SPDX-License-Identifier: MIT
/**
 * `electrum-gateway peers`: the peer table of peer discovery (docs/peers.md),
 * from the running instance's admin listener (GET /peers), or, when none
 * answers, from the peers file the config names.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { loadConfig, formatProblem } from '../config/load.js';
import { formatHostPort, parseHostPort } from '../config/urls.js';
import { peerState, type PeerRecord, type PeerState } from '../peers/peer.js';
import { decodePeersFile } from '../peers/peers-file.js';

export interface PeersCommandOptions {
  readonly configFile: string | null;
  /** HOST:PORT of the admin listener, instead of the config's. */
  readonly admin?: string;
  readonly json: boolean;
}

export interface PeersCommandResult {
  readonly exitCode: 0 | 1;
  readonly lines: readonly string[];
}

interface Row extends PeerRecord {
  readonly state: PeerState;
}

export async function peersCommand(opts: PeersCommandOptions): Promise<PeersCommandResult> {
  const loaded = loadConfig({ file: opts.configFile });
  if (!loaded.ok) return { exitCode: 1, lines: loaded.problems.map(formatProblem) };
  const config = loaded.config;
  const admin = opts.admin !== undefined ? parseHostPort(opts.admin) : config.admin;
  let rows: Row[] | null = null;
  let from = '';
  if (admin) {
    const got = await getJson(admin.host, admin.port, '/peers', config.adminToken).catch((err: Error) => err);
    if (!(got instanceof Error)) {
      if (got.status !== 200) return { exitCode: 1, lines: [`${formatHostPort(admin.host, admin.port)}/peers answered ${got.status}: ${got.body.trim()}`] };
      rows = (JSON.parse(got.body) as { peers: Row[] }).peers;
      from = `the instance at ${formatHostPort(admin.host, admin.port)}`;
    }
  }
  if (rows === null) {
    const file = config.discovery?.peersFile ?? null;
    if (file === null) {
      return { exitCode: 1, lines: ['no running instance answered and discovery.peers_file is not set: nothing to read the peers from'] };
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      return { exitCode: 1, lines: [`no running instance answered and the peers file cannot be read: ${(err as Error).message}`] };
    }
    try {
      const now = Date.now();
      rows = decodePeersFile(text, config.network.name).peers.map((p) => ({ ...p, state: peerState(p, now) }));
    } catch (err) {
      return { exitCode: 1, lines: [`${file}: ${(err as Error).message}`] };
    }
    from = `the peers file ${file} (no instance answered)`;
  }
  if (opts.json) return { exitCode: 0, lines: [JSON.stringify(rows, null, 2)] };
  return { exitCode: 0, lines: [...renderPeerTable(rows, Date.now()), `${rows.length} peer${rows.length === 1 ? '' : 's'}, from ${from}`] };
}

/** A fixed-width table: host, state, ports, server, last good, failures, source. */
export function renderPeerTable(rows: readonly Row[], now: number): string[] {
  const ago = (t: number | null): string => {
    if (t === null) return 'never';
    const m = Math.round((now - t) / 60_000);
    return m < 120 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
  };
  const table = [
    ['HOST', 'STATE', 'PORTS', 'SERVER', 'LAST GOOD', 'FAILURES', 'SOURCE'],
    ...rows.map((r) => [
      r.host,
      r.state,
      Object.entries(r.ports).map(([k, v]) => `${k} ${v}`).join(', '),
      r.features?.serverVersion || '-',
      ago(r.lastGood),
      String(r.tryCount),
      r.source,
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function getJson(host: string, port: number, path: string, token: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: 5000, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}
