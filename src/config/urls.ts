// SPDX-License-Identifier: MIT
/**
 * Parsing of the endpoint strings in proxy.yaml and on the command line:
 *
 *   listeners   tcp://HOST:PORT  tls://HOST:PORT  ws://HOST:PORT/PATH  wss://HOST:PORT/PATH
 *   upstreams   the same, plus ssl:// as an alias of tls:// (Electrum's own name for it)
 *   admin       HOST:PORT
 *   redis       redis://…  rediss://…
 *
 * The parser is hand-written rather than WHATWG `URL` because `URL` silently
 * drops a port equal to the scheme's default (ws://h:80 and ws://h look the
 * same to it), and a missing port must be an error here, not a guess.
 *
 * IPv6 literals go in brackets (tcp://[::1]:50001); the parsed host has no
 * brackets. A query string (?cert=a.pem&key=b.pem) is kept as a string map for
 * the transports to interpret; this module does not judge option names.
 *
 * Every function throws UrlError with a message meant to be shown to the
 * operator as is.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ListenScheme, UpstreamScheme } from './types.js';

export class UrlError extends Error {
  override readonly name = 'UrlError';
}

export interface ParsedEndpoint<S extends string> {
  /** The string as written, trimmed. */
  readonly url: string;
  /** Lower-case, aliases resolved (ssl -> tls). */
  readonly scheme: S;
  /** Host name or IP literal; IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** Path for ws/wss ("/" when absent); always "/" for tcp/tls. */
  readonly path: string;
  /** Query options, percent-decoded. Empty object when there is no query. */
  readonly options: Readonly<Record<string, string>>;
}

const LISTEN_SCHEMES: Readonly<Record<string, ListenScheme>> = { tcp: 'tcp', tls: 'tls', ws: 'ws', wss: 'wss' };
const UPSTREAM_SCHEMES: Readonly<Record<string, UpstreamScheme>> = { ...LISTEN_SCHEMES, ssl: 'tls' };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** Parses a listener URL. Port 0 is allowed (the OS picks a free port; useful in tests). */
export function parseListenUrl(input: string): ParsedEndpoint<ListenScheme> {
  return parseEndpoint(input, LISTEN_SCHEMES, { allowPortZero: true, role: 'listener' });
}

/** Parses an upstream server URL. ssl:// is accepted and reported as scheme "tls". */
export function parseUpstreamUrl(input: string): ParsedEndpoint<UpstreamScheme> {
  return parseEndpoint(input, UPSTREAM_SCHEMES, { allowPortZero: false, role: 'upstream' });
}

/**
 * Parses HOST:PORT (IPv6 as [::1]:8080), as used by the admin listener.
 * Port 0 is allowed (the OS picks a free port).
 */
