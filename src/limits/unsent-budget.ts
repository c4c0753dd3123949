// SPDX-License-Identifier: MIT
/**
 * One budget for the unsent output of all sessions together
 * (limits.max_unsent_bytes_total). Each session is held to max_unsent_bytes
 * on its own; without this, a few hundred sessions each just under that bound
 * add up to gigabytes. When the total passes the budget, the sessions holding
 * the most are cut, largest first, until it is back under: the ones that
 * cost the most memory and, holding that much, are the least likely to be
 * reading.
 *
 * Transports report a session's unsent bytes when they change (after a
 * write, on drain, at close); only sessions holding some are kept. The
 * figures they report can be stale (the kernel takes bytes between reports),
 * so before cutting anyone every holder is measured afresh. Pure: the
 * transports do the measuring and the cutting.
 */

export interface UnsentHolder {
  /** Bytes written to this client and not yet taken by it, now. */
  unsent(): number;
  /** Drops the connection at once (logged and counted by the transport). */
  cut(totalBytes: number): void;
}

export class UnsentBudget {
  private readonly held = new Map<UnsentHolder, number>();
  private sum = 0;

  /** `max` is read at each check (a reload may change it); 0 is no bound. */
  constructor(private readonly max: () => number) {}

  /** Unsent bytes of all sessions, as last reported. */
  get total(): number {
    return this.sum;
  }

  /** Sessions holding unsent bytes, as last reported. */
  get holders(): number {
    return this.held.size;
  }

  /** A session holds `bytes` unsent now; cuts the largest holders if the total is over the budget. */
  note(holder: UnsentHolder, bytes: number): void {
    this.set(holder, bytes);
    const max = this.max();
    if (max > 0 && this.sum > max) this.enforce(max);
  }

  /** The session is gone. */
  remove(holder: UnsentHolder): void {
    this.set(holder, 0);
  }

  private set(holder: UnsentHolder, bytes: number): void {
    this.sum += bytes - (this.held.get(holder) ?? 0);
    if (bytes > 0) this.held.set(holder, bytes);
    else this.held.delete(holder);
  }

  private enforce(max: number): void {
    for (const h of [...this.held.keys()]) this.set(h, Math.max(0, h.unsent()));
    if (this.sum <= max) return;
    const largestFirst = [...this.held.entries()].sort((a, b) => b[1] - a[1]);
    for (const [h] of largestFirst) {
      if (this.sum <= max) break;
      const total = this.sum;
      this.remove(h);
      h.cut(total);
    }
  }
}
