// SPDX-License-Identifier: MIT
/**
 * What a reload changes: the pure comparison of the running configuration
 * with the one just read. Keys are named as proxy.yaml spells them
 * (limits.max_sessions), so the report reads like the file.
 *
 * Applied live: upstreams (added, removed, or replaced when their URL
 * changed), limits.*, server.* (banner, banner_file, donation_address,
 * hosts), logging.level, drain_ms, shutdown_grace_ms, admin_token. Every
 * other key that differs (listen, workers, redis, admin, network, cost,
 * pool, cache, and any key added later until it is taught here) is reported
 * as requiring a restart and keeps its running value.
 */
import { isDeepStrictEqual } from 'node:util';
import type { GatewayConfig, UpstreamConfig } from '../config/types.js';

/** Top-level keys applied live as a whole. */
const LIVE_KEYS: ReadonlySet<string> = new Set(['drainMs', 'shutdownGraceMs', 'adminToken']);
/** Sections whose every key is applied live. */
const LIVE_SECTIONS: ReadonlySet<string> = new Set(['limits', 'server']);
/** Keys of other sections applied live. */
const LIVE_SUBKEYS: ReadonlySet<string> = new Set(['logging.level']);
/** Sections compared key by key, so the report names the key. */
const SECTIONS: ReadonlySet<string> = new Set(['limits', 'server', 'cost', 'pool', 'cache', 'logging']);

export interface ReloadPlan {
  /** The configuration to run on now: the new values of live keys, the running values of the rest. */
  readonly effective: GatewayConfig;
  readonly addedUpstreams: readonly UpstreamConfig[];
  /** Names of upstreams to drain and close (a replaced one is removed, then added again). */
  readonly removedUpstreams: readonly string[];
  /** proxy.yaml keys applied live, e.g. "limits.max_sessions", "upstreams". */
  readonly applied: readonly string[];
  /** proxy.yaml keys that changed but need a restart, e.g. "listen". */
  readonly requiresRestart: readonly string[];
}

export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const applied: string[] = [];
  const requiresRestart: string[] = [];
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  keys.delete('upstreams');
  let effective: Record<string, unknown> = { ...running };
  for (const key of keys) {
    const a = (running as unknown as Record<string, unknown>)[key];
    const b = (next as unknown as Record<string, unknown>)[key];
    if (isDeepStrictEqual(a, b)) continue;
    if (SECTIONS.has(key) && isRecord(a) && isRecord(b)) {
      const section: Record<string, unknown> = { ...a };
      for (const sub of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (isDeepStrictEqual(a[sub], b[sub])) continue;
        const name = `${snake(key)}.${snake(sub)}`;
        if (LIVE_SECTIONS.has(key) || LIVE_SUBKEYS.has(`${key}.${sub}`)) {
          section[sub] = b[sub];
          applied.push(name);
        } else requiresRestart.push(name);
      }
      effective = { ...effective, [key]: section };
    } else if (LIVE_KEYS.has(key)) {
      effective = { ...effective, [key]: b };
      applied.push(snake(key));
    } else requiresRestart.push(snake(key));
  }

  const before = new Map(running.upstreams.map((u) => [u.name, u]));
  const after = new Map(next.upstreams.map((u) => [u.name, u]));
  const removedUpstreams = [...before.keys()].filter((name) => !after.has(name) || !sameUpstream(before.get(name)!, after.get(name)!));
  const addedUpstreams = next.upstreams.filter((u) => !before.has(u.name) || removedUpstreams.includes(u.name));
  if (addedUpstreams.length > 0 || removedUpstreams.length > 0 || !isDeepStrictEqual(running.upstreams.map((u) => u.name), next.upstreams.map((u) => u.name))) {
    applied.push('upstreams');
  }
  effective = { ...effective, upstreams: next.upstreams };
  return { effective: effective as unknown as GatewayConfig, addedUpstreams, removedUpstreams, applied, requiresRestart };
}

function sameUpstream(a: UpstreamConfig, b: UpstreamConfig): boolean {
  return a.url === b.url && isDeepStrictEqual(a.options ?? {}, b.options ?? {}) && (a.path ?? '/') === (b.path ?? '/');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** maxSessions -> max_sessions, groupPrefixIpv4 -> group_prefix_ipv4. */
function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
