// SPDX-License-Identifier: MIT
/**
 * A listener's options, carried in its URL's query so every listener can be
 * started from the command line:
 *
 *   tls://HOST:PORT?cert=FILE&key=FILE
 *   wss://HOST:PORT/PATH?cert=FILE&key=FILE&origins=https://a.example,https://b.example
 *   ...&proxy_protocol=1&trusted=10.0.0.0/8,192.168.1.7
 *   ...&soft_limit=N&hard_limit=N  (cost limits for this listener's sessions)
 */
import type net from 'node:net';
import { blockList } from '../config/cidr.js';
import type { ListenerConfig } from '../config/types.js';

export interface ListenerOptions {
  readonly cert?: string;
  readonly key?: string;
  /** Require a PROXY protocol (v1 or v2) header from every connection. */
  readonly proxyProtocol: boolean;
  /** Who may send a PROXY header; connections from elsewhere are refused. */
  readonly trusted: net.BlockList;
  readonly trustedText: readonly string[];
  /** WebSocket Origin allow-list; empty allows any. */
  readonly origins: readonly string[];
  /** Cost limits for this listener's sessions, overriding the cost section. */
  readonly softLimit?: number;
  readonly hardLimit?: number;
}

const KNOWN = ['cert', 'key', 'proxy_protocol', 'trusted', 'origins', 'soft_limit', 'hard_limit'];
const DEFAULT_TRUSTED = ['127.0.0.0/8', '::1/128'];

export function parseListenerOptions(l: Pick<ListenerConfig, 'url' | 'scheme' | 'options'>): ListenerOptions {
  const o = l.options ?? {};
  const unknown = Object.keys(o).filter((k) => !KNOWN.includes(k));
  if (unknown.length > 0) throw new Error(`${l.url}: unknown listener option ${unknown.join(', ')}; known: ${KNOWN.join(', ')}`);
  const secure = l.scheme === 'tls' || l.scheme === 'wss';
  if (secure && (!o.cert || !o.key)) throw new Error(`${l.url}: a ${l.scheme}:// listener needs cert=FILE and key=FILE`);
  if (!secure && (o.cert || o.key)) throw new Error(`${l.url}: cert and key apply only to tls:// and wss:// listeners`);
  if (o.origins && l.scheme !== 'ws' && l.scheme !== 'wss') throw new Error(`${l.url}: origins applies only to ws:// and wss:// listeners`);
  const proxyProtocol = o.proxy_protocol !== undefined && ['1', 'true', 'yes', ''].includes(o.proxy_protocol.toLowerCase());
  const trustedText = o.trusted ? o.trusted.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_TRUSTED;
  return {
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
    proxyProtocol,
    trusted: blockList(trustedText, l.url),
    trustedText,
    origins: o.origins ? o.origins.split(',').map((s) => s.trim()).filter(Boolean) : [],
    ...(o.soft_limit !== undefined ? { softLimit: limit(o.soft_limit, 'soft_limit', l.url) } : {}),
    ...(o.hard_limit !== undefined ? { hardLimit: limit(o.hard_limit, 'hard_limit', l.url) } : {}),
  };
}

function limit(v: string, name: string, url: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${url}: ${name}=${v}: expected a number of at least 0`);
  return n;
}
