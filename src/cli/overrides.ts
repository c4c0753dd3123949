// SPDX-License-Identifier: MIT
/**
 * Turns the raw yargs values of `serve`'s override flags into CliOverrides.
 * Kept apart from the yargs wiring so the rules are plain and testable:
 *
 *   --listen / --upstream   repeatable; together they replace the file's list
 *   --network --redis --admin --log-level   given at most once
 *   --redis none / --admin none             force the feature off
 */
import type { CliOverrides } from '../config/load.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface RawServeFlags {
  readonly listen?: unknown;
  readonly upstream?: unknown;
  readonly network?: unknown;
  readonly redis?: unknown;
  readonly admin?: unknown;
  readonly logLevel?: unknown;
  readonly drainMs?: unknown;
}

/** The word that turns --redis or --admin off, matching `null` in the file. */
export const OFF_WORD = 'none';

export function overridesFromFlags(flags: RawServeFlags): CliOverrides {
  const out: { -readonly [K in keyof CliOverrides]: CliOverrides[K] } = {};
  const listen = list(flags.listen, '--listen');
  if (listen !== undefined) out.listen = listen;
  const upstreams = list(flags.upstream, '--upstream');
  if (upstreams !== undefined) out.upstreams = upstreams;
  const network = single(flags.network, '--network');
  if (network !== undefined) out.network = network;
  const redis = single(flags.redis, '--redis');
  if (redis !== undefined) out.redis = redis.trim().toLowerCase() === OFF_WORD ? null : redis;
  const admin = single(flags.admin, '--admin');
  if (admin !== undefined) out.admin = admin.trim().toLowerCase() === OFF_WORD ? null : admin;
  const logLevel = single(flags.logLevel, '--log-level');
  if (logLevel !== undefined) out.logLevel = logLevel;
  const drainMs = single(flags.drainMs, '--drain-ms');
  if (drainMs !== undefined) out.drainMs = drainMs;
  return out;
}

function list(value: unknown, flag: string): string[] | undefined {
  if (value === undefined) return undefined;
  const values = (Array.isArray(value) ? value : [value]).map((v) => String(v));
  if (values.some((v) => v.trim() === '')) throw new UsageError(`${flag} needs a URL`);
  return values.length > 0 ? values : undefined;
}

function single(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw new UsageError(`${flag} given ${value.length} times; give it once`);
    return value.length === 1 ? String(value[0]) : undefined;
  }
  return String(value);
}
