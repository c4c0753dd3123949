// SPDX-License-Identifier: MIT
/**
 * Where group costs live. The local ledger keeps them in this process; the
 * Redis ledger (redis-ledger.ts) shares them between gateway instances. Both
 * answer `current` synchronously from what they know, so checking a budget
 * never waits on the network.
 */
import { DecayingCost } from './cost.js';

export type LedgerState = 'local' | 'shared' | 'fallback';

export interface CostLedger {
  /** Adds units to a group's cost. */
  charge(group: string, units: number): void;
  /** The group's cost as best known now. */
  current(group: string): number;
  /** The costliest groups, for /status. */
  top(n: number): { group: string; cost: number }[];
  state(): LedgerState;
  close(): Promise<void>;
}

export class LocalLedger implements CostLedger {
  private readonly costs = new Map<string, DecayingCost>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly decayPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    // Forget groups that decayed to nothing so the map tracks only recent talkers.
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  charge(group: string, units: number): void {
    if (units <= 0) return;
    let cost = this.costs.get(group);
    if (!cost) {
      cost = new DecayingCost(this.decayPerSecond, this.now());
      this.costs.set(group, cost);
    }
    cost.add(units, this.now());
  }

  current(group: string): number {
    return this.costs.get(group)?.get(this.now()) ?? 0;
  }

  /** Overwrites a group's cost with a figure learned elsewhere (the shared ledger's answer). */
  set(group: string, value: number): void {
    const cost = new DecayingCost(this.decayPerSecond, this.now());
    cost.add(value, this.now());
    this.costs.set(group, cost);
  }

  top(n: number): { group: string; cost: number }[] {
    const now = this.now();
    return [...this.costs.entries()]
      .map(([group, c]) => ({ group, cost: Math.round(c.get(now) * 100) / 100 }))
      .filter((e) => e.cost > 0)
      .sort((a, b) => b.cost - a.cost)
      .slice(0, n);
  }

  state(): LedgerState {
    return 'local';
  }

  sweep(): void {
    const now = this.now();
    for (const [group, cost] of this.costs) if (cost.get(now) === 0) this.costs.delete(group);
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return Promise.resolve();
  }
}
