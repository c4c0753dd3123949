// SPDX-License-Identifier: MIT
/**
 * The benchmark harness works (bench/): a tiny run of each kind against the
 * echo floor, the gateway at 1 and 2 cluster workers, and HAProxy when it is
 * installed, all over the standalone simulator; the report has sane fields and
 * the docs block is generated. No timing is asserted: this is not a benchmark,
 * and `npm test` never runs one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haproxyBinary } from '../../bench/baselines/haproxy.js';
import { startSim, type SimProcess } from '../../bench/baselines/sim.js';
import { runLoad, type RunResult } from '../../bench/loadgen/coordinator.js';
import { Histogram } from '../../bench/loadgen/histogram.js';
import { GATEWAY_CLI, SIM_MAIN, WORKER_MAIN } from '../../bench/paths.js';
import { summarizeProfile } from '../../bench/profile.js';
import { BEGIN, END, checkTargets, renderResults, updateDocs, type BenchResults, type EntryRun } from '../../bench/report.js';
import { gatewayKeys, machine, TARGET_SPECS } from '../../bench/run.js';
import { getScenario } from '../../bench/scenarios/index.js';
import type { PrepareContext } from '../../bench/scenarios/types.js';
import { startTarget, type RunningTarget } from '../../bench/targets.js';

const built = existsSync(GATEWAY_CLI) && existsSync(SIM_MAIN) && existsSync(WORKER_MAIN);

describe('bench harness', { skip: built ? false : 'build first (npx tsc -p tsconfig.json)' }, () => {
  let sim: SimProcess;
  const runs: EntryRun[] = [];

  before(async () => {
    sim = await startSim({ blocks: 120 });
  });
  after(async () => {
    await sim?.stop();
  });

  const prepareCtx = (sessions: number): PrepareContext => ({ sim: sim.control, quick: true, sessions, log: () => undefined });

  async function tiny(targetId: string, scenarioName: string, sessions: number, extra: { ops?: number; holdMs?: number } = {}): Promise<{ result: RunResult; target: RunningTarget; exit: { code: number | null } }> {
    const scenario = getScenario(scenarioName);
    const data = await scenario.prepare(prepareCtx(sessions));
    const target = await startTarget(TARGET_SPECS[targetId]!, { sim, gatewayKeys: gatewayKeys(), gatewayLogLevel: 'warn' });
    let result: RunResult;
    let exit: { code: number | null };
    try {
      result = await runLoad({
        scenario,
        data,
        target: { id: targetId, host: target.host, port: target.port, pid: target.pid },
        size: { sessions, ...extra },
        generators: 2,
        ...(targetId === 'echo' ? {} : { upstreamPid: sim.target.pid }),
        prepare: prepareCtx(sessions),
        upstreamSubscriptions: async () => ((await sim.control.call('sim.stats')) as { scripthashSubscriptions: number }).scripthashSubscriptions,
      });
    } finally {
      exit = await target.stop();
    }
    runs.push({ ...result, entry: scenarioName });
    return { result, target, exit };
  }

  function assertThroughput(r: RunResult, requests: number): void {
    assert.equal(r.sessionsOpened, 2, `sessions: ${r.sessionFailures.join('; ')}`);
    assert.equal(r.generatorProcesses, 2);
    const m = r.measured;
    assert.ok(m, 'a throughput run has a measured phase');
    assert.equal(m.errors, 0, m.errorSamples.join('; '));
    assert.equal(m.failures, 0, m.errorSamples.join('; '));
    assert.equal(m.requests, requests);
    assert.equal(m.ops, requests);
    assert.ok(m.ms > 0 && m.requestsPerSec > 0);
    const l = m.latency;
    assert.equal(l.count, requests);
    assert.ok(l.p50Ms > 0 && l.p50Ms <= l.p90Ms && l.p90Ms <= l.p99Ms && l.p99Ms <= l.maxMs, JSON.stringify(l));
    assert.ok(m.bytesIn > requests * 30 && m.bytesOut > requests * 50, `bytes ${m.bytesIn} / ${m.bytesOut}`);
    assert.ok(r.usage.pids.length >= 1 && r.usage.cpuMs >= 0 && r.usage.peakRssKb > 1000, JSON.stringify(r.usage));
    assert.equal(r.aborted, false);
  }

  it('headers-hot, 2 sessions × 50 requests, against the echo floor', async () => {
    const { result } = await tiny('echo', 'headers-hot', 2, { ops: 50 });
    assertThroughput(result, 50);
    assert.equal(result.upstreamUsage, null);
  });

  it('headers-hot through the gateway (1 worker) over the simulator; it exits 0', async () => {
    const { result, target, exit } = await tiny('gateway-w1', 'headers-hot', 2, { ops: 50 });
    assertThroughput(result, 50);
    assert.ok(result.usage.pids.includes(target.pid));
    assert.ok(result.upstreamUsage && result.upstreamUsage.pids.includes(sim.target.pid));
    assert.equal(exit.code, 0);
  });

  it('the gateway with --workers 2: a primary and two workers measured as one tree; it exits 0', async () => {
    const { result, exit } = await tiny('gateway-w2', 'headers-hot', 2, { ops: 50 });
    assertThroughput(result, 50);
    assert.ok(result.usage.pids.length >= 3, `pids ${result.usage.pids.join(',')}`);
    // The sessions are counted where they are served: in the workers, none in the primary.
    const per = result.sessionsPerProcess ?? [];
    assert.equal(per.length, 3, JSON.stringify(per));
    assert.equal(per[0]!.sessions, 0);
    assert.equal(per[1]!.sessions + per[2]!.sessions, 2, JSON.stringify(per));
    assert.equal(Object.keys(result.usage.cpuMsByPid).length, 3);
    assert.equal(exit.code, 0);
  });

  it('HAProxy in TCP mode in front of the simulator', { skip: haproxyBinary() === null ? 'haproxy is not installed (Debian package haproxy)' : false }, async () => {
    const { result } = await tiny('haproxy', 'headers-hot', 2, { ops: 50 });
    assertThroughput(result, 50);
  });

  it('the Node relay in front of the simulator: pass-through answers arrive, measured as its own process', async () => {
    const { result, target } = await tiny('relay', 'passthrough', 2, { ops: 50 });
    assertThroughput(result, 50);
    assert.deepEqual(result.usage.pids, [target.pid]);
  });

  it('subscribe-storm through the gateway: one upstream subscription per unique scripthash, every session notified', async () => {
    const { result } = await tiny('gateway-w1', 'subscribe-storm', 20, { holdMs: 100 });
    const s = result.storm;
    assert.ok(s);
    assert.equal(result.sessionsOpened, 20);
    assert.equal(s.subscriptionsPerSession, 10);
    assert.equal(s.upstreamSubscriptions, s.uniqueScripthashes);
    assert.equal(s.sessionsMissing, 0);
    assert.equal(s.sessionsComplete, 20);
    assert.ok(s.changedScripthashes > 0 && s.notifications >= 20);
    assert.ok(s.deliveryMs.maxMs >= s.deliveryMs.p50Ms && s.deliveryMs.p50Ms >= 0);
  });

  it('mixed-real through the gateway (1 worker): every wallet starts up and stays subscribed, one in ten runs the mix', async () => {
    const { result, exit } = await tiny('gateway-w1', 'mixed-real', 20, { ops: 40 });
    assert.equal(result.sessionsOpened, 20, result.sessionFailures.join('; '));
    // Start-up: server.version, headers, the tip's chunk, 30 subscriptions, 5 histories, their txs and proofs.
    assert.equal(result.setup.errors + result.setup.failures, 0, result.setup.errorSamples.join('; '));
    assert.ok(result.setup.requests >= 20 * (3 + 30 + 5 + 2 * 5), `start-up requests ${result.setup.requests}`);
    const m = result.measured;
    assert.ok(m);
    assert.equal(m.requests, 40);
    // Broadcasts of transactions already in the mempool are answered (with the txid), not refused.
    assert.equal(m.errors + m.failures, 0, m.errorSamples.join('; '));
    assert.deepEqual(Object.keys(m.replyBytes).sort(), ['blockchain.scripthash.get_history', 'blockchain.transaction.broadcast', 'blockchain.transaction.get']);
    assert.ok(m.latency.p99Ms >= m.latency.p50Ms && m.latency.p50Ms > 0);
    // Wallets share no address: the gateway opens one upstream subscription per address.
    assert.deepEqual(result.subscriptions, { unique: 20 * 30, upstream: 20 * 30 });
    assert.equal(result.sessionsPerProcess?.[0]?.sessions, 20);
    assert.equal(exit.code, 0);
  });

  it('idle: memory before and after the sessions', async () => {
    const { result } = await tiny('echo', 'idle', 20, { holdMs: 100 });
    assert.ok(result.idle);
    assert.equal(result.sessionsOpened, 20);
    assert.ok(result.idle.rssBeforeKb > 0 && result.idle.rssAfterKb > 0);
    assert.equal(result.measured, null);
  });

  it('the report: targets checked from the runs, the docs block replaced in place', () => {
    const targets = checkTargets(runs);
    assert.deepEqual(targets.map((t) => t.id), ISSUE_12_TARGETS);
    const storm = targets.find((t) => t.id === 'storm-one-subscription');
    assert.equal(storm?.met, true);
    // Not enough runs for the throughput targets: they say so rather than guess.
    assert.equal(targets.find((t) => t.id === 'passthrough-vs-haproxy')?.met, null);
    assert.equal(targets.find((t) => t.id === 'idle-per-session')?.met, null);
    // mixed-real ran through the gateway (no simulator run here): its p99 is reported, with no verdict.
    const mixed = targets.find((t) => t.id === 'mixed-real-p99');
    assert.equal(mixed?.met, 'measured');
    assert.match(mixed?.measured ?? '', /^p99 [\d.,]+ ms vs not run direct; start-up p99 [\d.,]+ ms$/);
    const results: BenchResults = {
      date: '2000-01-01',
      command: 'npm run bench -- --quick',
      mode: 'quick',
      machine: machine(),
      generatorProcesses: 2,
      repeats: 1,
      plan: {},
      runs,
      skipped: [],
      targets,
      profiles: [],
      notes: [],
      durationMs: 1,
    };
    const block = renderResults(results, ['headers-hot', 'mixed-real', 'subscribe-storm', 'idle']);
    assert.ok(block.startsWith(BEGIN) && block.endsWith(END));
    assert.match(block, /npm run bench -- --quick/);
    assert.match(block, /\| headers-hot \| gateway, 1 worker \| 2 \|/);
    assert.match(block, /\| headers-hot \| gateway, 2 workers \| 2 \|/);
    assert.match(block, new RegExp(`${os.cpus().length} cores`));
    assert.match(block, /### mixed-real/);
    assert.match(block, /\| gateway, 1 worker \| 20 \| 2 \| [\d.,]+ \| [\d,]+ \| [\d.,]+ \| [\d.,]+ \| 600 \| 600 \|/);
    assert.match(block, /\| mixed-real: p99 [^|]+ \| p99 [^|]+ \| measured \|/);
    assert.match(block, /\| passthrough: gateway \(1 worker\) ≥ 0\.90× HAProxy \(TCP\) \| not run \| not run \|/);
    assert.match(block, /### Cluster workers/);
    assert.match(block, /\| headers-hot \| gateway, 2 workers \| \d+ \/ \d+ \|/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-docs-'));
    try {
      const file = path.join(dir, 'benchmarks.md');
      writeFileSync(file, `# Benchmarks\n\nhand-written intro\n\n${BEGIN}\nold\n${END}\n\nhand-written notes\n`);
      updateDocs(file, block);
      const text = readFileSync(file, 'utf8');
      assert.match(text, /hand-written intro/);
      assert.match(text, /hand-written notes/);
      assert.doesNotMatch(text, /\nold\n/);
      assert.equal(text.split(BEGIN).length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** checkTargets' rows, in the order of issue 12's acceptance table. */
