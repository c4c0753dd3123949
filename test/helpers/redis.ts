// SPDX-License-Identifier: MIT
/**
 * A real redis-server (Debian package redis-server) for tests, on a free
 * loopback port, with nothing persisted:
 *
 *   redis-server --port P --bind 127.0.0.1 --save '' --appendonly no --dir TMP
 *
 *   const redis = await RedisServer.start();
 *   redis.url                 // 'redis://127.0.0.1:P'
 *   await redis.kill();       // SIGKILL, as a crash; the port stays reserved for restart()
 *   await redis.restart();    // same port, empty data
 *   await redis.stop();       // SIGTERM and remove the temp dir
 *
 * The process is killed if the test process exits without stopping it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, LOOPBACK, waitForPort } from './ports.js';

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Whether redis-server is installed (the tests that need it say so when it is not). */
export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get host(): string {
    return LOOPBACK;
  }

  get url(): string {
    return `redis://${LOOPBACK}:${this.port}`;
  }

  /** Whether the server process is running. */
  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'eg-redis-'));
    let lastErr: unknown;
    // freePort() has a window before redis binds it; try a few ports.
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = new RedisServer(await freePort(), dir);
      try {
        await server.launch();
        return server;
      } catch (err) {
        lastErr = err;
        await server.kill();
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastErr;
  }

  private async launch(): Promise<void> {
    this.output = '';
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const c of running) c.kill('SIGKILL');
      });
    }
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString('utf8')).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let spawnError: Error | null = null;
    child.once('error', (err) => (spawnError = err));
    await waitForPort(LOOPBACK, this.port, {
      timeoutMs: 10_000,
      intervalMs: 20,
      abortIf: () =>
        spawnError ? `cannot run redis-server: ${(spawnError as Error).message}` : this.alive ? undefined : `redis-server exited (${child.exitCode ?? child.signalCode})`,
      describe: () => `--- redis-server output ---\n${this.output}`,
    });
  }

  /** SIGKILL, like a crash; resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Starts it again on the same port (empty: nothing is persisted). */
  async restart(): Promise<void> {
    if (this.alive) await this.kill();
    await this.launch();
  }

  /** SIGTERM, wait for the exit, remove the temp dir. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
