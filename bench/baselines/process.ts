// SPDX-License-Identifier: MIT
/**
 * A child process the benchmark starts and measures: its output lines are
 * kept (the last few hundred), a caller can wait for a line that says it is
 * ready, and stop() ends it with SIGTERM (SIGKILL after a timeout) and says
 * how it exited.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const live = new Set<ChildProcess>();
let hooked = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    // Never leave a target running behind an interrupted benchmark.
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export class ChildTarget {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  private exitInfo: ExitInfo | null = null;
  readonly exited: Promise<ExitInfo>;
  /** When the process was spawned (epoch ms, sub-ms precision), e.g. to line a CPU profile up with a run. */
  readonly spawnedAtMs = performance.timeOrigin + performance.now();
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ) {
    this.child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    track(this.child);
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        const parts = (partial + d).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.push(line);
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.push(`[bench] spawn error: ${err.message}`);
        this.exitInfo ??= { code: null, signal: null };
        this.notify();
        resolve(this.exitInfo);
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo ??= { code, signal };
        this.notify();
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name}: process did not start`);
    return this.child.pid;
  }

  get exit(): ExitInfo | null {
    return this.exitInfo;
  }

  private push(line: string): void {
    if (line === '') return;
    this.lines.push(line);
    if (this.lines.length > 500) this.lines.splice(0, this.lines.length - 500);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  tail(n = 15): string {
    return this.lines.slice(-n).join('\n');
  }

  /** Resolves with the first output line (past or future) matching `test`; rejects on exit or timeout. */
  waitForLine<T>(test: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const check = (): void => {
        for (; seen < this.lines.length; seen++) {
          const v = test(this.lines[seen]!);
          if (v !== undefined) return done(() => resolve(v));
        }
        if (this.exitInfo) done(() => reject(new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}):\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.name}: not ready after ${timeoutMs} ms:\n${this.tail()}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exitInfo) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with how it exited. */
  async stop(timeoutMs = 10_000): Promise<ExitInfo & { killed: boolean }> {
    if (this.exitInfo) return { ...this.exitInfo, killed: false };
    this.child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    const info = await this.exited;
    clearTimeout(timer);
    return { ...info, killed };
  }
}

/** A port that was free a moment ago on `host` (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => {
      const addr = srv.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(host: string, port: number, timeoutMs: number, abortIf?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    const why = abortIf?.();
    if (why !== undefined) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`nothing accepts connections on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
