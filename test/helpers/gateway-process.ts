// SPDX-License-Identifier: MIT
/**
 * Runs the built gateway CLI as a real child process for tests:
 *
 *   node dist/src/cli/main.js serve --listen tcp://127.0.0.1:PORT \
 *        --upstream tcp://127.0.0.1:SIMPORT [--upstream ...] --network regtest \
 *        --admin none [--log-level L] --drain-ms 0 [extra args]
 *
 * waits until it accepts TCP connections, captures its JSON log lines (pino, one JSON object
 * per stdout line; anything else is kept as text), and stops it with SIGTERM, reporting how it
 * exited so the test can assert a clean (code 0) shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, LOOPBACK, waitForPort } from './ports.js';

/** Repository root, found from this file's place in dist/test/helpers/ (or test/helpers/). */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('gateway-process: cannot find the repository root (package.json)');
})();

export const GATEWAY_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** Whether the gateway CLI has been built (tests skip with a reason when it has not). */
export function gatewayCliBuilt(): boolean {
  return existsSync(GATEWAY_CLI);
}

export interface GatewayProcessOptions {
  /** One or more upstream URLs, e.g. sim.url ("tcp://127.0.0.1:50001"). */
  upstream: string | string[];
  network?: string;
  host?: string;
  /** Listen port; default: a free loopback port (retried on EADDRINUSE races). */
  port?: number;
  /**
   * `--admin HOST:PORT` for the /metrics and /status listener; default "none" (off), because
   * the built-in default 127.0.0.1:8080 would clash between concurrent gateways.
   */
  admin?: string;
  /** `--log-level` (default: the gateway's own default). */
  logLevel?: string;
  /**
   * `--drain-ms`: how long SIGTERM keeps sessions served. Default 0, so stop() does not wait
   * out the production default with test clients still connected.
   */
  drainMs?: number;
  /** More CLI arguments appended after the standard ones. */
  extraArgs?: string[];
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /** Bound for "accepts TCP connections" (default 20 s). */
  startTimeoutMs?: number;
}

export type LogRecord = Record<string, unknown>;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
  }
}

export class GatewayProcess {
  readonly host: string;
  readonly port: number;
  readonly args: readonly string[];
  /** Parsed JSON log lines, in order. */
  readonly logs: LogRecord[] = [];
  /** Every output line (stdout and stderr), JSON or not, in order of arrival. */
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private exitStatus: ExitStatus | undefined;
  private readonly exitPromise: Promise<ExitStatus>;
  private readonly partial: { stdout: string; stderr: string } = { stdout: '', stderr: '' };
  private readonly listeners = new Set<() => void>();

