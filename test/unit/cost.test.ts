// SPDX-License-Identifier: MIT
/**
 * The cost model without sockets: base and byte costs, up-front estimates,
 * decay, verdicts, subnet groups (IPv4, IPv6, IPv4-mapped), session caps, the
 * local ledger, and one session's account (prepaid bytes, exemption, the
 * one-at-a-time queue of throttled requests).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { parseProxyHeader } from '../../src/frontend/proxy-protocol.js';
import { Admission } from '../../src/limits/admission.js';
import {
  DEFAULT_COST_OPTIONS,
  DecayingCost,
  baseCost,
  bytesCost,
  estimatedResponseBytes,
  verdict,
  type CostOptions,
} from '../../src/limits/cost.js';
import { groupKey } from '../../src/limits/groups.js';
import { LocalLedger } from '../../src/limits/ledger.js';
import { SessionCost, costTerms } from '../../src/limits/session-cost.js';

const OPTS: CostOptions = { ...DEFAULT_COST_OPTIONS };
const GROUPING = { ipv4Prefix: 24, ipv6Prefix: 48 };
const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} is not ${b}`);

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const ledgers: LocalLedger[] = [];
function ledger(decayPerSecond = 1, now?: () => number): LocalLedger {
  const l = new LocalLedger(decayPerSecond, now);
  ledgers.push(l);
  return l;
}
after(async () => {
  for (const l of ledgers) await l.close();
});

describe('cost model', () => {
  it('has ElectrumX defaults', () => {
    assert.deepEqual(DEFAULT_COST_OPTIONS, { softLimit: 1000, hardLimit: 10_000, bandwidthUnitBytes: 5000, decayPerSecond: 1, errorCost: 100, maxDelayMs: 2500 });
  });

  it('charges a base cost per method, 1 for methods it has no figure for', () => {
    assert.equal(baseCost('server.ping'), 0.1);
    assert.equal(baseCost('server.version'), 0.5);
    assert.equal(baseCost('server.add_peer'), 100);
    assert.equal(baseCost('blockchain.scripthash.subscribe'), 1);
    assert.equal(baseCost('no.such.method'), 1);
    for (const name of ['valueOf', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) assert.equal(baseCost(name), 1, name);
    assert.ok(baseCost('blockchain.block.headers') > baseCost('blockchain.block.header'));
  });

  it('charges one unit per bandwidth unit: a 100 KB answer costs 20 at the default', () => {
    assert.equal(bytesCost(100_000, OPTS), 20);
    assert.equal(bytesCost(0, OPTS), 0);
    assert.equal(bytesCost(2500, { ...OPTS, bandwidthUnitBytes: 1000 }), 2.5);
  });

  it('estimates header ranges before they run: 2016 headers at most, 162 bytes each', () => {
    assert.equal(estimatedResponseBytes('blockchain.block.headers', [0, 2016]), 2016 * 162);
    assert.equal(estimatedResponseBytes('blockchain.block.headers', [0, 10]), 10 * 162);
    assert.equal(estimatedResponseBytes('blockchain.block.headers', [0, 1_000_000]), 2016 * 162, 'capped at a chunk');
    assert.equal(estimatedResponseBytes('blockchain.block.headers', [0, -5]), 0);
    assert.equal(estimatedResponseBytes('blockchain.block.headers', [0, '2016']), 0, 'not a number: nothing to go on');
    assert.equal(estimatedResponseBytes('blockchain.block.get_chunk', [3]), 2016 * 160);
    assert.equal(estimatedResponseBytes('blockchain.block.header', [5]), 0);
    assert.equal(estimatedResponseBytes('server.ping', []), 0);
  });

  it('decays continuously at decayPerSecond, never below zero, and ignores a clock going backwards', () => {
    const c = new DecayingCost(2, 0);
    assert.equal(c.add(10, 0), 10);
    assert.equal(c.get(1000), 8);
    assert.equal(c.get(2500), 5);
    assert.equal(c.get(1000), 5, 'time going backwards changes nothing');
    assert.equal(c.add(1, 2500), 6);
    assert.equal(c.get(60_000), 0);
    assert.equal(c.add(3, 61_000), 3, 'a cost at zero does not go into debt');
  });

  it('verdicts: run up to the soft limit, throttle in proportion, refuse at the hard limit', () => {
    const o = { ...OPTS, softLimit: 1000, hardLimit: 3000, maxDelayMs: 2000 };
    assert.deepEqual(verdict(0, o), { action: 'run' });
    assert.deepEqual(verdict(1000, o), { action: 'run' });
    assert.deepEqual(verdict(1001, o), { action: 'throttle', delayMs: 1 });
    assert.deepEqual(verdict(2000, o), { action: 'throttle', delayMs: 1000 });
    assert.deepEqual(verdict(2999, o), { action: 'throttle', delayMs: 1999 });
    assert.deepEqual(verdict(3000, o), { action: 'reject' });
    assert.deepEqual(verdict(1e9, o), { action: 'reject' });
  });

  it('a hard limit of 0 turns limits off; soft 0 throttles from the first unit', () => {
    assert.deepEqual(verdict(1e12, { ...OPTS, hardLimit: 0 }), { action: 'run' });
    assert.deepEqual(verdict(50, { ...OPTS, softLimit: 0, hardLimit: 100, maxDelayMs: 1000 }), { action: 'throttle', delayMs: 500 });
  });
});

describe('subnet groups', () => {
  it('groups IPv4 by /24 by default, other prefixes on request', () => {
    assert.equal(groupKey('203.0.113.7', GROUPING), '203.0.113.0/24');
    assert.equal(groupKey('203.0.113.250', GROUPING), '203.0.113.0/24');
    assert.notEqual(groupKey('203.0.114.7', GROUPING), groupKey('203.0.113.7', GROUPING));
    assert.equal(groupKey('203.0.113.7', { ...GROUPING, ipv4Prefix: 16 }), '203.0.0.0/16');
    assert.equal(groupKey('203.0.113.7', { ...GROUPING, ipv4Prefix: 32 }), '203.0.113.7/32');
    assert.equal(groupKey('203.0.113.7', { ...GROUPING, ipv4Prefix: 20 }), '203.0.112.0/20');
    assert.equal(groupKey('203.0.113.7', { ...GROUPING, ipv4Prefix: 0 }), '0.0.0.0/0');
    assert.equal(groupKey('255.255.255.255', GROUPING), '255.255.255.0/24');
    // Loopback addresses differ in their third octet here: that is how the integration tests make "another subnet".
    assert.notEqual(groupKey('127.0.0.1', GROUPING), groupKey('127.0.1.1', GROUPING));
  });

  it('groups IPv6 by /48 whatever the spelling of the address', () => {
    const g = groupKey('2001:db8:1:2::5', GROUPING);
    assert.equal(groupKey('2001:0db8:0001:ffff:0:0:0:9', GROUPING), g);
    assert.equal(groupKey('2001:DB8:1::', GROUPING), g);
    assert.notEqual(groupKey('2001:db8:2::5', GROUPING), g);
    assert.ok(g.endsWith('/48'));
    // A prefix that is not a multiple of 16 masks inside a group.
    assert.equal(groupKey('2001:db8:1:23ff::1', { ...GROUPING, ipv6Prefix: 56 }), groupKey('2001:db8:1:2300::', { ...GROUPING, ipv6Prefix: 56 }));
    assert.notEqual(groupKey('2001:db8:1:24ff::1', { ...GROUPING, ipv6Prefix: 56 }), groupKey('2001:db8:1:2300::', { ...GROUPING, ipv6Prefix: 56 }));
    assert.notEqual(groupKey('::1', GROUPING), groupKey('127.0.0.1', GROUPING));
  });

  it('an IPv4-mapped IPv6 address is in its IPv4 group, however it reached us', () => {
    assert.equal(groupKey('::ffff:203.0.113.7', GROUPING), '203.0.113.0/24');
    assert.equal(groupKey('::FFFF:203.0.113.9', GROUPING), '203.0.113.0/24');
    // Through a dual-stack balancer's PROXY v2 header (IPv6 block holding ::ffff:203.0.113.7).
    const sig = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
    const block = Buffer.alloc(36);
    block.writeUInt16BE(0xffff, 10);
    Buffer.from([203, 0, 113, 7]).copy(block, 12);
    const header = Buffer.concat([sig, Buffer.from([0x21, 0x21, 0, 36]), block]);
    const parsed = parseProxyHeader(header);
    assert.equal(parsed.kind, 'ok');
    const source = (parsed as { source: { address: string } }).source;
    assert.equal(groupKey(source.address, GROUPING), '203.0.113.0/24');
  });

  it('puts anything that is not an IP address in one "unknown" group', () => {
    assert.equal(groupKey('unknown', GROUPING), 'unknown');
    assert.equal(groupKey('', GROUPING), 'unknown');
    assert.equal(groupKey('/run/gw.sock', GROUPING), 'unknown');
  });
});

describe('Admission', () => {
  it('caps sessions per group and in total, and frees slots on release', () => {
    const a = new Admission(3, 2);
    assert.deepEqual(a.admit('g1'), { ok: true });
    assert.deepEqual(a.admit('g1'), { ok: true });
    assert.deepEqual(a.admit('g1'), { ok: false, reason: 'max_sessions_per_group' });
    assert.deepEqual(a.admit('g2'), { ok: true });
    assert.equal(a.sessions, 3);
    assert.deepEqual(a.admit('g3'), { ok: false, reason: 'max_sessions' });
    a.release('g1');
    assert.equal(a.sessions, 2);
    assert.deepEqual(a.admit('g1'), { ok: true });
  });

  it('uncapped (exempt) sessions count toward the total only', () => {
    const a = new Admission(4, 1);
    assert.deepEqual(a.admit('ops'), { ok: true });
    assert.deepEqual(a.admit('ops', false), { ok: true });
    assert.deepEqual(a.admit('ops', false), { ok: true });
    assert.deepEqual(a.admit('ops'), { ok: false, reason: 'max_sessions_per_group' });
    assert.deepEqual(a.admit('other'), { ok: true });
    assert.deepEqual(a.admit('ops', false), { ok: false, reason: 'max_sessions' });
  });

  it('gives the sessions of a group the key it first saw, while the group has sessions', () => {
    const a = new Admission(10, 10);
    const first = ['10.0.0.0', '24'].join('/');
    assert.deepEqual(a.admit(first), { ok: true });
    assert.deepEqual(a.admit('10.0.0.0/24'), { ok: true });
    assert.equal(a.shared('10.0.0.0/24'), '10.0.0.0/24');
    assert.equal(a.shared('10.9.0.0/24'), '10.9.0.0/24');
    a.release('10.0.0.0/24');
    a.release('10.0.0.0/24');
    assert.equal(a.sessions, 0);
    // The group is gone, and with it its count: the cap counts afresh.
    const b = new Admission(10, 1);
    assert.deepEqual(b.admit('g'), { ok: true });
    b.release('g');
    assert.deepEqual(b.admit('g'), { ok: true });
  });

  it('never counts below zero on unbalanced releases', () => {
    const a = new Admission(1, 1);
    a.release('nobody');
    a.release('nobody');
    assert.equal(a.sessions, 0);
    assert.deepEqual(a.admit('g'), { ok: true });
    assert.deepEqual(a.admit('g2'), { ok: false, reason: 'max_sessions' });
  });
});

describe('LocalLedger', () => {
  it('sums charges per group and decays them on its clock', () => {
    const t = clock();
    const l = ledger(1, t.now);
    l.charge('a', 50);
    l.charge('a', 25);
    l.charge('b', 10);
    l.charge('c', 0);
    l.charge('c', -5);
    assert.equal(l.current('a'), 75);
    assert.equal(l.current('b'), 10);
    assert.equal(l.current('c'), 0, 'zero and negative charges are ignored');
    t.advance(5000);
    assert.equal(l.current('a'), 70);
    assert.equal(l.current('b'), 5);
    assert.equal(l.state(), 'local');
  });

  it('lists the costliest groups first and forgets groups that decayed to nothing', () => {
    const t = clock();
    const l = ledger(1, t.now);
    l.charge('small', 3);
    l.charge('big', 300);
    l.charge('mid', 30);
    assert.deepEqual(
      l.top(2).map((e) => e.group),
      ['big', 'mid'],
    );
    t.advance(10_000);
    assert.deepEqual(l.top(10), [
      { group: 'big', cost: 290 },
      { group: 'mid', cost: 20 },
    ]);
    l.sweep();
    assert.equal(l.current('small'), 0);
    l.set('small', 42);
    assert.equal(l.current('small'), 42, 'set adopts a figure learned elsewhere');
  });
});

describe('SessionCost', () => {
  const opts: CostOptions = { ...OPTS, softLimit: 100, hardLimit: 300, maxDelayMs: 1000, errorCost: 20 };

  it('charges a header chunk before it runs and does not charge its bytes twice', () => {
    const t = clock();
    const l = ledger(0, t.now);
    const s = new SessionCost('g', false, costTerms(l, opts));
    assert.deepEqual(s.admit('blockchain.block.headers', [0, 2016]), { action: 'run' });
    const upFront = 1 + (2016 * 162) / 5000;
    close(l.current('g'), upFront, 'base + estimate');
    s.bytesSent(2016 * 160 + 50); // the real answer: within the prepaid bytes
    close(l.current('g'), upFront, 'prepaid bytes are not charged again');
    s.bytesSent(2016 * 2 - 50 + 5000); // the rest of the prepayment, then 5000 bytes more
    close(l.current('g'), upFront + 1, 'bytes beyond the estimate are charged');
    s.bytesReceived(10_000);
    close(l.current('g'), upFront + 3, 'received bytes are charged');
    close(s.ownCost, upFront + 3, "the session's own share");
  });

  it('goes from run to throttle to reject as its group pays, and every session of the group sees it', () => {
    const l = ledger(0);
    const a = new SessionCost('10.1.2.0/24', false, costTerms(l, opts));
    const b = new SessionCost('10.1.2.0/24', false, costTerms(l, opts));
    const other = new SessionCost('10.9.9.0/24', false, costTerms(l, opts));
    const verdicts: string[] = [];
    for (let i = 0; i < 6; i++) verdicts.push(a.admit('blockchain.block.headers', [0, 2016]).action);
    // 66.3 units each: 66, 133, 199, 265, 332, 398
    assert.deepEqual(verdicts, ['run', 'throttle', 'throttle', 'throttle', 'reject', 'reject']);
    assert.equal(b.admit('server.ping', []).action, 'reject', 'another session of the same /24 shares the bill');
    assert.equal(other.admit('server.ping', []).action, 'run', 'another /24 does not');
    const delay = (x: ReturnType<SessionCost['admit']>): number => (x.action === 'throttle' ? x.delayMs : -1);
    const l2 = ledger(0);
    const c = new SessionCost('g', false, costTerms(l2, opts));
    l2.charge('g', 150);
    assert.equal(delay(c.admit('server.ping', [])), Math.round(((150.1 - 100) / 200) * 1000));
  });

  it('errors cost errorCost', () => {
    const l = ledger(0);
    const s = new SessionCost('g', false, costTerms(l, opts));
    s.error();
    s.error();
    assert.equal(l.current('g'), 40);
  });

  it('exempt sessions are never charged nor throttled', () => {
    const l = ledger(0);
    l.charge('ops', 1e6);
    const s = new SessionCost('ops', true, costTerms(l, opts));
    assert.deepEqual(s.admit('blockchain.block.headers', [0, 2016]), { action: 'run' });
    s.error();
    s.bytesSent(1e6);
    s.bytesReceived(1e6);
    assert.equal(s.current(), 0);
    assert.equal(s.ownCost, 0);
    assert.equal(l.current('ops'), 1e6, 'nothing added to the group');
  });

  it('runs throttled requests one at a time, in order, each after its delay', async () => {
    const s = new SessionCost('g', false, costTerms(ledger(0), opts));
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const job = (name: string, ms: number) => async (): Promise<string> => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const failing = async (): Promise<string> => {
      log.push('start bad');
      throw new Error('boom');
    };
    const results = await Promise.allSettled([s.throttle(5, job('a', 20)), s.throttle(1, failing), s.throttle(0, job('c', 1))]);
    assert.deepEqual(log, ['start a', 'end a', 'start bad', 'start c', 'end c']);
    assert.equal(maxRunning, 1);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected', 'a failed request fails alone');
    assert.deepEqual(results[2], { status: 'fulfilled', value: 'c' });
  });
});
