// SPDX-License-Identifier: MIT
/**
 * What a scenario is. Each scenario file exports one `Scenario`, used on both
 * sides of the load generator:
 *
 * - the coordinator (bench/run.ts, bench/loadgen/coordinator.ts) calls
 *   `prepare` once against the simulator (fund addresses, mine) and passes the
 *   JSON-serialisable data it returns to every worker process;
 * - each worker process (bench/loadgen/worker.ts) opens its share of the
 *   sessions, runs `setup` on each, then `op` in a loop until the run's
 *   duration or operation budget is spent (kind "throughput"), or waits for
 *   the coordinator's event (kind "storm"), or just holds the sessions (kind
 *   "idle").
 */
import type { BenchConnection, PhaseStats } from '../loadgen/client.js';

export type ScenarioKind = 'throughput' | 'storm' | 'idle';

/** The size of a run: how many sessions, and for how long or how many operations. */
export interface ScenarioSize {
  readonly sessions: number;
  /** Measured phase length (throughput scenarios); ignored when `ops` is set. */
  readonly durationMs?: number;
  /** Fixed number of operations instead of a duration. */
  readonly ops?: number;
  /** Operations run before measuring starts (per worker, in time), so caches and JITs are warm. */
  readonly warmupMs?: number;
  /** How long idle sessions are held before memory is read. */
  readonly holdMs?: number;
}

/** What a worker knows while it runs one session's operations. */
export interface SessionContext<D> {
  readonly data: D;
  /** This session's global index (0..sessions-1), stable across workers. */
  readonly index: number;
  /** Deterministic per-session random numbers in [0, 1). */
  readonly random: () => number;
  /** The stats the current phase charges. */
  readonly stats: PhaseStats;
  /** Opens a new connection to the target and negotiates server.version (for scenarios that reconnect). */
  readonly connect: () => Promise<BenchConnection>;
}

/** The sim control client a scenario's prepare/trigger may use (see bench/baselines/sim.ts). */
export interface SimControl {
  call(method: string, params?: readonly unknown[]): Promise<unknown>;
}

export interface PrepareContext {
  readonly sim: SimControl;
  /** Whether this is the quick mode (sizes in prepare may shrink). */
  readonly quick: boolean;
  readonly sessions: number;
  readonly log: (line: string) => void;
}

/** The storm event as the workers see it. */
export interface StormEvent {
  /** Scripthashes whose status the event changes, with the status each ends at. */
  readonly finalStatus: Record<string, string | null>;
  /** The tip height every headers subscriber must be told about. */
  readonly height: number;
  /** Coordinator's clock (performance.timeOrigin + now) when the event was started. */
  readonly startedAtMs: number;
}

export interface Scenario<D = unknown> {
  readonly name: string;
  readonly kind: ScenarioKind;
  /** One line for the docs table. */
  readonly describe: string;
  /** When true, `op` opens and closes its own connections (no pre-opened session per slot). */
  readonly reconnectPerOp?: boolean;
  prepare(ctx: PrepareContext): Promise<D>;
  /** Runs once per session after server.version (subscriptions for storms). */
  setup?(conn: BenchConnection, ctx: SessionContext<D>): Promise<void>;
  /** One operation of the measured phase (throughput scenarios). `conn` is null when reconnectPerOp. */
  op?(conn: BenchConnection | null, ctx: SessionContext<D>): Promise<void>;
  /** Storm scenarios: what the coordinator does to the simulator; returns the event for the workers. */
  trigger?(ctx: PrepareContext, data: D): Promise<Omit<StormEvent, 'startedAtMs'> & { startedAtMs: number }>;
  /**
   * The scripthashes session `index` subscribes to. Storm scenarios: the worker checks its
   * notifications against them; storm and throughput scenarios: the coordinator counts the
   * unique ones against the subscriptions the target opened on the simulator.
   */
  subscriptionsOf?(data: D, index: number): readonly string[];
  /**
   * Throughput scenarios: whether session `index` runs `op` in the measured phase (default:
   * every session). The others keep their connection (and subscriptions) open and say nothing.
   */
  activeInRun?(data: D, index: number): boolean;
}

/** A small deterministic PRNG (mulberry32), so every target sees the same request sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(items: readonly T[], random: () => number): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(random() * items.length)]!;
}
