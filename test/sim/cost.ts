// SPDX-License-Identifier: MIT
/**
 * An ElectrumX-like session cost model for the simulator (optional: the
 * `costs` option). ElectrumX (server/session.py, on aiorpcX's session.py)
 * prices every request and every byte, and throttles a session as its cost
 * climbs; this is the same set of rules, restated:
 *
 *  - A session starts at 5 (the price of a connection). Each request adds its
 *    method's price (a subscription to a short-history address about 0.3, a
 *    ping 0.1, see requestCost), each byte received or sent adds
 *    1 / bandwidthUnitCost, and each error reply adds 100.
 *  - Cost decays with time: by hardLimit / 10,000 a second at first; every
 *    recalc period (300 s) the server sets each session's decay to
 *    hardLimit / (10,000 + 5 × its subscriptions), so a session holding many
 *    subscriptions forgets its cost more slowly.
 *  - Sessions from one group (the same /24, or /48 for IPv6; private
 *    addresses, loopback included, are in no group) share their cost: each
 *    is judged on its own cost plus the rest of its group's, and a closed
 *    session's cost stays with its group (refunded by period × hardLimit /
 *    5,000 each recalc period).
 *  - Judged cost below softLimit: up to initialConcurrent requests are
 *    processed at once, without delay. From softLimit to hardLimit the
 *    fraction f = (cost − soft) / (hard − soft) sets both the concurrency,
 *    ceil((1 − f) × initialConcurrent), and a sleep of f × requestSleepMs
 *    before each request. At the hard limit the concurrency is 0: the next
 *    request admitted is answered -101 "excessive resource usage" and the
 *    session is closed.
 *  - The cost is recomputed (decay applied, concurrency retargeted) whenever
 *    it moved by more than 100 since the last time, and at each recalc pass.
 *  - A request not answered within requestTimeoutMs of arrival (waiting for a
 *    slot, sleeping, or working) is answered -102 "server busy - request
 *    timed out", which is an error reply and costs 100 more.
 *
 * Pure bookkeeping: time comes from `now()`, passed in.
 */

export interface CostLimits {
  /** COST_SOFT_LIMIT (ElectrumX default 1,000). */
  readonly softLimit: number;
  /** COST_HARD_LIMIT (10,000); 0 turns throttling off (costs are still counted). */
  readonly hardLimit: number;
  /** REQUEST_SLEEP in ms (2,500): the sleep before each request at the hard limit. */
  readonly requestSleepMs: number;
  /** INITIAL_CONCURRENT (10): requests processed at once below the soft limit. */
  readonly initialConcurrent: number;
  /** BANDWIDTH_UNIT_COST (5,000): bytes, sent or received, that cost 1. */
  readonly bandwidthUnitCost: number;
  /** REQUEST_TIMEOUT in ms (30 s). */
  readonly requestTimeoutMs: number;
  /** How often ElectrumX's recalc pass runs (300 s). */
  readonly recalcPeriodMs: number;
  /**
   * Group private addresses too (ElectrumX exempts them): models a gateway on a
   * public address, whose connections to the server all share one /24 group.
   */
  readonly groupPrivate: boolean;
}

/** ElectrumX's defaults (docs/environment.rst, server/env.py, server/session.py). */
export const ELECTRUMX_COSTS: CostLimits = {
  softLimit: 1000,
  hardLimit: 10_000,
  requestSleepMs: 2500,
  initialConcurrent: 10,
  bandwidthUnitCost: 5000,
  requestTimeoutMs: 30_000,
  recalcPeriodMs: 300_000,
  groupPrivate: false,
};

/** What an error reply costs (aiorpcX's error_base_cost). */
export const ERROR_COST = 100;
/** What opening a session costs. */
export const CONNECTION_COST = 5;
/** The cost drift that triggers a recomputation. */
const RECALC_DRIFT = 100;

export const EXCESSIVE_RESOURCE_USAGE = -101;
export const SERVER_BUSY = -102;