const ISSUE_12_TARGETS = [
  'headers-hot-vs-echo',
  'headers-hot-vs-haproxy',
  'passthrough-vs-haproxy',
  'passthrough-added-p50',
  'passthrough-node-floor',
  'chunk-download-vs-haproxy',
  'wallet-sync-vs-sim',
  'idle-per-session',
  'workers-scale',
  'mixed-real-p99',
  'storm-one-subscription',
];

const latency = (p50Ms: number, p99Ms = p50Ms * 3) => ({ count: 1000, p50Ms, p90Ms: p50Ms * 2, p99Ms, maxMs: p99Ms * 2, meanMs: p50Ms });
const phase = (p50Ms: number, p99Ms?: number) => ({
  requests: 1000,
  ops: 1000,
  errors: 0,
  failures: 0,
  notifications: 0,
  bytesIn: 100_000,
  bytesOut: 50_000,
  latency: latency(p50Ms, p99Ms),
  errorSamples: [],
  replyBytes: {},
});
const usage = { pids: [1], cpuUserMs: 0, cpuSystemMs: 0, cpuMs: 0, peakRssKb: 100_000, startRssKb: 0, endRssKb: 0, peakReset: true, cpuMsByPid: {}, cpuPercent: 0 };

/** A run as the coordinator reports it, with only what the targets read set. */
function fakeRun(
  entry: string,
  target: string,
  o: { rps?: number; p50Ms?: number; p99Ms?: number; perSessionKb?: number; sessions?: number; storm?: { unique: number; upstream: number } } = {},
): EntryRun {
  const sessions = o.sessions ?? (o.perSessionKb !== undefined ? 10_000 : 32);
  return {
    entry,
    scenario: entry,
    target,
    kind: o.perSessionKb !== undefined ? 'idle' : o.storm ? 'storm' : 'throughput',
    sessionsAsked: sessions,
    sessionsOpened: sessions,
    sessionFailures: [],
    generatorProcesses: 2,
    setup: { ...phase(2, 9), ms: 100 },
    measured: o.rps === undefined ? null : { ...phase(o.p50Ms ?? 1, o.p99Ms), ms: 1000, requestsPerSec: o.rps, opsPerSec: o.rps, mbInPerSec: 1 },
    usage,
    upstreamUsage: null,
    generatorCpuMs: 0,
    machineCpuPercent: 0,
    otherCpuPercent: 0,
    window: { startMs: 0, endMs: 1000 },
    idle: o.perSessionKb === undefined ? null : { rssBeforeKb: 100_000, rssAfterKb: 100_000 + o.perSessionKb * sessions, perSessionKb: o.perSessionKb },
    storm: o.storm
      ? {
          uniqueScripthashes: o.storm.unique,
          subscriptionsPerSession: 10,
          upstreamSubscriptions: o.storm.upstream,
          rssBeforeKb: 0,
          rssSubscribedKb: 0,
          perSessionKb: 0,
          deliveryMs: latency(10),
          sessionsComplete: sessions,
          sessionsMissing: 0,
          notifications: sessions,
          changedScripthashes: 5,
        }
      : null,
    aborted: false,
  };
}