export function parseHostPort(input: string): { readonly host: string; readonly port: number } {
  const text = input.trim();
  if (text === '') throw new UrlError('empty address; expected HOST:PORT, e.g. 127.0.0.1:8080');
  if (text.includes('://')) {
    throw new UrlError(`"${text}" has a scheme; expected plain HOST:PORT, e.g. 127.0.0.1:8080`);
  }
  if (/[/?#]/.test(text)) throw new UrlError(`"${text}" is not HOST:PORT (no path or query allowed)`);
  const { host, port } = splitHostPort(text, text, true, 8080);
  return { host, port };
}

/**
 * Checks a Redis connection URL (redis:// or rediss://, as ioredis accepts)
 * and returns it trimmed. Credentials and a database number are allowed.
 */
export function parseRedisUrl(input: string): string {
  const text = input.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new UrlError(`"${text}" is not a URL; expected redis://HOST:PORT (or rediss:// for TLS)`);
  }
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new UrlError(`unknown scheme "${scheme}://" for redis; expected redis:// or rediss://`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UrlError(`"${text}" is not a valid URL`);
  }
  if (url.hostname === '') throw new UrlError(`"${text}" has no host; expected redis://HOST:PORT`);
  if (url.port !== '') {
    const port = Number(url.port);
    if (port < 1 || port > 65535) throw new UrlError(`port ${url.port} out of range 1-65535 in "${text}"`);
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new UrlError(`"${text}": the path must be a database number, e.g. redis://localhost:6379/0`);
  }
  return text;
}

/** host:port for display, with brackets around IPv6. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

interface EndpointRules {
  readonly allowPortZero: boolean;
  readonly role: 'listener' | 'upstream';
}

function parseEndpoint<S extends string>(
  input: string,
  schemes: Readonly<Record<string, S>>,
  rules: EndpointRules,
): ParsedEndpoint<S> {
  const url = input.trim();
  const expected = Object.keys(schemes)
    .map((s) => `${s}://`)
    .join(', ');
  if (url === '') throw new UrlError(`empty URL; expected e.g. tcp://HOST:PORT`);

  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (schemeMatch === null) {
    // "host:50001" or "[::1]:50001" without a scheme is a common slip: suggest the fix.
    const hint = /^[^/]+:\d+$/.test(url) ? `; write tcp://${url}` : '';
    throw new UrlError(`"${url}" has no scheme (expected ${expected})${hint}`);
  }
  const rawScheme = (schemeMatch[1] ?? '').toLowerCase();
  const scheme = Object.hasOwn(schemes, rawScheme) ? schemes[rawScheme] : undefined;
  if (scheme === undefined) {
    const hint = rawScheme === 'ssl' && rules.role === 'listener' ? '; for a TLS listener write tls://' : '';
    throw new UrlError(`unknown scheme "${rawScheme}://" in "${url}" for ${articleRole(rules.role)}; expected ${expected}${hint}`);
  }

  let rest = url.slice(schemeMatch[0].length);
  const hashAt = rest.indexOf('#');
  if (hashAt >= 0) throw new UrlError(`"${url}": a #fragment is not allowed`);

  let query = '';
  const queryAt = rest.indexOf('?');
  if (queryAt >= 0) {
    query = rest.slice(queryAt + 1);
    rest = rest.slice(0, queryAt);
  }
  const slashAt = rest.indexOf('/');
  const authority = slashAt >= 0 ? rest.slice(0, slashAt) : rest;
  const rawPath = slashAt >= 0 ? rest.slice(slashAt) : '';

  if (authority.includes('@')) {
    throw new UrlError(`"${url}": user:password@ in the URL is not supported`);
  }
  const { host, port } = splitHostPort(authority, url, rules.allowPortZero, 50001);

  const isWebSocket = scheme === 'ws' || scheme === 'wss';
  let path = '/';
  if (isWebSocket) {
    if (rawPath !== '') path = rawPath;
    if (/\s/.test(path)) throw new UrlError(`"${url}": the path must not contain spaces`);
  } else if (rawPath !== '' && rawPath !== '/') {
    throw new UrlError(`"${url}": a path is only meaningful for ws:// and wss://, not ${scheme}://`);
  }

  return { url, scheme, host, port, path, options: parseQuery(query, url) };
}

function articleRole(role: 'listener' | 'upstream'): string {
  return role === 'listener' ? 'a listener' : 'an upstream';
}

function splitHostPort(
  authority: string,
  whole: string,
  allowPortZero: boolean,
  examplePort: number,
): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw new UrlError(`"${whole}": missing "]" after the IPv6 address`);
    host = authority.slice(1, close);
    if (!isIPv6(host)) throw new UrlError(`"${whole}": "${host}" is not a valid IPv6 address`);
    const after = authority.slice(close + 1);
    if (after === '') portText = undefined;
    else if (after.startsWith(':')) portText = after.slice(1);
    else throw new UrlError(`"${whole}": expected ":PORT" after "[${host}]"`);
  } else {
    const colons = authority.split(':').length - 1;
    if (colons > 1) {
      throw new UrlError(`"${whole}": an IPv6 address must be written in brackets, e.g. [::1]:50001`);
    }
    const colon = authority.indexOf(':');
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined;
    if (host === '') {
      throw new UrlError(`"${whole}": missing host (use 0.0.0.0 or [::] for all interfaces, 127.0.0.1 for loopback)`);
    }
    if (!isIPv4(host) && !HOSTNAME.test(host)) {
      throw new UrlError(`"${whole}": "${host}" is not a valid host name or IP address`);
    }
  }
  if (portText === undefined || portText === '') {
    throw new UrlError(`"${whole}": missing port (write HOST:PORT, e.g. ${formatHostPort(host || '127.0.0.1', examplePort)})`);
  }
  if (!/^\d+$/.test(portText)) throw new UrlError(`"${whole}": port "${portText}" is not a number`);
  const port = Number(portText);
  const min = allowPortZero ? 0 : 1;
  if (port < min || port > 65535) throw new UrlError(`"${whole}": port ${portText} out of range ${min}-65535`);
  return { host, port };
}

function parseQuery(query: string, whole: string): Record<string, string> {
  const options: Record<string, string> = Object.create(null) as Record<string, string>;
  if (query === '') return { ...options };
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq >= 0 ? part.slice(0, eq) : part;
    const rawValue = eq >= 0 ? part.slice(eq + 1) : '';
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      throw new UrlError(`"${whole}": bad percent-encoding in option "${part}"`);
    }
    if (key === '') throw new UrlError(`"${whole}": option "${part}" has no name`);
    if (Object.hasOwn(options, key)) throw new UrlError(`"${whole}": option "${key}" given twice`);
    options[key] = value;
  }
  return { ...options };
}
