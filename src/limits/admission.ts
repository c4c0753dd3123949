// SPDX-License-Identifier: MIT
/** Session caps: in total and per subnet group, checked when a connection is accepted. */

export class Admission {
  private total = 0;
  private readonly perGroup = new Map<string, number>();

  constructor(
    private maxSessions: number,
    private maxPerGroup: number,
  ) {}

  /** New caps (a reload): sessions already above them stay; only new ones are held to them. */
  resize(maxSessions: number, maxPerGroup: number): void {
    this.maxSessions = maxSessions;
    this.maxPerGroup = maxPerGroup;
  }

  /** Takes a slot, or says why there is none. Uncapped groups (exempt clients) count only toward the total. */
  admit(group: string, capped = true): { ok: true } | { ok: false; reason: 'max_sessions' | 'max_sessions_per_group' } {
    if (this.total >= this.maxSessions) return { ok: false, reason: 'max_sessions' };
    const n = this.perGroup.get(group) ?? 0;
    if (capped && n >= this.maxPerGroup) return { ok: false, reason: 'max_sessions_per_group' };
    this.total++;
    this.perGroup.set(group, n + 1);
    return { ok: true };
  }

  release(group: string): void {
    const n = this.perGroup.get(group) ?? 0;
    if (n <= 1) this.perGroup.delete(group);
    else this.perGroup.set(group, n - 1);
    this.total = Math.max(0, this.total - 1);
  }

  get sessions(): number {
    return this.total;
  }
}
