// SPDX-License-Identifier: MIT
/**
 * How many subscription moves may be in flight at once right now: between 1
 * and pool.resubscribe_concurrency, halved when the server taking them shows
 * congestion, grown back by one per window's worth of moves that went well
 * (AIMD, as TCP does).
 *
 * Congestion is a move that failed for the server's load (timeout, "server
 * busy", "excessive resource usage", the connection closed) or one answered
 * slower than `slowMs`. The slow answer is the signal that matters against
 * ElectrumX: it throttles a session by its cost, queues what exceeds its
 * shrinking concurrency, and charges 100 for every request still queued after
 * its 30 s timeout; waiting for those timeouts before slowing down would let
 * a hundred of them land at once and get the connection closed. Keeping the
 * queue short also keeps the pool's pings on that connection answered in time.
 *
 * Moves started before the last cut were in flight with the one that caused
 * it and say nothing new, so one congested moment halves the window once.
 * After `restoreMs` without any move the window is full again: the next
 * failover, probably onto another server, starts at the configured pace.
 * (Not after a quiet spell of congestion alone: a window that keeps a slow
 * server just under the threshold would then jump back to full and flood it.)
 */
export interface MoveWindowOptions {
  /** The ceiling (pool.resubscribe_concurrency). */
  readonly max: number;
  /** A move answered slower than this counts as congestion. */
  readonly slowMs: () => number;
  /** Idle this long (no move ending), the window is full again. */
  readonly restoreMs: number;
  readonly now?: () => number;
}

export class MoveWindow {
  private size: number;
  private cutAt = Number.NEGATIVE_INFINITY;
  private lastAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly opts: MoveWindowOptions) {
    this.size = opts.max;
    this.now = opts.now ?? Date.now;
  }

  /** Moves allowed in flight now. */
  get limit(): number {
    this.restoreIfIdle(this.now());
    return Math.max(1, Math.floor(this.size));
  }

  /**
   * One move's attempt ended: `startedAt` when its request was sent, `congested`
   * whether it failed for the server's load. Returns true when this cut the window.
   */
  record(startedAt: number, congested: boolean): boolean {
    const now = this.now();
    this.restoreIfIdle(now);
    this.lastAt = now;
    if (congested || now - startedAt > this.opts.slowMs()) {
      if (startedAt < this.cutAt) return false;
      this.size = Math.max(1, Math.floor(this.size) / 2);
      this.cutAt = now;
      return true;
    }
    if (this.size < this.opts.max) this.size = Math.min(this.opts.max, this.size + 1 / this.size);
    return false;
  }

  private restoreIfIdle(now: number): void {
    if (this.size < this.opts.max && now - this.lastAt >= this.opts.restoreMs) this.size = this.opts.max;
  }
}
