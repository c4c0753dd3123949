// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GATEWAY_VERSIONS } from '../../src/protocol/methods.js';
import { compareVersions, negotiate, parseClientRange, parseVersion, versionLess, type ClientRange } from '../../src/protocol/version.js';

const OURS = GATEWAY_VERSIONS;

function range(arg: unknown): ClientRange {
  const r = parseClientRange(arg);
  assert.notEqual(typeof r, 'string', `expected ${JSON.stringify(arg)} to parse, got ${String(r)}`);
  return r as ClientRange;
}

/** The version negotiated for a server.version protocol_version argument, or "refused". */
function pick(arg: unknown, supported: readonly string[] = OURS): string {
  const n = negotiate(range(arg), supported);
  return n.ok ? n.version : 'refused';
}

describe('parseVersion', () => {
  it('parses dotted numbers with one to three dots', () => {
    assert.deepEqual(parseVersion('1.4'), [1, 4]);
    assert.deepEqual(parseVersion('1.4.2'), [1, 4, 2]);
    assert.deepEqual(parseVersion('1.4.2.1'), [1, 4, 2, 1]);
    assert.deepEqual(parseVersion('10.0'), [10, 0]);
  });

  it('rejects anything else', () => {
    for (const bad of ['1', '', '1.', '.4', '1..4', 'v1.4', '1.4a', ' 1.4', '1.4 ', '1.4.2.1.0', '-1.4', '1.x', '1e3.1', '1234567.1']) {
      assert.equal(parseVersion(bad), null, bad);
    }
    for (const bad of [1.4, null, undefined, ['1.4'], { v: '1.4' }, true]) {
      assert.equal(parseVersion(bad), null, JSON.stringify(bad));
    }
  });
});

describe('compareVersions', () => {
  it('compares numerically part by part, not as text', () => {
    assert.equal(compareVersions([1, 10], [1, 9]), 1);
    assert.equal(compareVersions([1, 9], [1, 10]), -1);
    assert.equal(compareVersions([2, 0], [1, 99, 99]), 1);
  });

  it('treats missing parts as zero', () => {
    assert.equal(compareVersions([1, 4], [1, 4, 0]), 0);
    assert.equal(compareVersions([1, 4], [1, 4, 1]), -1);
    assert.equal(compareVersions([1, 4, 2], [1, 4]), 1);
  });

  it('versionLess reads strings; unparsable counts as lowest', () => {
    assert.equal(versionLess('1.4.2', '1.6'), true);
    assert.equal(versionLess('1.6', '1.6.0'), false);
    assert.equal(versionLess('1.6', '1.4'), false);
    assert.equal(versionLess('junk', '0.1'), true);
  });
});

describe('parseClientRange', () => {
  it('missing or null means exactly 1.4 (the spec default)', () => {
    assert.deepEqual(range(undefined), { min: [1, 4], max: [1, 4] });
    assert.deepEqual(range(null), { min: [1, 4], max: [1, 4] });
  });

  it('a single string is min = max', () => {
    assert.deepEqual(range('1.4.2'), { min: [1, 4, 2], max: [1, 4, 2] });
  });

  it('a [min, max] pair', () => {
    assert.deepEqual(range(['1.4', '1.6']), { min: [1, 4], max: [1, 6] });
    assert.deepEqual(range(['1.6', '1.6']), { min: [1, 6], max: [1, 6] });
  });

  it('refuses malformed arguments with a reason', () => {
    for (const bad of [[], ['1.4'], ['1.4', '1.5', '1.6'], ['1.4', 1.6], [1.4, '1.6'], ['x', '1.6'], 'x', '1', 1.4, 14, {}, true, '']) {
      const r = parseClientRange(bad);
      assert.equal(typeof r, 'string', `${JSON.stringify(bad)} should be refused`);
      assert.ok((r as string).length > 0);
    }
  });

  it('refuses min above max', () => {
    const r = parseClientRange(['1.6', '1.4']);
    assert.equal(typeof r, 'string');
    assert.match(r as string, /1\.6.*1\.4/);
  });
});

