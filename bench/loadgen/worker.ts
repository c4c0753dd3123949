// SPDX-License-Identifier: MIT
/**
 * One load-generator process (forked by coordinator.ts). It owns a slice of
 * the sessions, and follows the coordinator's messages:
 *
 *   init  -> open the slice's sessions (connect + server.version), run the
 *            scenario's per-session setup          -> ready
 *   run   -> throughput: op() in a loop per session, warm-up first, until the
 *            duration or the operation budget is spent            -> done
 *   event -> storm: wait until every session has been told the final status
 *            of each affected scripthash it watches, and the new tip -> delivered
 *   close -> close every session                                   -> closed, exit
 */
import { performance } from 'node:perf_hooks';
import { getScenario } from '../scenarios/index.js';
import type { Scenario, SessionContext, StormEvent } from '../scenarios/types.js';
import { seededRandom } from '../scenarios/types.js';
import { BenchConnection, PhaseStats, RpcFailure } from './client.js';
import type { CoordinatorMessage, WorkerMessage, DeliveryReport } from './messages.js';

/** The protocol request every bench session starts with, as Electrum 4 sends it. */
export const BENCH_CLIENT_VERSION: readonly unknown[] = ['electrum-gateway-bench', '1.4'];

const nowMs = (): number => performance.timeOrigin + performance.now();

function send(msg: WorkerMessage): void {
  process.send?.(msg);
}

interface Slot {
  readonly index: number;
  conn: BenchConnection | null;
  readonly ctx: SessionContext<unknown>;
  /** Storm: notifications seen, scripthash -> [status, arrival ms] list. */
  readonly seen: Map<string, { status: string | null; at: number }[]>;
  /** Storm: earliest arrival of each header height. */
  readonly heights: Map<number, number>;
}

class Worker {
  private scenario!: Scenario<unknown>;
  private data: unknown;
  private host = '127.0.0.1';
  private port = 0;
  private slots: Slot[] = [];
  private current = new PhaseStats();
  private readonly extraConnections = new Set<BenchConnection>();

  async init(msg: Extract<CoordinatorMessage, { type: 'init' }>): Promise<void> {
    this.scenario = getScenario(msg.scenario);
    this.data = msg.data;
    this.host = msg.host;
    this.port = msg.port;
    const setupStats = new PhaseStats();
    this.current = setupStats;
    const started = nowMs();
    let failed = 0;
    const failures = new Set<string>();
    const indexes = Array.from({ length: msg.count }, (_, i) => msg.first + i);
    const worker = this;
    for (const index of indexes) {
      const random = seededRandom((msg.seed * 1_000_003 + index) >>> 0);
      const ctx: SessionContext<unknown> = {
        data: this.data,
        index,
        random,
        get stats() {
          return worker.current;
        },
        connect: async () => {
          const c = await this.openConnection();
          this.extraConnections.add(c);
          c.onClose = () => this.extraConnections.delete(c);
          return c;
        },
      };
      this.slots.push({ index, conn: null, ctx, seen: new Map(), heights: new Map() });
    }
    if (!this.scenario.reconnectPerOp) {
      // Bounded concurrency: a burst of thousands of SYNs overflows the listen backlog and
      // turns into 1 s retransmits, which would measure the kernel, not the target.
      let next = 0;
      const opener = async (): Promise<void> => {
        while (next < this.slots.length) {
          const slot = this.slots[next++]!;
          try {
            slot.conn = await this.openConnection();
            if (this.scenario.kind === 'storm') this.watch(slot);
            await this.scenario.setup?.(slot.conn, slot.ctx);
          } catch (err) {
            failed++;
            if (failures.size < 5) failures.add(err instanceof Error ? err.message : String(err));
            slot.conn?.destroy();
            slot.conn = null;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(msg.connectConcurrency, this.slots.length) }, opener));
    }
    send({
      type: 'ready',
      // Scenarios that connect per operation have no standing session: every slot counts.
      opened: this.scenario.reconnectPerOp ? this.slots.length : this.slots.filter((s) => s.conn !== null).length,
      failed,
      failures: [...failures],
      openMs: nowMs() - started,
      setup: setupStats.toJSON(),
    });
  }

  private async openConnection(): Promise<BenchConnection> {
    const conn = await BenchConnection.connect(this.host, this.port, this.current);
    conn.stats = this.current;
    await conn.call('server.version', BENCH_CLIENT_VERSION, this.current);
    return conn;
  }

  private watch(slot: Slot): void {
    slot.conn!.onNotification = (method, params, at) => {
      const t = performance.timeOrigin + at;
      if (method === 'blockchain.scripthash.subscribe' && Array.isArray(params)) {
        const sh = String(params[0]);
        const list = slot.seen.get(sh) ?? [];
        list.push({ status: (params[1] ?? null) as string | null, at: t });
        slot.seen.set(sh, list);
      } else if (method === 'blockchain.headers.subscribe' && Array.isArray(params)) {
        const h = (params[0] as { height?: unknown } | undefined)?.height;
        if (typeof h === 'number' && !slot.heights.has(h)) slot.heights.set(h, t);
      }
    };
  }

