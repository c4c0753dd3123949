// SPDX-License-Identifier: MIT
/**
 * Requests one session has in the works at once, batch items counted one by
 * one, as aiorpcX (ElectrumX's RPC layer) does: every request of a batch
 * takes the session's incoming-concurrency semaphore on its own
 * (`_throttled_request`), and those beyond it wait for a slot rather than
 * being refused. The session also stops reading while any wait, so a client
 * cannot queue more than one batch's worth of waiting items (max_batch).
 *
 * Pure bookkeeping, no timers and no I/O. A request that finds a free slot
 * starts at once (synchronously).
 */

/** Requests (batch items included) one session has in the works at once: aiorpcX's default concurrency. */
export const MAX_REQUESTS_IN_FLIGHT = 20;

export class RequestSlots {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  /** `onDrained` is called when the last waiting request has been given a slot. */
  constructor(
    private readonly max: number = MAX_REQUESTS_IN_FLIGHT,
    private readonly onDrained?: () => void,
  ) {}

  /** Requests running now. */
  get busy(): number {
    return this.running;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs `work` in a slot: now if one is free and nobody waits, else in turn once one frees.
   * Both ways take the same steps (a waiting request is started synchronously when a slot
   * frees), so requests start, and equally quick ones finish, in the order they came.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        let p: Promise<T>;
        try {
          p = work();
        } catch (err) {
          p = Promise.reject(err as Error);
        }
        p.finally(() => this.release()).then(resolve, reject);
      };
      if (this.running < this.max && this.queue.length === 0) {
        this.running++;
        start();
      } else {
        this.queue.push(start);
      }
    });
  }

  /**
   * Takes a free slot at once, for work that may finish synchronously (a
   * cache hit): true when it was free and nobody waits (then `release` gives
   * it back), false when the request must go through `run` and wait its turn.
   */
  tryTake(): boolean {
    if (this.running >= this.max || this.queue.length > 0) return false;
    this.running++;
    return true;
  }

  /** Gives back a slot taken by tryTake; the next waiting request, if any, starts. */
  release(): void {
    this.running--;
    const next = this.queue.shift();
    if (!next) return;
    this.running++;
    next();
    if (this.queue.length === 0) this.onDrained?.();
  }
}
