// SPDX-License-Identifier: MIT
/**
 * From an upstream as configured (a URL whose query carries its options) to
 * the pool's definition. The same options work in proxy.yaml and on the
 * command line:
 *
 *   tls://HOST:PORT?ca=FILE          trust this CA (or self-signed certificate)
 *   tls://HOST:PORT?insecure=1       do not verify the certificate at all
 *   tcp://HOST:PORT?ssl_port=SPORT   the same server's TLS port, tried when TCP fails
 *   tls://HOST:PORT?tcp_port=TPORT   the same server's TCP port, tried when TLS fails
 *   ...?socks=socks5://[USER:PASS@]HOST:PORT  reach it through SOCKS (socks4://, socks4a:// too)
 *   ...?weight=N                     relative share of traffic (default 1)
 *   ...?max_connections=N            connections kept open to it (default 2)
 *   ...?max_in_flight=N              requests written and unanswered per connection (default 100);
 *                                    later ones wait in the gateway, in order, within their timeout
 *   ...?labels=k:v,k2:v2             free-form labels shown on /status
 */
import { readFileSync } from 'node:fs';
import type { UpstreamConfig } from '../config/types.js';
import { DEFAULT_MAX_IN_FLIGHT, type UpstreamEndpoint } from './connection.js';
import type { UpstreamDefinition } from './pool.js';
import type { SocksProxyConfig, TlsClientConfig } from './transport.js';

export const DEFAULT_MAX_CONNECTIONS = 2;

export interface UpstreamOptions {
  readonly ca?: string;
  readonly insecure: boolean;
  readonly sslPort?: number;
  readonly tcpPort?: number;
  readonly socks?: SocksProxyConfig;
  readonly weight: number;
  readonly maxConnections: number;
  readonly maxInFlight: number;
  readonly labels: Readonly<Record<string, string>>;
}

const KNOWN = ['ca', 'insecure', 'ssl_port', 'tcp_port', 'socks', 'weight', 'max_connections', 'max_in_flight', 'labels'];

/** Validates the query options of one upstream URL; throws Error with an operator-facing message. */
export function parseUpstreamOptions(options: Readonly<Record<string, string>>, globalSocks?: string | null): UpstreamOptions {
  const unknown = Object.keys(options).filter((k) => !KNOWN.includes(k));
  if (unknown.length > 0) throw new Error(`unknown upstream option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${KNOWN.join(', ')}`);
  const socksUrl = options.socks ?? globalSocks ?? undefined;
  return {
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    insecure: flag(options.insecure, 'insecure'),
    ...(options.ssl_port !== undefined ? { sslPort: port(options.ssl_port, 'ssl_port') } : {}),
    ...(options.tcp_port !== undefined ? { tcpPort: port(options.tcp_port, 'tcp_port') } : {}),
    ...(socksUrl ? { socks: parseSocksUrl(socksUrl) } : {}),
    weight: positive(options.weight ?? '1', 'weight', false),
    maxConnections: positive(options.max_connections ?? String(DEFAULT_MAX_CONNECTIONS), 'max_connections', true),
    maxInFlight: positive(options.max_in_flight ?? String(DEFAULT_MAX_IN_FLIGHT), 'max_in_flight', true),
    labels: labels(options.labels),
  };
}

export function parseSocksUrl(url: string): SocksProxyConfig {
  const m = /^(socks4a?|socks5h?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[^\]]+\]|[^:/]+):(\d+)\/?$/i.exec(url.trim());
  if (!m) throw new Error(`socks proxy "${url}" is not socks5://[USER:PASS@]HOST:PORT or socks4://HOST:PORT`);
  const version = m[1]!.toLowerCase().startsWith('socks4') ? 4 : 5;
  const host = m[4]!.replace(/^\[|\]$/g, '');
  const proxy: SocksProxyConfig = {
    version,
    host,
    port: port(m[5]!, 'socks port'),
    ...(m[2] ? { username: decodeURIComponent(m[2]) } : {}),
    ...(m[3] ? { password: decodeURIComponent(m[3]) } : {}),
  };
  if (version === 4 && proxy.password !== undefined) throw new Error('SOCKS4 has no passwords; use socks5:// for authentication');
  return proxy;
}

/** The pool's definition of a configured upstream; reads the CA file if one is named. */
export function upstreamDefinition(u: UpstreamConfig, globalSocks?: string | null): UpstreamDefinition {
  const o = parseUpstreamOptions(u.options ?? {}, globalSocks);
  let tls: TlsClientConfig | undefined;
  if (o.ca !== undefined || o.insecure) {
    let ca: string | undefined;
    if (o.ca !== undefined) {
      try {
        ca = readFileSync(o.ca, 'utf8');
      } catch (err) {
        throw new Error(`upstream ${u.name}: cannot read CA file ${o.ca}: ${(err as Error).message}`);
      }
    }
    tls = { ...(ca !== undefined ? { ca } : {}), insecure: o.insecure };
  }
  const base = {
    name: u.name,
    host: u.host,
    ...(u.path !== undefined ? { path: u.path } : {}),
    ...(tls ? { tls } : {}),
    ...(o.socks ? { socks: o.socks } : {}),
  };
  const endpoints: UpstreamEndpoint[] = [{ ...base, scheme: u.scheme, port: u.port }];
  if (o.sslPort !== undefined && u.scheme === 'tcp') endpoints.push({ ...base, scheme: 'tls', port: o.sslPort });
  if (o.tcpPort !== undefined && u.scheme === 'tls') endpoints.push({ ...base, scheme: 'tcp', port: o.tcpPort });
  return { name: u.name, endpoints, weight: o.weight, maxConnections: o.maxConnections, maxInFlight: o.maxInFlight, labels: o.labels };
}

function flag(v: string | undefined, name: string): boolean {
  if (v === undefined) return false;
  if (['1', 'true', 'yes', ''].includes(v.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(v.toLowerCase())) return false;
  throw new Error(`${name}=${v}: expected 1/true or 0/false`);
}

function port(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}=${v}: expected a port from 1 to 65535`);
  return n;
}

function positive(v: string, name: string, integer: boolean): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)) || n > 1000) {
    throw new Error(`${name}=${v}: expected a ${integer ? 'whole ' : ''}number above 0 and at most 1000`);
  }
  return n;
}

function labels(v: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!v) return out;
  for (const pair of v.split(',')) {
    const i = pair.indexOf(':');
    if (i <= 0) throw new Error(`labels=${v}: expected key:value pairs separated by commas`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}
