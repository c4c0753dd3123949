// SPDX-License-Identifier: MIT
/**
 * `electrum-gateway ctl ACTION [ARG]`: the admin API from a shell.
 *
 *   status | sessions | upstreams | cordon NAME | uncordon NAME |
 *   disconnect ID | log-level LEVEL | reload
 *
 * It finds the admin listener and token in the config (--config FILE, else
 * ./proxy.yaml when present, else the built-in defaults); --admin, --token
 * and --token-file override them. Prints tables (or the JSON with --json);
 * exits 1 with the server's message on any error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { formatProblem, loadConfig } from '../config/load.js';
import { formatHostPort } from '../config/urls.js';
import { formatAge, formatBytes, formatTable } from './table.js';

export const CTL_ACTIONS = ['status', 'sessions', 'upstreams', 'cordon', 'uncordon', 'disconnect', 'log-level', 'reload'] as const;
export type CtlAction = (typeof CTL_ACTIONS)[number];
/** Actions that name something: the upstream, session or level. */
const NEEDS_ARG: Partial<Record<CtlAction, string>> = { cordon: 'NAME', uncordon: 'NAME', disconnect: 'ID', 'log-level': 'LEVEL' };
/** How long ctl waits for the admin listener. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface CtlOptions {
  readonly action: CtlAction;
  readonly arg?: string;
  readonly admin?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly config?: string;
  readonly json?: boolean;
}

export interface CtlIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

class CtlError extends Error {}

/** Runs one ctl command; resolves with the exit code. */
export async function ctl(opts: CtlOptions, io: CtlIo): Promise<number> {
  try {
    const need = NEEDS_ARG[opts.action];
    if (need !== undefined && (opts.arg === undefined || opts.arg === '')) throw new CtlError(`ctl ${opts.action} needs ${need}`);
    if (need === undefined && opts.arg !== undefined) throw new CtlError(`ctl ${opts.action} takes no argument (got ${JSON.stringify(opts.arg)})`);
    const target = resolveTarget(opts);
    const { method, path, body } = request(opts);
    const answer = await call(target, method, path, body);
    if (opts.json) {
      io.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
      return answer.ok ? 0 : 1;
    }
    if (!answer.ok) {
      io.stderr.write(`electrum-gateway ctl: ${describeFailure(answer)}\n`);
      return 1;
    }
    io.stdout.write(`${render(opts, answer.body)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof CtlError) {
      io.stderr.write(`electrum-gateway ctl: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

interface Target {
  readonly base: string;
  readonly token: string | null;
}

/** The admin URL and token: flags first, then the config's admin listener and admin_token. */
export function resolveTarget(opts: Pick<CtlOptions, 'admin' | 'token' | 'tokenFile' | 'config'>): Target {
  let token: string | null = opts.token ?? null;
  if (token === null && opts.tokenFile !== undefined) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CtlError(`cannot read --token-file ${opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token === '') throw new CtlError(`--token-file ${opts.tokenFile} is empty`);
  }
  let base = opts.admin !== undefined ? adminUrl(opts.admin) : null;
  if (base === null || token === null) {
    const file = opts.config ?? (existsSync('proxy.yaml') ? 'proxy.yaml' : null);
    const loaded = loadConfig({ file });
    if (!loaded.ok) {
      throw new CtlError(`${loaded.problems.map(formatProblem).join('\n')}\n(ctl reads the admin listener and token from the config; give --admin and --token to skip it)`);
    }
    if (base === null) {
      const admin = loaded.config.admin;
      if (admin === null) throw new CtlError(`the admin listener is off in ${file ?? 'the built-in defaults'}; give --admin URL`);
      base = `http://${formatHostPort(reachable(admin.host), admin.port)}`;
    }
    token ??= loaded.config.adminToken;
  }
  return { base, token };
}

/** "HOST:PORT" or "http://HOST:PORT[/]" -> "http://HOST:PORT". */
function adminUrl(text: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CtlError(`--admin ${JSON.stringify(text)} is not HOST:PORT or http://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CtlError(`--admin ${JSON.stringify(text)}: only http:// and https://`);
  return `${url.protocol}//${url.host}`;
}

/** A listener on every interface is reached on loopback. */
function reachable(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function request(opts: CtlOptions): { method: 'GET' | 'POST'; path: string; body?: unknown } {
  const arg = encodeURIComponent(opts.arg ?? '');
  switch (opts.action) {
    case 'status':
      return { method: 'GET', path: '/status' };
    case 'sessions':
      return { method: 'GET', path: '/sessions' };
    case 'upstreams':
      return { method: 'GET', path: '/upstreams' };
    case 'cordon':
      return { method: 'POST', path: `/upstreams/${arg}/cordon` };
    case 'uncordon':
      return { method: 'POST', path: `/upstreams/${arg}/uncordon` };
    case 'disconnect':
      return { method: 'POST', path: `/sessions/${arg}/disconnect` };
    case 'log-level':
      return { method: 'POST', path: '/log-level', body: { level: opts.arg } };
    case 'reload':
      return { method: 'POST', path: '/reload' };
  }
}

interface Answer {
  readonly ok: boolean;
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

async function call(target: Target, method: string, path: string, body: unknown): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(`${target.base}${path}`, {
      method,
      headers: {
        ...(target.token !== null ? { authorization: `Bearer ${target.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CtlError(`cannot reach the admin listener at ${target.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text (401, 404 of an old gateway) */
  }
  return { ok: res.ok, status: res.status, body: parsed, text: text.trim() };
}

function describeFailure(a: Answer): string {
  const body = a.body as { error?: unknown; errors?: unknown } | string;
  const message = typeof body === 'object' && body !== null && typeof body.error === 'string' ? body.error : a.text;
  const errors = typeof body === 'object' && body !== null && Array.isArray(body.errors) ? (body.errors as unknown[]).map((e) => `  ${String(e)}`) : [];
  return [`${message} (HTTP ${a.status})`, ...errors].join('\n');
}

type Json = Record<string, unknown>;

function render(opts: CtlOptions, body: unknown): string {
  const b = body as Json;
  switch (opts.action) {
    case 'sessions':
      return sessionsTable(b['sessions'] as Json[]);
    case 'upstreams':
      return upstreamsTable(b['upstreams'] as Json[]);
    case 'status':
      return statusText(b);
    case 'cordon':
      return `cordoned ${opts.arg}: no new requests go to it; its subscriptions are moving to the other upstreams`;
    case 'uncordon':
      return `uncordoned ${opts.arg}: back in rotation`;
    case 'disconnect':
      return `disconnected session ${opts.arg}`;
    case 'log-level':
      return `log level: ${String(b['level'])}`;
    case 'reload':
      return reloadText(b);
  }
}

function sessionsTable(sessions: readonly Json[]): string {
  const rows = sessions.map((s) => [
    s['id'] as string,
    s['peer'] as string,
    s['frontend'] as string,
    (s['version'] as string | null) ?? '-',
    (s['client'] as string) || '-',
    formatAge(s['ageMs'] as number),
    s['cost'] as number,
    s['subscriptions'] as number,
    formatBytes(s['bytesIn'] as number),
    formatBytes(s['bytesOut'] as number),
  ]);
  return `${formatTable(['ID', 'PEER', 'FRONTEND', 'VERSION', 'CLIENT', 'AGE', 'COST', 'SUBS', 'IN', 'OUT'], rows)}\n${sessions.length} session${sessions.length === 1 ? '' : 's'}`;
}

function upstreamsTable(upstreams: readonly Json[]): string {
  const rows = upstreams.map((u) => [
    u['name'] as string,
    u['state'] as string,
    u['breaker'] as string,
    u['tipHeight'] as number | null,
    u['lag'] as number | null,
    u['latencyMs'] === null ? null : `${u['latencyMs'] as number}ms`,
    u['inFlight'] as number,
    u['subscriptions'] as number,
    u['cordoned'] === true ? 'yes' : 'no',
    u['url'] as string,
  ]);
  return formatTable(['NAME', 'STATE', 'BREAKER', 'TIP', 'LAG', 'LATENCY', 'INFLIGHT', 'SUBS', 'CORDONED', 'URL'], rows);
}

function statusText(s: Json): string {
  const tip = s['tip'] as { height: number; hash: string } | null;
  const subs = s['subscriptions'] as { sessions: number; upstream: number } | undefined;
  const upstreams = (s['upstreams'] as Json[] | undefined) ?? [];
  const lines = [
    `server:        ${String(s['server'])}`,
    `network:       ${String(s['network'])}`,
    `tip:           ${tip ? `${tip.height} ${tip.hash}` : '(none yet)'}`,
    `sessions:      ${String(s['sessions'])}`,
    `subscriptions: ${subs ? `${subs.sessions} by sessions, ${subs.upstream} unique upstream` : '-'}`,
    '',
    formatTable(
      ['UPSTREAM', 'STATE', 'TIP', 'LAG', 'CORDONED'],
      upstreams.map((u) => [u['name'] as string, u['state'] as string, u['tipHeight'] as number | null, u['lag'] as number | null, u['cordoned'] === true ? 'yes' : 'no']),
    ),
  ];
  return lines.join('\n');
}

function reloadText(r: Json): string {
  const list = (v: unknown): string => (Array.isArray(v) && v.length > 0 ? v.join(', ') : '(none)');
  const ups = r['upstreams'] as { added: string[]; removed: string[] };
  const lines = [
    `reloaded${typeof r['workers'] === 'number' ? ` (${r['workers']} workers)` : ''}`,
    `applied:          ${list(r['applied'])}`,
    `requires restart: ${list(r['requiresRestart'])}`,
    `upstreams added:  ${list(ups.added)}`,
    `upstreams removed (draining): ${list(ups.removed)}`,
  ];
  for (const e of (r['errors'] as string[] | undefined) ?? []) lines.push(`warning: ${e}`);
  // Under --workers N: one row per worker, so a worker that did not reload is seen.
  const perWorker = r['perWorker'] as Json[] | undefined;
  if (Array.isArray(perWorker) && perWorker.length > 0) {
    lines.push(
      '',
      formatTable(
        ['WORKER', 'RELOADED', 'APPLIED', 'REQUIRES RESTART', 'ERRORS'],
        perWorker.map((w) => [w['worker'] as number, w['ok'] === true ? 'yes' : 'no', list(w['applied']), list(w['requiresRestart']), list(w['errors'])]),
      ),
    );
  }
  return lines.join('\n');
}
