// SPDX-License-Identifier: MIT
/**
 * The benchmark, one command:
 *
 *   npm run bench                 full run (about 10 minutes on 2 cores)
 *   npm run bench -- --quick      the same scenarios, smaller and shorter (under 2 minutes)
 *
 * Options (after `--`):
 *   --quick                 quick mode
 *   --scenarios a,b         only these plan entries (headers-hot, wallet-sync, passthrough,
 *                           passthrough-1, chunk-download, mixed-real, subscribe-storm, idle)
 *   --targets a,b           only these targets (sim, echo, haproxy, relay, gateway-w1, gateway-w2,
 *                           gateway-w1-limits)
 *   --generators N          load-generator processes (default 2)
 *   --no-retry              keep runs during which other work used more than half a core
 *                           (by default such a throughput run is run once more, the quieter kept)
 *   --no-profile            skip the CPU profiles of missed targets
 *   --profile a,b           profile the gateway on these scenarios whatever the targets say
 *   --keep-profiles DIR     keep the raw .cpuprofile files there (for Chrome DevTools or a call-tree reading)
 *   --out FILE              results file (default bench/results/YYYY-MM-DD.json)
 *   --docs FILE             page whose generated block is replaced (default docs/benchmarks.md);
 *   --no-docs               leave the docs alone
 *   --render FILE           run nothing: regenerate the docs block from a results file (targets
 *                           checked again from its runs)
 *
 * One simulator (test/sim) runs for the whole benchmark; every other target is
 * started fresh for each run and stopped after it, so each run's CPU and peak
 * memory are its own. See docs/benchmarks.md for what is measured and how.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { allowedKeysAt } from '../src/config/schema.js';
import { haproxyBinary, haproxyVersion } from './baselines/haproxy.js';
import { startSim, type SimProcess } from './baselines/sim.js';
import { runLoad, type RunResult } from './loadgen/coordinator.js';
import { openFileLimit } from './loadgen/procstat.js';
import { REPO_ROOT } from './paths.js';
import { makePlan, type PlanEntry } from './plan.js';
import { newestProfile, summarizeProfile } from './profile.js';
import { checkTargets, renderResults, TARGET_LABELS, updateDocs, verdict, type BenchResults, type EntryRun, type Machine } from './report.js';
import { getScenario } from './scenarios/index.js';
import type { PrepareContext } from './scenarios/types.js';
import { startTarget, type GatewayKeys, type TargetSpec } from './targets.js';

export const TARGET_SPECS: Record<string, TargetSpec> = {
  sim: { id: 'sim', kind: 'sim', label: TARGET_LABELS['sim']! },
  echo: { id: 'echo', kind: 'echo', label: TARGET_LABELS['echo']! },
  haproxy: { id: 'haproxy', kind: 'haproxy', label: TARGET_LABELS['haproxy']! },
  relay: { id: 'relay', kind: 'relay', label: TARGET_LABELS['relay']! },
  'gateway-w1': { id: 'gateway-w1', kind: 'gateway', workers: 1, label: TARGET_LABELS['gateway-w1']! },
  'gateway-w2': { id: 'gateway-w2', kind: 'gateway', workers: 2, label: TARGET_LABELS['gateway-w2']! },
  'gateway-w1-limits': { id: 'gateway-w1-limits', kind: 'gateway', workers: 1, defaultLimits: true, label: TARGET_LABELS['gateway-w1-limits']! },
};

export function gitCommit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head}+dirty`;
  } catch {
    return null;
  }
}

export function machine(loadAtStart: number = os.loadavg()[0] ?? 0): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    totalMemGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    haproxy: haproxyVersion(),
    openFilesLimit: openFileLimit(),
    loadAverage: { start: Math.round(loadAtStart * 100) / 100, end: Math.round((os.loadavg()[0] ?? 0) * 100) / 100 },
    commit: gitCommit(),
  };
}

export function gatewayKeys(): GatewayKeys {
  return { top: allowedKeysAt([]) ?? [], limits: allowedKeysAt(['limits']) ?? [], cost: allowedKeysAt(['cost']) ?? [] };
}

function today(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Why a target cannot run this entry on this build and machine, or null. */
function skipReason(entry: PlanEntry, spec: TargetSpec, keys: GatewayKeys): string | null {
  const kind = getScenario(entry.scenario).kind;
  if (spec.kind === 'echo' && kind === 'storm') return 'the echo server sends no notifications';
  if (spec.kind === 'haproxy' && haproxyBinary() === null) return 'haproxy is not installed';
  if (spec.kind === 'gateway' && (spec.workers ?? 1) > 1 && !keys.top.includes('workers')) return 'this build has no workers setting';
  if (spec.defaultLimits && !keys.top.includes('cost')) return 'this build has no cost limiter yet';
  return null;
}

