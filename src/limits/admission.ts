// SPDX-License-Identifier: MIT
/** Session caps: in total and per subnet group, checked when a connection is accepted. */

/** A group's open sessions, and its key as first seen: every session of the group shares that one string. */
interface GroupCount {
  readonly key: string;
  n: number;
}

export class Admission {
  private total = 0;
  private readonly perGroup = new Map<string, GroupCount>();

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
    const count = this.perGroup.get(group);
    if (capped && (count?.n ?? 0) >= this.maxPerGroup) return { ok: false, reason: 'max_sessions_per_group' };
    this.total++;
    if (count) count.n++;
    else this.perGroup.set(group, { key: group, n: 1 });
    return { ok: true };
  }

  /**
   * The key string the group's open sessions share (`group` itself when it has none): a session
   * keeps this one rather than the equal string computed from its own address, one copy per group.
   */
  shared(group: string): string {
    return this.perGroup.get(group)?.key ?? group;
  }

  release(group: string): void {
    const count = this.perGroup.get(group);
    if (count && count.n > 1) count.n--;
    else this.perGroup.delete(group);
    this.total = Math.max(0, this.total - 1);
  }

  get sessions(): number {
    return this.total;
  }
}
