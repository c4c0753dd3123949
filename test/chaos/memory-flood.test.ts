// SPDX-License-Identifier: MIT
/**
 * Chaos: memory per client bounded before it is spent (issue 11 pt 6). A
 * gateway in a child process, its defaults as shipped; 200 sessions from 10
 * subnets (127.0.1.0/24 .. 127.0.10.0/24, 20 each: loopback answers on all of
 * 127/8) send batches of get_history for long histories (about 80 KB each)
 * as fast as they are answered, while four well-behaved wallets from another
 * subnet ask for headers and a short history one request at a time.
 *
 * Must be 0: errors and disconnects seen by the well-behaved wallets, a
 * gateway crash. Asserted: the gateway's peak RSS (VmRSS of the child) stays
 * under RSS_BOUND_MIB. Reported, not asserted (no timed assertions in npm
 * test): the well-behaved wallets' p99 latency before and during the flood and
 * their ratio, and what happened to the flood (answers, throttling, -101s).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { duration, fullRun, nonZero, report, sleep } from './figures.js';

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

const sh = (i: number): string => (0xa0 + i).toString(16).repeat(32);
const history = (i: number): { tx_hash: string; height: number }[] =>
  Array.from({ length: ENTRIES }, (_, n) => ({ tx_hash: ((n + i) % 16).toString(16).repeat(64), height: 1 + (n % 100) }));

function rssMiBOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function p99(samples: number[]): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]!;
}

/** A newline-framed connection from a chosen loopback address; lines are counted, parsed only when asked. */
class Line {
  readonly closed: Promise<void>;
  isClosed = false;
  lines = 0;
  private waiting: ((line: Buffer) => void) | null = null;
  private parts: Buffer[] = [];

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((r) =>
      socket.once('close', () => {
        this.isClosed = true;
        r();
      }),
    );
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      let start = 0;
      for (let nl = d.indexOf(10); nl !== -1; nl = d.indexOf(10, start)) {
        this.parts.push(d.subarray(start, nl));
        const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
        this.parts = [];
        this.lines++;
        const w = this.waiting;
        this.waiting = null;
        w?.(line);
        start = nl + 1;
      }
      if (start < d.length) this.parts.push(d.subarray(start));
    });
  }

  static open(port: number, localAddress: string): Promise<Line> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => {
        socket.off('error', reject);
        resolve(new Line(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one line and resolves with the next line received (null if the connection closed first). */
  ask(text: string): Promise<Buffer | null> {
    if (this.isClosed) return Promise.resolve(null);
    const next = new Promise<Buffer | null>((resolve) => {
      this.waiting = resolve;
      void this.closed.then(() => resolve(null));
    });
    this.socket.write(`${text}\n`);
    return next;
  }
}

describe('chaos: memory flood of large histories from 10 subnets', () => {
  let sim: Simulator;
  let gw: GatewayProcess;
  let dir: string;

  before(async () => {
    sim = await Simulator.start({ seed: 'chaos-memory' });
    for (let i = 0; i < LONG_HISTORIES; i++) sim.setHistory(sh(i), history(i));
    dir = mkdtempSync(join(os.tmpdir(), 'eg-memflood-'));
    const config = join(dir, 'proxy.yaml');
    // The shipped defaults, except for logging: the 200 cut sessions would each log a warning.
    writeFileSync(config, 'logging:\n  level: error\n');
    gw = await GatewayProcess.start({ upstream: sim.url, logLevel: 'error', extraArgs: ['--config', config] });
    await untilForwarding(gw.port);
  });

  after(async () => {
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

    // Well-behaved wallets: one request at a time, alternating a header and a short history.
    const good = await Promise.all([1, 2, 3, 4].map((i) => Line.open(gw.port, `127.0.99.${i}`)));
    type Phase = 'idle' | 'flood' | 'done';
    const state = { phase: 'idle' as Phase };
    const phase = (): Phase => state.phase;
    const latency = { idle: [] as number[], flood: [] as number[] };
    let goodErrors = 0;
    let goodRequests = 0;
    const goodLoops = good.map(async (c, w) => {
      for (let n = 0; phase() !== 'done'; n++) {
        const req = n % 2 === 0 ? { method: 'blockchain.block.header', params: [n % 100] } : { method: 'blockchain.scripthash.get_history', params: ['0'.repeat(63) + (w + 1).toString()] };
        const t0 = performance.now();
        const line = await c.ask(JSON.stringify({ jsonrpc: '2.0', id: n, ...req }));
        const ms = performance.now() - t0;
        goodRequests++;
        const reply = line === null ? null : (JSON.parse(line.toString('utf8')) as { id?: number; result?: unknown; error?: unknown });
        if (reply === null || reply.id !== n || 'error' in reply) goodErrors++;
        if (reply === null) return;
        const now = phase();
        if (now !== 'done') latency[now].push(ms);
        await sleep(20);
      }
    });
    await sleep(idleMs);

    // The flood: 200 sessions, each sending a batch of long histories as soon as the last is answered.
    state.phase = 'flood';
    const floodStarted = Date.now();
    const flood: Line[] = [];
    for (let s = 1; s <= SUBNETS; s++) {
      flood.push(...(await Promise.all(Array.from({ length: PER_SUBNET }, (_, i) => Line.open(gw.port, `127.0.${s}.${i + 1}`)))));
    }
    const floodStats = { batchesSent: 0, batchesAnswered: 0, excessive: 0, tooLarge: 0 };
    const floodLoops = flood.map(async (c, k) => {
      for (let n = 0; Date.now() - floodStarted < floodMs && !c.isClosed; n++) {
        const batch = Array.from({ length: BATCH }, (_, j) => ({ jsonrpc: '2.0', id: j, method: 'blockchain.scripthash.get_history', params: [sh((k + j + n) % LONG_HISTORIES)] }));
        floodStats.batchesSent++;
        // The flood ends on time: a batch still throttled then is abandoned (its socket destroyed below).
        const left = floodMs - (Date.now() - floodStarted);
        const line = await Promise.race([c.ask(JSON.stringify(batch)), sleep(Math.max(0, left)).then(() => 'timeout' as const)]);
        if (line === 'timeout' || line === null) break;
        floodStats.batchesAnswered++;
        // Counted without parsing megabytes: the error texts are fixed.
        const text = line.toString('latin1');
        floodStats.excessive += text.split('excessive resource usage').length - 1;
        floodStats.tooLarge += text.split('response too large').length - 1;
      }
    });
    await Promise.all(floodLoops);
    // Closed by the gateway before the end (-101 after the hard limit, or a budget's cut).
    const cut = flood.filter((c) => c.isClosed).length;
    for (const c of flood) c.socket.destroy();
    state.phase = 'done';
    await Promise.all(goodLoops);
    clearInterval(sampler);
    for (const c of good) c.socket.destroy();

    const idleP99 = p99(latency.idle);
    const floodP99 = p99(latency.flood);
    const figures = {
      scenario: 'memory flood',
      setup: `${SUBNETS * PER_SUBNET} sessions in ${SUBNETS} subnets sending batches of ${BATCH} get_history (${ENTRIES}-entry histories, ~80 KB each) for ${Math.round(floodMs / 1000)} s; 4 wallets in another subnet; defaults as shipped`,
      figures: {
        good_errors: goodErrors,
        good_disconnects: good.filter((c) => c.isClosed).length,
        crashes: gw.exited === undefined ? 0 : 1,
        good_requests: goodRequests,
        good_p99_idle_ms: Math.round(idleP99 * 10) / 10,
        good_p99_flood_ms: Math.round(floodP99 * 10) / 10,
        good_p99_ratio: Math.round((floodP99 / idleP99) * 100) / 100,
        flood_batches_sent: floodStats.batchesSent,
        flood_batches_answered: floodStats.batchesAnswered,
        flood_items_refused_101: floodStats.excessive,
        flood_items_too_large: floodStats.tooLarge,
        flood_sessions_cut: cut,
        rss_start_mib: Math.round(rssStart),
        rss_max_mib: Math.round(rssMax),
        rss_bound_mib: RSS_BOUND_MIB,
      },
      mustBeZero: ['good_errors', 'good_disconnects', 'crashes'],
    };
    report(figures);
    assert.equal(nonZero(figures), '', gw.logTail());
    assert.ok(rssMax < RSS_BOUND_MIB, `RSS ${Math.round(rssMax)} MiB over the ${RSS_BOUND_MIB} MiB bound`);
    assert.ok(latency.flood.length > 0, 'the well-behaved wallets were served during the flood');
    assert.ok(floodStats.batchesAnswered > 0, 'the flood was served at first (it is not refused at the door)');
    if (!fullRun) assert.ok(floodStats.batchesSent >= SUBNETS * PER_SUBNET, 'every flood session sent at least one batch');
    await gw.stop();
  });
});