function oneLine(r: RunResult): string {
  if (r.measured) {
    const m = r.measured;
    const subs = r.subscriptions ? `, ${fmtInt(r.subscriptions.upstream)} upstream subscriptions for ${fmtInt(r.subscriptions.unique)} unique` : '';
    const per = r.sessionsPerProcess && r.sessionsPerProcess.length > 1 ? `, sessions per process ${r.sessionsPerProcess.map((p) => p.sessions).join('/')}` : '';
    return `${fmtInt(m.requestsPerSec)} req/s, p50 ${m.latency.p50Ms} ms, p99 ${m.latency.p99Ms} ms, errors ${m.errors + m.failures}, target CPU ${r.usage.cpuPercent} %, peak RSS ${Math.round(r.usage.peakRssKb / 1024)} MB, other CPU ${r.otherCpuPercent} %${subs}${per}`;
  }
  if (r.idle) return `${r.sessionsOpened} sessions, RSS ${Math.round(r.idle.rssBeforeKb / 1024)} -> ${Math.round(r.idle.rssAfterKb / 1024)} MB (${r.idle.perSessionKb} kB/session)`;
  if (r.storm) {
    const s = r.storm;
    return `${r.sessionsOpened} sessions, ${s.upstreamSubscriptions} upstream subscriptions for ${s.uniqueScripthashes} unique, delivery p50 ${s.deliveryMs.p50Ms} ms max ${s.deliveryMs.maxMs} ms, missing ${s.sessionsMissing}`;
  }
  return '';
}
const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** Other work above this (in % of one core) during a throughput run gets the run repeated once... */
export const NOISY_OTHER_CPU = 50;
/** ...at most this many times per benchmark (quick, full), so a machine that is never quiet still finishes in time. */
export const MAX_NOISE_RETRIES = { quick: 3, full: 8 } as const;

export interface BenchOptions {
  readonly quick: boolean;
  readonly scenarios?: readonly string[];
  readonly targets?: readonly string[];
  readonly generators: number;
  readonly profile: boolean;
  /** Run a throughput run again (once) when other work used more than half a core meanwhile; default true. */
  readonly retryNoisy?: boolean;
  /** Scenarios to profile in any case. */
  readonly profileScenarios?: readonly string[];
  /** Where the raw profiles are kept; by default they are summarised and deleted. */
  readonly keepProfilesDir?: string;
  readonly command: string;
  readonly log: (line: string) => void;
}

