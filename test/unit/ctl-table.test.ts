// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAge, formatBytes, formatTable } from '../../src/cli/table.js';

describe('ctl tables', () => {
  it('pads columns to the widest cell, right-aligns numbers, shows missing values as -', () => {
    const text = formatTable(['NAME', 'TIP', 'URL'], [
      ['a', 5, 'tcp://a:1'],
      ['longer-name', 1234, null],
    ]);
    assert.equal(text, ['NAME          TIP  URL', 'a               5  tcp://a:1', 'longer-name  1234  -'].join('\n'));
  });

  it('human ages and byte counts', () => {
    assert.equal(formatAge(59_999), '59s');
    assert.equal(formatAge(95_000), '1m35s');
    assert.equal(formatAge(7_260_000), '2h01m');
    assert.equal(formatAge(3 * 86_400_000 + 3_600_000), '3d01h');
    assert.equal(formatBytes(1023), '1023');
    assert.equal(formatBytes(1536), '1.5K');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.0M');
    assert.equal(formatBytes(200 * 1024), '200K');
  });
});
