// SPDX-License-Identifier: MIT
/**
 * What `npm run bench` runs, in full and in --quick mode. Sizes are scaled to
 * a small machine (the reference is 2 cores): the load generator, the
 * simulator and the target share the cores, so longer or bigger runs mostly
 * measure the same saturation for longer.
 */
import type { ScenarioSize } from './scenarios/types.js';

export interface PlanEntry {
  /** Row key: a scenario, or a scenario at a particular size (e.g. passthrough at one session). */
  readonly id: string;
  readonly scenario: string;
  readonly size: ScenarioSize;
  /** Target ids to run, in order (the simulator first: the echo floor is sized from its answers). */
  readonly targets: readonly string[];
  readonly note?: string;
  /** Runs per target when not the plan's `repeats` (throughput scenarios). */
  readonly repeats?: number;
}

export interface Plan {
  readonly mode: 'quick' | 'full';
  /** Blocks the simulator is started with (at least one whole 2016-header chunk). */
  readonly blocks: number;
  readonly entries: readonly PlanEntry[];
  /** Length of each profiling run (gateway, 1 worker, under node --cpu-prof). */
  readonly profileMs: number;
  /** Runs of each throughput scenario per target, the targets taking turns; the report shows the median. */
  readonly repeats: number;
}

const THROUGHPUT_TARGETS = ['sim', 'echo', 'haproxy', 'gateway-w1', 'gateway-w2'];

export function makePlan(quick: boolean): Plan {
  const t = quick ? { warmupMs: 300, durationMs: 1500 } : { warmupMs: 1000, durationMs: 5000 };
  return {
    mode: quick ? 'quick' : 'full',
    blocks: quick ? 2100 : 4100,
    profileMs: quick ? 1500 : 10_000,
    repeats: quick ? 1 : 3,
    entries: [
      { id: 'headers-hot', scenario: 'headers-hot', size: { sessions: quick ? 32 : 64, ...t }, targets: THROUGHPUT_TARGETS },
      { id: 'wallet-sync', scenario: 'wallet-sync', size: { sessions: quick ? 8 : 16, ...t }, targets: THROUGHPUT_TARGETS },
      // The Node relay only here: it tells how much of the gap to HAProxy on pass-through is Node's own.
      { id: 'passthrough', scenario: 'passthrough', size: { sessions: quick ? 32 : 64, ...t }, targets: [...THROUGHPUT_TARGETS, 'relay'] },
      {
        id: 'passthrough-1',
        scenario: 'passthrough',
        size: { sessions: 1, ops: quick ? 500 : 5000, warmupMs: quick ? 200 : 1000 },
        targets: ['sim', 'haproxy', 'relay', 'gateway-w1', 'gateway-w2'],
        note: 'one session, one request at a time: the latency a proxy adds',
      },
      {
        id: 'chunk-download',
        scenario: 'chunk-download',
        size: { sessions: quick ? 4 : 8, ...t },
        targets: [...THROUGHPUT_TARGETS, 'gateway-w1-limits'],
      },
      {
        // The start-up of every wallet is the set-up phase; the measured phase is the active tenth's
        // traffic. One run per target in full mode too: each run starts 200 wallets (about 16,000
        // requests) before it measures, and three would add minutes to the benchmark.
        id: 'mixed-real',
        scenario: 'mixed-real',
        size: { sessions: quick ? 50 : 200, ...t },
        targets: THROUGHPUT_TARGETS,
        repeats: 1,
        note: 'wallets that start up and stay subscribed; one in ten active',
      },
      {
        id: 'subscribe-storm',
        scenario: 'subscribe-storm',
        size: { sessions: quick ? 1000 : 10_000, holdMs: quick ? 300 : 1000 },
        targets: ['sim', 'haproxy', 'relay', 'gateway-w1', 'gateway-w2'],
      },
      {
        id: 'idle',
        scenario: 'idle',
        size: { sessions: 10_000, holdMs: quick ? 300 : 3000 },
        targets: ['sim', 'echo', 'haproxy', 'gateway-w1', 'gateway-w2'],
      },
    ],
  };
}
