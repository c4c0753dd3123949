// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createLogger, logEnabled, setLogLevel } from '../../src/observability/logger.js';

const sink = (): Writable => new Writable({ write: (_c, _e, done) => done() });

describe('logEnabled', () => {
  it('follows the shared threshold, also for children made before a level change', () => {
    const root = createLogger({ level: 'info' }, sink());
    const child = root.child({ peer: '127.0.0.1:1' });
    assert.equal(logEnabled(root, 'debug'), false);
    assert.equal(logEnabled(child, 'info'), true);
    assert.equal(logEnabled(child, 'warn'), true);
    setLogLevel(child, 'debug');
    assert.equal(logEnabled(root, 'debug'), true);
    assert.equal(logEnabled(child, 'trace'), false);
    setLogLevel(root, 'silent');
    assert.equal(logEnabled(child, 'fatal'), false);
  });

  it("asks pino for a logger made elsewhere (tests' plain pino)", () => {
    const plain = pino({ level: 'warn' }, sink());
    assert.equal(logEnabled(plain, 'info'), false);
    assert.equal(logEnabled(plain, 'error'), true);
  });
});
