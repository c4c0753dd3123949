// SPDX-License-Identifier: MIT
/**
 * The cost model, after ElectrumX's session cost accounting: every request
 * costs a little, every error more, and every byte the gateway sends or
 * receives for a client costs 1 unit per `bandwidthUnitBytes`. Costs decay
 * continuously. Above the soft limit requests wait in proportion to how far
 * the cost is into the soft..hard band and run one at a time; at the hard limit
 * the client gets -101 and is disconnected. Pure: time comes in as arguments.
 */
import {
  DEFAULT_BANDWIDTH_UNIT_BYTES,
  DEFAULT_COST_DECAY_PER_SECOND,
  DEFAULT_COST_HARD_LIMIT,
  DEFAULT_COST_SOFT_LIMIT,
  DEFAULT_ERROR_COST,
  DEFAULT_MAX_DELAY_MS,
} from '../config/defaults.js';
import type { CostConfig } from '../config/types.js';

/** The model's knobs: the cost section of the configuration, less what is not the model's (exempt CIDRs, Redis). */
export type CostOptions = Pick<CostConfig, 'softLimit' | 'hardLimit' | 'bandwidthUnitBytes' | 'decayPerSecond' | 'errorCost' | 'maxDelayMs'>;

export const DEFAULT_COST_OPTIONS: CostOptions = {
  softLimit: DEFAULT_COST_SOFT_LIMIT,
  hardLimit: DEFAULT_COST_HARD_LIMIT,
  bandwidthUnitBytes: DEFAULT_BANDWIDTH_UNIT_BYTES,
  decayPerSecond: DEFAULT_COST_DECAY_PER_SECOND,
  errorCost: DEFAULT_ERROR_COST,
  maxDelayMs: DEFAULT_MAX_DELAY_MS,
};

/** Base costs per method, before bytes; ElectrumX's calibration where it has one. */
const BASE_COST: ReadonlyMap<string, number> = new Map(Object.entries({
  'server.version': 0.5,
  'server.features': 0.2,
  'server.banner': 0.5,
  'server.donation_address': 0.1,
  'server.ping': 0.1,
  'server.peers.subscribe': 1,
  'server.add_peer': 100,
  'blockchain.headers.subscribe': 0.25,
  'blockchain.block.header': 0.25,
  'blockchain.block.headers': 1,
  'blockchain.estimatefee': 1,
  'blockchain.relayfee': 1,
  'mempool.get_info': 1,
  'mempool.get_fee_histogram': 1,
  'blockchain.scripthash.subscribe': 1,
  'blockchain.scripthash.unsubscribe': 0.1,
  'blockchain.scripthash.get_history': 1,
  'blockchain.scripthash.get_mempool': 0.5,
  'blockchain.scripthash.get_balance': 1,
  'blockchain.scripthash.listunspent': 1,
  'blockchain.transaction.get': 1,
  'blockchain.transaction.get_merkle': 0.5,
  'blockchain.transaction.id_from_pos': 0.5,
  'blockchain.transaction.broadcast': 0.5,
  'blockchain.transaction.broadcast_package': 1,
}));

export function baseCost(method: string): number {
  // A Map, not an object: a client's method "valueOf" or "constructor" must not find
  // Object.prototype's functions, whose sum with a number would turn the group's cost into a string.
  return BASE_COST.get(method) ?? 1;
}

export function bytesCost(bytes: number, opts: CostOptions): number {
  return bytes / opts.bandwidthUnitBytes;
}

/**
 * The bytes an answer will certainly take, known before it runs: header
 * ranges are 160 hex characters per header. Charged up front so a client
 * cannot run up a large bill faster than the limiter reacts.
 */
export function estimatedResponseBytes(method: string, args: readonly unknown[]): number {
  if (method === 'blockchain.block.headers' && typeof args[1] === 'number') return Math.min(Math.max(args[1], 0), 2016) * 162;
  if (method === 'blockchain.block.get_chunk') return 2016 * 160;
  return 0;
}

/** A cost that decays continuously. */
export class DecayingCost {
  private value = 0;
  private at: number;

  constructor(
    private readonly decayPerSecond: number,
    now: number,
  ) {
    this.at = now;
  }

  get(now: number): number {
    if (now > this.at) {
      this.value = Math.max(0, this.value - ((now - this.at) / 1000) * this.decayPerSecond);
      this.at = now;
    }
    return this.value;
  }

  add(units: number, now: number): number {
    this.value = this.get(now) + units;
    return this.value;
  }
}

export type Verdict =
  | { readonly action: 'run' }
  /** Above the soft limit: wait, and run one request at a time. */
  | { readonly action: 'throttle'; readonly delayMs: number }
  /** At the hard limit: -101 and disconnect. */
  | { readonly action: 'reject' };

/** The verdicts without a figure, made once: judging a request allocates nothing unless it waits. */
export const RUN: Verdict = Object.freeze({ action: 'run' });
const REJECT: Verdict = Object.freeze({ action: 'reject' });

export function verdict(cost: number, opts: CostOptions): Verdict {
  if (opts.hardLimit <= 0) return RUN;
  if (cost >= opts.hardLimit) return REJECT;
  if (cost <= opts.softLimit) return RUN;
  const fraction = (cost - opts.softLimit) / Math.max(1, opts.hardLimit - opts.softLimit);
  return { action: 'throttle', delayMs: Math.round(fraction * opts.maxDelayMs) };
}
