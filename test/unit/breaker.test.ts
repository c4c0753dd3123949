// SPDX-License-Identifier: MIT
/**
 * The circuit breaker and EWMA of src/upstream/health.ts, driven with explicit
 * clock values: closed -> open after N consecutive failures, open refuses,
 * half-open after the cooldown lets exactly one probe through, a good probe
 * closes, a bad one re-opens for another full cooldown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker, Ewma } from '../../src/upstream/health.js';

const T0 = 1_000_000;
const COOLDOWN = 10_000;

function breaker(threshold = 3): CircuitBreaker {
  return new CircuitBreaker({ failureThreshold: threshold, cooldownMs: COOLDOWN });
}

/** Opens a fresh breaker at `at` with `threshold` failures. */
function opened(at = T0, threshold = 3): CircuitBreaker {
  const b = breaker(threshold);
  for (let i = 0; i < threshold; i++) b.onFailure(at);
  assert.equal(b.state(at), 'open');
  return b;
}

describe('CircuitBreaker', () => {
  it('starts closed and allows traffic', () => {
    const b = breaker();
    assert.equal(b.state(T0), 'closed');
    assert.equal(b.allows(T0), true);
    assert.equal(b.consecutiveFailures, 0);
  });

  it('opens after exactly N consecutive failures, and reports the opening once', () => {
    const b = breaker(3);
    assert.equal(b.onFailure(T0), false);
    assert.equal(b.onFailure(T0 + 1), false);
    assert.equal(b.state(T0 + 1), 'closed');
    assert.equal(b.allows(T0 + 1), true);
    assert.equal(b.consecutiveFailures, 2);
    assert.equal(b.onFailure(T0 + 2), true, 'the third failure opens it');
    assert.equal(b.state(T0 + 2), 'open');
    assert.equal(b.onFailure(T0 + 3), false, 'a late failure while open does not count as a new opening');
  });

  it('a success in between resets the count: failures must be consecutive', () => {
    const b = breaker(3);
    b.onFailure(T0);
    b.onFailure(T0);
    b.onSuccess();
    assert.equal(b.consecutiveFailures, 0);
    assert.equal(b.onFailure(T0), false);
    assert.equal(b.onFailure(T0), false);
    assert.equal(b.state(T0), 'closed');
    assert.equal(b.onFailure(T0), true);
  });

  it('open refuses traffic until the cooldown has passed', () => {
    const b = opened();
    for (const dt of [0, 1, COOLDOWN / 2, COOLDOWN - 1]) {
      assert.equal(b.state(T0 + dt), 'open');
      assert.equal(b.allows(T0 + dt), false, `refused ${dt} ms after opening`);
    }
  });

  it('half-open after the cooldown lets exactly one probe through', () => {
    const b = opened();
    const t = T0 + COOLDOWN;
    assert.equal(b.state(t), 'half-open');
    assert.equal(b.allows(t), true, 'the first request may probe');
    b.beginProbe(t);
    assert.equal(b.allows(t), false, 'a second request waits while the probe runs');
    assert.equal(b.allows(t + 5_000), false, 'still one probe at a time later on');
    assert.equal(b.state(t + 5_000), 'half-open');
  });

  it('a successful probe closes the circuit', () => {
    const b = opened();
    const t = T0 + COOLDOWN + 1;
    b.beginProbe(t);
    b.onSuccess();
    assert.equal(b.state(t), 'closed');
    assert.equal(b.allows(t), true);
    assert.equal(b.consecutiveFailures, 0);
    // and it takes N fresh failures to open again
    assert.equal(b.onFailure(t), false);
    assert.equal(b.onFailure(t), false);
    assert.equal(b.onFailure(t), true);
  });

  it('a failed probe re-opens for a full cooldown, then probes again', () => {
    const b = opened();
    const t = T0 + COOLDOWN + 100;
    b.beginProbe(t);
    assert.equal(b.onFailure(t), true, 'the failed probe re-opens the circuit');
    assert.equal(b.state(t), 'open');
    assert.equal(b.allows(t + COOLDOWN - 1), false, 'the cooldown restarted at the failed probe');
    assert.equal(b.state(t + COOLDOWN), 'half-open');
    assert.equal(b.allows(t + COOLDOWN), true, 'a new probe after the second cooldown');
  });

  it('beginProbe outside half-open does not block traffic', () => {
    const b = breaker();
    b.beginProbe(T0);
    assert.equal(b.allows(T0), true);
    b.beginProbe(T0);
    assert.equal(b.allows(T0), true);
  });

  it('a threshold of 1 opens on the first failure', () => {
    const b = breaker(1);
    assert.equal(b.onFailure(T0), true);
    assert.equal(b.allows(T0), false);
  });
});

describe('Ewma', () => {
  it('returns the fallback until the first sample, which seeds it', () => {
    const e = new Ewma(0.2);
    assert.equal(e.get(42), 42);
    e.add(100);
    assert.equal(e.get(42), 100);
  });

  it('moves towards new samples by alpha', () => {
    const e = new Ewma(0.2);
    e.add(100);
    e.add(200);
    assert.equal(e.get(0), 120);
    e.add(200);
    assert.ok(Math.abs(e.get(0) - 136) < 1e-9);
  });

  it('converges to a constant input and forgets old values', () => {
    const e = new Ewma(0.1);
    e.add(1);
    for (let i = 0; i < 200; i++) e.add(0);
    assert.ok(e.get(1) < 1e-6, 'an error rate decays to 0 after a run of successes');
    for (let i = 0; i < 200; i++) e.add(1);
    assert.ok(e.get(0) > 1 - 1e-6);
  });
});
