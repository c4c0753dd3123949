// SPDX-License-Identifier: MIT
/**
 * The metric names audit, as a test: every metric the gateway exports (after
 * each observer hook has fired once) follows Prometheus conventions, and no
 * label can carry an unbounded value such as a scripthash, an IP or a subnet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayMetrics } from '../../src/observability/metrics.js';

/** Label names that would mean one series per client or per scripthash. */
const UNBOUNDED_LABELS = /^(scripthash|address|ip|peer|client|group|subnet|session|txid|tx_hash)$/;
const PROM_CLIENT_DEFAULTS = /^electrum_gateway_(nodejs|process)_/;
/** Histograms whose value has no unit (a cost is a count of cost units). */
const UNITLESS_HISTOGRAMS = new Set(['electrum_gateway_client_group_cost']);

async function exercised(): Promise<GatewayMetrics> {
  const m = new GatewayMetrics();
  m.upstreamState('a', 'healthy');
  m.upstreamTip('a', 100, 0);
  m.upstreamRequest('a', { method: 'server.ping', result: 'ok', ms: 3 });
  m.upstreamReconnect('a');
  m.upstreamPing('a', 'late');
  m.upstreamBreaker('a', 'open');
  m.failover('a', 'server');
  m.sessions.inc({ listener: 'tcp://0.0.0.0:50001', transport: 'tcp' });
  m.bytesReceived.inc({ listener: 'tcp://0.0.0.0:50001' }, 10);
  m.bytesSent.inc({ listener: 'tcp://0.0.0.0:50001' }, 10);
  m.throttled.inc();
  m.groupCost.observe(5);
  m.clientRequests.inc({ method: 'server.ping', result: 'ok' });
  m.clientRequestDuration.observe({ method: 'server.ping' }, 0.001);
  m.ledgerState('shared');
  m.ledgerError();
  m.notificationSent('scripthash', 2);
  m.resubscribed(1);
  m.moveRetried('busy');
  m.watchMoves(() => ({ orphans: { queued: 1, moving: 1, retrying: 1, parked: 0 }, window: 100 }));
  m.cacheLookup('blockchain.block.header', 'l1');
  m.cacheServedBytes(80);
  m.coalesced('blockchain.block.header');
  m.verificationFailure('a', 'blockchain.block.header');
  m.cacheRejected('l2', 'header');
  m.redisUp(true);
  m.redisLatency(0.001);
  m.watchSubscriptions(() => ({ sessions: 3, upstream: 1 }));
  m.peerCounts({ new: 1, good: 2, stale: 0, failing: 0 });
  return m;
}

describe('metric names', () => {
  it('follow Prometheus conventions with bounded labels', async () => {
    const all = await (await exercised()).registry.getMetricsAsJSON();
    assert.ok(all.length > 30, `expected the gateway's and the default metrics, got ${all.length}`);
    for (const metric of all) {
      const { name, type } = metric;
      assert.match(name, /^electrum_gateway_[a-z][a-z0-9_]*$/, `${name}: prefix and snake_case`);
      const t = String(type);
      if (t === 'counter') assert.match(name, /_total$/, `${name}: a counter ends in _total`);
      // prom-client's own default gauges (nodejs_active_handles_total...) keep the names every Node dashboard knows.
      else if (!PROM_CLIENT_DEFAULTS.test(name)) assert.doesNotMatch(name, /_total$/, `${name}: only counters end in _total`);
      if (t === 'histogram' && !UNITLESS_HISTOGRAMS.has(name)) assert.match(name, /_(seconds|bytes)$/, `${name}: a histogram names its base unit`);
      assert.doesNotMatch(name, /_(ms|milliseconds|kb|mb|kilobytes|megabytes)(_|$)/, `${name}: base units only`);
      for (const value of metric.values) {
        for (const label of Object.keys(value.labels)) {
          assert.match(label, /^[a-z][a-z0-9_]*$/, `${name}: label ${label} in snake_case`);
          assert.doesNotMatch(label, UNBOUNDED_LABELS, `${name}: label ${label} would be unbounded`);
        }
      }
    }
  });

  it('declares no unbounded label on any metric, including those the hooks above never fired', () => {
    const metrics = new GatewayMetrics().registry.getMetricsAsArray();
    assert.ok(metrics.length > 30);
    for (const metric of metrics) {
      const { name, labelNames } = metric as unknown as { name: string; labelNames?: readonly string[] };
      for (const label of labelNames ?? []) {
        assert.match(label, /^[a-z][a-z0-9_]*$/, `${name}: label ${label} in snake_case`);
        assert.doesNotMatch(label, UNBOUNDED_LABELS, `${name}: label ${label} would be unbounded`);
      }
    }
    // The check sees declared labels at all (a prom-client without labelNames would make it vacuous).
    const requests = metrics.find((m) => (m as unknown as { name: string }).name === 'electrum_gateway_upstream_requests_total') as unknown as { labelNames: string[] };
    assert.deepEqual([...requests.labelNames].sort(), ['method', 'result', 'upstream']);
  });

  it('exports every disconnect reason and an upstream\'s failover reasons at 0 before the first event', async () => {
    const m = new GatewayMetrics();
    m.upstreamState('a', 'connecting');
    const text = await m.text();
    assert.match(text, /electrum_gateway_client_disconnects_total\{reason="slow_reader"\} 0/);
    assert.match(text, /electrum_gateway_upstream_failovers_total\{upstream="a",reason="verification"\} 0/);
  });

  it('serves /metrics from another source when told to (the cluster aggregate)', async () => {
    const m = new GatewayMetrics();
    m.exposeVia(async () => 'electrum_gateway_sessions 7\n');
    assert.equal(await m.text(), 'electrum_gateway_sessions 7\n');
  });
});
