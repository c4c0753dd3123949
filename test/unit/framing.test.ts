// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineFramer, type FrameEvent } from '../../src/protocol/framing.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Lines as strings, oversize reports as "<oversize N>", so whole sequences compare at once. */
function render(events: FrameEvent[]): string[] {
  return events.map((e) => (e.kind === 'line' ? e.line.toString('latin1') : `<oversize ${e.bytes}>`));
}

function feed(framer: LineFramer, ...chunks: string[]): string[] {
  return chunks.flatMap((c) => render(framer.push(b(c))));
}

describe('LineFramer', () => {
  it('rejects a non-positive limit', () => {
    assert.throws(() => new LineFramer(0), RangeError);
    assert.throws(() => new LineFramer(-5), RangeError);
    assert.throws(() => new LineFramer(Number.NaN), RangeError);
  });

  it('returns one complete line without its newline', () => {
    const f = new LineFramer(100);
    assert.deepEqual(feed(f, '{"id":1}\n'), ['{"id":1}']);
    assert.equal(f.pendingBytes, 0);
  });

  it('holds a partial line until its newline arrives, across many chunks', () => {
    const f = new LineFramer(100);
    assert.deepEqual(feed(f, '{"me'), []);
    assert.equal(f.pendingBytes, 4);
    assert.deepEqual(feed(f, 'thod"'), []);
    assert.equal(f.pendingBytes, 9);
    assert.deepEqual(feed(f, ':1}'), []);
    assert.deepEqual(feed(f, '\n'), ['{"method":1}']);
    assert.equal(f.pendingBytes, 0);
  });

  it('splits several lines arriving in one chunk, keeping the unfinished tail', () => {
    const f = new LineFramer(100);
    assert.deepEqual(feed(f, 'a\nbb\nccc\ndd'), ['a', 'bb', 'ccc']);
    assert.equal(f.pendingBytes, 2);
    assert.deepEqual(feed(f, 'd\n'), ['ddd']);
  });

  it('feeding byte by byte gives the same lines as feeding everything at once', () => {
    const text = 'first\r\nsecond\n\nthird\r\n';
    const whole = feed(new LineFramer(100), text);
    const f = new LineFramer(100);
    const single = [...text].flatMap((ch) => feed(f, ch));
    assert.deepEqual(single, whole);
    assert.deepEqual(whole, ['first', 'second', '', 'third']);
  });

  it('strips a CR before LF, also when CR and LF arrive in different chunks', () => {
    const f = new LineFramer(100);
    assert.deepEqual(feed(f, 'abc\r\n'), ['abc']);
    assert.deepEqual(feed(f, 'def\r', '\n'), ['def']);
    // Only one CR is line ending; a CR inside the line is data.
    assert.deepEqual(feed(f, 'g\rh\r\r\n'), ['g\rh\r']);
  });

  it('reports empty lines as empty (the session decides what they mean)', () => {
    const f = new LineFramer(100);
    assert.deepEqual(feed(f, '\n\r\n\n'), ['', '', '']);
  });

  it('returns an independent copy of buffered data (the socket may reuse its chunk)', () => {
    const f = new LineFramer(100);
    const chunk = b('hello');
    f.push(chunk);
    chunk.fill(0x78); // the socket overwrites its buffer
    assert.deepEqual(render(f.push(b(' world\n'))), ['hello world']);
  });

  it('accepts a line of exactly the limit and rejects one byte more', () => {
    const f = new LineFramer(8);
    assert.deepEqual(feed(f, '12345678\n'), ['12345678']);
    assert.deepEqual(feed(f, '123456789\n'), ['<oversize 9>']);
    assert.deepEqual(feed(f, 'ok\n'), ['ok']);
  });

  it('counts the CR of a CRLF towards the limit (it is part of the bytes received)', () => {
    const f = new LineFramer(8);
    assert.deepEqual(feed(f, '12345678\r\n'), ['<oversize 9>']);
    assert.deepEqual(feed(f, '1234567\r\n'), ['1234567']);
  });

  it('reports an oversize line once, skips to the next newline without buffering, and resumes', () => {
    const f = new LineFramer(10);
    const events: string[] = [];
    events.push(...feed(f, 'good\n0123456'));
    assert.equal(f.pendingBytes, 7);
    events.push(...feed(f, '789ABCDEF'));
    // Over the limit: reported at once, nothing kept.
    assert.equal(f.pendingBytes, 0);
    for (let i = 0; i < 1000; i++) {
      events.push(...feed(f, 'x'.repeat(1000)));
      assert.equal(f.pendingBytes, 0, 'an oversize line must never be buffered');
    }
    events.push(...feed(f, 'tail-of-oversize\nnext\n'));
    assert.deepEqual(events, ['good', '<oversize 16>', 'next']);
  });

  it('a single chunk holding an oversize line between good ones yields all three in order', () => {
    const f = new LineFramer(5);
    assert.deepEqual(feed(f, 'a\nbbbbbbbbbb\nc\n'), ['a', '<oversize 10>', 'c']);
  });

  it('two oversize lines are reported separately', () => {
    const f = new LineFramer(3);
    assert.deepEqual(feed(f, 'aaaa\nbbbbbb', 'bbb\nok\n'), ['<oversize 4>', '<oversize 6>', 'ok']);
  });

  it('an oversize line that ends exactly at the end of a chunk does not swallow the next line', () => {
    const f = new LineFramer(3);
    assert.deepEqual(feed(f, 'aaaaaa\n'), ['<oversize 6>']);
    assert.deepEqual(feed(f, 'ok\n'), ['ok']);
  });

  it('passes garbage bytes (NUL, 0xff, invalid UTF-8) through untouched as a line', () => {
    const f = new LineFramer(100);
    const garbage = Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x7b, 0x0d, 0x0a, 0x41, 0x0a]);
    const events = f.push(garbage);
    assert.equal(events.length, 2);
    assert.equal(events[0]!.kind, 'line');
    assert.deepEqual((events[0] as { line: Buffer }).line, Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x7b]));
    assert.deepEqual((events[1] as { line: Buffer }).line, Buffer.from('A'));
  });

  it('an empty chunk changes nothing', () => {
    const f = new LineFramer(10);
    assert.deepEqual(feed(f, 'ab'), []);
    assert.deepEqual(render(f.push(Buffer.alloc(0))), []);
    assert.equal(f.pendingBytes, 2);
    assert.deepEqual(feed(f, '\n'), ['ab']);
  });

  it('is idle between complete lines, and not while a line is partial or an oversize line is skipped', () => {
    const f = new LineFramer(5);
    assert.equal(f.idle, true);
    assert.deepEqual(feed(f, 'ab\n'), ['ab']);
    assert.equal(f.idle, true);
    assert.deepEqual(feed(f, 'a\nb'), ['a']);
    assert.equal(f.idle, false);
    assert.deepEqual(feed(f, '\n'), ['b']);
    assert.equal(f.idle, true);
    assert.deepEqual(feed(f, '123456'), ['<oversize 6>']);
    assert.equal(f.idle, false, 'skipping to the end of the oversize line');
    assert.deepEqual(feed(f, '7\nok\n'), ['ok']);
    assert.equal(f.idle, true);
  });

  it('a new framer per partial line frames as one kept for the whole stream', () => {
    // What the raw transport does: it drops its framer whenever it is idle.
    const text = 'one\ntw|o\r|\nthree-is-too-long|\nfour\n|fi|ve\n';
    const chunks = text.split('|');
    const kept = new LineFramer(8);
    const expected = chunks.flatMap((c) => feed(kept, c));
    let framer: LineFramer | null = null;
    const got = chunks.flatMap((c) => {
      const f: LineFramer = framer ?? new LineFramer(8);
      const out = feed(f, c);
      framer = f.idle ? null : f;
      return out;
    });
    assert.deepEqual(got, expected);
    assert.deepEqual(got, ['one', 'two', '<oversize 17>', 'four', 'five']);
  });
});
