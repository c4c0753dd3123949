// SPDX-License-Identifier: MIT
/**
 * The benchmark's results file and the generated part of docs/benchmarks.md:
 * the tables, the ratios of the gateway to each baseline, and the project's
 * targets with met / not met.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { RunResult } from './loadgen/coordinator.js';
import type { ProfileSummary } from './profile.js';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly totalMemGb: number;
  readonly os: string;
  readonly node: string;
  readonly haproxy: string | null;
  readonly openFilesLimit: number;
  /** 1-minute load average when the benchmark started and ended (other work on the machine shows here). */
  readonly loadAverage: { readonly start: number; readonly end: number };
  /** The commit measured, with "+dirty" when the working tree had changes. */
  readonly commit: string | null;
}

export interface TargetCheck {
  readonly id: string;
  readonly goal: string;
  /** What was measured, in words and numbers. */
  readonly measured: string;
  /** null when the run needed for it did not happen. */
  readonly met: boolean | null;
  /** Scenario whose profile explains a miss (throughput targets only). */
  readonly profileScenario?: string;
}

export interface BenchResults {
  readonly date: string;
  readonly command: string;
  readonly mode: 'quick' | 'full';
  readonly machine: Machine;
  readonly generatorProcesses: number;
  /** Runs of each throughput scenario per target (the table shows the median). */
  readonly repeats: number;
  readonly plan: unknown;
  readonly runs: RunResult[];
  readonly skipped: { readonly entry: string; readonly target: string; readonly reason: string }[];
  readonly targets: TargetCheck[];
  /** cpuMs: the CPU the gateway really used in the profiled window (/proc), to set against the profile's busy time. */
  readonly profiles: { readonly scenario: string; readonly target: string; readonly summary: ProfileSummary; readonly cpuMs?: number }[];
  readonly notes: string[];
  readonly durationMs: number;
}

export const TARGET_LABELS: Record<string, string> = {
  echo: 'echo floor',
  sim: 'simulator direct',
  haproxy: 'HAProxy (TCP)',
  'gateway-w1': 'gateway, 1 worker',
  'gateway-w2': 'gateway, 2 workers',
  'gateway-w1-limits': 'gateway, 1 worker, default limits',
};

/** Finds a run by plan entry id (runs carry it in `entry`) and target. */
export type EntryRun = RunResult & {
  readonly entry: string;
  readonly repetition?: number;
  /** A run repeated because other work disturbed it (the quieter of the two stands). */
  readonly superseded?: boolean;
};