  async run(msg: Extract<CoordinatorMessage, { type: 'run' }>): Promise<void> {
    const warm = new PhaseStats();
    const measured = new PhaseStats();
    this.current = warm;
    for (const s of this.slots) if (s.conn) s.conn.stats = warm;
    const started = nowMs();
    const measureFrom = started + (msg.warmupMs ?? 0);
    const deadline = msg.ops === undefined ? measureFrom + (msg.durationMs ?? 0) : Infinity;
    let budget = msg.ops ?? Infinity;
    let measuring = false;
    let cpuAtStart = process.cpuUsage();
    const startMeasuring = (): void => {
      if (measuring) return;
      measuring = true;
      this.current = measured;
      for (const s of this.slots) if (s.conn) s.conn.stats = measured;
      cpuAtStart = process.cpuUsage();
    };
    const warmTimer = setTimeout(startMeasuring, Math.max(0, measureFrom - nowMs()));
    let aborted = false;
    const hard = setTimeout(() => {
      aborted = true;
      for (const s of this.slots) s.conn?.destroy();
      for (const c of this.extraConnections) c.destroy();
    }, msg.hardLimitMs);
    const op = this.scenario.op;
    if (!op) throw new Error(`scenario ${this.scenario.name} has no op`);
    const loop = async (slot: Slot): Promise<void> => {
      for (;;) {
        if (aborted) return;
        const t = nowMs();
        if (t >= deadline) return;
        if (measuring) {
          if (budget <= 0) return;
          budget--;
        }
        const stats = this.current;
        try {
          await op.call(this.scenario, slot.conn, slot.ctx);
          stats.ops++;
        } catch (err) {
          stats.noteError(err instanceof Error ? err.message : String(err));
          if (err instanceof RpcFailure && !err.answered) {
            if (!this.scenario.reconnectPerOp) return; // this session's connection is gone
            await new Promise((r) => setTimeout(r, 10));
          }
        }
      }
    };
    const active = this.scenario.activeInRun;
    const runs = (s: Slot): boolean => (s.conn !== null || this.scenario.reconnectPerOp === true) && (active === undefined || active.call(this.scenario, this.data, s.index));
    await Promise.all(this.slots.filter(runs).map(loop));
    clearTimeout(warmTimer);
    clearTimeout(hard);
    const cpu = process.cpuUsage(cpuAtStart);
    const ended = nowMs();
    send({
      type: 'done',
      measuredMs: measuring ? ended - Math.max(measureFrom, started) : 0,
      stats: measured.toJSON(),
      warmup: warm.toJSON(),
      generatorCpuMs: (cpu.user + cpu.system) / 1000,
      aborted,
    });
  }

  async event(msg: Extract<CoordinatorMessage, { type: 'event' }>): Promise<void> {
    const ev: StormEvent = msg.event;
    const subsOf = this.scenario.subscriptionsOf;
    const deadline = nowMs() + msg.timeoutMs;
    const pending = new Set(this.slots.filter((s) => s.conn !== null));
    const completion: number[] = [];
    const check = (slot: Slot): number | null => {
      let last = 0;
      const headerAt = [...slot.heights.entries()].filter(([h]) => h >= ev.height).map(([, t]) => t);
      if (headerAt.length === 0) return null;
      last = Math.min(...headerAt);
      for (const sh of subsOf ? subsOf(this.data, slot.index) : []) {
        if (!(sh in ev.finalStatus)) continue;
        const hit = (slot.seen.get(sh) ?? []).find((n) => n.status === ev.finalStatus[sh]);
        if (!hit) return null;
        last = Math.max(last, hit.at);
      }
      return last;
    };
    while (pending.size > 0 && nowMs() < deadline) {
      for (const slot of [...pending]) {
        const t = check(slot);
        if (t !== null) {
          completion.push(t - ev.startedAtMs);
          pending.delete(slot);
        }
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 20));
    }
    let notifications = 0;
    for (const s of this.slots) {
      for (const l of s.seen.values()) notifications += l.length;
      notifications += s.heights.size;
    }
    const report: DeliveryReport = { completionMs: completion, missing: pending.size, notifications };
    send({ type: 'delivered', report });
  }

  close(): void {
    for (const s of this.slots) s.conn?.destroy();
    for (const c of this.extraConnections) c.destroy();
    send({ type: 'closed' });
  }
}

const worker = new Worker();
process.on('message', (raw) => {
  const msg = raw as CoordinatorMessage;
  const fail = (err: unknown): void => {
    send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  };
  switch (msg.type) {
    case 'init':
      worker.init(msg).catch(fail);
      break;
    case 'run':
      worker.run(msg).catch(fail);
      break;
    case 'event':
      worker.event(msg).catch(fail);
      break;
    case 'close':
      worker.close();
      setTimeout(() => process.exit(0), 50);
      break;
  }
});
process.on('disconnect', () => process.exit(0));