/** One benchmark's runs: the baselines fixed, the gateway's figures given. */
function fakeBench(gw: {
  hot: number;
  hot2: number;
  pt: number;
  pt2: number;
  p1P50Ms: number;
  chunk: number;
  sync: number;
  idleKb: number;
  idleEchoKb: number;
  idleSessions?: number;
  upstreamSubscriptions: number;
}): EntryRun[] {
  return [
    fakeRun('headers-hot', 'echo', { rps: 1000 }),
    fakeRun('headers-hot', 'haproxy', { rps: 400 }),
    fakeRun('headers-hot', 'sim', { rps: 450 }),
    fakeRun('headers-hot', 'gateway-w1', { rps: gw.hot }),
    fakeRun('headers-hot', 'gateway-w2', { rps: gw.hot2 }),
    fakeRun('passthrough', 'haproxy', { rps: 1000 }),
    fakeRun('passthrough', 'gateway-w1', { rps: gw.pt }),
    fakeRun('passthrough', 'gateway-w2', { rps: gw.pt2 }),
    fakeRun('passthrough-1', 'haproxy', { rps: 5000, p50Ms: 0.2 }),
    fakeRun('passthrough-1', 'gateway-w1', { rps: 3000, p50Ms: gw.p1P50Ms }),
    fakeRun('passthrough', 'relay', { rps: 800 }),
    fakeRun('passthrough-1', 'relay', { rps: 4000, p50Ms: 0.25 }),
    fakeRun('chunk-download', 'haproxy', { rps: 100 }),
    fakeRun('chunk-download', 'gateway-w1', { rps: gw.chunk }),
    fakeRun('wallet-sync', 'sim', { rps: 500 }),
    fakeRun('wallet-sync', 'gateway-w1', { rps: gw.sync }),
    fakeRun('mixed-real', 'sim', { rps: 300, p50Ms: 1, p99Ms: 4 }),
    fakeRun('mixed-real', 'gateway-w1', { rps: 280, p50Ms: 1.2, p99Ms: 5.5 }),
    fakeRun('subscribe-storm', 'gateway-w1', { storm: { unique: 500, upstream: gw.upstreamSubscriptions } }),
    fakeRun('idle', 'echo', { perSessionKb: gw.idleEchoKb }),
    fakeRun('idle', 'gateway-w1', { perSessionKb: gw.idleKb, ...(gw.idleSessions !== undefined ? { sessions: gw.idleSessions } : {}) }),
  ];
}