describe('negotiate (gateway versions 1.0 to 1.6)', () => {
  it('the gateway implements exactly these versions, ascending', () => {
    assert.deepEqual([...OURS], ['1.0', '1.1', '1.2', '1.3', '1.4', '1.4.1', '1.4.2', '1.6']);
  });

  it('single strings we implement are answered with themselves', () => {
    for (const v of OURS) assert.equal(pick(v), v);
  });

  it('Electrum <= 4.6 sends "1.4" and gets 1.4; Electrum >= 4.7 sends ["1.4","1.6"] and gets 1.6', () => {
    assert.equal(pick('1.4'), '1.4');
    assert.equal(pick(['1.4', '1.6']), '1.6');
  });

  it('no argument negotiates 1.4', () => {
    assert.equal(pick(undefined), '1.4');
  });

  it('"1.4.0" equals 1.4 and gets our "1.4" spelling', () => {
    assert.equal(pick('1.4.0'), '1.4');
    assert.equal(pick('1.6.0'), '1.6');
  });

  it('the highest common version of a range wins', () => {
    assert.equal(pick(['1.4', '1.4.2']), '1.4.2');
    assert.equal(pick(['1.4', '1.4.1']), '1.4.1');
    assert.equal(pick(['1.0', '1.6']), '1.6');
    assert.equal(pick(['1.4.1', '1.6']), '1.6');
  });

  it('a client max above ours is capped at our max', () => {
    assert.equal(pick(['1.4', '2.0']), '1.6');
    assert.equal(pick(['1.6', '1.7']), '1.6');
    assert.equal(pick(['1.2', '9.9.9']), '1.6');
  });

  it('a client min below ours is raised to our min', () => {
    assert.equal(pick(['1.0', '1.4']), '1.4');
    assert.equal(pick(['1.1', '1.4.1']), '1.4.1');
  });

  it('1.5 (never defined) gets the nearest version we implement below it, if the range allows', () => {
    assert.equal(pick(['1.4', '1.5']), '1.4.2');
    assert.equal(pick(['1.4.2', '1.5']), '1.4.2');
    assert.equal(pick(['1.2', '1.5.9']), '1.4.2');
  });

  it('1.5 alone is refused: the spec ceiling 1.5 and floor 1.5 contain nothing we implement', () => {
    assert.equal(pick('1.5'), 'refused');
    assert.equal(pick(['1.5', '1.5.3']), 'refused');
  });

  it('a version between two of ours that the range cannot reach is refused', () => {
    assert.equal(pick('1.4.3'), 'refused');
    assert.equal(pick(['1.4.3', '1.5']), 'refused');
  });

  it('a range entirely above ours is refused', () => {
    assert.equal(pick('1.7'), 'refused');
    assert.equal(pick(['1.7', '2.0']), 'refused');
    assert.equal(pick('2.0'), 'refused');
  });

  it('a range entirely below ours is refused', () => {
    assert.equal(pick('0.9'), 'refused');
    assert.equal(pick(['0.1', '0.9']), 'refused');
    assert.equal(pick(['0.5', '0.99.9']), 'refused');
    // Old versions are ours now: a 1.0-1.2 range gets its top, a range between two of ours the one below.
    assert.equal(pick(['1.0', '1.2']), '1.2');
    assert.equal(pick(['1.0', '1.3.9']), '1.3');
  });

  it('refusals give a reason', () => {
    const n = negotiate(range('1.7'), OURS);
    assert.equal(n.ok, false);
    assert.ok(!n.ok && n.reason.length > 0);
  });

  it('with no versions configured nothing can be negotiated', () => {
    assert.equal(negotiate(range('1.4'), []).ok, false);
  });

  it('a late server.version (the session already spoke 1.4) can only reach 1.4.2', () => {
    const late = OURS.filter((v) => versionLess(v, '1.6'));
    assert.equal(pick(['1.4', '1.6'], late), '1.4.2');
    assert.equal(pick('1.4', late), '1.4');
    assert.equal(pick('1.6', late), 'refused');
  });

  it('with a single supported version, only ranges containing it succeed', () => {
    assert.equal(pick('1.4', ['1.4']), '1.4');
    assert.equal(pick(['1.4', '1.6'], ['1.4']), '1.4');
    assert.equal(pick('1.6', ['1.4']), 'refused');
  });
});
