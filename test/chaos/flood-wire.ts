// SPDX-License-Identifier: MIT
/**
 * What the memory-flood scenario's processes share: the long histories'
 * scripthashes, a newline-framed connection from a chosen loopback address,
 * the p99, and the way the test runs its flood and its wallet timer as child
 * processes (one JSON line of result on stdout each). The flood and the timer
 * are separate processes so that reading the flood's megabytes of answers
 * cannot delay the moment the timer sees a wallet's answer: on the 2-core
 * machine the test once timed both in one event loop and measured that loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** Scripthash of long history `i` (the simulator is given them, the flood asks for them). */
export const longScripthash = (i: number): string => (0xa0 + i).toString(16).repeat(32);

export function p99(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]!;
}

/** A newline-framed connection from a chosen loopback address; lines are counted, parsed only when asked. */
export class Line {
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

  static open(port: number, localAddress: string, host = '127.0.0.1'): Promise<Line> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, localAddress }, () => {
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

/** Reads the JSON argument a child script was started with. */
export function childArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

/** Writes one JSON line to the parent; resolves once it is written. */
export function tell(message: unknown): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve()));
}

/** Calls `onCommand` with each line the parent writes to stdin. */
export function onCommands(onCommand: (line: string) => void): void {
  let buf = '';
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      onCommand(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

/**
 * A child script of this directory (dist/test/chaos/NAME.js) run with Node;
 * its stdout is JSON lines. `next()` resolves with the next line (a child
 * says "ready", then its result), `send()` writes a command line to its stdin.
 */
export class Child {
  private readonly child: ChildProcess;
  private readonly queue: unknown[] = [];
  private waiter: ((m: unknown) => void) | null = null;
  private failure: Error | null = null;
  private failed: ((e: Error) => void) | null = null;

  constructor(name: string, args: unknown) {
    const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
    this.child = spawn(process.execPath, [script, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
    process.once('exit', () => this.child.kill('SIGKILL'));
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = JSON.parse(line) as unknown;
        const w = this.waiter;
        this.waiter = null;
        if (w) w(m);
        else this.queue.push(m);
      }
    });
    this.child.once('exit', (code, signal) => {
      if (code === 0) return;
      this.failure = new Error(`${name} exited with ${code ?? signal}`);
      this.failed?.(this.failure);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  next<T>(): Promise<T> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift() as T);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiter = resolve as (m: unknown) => void;
      this.failed = reject;
    });
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
