// SPDX-License-Identifier: MIT
/**
 * Baseline (c): HAProxy (Debian package `haproxy`) in TCP mode in front of the
 * same simulator — what a hosting provider would run instead of the gateway.
 * The config is generated into a temporary directory; HAProxy runs in the
 * foreground (-db) as our child and is killed after the run.
 *
 * One thread (nbthread 1), like the 1-worker gateway it is compared with.
 * Each client connection costs HAProxy two file descriptors (client and
 * server side), so `maxconn` is capped by our open-files limit; runs with
 * more sessions than fit use fewer and say so in the report.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openFileLimit } from '../loadgen/procstat.js';
import { ChildTarget, freePort, waitForPort } from './process.js';

export interface HaproxyProcess {
  readonly target: ChildTarget;
  readonly host: string;
  readonly port: number;
  readonly maxconn: number;
  readonly configText: string;
  stop(): Promise<void>;
}

/** The haproxy binary, or null when it is not installed. */
export function haproxyBinary(): string | null {
  for (const p of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      /* next */
    }
  }
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return 'haproxy';
  } catch {
    return null;
  }
}

export function haproxyVersion(): string | null {
  const bin = haproxyBinary();
  if (bin === null) return null;
  try {
    const out = execFileSync(bin, ['-v'], { encoding: 'utf8' });
    return /version (\S+)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The most client connections HAProxy can hold under our open-files limit. */
export function haproxyMaxSessions(): number {
  return Math.floor((openFileLimit() - 200) / 2);
}

export function haproxyConfig(opts: { port: number; upstreamHost: string; upstreamPort: number; maxconn: number }): string {
  return [
    'global',
    `  maxconn ${opts.maxconn}`,
    '  nbthread 1',
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '',
    'frontend electrum',
    `  bind 127.0.0.1:${opts.port}`,
    `  maxconn ${opts.maxconn}`,
    '  default_backend sim',
    '',
    'backend sim',
    `  server sim ${opts.upstreamHost}:${opts.upstreamPort} maxconn ${opts.maxconn}`,
    '',
  ].join('\n');
}

export async function startHaproxy(upstream: { host: string; port: number }): Promise<HaproxyProcess> {
  const bin = haproxyBinary();
  if (bin === null) throw new Error('haproxy is not installed (Debian package haproxy)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-haproxy-'));
  const port = await freePort();
  const maxconn = haproxyMaxSessions();
  const configText = haproxyConfig({ port, upstreamHost: upstream.host, upstreamPort: upstream.port, maxconn });
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, configText);
  const target = new ChildTarget('haproxy', bin, ['-db', '-f', file]);
  try {
    await waitForPort('127.0.0.1', port, 15_000, () => (target.exit ? `haproxy exited: ${target.tail()}` : undefined));
  } catch (err) {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    target,
    host: '127.0.0.1',
    port,
    maxconn,
    configText,
    async stop() {
      await target.stop(5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
