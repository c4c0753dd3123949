// SPDX-License-Identifier: MIT
/**
 * When each orphaned subscription whose move failed is tried again: after a
 * jittered exponential backoff (baseMs doubling up to maxMs, each delay drawn
 * from its upper half), counted per key until the key is forgotten (adopted,
 * or its last wallet left). The jitter spreads a batch that failed together
 * (a server that throttled or dropped the gateway) so it does not come back
 * as one burst; the cap keeps a long outage from pushing retries out of
 * reach.
 */
export interface RetryOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly random?: () => number;
}

interface Waiting {
  readonly timer: NodeJS.Timeout;
}

export class RetrySchedule {
  private readonly failures = new Map<string, number>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly random: () => number;

  constructor(private readonly opts: RetryOptions) {
    this.random = opts.random ?? Math.random;
  }

  /** Keys waiting for their retry. */
  get size(): number {
    return this.waiting.size;
  }

  has(key: string): boolean {
    return this.waiting.has(key);
  }

  /** The key failed once more: `run` is called after its backoff. Returns the delay (ms). */
  schedule(key: string, run: () => void): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const old = this.waiting.get(key);
    if (old) clearTimeout(old.timer);
    const cap = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(n - 1, 20));
    const delay = Math.round(cap / 2 + (this.random() * cap) / 2);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      run();
    }, delay);
    timer.unref();
    this.waiting.set(key, { timer });
    return delay;
  }

  /** Failures counted for the key so far. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The key needs no more retries: its timer and its count go. */
  forget(key: string): void {
    const w = this.waiting.get(key);
    if (w) clearTimeout(w.timer);
    this.waiting.delete(key);
    this.failures.delete(key);
  }

  clear(): void {
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    this.failures.clear();
  }
}
