// SPDX-License-Identifier: MIT
/**
 * Pure health bookkeeping for one upstream: a circuit breaker and smoothed
 * latency and error rate. Time is passed in, so tests drive it without clocks.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit refuses traffic before letting one probe through. */
  readonly cooldownMs: number;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private probeInFlight = false;

  constructor(private readonly opts: BreakerOptions) {}

  state(now: number): BreakerState {
    if (this.openedAt === null) return 'closed';
    return now - this.openedAt >= this.opts.cooldownMs ? 'half-open' : 'open';
  }

  /** Whether a request may go to this upstream now. In half-open state one probe at a time. */
  allows(now: number): boolean {
    const state = this.state(now);
    if (state === 'closed') return true;
    return state === 'half-open' && !this.probeInFlight;
  }

  /** Call when a request is sent while half-open, so only one probe runs. */
  beginProbe(now: number): void {
    if (this.state(now) === 'half-open') this.probeInFlight = true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.openedAt = null;
    this.probeInFlight = false;
  }

  /** Returns true when this failure opened (or re-opened) the circuit. */
  onFailure(now: number): boolean {
    this.probeInFlight = false;
    if (this.openedAt !== null) {
      // A failed probe (or a late failure while open) restarts the cooldown.
      const wasHalfOpen = this.state(now) === 'half-open';
      this.openedAt = now;
      return wasHalfOpen;
    }
    this.failures++;
    if (this.failures >= this.opts.failureThreshold) {
      this.openedAt = now;
      return true;
    }
    return false;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}

/** Exponentially weighted moving average; the first sample seeds it. */
export class Ewma {
  private value: number | null = null;

  constructor(private readonly alpha: number) {}

  add(sample: number): void {
    this.value = this.value === null ? sample : this.alpha * sample + (1 - this.alpha) * this.value;
  }

  get(fallback: number): number {
    return this.value ?? fallback;
  }
}
