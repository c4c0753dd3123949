// SPDX-License-Identifier: MIT
/**
 * Runs one scenario against one target: forks the load-generator worker
 * processes, splits the sessions between them, drives the phases, measures
 * the target's process tree from /proc meanwhile, and merges everything into
 * one RunResult.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { PrepareContext, Scenario, ScenarioSize } from '../scenarios/types.js';
import { WORKER_MAIN } from '../paths.js';
import type { PhaseStatsData } from './client.js';
import { Histogram } from './histogram.js';
import type { CoordinatorMessage, DeliveryReport, WorkerMessage } from './messages.js';
import { machineCpu, ProcessMonitor, processTree, sessionsByProcess, type ProcessUsage } from './procstat.js';

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export interface PhaseSummary {
  readonly requests: number;
  readonly ops: number;
  readonly errors: number;
  readonly failures: number;
  readonly notifications: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly latency: LatencySummary;
  readonly errorSamples: string[];
  /** Mean reply line size per method. */
  readonly replyBytes: Record<string, number>;
}

export interface RunResult {
  readonly scenario: string;
  readonly target: string;
  readonly kind: Scenario['kind'];
  readonly sessionsAsked: number;
  readonly sessionsOpened: number;
  readonly sessionFailures: string[];
  readonly generatorProcesses: number;
  /** Opening the sessions and the per-session setup. */
  readonly setup: PhaseSummary & { readonly ms: number };
  /** The measured phase (throughput scenarios). */
  readonly measured: (PhaseSummary & { readonly ms: number; readonly requestsPerSec: number; readonly opsPerSec: number; readonly mbInPerSec: number }) | null;
  /** CPU and memory of the target over the measured phase (throughput) or the whole run (idle, storm). */
  readonly usage: ProcessUsage & { readonly cpuPercent: number };
  /** The same for the simulator behind the target (null when the target is the simulator itself or has none). */
  readonly upstreamUsage: (ProcessUsage & { readonly cpuPercent: number }) | null;
  /** CPU of the load-generator processes over the same window, from /proc. */
  readonly generatorCpuMs: number;
  /**
   * The whole machine's busy CPU over the window (100 = one core), and what is left of it after
   * the target, the simulator behind it and the load generator: other work on the machine, the
   * noise in these figures.
   */
  readonly machineCpuPercent: number;
  readonly otherCpuPercent: number;
  /** When the measured window began and ended (epoch ms, sub-ms precision). */
  readonly window: { readonly startMs: number; readonly endMs: number };
  readonly idle: { readonly rssBeforeKb: number; readonly rssAfterKb: number; readonly perSessionKb: number } | null;
  readonly storm: {
    readonly uniqueScripthashes: number;
    readonly subscriptionsPerSession: number;
    readonly upstreamSubscriptions: number | null;
    readonly rssBeforeKb: number;
    readonly rssSubscribedKb: number;
    readonly perSessionKb: number;
    readonly deliveryMs: LatencySummary;
    readonly sessionsComplete: number;
    readonly sessionsMissing: number;
    readonly notifications: number;
    readonly changedScripthashes: number;
  } | null;
  /**
   * Throughput scenarios whose sessions subscribe (mixed-real): unique scripthashes the
   * sessions subscribed to, and subscriptions the target opened on the simulator (after setup).
   */
  readonly subscriptions?: { readonly unique: number; readonly upstream: number } | null;
  /** Established connections on the target's port per process of its tree, after setup (a cluster's workers). */
  readonly sessionsPerProcess?: readonly { readonly pid: number; readonly sessions: number }[];
  readonly aborted: boolean;
}

