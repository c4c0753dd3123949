// SPDX-License-Identifier: MIT
/**
 * Chain data the scenarios share, made once per benchmark run on the shared
 * simulator: deterministic regtest addresses, some of them funded with one to
 * three real payments (so they have histories with transactions and merkle
 * proofs to ask for), and the tip.
 */
import { createHash } from 'node:crypto';
import { NETWORKS } from '../../src/config/networks.js';
import { scriptToAddress, scriptToScripthash, witnessScript } from '../../src/protocol/address.js';
import type { PrepareContext, SimControl } from './types.js';

export interface BenchAddress {
  readonly address: string;
  readonly scripthash: string;
}

export interface FundedAddress extends BenchAddress {
  readonly history: readonly { readonly tx_hash: string; readonly height: number }[];
}

/** The i-th deterministic P2WPKH regtest address of a named family (no key: nobody spends from it). */
export function benchAddress(family: string, i: number): BenchAddress {
  const hash = createHash('sha256').update(`electrum-gateway-bench:${family}:${i}`).digest().subarray(0, 20);
  const script = witnessScript(0, hash);
  const address = scriptToAddress(script, NETWORKS.regtest);
  if (address === null) throw new Error('bench address encoding failed');
  return { address, scripthash: scriptToScripthash(script) };
}

export function benchAddresses(family: string, count: number): BenchAddress[] {
  return Array.from({ length: count }, (_, i) => benchAddress(family, i));
}

export async function tipHeight(sim: SimControl): Promise<number> {
  const tip = (await sim.call('sim.tip')) as { height: number };
  return tip.height;
}

const funded = new WeakMap<SimControl, Promise<FundedAddress[]>>();

/**
 * `count` funded addresses (family "funded"), each paid 1–3 times and mined,
 * with their confirmed histories. Memoised per simulator: the first scenario
 * that asks pays, the others reuse (more are paid if a later one needs more).
 */
export async function fundedAddresses(ctx: PrepareContext, count: number): Promise<FundedAddress[]> {
  const previous = funded.get(ctx.sim);
  const next = (async () => {
    const have = previous ? await previous : [];
    if (have.length >= count) return have;
    const started = Date.now();
    const fresh = benchAddresses('funded', count).slice(have.length);
    let paid = 0;
    for (const [i, a] of fresh.entries()) {
      const payments = 1 + ((have.length + i) % 3);
      for (let p = 0; p < payments; p++) {
        await ctx.sim.call('sim.pay', [a.address, 10_000 + 1_000 * p]);
        if (++paid % 100 === 0) await ctx.sim.call('sim.mine', [1]);
      }
    }
    await ctx.sim.call('sim.mine', [1]);
    const out: FundedAddress[] = [...have];
    for (const a of fresh) {
      const history = (await ctx.sim.call('blockchain.scripthash.get_history', [a.scripthash])) as FundedAddress['history'];
      out.push({ ...a, history: history.map((h) => ({ tx_hash: h.tx_hash, height: h.height })) });
    }
    ctx.log(`  funded ${fresh.length} addresses with ${paid} payments in ${Date.now() - started} ms`);
    return out;
  })();
  funded.set(ctx.sim, next);
  return (await next).slice(0, count);
}