describe('bench pieces', () => {
  it("the targets are issue 12's, each met at its threshold", () => {
    const targets = checkTargets(
      fakeBench({ hot: 750, hot2: 750, pt: 900, pt2: 950, p1P50Ms: 0.28, chunk: 120, sync: 500, idleKb: 2.5, idleEchoKb: 2, upstreamSubscriptions: 500 }),
    );
    assert.deepEqual(targets.map((t) => t.id), ISSUE_12_TARGETS);
    const by = new Map(targets.map((t) => [t.id, t]));
    const reported = new Set(['mixed-real-p99', 'passthrough-node-floor']);
    for (const t of targets) assert.equal(t.met, reported.has(t.id) ? 'measured' : true, `${t.id}: ${t.measured}`);
    assert.equal(
      by.get('passthrough-node-floor')?.measured,
      'relay 0.80× HAProxy (800 vs 1,000 req/s); gateway 1.13× the relay; passthrough-1 p50: relay +0.050 ms over HAProxy; gateway +0.030 ms over the relay',
    );
    assert.equal(by.get('headers-hot-vs-echo')?.measured, '0.75× (750 vs 1,000 req/s)');
    assert.equal(by.get('headers-hot-vs-haproxy')?.measured, '1.88× (750 vs 400 req/s)');
    assert.equal(by.get('passthrough-vs-haproxy')?.measured, '0.90× (900 vs 1,000 req/s)');
    assert.equal(by.get('passthrough-added-p50')?.measured, '+0.080 ms (p50 0.280 vs 0.200 ms)');
    assert.equal(by.get('chunk-download-vs-haproxy')?.measured, '1.20× (120 vs 100 req/s)');
    assert.equal(by.get('wallet-sync-vs-sim')?.measured, '1.00× (500 vs 500 req/s)');
    assert.equal(
      by.get('idle-per-session')?.measured,
      '2.5 kB per session (97.7 → 122.1 MB with 10,000 sessions); echo floor 2.0 kB in the same run, so the gateway is within echo + 1 kB (issue 12 pt 5)',
    );
    assert.equal(by.get('workers-scale')?.measured, 'headers-hot 1.00× (750 vs 750 req/s); passthrough 1.06× (950 vs 900 req/s)');
    assert.equal(by.get('mixed-real-p99')?.measured, 'p99 5.500 ms vs 4.000 ms direct; start-up p99 9.000 ms vs 9.000 ms');
    for (const [id, entry] of [
      ['headers-hot-vs-echo', 'headers-hot'],
      ['headers-hot-vs-haproxy', 'headers-hot'],
      ['passthrough-vs-haproxy', 'passthrough'],
      ['passthrough-added-p50', 'passthrough'],
      ['chunk-download-vs-haproxy', 'chunk-download'],
      ['wallet-sync-vs-sim', 'wallet-sync'],
    ] as const) {
      assert.equal(by.get(id)?.profileScenario, entry, id);
    }
  });

  it('the targets: each missed just below its threshold, and a miss is profiled', () => {
    const targets = checkTargets(
      fakeBench({ hot: 590, hot2: 580, pt: 890, pt2: 950, p1P50Ms: 0.31, chunk: 119, sync: 495, idleKb: 2.6, idleEchoKb: 1.5, upstreamSubscriptions: 501 }),
    );
    const by = new Map(targets.map((t) => [t.id, t]));
    for (const t of targets) assert.equal(t.met, t.id === 'mixed-real-p99' || t.id === 'passthrough-node-floor' ? 'measured' : false, `${t.id}: ${t.measured}`);
    assert.equal(by.get('headers-hot-vs-haproxy')?.measured, '1.48× (590 vs 400 req/s)');
    assert.equal(by.get('passthrough-added-p50')?.measured, '+0.110 ms (p50 0.310 vs 0.200 ms)');
    assert.match(by.get('idle-per-session')?.measured ?? '', /^2\.6 kB per session .*echo floor 1\.5 kB in the same run, so the gateway is not within echo \+ 1 kB/);
    // One of the two below 1.0× is a miss, though passthrough scales.
    assert.equal(by.get('workers-scale')?.measured, 'headers-hot 0.98× (580 vs 590 req/s); passthrough 1.07× (950 vs 890 req/s)');
    // What `npm run bench` profiles after the runs: every missed throughput target's scenario.
    const profiled = new Set(targets.filter((t) => t.met === false && t.profileScenario).map((t) => t.profileScenario));
    assert.deepEqual([...profiled].sort(), ['chunk-download', 'headers-hot', 'passthrough', 'wallet-sync']);
  });

  it('the idle target: the 2.5 kB limit decides, the echo + 1 kB comparison is shown beside it, and fewer than 10,000 sessions is a miss', () => {
    const idle = (o: Parameters<typeof fakeBench>[0]) => checkTargets(fakeBench(o)).find((t) => t.id === 'idle-per-session')!;
    const base = { hot: 750, hot2: 750, pt: 900, pt2: 950, p1P50Ms: 0.28, chunk: 120, sync: 500, upstreamSubscriptions: 500 };
    const leanEcho = idle({ ...base, idleKb: 2.4, idleEchoKb: 1.2 });
    assert.equal(leanEcho.met, true);
    assert.match(leanEcho.measured, /echo floor 1\.2 kB in the same run, so the gateway is not within echo \+ 1 kB/);
    const fewer = idle({ ...base, idleKb: 2, idleEchoKb: 2, idleSessions: 9_900 });
    assert.equal(fewer.met, false);
    assert.match(fewer.measured, /with 9,900 sessions, fewer than 10,000\)/);
    const noEcho = checkTargets(fakeBench({ ...base, idleKb: 2, idleEchoKb: 2 }).filter((r) => !(r.entry === 'idle' && r.target === 'echo')));
    assert.match(noEcho.find((t) => t.id === 'idle-per-session')!.measured, /; echo floor not run$/);
  });

  it('the workers target waits for both figures unless one already misses', () => {
    const hotOnly = (w2: number) =>
      checkTargets([fakeRun('headers-hot', 'gateway-w1', { rps: 500 }), fakeRun('headers-hot', 'gateway-w2', { rps: w2 })]).find((t) => t.id === 'workers-scale')!;
    assert.equal(hotOnly(600).met, null);
    assert.equal(hotOnly(600).measured, 'headers-hot 1.20× (600 vs 500 req/s); passthrough not run');
    assert.equal(hotOnly(400).met, false);
    assert.equal(checkTargets([]).find((t) => t.id === 'workers-scale')?.measured, 'not run');
  });

  it('the histogram reads quantiles within 1 % and merges', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 10_000; i++) (i % 2 ? a : b).record(i * 10);
    a.merge(b.toJSON());
    assert.equal(a.count, 10_000);
    assert.equal(a.max, 100_000);
    for (const [q, want] of [[0.5, 50_000], [0.9, 90_000], [0.99, 99_000]] as const) {
      const got = a.quantile(q);
      assert.ok(Math.abs(got - want) / want < 0.01, `q${q}: ${got} vs ${want}`);
    }
    assert.equal(new Histogram().quantile(0.5), 0);
  });

  it('the profile summary ranks functions by self time and leaves out idle', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-prof-'));
    try {
      const file = path.join(dir, 'x.cpuprofile');
      const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });
      writeFileSync(
        file,
        JSON.stringify({
          nodes: [
            { id: 1, callFrame: frame('(root)'), children: [2, 3, 4] },
            { id: 2, callFrame: frame('(idle)') },
            { id: 3, callFrame: frame('parse', 'file:///x/y.js', 9) },
            { id: 4, callFrame: frame('') },
          ],
          samples: [2, 3, 3, 3, 4, 2],
          timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
          startTime: 0,
          endTime: 6000,
        }),
      );
      const s = summarizeProfile(file);
      assert.equal(s.totalMs, 6);
      assert.equal(s.idleMs, 2);
      assert.equal(s.top[0]?.function, 'parse');
      assert.equal(s.top[0]?.location, '/x/y.js:10');
      assert.equal(s.top[0]?.percent, 75);
      assert.equal(s.top[1]?.function, '(anonymous)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
