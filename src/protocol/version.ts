// SPDX-License-Identifier: MIT
/**
 * Protocol version strings and the server.version negotiation rule of the
 * Electrum protocol: negotiated = min(client max, server max), refused when
 * that is below max(client min, server min). Pure functions, no I/O.
 */

/** Parsed versions, memoised: sessions compare their version on every request. Bounded, as clients choose the strings. */
const PARSED = new Map<string, readonly number[] | null>();
const MAX_MEMO = 256;

/** "1.4.2" -> [1, 4, 2]; null when not a dotted number string with at least one dot. The array is shared: do not mutate it. */
export function parseVersion(s: unknown): readonly number[] | null {
  if (typeof s !== 'string') return null;
  const hit = PARSED.get(s);
  if (hit !== undefined) return hit;
  const v = /^\d{1,6}(\.\d{1,6}){1,3}$/.test(s) ? Object.freeze(s.split('.').map(Number)) : null;
  if (PARSED.size < MAX_MEMO) PARSED.set(s, v);
  return v;
}

/** Compares numerically with missing parts as zero, so "1.4" equals "1.4.0". */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function versionLess(a: string, b: string): boolean {
  return compareVersions(parseVersion(a) ?? [0], parseVersion(b) ?? [0]) < 0;
}

export interface ClientRange {
  readonly min: readonly number[];
  readonly max: readonly number[];
}

/**
 * Reads server.version's protocol_version argument: a single version string
 * (min = max) or a [min, max] pair. Missing means the spec's default, "1.4".
 */
export function parseClientRange(arg: unknown): ClientRange | string {
  if (arg === undefined || arg === null) {
    const v = [1, 4];
    return { min: v, max: v };
  }
  if (Array.isArray(arg)) {
    if (arg.length !== 2) return `protocol_version must be a version string or a [min, max] pair`;
    const min = parseVersion(arg[0]);
    const max = parseVersion(arg[1]);
    if (!min || !max) return `invalid protocol version: ${JSON.stringify(arg)}`;
    if (compareVersions(min, max) > 0) return `protocol_version min ${arg[0]} is above max ${arg[1]}`;
    return { min, max };
  }
  const v = parseVersion(arg);
  if (!v) return `invalid protocol version: ${JSON.stringify(arg)}`;
  return { min: v, max: v };
}

export type Negotiation = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

/**
 * Picks the version to speak from the versions we implement (ascending list of
 * version strings). The spec rule gives a ceiling and a floor; we answer with
 * the highest version we implement between them, so a client asking for a
 * number we never shipped (1.5) gets the nearest real one below it.
 */
export function negotiate(client: ClientRange, supported: readonly string[]): Negotiation {
  const ours = supported.map((s) => ({ s, v: parseVersion(s)! }));
  if (ours.length === 0) return { ok: false, reason: 'no protocol versions configured' };
  const serverMin = ours[0]!.v;
  const serverMax = ours[ours.length - 1]!.v;
  const ceiling = compareVersions(client.max, serverMax) < 0 ? client.max : serverMax;
  const floor = compareVersions(client.min, serverMin) > 0 ? client.min : serverMin;
  if (compareVersions(ceiling, floor) < 0) return { ok: false, reason: 'no common protocol version' };
  for (let i = ours.length - 1; i >= 0; i--) {
    const { s, v } = ours[i]!;
    if (compareVersions(v, ceiling) <= 0 && compareVersions(v, floor) >= 0) return { ok: true, version: s };
  }
  return { ok: false, reason: 'no common protocol version' };
}
