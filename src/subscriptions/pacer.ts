// SPDX-License-Identifier: MIT
/**
 * Runs queued jobs at most `concurrency` at once and at most `perSecond`
 * starts a second (a token bucket whose burst is the concurrency). Moving
 * 50,000 subscriptions off a dead upstream must not land on the next one as
 * 50,000 requests in one instant: servers throttle or hang up on that.
 *
 * Jobs are keyed so that one queued twice runs once; a key whose job is no
 * longer wanted when its turn comes is skipped by the job itself.
 */
export interface PacerOptions {
  readonly concurrency: number;
  readonly perSecond: number;
  /** Jobs allowed to run at once now, at most `concurrency` (the hub's congestion window); `concurrency` without it. */
  readonly limit?: () => number;
  /** The clock, for tests. */
  readonly now?: () => number;
}

export class Pacer {
  private readonly queue = new Map<string, () => Promise<void>>();
  private running = 0;
  private tokens: number;
  private refilledAt: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: PacerOptions) {
    this.now = opts.now ?? Date.now;
    this.tokens = opts.concurrency;
    this.refilledAt = this.now();
  }

  /** Jobs waiting to start. */
  get queued(): number {
    return this.queue.size;
  }

  get active(): number {
    return this.running;
  }

  has(key: string): boolean {
    return this.queue.has(key);
  }

  add(key: string, job: () => Promise<void>): void {
    if (!this.queue.has(key)) this.queue.set(key, job);
    this.pump();
  }

  /** Drops every queued job (shutdown). */
  clear(): void {
    this.queue.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.opts.concurrency, this.tokens + ((now - this.refilledAt) / 1000) * this.opts.perSecond);
    this.refilledAt = now;
  }

  private pump(): void {
    this.refill();
    const limit = Math.min(this.opts.concurrency, this.opts.limit?.() ?? this.opts.concurrency);
    for (const [key, job] of this.queue) {
      if (this.running >= limit) return;
      if (this.tokens < 1) {
        if (this.timer === null) {
          const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) / this.opts.perSecond) * 1000));
          this.timer = setTimeout(() => {
            this.timer = null;
            this.pump();
          }, waitMs);
          this.timer.unref();
        }
        return;
      }
      this.queue.delete(key);
      this.tokens -= 1;
      this.running++;
      job()
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }
}