  private constructor(host: string, port: number, args: string[], env: Record<string, string> | undefined) {
    this.host = host;
    this.port = port;
    this.args = args;
    this.child = spawn(process.execPath, [GATEWAY_CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(this.child);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => this.onData('stdout', d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => this.onData('stderr', d));
    this.exitPromise = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.pushLine(`[harness] spawn error: ${err.message}`);
        if (!this.exitStatus) {
          this.exitStatus = { code: null, signal: null };
          resolve(this.exitStatus);
        }
      });
      this.child.once('close', (code, signal) => {
        for (const s of ['stdout', 'stderr'] as const) {
          if (this.partial[s]) this.pushLine(this.partial[s]);
          this.partial[s] = '';
        }
        this.exitStatus = { code, signal };
        this.notify();
        resolve(this.exitStatus);
      });
    });
  }

  /** Starts the gateway and resolves once it accepts TCP connections. */
  static async start(opts: GatewayProcessOptions): Promise<GatewayProcess> {
    if (!gatewayCliBuilt()) throw new Error(`gateway CLI not built: ${GATEWAY_CLI} (run npx tsc -p tsconfig.json)`);
    const host = opts.host ?? LOOPBACK;
    const attempts = opts.port === undefined ? 3 : 1;
    let lastErr: unknown;
    for (let i = 0; i < attempts; i++) {
      const port = opts.port ?? (await freePort(host));
      const upstreams = Array.isArray(opts.upstream) ? opts.upstream : [opts.upstream];
      const args = [
        'serve',
        '--listen', `tcp://${host}:${port}`,
        ...upstreams.flatMap((u) => ['--upstream', u]),
        '--network', opts.network ?? 'regtest',
        '--admin', opts.admin ?? 'none',
        ...(opts.logLevel !== undefined ? ['--log-level', opts.logLevel] : []),
        '--drain-ms', String(opts.drainMs ?? 0),
        ...(opts.extraArgs ?? []),
      ];
      const gw = new GatewayProcess(host, port, args, opts.env);
      try {
        await waitForPort(host, port, {
          timeoutMs: opts.startTimeoutMs ?? 20_000,
          abortIf: () => (gw.exitStatus ? `gateway exited early (${JSON.stringify(gw.exitStatus)})` : undefined),
          describe: () => gw.logTail(),
        });
        return gw;
      } catch (err) {
        lastErr = err;
        gw.kill();
        await gw.exitPromise;
        const addrInUse = gw.lines.some((l) => l.includes('EADDRINUSE'));
        if (!addrInUse) break;
      }
    }
    throw lastErr;
  }

  get url(): string {
    return `tcp://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How the process exited, or undefined while it runs. */
  get exited(): ExitStatus | undefined {
    return this.exitStatus;
  }

  private onData(stream: 'stdout' | 'stderr', chunk: string): void {
    const text = this.partial[stream] + chunk;
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.pushLine(line);
    this.notify();
  }

  private pushLine(line: string): void {
    if (line === '') return;
    this.lines.push(line);
    if (line.startsWith('{')) {
      try {
        const rec = JSON.parse(line) as unknown;
        if (rec !== null && typeof rec === 'object' && !Array.isArray(rec)) this.logs.push(rec as LogRecord);
      } catch {
        /* not JSON after all; kept in lines */
      }
    }
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Resolves with the first log record (already seen or future) matching `pred`. */
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs = 10_000): Promise<LogRecord> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.logs.find(pred);
        if (hit) {
          cleanup();
          resolve(hit);
          return true;
        }
        if (this.exitStatus) {
          cleanup();
          reject(new Error(`gateway exited (${JSON.stringify(this.exitStatus)}) before the awaited log line\n${this.logTail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching gateway log line within ${timeoutMs} ms\n${this.logTail()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (): void => void check();
      this.listeners.add(listener);
      check();
    });
  }

  /** Last `n` output lines, for failure messages. */
  logTail(n = 40): string {
    const all = [...this.lines, this.partial.stdout, this.partial.stderr].filter((l) => l !== '');
    return `--- gateway output (last ${Math.min(n, all.length)} of ${all.length} lines; node ${[GATEWAY_CLI, ...this.args].join(' ')}) ---\n${all.slice(-n).join('\n')}`;
  }

  /**
   * SIGTERM, then wait up to `timeoutMs` (default 10 s) for the exit; SIGKILL after that.
   * Returns the exit status. With `expectCleanExit` (default true) it throws unless the
   * process exited by itself with code 0.
   */
  async stop(opts: { timeoutMs?: number; expectCleanExit?: boolean } = {}): Promise<ExitStatus> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const expectClean = opts.expectCleanExit ?? true;
    if (!this.exitStatus) this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exitPromise;
      if (expectClean) {
        throw new Error(`gateway did not exit within ${timeoutMs} ms of SIGTERM; killed\n${this.logTail()}`);
      }
    }
    const status = this.exitStatus ?? { code: null, signal: null };
    if (expectClean && status.code !== 0) {
      throw new Error(`gateway exited uncleanly after SIGTERM: ${JSON.stringify(status)}\n${this.logTail()}`);
    }
    return status;
  }

  /** Sends a signal without waiting (SIGHUP to reload, SIGTERM to start a drain). */
  signal(sig: NodeJS.Signals): void {
    if (!this.exitStatus) this.child.kill(sig);
  }

  /** Resolves with the exit status once the process has exited. */
  waitForExit(): Promise<ExitStatus> {
    return this.exitPromise;
  }

  /** SIGKILL without waiting (for cleanup paths). */
  kill(): void {
    if (!this.exitStatus) this.child.kill('SIGKILL');
  }
}