/** The group an address belongs to: its /24 (IPv4) or /48 (IPv6); null for a private address unless grouped. */
export function groupOf(address: string | undefined, groupPrivate: boolean): string | null {
  if (!address) return 'unknown_addr';
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  const parts = v4.split('.');
  if (parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p))) {
    const [a, b] = [Number(parts[0]), Number(parts[1])];
    const isPrivate = a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
    if (isPrivate && !groupPrivate) return null;
    return `${parts.slice(0, 3).join('.')}.0/24`;
  }
  const lower = address.toLowerCase();
  const isPrivate6 = lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd') || lower.startsWith('fe80');
  if (isPrivate6 && !groupPrivate) return null;
  return `${lower.split(':').slice(0, 3).join(':')}::/48`;
}

/** A group's cost: what its closed sessions left behind, plus its open sessions' own. */
export class CostGroup {
  retained = 0;
  readonly members = new Set<SessionCost>();

  total(): number {
    let n = this.retained;
    for (const s of this.members) n += s.cost;
    return n;
  }
}

/**
 * A semaphore whose size can shrink under its holders (aiorpcX's
 * Concurrency): a lowered target takes effect as slots are released.
 */
class Slots {
  private free: number;
  private size: number;
  private readonly waiting: (() => void)[] = [];

  constructor(private target: number) {
    this.free = target;
    this.size = target;
  }

  get max(): number {
    return this.target;
  }

  setTarget(target: number): void {
    this.target = target;
    this.grow();
  }

  /**
   * Resolves when a slot is held. `cancel` gives up waiting and returns true;
   * false when the slot was already handed over (the caller then releases it).
   */
  acquire(): { readonly held: Promise<void>; cancel(): boolean } {
    if (this.free > 0) {
      this.free--;
      return { held: Promise.resolve(), cancel: () => false };
    }
    let wake!: () => void;
    const held = new Promise<void>((r) => (wake = r));
    this.waiting.push(wake);
    return {
      held,
      cancel: () => {
        const i = this.waiting.indexOf(wake);
        if (i < 0) return false;
        this.waiting.splice(i, 1);
        return true;
      },
    };
  }

  release(): void {
    if (this.size > this.target) {
      this.size--;
      return;
    }
    this.handOn();
  }

  private grow(): void {
    while (this.size < this.target) {
      this.size++;
      this.handOn();
    }
  }

