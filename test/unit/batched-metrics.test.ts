// SPDX-License-Identifier: MIT
/**
 * Batched counters and histograms (src/observability/batched-metrics.ts)
 * export exactly what prom-client's own would for the same events, across
 * several scrapes, and aggregate over cluster workers the same way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { BatchedCounter, BatchedHistogram } from '../../src/observability/batched-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

function pair(): { plain: Registry; batched: Registry; pc: Counter<'method' | 'result'>; bc: BatchedCounter<'method' | 'result'>; ph: Histogram<'method'>; bh: BatchedHistogram<'method'>; pn: Histogram; bn: BatchedHistogram } {
  const plain = new Registry();
  const batched = new Registry();
  const common = { name: 'x_requests_total', help: 'requests', labelNames: ['method', 'result'] as const };
  const hist = { name: 'x_duration_seconds', help: 'latency', labelNames: ['method'] as const, buckets: BUCKETS };
  const none = { name: 'x_cost', help: 'cost', buckets: [1, 10, 100] };
  return {
    plain,
    batched,
    pc: new Counter({ ...common, labelNames: [...common.labelNames], registers: [plain] }),
    bc: new BatchedCounter({ ...common, registers: [batched] }),
    ph: new Histogram({ ...hist, labelNames: [...hist.labelNames], registers: [plain] }),
    bh: new BatchedHistogram({ ...hist, registers: [batched] }),
    pn: new Histogram({ ...none, registers: [plain] }),
    bn: new BatchedHistogram({ ...none, registers: [batched] }),
  };
}

describe('batched metrics', () => {
  it('export what prom-client would, scrape after scrape', async () => {
    const p = pair();
    const ok = p.bc.cell({ method: 'a', result: 'ok' });
    const durA = p.bh.cell({ method: 'a' });
    const cost = p.bn.cell();
    // Powers of two: sums are exact whatever order they are added in, so the texts can be compared whole.
    const values = [2 ** -11, 2 ** -10, 2 ** -9, 2 ** -5, 0.5, 4, 2 ** -7, 1, 0.25];
    for (let round = 0; round < 3; round++) {
      for (const v of values) {
        p.pc.inc({ method: 'a', result: 'ok' });
        ok.inc();
        p.ph.observe({ method: 'a' }, v);
        durA.observe(v);
        p.ph.observe({ method: 'b' }, v * 2);
        p.bh.observe({ method: 'b' }, v * 2);
        p.pn.observe(v * 128);
        cost.observe(v * 128);
      }
      p.pc.inc({ method: 'b', result: '-32600' }, 2);
      p.bc.inc({ method: 'b', result: '-32600' }, 2);
      assert.equal(await p.batched.metrics(), await p.plain.metrics(), `round ${round}`);
    }
  });

  it('a bound series is exported at 0 before its first event, as prom-client inc(labels, 0) makes it', async () => {
    const r = new Registry();
    const c = new BatchedCounter({ name: 'y_total', help: 'y', labelNames: ['outcome'], registers: [r] });
    c.cell({ outcome: 'oversize' });
    assert.match(await r.metrics(), /y_total\{outcome="oversize"\} 0/);
  });

  it('survive a reset: what comes after is counted from 0', async () => {
    const p = pair();
    const cell = p.bh.cell({ method: 'a' });
    cell.observe(0.5);
    await p.batched.metrics();
    p.batched.resetMetrics();
    cell.observe(0.005);
    p.ph.observe({ method: 'a' }, 0.005);
    const text = await p.batched.metrics();
    assert.match(text, /x_duration_seconds_count\{method="a"\} 1/);
    assert.match(text, /x_duration_seconds_bucket\{le="0.01",method="a"\} 1/);
  });

  it('aggregate over workers like prom-client metrics (the cluster primary sums them)', async () => {
    const a = pair();
    const b = pair();
    for (const p of [a, b]) {
      p.bc.cell({ method: 'm', result: 'ok' }).inc(3);
      p.pc.inc({ method: 'm', result: 'ok' }, 3);
      p.bh.cell({ method: 'm' }).observe(0.05);
      p.ph.observe({ method: 'm' }, 0.05);
    }
    const batched = AggregatorRegistry.aggregate([await a.batched.getMetricsAsJSON(), await b.batched.getMetricsAsJSON()]);
    const plain = AggregatorRegistry.aggregate([await a.plain.getMetricsAsJSON(), await b.plain.getMetricsAsJSON()]);
    const text = await batched.metrics();
    assert.equal(text, await plain.metrics());
    assert.match(text, /x_requests_total\{method="m",result="ok"\} 6/);
  });
});
