// SPDX-License-Identifier: MIT
/**
 * One timer for many deadlines: an upstream connection's request timeouts,
 * without a setTimeout (and its closure, its timer-list entry and its
 * clearTimeout) per request.
 *
 * Deadlines are kept sorted, oldest first. Requests on one connection mostly
 * share one timeout, so each new deadline is the latest and is appended;
 * one that is not is placed by binary search. A single timer is armed for the
 * earliest deadline; when it fires, every due key the owner still holds is
 * expired, in deadline order, and the timer is armed for the next one.
 * Expiry is as exact as setTimeout's own (millisecond) granularity: the
 * timer is set for the earliest deadline itself, not for a periodic tick.
 *
 * A key answered before its deadline is not removed at once (that would be a
 * search per answer); `isLive` says it is gone when its turn comes, and the
 * queue is compacted once it holds more than twice as many entries as live
 * keys, so memory follows the keys in flight, not the request rate.
 */

export interface DeadlineOwner {
  /** Whether the key is still waiting (not yet answered nor failed). */
  isLive(key: number): boolean;
  /** The key's deadline has passed and it is still live: fail it. */
  expire(key: number): void;
}

/** Entries kept beyond the live keys before the queue is compacted. */
const COMPACT_SLACK = 64;

export class DeadlineQueue {
  /** Deadlines (performance.now() ms) and their keys, sorted by deadline from `head` on. */
  private deadlines: number[] = [];
  private keys: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The deadline the timer is armed for. */
  private armedFor = Infinity;
  private live = 0;
  /** True while expiring due keys: compaction waits, the loop owns `head`. */
  private firing = false;

  constructor(
    private readonly owner: DeadlineOwner,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Entries held, answered ones not yet dropped included (for tests). */
  get size(): number {
    return this.deadlines.length - this.head;
  }

  /** Watches `key` until `deadline` (same clock as `now`). */
  add(key: number, deadline: number): void {
    this.live++;
    const d = this.deadlines;
    if (d.length === this.head || d[d.length - 1]! <= deadline) {
      d.push(deadline);
      this.keys.push(key);
    } else {
      let lo = this.head;
      let hi = d.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (d[mid]! <= deadline) lo = mid + 1;
        else hi = mid;
      }
      d.splice(lo, 0, deadline);
      this.keys.splice(lo, 0, key);
    }
    if (deadline < this.armedFor) this.arm(deadline);
  }

  /** One key was settled by its owner (answered or failed): counted for compaction. */
  settled(): void {
    if (this.live > 0) this.live--;
    if (!this.firing && this.size > 2 * this.live + COMPACT_SLACK) this.compact();
  }

  /** Drops everything and stops the timer. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
    this.deadlines = [];
    this.keys = [];
    this.head = 0;
    this.live = 0;
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(deadline - this.now())));
    // A waiting request's socket keeps the process alive; its timeout alone need not.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = this.now();
    this.firing = true;
    try {
      while (this.head < this.deadlines.length && this.deadlines[this.head]! <= now) {
        const key = this.keys[this.head]!;
        this.head++;
        if (this.owner.isLive(key)) this.owner.expire(key);
      }
    } finally {
      this.firing = false;
    }
    this.dropAnswered();
    if (this.head >= this.deadlines.length) {
      this.deadlines = [];
      this.keys = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.deadlines.length) {
      this.compact();
    }
    if (this.head < this.deadlines.length) this.arm(this.deadlines[this.head]!);
  }

  /** Answered keys at the front need no timer of their own. */
  private dropAnswered(): void {
    while (this.head < this.deadlines.length && !this.owner.isLive(this.keys[this.head]!)) this.head++;
  }

  private compact(): void {
    const deadlines: number[] = [];
    const keys: number[] = [];
    for (let i = this.head; i < this.deadlines.length; i++) {
      const key = this.keys[i]!;
      if (!this.owner.isLive(key)) continue;
      deadlines.push(this.deadlines[i]!);
      keys.push(key);
    }
    this.deadlines = deadlines;
    this.keys = keys;
    this.head = 0;
    this.live = keys.length;
    if (keys.length === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.armedFor = Infinity;
    }
  }
}