/** The run that stands for (entry, target): the only one, or the median by req/s of the repetitions. */
export function find(runs: readonly EntryRun[], entry: string, target: string): EntryRun | undefined {
  const all = runs.filter((r) => r.entry === entry && r.target === target && !r.aborted && !r.superseded);
  if (all.length <= 1) return all[0];
  const sorted = [...all].sort((a, b) => (a.measured?.requestsPerSec ?? 0) - (b.measured?.requestsPerSec ?? 0));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (a: number, b: number): string => (b > 0 ? `${fmt(a / b, 2)}×` : '–');
const mb = (kb: number): string => fmt(kb / 1024, 1);
const pct = (cpuMs: number, wallMs: number): number => Math.round((cpuMs / Math.max(1, wallMs)) * 100);

export function checkTargets(runs: readonly EntryRun[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const hot = find(runs, 'headers-hot', 'gateway-w1');
  const hot2 = find(runs, 'headers-hot', 'gateway-w2');
  const echo = find(runs, 'headers-hot', 'echo');
  const simHot = find(runs, 'headers-hot', 'sim');
  const rps = (r: EntryRun | undefined): number => r?.measured?.requestsPerSec ?? 0;
  const also2 = (r: EntryRun | undefined, base: EntryRun | undefined): string =>
    r && base ? `; 2 workers ${ratio(rps(r), rps(base))}` : '';
  out.push({
    id: 'cache-hit-vs-echo',
    goal: 'cache-hit throughput (headers-hot) ≥ 0.5× the echo server',
    measured: hot && echo ? `${ratio(rps(hot), rps(echo))} (${fmt(rps(hot))} vs ${fmt(rps(echo))} req/s${also2(hot2, echo)})` : 'not run',
    met: hot && echo ? rps(hot) >= 0.5 * rps(echo) : null,
    profileScenario: 'headers-hot',
  });
  out.push({
    id: 'cache-hit-vs-upstream',
    goal: 'cache-hit throughput (headers-hot) ≥ 10× the upstream direct',
    measured: hot && simHot ? `${ratio(rps(hot), rps(simHot))} (${fmt(rps(hot))} vs ${fmt(rps(simHot))} req/s${also2(hot2, simHot)})` : 'not run',
    met: hot && simHot ? rps(hot) >= 10 * rps(simHot) : null,
    profileScenario: 'headers-hot',
  });
  const pt = find(runs, 'passthrough', 'gateway-w1');
  const pt2 = find(runs, 'passthrough', 'gateway-w2');
  const ha = find(runs, 'passthrough', 'haproxy');
  out.push({
    id: 'passthrough-vs-haproxy',
    goal: 'pass-through throughput ≥ 0.9× HAProxy',
    measured: pt && ha ? `${ratio(rps(pt), rps(ha))} (${fmt(rps(pt))} vs ${fmt(rps(ha))} req/s${also2(pt2, ha)})` : 'not run',
    met: pt && ha ? rps(pt) >= 0.9 * rps(ha) : null,
    profileScenario: 'passthrough',
  });
  const p1 = find(runs, 'passthrough-1', 'gateway-w1');
  const h1 = find(runs, 'passthrough-1', 'haproxy');
  const added = p1?.measured && h1?.measured ? p1.measured.latency.p50Ms - h1.measured.latency.p50Ms : null;
  out.push({
    id: 'passthrough-added-p50',
    goal: 'pass-through adds ≤ 0.2 ms to p50 (vs HAProxy, one session)',
    measured:
      added !== null
        ? `+${fmt(added, 3)} ms (p50 ${fmt(p1!.measured!.latency.p50Ms, 3)} vs ${fmt(h1!.measured!.latency.p50Ms, 3)} ms)`
        : 'not run',
    met: added === null ? null : added <= 0.2,
    profileScenario: 'passthrough',
  });
  const idle = find(runs, 'idle', 'gateway-w1');
  const idleOk = idle?.idle && idle.sessionsOpened >= 10_000;
  out.push({
    id: 'idle-rss',
    goal: '10,000 idle sessions ≤ 150 MB RSS',
    measured: idle?.idle
      ? `${mb(idle.idle.rssAfterKb)} MB with ${fmt(idle.sessionsOpened)} sessions (${fmt(idle.idle.perSessionKb, 1)} kB each)`
      : 'not run',
    met: idle?.idle ? (idleOk ? idle.idle.rssAfterKb <= 150 * 1024 : false) : null,
  });
  const storm = find(runs, 'subscribe-storm', 'gateway-w1');
  const s = storm?.storm;
  out.push({
    id: 'storm-one-subscription',
    goal: 'subscribe-storm: exactly one upstream subscription per unique scripthash',
    measured: s
      ? `${fmt(s.upstreamSubscriptions ?? -1)} upstream subscriptions for ${fmt(s.uniqueScripthashes)} unique scripthashes; ${fmt(s.sessionsMissing)} sessions missed a notification`
      : 'not run',
    met: s ? s.upstreamSubscriptions === s.uniqueScripthashes && s.sessionsMissing === 0 : null,
  });
  return out;
}

function throughputTable(runs: readonly EntryRun[], entries: readonly string[]): string {
  const head =
    '| scenario | target | sessions | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | MB/s in | target CPU % | peak RSS MB | upstream CPU % | generator CPU % | other CPU % | × echo | × sim | × HAProxy |\n' +
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const rows: string[] = [];
  for (const entry of entries) {
    const targets = [...new Set(runs.filter((r) => r.entry === entry && r.measured).map((r) => r.target))];
    const base = (t: string): number => find(runs, entry, t)?.measured?.requestsPerSec ?? 0;
    for (const t of targets) {
      const r = find(runs, entry, t);
      if (!r?.measured) continue;
      const m = r.measured!;
      const isGw = r.target.startsWith('gateway');
      const rel = (t: string): string => (isGw && base(t) > 0 ? ratio(m.requestsPerSec, base(t)) : '');
      rows.push(
        `| ${entry} | ${TARGET_LABELS[r.target] ?? r.target} | ${fmt(r.sessionsOpened)} | ${fmt(m.requestsPerSec)} | ${fmt(m.latency.p50Ms, 3)} | ${fmt(m.latency.p90Ms, 3)} | ${fmt(m.latency.p99Ms, 3)} | ${fmt(m.latency.maxMs, 1)} | ${fmt(m.errors + m.failures)} | ${fmt(m.mbInPerSec, 1)} | ${fmt(r.usage.cpuPercent)} | ${mb(r.usage.peakRssKb)} | ${r.upstreamUsage ? fmt(r.upstreamUsage.cpuPercent) : ''} | ${fmt(pct(r.generatorCpuMs, m.ms))} | ${fmt(r.otherCpuPercent)} | ${rel('echo')} | ${rel('sim')} | ${rel('haproxy')} |`,
      );
    }
  }
  return `${head}\n${rows.join('\n')}`;
}

function stormTable(runs: readonly EntryRun[]): string {
  const head =
    '| target | sessions | subscriptions / session | unique scripthashes | upstream subscriptions | subscribe phase s | delivery p50 ms | p99 ms | max ms | sessions missed | RSS / session kB | peak RSS MB | other CPU % |\n' +
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const rows = runs
    .filter((r) => r.storm)
    .map((r) => {
      const s = r.storm!;
      return `| ${TARGET_LABELS[r.target] ?? r.target} | ${fmt(r.sessionsOpened)} | ${s.subscriptionsPerSession} + headers | ${fmt(s.uniqueScripthashes)} | ${s.upstreamSubscriptions === null ? '?' : fmt(s.upstreamSubscriptions)} | ${fmt(r.setup.ms / 1000, 1)} | ${fmt(s.deliveryMs.p50Ms, 1)} | ${fmt(s.deliveryMs.p99Ms, 1)} | ${fmt(s.deliveryMs.maxMs, 1)} | ${fmt(s.sessionsMissing)} | ${fmt(s.perSessionKb, 1)} | ${mb(r.usage.peakRssKb)} | ${fmt(r.otherCpuPercent)} |`;
    });
  return `${head}\n${rows.join('\n')}`;
}

function idleTable(runs: readonly EntryRun[]): string {
  const head = '| target | sessions | open s | RSS before MB | RSS with sessions MB | kB / session | CPU ms (whole run) | other CPU % |\n|---|--:|--:|--:|--:|--:|--:|--:|';
  const rows = runs
    .filter((r) => r.idle)
    .map((r) => {
      const i = r.idle!;
      return `| ${TARGET_LABELS[r.target] ?? r.target} | ${fmt(r.sessionsOpened)} | ${fmt(r.setup.ms / 1000, 1)} | ${mb(i.rssBeforeKb)} | ${mb(i.rssAfterKb)} | ${fmt(i.perSessionKb, 1)} | ${fmt(r.usage.cpuMs)} | ${fmt(r.otherCpuPercent)} |`;
    });
  return `${head}\n${rows.join('\n')}`;
}

function mixedRealTable(runs: readonly EntryRun[]): string {
  const head =
    '| target | wallets | active | start-up s | start-up requests | start-up p50 ms | start-up p99 ms | unique scripthashes | upstream subscriptions | active req/s | p50 ms | p99 ms | max ms | errors | target CPU % | peak RSS MB | other CPU % |\n' +
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const targets = [...new Set(runs.filter((r) => r.measured).map((r) => r.target))];
  const rows: string[] = [];
  for (const t of targets) {
    const r = find(runs, 'mixed-real', t);
    if (!r?.measured) continue;
    const m = r.measured;
    const active = Math.ceil(r.sessionsOpened / 10);
    // The echo floor answers filler and opens nothing upstream.
    const subs = r.subscriptions && t !== 'echo' ? fmt(r.subscriptions.upstream) : '';
    rows.push(
      `| ${TARGET_LABELS[t] ?? t} | ${fmt(r.sessionsOpened)} | ${fmt(active)} | ${fmt(r.setup.ms / 1000, 1)} | ${fmt(r.setup.requests)} | ${fmt(r.setup.latency.p50Ms, 3)} | ${fmt(r.setup.latency.p99Ms, 3)} | ${r.subscriptions ? fmt(r.subscriptions.unique) : ''} | ${subs} | ${fmt(m.requestsPerSec)} | ${fmt(m.latency.p50Ms, 3)} | ${fmt(m.latency.p99Ms, 3)} | ${fmt(m.latency.maxMs, 1)} | ${fmt(r.setup.errors + r.setup.failures + m.errors + m.failures)} | ${fmt(r.usage.cpuPercent)} | ${mb(r.usage.peakRssKb)} | ${fmt(r.otherCpuPercent)} |`,
    );
  }
  return `${head}\n${rows.join('\n')}`;
}

/**
 * How a cluster shared the work: per plan entry, the established sessions each worker held
 * after set-up and each process's CPU over the measured window (the primary first).
 */
function clusterTable(runs: readonly EntryRun[], entries: readonly string[]): string {
  const head = '| scenario | target | sessions per worker | CPU % per worker | primary CPU % |\n|---|---|---|---|--:|';
  const rows: string[] = [];
  for (const entry of entries) {
    const targets = [...new Set(runs.filter((r) => r.entry === entry && r.target.startsWith('gateway')).map((r) => r.target))];
    for (const t of targets) {
      const r = find(runs, entry, t);
      const per = r?.sessionsPerProcess;
      if (!r || !per || per.length < 2) continue;
      const wallMs = r.measured?.ms ?? Math.max(1, r.window.endMs - r.window.startMs);
      const cpu = (pid: number): string => fmt(pct(r.usage.cpuMsByPid?.[String(pid)] ?? 0, wallMs));
      const workers = per.slice(1);
      rows.push(
        `| ${entry} | ${TARGET_LABELS[t] ?? t} | ${workers.map((w) => fmt(w.sessions)).join(' / ')} | ${workers.map((w) => cpu(w.pid)).join(' / ')} | ${cpu(per[0]!.pid)} |`,
      );
    }
  }
  return rows.length > 0 ? `${head}\n${rows.join('\n')}` : '';
}

function targetsTable(targets: readonly TargetCheck[]): string {
  const head = '| target | measured (gateway, 1 worker) | met? |\n|---|---|---|';
  const rows = targets.map((t) => `| ${t.goal} | ${t.measured} | ${t.met === null ? 'not run' : t.met ? '**met**' : '**not met**'} |`);
  return `${head}\n${rows.join('\n')}`;
}

function profilesSection(profiles: BenchResults['profiles']): string {
  if (profiles.length === 0) return '';
  const parts = profiles.map((p) => {
    const busy = p.summary.totalMs - p.summary.idleMs;
    const rows = p.summary.top
      .map((e) => `| ${e.function.replace(/\|/g, '\\|')} | ${e.location || '(native)'} | ${fmt(e.selfMs, 1)} | ${fmt(e.percent, 1)} |`)
      .join('\n');
    return (
      `**${p.scenario}**, ${TARGET_LABELS[p.target] ?? p.target}: ${fmt(busy)} ms not idle in the ${fmt(p.summary.totalMs)} ms measured window (start-up excluded)` +
      (p.cpuMs !== undefined ? `; the process used ${fmt(p.cpuMs)} ms of CPU in it (/proc).` : '.') +
      '\n\n' +
      `| function | where | self ms | % of busy |\n|---|---|--:|--:|\n${rows}`
    );
  });
  return (
    '### CPU profiles (node --cpu-prof)\n\n' +
    'The gateway (1 worker) run again under `node --cpu-prof` on the scenarios behind the missed targets (and any named with `--profile`); ' +
    'self time per function over the measured window only. V8 samples the main thread on wall-clock time: when the process is ' +
    'switched out (on 2 busy cores, often right after a socket write wakes the reader), the time is charged to the frame it was in, ' +
    'so native calls that wake another process (socket writes) look heavier than their CPU cost. The CPU from /proc also counts ' +
    'V8\'s helper threads (concurrent GC and compilation), so it can exceed the window.\n\n' +
    `${parts.join('\n\n')}\n`
  );
}

export const BEGIN = '<!-- bench:results:begin (generated by bench/run.ts; do not edit by hand) -->';
export const END = '<!-- bench:results:end -->';

export function renderResults(results: BenchResults, entriesInOrder: readonly string[]): string {
  const runs = results.runs as EntryRun[];
  const m = results.machine;
  const throughputEntries = entriesInOrder.filter((e) => runs.some((r) => r.entry === e && r.measured));
  // Entries the plan runs once per target even in full mode (mixed-real).
  const singleRun = throughputEntries.filter((e) => runs.every((r) => r.entry !== e || r.superseded || r.repetition === undefined));
  const lines: string[] = [
    BEGIN,
    '',
    `Measured ${results.date} (${results.mode} mode, ${fmt(results.durationMs / 1000)} s) with:`,
    '',
    '```sh',
    results.command,
    '```',
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${fmt(m.totalMemGb, 1)} GB RAM; ${m.os}; Node ${m.node}; HAProxy ${m.haproxy ?? 'not installed'}; open files limit ${fmt(m.openFilesLimit)}; ` +
      `1-minute load average ${fmt(m.loadAverage.start, 2)} at the start, ${fmt(m.loadAverage.end, 2)} at the end. ` +
      `The load generator (${results.generatorProcesses} processes), the simulator and the target share these cores. Commit ${m.commit ?? 'unknown'}.`,
    '',
    '### Targets',
    '',
    targetsTable(results.targets),
    '',
    '### Throughput and latency',
    '',
    'Closed loop: every session keeps one request (wallet-sync: one wallet start-up) in flight. ' +
      'CPU % is CPU time over wall time (100 = one core busy); upstream CPU % is the simulator behind a proxy; ' +
      'generator CPU % is the load generator; other CPU % is whatever else the machine ran meanwhile (noise). ' +
      'Ratios are the gateway\'s req/s over each baseline\'s in the same scenario.' +
      (results.repeats > 1
        ? ` Each row is the median (by req/s) of ${results.repeats} runs, the targets taking turns; every run is in the results file` +
          (singleRun.length > 0 ? ` (${singleRun.join(', ')}: one run per target).` : '.')
        : '') +
      (runs.some((r) => r.superseded)
        ? ` ${runs.filter((r) => r.superseded).length} runs during which other work used more than half a core were run again and the quieter run kept (both are in the results file).`
        : ''),
    '',
    throughputTable(runs, throughputEntries),
    '',
    '### subscribe-storm',
    '',
    'Delivery: from the first payment until a session has the new tip and the final status of every changed scripthash it watches.',
    '',
    stormTable(runs.filter((r) => r.entry === 'subscribe-storm')),
    '',
  ];
  const mixed = runs.filter((r) => r.entry === 'mixed-real' && !r.superseded);
  if (mixed.length > 0) {
    lines.push(
      '### mixed-real',
      '',
      'Every session is a wallet: its start-up (the wallet-sync requests, every wallet at once) is the set-up phase; then one wallet in ten keeps a request in flight ' +
        '(get_history 50 %, transaction.get 40 %, broadcast of a transaction already in the mempool 10 %) while the others sit on their subscriptions. ' +
        'Upstream subscriptions: those the target opened on the simulator for the wallets\' unique scripthashes.',
      '',
      mixedRealTable(mixed),
      '',
    );
  }
  lines.push('### idle', '', idleTable(runs.filter((r) => r.entry === 'idle')), '');
  const cluster = clusterTable(runs, entriesInOrder);
  if (cluster) {
    lines.push(
      '### Cluster workers',
      '',
      'For the gateway with 2 workers: the established sessions each worker held after set-up (from /proc: its sockets on the listening port) ' +
        'and each process\'s CPU over the measured window (the whole run for idle and storm).',
      '',
      cluster,
      '',
    );
  }
  if (results.skipped.length > 0) {
    lines.push('Not run: ' + results.skipped.map((s) => `${s.entry} × ${TARGET_LABELS[s.target] ?? s.target} (${s.reason})`).join('; ') + '.', '');
  }
  if (results.notes.length > 0) lines.push(...results.notes.map((n) => `- ${n}`), '');
  const prof = profilesSection(results.profiles);
  if (prof) lines.push(prof);
  lines.push(END);
  return lines.join('\n');
}

/** Replaces the generated block of the docs page (or appends one), keeping the hand-written text around it. */
export function updateDocs(file: string, block: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const b = text.indexOf(BEGIN);
  const e = text.indexOf(END);
  const next = b !== -1 && e > b ? text.slice(0, b) + block + text.slice(e + END.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