  private handOn(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** One session's cost, decay, concurrency and sleep. */
export class SessionCost {
  cost = CONNECTION_COST;
  /** Per second; set by the server's recalc pass from the session's subscriptions. */
  decayPerSec: number;
  /** (judged cost − soft) / (hard − soft), at least 0: the share of requestSleepMs each request sleeps. */
  fraction = 0;
  private costTime: number;
  private costLast = CONNECTION_COST;
  private readonly slots: Slots;

  constructor(
    readonly limits: CostLimits,
    private readonly now: () => number,
    readonly group: CostGroup | null,
    private readonly onJudged?: (s: SessionCost, judged: number) => void,
  ) {
    this.decayPerSec = limits.hardLimit / 10_000;
    this.costTime = now();
    this.slots = new Slots(limits.initialConcurrent);
    group?.members.add(this);
    this.recalc();
  }

  /** Requests this session may have processed at once now. */
  get concurrency(): number {
    return this.slots.max;
  }

  /** The rest of the group's cost, counted against this session too. */
  extra(): number {
    return this.group ? this.group.total() - this.cost : 0;
  }

  bump(delta: number): void {
    this.cost = Math.max(0, this.cost + delta);
    if (Math.abs(this.cost - this.costLast) > RECALC_DRIFT) this.recalc();
  }

  bumpBytes(bytes: number): void {
    this.bump(bytes / this.limits.bandwidthUnitCost);
  }

  /** Applies the decay since last time and retargets the concurrency (and the sleep). */
  recalc(): void {
    const now = this.now();
    this.cost = Math.max(0, this.cost - ((now - this.costTime) / 1000) * this.decayPerSec);
    this.costTime = now;
    this.costLast = this.cost;
    const range = this.limits.hardLimit - this.limits.softLimit;
    if (this.limits.hardLimit <= 0 || range <= 0) return;
    const judged = this.cost + this.extra();
    this.fraction = Math.max(0, (judged - this.limits.softLimit) / range);
    this.slots.setTarget(Math.max(0, Math.ceil((1 - this.fraction) * this.limits.initialConcurrent)));
    this.onJudged?.(this, judged);
  }

  /** The server's periodic pass: decay set from the subscriptions held, then recalc. */
  periodic(subscriptions: number): void {
    this.decayPerSec = this.limits.hardLimit / (10_000 + 5 * subscriptions);
    this.recalc();
  }

  /** Waits for a processing slot. `excessive` is true when the slot came with the concurrency at 0. */
  admit(): { readonly admitted: Promise<{ readonly excessive: boolean }>; cancel(): boolean } {
    const slot = this.slots.acquire();
    return {
      admitted: slot.held.then(() => ({ excessive: this.limits.hardLimit > 0 && this.slots.max <= 0 })),
      cancel: slot.cancel,
    };
  }

  release(): void {
    this.slots.release();
  }

  /** The sleep before a request now. */
  sleepMs(): number {
    return this.fraction * this.limits.requestSleepMs;
  }

  /** The session closed: its cost stays with its group. */
  close(): void {
    if (!this.group) return;
    this.recalc();
    this.group.members.delete(this);
    this.group.retained += this.cost;
  }
}

/** Everything a method's price depends on beyond its name and arguments. */
export interface PricingFacts {
  /** History length of the scripthash asked about (subscribe, get_history, get_balance, listunspent). */
  readonly historyLength?: number;
  /** Whether that history was in the server's cache of 1,000 histories. */
  readonly historyCached?: boolean;
  /** Mempool entries of that scripthash. */
  readonly mempoolLength?: number;
  /** UTXOs of that scripthash. */
  readonly utxos?: number;
  /** Transactions of the block asked about (get_merkle, id_from_pos). */
  readonly blockTxs?: number;
}

/** A history's price (ElectrumX's limited_history): 0.1, 0.1 more and 0.001 an entry on a cache miss. */
function historyPrice(f: PricingFacts): number {
  return 0.1 + (f.historyCached ? 0 : 0.1 + (f.historyLength ?? 0) * 0.001);
}

/**
 * What ElectrumX charges for a request, before bandwidth and errors (the
 * bump_cost calls of server/session.py). Methods it does not price cost 0.
 */
export function requestCost(method: string, args: readonly unknown[], f: PricingFacts = {}): number {
  switch (method) {
    case 'server.version':
    case 'server.banner':
      return 0.5;
    case 'server.features':
      return 0.2;
    case 'server.donation_address':
    case 'server.ping':
    case 'blockchain.estimatefee':
    case 'blockchain.scripthash.unsubscribe':
      return 0.1;
    case 'server.peers.subscribe':
    case 'blockchain.relayfee':
    case 'blockchain.transaction.get':
    case 'mempool.get_fee_histogram':
    case 'mempool.get_info':
      return 1.0;
    case 'server.add_peer':
      return 100;
    case 'blockchain.headers.subscribe':
      return 0.25;
    case 'blockchain.block.header':
      return Number(args[1] ?? 0) > 0 ? 1.25 : 0.25;
    case 'blockchain.block.headers': {
      const count = Math.min(Math.max(0, Number(args[1]) || 0), 2016);
      return count / 50 + (count > 0 && Number(args[2] ?? 0) > 0 ? 1 : 0);
    }
    case 'blockchain.scripthash.subscribe': {
      // The status string: "txid:height:" per entry, hashed at 0.00002 a character.
      const entries = (f.historyLength ?? 0) + (f.mempoolLength ?? 0);
      return historyPrice(f) + 0.1 + entries * 72 * 0.00002;
    }
    case 'blockchain.scripthash.get_history':
      return historyPrice(f) + 0.25 + (f.mempoolLength ?? 0) / 50;
    case 'blockchain.scripthash.get_mempool':
      return 0.25 + (f.mempoolLength ?? 0) / 50;
    case 'blockchain.scripthash.get_balance':
    case 'blockchain.scripthash.listunspent':
      return 1.0 + (f.utxos ?? 0) / 50;
    case 'blockchain.transaction.broadcast':
      return 0.25 + String(args[0] ?? '').length / 5000;
    case 'blockchain.transaction.get_merkle':
    case 'blockchain.transaction.id_from_pos': {
      const n = f.blockTxs ?? 1;
      return 0.25 + n * 0.0001 + n / 2500;
    }
    default:
      return 0;
  }
}

/** What the cost model saw, for a test's figures. */
export interface CostStats {
  /** The highest cost one session reached (its own). */
  peakSessionCost: number;
  /** The highest cost a session was judged by (its own plus the rest of its group's). */
  peakJudgedCost: number;
  /** The lowest concurrency a session was cut to (initialConcurrent when never throttled). */
  minConcurrency: number;
  /** Requests that slept before being processed (judged cost above the soft limit). */
  throttledRequests: number;
  /** Requests answered -102 "server busy - request timed out". */
  timedOutRequests: number;
  /** Sessions answered -101 "excessive resource usage" and closed. */
  costDisconnects: number;
  /** Error replies (each cost ERROR_COST). */
  errorReplies: number;
}

/** The server-wide side of the model: groups, the history cache, the periodic pass, the figures. */
export class CostModel {
  readonly stats: CostStats;
  private readonly groups = new Map<string, CostGroup>();
  private readonly sessions = new Map<SessionCost, () => number>();
  /** ElectrumX keeps the last 1,000 histories asked for; a miss costs more. */
  private readonly histories = new Map<string, true>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly limits: CostLimits,
    readonly now: () => number = () => performance.now(),
  ) {
    this.stats = { peakSessionCost: 0, peakJudgedCost: 0, minConcurrency: limits.initialConcurrent, throttledRequests: 0, timedOutRequests: 0, costDisconnects: 0, errorReplies: 0 };
  }

  /** A new session from `address`; `subscriptions` counts what it holds (for the periodic decay). */
  open(address: string | undefined, subscriptions: () => number): SessionCost {
    const name = groupOf(address, this.limits.groupPrivate);
    let group: CostGroup | null = null;
    if (name !== null) {
      group = this.groups.get(name) ?? new CostGroup();
      this.groups.set(name, group);
    }
    const s = new SessionCost(this.limits, this.now, group, (x, judged) => {
      if (judged > this.stats.peakJudgedCost) this.stats.peakJudgedCost = judged;
      if (x.concurrency < this.stats.minConcurrency) this.stats.minConcurrency = x.concurrency;
    });
    this.sessions.set(s, subscriptions);
    this.ensureTimer();
    return s;
  }

  close(s: SessionCost): void {
    this.note(s);
    s.close();
    this.sessions.delete(s);
  }

  /** Records a session's cost in the peak (called after each bump). */
  note(s: SessionCost): void {
    if (s.cost > this.stats.peakSessionCost) this.stats.peakSessionCost = s.cost;
  }

  /** Whether a scripthash's history was cached, and now it is (an LRU of 1,000). */
  historyCached(scripthash: string): boolean {
    const hit = this.histories.delete(scripthash);
    this.histories.set(scripthash, true);
    if (this.histories.size > 1000) this.histories.delete(this.histories.keys().next().value!);
    return hit;
  }

  /** ElectrumX's periodic pass: groups' retained cost refunded, each session's decay set from its subscriptions. */
  periodic(): void {
    const refund = (this.limits.recalcPeriodMs / 1000) * (this.limits.hardLimit / 5000);
    for (const [name, g] of this.groups) {
      g.retained = Math.max(0, g.retained - refund);
      if (g.retained === 0 && g.members.size === 0) this.groups.delete(name);
    }
    for (const [s, subs] of this.sessions) s.periodic(subs());
  }

  /** Current costs of the open sessions (own), highest first. */
  sessionCosts(): number[] {
    return [...this.sessions.keys()].map((s) => s.cost).sort((a, b) => b - a);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.periodic(), this.limits.recalcPeriodMs);
    this.timer.unref();
  }
}
