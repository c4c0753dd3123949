// SPDX-License-Identifier: MIT
/**
 * A mergeable latency histogram in microseconds: exact below 1,024 µs, then
 * 128 log-spaced buckets per doubling (about 0.5 % relative error), so the
 * workers of the load generator can each keep one, ship it to the coordinator
 * as a small sparse object, and the coordinator can merge them and read
 * percentiles without holding every sample.
 */

const LINEAR_LIMIT = 1024;
const SUB_BUCKETS = 128;
const LOG2_LINEAR = Math.log2(LINEAR_LIMIT);

export function bucketOf(us: number): number {
  const v = Math.max(0, Math.round(us));
  if (v < LINEAR_LIMIT) return v;
  return LINEAR_LIMIT + Math.floor((Math.log2(v) - LOG2_LINEAR) * SUB_BUCKETS);
}

/** The value a bucket stands for: its lower edge (exact in the linear range). */
export function valueOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket;
  return Math.pow(2, LOG2_LINEAR + (bucket - LINEAR_LIMIT) / SUB_BUCKETS);
}

/** Sparse, JSON-friendly form: bucket index -> count. */
export type HistogramData = Record<string, number>;

export class Histogram {
  private readonly counts = new Map<number, number>();
  private n = 0;
  private maxUs = 0;
  private sumUs = 0;

  record(us: number): void {
    const b = bucketOf(us);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.n++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.n;
  }

  get max(): number {
    return this.maxUs;
  }

  get mean(): number {
    return this.n === 0 ? 0 : this.sumUs / this.n;
  }

  /** The value at quantile q (0..1); 0 for an empty histogram. */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    const buckets = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const b of buckets) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return Math.min(valueOf(b), this.maxUs);
    }
    return this.maxUs;
  }

  toJSON(): { counts: HistogramData; n: number; maxUs: number; sumUs: number } {
    const counts: HistogramData = {};
    for (const [b, c] of this.counts) counts[String(b)] = c;
    return { counts, n: this.n, maxUs: this.maxUs, sumUs: this.sumUs };
  }

  merge(other: ReturnType<Histogram['toJSON']>): void {
    for (const [b, c] of Object.entries(other.counts)) {
      const k = Number(b);
      this.counts.set(k, (this.counts.get(k) ?? 0) + c);
    }
    this.n += other.n;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  static from(data: ReturnType<Histogram['toJSON']>): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }
}