export interface RunOptions {
  readonly scenario: Scenario<unknown>;
  readonly data: unknown;
  readonly target: { readonly id: string; readonly host: string; readonly port: number; readonly pid: number };
  /** The upstream simulator's pid when the target is a proxy in front of it. */
  readonly upstreamPid?: number;
  readonly size: ScenarioSize;
  /** Load-generator processes (default 2). */
  readonly generators?: number;
  readonly seed?: number;
  readonly connectConcurrency?: number;
  /** Storm: the sim control and context the trigger uses. */
  readonly prepare?: PrepareContext;
  /** Storm: the simulator's subscription count now (sim.stats), to count upstream subscriptions. */
  readonly upstreamSubscriptions?: () => Promise<number>;
  readonly stormTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

class WorkerHandle {
  private readonly queue: WorkerMessage[] = [];
  private waiter: ((m: WorkerMessage) => void) | null = null;
  private dead: Error | null = null;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m) => this.push(m as WorkerMessage));
    child.on('exit', (code, signal) => {
      this.dead = new Error(`load-generator worker exited (${code ?? signal})`);
      this.push({ type: 'error', message: this.dead.message });
    });
  }

  private push(m: WorkerMessage): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(m);
    } else {
      this.queue.push(m);
    }
  }

  send(m: CoordinatorMessage): void {
    if (this.dead) throw this.dead;
    this.child.send(m);
  }

  async next<T extends WorkerMessage['type']>(type: T): Promise<Extract<WorkerMessage, { type: T }>> {
    const m = this.queue.shift() ?? (await new Promise<WorkerMessage>((resolve) => (this.waiter = resolve)));
    if (m.type === 'error') throw new Error(`load-generator worker: ${m.message}`);
    if (m.type !== type) throw new Error(`load-generator worker sent ${m.type}, expected ${type}`);
    return m as Extract<WorkerMessage, { type: T }>;
  }
}

export function summarizeLatency(h: Histogram): LatencySummary {
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    count: h.count,
    p50Ms: ms(h.quantile(0.5)),
    p90Ms: ms(h.quantile(0.9)),
    p99Ms: ms(h.quantile(0.99)),
    maxMs: ms(h.max),
    meanMs: ms(h.mean),
  };
}

