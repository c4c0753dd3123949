// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/load.js';
import type { GatewayConfig, UpstreamConfig } from '../../src/config/types.js';
import { clusterControl } from '../../src/control/cluster.js';
import { planReload } from '../../src/control/reload-plan.js';
import type { ReloadReport } from '../../src/control/types.js';

const up = (name: string, url: string): UpstreamConfig => ({ name, url, scheme: 'tcp', host: 'h', port: 1, path: '/', options: {} });

describe('reload plan', () => {
  const base: GatewayConfig = { ...defaultConfig(), upstreams: [up('a', 'tcp://a:1'), up('b', 'tcp://b:1')] };

  it('an unchanged configuration changes nothing', () => {
    const plan = planReload(base, { ...base });
    assert.deepEqual([plan.applied, plan.requiresRestart, plan.addedUpstreams, plan.removedUpstreams], [[], [], [], []]);
  });

  it('live keys are applied; others are reported and keep their running value', () => {
    const next: GatewayConfig = {
      ...base,
      limits: { ...base.limits, maxSessions: 7 },
      server: { ...base.server, banner: 'hi' },
      cache: { ...base.cache, memoryBytes: 1 },
      listen: [],
      drainMs: 1,
      redis: 'redis://x:6379',
    };
    const plan = planReload(base, next);
    assert.deepEqual([...plan.applied].sort(), ['drain_ms', 'limits.max_sessions', 'server.banner']);
    assert.deepEqual([...plan.requiresRestart].sort(), ['cache.memory_bytes', 'listen', 'redis']);
    assert.equal(plan.effective.limits.maxSessions, 7);
    assert.equal(plan.effective.server.banner, 'hi');
    assert.equal(plan.effective.drainMs, 1);
    assert.equal(plan.effective.cache.memoryBytes, base.cache.memoryBytes);
    assert.deepEqual(plan.effective.listen, base.listen);
    assert.equal(plan.effective.redis, base.redis);
  });

  it('upstreams: added by name, removed by name, a changed URL is removed then added', () => {
    const plan = planReload(base, { ...base, upstreams: [up('b', 'tcp://b:2'), up('c', 'tcp://c:1')] });
    assert.deepEqual(plan.removedUpstreams, ['a', 'b']);
    assert.deepEqual(plan.addedUpstreams.map((u) => u.name), ['b', 'c']);
    assert.deepEqual(plan.applied, ['upstreams']);
    assert.deepEqual(plan.effective.upstreams.map((u) => u.url), ['tcp://b:2', 'tcp://c:1']);
  });

  it('a key it does not know is reported as requiring a restart, not ignored', () => {
    const plan = planReload(base, { ...base, somethingNew: { x: 1 } } as unknown as GatewayConfig);
    assert.deepEqual(plan.requiresRestart, ['something_new']);
    assert.equal((plan.effective as unknown as Record<string, unknown>)['somethingNew'], undefined);
  });
});

describe('cluster reload report', () => {
  /** A stand-in for the IPC channel to the primary that answers every request with `results`. */
  const channel = (results: unknown[]) => {
    let listener: ((m: unknown) => void) | null = null;
    return {
      on: (_event: 'message', l: (m: unknown) => void) => void (listener = l),
      send: (m: unknown) => {
        const id = (m as { id: number }).id;
        setImmediate(() => listener?.({ type: 'electrum-gateway:admin-reply', id, results }));
        return true;
      },
    };
  };
  const report = (over: Partial<ReloadReport> = {}): ReloadReport => ({ ok: true, errors: [], applied: ['server.banner'], requiresRestart: [], upstreams: { added: [], removed: [] }, ...over });

  it('every worker reloaded: ok, each worker reported', async () => {
    const r = await clusterControl(channel([{ worker: 1, ok: true, value: report() }, { worker: 2, ok: true, value: report() }])).reload();
    assert.equal(r.ok, true);
    assert.equal(r.workers, 2);
    assert.deepEqual(r.applied, ['server.banner']);
    assert.deepEqual(r.perWorker?.map((w) => [w.worker, w.ok]), [[1, true], [2, true]]);
  });

  it('a refused file: its problems once, not once per worker', async () => {
    const refused = report({ ok: false, errors: ['proxy.yaml:3: bad'], applied: [] });
    const r = await clusterControl(channel([{ worker: 1, ok: true, value: refused }, { worker: 2, ok: true, value: refused }])).reload();
    assert.equal(r.ok, false);
    assert.deepEqual(r.errors, ['proxy.yaml:3: bad']);
  });

  it('a worker that did not answer makes it fail, named', async () => {
    const r = await clusterControl(
      channel([{ worker: 1, ok: true, value: report() }, { worker: 2, ok: false, error: { status: 503, message: 'worker 2 did not answer' } }]),
    ).reload();
    assert.equal(r.ok, false);
    assert.deepEqual(r.applied, ['server.banner']);
    assert.deepEqual(r.errors, ['worker 2: worker 2 did not answer']);
    assert.deepEqual(r.perWorker?.map((w) => [w.worker, w.ok]), [[1, true], [2, false]]);
  });
});
