// SPDX-License-Identifier: MIT
/**
 * The things a scenario is run against, each a separate process measured by
 * /proc: the echo floor, the simulator directly, HAProxy or the Node relay
 * in front of the simulator, and the gateway (1 or 2 cluster workers) in front of the
 * simulator.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildTarget, freePort } from './baselines/process.js';
import type { SimProcess } from './baselines/sim.js';
import { startHaproxy, haproxyMaxSessions } from './baselines/haproxy.js';
import { BenchConnection, PhaseStats } from './loadgen/client.js';
import { processTree, sessionsByProcess } from './loadgen/procstat.js';
import { ECHO_MAIN, GATEWAY_CLI, RELAY_MAIN } from './paths.js';

export type TargetKind = 'echo' | 'sim' | 'haproxy' | 'relay' | 'gateway';

export interface TargetSpec {
  /** Column key in results: echo, sim, haproxy, relay, gateway-w1, gateway-w2, gateway-w1-limits. */
  readonly id: string;
  readonly kind: TargetKind;
  readonly label: string;
  /** Gateway only: cluster workers. */
  readonly workers?: number;
  /** Gateway only: keep the gateway's default session and cost limits instead of lifting them. */
  readonly defaultLimits?: boolean;
}

export interface RunningTarget {
  readonly spec: TargetSpec;
  readonly host: string;
  readonly port: number;
  /** The process (tree root) whose CPU and memory are measured. */
  readonly pid: number;
  /** Most sessions this target can hold on this machine (HAProxy: open-files limit). */
  readonly maxSessions: number;
  readonly notes: string[];
  /** When the target's process was spawned (epoch ms); undefined for the long-running simulator. */
  readonly spawnedAtMs?: number;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

export interface StartOptions {
  readonly sim: SimProcess;
  /** Echo: per-method reply sizes. */
  readonly sizes?: Record<string, number>;
  /** Gateway: the config keys its schema knows (so the harness works before and after config changes). */
  readonly gatewayKeys?: GatewayKeys;
  /** Gateway: write a V8 CPU profile into this directory. */
  readonly cpuProfDir?: string;
  readonly gatewayLogLevel?: string;
}

export interface GatewayKeys {
  readonly top: readonly string[];
  readonly limits: readonly string[];
  readonly cost: readonly string[];
}

export async function startTarget(spec: TargetSpec, opts: StartOptions): Promise<RunningTarget> {
  switch (spec.kind) {
    case 'sim':
      return {
        spec,
        host: opts.sim.host,
        port: opts.sim.port,
        pid: opts.sim.target.pid,
        maxSessions: Infinity,
        notes: [],
        // The simulator outlives every run: it is the upstream of the others.
        stop: async () => ({ code: null, signal: null, killed: false }),
      };
    case 'echo':
      return startEcho(spec, opts.sizes ?? {});
    case 'haproxy': {
      const h = await startHaproxy({ host: opts.sim.host, port: opts.sim.port });
      return {
        spec,
        host: h.host,
        port: h.port,
        pid: h.target.pid,
        maxSessions: haproxyMaxSessions(),
        notes: [],
        stop: async () => {
          const info = await h.target.stop(5_000);
          await h.stop();
          return info;
        },
      };
    }
    case 'relay':
      return startRelayTarget(spec, opts.sim);
    case 'gateway':
      return startGatewayTarget(spec, opts);
  }
}

/** The listening port a baseline prints as its first line of JSON. */
async function childOnPort(t: ChildTarget): Promise<number> {
  return t.waitForLine((line) => {
    try {
      const v = JSON.parse(line) as { port?: number };
      return typeof v.port === 'number' ? v.port : undefined;
    } catch {
      return undefined;
    }
  }, 15_000);
}

async function startRelayTarget(spec: TargetSpec, sim: SimProcess): Promise<RunningTarget> {
  const t = new ChildTarget('relay', process.execPath, [RELAY_MAIN, '--port', '0', '--upstream', `${sim.host}:${sim.port}`]);
  const port = await childOnPort(t);
  return { spec, host: '127.0.0.1', port, pid: t.pid, maxSessions: Infinity, notes: [], stop: () => t.stop() };
}

async function startEcho(spec: TargetSpec, sizes: Record<string, number>): Promise<RunningTarget> {
  const t = new ChildTarget('echo', process.execPath, [ECHO_MAIN, '--port', '0', '--sizes', JSON.stringify(sizes)]);
  const port = await childOnPort(t);
  return { spec, host: '127.0.0.1', port, pid: t.pid, maxSessions: Infinity, notes: [], stop: () => t.stop() };
}

/** The YAML the harness runs the gateway on; only keys the built schema knows are written. */
export function gatewayConfigYaml(opts: { port: number; upstream: string; workers: number; keys: GatewayKeys; defaultLimits: boolean; logLevel: string }): string {
  const lines = [
    'network: regtest',
    'listen:',
    `  - tcp://127.0.0.1:${opts.port}`,
    'upstreams:',
    `  - ${opts.upstream}`,
    'admin: null',
    'redis: null',
    'logging:',
    `  level: ${opts.logLevel}`,
  ];
  if (opts.keys.top.includes('workers')) lines.push(`workers: ${opts.workers}`);
  if (!opts.defaultLimits) {
    // Every bench client comes from 127.0.0.1: lift the per-address and total session caps
    // and the cost throttle, which would otherwise measure the limiter instead of the proxy.
    const limits: string[] = [];
    for (const k of ['max_sessions', 'max_sessions_per_group']) if (opts.keys.limits.includes(k)) limits.push(`  ${k}: 1000000`);
    if (limits.length > 0 && opts.keys.top.includes('limits')) lines.push('limits:', ...limits);
    if (opts.keys.top.includes('cost') && opts.keys.cost.includes('hard_limit')) lines.push('cost:', '  hard_limit: 0');
  }
  return lines.join('\n') + '\n';
}

async function startGatewayTarget(spec: TargetSpec, opts: StartOptions): Promise<RunningTarget> {
  const workers = spec.workers ?? 1;
  const keys = opts.gatewayKeys ?? { top: [], limits: [], cost: [] };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
  const notes: string[] = [];
  if (workers > 1 && !keys.top.includes('workers')) throw new Error('this gateway build has no workers setting');
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const file = path.join(dir, 'bench.yaml');
    writeFileSync(
      file,
      gatewayConfigYaml({
        port,
        upstream: opts.sim.url,
        workers,
        keys,
        defaultLimits: spec.defaultLimits === true,
        logLevel: opts.gatewayLogLevel ?? 'info',
      }),
    );
    const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
    const t = new ChildTarget(spec.label, process.execPath, [...nodeArgs, GATEWAY_CLI, 'serve', '--config', file]);
    try {
      // Not the "listening" log lines: they are info level, and the log level is a knob.
      await waitUntilServing('127.0.0.1', port, t.pid, workers, 30_000, () => (t.exit ? `exited ${JSON.stringify(t.exit)}: ${t.tail(5)}` : undefined));
      return {
        spec,
        host: '127.0.0.1',
        port,
        pid: t.pid,
        maxSessions: Infinity,
        notes,
        spawnedAtMs: t.spawnedAtMs,
        stop: async () => {
          const info = await t.stop(20_000);
          rmSync(dir, { recursive: true, force: true });
          if (info.code !== 0) notes.push(`gateway exited with ${JSON.stringify(info)}: ${t.tail(5)}`);
          return info;
        },
      };
    } catch (err) {
      lastErr = err;
      await t.stop(5_000);
      if (!t.lines.some((l) => l.includes('EADDRINUSE'))) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

/**
 * Until every process that serves (the gateway, or each cluster worker) holds a connection that
 * got a header tip through the gateway. The probes stay open until then and are counted where
 * /proc says they landed: a cluster worker still starting gets no connection, and a run that
 * began before it listens would measure one worker under the name of two.
 */
async function waitUntilServing(host: string, port: number, root: number, workers: number, timeoutMs: number, abortIf: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probes: BenchConnection[] = [];
  let last = '';
  const serving = (): number => {
    const tree = processTree(root);
    // With workers the primary holds no session (round-robin: it hands each one on).
    const servers = workers > 1 ? tree.filter((pid) => pid !== root) : [root];
    return sessionsByProcess(servers, port).filter((p) => p.sessions > 0).length;
  };
  try {
    while (probes.length === 0 || serving() < workers) {
      const why = abortIf();
      if (why !== undefined) throw new Error(`gateway on ${port}: ${why}`);
      if (Date.now() > deadline) throw new Error(`gateway on ${port}: ${probes.length} probes served, not by all ${workers} workers, after ${timeoutMs} ms: ${last}`);
      try {
        const c = await BenchConnection.connect(host, port, new PhaseStats(), 2_000);
        try {
          await c.call('server.version', ['bench-probe', '1.4']);
          const tip = (await c.call('blockchain.headers.subscribe')) as { height?: unknown };
          if (typeof tip?.height !== 'number') throw new Error(`no tip: ${JSON.stringify(tip)}`);
          probes.push(c);
          // A worker still starting: give it time, and hold a bounded number of probes meanwhile.
          if (probes.length > 16) probes.shift()!.destroy();
          if (workers > 1) await new Promise((r) => setTimeout(r, 20));
        } catch (err) {
          c.destroy();
          throw err;
        }
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    for (const c of probes) c.destroy();
  }
}