function mergePhases(parts: PhaseStatsData[]): PhaseSummary {
  const h = new Histogram();
  const replies = new Map<string, { n: number; bytes: number }>();
  const samples = new Set<string>();
  const sum = { requests: 0, ops: 0, errors: 0, failures: 0, notifications: 0, bytesIn: 0, bytesOut: 0 };
  for (const p of parts) {
    h.merge(p.latency);
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += p[k];
    for (const [m, v] of Object.entries(p.replyBytes)) {
      const r = replies.get(m) ?? { n: 0, bytes: 0 };
      r.n += v.n;
      r.bytes += v.bytes;
      replies.set(m, r);
    }
    for (const s of p.errorSamples) if (samples.size < 5) samples.add(s);
  }
  return {
    ...sum,
    latency: summarizeLatency(h),
    errorSamples: [...samples],
    replyBytes: Object.fromEntries([...replies].map(([m, r]) => [m, Math.round(r.bytes / r.n)])),
  };
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** Sessions of each generator (they hold consecutive indexes) that run operations in the measured phase. */
function activeCounts(scenario: Scenario<unknown>, data: unknown, counts: readonly number[]): number[] {
  let first = 0;
  return counts.map((count) => {
    let n = 0;
    for (let i = first; i < first + count; i++) if (!scenario.activeInRun || scenario.activeInRun(data, i)) n++;
    first += count;
    return n;
  });
}

function uniqueSubscriptions(scenario: Scenario<unknown>, data: unknown, sessions: number): { unique: number; perSession: number } {
  const unique = new Set<string>();
  let perSession = 0;
  for (let i = 0; i < sessions; i++) {
    const subs = scenario.subscriptionsOf?.(data, i) ?? [];
    perSession = subs.length;
    for (const sh of subs) unique.add(sh);
  }
  return { unique: unique.size, perSession };
}

export async function runLoad(opts: RunOptions): Promise<RunResult> {
  const log = opts.log ?? (() => undefined);
  const { scenario, size } = opts;
  const sessions = size.sessions;
  const generators = Math.max(1, Math.min(opts.generators ?? 2, sessions));
  const handles: WorkerHandle[] = [];
  for (let i = 0; i < generators; i++) {
    handles.push(new WorkerHandle(fork(WORKER_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })));
  }
  const monitor = new ProcessMonitor(opts.target.pid);
  const upstreamMonitor = opts.upstreamPid !== undefined ? new ProcessMonitor(opts.upstreamPid, false) : null;
  const generatorMonitors = handles.map((h) => new ProcessMonitor(h.child.pid!, false));
  let machineAtStart = machineCpu();
  let windowStart = nowMs();
  // The coordinator (this process) is part of the load generator too.
  let selfAtStart = process.cpuUsage();
  const startMonitors = (): void => {
    monitor.start();
    upstreamMonitor?.start();
    for (const g of generatorMonitors) g.start();
    machineAtStart = machineCpu();
    selfAtStart = process.cpuUsage();
    windowStart = nowMs();
  };
  try {
    const whole = scenario.kind !== 'throughput' ? monitor : null;
    if (whole) startMonitors();
    const rssBefore = whole ? whole.rssNowKb() : 0;
    const subsBefore = (scenario.kind === 'storm' || scenario.subscriptionsOf) && opts.upstreamSubscriptions ? await opts.upstreamSubscriptions() : 0;

    // ---- open the sessions
    const setupStarted = nowMs();
    let first = 0;
    const counts = handles.map((_, i) => Math.floor(sessions / generators) + (i < sessions % generators ? 1 : 0));
    handles.forEach((h, i) => {
      const count = counts[i]!;
      h.send({
        type: 'init',
        scenario: scenario.name,
        data: opts.data,
        host: opts.target.host,
        port: opts.target.port,
        first,
        count,
        seed: opts.seed ?? 1,
        connectConcurrency: opts.connectConcurrency ?? 128,
      });
      first += count;
    });
    const ready = await Promise.all(handles.map((h) => h.next('ready')));
    const setupMs = nowMs() - setupStarted;
    const opened = ready.reduce((n, r) => n + r.opened, 0);
    const sessionFailures = [...new Set(ready.flatMap((r) => r.failures))].slice(0, 5);
    const setup = { ...mergePhases(ready.map((r) => r.setup)), ms: Math.round(setupMs) };
    log(`  ${opened}/${sessions} sessions open in ${setup.ms} ms${sessionFailures.length ? ` (failures: ${sessionFailures.join('; ')})` : ''}`);
    // Where the sessions landed: with a cluster, how evenly the workers share them.
    const sessionsPerProcess = sessionsByProcess(processTree(opts.target.pid), opts.target.port);
    let subscriptions: RunResult['subscriptions'] = null;
    if (scenario.kind === 'throughput' && scenario.subscriptionsOf && opts.upstreamSubscriptions) {
      subscriptions = { unique: uniqueSubscriptions(scenario, opts.data, sessions).unique, upstream: (await opts.upstreamSubscriptions()) - subsBefore };
    }

    let measured: RunResult['measured'] = null;
    let usage: ProcessUsage;
    let usageMs: number;
    let generatorCpuMs = 0;
    let idle: RunResult['idle'] = null;
    let storm: RunResult['storm'] = null;
    let aborted = false;

    if (scenario.kind === 'throughput') {
      const warmupMs = size.warmupMs ?? 0;
      const hardLimitMs = size.ops !== undefined ? 300_000 : warmupMs + (size.durationMs ?? 0) + 60_000;
      // An operation budget is split like the sessions that run operations, so the total is exactly size.ops.
      const active = activeCounts(scenario, opts.data, counts);
      const activeTotal = Math.max(1, active.reduce((a, b) => a + b, 0));
      const shares = active.map((c) => (size.ops === undefined ? undefined : Math.floor((size.ops * c) / activeTotal)));
      if (size.ops !== undefined) {
        const most = active.indexOf(Math.max(...active));
        shares[most] = shares[most]! + size.ops - shares.reduce((a: number, b) => a + (b ?? 0), 0);
      }
      handles.forEach((h, i) => {
        const ops = shares[i];
        h.send({ type: 'run', durationMs: size.durationMs, ...(ops !== undefined ? { ops } : {}), warmupMs, hardLimitMs });
      });
      const monitorTimer = setTimeout(startMonitors, warmupMs);
      const done = await Promise.all(handles.map((h) => h.next('done')));
      clearTimeout(monitorTimer);
      usage = monitor.stop();
      // A generator whose sessions all sit idle (mixed-real) measured nothing: it does not count.
      const measuring = done.filter((d) => d.measuredMs > 0);
      const ms = Math.max(1, measuring.reduce((s, d) => s + d.measuredMs, 0) / Math.max(1, measuring.length));
      const phase = mergePhases(done.map((d) => d.stats));
      aborted = done.some((d) => d.aborted);
      usageMs = ms;
      measured = {
        ...phase,
        ms: Math.round(ms),
        requestsPerSec: Math.round((phase.requests / ms) * 1000),
        opsPerSec: Math.round((phase.ops / ms) * 10_000) / 10,
        mbInPerSec: Math.round((phase.bytesIn / ms / 1000) * 100) / 100,
      };
    } else if (scenario.kind === 'idle') {
      await new Promise((r) => setTimeout(r, size.holdMs ?? 1000));
      const rssAfter = monitor.rssNowKb();
      usage = monitor.stop();
      usageMs = nowMs() - setupStarted;
      idle = { rssBeforeKb: rssBefore, rssAfterKb: rssAfter, perSessionKb: opened > 0 ? Math.round(((rssAfter - rssBefore) / opened) * 100) / 100 : 0 };
    } else {
      // storm: every session subscribed during setup; now the chain changes.
      if (!scenario.trigger || !opts.prepare) throw new Error(`storm scenario ${scenario.name} needs a trigger and a sim`);
      await new Promise((r) => setTimeout(r, size.holdMs ?? 500));
      const rssSubscribed = monitor.rssNowKb();
      const subsAfter = opts.upstreamSubscriptions ? await opts.upstreamSubscriptions() : null;
      const { unique, perSession } = uniqueSubscriptions(scenario, opts.data, sessions);
      const event = await scenario.trigger(opts.prepare, opts.data);
      log(`  event: ${Object.keys(event.finalStatus).length} scripthashes changed, tip ${event.height}`);
      for (const h of handles) h.send({ type: 'event', event, timeoutMs: opts.stormTimeoutMs ?? 60_000 });
      const reports: DeliveryReport[] = (await Promise.all(handles.map((h) => h.next('delivered')))).map((d) => d.report);
      usage = monitor.stop();
      usageMs = nowMs() - setupStarted;
      const h = new Histogram();
      for (const r of reports) for (const c of r.completionMs) h.record(c * 1000);
      storm = {
        uniqueScripthashes: unique,
        subscriptionsPerSession: perSession,
        upstreamSubscriptions: subsAfter === null ? null : subsAfter - subsBefore,
        rssBeforeKb: rssBefore,
        rssSubscribedKb: rssSubscribed,
        perSessionKb: opened > 0 ? Math.round(((rssSubscribed - rssBefore) / opened) * 100) / 100 : 0,
        deliveryMs: summarizeLatency(h),
        sessionsComplete: h.count,
        sessionsMissing: reports.reduce((n, r) => n + r.missing, 0),
        notifications: reports.reduce((n, r) => n + r.notifications, 0),
        changedScripthashes: Object.keys(event.finalStatus).length,
      };
    }
    const upstreamUsage = upstreamMonitor ? upstreamMonitor.stop() : null;
    const self = process.cpuUsage(selfAtStart);
    generatorCpuMs = generatorMonitors.reduce((s, g) => s + g.stop().cpuMs, 0) + Math.round((self.user + self.system) / 1000);
    const machineAtEnd = machineCpu();
    const windowMs = Math.max(1, usageMs);
    const machineBusyMs = machineAtEnd.busyMs - machineAtStart.busyMs;
    const otherMs = Math.max(0, machineBusyMs - usage.cpuMs - (upstreamUsage?.cpuMs ?? 0) - generatorCpuMs);
    return {
      scenario: scenario.name,
      target: opts.target.id,
      kind: scenario.kind,
      sessionsAsked: sessions,
      sessionsOpened: opened,
      sessionFailures,
      generatorProcesses: generators,
      setup,
      measured,
      usage: { ...usage, cpuPercent: Math.round((usage.cpuMs / Math.max(1, usageMs)) * 1000) / 10 },
      upstreamUsage: upstreamUsage ? { ...upstreamUsage, cpuPercent: Math.round((upstreamUsage.cpuMs / Math.max(1, usageMs)) * 1000) / 10 } : null,
      generatorCpuMs,
      window: { startMs: windowStart, endMs: nowMs() },
      machineCpuPercent: Math.round((machineBusyMs / windowMs) * 100),
      otherCpuPercent: Math.round((otherMs / windowMs) * 100),
      idle,
      storm,
      subscriptions,
      sessionsPerProcess,
      aborted,
    };
  } finally {
    monitor.stop();
    upstreamMonitor?.stop();
    for (const g of generatorMonitors) g.stop();
    for (const h of handles) {
      try {
        h.send({ type: 'close' });
      } catch {
        /* already gone */
      }
    }
    await Promise.all(
      handles.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.child.exitCode !== null || h.child.signalCode !== null) return resolve();
            const t = setTimeout(() => h.child.kill('SIGKILL'), 5_000);
            h.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }
}