export async function runBench(opts: BenchOptions): Promise<BenchResults> {
  const started = Date.now();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const log = opts.log;
  const plan = makePlan(opts.quick);
  const entries = plan.entries.filter((e) => !opts.scenarios || opts.scenarios.includes(e.id));
  const keys = gatewayKeys();
  const runs: EntryRun[] = [];
  const skipped: BenchResults['skipped'] = [];
  const notes: string[] = [];
  const profiles: BenchResults['profiles'] = [];
  let noiseRetries = 0;
  log(`bench: ${plan.mode} mode, ${entries.length} scenarios; starting the simulator with ${plan.blocks} blocks`);
  const sim: SimProcess = await startSim({ blocks: plan.blocks });
  const subscriptions = async (): Promise<number> => ((await sim.control.call('sim.stats')) as { scripthashSubscriptions: number }).scripthashSubscriptions;
  try {
    for (const entry of entries) {
      const scenario = getScenario(entry.scenario);
      const prepare: PrepareContext = { sim: sim.control, quick: opts.quick, sessions: entry.size.sessions, log };
      log(`${entry.id}: preparing`);
      const data = await scenario.prepare(prepare);
      let sizes: Record<string, number> = {};
      const repeats = scenario.kind === 'throughput' ? (entry.repeats ?? plan.repeats) : 1;
      for (let repetition = 0; repetition < repeats; repetition++) {
        for (const targetId of entry.targets) {
          if (opts.targets && !opts.targets.includes(targetId)) continue;
          const spec = TARGET_SPECS[targetId];
          if (!spec) throw new Error(`unknown target ${targetId}`);
          const why = skipReason(entry, spec, keys);
          if (why !== null) {
            if (repetition > 0) continue;
            skipped.push({ entry: entry.id, target: targetId, reason: why });
            log(`${entry.id} × ${spec.label}: skipped (${why})`);
            continue;
          }
          const runOnce = async (): Promise<RunResult> => {
            const t0 = Date.now();
            const target = await startTarget(spec, { sim, sizes, gatewayKeys: keys });
            const t1 = Date.now();
            let result: RunResult;
            try {
              const sessions = Math.min(entry.size.sessions, target.maxSessions);
              if (sessions < entry.size.sessions && repetition === 0 && !notes.some((n) => n.startsWith(`${entry.id} × ${spec.label}: ${fmtInt(sessions)} sessions`))) {
                notes.push(`${entry.id} × ${spec.label}: ${fmtInt(sessions)} sessions instead of ${fmtInt(entry.size.sessions)}: each costs HAProxy two file descriptors and the open-files limit is ${fmtInt(openFileLimit())}.`);
              }
              log(`${entry.id} × ${spec.label}: ${sessions} sessions${repeats > 1 ? ` (run ${repetition + 1} of ${repeats})` : ''}`);
              result = await runLoad({
                scenario,
                data,
                target: { id: targetId, host: target.host, port: target.port, pid: target.pid },
                size: { ...entry.size, sessions },
                generators: opts.generators,
                ...(spec.kind === 'haproxy' || spec.kind === 'gateway' ? { upstreamPid: sim.target.pid } : {}),
                prepare,
                upstreamSubscriptions: subscriptions,
                log,
              });
            } finally {
              const t2 = Date.now();
              const exit = await target.stop();
              log(`  (start ${t1 - t0} ms, run ${t2 - t1} ms, stop ${Date.now() - t2} ms)`);
              if (spec.kind === 'gateway' && exit.code !== 0) notes.push(`${entry.id} × ${spec.label}: the gateway exited with ${JSON.stringify(exit)}`);
            }
            for (const n of target.notes) notes.push(`${entry.id} × ${spec.label}: ${n}`);
            log(`  ${oneLine(result)}`);
            return result;
          };
          const tag = { entry: entry.id, ...(repeats > 1 ? { repetition } : {}) };
          let result = await runOnce();
          if (scenario.kind === 'throughput' && opts.retryNoisy !== false && result.otherCpuPercent > NOISY_OTHER_CPU && noiseRetries < MAX_NOISE_RETRIES[plan.mode]) {
            // Other work took a core's worth of CPU meanwhile: that run measured the machine, not the target.
            noiseRetries++;
            log(`  other work on the machine used ${result.otherCpuPercent} % CPU meanwhile; running it again`);
            const again = await runOnce();
            const [kept, dropped] = again.otherCpuPercent < result.otherCpuPercent ? [again, result] : [result, again];
            runs.push({ ...dropped, ...tag, superseded: true });
            result = kept;
          }
          if (targetId === 'sim' && repetition === 0) sizes = { ...result.setup.replyBytes, ...(result.measured?.replyBytes ?? {}) };
          runs.push({ ...result, ...tag });
        }
      }
    }

    const targets = checkTargets(runs);
    if (opts.profile) {
      const wanted = [
        ...new Set([...targets.filter((t) => t.met === false && t.profileScenario).map((t) => t.profileScenario!), ...(opts.profileScenarios ?? [])]),
      ];
      for (const id of wanted) {
        const entry = plan.entries.find((e) => e.id === id);
        if (!entry) continue;
        const scenario = getScenario(entry.scenario);
        const prepare: PrepareContext = { sim: sim.control, quick: opts.quick, sessions: entry.size.sessions, log };
        const data = await scenario.prepare(prepare);
        const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-prof-'));
        try {
          log(`profiling the gateway (1 worker) on ${id}`);
          const target = await startTarget(TARGET_SPECS['gateway-w1']!, { sim, gatewayKeys: keys, cpuProfDir: dir });
          let window: { fromMs: number; toMs: number } | undefined;
          let cpuMs: number | undefined;
          try {
            const r = await runLoad({
              scenario,
              data,
              target: { id: 'gateway-w1', host: target.host, port: target.port, pid: target.pid },
              size: { sessions: entry.size.sessions, warmupMs: 300, durationMs: plan.profileMs },
              generators: opts.generators,
              log,
            });
            if (target.spawnedAtMs !== undefined) window = { fromMs: r.window.startMs - target.spawnedAtMs, toMs: r.window.endMs - target.spawnedAtMs };
            cpuMs = r.usage.cpuMs;
          } finally {
            await target.stop();
          }
          const file = newestProfile(dir);
          if (file) {
            profiles.push({
              scenario: id,
              target: 'gateway-w1',
              summary: { ...summarizeProfile(file, 15, window), file: path.basename(file) },
              ...(cpuMs !== undefined ? { cpuMs } : {}),
            });
          }
          else notes.push(`profiling ${id}: the gateway wrote no profile`);
        } finally {
          if (opts.keepProfilesDir !== undefined) {
            mkdirSync(opts.keepProfilesDir, { recursive: true });
            const file = newestProfile(dir);
            if (file) copyFileSync(file, path.join(opts.keepProfilesDir, `${id}-${path.basename(file)}`));
          }
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
    return {
      date: today(),
      command: opts.command,
      mode: plan.mode,
      machine: machine(loadAtStart),
      generatorProcesses: opts.generators,
      repeats: plan.repeats,
      plan: { ...plan, entries },
      runs,
      skipped,
      targets,
      profiles,
      notes,
      durationMs: Date.now() - started,
    };
  } finally {
    await sim.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      generators: { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      'no-retry': { type: 'boolean', default: false },
      profile: { type: 'string' },
      'keep-profiles': { type: 'string' },
      out: { type: 'string' },
      docs: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench [-- --quick] [--scenarios a,b] [--targets a,b] [--generators N] [--no-retry] [--no-profile | --profile a,b] [--keep-profiles DIR] [--out FILE] [--docs FILE | --no-docs] | --render FILE\n');
    return;
  }
  if (values.render !== undefined) {
    const stored = JSON.parse(readFileSync(values.render, 'utf8')) as BenchResults;
    // The targets are a function of the runs: checked again, a file from before a change of targets shows today's.
    const results: BenchResults = { ...stored, targets: checkTargets(stored.runs as EntryRun[]) };
    const docs = values.docs ?? path.join(REPO_ROOT, 'docs', 'benchmarks.md');
    updateDocs(docs, renderResults(results, makePlan(results.mode === 'quick').entries.map((e) => e.id)));
    process.stdout.write(`docs: ${path.relative(process.cwd(), docs)} from ${values.render}\n`);
    return;
  }
  const args = process.argv.slice(2);
  const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
  const list = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));
  const results = await runBench({
    quick: values.quick === true,
    ...(values.scenarios !== undefined ? { scenarios: list(values.scenarios)! } : {}),
    ...(values.targets !== undefined ? { targets: list(values.targets)! } : {}),
    generators: values.generators ? Math.max(1, Number(values.generators)) : 2,
    profile: values['no-profile'] !== true,
    retryNoisy: values['no-retry'] !== true,
    ...(values.profile !== undefined ? { profileScenarios: list(values.profile)! } : {}),
    ...(values['keep-profiles'] !== undefined ? { keepProfilesDir: path.resolve(values['keep-profiles']) } : {}),
    command,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const out = values.out ?? path.join(REPO_ROOT, 'bench', 'results', `${results.date}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`results: ${path.relative(process.cwd(), out)}\n`);
  if (values['no-docs'] !== true) {
    const docs = values.docs ?? path.join(REPO_ROOT, 'docs', 'benchmarks.md');
    const order = makePlan(values.quick === true).entries.map((e) => e.id);
    updateDocs(docs, renderResults(results, order));
    process.stdout.write(`docs: ${path.relative(process.cwd(), docs)}\n`);
  }
  for (const t of results.targets) process.stdout.write(`${verdict(t).toUpperCase().padEnd(8)} ${t.goal}: ${t.measured}\n`);
  process.stdout.write(`took ${Math.round(results.durationMs / 1000)} s\n`);
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.join(REPO_ROOT, 'dist', 'bench', 'run.js');
if (invokedDirectly) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
