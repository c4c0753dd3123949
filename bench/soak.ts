// SPDX-License-Identifier: MIT
/**
 * The soak: the gateway (a real child process) under steady wallet load for
 * 10 minutes with the gateway's RSS sampled every 5 s. Wallets ask idempotent
 * questions (checked against the simulator), blocks are mined and wallets paid
 * all along, and a tenth of the wallets are replaced by new ones every 30 s
 * (connection churn with subscriptions). The figure: RSS growth after the
 * warm-up, the peak of the last third of the measured time against the peak
 * of the first third (high-water marks; see below); it must stay under 5 %.
 *
 *   npm run soak                          10 minutes, 2 of them warm-up; rewrites docs/reliability.md
 *   npm run soak -- --minutes 3 --warmup 1 --no-docs
 *
 * Exits non-zero when growth is 5 % or more, or when a wallet saw an error.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GatewayProcess } from '../test/helpers/gateway-process.js';
import { untilForwarding } from '../test/helpers/wallet-session.js';
import { Simulator } from '../test/sim/index.js';
import { machineLine, replaceBlock } from '../test/chaos/doc.js';
import { sleep } from '../test/chaos/figures.js';
import { ask, openWallet, stableQuestions, type Wallet } from '../test/chaos/load.js';
import { REPO_ROOT } from './paths.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    wallets: { type: 'string', default: '40' },
    'no-docs': { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const warmupMinutes = Number(values.warmup);
const walletCount = Number(values.wallets);
const SAMPLE_MS = 5_000;
const MAX_GROWTH = 0.05;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const sim = await Simulator.start({ seed: 'soak', initialBlocks: 140 });
// Every wallet here comes from 127.0.0.1, one subnet group: cost limits would throttle the load
// itself, which is not what the soak measures.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'eg-soak-'));
const config = path.join(tmp, 'proxy.yaml');
writeFileSync(config, 'cost:\n  hard_limit: 0\n');
const gw = await GatewayProcess.start({ upstream: sim.url, logLevel: 'warn', extraArgs: ['--config', config] });
await untilForwarding(gw.port);
const questions = stableQuestions(sim, 400, 5);
let stopping = false;
let serial = 0;
const active = new Set<Wallet>();
const finished: Wallet[] = [];
const runs: Promise<void>[] = [];
const startWallet = async (): Promise<void> => {
  const w = await openWallet(gw.port, 'soak', `w${serial++}`);
  active.add(w);
  runs.push(ask(w, questions, () => stopping || !active.has(w), 20, serial * 7).then(() => w.client.close()));
};
for (let i = 0; i < walletCount; i++) await startWallet();

const started = Date.now();
const end = started + minutes * 60_000;
const samples: { t: number; rss: number }[] = [];
let lastChurn = started;
let lastBlock = started;
let n = 0;
while (Date.now() < end) {
  samples.push({ t: (Date.now() - started) / 1000, rss: rssMiB(gw.pid!) });
  const now = Date.now();
  if (now - lastBlock >= 10_000) {
    lastBlock = now;
    const ws = [...active];
    sim.pay(ws[n++ % ws.length]!.address, 5_000 + n);
    sim.mine();
  }
  if (now - lastChurn >= 30_000) {
    lastChurn = now;
    for (const w of [...active].slice(0, Math.max(1, Math.floor(walletCount / 10)))) {
      active.delete(w);
      finished.push(w);
    }
    while (active.size < walletCount) await startWallet();
  }
  await sleep(SAMPLE_MS);
}
stopping = true;
await Promise.all(runs);
const all = [...finished, ...active];
const errors = all.reduce((a, w) => a + w.failures.length + w.wrong.length, 0);
const requests = all.reduce((a, w) => a + w.requests, 0);
await gw.stop();
await sim.stop();
rmSync(tmp, { recursive: true, force: true });

// RSS moves in a sawtooth of ±15 % as V8 grows and returns its heap, so a one-minute mean depends on
// where the collector happens to be. The verdict compares high-water marks: the peak of the last
// third of the measured time against the peak of the first third. The means are printed too.
const measured = samples.filter((s) => s.t >= warmupMinutes * 60);
const third = (minutes - warmupMinutes) * 20;
const firstThird = measured.filter((s) => s.t < warmupMinutes * 60 + third).map((s) => s.rss);
const lastThird = measured.filter((s) => s.t >= minutes * 60 - third).map((s) => s.rss);
const base = Math.max(...firstThird);
const growth = (Math.max(...lastThird) - base) / base;
const meanGrowth = (mean(lastThird) - mean(firstThird)) / mean(firstThird);
const peak = Math.max(...samples.map((s) => s.rss));
const pass = growth < MAX_GROWTH && errors === 0;
const text = [
  `Produced by \`npm run soak${minutes === 10 && warmupMinutes === 2 ? '' : ` -- --minutes ${minutes} --warmup ${warmupMinutes}`}\` on ${machineLine(REPO_ROOT)}.`,
  '',
  '| duration | wallets | requests | errors to wallets | peak RSS, first third after warm-up | peak RSS, last third | growth (peaks) | growth of the thirds\' means | peak RSS overall | verdict |',
  '|---|---|---|---|---|---|---|---|---|---|',
  `| ${minutes} min (${warmupMinutes} min warm-up) | ${walletCount} at a time, ${serial} in all | ${requests} | ${errors} | ${base.toFixed(1)} MiB | ${Math.max(...lastThird).toFixed(1)} MiB | ${(growth * 100).toFixed(2)} % | ${(meanGrowth * 100).toFixed(2)} % | ${peak.toFixed(1)} MiB | ${pass ? 'pass (< 5 %, no errors)' : 'FAIL'} |`,
  '',
  `RSS samples (every ${SAMPLE_MS / 1000} s, MiB): ${samples.map((s) => s.rss.toFixed(0)).join(' ')}`,
].join('\n');
console.log(`\n${text}\n`);
if (!values['no-docs']) {
  replaceBlock(path.join(REPO_ROOT, 'docs', 'reliability.md'), 'soak', text);
  console.log('docs/reliability.md: soak figures rewritten');
}
process.exit(pass ? 0 : 1);
