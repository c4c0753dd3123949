// SPDX-License-Identifier: MIT
/**
 * Chaos: memory per client bounded before it is spent (issue 11 pt 6). A
 * gateway in a child process, its defaults as shipped; 200 sessions from 10
 * subnets (127.0.1.0/24 .. 127.0.10.0/24, 20 each: loopback answers on all of
 * 127/8) send batches of get_history for long histories (about 80 KB each)
 * as fast as they are answered, while eight well-behaved wallets, each from
 * its own /24 (127.0.100.1 .. 127.0.107.1), ask for a header and a short
 * history in turn, one request at a time, 100 ms apart.
 *
 * Four processes, so that none times or serves another's work on the 2
 * cores: the gateway; the flood (flood-clients.ts), whose reading of
 * megabytes of answers once ran in the event loop that timed the wallets and
 * delayed their timing; the wallets (wallet-timer.ts), which also ask the
 * simulator directly, as the baseline of what the upstream alone takes under
 * the same load; and this one, which holds the simulator and samples the
 * gateway's RSS. The wallets' pace keeps each one's group under the cost
 * model's soft limit for the whole run, so their p99 shows the flood, not
 * their own throttling (see wallet-timer.ts).
 *
 * Must be 0: errors and disconnects seen by the well-behaved wallets, a
 * gateway crash. Asserted: the gateway's peak RSS (VmRSS of the child) stays
 * under RSS_BOUND_MIB. Reported, not asserted (no timed assertions in npm
 * test): the well-behaved wallets' p99 latency before and during the flood and
 * their ratio, the simulator's own p99 for the same requests, and what
 * happened to the flood (answers, throttling, -101s).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { duration, fullRun, nonZero, report, sleep } from './figures.js';
import type { FloodResult } from './flood-clients.js';
import { Child, longScripthash, p99 } from './flood-wire.js';
import type { TimerResult } from './wallet-timer.js';

const SUBNETS = 10;
const PER_SUBNET = 20;
const BATCH = 20;
const LONG_HISTORIES = 8;
const ENTRIES = 1000;
/**
 * The bound, documented in docs/reliability.md: the gateway idles at about
 * 70-90 MiB. What the flood can make it hold is bounded by 20 requests in the
 * works per session with answers of at most max_response_bytes per line
 * (answers of a known size refused before the fetch), the group's cost
 * (throttled, then -101 and cut), and 256 MiB of unsent output in all. In
 * practice what remains is the first wave: every session's first batch is of
 * sizes not yet known, so 200 × 20 answers (about 320 MB as bytes, more as
 * parsed objects) are fetched at once before the cost model has seen any of
 * them. Measured at 470-630 MiB peak on the shared 2-core CI machine while
 * histories were parsed, 143-214 MiB since they pass through as bytes; the
 * bound leaves room for V8's heap growth there. It is loose on purpose (a red
 * chaos test fails everyone's CI): it catches the flood being held whole, not
 * a few percent of growth (the soak measures that).
 */
const RSS_BOUND_MIB = 1024;

const history = (i: number): { tx_hash: string; height: number }[] =>
  Array.from({ length: ENTRIES }, (_, n) => ({ tx_hash: ((n + i) % 16).toString(16).repeat(64), height: 1 + (n % 100) }));

function rssMiBOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const ms = (v: number): number => Math.round(v * 10) / 10;

describe('chaos: memory flood of large histories from 10 subnets', () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  let dir: string;
  const children: Child[] = [];

  before(async () => {
    sim = await Simulator.start({ seed: 'chaos-memory' });
    for (let i = 0; i < LONG_HISTORIES; i++) sim.setHistory(longScripthash(i), history(i));
    dir = mkdtempSync(join(os.tmpdir(), 'eg-memflood-'));
    const config = join(dir, 'proxy.yaml');
    // The shipped defaults, except for logging: the 200 cut sessions would each log a warning.
    writeFileSync(config, 'logging:\n  level: error\n');
    gw = await GatewayProcess.start({ upstream: sim.url, logLevel: 'error', extraArgs: ['--config', config] });
    await untilForwarding(gw.port);
  });

  after(async () => {
    for (const c of children) c.kill();
    gw?.kill();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('RSS stays under its bound, well-behaved wallets get no error, and their latency is reported', { timeout: 180_000 }, async () => {
    const idleMs = duration(3_000, 10_000);
    const floodMs = duration(8_000, 60_000);
    const rssStart = rssMiBOf(gw.pid!);
    let rssMax = rssStart;
    const sampler = setInterval(() => {
      if (gw.exited === undefined) rssMax = Math.max(rssMax, rssMiBOf(gw.pid!));
    }, 100);

    // Both children start (and load their code) before the idle phase is timed.
    const flooder = new Child('flood-clients', { port: gw.port, subnets: SUBNETS, perSubnet: PER_SUBNET, batch: BATCH, longHistories: LONG_HISTORIES, floodMs });
    children.push(flooder);
    await flooder.next();
    const timer = new Child('wallet-timer', { gatewayPort: gw.port, upstreamPort: sim.port });
    children.push(timer);
    await timer.next();
    await sleep(idleMs);

    timer.send('flood');
    flooder.send('go');
    const floodStats = await flooder.next<FloodResult>();
    timer.send('done');
    const good = await timer.next<TimerResult>();
    clearInterval(sampler);

    const idleP99 = p99(good.samples.gateway.idle);
    const floodP99 = p99(good.samples.gateway.flood);
    const figures = {
      scenario: 'memory flood',
      setup: `${SUBNETS * PER_SUBNET} sessions in ${SUBNETS} subnets sending batches of ${BATCH} get_history (${ENTRIES}-entry histories, ~80 KB each) for ${Math.round(floodMs / 1000)} s; 8 wallets, each in a subnet of its own, timed in a separate process; defaults as shipped`,
      figures: {
        good_errors: good.errors.gateway,
        good_disconnects: good.disconnects.gateway,
        crashes: gw.exited === undefined ? 0 : 1,
        good_requests: good.requests.gateway,
        good_p99_idle_ms: ms(idleP99),
        good_p99_flood_ms: ms(floodP99),
        good_p99_ratio: Math.round((floodP99 / idleP99) * 100) / 100,
        sim_direct_p99_idle_ms: ms(p99(good.samples.upstream.idle)),
        sim_direct_p99_flood_ms: ms(p99(good.samples.upstream.flood)),
        sim_direct_errors: good.errors.upstream,
        flood_batches_sent: floodStats.batchesSent,
        flood_batches_answered: floodStats.batchesAnswered,
        flood_items_refused_101: floodStats.excessive,
        flood_items_too_large: floodStats.tooLarge,
        flood_sessions_cut: floodStats.cut,
        rss_start_mib: Math.round(rssStart),
        rss_max_mib: Math.round(rssMax),
        rss_bound_mib: RSS_BOUND_MIB,
      },
      mustBeZero: ['good_errors', 'good_disconnects', 'crashes'],
    };
    report(figures);
    assert.equal(nonZero(figures), '', gw.logTail());
    assert.ok(rssMax < RSS_BOUND_MIB, `RSS ${Math.round(rssMax)} MiB over the ${RSS_BOUND_MIB} MiB bound`);
    assert.ok(good.samples.gateway.flood.length > 0, 'the well-behaved wallets were served during the flood');
    assert.ok(floodStats.batchesAnswered > 0, 'the flood was served at first (it is not refused at the door)');
    if (!fullRun) assert.ok(floodStats.batchesSent >= SUBNETS * PER_SUBNET, 'every flood session sent at least one batch');
    await gw.stop();
  });
});
