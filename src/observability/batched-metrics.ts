// SPDX-License-Identifier: MIT
/**
 * Counters and histograms for the request path, counted in plain numbers and
 * handed to prom-client only when it is read (a scrape, or the cluster
 * primary's collection).
 *
 * prom-client hashes the label object, validates every label and (for
 * histograms) builds two objects on each inc() and observe(), and startTimer()
 * makes two closures: per request, on the path of a cache hit, that was
 * several percent of the gateway's busy time. Here a caller binds a cell to
 * its label values once (per method, per listener: bounded sets) and a
 * request only adds to numbers in it. Each metric's `collect` hook moves what
 * the cells gathered into the prom-client metric, so the exposition,
 * `reset()`, `get()` and cluster aggregation are prom-client's own.
 */
import { Counter, Histogram, type LabelValues, type Registry } from 'prom-client';

/** The key of a set of label values, in the metric's label order. */
function keyOf(labelNames: readonly string[], labels: Readonly<Record<string, string | number>>): string {
  let key = '';
  for (const name of labelNames) key += `${String(labels[name] ?? '')}\u0000`;
  return key;
}

/** One counter series: `inc` adds to a number, flushed into prom-client when read. */
export class CounterCell {
  pending = 0;
  constructor(readonly labels: LabelValues<string>) {}
  inc(n = 1): void {
    this.pending += n;
  }
}

export interface BatchedConfig<T extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly T[];
  readonly registers: Registry[];
}

export class BatchedCounter<T extends string = string> {
  readonly metric: Counter<T>;
  private readonly cells = new Map<string, CounterCell>();
  private readonly labelNames: readonly T[];

  constructor(config: BatchedConfig<T>) {
    this.labelNames = config.labelNames ?? [];
    const flush = (): void => this.flush();
    this.metric = new Counter<T>({
      name: config.name,
      help: config.help,
      labelNames: this.labelNames,
      registers: config.registers,
      collect: flush,
    });
  }

  /** The cell for these label values: bind it once, then `inc` it per event. */
  cell(labels: LabelValues<T>): CounterCell {
    const key = keyOf(this.labelNames, labels as Record<string, string>);
    let c = this.cells.get(key);
    if (!c) {
      c = new CounterCell({ ...labels } as LabelValues<string>);
      this.cells.set(key, c);
      // The series exists (at 0) from the first binding, as prom-client's own inc(labels, 0) would make it.
      this.metric.inc(c.labels as LabelValues<T>, 0);
    }
    return c;
  }

  /** For cold paths: looks the cell up by its labels. */
  inc(labels: LabelValues<T>, n = 1): void {
    this.cell(labels).inc(n);
  }

  private flush(): void {
    for (const c of this.cells.values()) {
      if (c.pending === 0) continue;
      this.metric.inc(c.labels as LabelValues<T>, c.pending);
      c.pending = 0;
    }
  }
}

/** One histogram series: `observe` finds its bucket in a short loop and adds to numbers. */
export class HistogramCell {
  /** Observations per bucket since the last flush; the last slot is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: LabelValues<string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** What prom-client keeps per series; read and added to at flush time only. */
interface SeriesValues {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

export class BatchedHistogram<T extends string = string> {
  readonly metric: Histogram<T>;
  private readonly cells = new Map<string, HistogramCell>();
  private readonly labelNames: readonly T[];
  private readonly bounds: readonly number[];

  constructor(config: BatchedConfig<T> & { readonly buckets: readonly number[] }) {
    this.labelNames = config.labelNames ?? [];
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    const flush = (): void => this.flush();
    this.metric = new Histogram<T>({
      name: config.name,
      help: config.help,
      labelNames: this.labelNames,
      buckets: [...this.bounds],
      registers: config.registers,
      collect: flush,
    });
  }

  cell(labels: LabelValues<T> = {} as LabelValues<T>): HistogramCell {
    const key = keyOf(this.labelNames, labels as Record<string, string>);
    let c = this.cells.get(key);
    if (!c) {
      c = new HistogramCell({ ...labels } as LabelValues<string>, this.bounds);
      this.cells.set(key, c);
    }
    return c;
  }

  /** For cold paths and tests: observe(value) without labels, or observe(labels, value). */
  observe(labelsOrValue: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'number') this.cell().observe(labelsOrValue);
    else this.cell(labelsOrValue).observe(value!);
  }

  private flush(): void {
    const map = (this.metric as unknown as { hashMap: Record<string, SeriesValues> }).hashMap;
    for (const c of this.cells.values()) {
      if (c.count === 0) continue;
      let series = findSeries(map, c.labels);
      if (!series) {
        this.metric.zero(c.labels as LabelValues<T>);
        series = findSeries((this.metric as unknown as { hashMap: Record<string, SeriesValues> }).hashMap, c.labels);
      }
      if (!series) throw new Error('prom-client histogram: no series after zero()');
      for (let i = 0; i < this.bounds.length; i++) series.bucketValues[this.bounds[i]!] = (series.bucketValues[this.bounds[i]!] ?? 0) + c.counts[i]!;
      series.sum += c.sum;
      series.count += c.count;
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}

function findSeries(map: Record<string, SeriesValues>, labels: LabelValues<string>): SeriesValues | undefined {
  const names = Object.keys(labels);
  for (const s of Object.values(map)) {
    if (Object.keys(s.labels).length !== names.length) continue;
    if (names.every((n) => s.labels[n] === labels[n])) return s;
  }
  return undefined;
}
