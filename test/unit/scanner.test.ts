// SPDX-License-Identifier: MIT
/**
 * The pass-through scanner (issue 12 pt 3): it must find the members of an
 * upstream answer exactly where JSON.parse would, hand back result bytes that
 * parse to the same value, and refuse (null, never a throw) anything that is
 * not one valid JSON message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_DEPTH, compactSpan, isNullSpan, scanMessage, spanText, type ScannedObject } from '../../src/protocol/scanner.js';

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

function object(text: string): { b: Buffer; o: ScannedObject } {
  const b = buf(text);
  const m = scanMessage(b);
  assert.ok(m !== null && m.kind === 'object', `scans as an object: ${text}`);
  return { b, o: m.object };
}

/** The result's bytes, compacted, parse to what JSON.parse of the whole message holds. */
function resultAgrees(text: string): void {
  const { b, o } = object(text);
  assert.ok(o.result, 'a result span');
  const bytes = compactSpan(b, o.result);
  assert.deepEqual(JSON.parse(bytes.toString('utf8')), (JSON.parse(text) as { result: unknown }).result, text);
  assert.ok(!/\s/.test(bytes.toString('utf8').replace(/"(?:[^"\\]|\\.)*"/g, '""')), `compacted outside strings: ${bytes.toString()}`);
}

describe('scanner', () => {
  it('finds id, result, error, method and params where JSON.parse does', () => {
    const { b, o } = object('{"jsonrpc":"2.0","id":17,"result":{"a":[1,2,{"b":"}"}]}}');
    assert.equal(spanText(b, o.id!), '17');
    assert.equal(spanText(b, o.result!), '{"a":[1,2,{"b":"}"}]}');
    assert.equal(o.error, undefined);
    const n = object('{"method":"blockchain.headers.subscribe","params":[{"height":5,"hex":"00"}]}');
    assert.equal(spanText(n.b, n.o.method!), '"blockchain.headers.subscribe"');
    assert.equal(spanText(n.b, n.o.params!), '[{"height":5,"hex":"00"}]');
    const e = object('{"id":2,"error":{"code":1,"message":"bad \\"x\\" }"},"result":null}');
    assert.equal(spanText(e.b, e.o.error!), '{"code":1,"message":"bad \\"x\\" }"}');
    assert.ok(isNullSpan(e.b, e.o.result!));
  });

  it('strings holding braces, brackets, quotes, escapes and unicode do not confuse it', () => {
    for (const s of ['}', ']', '{\\"x\\":1}', '\\"', '\\\\', '\\\\\\"', '\\u007d', 'é€😀', '\\ud83d\\ude00', ',:', '\\/\\b\\f\\n\\r\\t']) {
      resultAgrees(`{"jsonrpc":"2.0","id":1,"result":["${s}",{"k${s}":"${s}"}]}`);
    }
  });

  it('numbers at the edge of float precision are passed as sent, not rounded', () => {
    for (const n of ['0.1000000000000000055511151231257827', '9007199254740993', '1e400', '-0', '5e-324', '1.7976931348623157e308', '123456789012345678901234567890']) {
      const { b, o } = object(`{"id":1,"result":${n}}`);
      assert.equal(compactSpan(b, o.result!).toString(), n, 'the bytes, not a re-serialized double');
    }
  });

  it('padded ElectrumX answers are compacted without a parse, strings inside left alone', () => {
    const padded = '{ "jsonrpc" : "2.0" , "result" : [ { "tx_hash" : "a b" , "height" : 5 } , [ ] , { } ] , "id" : 3                          }\r\n';
    resultAgrees(padded);
    const { b, o } = object(padded);
    assert.equal(compactSpan(b, o.result!).toString(), '[{"tx_hash":"a b","height":5},[],{}]');
    assert.equal(spanText(b, o.id!), '3');
    // Without padding the span is the same memory, not a copy.
    const plain = object('{"id":1,"result":[1,2]}');
    const view = compactSpan(plain.b, plain.o.result!);
    assert.equal(view.buffer, plain.b.buffer);
  });

  it('nested arrays and batches', () => {
    resultAgrees('{"id":1,"result":[[[[[]]]],[[1],[2,[3,[4]]]]]}');
    const m = scanMessage(buf('[{"id":1,"result":1}, 7, {"id":2,"error":{"code":2,"message":"m"}} ,"x"]'));
    assert.ok(m !== null && m.kind === 'batch');
    assert.equal(m.objects.length, 2);
    assert.equal(m.others, 2);
    assert.deepEqual(scanMessage(buf('[]')), { kind: 'batch', objects: [], others: 0 });
    assert.deepEqual(scanMessage(buf(' 42 ')), { kind: 'other' });
  });

  it('the last of duplicate keys wins, as in JSON.parse', () => {
    const { b, o } = object('{"id":1,"result":1,"result":[2]}');
    assert.equal(spanText(b, o.result!), '[2]');
  });

  it('bad or truncated input is refused with null, never a throw', () => {
    const good = '{"jsonrpc":"2.0","id":1,"result":{"a":["x\\"y",1.5e3,true,false,null]}}';
    for (let cut = 0; cut < good.length; cut++) assert.equal(scanMessage(buf(good.slice(0, cut))), null, `truncated at ${cut}`);
    const bad = [
      '',
      '   ',
      '{"id":1,"result":01}',
      '{"id":1,"result":1.}',
      '{"id":1,"result":-}',
      '{"id":1,"result":1e}',
      '{"id":1,"result":tru}',
      '{"id":1,"result":"\\x"}',
      '{"id":1,"result":"\\u12g4"}',
      '{"id":1,"result":"a\nb"}',
      '{"id":1,"result":[1,]}',
      '{"id":1,"result":{"a":1,}}',
      '{"id":1,"result":{"a" 1}}',
      '{"id":1 "result":1}',
      '{"id":1,"result":1}}',
      '{"id":1,"result":1} x',
      '[{"id":1},]',
      '{id:1}',
      "{'id':1}",
      '{"\\u0069d":1}', // a key with escapes: JSON.parse decides
      `{"id":1,"result":${'['.repeat(MAX_DEPTH + 5)}${']'.repeat(MAX_DEPTH + 5)}}`,
    ];
    for (const s of bad) assert.equal(scanMessage(buf(s)), null, JSON.stringify(s.slice(0, 60)));
    // Invalid UTF-8 in a string cannot be passed through to a strict decoder.
    assert.equal(scanMessage(Buffer.concat([buf('{"id":1,"result":"'), Buffer.from([0xff, 0xfe]), buf('"}')])), null);
    assert.equal(scanMessage(Buffer.concat([buf('{"id":1,"result":"'), Buffer.from([0xed, 0xa0, 0x80]), buf('"}')])), null);
    // Deep nesting far past the limit: refused, not a stack overflow.
    assert.equal(scanMessage(buf(`{"id":1,"result":${'['.repeat(200_000)}`)), null);
  });

  it('agrees with JSON.parse on arbitrary JSON (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.oneof(fc.integer(), fc.string()), fc.boolean(), (value, id, pad) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id, result: value }, null, pad ? 2 : undefined);
        const b = buf(body);
        const m = scanMessage(b);
        assert.ok(m !== null && m.kind === 'object');
        assert.deepEqual(JSON.parse(spanText(b, m.object.id!)), id);
        assert.deepEqual(JSON.parse(compactSpan(b, m.object.result!).toString('utf8')), JSON.parse(body).result);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary bytes, and accepts only what JSON.parse accepts (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a).toString('latin1'))), (s) => {
        const b = buf(s);
        const m = scanMessage(b);
        if (m !== null) assert.doesNotThrow(() => JSON.parse(b.toString('utf8')), s);
      }),
      { numRuns: 1000 },
    );
  });
});
