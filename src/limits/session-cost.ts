// SPDX-License-Identifier: MIT
/**
 * One session's side of the cost model: it charges its group in the ledger
 * for requests, errors and bytes, and decides before each request whether it
 * runs, waits (one at a time) or is refused. Exempt sessions pass for free.
 */
import { ANSWER_SIZES, type AnswerSizes } from './answer-sizes.js';
import type { CostLedger } from './ledger.js';
import { RUN, baseCost, bytesCost, verdict, type CostOptions, type Verdict } from './cost.js';

/**
 * What every session of a listener charges by: the ledger, the cost options and the answer-size
 * estimates. One object per listener that each SessionCost points to, rather than three fields
 * per session (an idle session's account is kept small, docs/limits.md "Memory per session").
 */
export interface CostTerms {
  readonly ledger: CostLedger;
  readonly opts: CostOptions;
  readonly sizes: AnswerSizes;
}

/** The terms of a ledger and options, with the process's shared answer-size estimates unless given. */
export function costTerms(ledger: CostLedger, opts: CostOptions, sizes: AnswerSizes = ANSWER_SIZES): CostTerms {
  return { ledger, opts, sizes };
}

export class SessionCost {
  /** Bytes already paid for by an up-front estimate; the real bytes consume this first. */
  private prepaidBytes = 0;
  /** Throttled requests run one at a time: each waits for the previous one. Null until one is throttled. */
  private queue: Promise<void> | null = null;
  /** This session's own share, for metrics. */
  private own = 0;

  constructor(
    readonly group: string,
    readonly exempt: boolean,
    private readonly terms: CostTerms,
  ) {}

  get ownCost(): number {
    return this.own;
  }

  /** The group's cost now: what the limits are judged on. */
  current(): number {
    return this.exempt ? 0 : this.terms.ledger.current(this.group);
  }

  /** The bytes the request's answer is expected to take (answer-sizes.ts), 0 when unknown. */
  expect(method: string, args: readonly unknown[]): number {
    return this.terms.sizes.expect(method, args);
  }

  /** The answer is in: its real size is learned for next time, and returned when it was measured. */
  answered(method: string, args: readonly unknown[], result: unknown): number | null {
    return this.terms.sizes.learn(method, args, result);
  }

  /**
   * Charges the request's base cost and its expected answer size (paid before
   * the answer is fetched, so a burst of large requests meets the soft and hard
   * limits before the gateway holds their answers), and says what to do with it.
   */
  admit(method: string, args: readonly unknown[], estimate = this.terms.sizes.expect(method, args)): Verdict {
    if (this.exempt) return RUN;
    this.prepaidBytes += estimate;
    this.add(baseCost(method) + bytesCost(estimate, this.terms.opts));
    return verdict(this.terms.ledger.current(this.group), this.terms.opts);
  }

  /** Runs `work` after the delay, behind every other throttled request of this session. */
  throttle<T>(delayMs: number, work: () => Promise<T>): Promise<T> {
    const run = (this.queue ?? Promise.resolve()).then(() => new Promise<void>((r) => setTimeout(r, delayMs))).then(work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queue = tail;
    // The last one done, the session holds no promise until it is throttled again.
    void tail.then(() => {
      if (this.queue === tail) this.queue = null;
    });
    return run;
  }

  error(): void {
    if (!this.exempt) this.add(this.terms.opts.errorCost);
  }

  bytesReceived(n: number): void {
    if (!this.exempt) this.add(bytesCost(n, this.terms.opts));
  }

  bytesSent(n: number): void {
    if (this.exempt) return;
    const prepaid = Math.min(n, this.prepaidBytes);
    this.prepaidBytes -= prepaid;
    this.add(bytesCost(n - prepaid, this.terms.opts));
  }

  private add(units: number): void {
    if (units <= 0) return;
    this.own += units;
    this.terms.ledger.charge(this.group, units);
  }
}
