// SPDX-License-Identifier: MIT
/**
 * What the answer-cache tests (cache.test.ts, cache-redis.test.ts) read to
 * prove where an answer came from: simulator request counters, the gateway's
 * Prometheus metrics, and the header ranges a simulator holds.
 */
import type { GatewayConfig } from '../../src/config/types.js';
import type { Simulator } from '../sim/index.js';
import type { TestGateway } from './gateway.js';

/** How often `sim` was asked `method`. */
export function count(sim: Simulator, method: string): number {
  return sim.stats.requests[method] ?? 0;
}

/** A value from the Prometheus text format (summed over matching series; 0 when absent). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[k!] = v!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** electrum_gateway_cache_lookups_total for one method and result. */
export const lookups = async (gw: TestGateway, method: string, result: string): Promise<number> =>
  metric(await gw.metrics(), 'electrum_gateway_cache_lookups_total', { method, result });

/** Headers start..start+n-1 of `sim`, concatenated hex and as a list. */
export const hexRange = (sim: Simulator, start: number, n: number): string => Array.from({ length: n }, (_, i) => sim.headerHex(start + i)).join('');
export const listRange = (sim: Simulator, start: number, n: number): string[] => Array.from({ length: n }, (_, i) => sim.headerHex(start + i));

/**
 * A config change anchoring the tracker on `sim`'s block at `height` (regtest: the anchor's run
 * starts at the retarget period holding it), so headers below that period are not in the
 * tracker's verified index and take the cache's own path (L1, Redis, upstream) instead.
 */
export const anchoredAt =
  (sim: Simulator, height: number, then: (c: GatewayConfig) => GatewayConfig = (c) => c) =>
  (c: GatewayConfig): GatewayConfig => {
    const out = then(c);
    return { ...out, network: { ...out.network, checkpoints: [{ height, hash: sim.blockHash(height), chainwork: null }] } };
  };
